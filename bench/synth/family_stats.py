#!/usr/bin/env python3
"""Similarity statistics of a `face-cluster synth` folder, measured as the Python prototype of
the harder families measured them (bench/quality/synth_families.py on the issue-17 research
branch), so that the two can be compared figure by figure.

Usage: family_stats.py DIR [SEED]

Reads DIR/feats.npy, DIR/labels.meta and DIR/kinds.meta (`synth --kinds`) and prints one JSON
object of 5th, 50th and 95th percentiles of cosines:
- "different": 20,000 random pairs of rows with different labels;
- "same": 20,000 random pairs with the same label, drawn uniformly among all same-label pairs
  (an identity of m rows weighs m (m - 1), so large identities dominate, unlike `synth`'s own
  summary, which picks a row uniformly and then a partner of its label);
- "same, originals only": those of the same pairs where both rows are images (kind 0): the
  prototype's published "same-person" figure;
- "duplicate to its nearest": the first 2,000 near-duplicate rows, each against the most
  similar other row of its label.
The random stream is numpy's PCG64 seeded with SEED + 1 (default SEED 1), as in the prototype.
"""
import json
import sys

import numpy as np


def quantiles(v):
    return [round(float(x), 3) for x in np.quantile(v, [0.05, 0.5, 0.95])] if len(v) else []


def main():
    folder = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    feats = np.load(f"{folder}/feats.npy")
    labels = np.loadtxt(f"{folder}/labels.meta", dtype=np.int64)
    kinds = np.loadtxt(f"{folder}/kinds.meta", dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    n, pairs = len(labels), 20000
    a = rng.integers(0, n, pairs * 4)
    b = rng.integers(0, n, pairs * 4)
    keep = a != b
    a, b = a[keep], b[keep]
    diff = labels[a] != labels[b]
    sims = np.einsum("ij,ij->i", feats[a], feats[b])
    out = {"different p5/p50/p95": quantiles(sims[diff][:pairs])}
    counts = np.bincount(labels)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    big = np.flatnonzero(counts > 1)
    weights = counts[big] * (counts[big] - 1)
    ident = rng.choice(big, pairs, p=weights / weights.sum())
    i = starts[ident] + rng.integers(0, counts[ident])
    j = starts[ident] + rng.integers(0, counts[ident])
    ok = i != j
    i, j = i[ok], j[ok]
    same = np.einsum("ij,ij->i", feats[i], feats[j])
    out["same p5/p50/p95"] = quantiles(same)
    out["same, originals only p5/p50/p95"] = quantiles(same[(kinds[i] == 0) & (kinds[j] == 0)])
    copies = np.flatnonzero(kinds == 1)[:2000]
    if len(copies):
        nearest = []
        for r in copies:
            rows = feats[starts[labels[r]]:starts[labels[r]] + counts[labels[r]]] @ feats[r]
            nearest.append(float(np.max(np.delete(rows, r - starts[labels[r]]))))
        out["duplicate to its nearest p5/p50/p95"] = quantiles(np.array(nearest))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
