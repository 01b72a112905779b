#!/usr/bin/env python3
"""afa serve against afa generate on the tiny golden models (Python's standard library only).

Prints, for the same settings:
  afa generate     wall seconds per image, process start and model loading included (what a script that
                   calls the CLI per prompt pays)
  afa serve        HTTP round trip per request (one client, requests one after another), requests per
                   minute; the server's own generation time (info's afa_generation_seconds) and the
                   latency the server adds over it (HTTP, JSON, base64, queue hand-off)
  concurrent       requests per minute with several clients at once (the queue runs one at a time)

Usage: bench/serve_tiny.py [--afa build/afa] [--requests 20] [--clients 4] [--steps 10] [--size 64]
                           [--models A,B,C] [--method afa|noise-avg|block-avg]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.environ.get("AFA_GOLDEN", os.path.join(ROOT, "..", "shared", "golden"))


def model_args(models, method):
    args = []
    for m in models:
        args += ["-m", os.path.join(GOLDEN, "pipelines", m + ".safetensors")]
    args += ["--config", os.path.join(GOLDEN, "pipelines", "ldm_config.yaml"),
             "--config", os.path.join(GOLDEN, "pipelines", "text_encoder_config.json")]
    if len(models) > 1:
        if method == "afa":
            args += ["--aggregator", os.path.join(GOLDEN, "afa", "aggregators_perturbed")]
        else:
            args += ["--method", method]
    return args


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/sdapi/v1/txt2img", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--afa", default=os.path.join(ROOT, "build", "afa"))
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--models", default="A,B,C")
    ap.add_argument("--method", default="afa")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    models = a.models.split(",")
    margs = model_args(models, a.method)
    body = {"prompt": "a red cube on a blue sphere", "steps": a.steps, "sampler_name": "DDIM", "cfg_scale": 7.5,
            "width": a.size, "height": a.size, "seed": 1}

    # afa generate, one process per image.
    tmp = tempfile.mkdtemp(prefix="afa_serve_bench_")
    gen = []
    for i in range(max(3, a.requests // 4)):
        t = time.perf_counter()
        subprocess.run([a.afa, "generate", *margs, "-p", body["prompt"], "--steps", str(a.steps), "--sampler", "ddim",
                        "-W", str(a.size), "-H", str(a.size), "--seed", "1", "--threads", str(a.threads), "-q",
                        "-o", os.path.join(tmp, "g.png")], check=True, stderr=subprocess.DEVNULL)
        gen.append(time.perf_counter() - t)

    server = subprocess.Popen([a.afa, "serve", *margs, "--port", "0", "--threads", str(a.threads), "-q",
                               "--queue", str(max(a.clients, 4))], stdout=subprocess.PIPE, text=True)
    port = None
    t_start = time.perf_counter()
    for line in server.stdout:
        if "listening on http://127.0.0.1:" in line:
            port = int(line.rsplit(":", 1)[1])
            break
    startup = time.perf_counter() - t_start
    try:
        post(port, body)  # warm-up
        rtt, inner = [], []
        for _ in range(a.requests):
            t = time.perf_counter()
            r = post(port, body)
            rtt.append(time.perf_counter() - t)
            inner.append(json.loads(r["info"])["afa_generation_seconds"])
        # Concurrent clients: all requests of all clients, wall time.
        per_client = max(1, a.requests // a.clients)
        errors = []

        def client():
            for _ in range(per_client):
                try:
                    post(port, body)
                except Exception as e:  # a 503 would show here: the queue is sized to hold every client
                    errors.append(str(e))
        t = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(a.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
    finally:
        server.terminate()
        server.wait()

    med = statistics.median
    added = [x - y for x, y in zip(rtt, inner)]
    print(f"models {'+'.join(models)} ({a.method if len(models) > 1 else 'single'}), {a.size}x{a.size}, "
          f"{a.steps} DDIM steps, CFG 7.5, {a.threads} torch thread(s), {os.cpu_count()} cores")
    print(f"afa generate (process per image): median {med(gen):.3f} s/image over {len(gen)} "
          f"-> {60 / med(gen):.1f} images/min")
    print(f"afa serve startup (load, listen): {startup:.3f} s")
    print(f"afa serve, one client: median {med(rtt):.3f} s/request over {len(rtt)} -> {60 / med(rtt):.1f} requests/min")
    print(f"  generation inside the server: median {med(inner):.3f} s; added by serving: median "
          f"{med(added) * 1000:.1f} ms (max {max(added) * 1000:.1f} ms)")
    print(f"  saved per image against afa generate: {med(gen) - med(rtt):.3f} s")
    n = per_client * a.clients
    print(f"afa serve, {a.clients} concurrent clients: {n} requests in {wall:.2f} s -> {60 * n / wall:.1f} requests/min"
          f"{'' if not errors else f', {len(errors)} errors: ' + errors[0]}")


if __name__ == "__main__":
    sys.exit(main())
