#!/usr/bin/env python3
"""The figures of docs/quality.md's "What goes wrong" section, from the cached k-NN tables.

Usage: phenomena.py OUT_DIR [DATASETS]

Writes OUT_DIR/valleys.md (every valley of the merge-height density per data set, with the
share of rows it leaves without a link, and the link-similarity valley), OUT_DIR/k.md (the
seed's graph: best fixed threshold and pairwise F by k, from sweeps/NAME-k.json when present),
and two plots: OUT_DIR/merge-heights.png (merge-height densities with their valleys) and
OUT_DIR/threshold-curves.png (pairwise F against min_sim for the seed's graph at k=50, k=256
and the two-tier graph, on four data sets).
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import candidates as C  # noqa: E402
import proto  # noqa: E402
import valley  # noqa: E402


def valleys_table(names):
    lines = ["| data set | rows | merge-height valleys: min_sim (depth ratio, rows alone) | link valley (rows alone) | current default picks |",
             "|:--|--:|:--|:--|:--|"]
    for n in names:
        t = C.table(n)
        h = valley.table_heights(t, min(50, t.k))
        nn = C.nn_sims(t)
        vs = sorted(valley.valleys(h, valley.MAX_VALLEY_RATIO), key=lambda v: -v[2])
        cur = valley.pick(h, t.n)[0]
        lk = valley.pick(C.link_sample(t, t.k), t.n)
        cells = ", ".join(f"{v[0]:.4f} ({v[1]:.2f}, {100 * np.mean(nn < v[0]):.0f}%)" for v in vs)
        lines.append(f"| {n} | {t.n} | {cells} | {lk[0]:.4f} ({100 * np.mean(nn < lk[0]):.0f}%) | {cur:.4f} |")
    return "\n".join(lines)


def k_table(names):
    lines = ["| data set | k=30 | k=50 | k=100 | k=160 | k=256 |", "|:--|--:|--:|--:|--:|--:|"]
    for n in names:
        p = proto.DATA / "sweeps" / f"{n}-k.json"
        if not p.exists():
            continue
        cells = json.load(open(p))["cells"]
        row = []
        for k in (30, 50, 100, 160, 256):
            cs = [c for c in cells if c["k"] == k]
            if not cs:
                row.append("-")
                continue
            b = max(cs, key=lambda c: c["eval"]["pairwise"]["f"])
            row.append(f"{100 * b['eval']['pairwise']['f']:.2f} ({b['min_sim']:.3f})")
        lines.append(f"| {n} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_heights(names, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(4 * ((len(names) + 1) // 2), 6.5))
    for ax, n in zip(axes.flat, names):
        t = C.table(n)
        h = valley.table_heights(t, min(50, t.k))
        g, d, bw, ql, qh = valley.density(h)
        ax.plot(g, d, lw=1)
        for v in valley.valleys(h, valley.MAX_VALLEY_RATIO):
            ax.axvline(v[0], color="red", lw=0.8, ls="--")
        thr, info = C.auto_threshold(t, k_link=t.k, robust=True)
        ax.axvline(thr, color="green", lw=1.2)
        ax.set_title(f"{n}: valleys (red), proposed min_sim (green)", fontsize=8)
        ax.set_xlabel("merge height (cosine)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_curves(names, path, grids):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4))
    for ax, n in zip(np.atleast_1d(axes), names):
        t = C.table(n)
        for label, f in (("seed graph k=50", lambda x: C.seed_links(t, 50, x)),
                         ("seed graph k=256", lambda x: C.seed_links(t, 256, x)),
                         ("two-tier 20/256, beta 0.7", lambda x: C.tier_links(t, 256, x, k0=20, beta=0.7))):
            ys = [100 * proto.run(t, f(x))[0]["pf"] for x in grids[n]]
            ax.plot(grids[n], ys, marker=".", label=label)
        thr, _ = C.auto_threshold(t, k_link=t.k, robust=True)
        ax.axvline(thr, color="green", lw=1)
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("min_sim", fontsize=8)
        ax.set_ylabel("pairwise F", fontsize=8)
        ax.set_ylim(0, 100)
        ax.tick_params(labelsize=7)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else C.ALL
    (out / "valleys.md").write_text(valleys_table(names) + "\n")
    (out / "k.md").write_text(k_table(names) + "\n")
    plot_heights(["lfw-a", "lfw-a-sface", "base", "junk", "dups", "album", "mixed", "dlib"], out / "merge-heights.png")
    plot_curves(["lfw-a-sface", "dlib", "album", "mixed"], out / "threshold-curves.png",
                {"lfw-a-sface": list(np.arange(0.40, 0.66, 0.02)), "dlib": list(np.arange(0.90, 0.965, 0.005)),
                 "album": list(np.arange(0.86, 0.99, 0.01)), "mixed": list(np.arange(0.40, 0.72, 0.04))})
    print((out / "valleys.md").read_text())
    print((out / "k.md").read_text())


if __name__ == "__main__":
    main()
