#!/usr/bin/env python3
"""Draws an eviction trace (wkv generate/ppl --trace FILE.jsonl) as the
picture the KV-compression papers draw: x = step, y = a token's original
position, a mark where the token is still held, darker the more of the
(layer, KV head) caches hold it. One panel per followed sequence (a policy,
and the document for ppl), side by side, in one SVG.

usage: retention_plot.py TRACE.jsonl OUT.svg [--title TEXT] [--max-steps N] [--cells N]
"""
import argparse
import html
import json
import sys


def panel_label(record):
    label = record.get("policy", "?")
    if "file" in record:
        label += " · " + record["file"].rsplit("/", 1)[-1]
    return label


def read_trace(path, max_steps):
    """{label: {"steps": {step: {position: caches holding it}}, "last_pos": p, "caches": layers x heads}}"""
    panels = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{number}: not JSON ({e})")
            if record.get("end") or record["step"] >= max_steps:
                continue
            panel = panels.setdefault(panel_label(record), {"steps": {}, "last_pos": 0, "caches": 0})
            held = panel["steps"].setdefault(record["step"], {})
            if record["step"] == 0:
                panel["caches"] += len(record["held"])  # a record per layer, a list per KV head
            if record["pos"] is not None:
                panel["last_pos"] = max(panel["last_pos"], record["pos"])
            for positions in record["held"]:
                for p in positions:
                    held[p] = held.get(p, 0) + 1
    return panels


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    ap.add_argument("--max-steps", type=int, default=1024)
    ap.add_argument("--cells", type=int, default=128, help="bins per axis at most")
    a = ap.parse_args()
    panels = read_trace(a.trace, a.max_steps)
    if not panels:
        sys.exit(f"{a.trace}: no steps to draw")

    size, margin, gap = 340, 50, 34
    width = margin + len(panels) * (size + gap)
    height = size + 2 * margin + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    if a.title:
        out.append(f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(a.title)}</text>')
    for i, (label, panel) in enumerate(panels.items()):
        x0, y0 = margin + i * (size + gap), margin
        n_steps = max(panel["steps"]) + 1
        n_pos = panel["last_pos"] + 1
        caches = max(panel["caches"], 1)
        # At most `cells` bins a side (a bin's shade: the mean share held in it),
        # and a column's runs of equal shade drawn as one rectangle, so the file stays small.
        step_bin, pos_bin = -(-n_steps // a.cells), -(-n_pos // a.cells)
        columns = {}
        for step, held in panel["steps"].items():
            column = columns.setdefault(step // step_bin, {})
            for p, holders in held.items():
                column[p // pos_bin] = column.get(p // pos_bin, 0) + holders
        dx, dy = size * step_bin / n_steps, size * pos_bin / n_pos
        for x, column in sorted(columns.items()):
            runs = []  # [first bin, last bin, shade]
            for y in sorted(column):
                shade = int(220 * (1 - min(1.0, column[y] / (caches * step_bin * pos_bin))))
                if runs and runs[-1][1] == y - 1 and runs[-1][2] == shade:
                    runs[-1][1] = y
                else:
                    runs.append([y, y, shade])
            for first, last, shade in runs:
                out.append(f'<rect x="{x0 + x * dx:.1f}" y="{max(y0, y0 + size - (last + 1) * dy):.1f}" '
                           f'width="{dx:.2f}" height="{(last - first + 1) * dy:.2f}" fill="rgb({shade},{shade},255)"/>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{size}" height="{size}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{x0 + size / 2}" y="{y0 - 8}" text-anchor="middle">{html.escape(label)}</text>')
        out.append(f'<text x="{x0}" y="{y0 + size + 14}">0</text>'
                   f'<text x="{x0 + size}" y="{y0 + size + 14}" text-anchor="end">{n_steps - 1}</text>'
                   f'<text x="{x0 + size / 2}" y="{y0 + size + 28}" text-anchor="middle">step</text>'
                   f'<text x="{x0 - 4}" y="{y0 + 10}" text-anchor="end">{n_pos - 1}</text>'
                   f'<text x="{x0 - 4}" y="{y0 + size}" text-anchor="end">0</text>')
    out.append(f'<text x="{margin - 30}" y="{margin + size / 2}" text-anchor="middle" '
               f'transform="rotate(-90 {margin - 30} {margin + size / 2})">original position</text>')
    out.append(f'<text x="{margin}" y="{height - 8}" fill="#555">darker: held by more of the (layer, KV head) '
               f'caches; white: evicted from all</text>')
    out.append("</svg>")
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
