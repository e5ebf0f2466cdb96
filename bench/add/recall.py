#!/usr/bin/env python3
"""Edge recall of a saved clustering's k-NN table against exact search (issue 15).

    recall.py STATE [--added-from N] [--sample S] [--seed SEED]

Reads the state's rows and k-NN table (the base file with its patches applied, as
`face-cluster add` reads them; format in docs/state.md), searches a sample of rows exactly
(numpy, float32 products over all rows) and prints, for each group of sampled rows, the share
of the exact neighbours the table holds:

- `top-k`: of the exact `k` nearest neighbours (the row itself left out on both sides);
- `links`: of those whose similarity reaches the state's min_sim, the links the network is
  made of (the recall that decides the clustering).

Groups: `all` (S rows drawn from all rows) and, with --added-from N, `added` (S rows drawn from
rows N and up, the rows `add` appended) and `old` (S rows below N, whose lists `add` patched
when an added row entered them). Ties at the k-th similarity count as found.
"""
import argparse
import json
import os

import numpy as np

HEADER = 64


def read(path, dtype, count, offset):
    return np.fromfile(path, dtype=dtype, count=count, offset=offset)


def load(state):
    m = json.load(open(os.path.join(state, "state.json")))
    dim, k, n = m["dim"], m["params"]["k"], m["rows"]
    parts = []
    for e in m["files"]["rows"]:
        parts.append(read(os.path.join(state, e["name"]), "<f4", e["records"] * dim, HEADER).reshape(-1, dim))
    feats = np.concatenate(parts)
    assert len(feats) == n, (len(feats), n)
    ids = np.full((n, k), -1, dtype=np.int64)
    sims = np.full((n, k), -np.inf, dtype=np.float32)
    for e in m["files"]["knn"]:
        path, r = os.path.join(state, e["name"]), e["records"]
        rows = read(path, "<u4", r, HEADER).astype(np.int64)
        ids[rows] = read(path, "<u4", r * k, HEADER + 4 * r).reshape(r, k)
        sims[rows] = read(path, "<f4", r * k, HEADER + 4 * r + 4 * r * k).reshape(r, k)
    ids[ids == 0xFFFFFFFF] = -1
    return m, feats, ids, sims


def recall(feats, ids, sims, rows, k, min_sim):
    found = kept = wanted_links = found_links = 0
    for chunk in np.array_split(rows, max(1, len(rows) // 256)):
        s = feats[chunk] @ feats.T
        s[np.arange(len(chunk)), chunk] = -np.inf  # the row itself
        top = np.argpartition(-s, k - 1, axis=1)[:, : k - 1]  # k - 1 others: the table holds the row
        for r, i in enumerate(chunk):
            exact = top[r]
            exact_sims = s[r, exact]
            kth = exact_sims.min()
            have = set(ids[i].tolist()) - {i, -1}
            # Table neighbours at least as similar as the exact k-th (ties count as found).
            found += min(len(exact), sum(1 for j in have if s[r, j] >= kth))
            kept += len(exact)
            links = exact[exact_sims >= min_sim]
            wanted_links += len(links)
            found_links += sum(1 for j in links if j in have)
    return found / max(kept, 1), found_links / max(wanted_links, 1), wanted_links


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("state")
    ap.add_argument("--added-from", type=int)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    m, feats, ids, sims = load(a.state)
    n, k, min_sim = len(feats), m["params"]["k"], m["params"]["min_sim"]
    rng = np.random.default_rng(a.seed)
    groups = [("all", np.arange(n))]
    if a.added_from is not None:
        groups += [("added", np.arange(a.added_from, n)), ("old", np.arange(a.added_from))]
    print(f"{a.state}: {n:,} rows, k = {k}, min_sim = {min_sim:.4f}, index {m['params']['index']}")
    print("| rows | sampled | top-k recall | link recall | links |")
    print("|---|---:|---:|---:|---:|")
    for name, pool in groups:
        rows = np.sort(rng.choice(pool, size=min(a.sample, len(pool)), replace=False))
        top, links, count = recall(feats, ids, sims, rows, k, min_sim)
        print(f"| {name} | {len(rows):,} | {top:.4f} | {links:.4f} | {count:,} |")


if __name__ == "__main__":
    main()
