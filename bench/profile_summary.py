#!/usr/bin/env python3
"""Sums a Chrome trace of bench_sd15 --profile per part.

  bench/profile_summary.py TRACE.json [--ops N]

A part is the path of the named ranges around an op (afa::unet_stage, afa::stack, afa::merge >
sabw::transformer > attn1, ...); each op's self time (its duration less its children's) goes to the part
it runs in. Prints seconds and shares per part, and the N most expensive ops of each part.
"""
import json
import sys
from collections import defaultdict

RANGES = ("afa::", "sabw::", "attn1", "attn2", "ff")


def main():
    path = sys.argv[1]
    top_ops = int(sys.argv[sys.argv.index("--ops") + 1]) if "--ops" in sys.argv else 4
    with open(path) as f:
        events = [e for e in json.load(f) if e.get("ph") == "X"]
    by_tid = defaultdict(list)
    for e in events:
        by_tid[e["tid"]].append(e)
    part_time = defaultdict(float)
    op_time = defaultdict(lambda: defaultdict(float))
    for evs in by_tid.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, children's time]
        def close(item):
            e, child = item
            self_t = e["dur"] - child
            names = [s[0]["name"] for s in stack if s[0]["name"].startswith(RANGES)]
            if not e["name"].startswith(RANGES):
                key = " > ".join(names) or "(outside ranges)"
                part_time[key] += self_t
                op_time[key][e["name"]] += self_t
            if stack:
                stack[-1][1] += e["dur"]
        for e in evs:
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
                close(stack.pop())
            stack.append([e, 0.0])
        while stack:
            close(stack.pop())
    total = sum(part_time.values())
    print(f"# {path}: {total / 1e6:.3f} s of op time")
    print(f"{'part':60s} {'s':>8s} {'share':>6s}   top ops")
    for key, t in sorted(part_time.items(), key=lambda kv: -kv[1]):
        ops = sorted(op_time[key].items(), key=lambda kv: -kv[1])[:top_ops]
        ops_s = ", ".join(f"{n.replace('aten::', '')} {v / 1e6:.2f}" for n, v in ops)
        print(f"{key:60s} {t / 1e6:8.3f} {100 * t / total:5.1f}%   {ops_s}")


if __name__ == "__main__":
    main()
