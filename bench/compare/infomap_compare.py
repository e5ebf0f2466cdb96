#!/usr/bin/env python3
"""Side by side: face-cluster's native Infomap against the reference Infomap (PyPI `infomap`).

For each graph, both sides optimise the same directed k-NN link list (`--two-level --directed`,
one trial) for several seeds. The script reports, per graph: the median and best codelength of
each side, the ratios ours/reference, the NMI between the two best partitions, the time of the
Infomap stage (flow + search, loading excluded on both sides) and peak memory.

Graphs (k-NN with faiss IndexFlatIP on L2-normalised rows; links i->j, j != i, sim >= min_sim):
  att-orl, lfw-a     real dlib face descriptors (data/), k=50 at min_sim 0.94 and 0.95, the
                     thresholds that suit this model
  att-orl-dense,     the same at min_sim 0.90 and 0.93: dense graphs with many near-equal
  lfw-a-dense        optima, where best partitions of different seeds agree less
  planted-20k        the recipe of the Infomap spec §9.2: 20,000 x 64-D, 8 planted clusters,
                     noise 0.15, k=20, min_sim=0.3
  planted-100k       100,000 x 64-D, 1,000 planted clusters of long-tailed sizes, noise 0.15,
                     k=41 (40 neighbours besides self), min_sim=0.3: about 4M links
  synth-20k,         `face-cluster synth --n N --dim 256 --seed 1` (face-like, long-tailed
  synth-100k         identities), k=50, min_sim=0.58 (the seed's setting)

Usage (from the repository root, after `cargo build --release`; the binary is taken from
$FACE_CLUSTER, else $CARGO_TARGET_DIR/release, else target/release):
    python3 -m venv .venv && .venv/bin/pip install numpy scikit-learn faiss-cpu infomap==2.16.0
    .venv/bin/python bench/compare/infomap_compare.py [--seeds 8] [--graphs att-orl,lfw-a,...]
Graphs are cached in bench/out/ (git-ignored).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from common import ROOT, binary

OUT = os.path.join(ROOT, "bench", "out")
SHARED = os.path.join(ROOT, "..", "shared", "data")


def dataset_path(name):
    for base in (os.path.join(ROOT, "data"), SHARED):
        p = os.path.join(base, name, "feats.npy")
        if os.path.exists(p):
            return p
    raise SystemExit(f"dataset {name} not found in data/ or ../shared/data/")


def planted(n, clusters, dim, noise, seed, long_tail):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    if long_tail:
        weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
        weights /= weights.sum()
    else:
        weights = np.full(clusters, 1.0 / clusters)
    sizes = rng.multinomial(n, weights)
    labels = np.repeat(np.arange(clusters), sizes)
    x = centres[labels] + rng.normal(scale=noise, size=(n, dim))
    return x.astype(np.float32), labels


GRAPHS = {
    # The real sets at the thresholds that suit this model (see data/*/SOURCE.md) ...
    "att-orl": dict(source="att-orl", k=50, min_sim=0.94),
    "lfw-a": dict(source="lfw-a", k=50, min_sim=0.95),
    # ... and at lower thresholds, where the graphs are dense and the optimum ambiguous.
    "att-orl-dense": dict(source="att-orl", k=50, min_sim=0.90),
    "lfw-a-dense": dict(source="lfw-a", k=50, min_sim=0.93),
    "planted-20k": dict(planted=(20000, 8, 64, 0.15, 0, False), k=20, min_sim=0.3),
    "planted-100k": dict(planted=(100000, 1000, 64, 0.15, 1, True), k=41, min_sim=0.3),
    # face-like sets of `face-cluster synth` (256-d, seed 1) at the seed's setting.
    "synth-20k": dict(synth=20000, k=50, min_sim=0.58),
    "synth-100k": dict(synth=100000, k=50, min_sim=0.58),
}


def synth_features(n):
    """The features of `face-cluster synth --n N --dim 256 --seed 1`, written once to bench/out."""
    folder = os.path.join(OUT, f"synth-{n}")
    path = os.path.join(folder, "feats.npy")
    if not os.path.exists(path):
        subprocess.run([binary(), "synth", "--n", str(n), "--dim", "256", "--seed", "1", "-o", folder, "-q"],
                       check=True)
    return np.load(path)


def knn_links(feats, k, min_sim):
    import faiss
    feats = np.ascontiguousarray(feats, dtype=np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(feats.shape[1])
    index.add(feats)
    sims, nbrs = index.search(feats, k)
    src = np.repeat(np.arange(len(feats)), k)
    dst = nbrs.reshape(-1)
    w = sims.reshape(-1)
    keep = (dst != src) & (dst >= 0) & (w >= min_sim)
    return src[keep], dst[keep], w[keep]


def graph_file(name):
    """Writes (once) the link list of graph `name`; returns its path and link count."""
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{name}.links.txt")
    if not os.path.exists(path):
        spec = GRAPHS[name]
        if "source" in spec:
            feats = np.load(dataset_path(spec["source"]))
        elif "synth" in spec:
            feats = synth_features(spec["synth"])
        else:
            feats, _ = planted(*spec["planted"])
        src, dst, w = knn_links(feats, spec["k"], spec["min_sim"])
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"# {name}: k={spec['k']} min_sim={spec['min_sim']}\n")
            # %.9g keeps every float32 exactly; both sides parse the same decimal text.
            np.savetxt(f, np.column_stack([src, dst, w]), fmt=["%d", "%d", "%.9g"])
        os.replace(tmp, path)
    return path


REFERENCE_RUN = r"""
import json, resource, sys, time
import numpy as np, infomap
path, seed, clu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = np.loadtxt(path, comments="#", dtype=np.float64, ndmin=2)
links = [(int(s), int(t), float(w)) for s, t, w in data]
im = infomap.Infomap(f"--two-level --directed --silent --seed {seed}")
im.add_links(links)
t0 = time.perf_counter()
res = im.run()
secs = time.perf_counter() - t0
res.write_clu(clu)
print(json.dumps({"codelength": res.codelength, "modules": res.num_top_modules, "secs": secs,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run_reference(path, seed, clu):
    """Runs the reference once per graph and seed; later calls reuse the stored result."""
    cached = clu + ".json"
    if os.path.exists(cached) and os.path.exists(clu) and os.path.getmtime(cached) > os.path.getmtime(path):
        return json.load(open(cached))
    out = subprocess.run([sys.executable, "-c", REFERENCE_RUN, path, str(seed), clu],
                         check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    json.dump(result, open(cached, "w"))
    return result


def run_ours(path, seed, clu, threads):
    out = subprocess.run([binary(), "infomap", path, "--seed", str(seed), "-o", clu, "--json", "-q",
                          "-j", str(threads)], check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    infomap, t = report["infomap"], report["timings_secs"]
    return {"codelength": infomap["codelength_bits"], "modules": infomap["modules"],
            "secs": t["flow"] + t["search"], "peak_rss_bytes": report["peak_rss_bytes"]}


def read_clu(path):
    mods = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        node, module = line.split()[:2]
        mods[int(node)] = int(module)
    return mods


def nmi(a_path, b_path):
    from sklearn.metrics import normalized_mutual_info_score
    a, b = read_clu(a_path), read_clu(b_path)
    nodes = sorted(set(a) | set(b))
    return normalized_mutual_info_score([a.get(i, -1 - i) for i in nodes], [b.get(i, -1 - i) for i in nodes])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--graphs", default=",".join(GRAPHS))
    ap.add_argument("--threads", default="1,2", help="thread counts for our side (first one is used for quality)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    seeds = list(range(1, args.seeds + 1))
    rows = []
    for name in args.graphs.split(","):
        path = graph_file(name)
        n_links = sum(1 for line in open(path) if not line.startswith("#"))
        res = {"graph": name, "links": n_links, "reference": [], "ours": {t: [] for t in threads}}
        for seed in seeds:
            res["reference"].append(run_reference(path, seed, os.path.join(OUT, f"{name}.ref.{seed}.clu")))
            for t in threads:
                res["ours"][t].append(run_ours(path, seed, os.path.join(OUT, f"{name}.ours.{seed}.clu"), t))
        ref_l = [r["codelength"] for r in res["reference"]]
        our_l = [r["codelength"] for r in res["ours"][threads[0]]]
        for t in threads[1:]:
            other = [r["codelength"] for r in res["ours"][t]]
            assert other == our_l, f"{name}: codelengths differ between 1 and {t} threads"
        best_ref = seeds[int(np.argmin(ref_l))]
        best_our = seeds[int(np.argmin(our_l))]
        ref_clu = lambda s: os.path.join(OUT, f"{name}.ref.{s}.clu")
        our_clu = lambda s: os.path.join(OUT, f"{name}.ours.{s}.clu")
        # Context for the agreement of the two best partitions: how much each side's best agrees
        # with its own other seeds.
        ref_self = [nmi(ref_clu(best_ref), ref_clu(s)) for s in seeds if s != best_ref]
        our_self = [nmi(our_clu(best_our), our_clu(s)) for s in seeds if s != best_our]
        row = {
            "graph": name, "links": n_links,
            "ref_median": statistics.median(ref_l), "ours_median": statistics.median(our_l),
            "ref_best": min(ref_l), "ours_best": min(our_l),
            "ref_worst": max(ref_l), "ours_worst": max(our_l),
            "nmi_best": nmi(ref_clu(best_ref), our_clu(best_our)),
            "ref_nmi_best_vs_others_median": statistics.median(ref_self) if ref_self else 1.0,
            "ours_nmi_best_vs_others_median": statistics.median(our_self) if our_self else 1.0,
            "ref_modules_best": res["reference"][seeds.index(best_ref)]["modules"],
            "ours_modules_best": res["ours"][threads[0]][seeds.index(best_our)]["modules"],
            "ref_secs": statistics.median(r["secs"] for r in res["reference"]),
            "ref_peak_rss_mb": max(r["peak_rss_bytes"] for r in res["reference"]) / 2**20,
        }
        for t in threads:
            row[f"ours_secs_{t}t"] = statistics.median(r["secs"] for r in res["ours"][t])
            row[f"speedup_{t}t"] = row["ref_secs"] / row[f"ours_secs_{t}t"]
            row[f"ours_peak_rss_mb_{t}t"] = max(r["peak_rss_bytes"] for r in res["ours"][t]) / 2**20
        row["median_ratio"] = row["ours_median"] / row["ref_median"]
        row["best_ratio"] = row["ours_best"] / row["ref_best"]
        row["ref_all"] = ref_l
        row["ours_all"] = our_l
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if not k.endswith("_all")}), flush=True)

    cols = ["graph", "links", "ref_median", "ours_median", "median_ratio", "ref_best", "ours_best",
            "best_ratio", "nmi_best", "ref_nmi_best_vs_others_median", "ours_nmi_best_vs_others_median",
            "ref_modules_best", "ours_modules_best", "ref_secs"]
    cols += [f"ours_secs_{t}t" for t in threads] + [f"speedup_{t}t" for t in threads]
    cols += ["ref_peak_rss_mb"] + [f"ours_peak_rss_mb_{t}t" for t in threads]
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                cells.append(f"{v:.6f}" if ("ratio" in c or "nmi" in c) else f"{v:.4f}" if "rss" not in c else f"{v:.0f}")
            else:
                cells.append(str(v))
        print("| " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
