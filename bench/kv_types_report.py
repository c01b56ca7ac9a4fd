#!/usr/bin/env python3
"""Perplexity by K/V cache type from `wkv ppl --kv-type f32,f16,q8_0,q4_0 --json`
(one or more files): per policy and budget, the perplexity over all files, its
change against the f32 cache, and the key/value bytes a sequence holds.

The merge drift: WeightedKV's and CaM's merges round the receiver once per merge.
The evict ablation chooses exactly as WeightedKV does but merges nothing, so
(WeightedKV's change) - (evict's change) at the same type and budget is what the
merges' rounding adds; for CaM, StreamingLLM (the same layout without merges)
is the control.

Usage: bench/kv_types_report.py HEAD_DIM N_KV_HEADS N_LAYERS RUN.json... > table.md
Python standard library only: bench tooling, not part of the engine's build.
"""
import json
import math
import sys

TYPES = ["f32", "f16", "q8_0", "q4_0"]
POLICIES = ["weightedkv", "evict", "cam", "streaming", "h2o", "tova"]
CONTROL = {"weightedkv": "evict", "cam": "streaming"}


def row_bytes(kv_type, head_dim):
    """One KV head's key or value row as wkv stores it (model/kv_row.cpp)."""
    blocks = (head_dim + 31) // 32
    return {"f32": 4 * head_dim, "f16": 2 * head_dim,
            "q8_0": 4 * ((blocks + 1) // 2) + 32 * blocks, "q4_0": 4 * ((blocks + 1) // 2) + 16 * blocks}[kv_type]


def main():
    head_dim, kv_heads, layers = (int(x) for x in sys.argv[1:4])
    sums = {}  # (policy, budget, kv_type) -> [total_nll, tokens]
    files = set()
    for path in sys.argv[4:]:
        run = json.load(open(path))
        for r in run["results"]:
            key = (r["policy"], r["budget"], r["kv_type"])
            cell = sums.setdefault(key, [0.0, 0])
            cell[0] += r["total_nll"]
            cell[1] += r["tokens"]
            files.add(r["file"])
    ppl = {k: math.exp(v[0] / v[1]) for k, v in sums.items() if v[1]}
    tokens = max(v[1] for v in sums.values())
    budgets = sorted({k[1] for k in ppl})
    types = [t for t in TYPES if any(k[2] == t for k in ppl)]
    print(f"{len(files)} files, {tokens} scored tokens per setting\n")
    print("| policy | budget | " + " | ".join(f"{t} ppl" for t in types) + " | " +
          " | ".join(f"{t} vs f32" for t in types if t != "f32") + " | merge drift " +
          " / ".join(t for t in types if t != "f32") + " |")
    print("|---|---|" + "---|" * (2 * len(types) - 1) + "---|")
    for policy in [p for p in POLICIES if any(k[0] == p for k in ppl)]:
        for budget in budgets:
            if (policy, budget, "f32") not in ppl:
                continue
            base = ppl[(policy, budget, "f32")]
            change = {t: ppl[(policy, budget, t)] / base - 1 for t in types if (policy, budget, t) in ppl}
            cells = [f"{ppl[(policy, budget, t)]:.3f}" if (policy, budget, t) in ppl else "-" for t in types]
            cells += [f"{100 * change[t]:+.3f} %" if t in change else "-" for t in types if t != "f32"]
            control = CONTROL.get(policy)
            drift = "-"
            if control and (control, budget, "f32") in ppl:
                control_base = ppl[(control, budget, "f32")]
                drift = " / ".join(
                    f"{100 * (change[t] - (ppl[(control, budget, t)] / control_base - 1)):+.3f} %"
                    for t in types if t != "f32" and t in change and (control, budget, t) in ppl)
            print(f"| {policy} | {budget} | " + " | ".join(cells) + f" | {drift} |")
    print("\nKeys and values a sequence holds at each budget (every layer and KV head, "
          f"head_dim {head_dim}, {kv_heads} KV heads, {layers} layers):\n")
    print("| budget | " + " | ".join(types) + " |")
    print("|---|" + "---|" * len(types))
    for budget in budgets:
        cells = [f"{budget * layers * kv_heads * 2 * row_bytes(t, head_dim) / 1024:.1f} KiB" for t in types]
        print(f"| {budget} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
