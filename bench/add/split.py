#!/usr/bin/env python3
"""Split a feature set into a base and batches for `face-cluster add` benchmarks.

Rows are shuffled with a fixed seed first: `face-cluster synth` writes rows grouped by identity,
and batches of new faces should be faces of people already seen as well as new people, as a
photo library's next camera roll is.

    split.py SRC OUT --base N --batch M --batches B [--seed S]

SRC holds feats.npy and labels.meta. OUT gets base.npy (the first N shuffled rows),
batch-01.npy .. batch-BB.npy (M rows each, the next ones), all.npy (base and batches, in
that order: the final set, for the full run), labels-00.meta .. labels-BB.meta (ground truth of
the rows present after each step, old rows first) and order.txt (the source row of each row).
"""
import argparse
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--base", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--batches", type=int, required=True)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    feats = np.load(os.path.join(a.src, "feats.npy"), mmap_mode="r")
    labels = np.loadtxt(os.path.join(a.src, "labels.meta"), dtype=np.int64)
    total = a.base + a.batch * a.batches
    if total > len(feats):
        raise SystemExit(f"{a.src}: {len(feats)} rows, {total} needed")
    order = np.random.default_rng(a.seed).permutation(len(feats))[:total]
    os.makedirs(a.out, exist_ok=True)
    rows = np.ascontiguousarray(feats[np.sort(order)])  # read in file order
    rows = rows[np.argsort(np.argsort(order))]  # then shuffle
    np.save(os.path.join(a.out, "all.npy"), rows)
    np.save(os.path.join(a.out, "base.npy"), rows[: a.base])
    np.savetxt(os.path.join(a.out, "order.txt"), order, fmt="%d")
    np.savetxt(os.path.join(a.out, "labels-00.meta"), labels[order[: a.base]], fmt="%d")
    for b in range(1, a.batches + 1):
        lo, hi = a.base + (b - 1) * a.batch, a.base + b * a.batch
        np.save(os.path.join(a.out, f"batch-{b:02d}.npy"), rows[lo:hi])
        np.savetxt(os.path.join(a.out, f"labels-{b:02d}.meta"), labels[order[:hi]], fmt="%d")


if __name__ == "__main__":
    main()
