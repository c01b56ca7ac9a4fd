#!/usr/bin/env python3
"""Turns the JSON files of bench/table1.sh into the paper's Table I layout
(markdown) and a gnuplot data file of perplexity against budget.

Usage: bench/table1_report.py RESULTS_DIR MODEL_NAME > table.md
Writes RESULTS_DIR/MODEL_NAME_plot.dat as well. Python standard library only:
this is bench tooling, not part of the engine's build.
"""
import glob
import json
import math
import os
import sys

POLICIES = ["full", "streaming", "tova", "h2o", "cam", "evict", "weightedkv"]
LABELS = {"full": "Full cache", "streaming": "StreamingLLM", "tova": "TOVA", "h2o": "H2O", "cam": "CaM",
          "evict": "Eviction (ablation)", "weightedkv": "**WeightedKV**"}
CORPORA = ["pg19", "web", "proofpile", "arxiv"]  # the paper's column order: PG19, OWT2, ProofPile, ArXiv


def main():
    results_dir, model = sys.argv[1], sys.argv[2]
    cells = {}  # (policy, budget, corpus, window) -> (total_nll, tokens)
    windows, budgets, corpora, wall = set(), set(), [], 0.0
    for path in sorted(glob.glob(os.path.join(results_dir, f"{model}_*_L*.json"))):
        run = json.load(open(path))
        corpus = os.path.basename(path)[len(model) + 1:].rsplit("_L", 1)[0]
        window = run["window"]
        windows.add(window)
        if corpus not in corpora:
            corpora.append(corpus)
        wall += run["wall_s"]
        for r in run["results"]:
            key = (r["policy"], r["budget"] if r["policy"] != "full" else 0, corpus, window)
            nll, n = cells.get(key, (0.0, 0))
            cells[key] = (nll + r["total_nll"], n + r["tokens"])
            if r["policy"] != "full":
                budgets.add(r["budget"])
    corpora = [c for c in CORPORA if c in corpora] + [c for c in corpora if c not in CORPORA]
    windows = sorted(windows)

    def ppl(key):
        if key not in cells or cells[key][1] == 0:
            return "-"
        nll, n = cells[key]
        return f"{math.exp(nll / n):.2f}"

    header = "| method | " + " | ".join(f"{c} {w}" for c in corpora for w in windows) + " |"
    rule = "|---|" + "---|" * (len(corpora) * len(windows))
    full_row = "| " + LABELS["full"] + " | " + " | ".join(ppl(("full", 0, c, w)) for c in corpora for w in windows) + " |"
    for b in sorted(budgets, reverse=True):
        print(f"\n**Cache size = {b}**\n")
        print(header)
        print(rule)
        print(full_row)
        for p in POLICIES[1:]:
            print("| " + LABELS[p] + " | " + " | ".join(ppl((p, b, c, w)) for c in corpora for w in windows) + " |")
    tokens = {c: cells.get(("weightedkv", min(budgets), c, windows[0]), (0, 0))[1] for c in corpora}
    print(f"\nScored tokens per cell (window {windows[0]}): " + ", ".join(f"{c} {n}" for c, n in tokens.items())
          + f". Wall time of all runs: {wall / 60:.1f} min.")

    with open(os.path.join(results_dir, f"{model}_plot.dat"), "w") as out:
        for c in corpora:
            out.write(f"# corpus {c}, window {windows[0]}: budget then perplexity per policy ({' '.join(POLICIES[1:])})\n")
            for b in sorted(budgets):
                values = []
                for p in POLICIES[1:]:
                    v = ppl((p, b, c, windows[0]))
                    values.append(v if v != "-" else "NaN")
                out.write(f"{b} " + " ".join(values) + "\n")
            out.write("\n\n")


if __name__ == "__main__":
    main()
