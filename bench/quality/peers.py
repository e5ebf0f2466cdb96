#!/usr/bin/env python3
"""face-cluster against the clusterers people use today, on every data set (issue 17).

Usage:
    peers.py OUT [--data DIR] [--datasets a,b,...] [--methods m1,m2,...] [--redo]

Each data set is a folder DIR/NAME with feats.npy, labels.meta and knn256.npz (the exact k-NN
table, `face-cluster knn feats.npy -k 256 --index Flat -o knn256.npz`; made when missing).
Results are cached per (data set, method) in OUT/NAME/METHOD.json, so a rerun only runs what is
missing (--redo reruns everything asked for); OUT/peers.md is the table, rewritten at the end.

Methods (rows of the table):
  seed-best      face-cluster-by-infomap's graph, k=50, at its best fixed min_sim for this data
                 set (pairwise F, swept with the labels on the exact table: 0.01 steps, then
                 0.0025 around the best); scores and seconds of one run at that threshold.
  default        `face-cluster FEATS --preset best` (the default before issue 17).
  proposed       the recommended default, prototyped in Python (bench/quality/candidates.py),
                 when that module is importable; seconds = its own wall time from the cached
                 table (no search), plus the search time of one `face-cluster knn`.
  hdbscan        sklearn.cluster.HDBSCAN() with every default (min_cluster_size 5, Euclidean),
                 on L2-normalised rows.
  hdbscan-2      the same with min_cluster_size=2.
  hdbscan-tuned  the best pairwise F over min_cluster_size in 2,3,4,5,7,10,15,20,30 (min_samples
                 left at its default, = min_cluster_size).
  dbscan         sklearn.cluster.DBSCAN(eps=0.5, metric='cosine'), min_samples default (5).
  dbscan-tuned   the best pairwise F over eps (cosine distance, a log grid of 12 values from
                 0.005 to 0.8, then 6 around the best) x min_samples in {2, 5}; one sparse
                 radius graph serves every eps (see dbscan_tuned).
  cw-default     dlib.chinese_whispers_clustering(raw descriptors, 0.5): dlib's documented
                 default; only on data sets of raw dlib descriptors (att-orl, lfw-a).
  cw-tuned       chinese whispers at the best Euclidean threshold on L2-normalised rows (raw
                 rows for the dlib sets, as dlib is used), threshold swept with the labels.

Scores are `face-cluster eval --json` (pairwise F, BCubed F, NMI) on the labels each method
returns. Noise labels (-1 from HDBSCAN and DBSCAN) are made clusters of one row each, as
face-cluster does with rows it leaves alone; so noise costs recall, never precision.

Notes on fidelity:
  - HDBSCAN runs with algorithm='brute': the same labels as the default 'auto' (a k-d tree in
    256-d), checked on 5,000 rows, about 6x faster here. Its seconds are that run's.
  - chinese whispers: cw-default is dlib's own function; the tuned sweep builds the same edge
    list (every pair i <= j with distance < threshold, self-loops included, unit weights) with
    numpy and passes it to dlib.chinese_whispers, dlib's same C++ routine (identical labels to
    chinese_whispers_clustering on lfw-a at 0.5, checked). Its seconds are edge building + CW.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# OpenBLAS's own core detection falls back to a generic kernel on this VM that crashes in large
# multithreaded GEMMs (segfault in 20K x 20K products); the tool itself restarts on Zen kernels.
os.environ.setdefault("OPENBLAS_CORETYPE", "Zen")
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proto  # noqa: E402

DLIB_RAW = {"att-orl", "lfw-a"}
ALL = ["att-orl", "lfw-a", "lfw-a-sface", "base", "dlib", "junk", "head", "dups", "album", "mixed"]
# Second draws of the synthetic sets (seed 2) and a stress variant, for robustness: defaults only.
EXTRA = ["base-s2", "dlib-s2", "junk-s2", "head-s2", "dups-s2", "album-s2", "mixed-s2", "sessions"]
METHODS = ["seed-best", "default", "proposed", "hdbscan", "hdbscan-2", "hdbscan-tuned", "dbscan",
           "dbscan-tuned", "cw-default", "cw-tuned"]


def feats_of(folder, normalise=True):
    f = np.load(folder / "feats.npy").astype(np.float64)
    if normalise:
        f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f


def score(labels, t, secs, **extra):
    labels = np.asarray(labels).copy()
    noise = labels < 0
    labels[noise] = labels.max() + 1 + np.arange(noise.sum())
    r = proto.evaluate(labels, t)
    r["secs"] = round(secs, 2)
    r["noise"] = int(noise.sum())
    r.update(extra)
    return r


def run_tool(args):
    t0 = time.time()
    subprocess.run([proto.BIN, *args], check=True, capture_output=True)
    return time.time() - t0


def seed_best(folder, t, out):
    knn = folder / "knn256.npz"

    def sweep(grid):
        r = subprocess.run([proto.BIN, "sweep", "--knn", str(knn), "--labels", t.gt_path, "--k", "50",
                            "--min-sim", grid, "--json", "-q"], capture_output=True, text=True, check=True)
        return [(c["min_sim"], c["eval"]["pairwise"]["f"]) for c in json.loads(r.stdout)["cells"]]

    coarse = sweep("-0.2:0.99:0.01")
    best = max(coarse, key=lambda c: c[1])[0]
    fine = sweep(f"{max(-1, best - 0.0125):.4f}:{min(1, best + 0.0125):.4f}:0.0025")
    best = max(fine + coarse, key=lambda c: c[1])[0]
    return run_main(folder, t, out, ["--k", "50", "--min-sim", f"{best:.4f}"], min_sim=round(best, 4))


def run_main(folder, t, out, options, **extra):
    with tempfile.TemporaryDirectory(dir=proto.TMP) as d:
        lab, rep = os.path.join(d, "labels.txt"), os.path.join(d, "report.json")
        secs = run_tool([str(folder / "feats.npy"), "--index", "Flat", "-o", lab, "--report", rep, *options])
        labels = np.loadtxt(lab, dtype=np.int64)
        report = json.load(open(rep))
    return score(labels, t, secs, min_sim_used=_find(report, "min_sim"), **extra)


def _find(obj, key):
    """The first value of `key` anywhere in a JSON object."""
    if isinstance(obj, dict):
        if key in obj and not isinstance(obj[key], (dict, list)):
            return obj[key]
        for v in obj.values():
            r = _find(v, key)
            if r is not None:
                return r
    elif isinstance(obj, list):
        for v in obj:
            r = _find(v, key)
            if r is not None:
                return r
    return None


def hdbscan(folder, t, mcs):
    from sklearn.cluster import HDBSCAN
    f = feats_of(folder)
    t0 = time.time()
    labels = HDBSCAN(min_cluster_size=mcs, algorithm="brute").fit_predict(f)
    return score(labels, t, time.time() - t0, min_cluster_size=mcs)


def best_of(results):
    best = max(results, key=lambda r: r["pf"])
    best = dict(best)
    best["grid"] = [{k: r[k] for k in r if k in ("pf", "bf", "eps", "min_samples", "min_cluster_size", "threshold")}
                    for r in results]
    return best


def dbscan(folder, t, eps, min_samples=5):
    from sklearn.cluster import DBSCAN
    f = feats_of(folder)
    t0 = time.time()
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="cosine").fit_predict(f)
    return score(labels, t, time.time() - t0, eps=eps, min_samples=min_samples)


def dbscan_tuned(folder, t):
    """Best pairwise F over eps x min_samples {2, 5}: a log grid of 12 eps values (cosine
    distance) from 0.005 to 0.8, cut at 3x the median distance to the 255th neighbour (larger
    eps only grow neighbourhoods quadratically), then 6 around the best. The cosine radius
    graph is computed once at the largest eps and passed as a sparse precomputed matrix:
    DBSCAN(metric='precomputed') on it gives the same labels as metric='cosine' for every
    smaller eps (sklearn stores the diagonal explicitly, so each row still counts itself)."""
    from sklearn.cluster import DBSCAN
    from sklearn.neighbors import NearestNeighbors
    f = feats_of(folder)
    k256 = 1.0 - np.median(t.sims[:, -1])
    grid = [float(e) for e in np.geomspace(0.005, 0.8, 12) if e <= max(3 * k256, 0.05)]
    t0 = time.time()
    graph = NearestNeighbors(radius=max(grid) * 1.0001, metric="cosine").fit(f).radius_neighbors_graph(mode="distance")
    build = time.time() - t0

    def one(eps, ms):
        t1 = time.time()
        labels = DBSCAN(eps=eps, min_samples=ms, metric="precomputed").fit_predict(graph)
        return score(labels, t, build + time.time() - t1, eps=eps, min_samples=ms)
    res = [one(e, ms) for e in grid for ms in (2, 5)]
    b = max(res, key=lambda r: r["pf"])
    i = grid.index(b["eps"])
    lo, hi = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    res += [one(float(e), ms) for e in np.geomspace(lo, hi, 8)[1:-1] for ms in (2, 5)]
    return best_of(res)


def cw_edges(f, threshold):
    sq = (f * f).sum(1)
    edges = []
    for a in range(0, len(f), 2048):
        d2 = sq[a:a + 2048, None] + sq[None, :] - 2 * f[a:a + 2048] @ f.T
        i, j = np.nonzero(d2 < threshold * threshold)
        i = i + a
        m = j >= i
        edges.extend(zip(i[m].tolist(), j[m].tolist()))
    return edges


def cw(folder, t, threshold, raw):
    import dlib
    f = feats_of(folder, normalise=not raw)
    t0 = time.time()
    labels = np.array(dlib.chinese_whispers(cw_edges(f, threshold)))
    return score(labels, t, time.time() - t0, threshold=threshold)


def cw_default(folder, t):
    import dlib
    f = feats_of(folder, normalise=False)
    t0 = time.time()
    labels = np.array(dlib.chinese_whispers_clustering([dlib.vector(r.tolist()) for r in f], 0.5))
    return score(labels, t, time.time() - t0, threshold=0.5)


def cw_tuned(folder, t, raw):
    f = feats_of(folder, normalise=not raw)
    # Distance scale of the data: the median distance to the 10th neighbour (normalised rows:
    # sqrt(2 - 2 sim)); thresholds from 0.4x to 2x of it, then refined.
    scale = math.sqrt(max(1e-6, 2 - 2 * float(np.median(t.sims[:, 10]))))
    if raw:
        scale *= float(np.median(np.linalg.norm(f, axis=1)))
    grid = list(scale * np.geomspace(0.4, 2.0, 9))
    res = []
    for th in grid:
        r = cw(folder, t, float(th), raw)
        res.append(r)
    b = max(res, key=lambda r: r["pf"])
    i = grid.index(b["threshold"])
    lo, hi = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    res += [cw(folder, t, float(th), raw) for th in np.linspace(lo, hi, 7)[1:-1]]
    return best_of(res)


def proposed(folder, t):
    import candidates
    t0 = time.time()
    labels, why = candidates.proposed(t)
    secs = time.time() - t0
    with tempfile.TemporaryDirectory(dir=proto.TMP) as d:
        knn_secs = run_tool(["knn", str(folder / "feats.npy"), "-k", str(min(candidates.PROPOSED_K, t.n - 1)), "--index", "Flat",
                             "-q", "-o", os.path.join(d, "knn.npz")])
    return score(labels, t, secs + knn_secs, why=why)


def method(name, folder, t):
    raw = folder.name in DLIB_RAW
    if name == "seed-best":
        return seed_best(folder, t, None)
    if name == "default":
        # The default before issue 17 (k 50, merge-height valley), as the research measured it.
        return run_main(folder, t, None, ["--preset", "best"])
    if name == "proposed":
        return proposed(folder, t)
    if name == "hdbscan":
        return hdbscan(folder, t, 5)
    if name == "hdbscan-2":
        return hdbscan(folder, t, 2)
    if name == "hdbscan-tuned":
        return best_of([hdbscan(folder, t, m) for m in (2, 3, 4, 5, 7, 10, 15, 20, 30)])
    if name == "dbscan":
        return dbscan(folder, t, 0.5)
    if name == "dbscan-tuned":
        return dbscan_tuned(folder, t)
    if name == "cw-default":
        return cw_default(folder, t) if raw else None
    if name == "cw-tuned":
        return cw_tuned(folder, t, raw)
    raise ValueError(name)


def setting(name, r):
    if r is None:
        return ""
    if name in ("seed-best",):
        return f"min_sim {r.get('min_sim')}"
    if name == "default":
        return f"min_sim {float(r['min_sim_used']):.4f} (auto)" if r.get("min_sim_used") is not None else ""
    if name.startswith("hdbscan"):
        return f"mcs {r.get('min_cluster_size')}"
    if name.startswith("dbscan"):
        return f"eps {r.get('eps'):.4g}, min_samples {r.get('min_samples')}"
    if name.startswith("cw"):
        return f"threshold {r.get('threshold'):.4g}"
    if name == "proposed":
        return r.get("why", "")[:60]
    return ""


def table(out, datasets, methods):
    lines = ["| data set | method | setting | pairwise F | BCubed F | NMI | clusters / true | seconds |",
             "|:--|:--|:--|--:|--:|--:|--:|--:|"]
    for ds in datasets:
        for m in methods:
            p = out / ds / f"{m}.json"
            if not p.exists():
                continue
            r = json.load(open(p))
            if r is None:
                continue
            lines.append(f"| {ds} | {m} | {setting(m, r)} | {100*r['pf']:.2f} | {100*r['bf']:.2f} | {100*r['nmi']:.2f} "
                         f"| {r['clusters']} / {r['true_clusters']} | {r['secs']:.2f} |")
    notes = ("\nNotes: scores by `face-cluster eval`; HDBSCAN/DBSCAN noise rows (-1) are each a cluster of "
             "their own. `seed-best` and `*-tuned` chose their setting with the labels (best pairwise F); "
             "`default`, `hdbscan`, `hdbscan-2`, `dbscan`, `cw-default` and `proposed` use none. "
             "face-cluster rows search exactly (`--index Flat`); seconds are wall time on 2 shared cores.\n")
    (out / "peers.md").write_text("\n".join(lines) + "\n" + notes)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=proto.DATA)
    ap.add_argument("--datasets", default=",".join(ALL))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--redo", action="store_true")
    a = ap.parse_args()
    datasets, methods = a.datasets.split(","), a.methods.split(",")
    for ds in datasets:
        folder = a.data / ds
        if not (folder / "knn256.npz").exists():
            run_tool(["knn", str(folder / "feats.npy"), "-k", "256", "--index", "Flat", "-q", "-o",
                      str(folder / "knn256.npz")])
        t = proto.Table.load(folder)
        (a.out / ds).mkdir(parents=True, exist_ok=True)
        for m in methods:
            p = a.out / ds / f"{m}.json"
            if p.exists() and not a.redo:
                continue
            t0 = time.time()
            try:
                r = method(m, folder, t)
            except ImportError as e:
                print(f"{ds} {m}: skipped ({e})", file=sys.stderr)
                continue
            json.dump(r, open(p, "w"), indent=1)
            if r is not None:
                print(f"{ds:12s} {m:14s} {proto.fmt(r)}  [{setting(m, r)}] {time.time()-t0:.0f}s", file=sys.stderr, flush=True)
    shown = [d for d in ALL + EXTRA if (a.out / d).is_dir()] + [d for d in datasets if d not in ALL + EXTRA]
    print(table(a.out, shown, METHODS))


if __name__ == "__main__":
    main()
