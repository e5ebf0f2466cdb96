#!/usr/bin/env python3
"""Renders the tables of docs/quality.md from the JSON results of bench/quality/run.sh.

Usage: bench/quality/tables.py OUT [DATASET...]
"""
import json
import os
import sys

SEED = "threshold/sim/directed/own"


def label(strategy):
    flow = strategy["flow"]
    e = strategy["edges"]
    return f"{e['pruning']}/{e['weighting']}/{flow}/{strategy['lonely']}"


def cells(out, name, kind):
    path = os.path.join(out, f"{name}-{kind}.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["cells"]


def row(title, how, c):
    e = c["eval"]
    return (
        f"| {title} | {how} | {e['pairwise']['f']:.4f} | {e['bcubed']['f']:.4f} | {e['nmi']:.4f} "
        f"| {c['clusters']} / {e['true_clusters']} | {c['singleton_clusters']} | {c['secs']:.2f} |"
    )


def best(cs):
    return max(cs, key=lambda c: c["eval"]["pairwise"]["f"]) if cs else None


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or ["att-orl", "lfw-a", "synth-20000", "synth-100000", "synth-584000"]
    header = (
        "| strategy | min_sim | pairwise F | BCubed F | NMI | clusters / true | singletons | secs |\n"
        "|:--|:--|--:|--:|--:|--:|--:|--:|"
    )
    for name in names:
        seed = [c for c in cells(out, name, "seed") if c["k"] == 50]
        if not seed:
            continue
        others = [c for kind in ("strategies", "adaptive", "snn", "normalized", "lonely") for c in cells(out, name, kind) if c["k"] == 50]
        print(f"\n### {name}\n\n{header}")
        fixed = [c for c in seed if not c["min_sim_auto"]]
        at_058 = [c for c in fixed if abs(c["min_sim"] - 0.58) < 1e-6]
        if at_058:
            print(row("seed", "0.58 (the seed's)", at_058[0]))
        b = best(fixed)
        print(row("seed", f"{b['min_sim']:g} (best fixed, from labels)", b))
        auto = [c for c in seed if c["min_sim_auto"]][0]
        print(row("**best** (seed graph)", f"{auto['min_sim']:.4f} (auto)", auto))
        by_strategy = {}
        for c in others:
            by_strategy.setdefault(label(c["strategy"]), []).append(c)
        for strategy, cs in by_strategy.items():
            if strategy == SEED:
                continue
            a = [c for c in cs if c["min_sim_auto"]]
            f = best([c for c in cs if not c["min_sim_auto"]])
            if a:
                print(row(strategy, "auto", a[0]))
            if f:
                print(row(strategy, f"{f['min_sim']:g} (best of {len([c for c in cs if not c['min_sim_auto']])} fixed)", f))
        ks = cells(out, name, "k")
        if ks:
            print(f"\n{name}, seed graph, by k:\n")
            print("| k | best fixed min_sim | pairwise F | auto min_sim | pairwise F |\n|--:|--:|--:|--:|--:|")
            for k in sorted({c["k"] for c in ks}):
                kc = [c for c in ks if c["k"] == k]
                f = best([c for c in kc if not c["min_sim_auto"]])
                a = [c for c in kc if c["min_sim_auto"]][0]
                print(
                    f"| {k} | {f['min_sim']:g} | {f['eval']['pairwise']['f']:.4f} "
                    f"| {a['min_sim']:.4f} | {a['eval']['pairwise']['f']:.4f} |"
                )


if __name__ == "__main__":
    main()
