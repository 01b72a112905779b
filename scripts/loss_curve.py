#!/usr/bin/env python3
"""Draws a training log (afa train's JSON lines) as an SVG line chart, for the model cards.

Usage: scripts/loss_curve.py LOG.jsonl KEY OUT.svg [TITLE]
KEY is the logged value to plot ("loss" for U-Nets and aggregators, "l1" for the VAE); a running
mean over 25 entries is drawn over the raw values. Standard library only.
"""
import json
import sys


def main():
    log, key, out = sys.argv[1:4]
    title = sys.argv[4] if len(sys.argv) > 4 else key
    pts = []
    with open(log) as f:
        for line in f:
            rec = json.loads(line)
            if key in rec and "step" in rec:
                pts.append((rec["step"], float(rec[key])))
    if not pts:
        sys.exit(f"{log}: no '{key}' values")
    smooth, window = [], []
    for s, v in pts:
        window = (window + [v])[-25:]
        smooth.append((s, sum(window) / len(window)))
    w, h, l, r, t, b = 480, 260, 56, 12, 28, 36
    x0, x1 = pts[0][0], max(pts[-1][0], pts[0][0] + 1)
    lo, hi = min(v for _, v in smooth), max(v for _, v in pts)
    hi = min(hi, lo + 4 * (max(v for _, v in smooth) - lo) + 1e-9)  # spikes clipped to the chart
    X = lambda s: l + (s - x0) / (x1 - x0) * (w - l - r)
    Y = lambda v: t + (hi - min(v, hi)) / (hi - lo + 1e-12) * (h - t - b)
    poly = lambda p: " ".join(f"{X(s):.1f},{Y(v):.1f}" for s, v in p)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        svg.append(f'<line x1="{l}" x2="{w - r}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{l - 4}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    for k in range(5):
        s = x0 + (x1 - x0) * k / 4
        svg.append(f'<text x="{X(s):.1f}" y="{h - b + 14}" text-anchor="middle">{int(s)}</text>')
    svg.append(f'<text x="{(l + w - r) / 2}" y="{h - 6}" text-anchor="middle">step</text>')
    svg.append(f'<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="{poly(pts)}"/>')
    svg.append(f'<polyline fill="none" stroke="#08519c" stroke-width="2" points="{poly(smooth)}"/>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
