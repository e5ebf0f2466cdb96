#!/usr/bin/env python3
"""The k-NN graph of face-cluster beside the k-NN libraries a user would pick instead, each
tuned to the same edge recall, on the same feature files.

Every side builds the k = 50 graph of all rows of a file (every row searched against all rows,
itself included) with inner product on L2-normalised rows, on all cores, in a process of its
own, and is timed inside that process from the loaded, normalised rows to the last neighbour
list (`graph s`: train + add + search; reading the file is left out on every side). Peak RSS is
each process's own maximum resident set (os.wait4's rusage): the rows, the index and the
result, plus Python and NumPy for the peers.

Peers, all from PyPI, each with a grid over the knobs its documentation tells users to set:

  faiss-ivf    faiss-cpu `IVF<nlist>,Flat` (inner product; faiss's default training: 25
               k-means iterations on at most 256 rows per list), nlist from a grid, nprobe
               raised until the target is met
  faiss-hnsw   faiss-cpu `IndexHNSWFlat` (inner product), M and efConstruction from a grid,
               efSearch raised until the target is met
  hnswlib      hnswlib `Index('ip')`, M and ef_construction from a grid, ef raised until the
               target is met
  usearch      usearch `Index(metric='ip', dtype='f32')`, connectivity and expansion_add from
               a grid, expansion_search raised until the target is met

Tuning: for each build setting the child builds the index once, searches the sampled rows
with the search knob raised step by step until their edge recall reaches the target, then
searches all rows with that knob: `graph s` is the build plus that one full search (the
tuning searches are not counted). A build setting that never reaches the target is listed
with its best recall. For each peer the table keeps its fastest setting that met the target,
and the summary names the fastest peer of all.

Edge recall (as `face-cluster --check-recall`): for `--sample` rows drawn with `--seed`, the
links the graph keeps (j != i, similarity >= `--min-sim` among the row's exact top k) that the
row's k neighbours hold. The exact top k of the sampled rows is computed once per file with
NumPy (float32 products, ties by id) and cached in bench/out/knn_peers/.

face-cluster runs `face-cluster knn FEATS -k 50 -o TABLE.npz` with its defaults (`--index
auto`) and any `--fc-args` settings; its `graph s` is the index and search seconds it prints,
its recall is measured here from the table it saved, in the same way as the peers'.

Usage (from the repository root, after `cargo build --release`; the binary is $FACE_CLUSTER,
else $CARGO_TARGET_DIR/release/face-cluster, else target/release/face-cluster):
    bash bench/compare/knn_peers.sh --data DIR[,DIR...] [--peers faiss-ivf,...] [--quick]
DIR holds feats.npy (as `face-cluster synth` writes it). Results: one JSON per file and the
Markdown table in bench/out/knn_peers/ (git-ignored); the table is also printed. Run it alone
on a shared machine (e.g. under flock): it times CPU-heavy work. `--from-json A.json,...`
prints the table of earlier runs.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from common import ROOT, binary

OUT = os.path.join(ROOT, "bench", "out", "knn_peers")
RESULT_MARK = "KNN_PEERS_RESULT "
PEERS = ["faiss-ivf", "faiss-hnsw", "hnswlib", "usearch"]

# Search knobs, raised in this order until the target is met.
NPROBES = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
EFS = [50, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 768, 1024]


def build_grid(peer, n, quick):
    """The build settings tried for `peer` on `n` rows, cheapest first (`quick`: one)."""
    if peer == "faiss-ivf":
        nlists = [256, 512, 1024] if n <= 200_000 else [512, 1024, 2048]
        grid = [{"nlist": v} for v in nlists]
        return grid[1:2] if quick else grid
    if peer == "faiss-hnsw":
        grid = [{"M": 16, "efConstruction": 40}, {"M": 32, "efConstruction": 80}]
    elif peer == "hnswlib":
        grid = [{"M": 16, "ef_construction": 100}, {"M": 32, "ef_construction": 200}]
    elif peer == "usearch":
        grid = [{"connectivity": 16, "expansion_add": 64}, {"connectivity": 32, "expansion_add": 128}]
    else:
        raise SystemExit(f"unknown peer {peer}")
    return grid[-1:] if quick else grid


# ---------------------------------------------------------------------------------------------
# Shared by the parent and the children.


def load_rows(path):
    """The rows of a .npy file as contiguous float32, L2-normalised."""
    import numpy as np

    feats = np.ascontiguousarray(np.load(path), dtype=np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return feats


def edge_recall(exact_ids, exact_sims, rows, found_ids, min_sim):
    """(edge recall, top-k recall, kept links) of `found_ids` (one row of ids per sampled row,
    -1 for none) against the exact top k of the sampled rows."""
    kept = found = hits = 0
    k = exact_ids.shape[1]
    for r, i in enumerate(rows):
        approx = set(int(j) for j in found_ids[r][:k] if j >= 0)
        for j, sim in zip(exact_ids[r], exact_sims[r]):
            j = int(j)
            inside = j in approx
            hits += inside
            if j != i and sim >= min_sim:
                kept += 1
                found += inside
    return (found / kept if kept else 1.0), hits / (len(rows) * k), kept


# ---------------------------------------------------------------------------------------------
# A child: one peer, one build setting.


class Peer:
    """Builds one index on `feats` with the knobs `build`; `search(queries, knob)` returns the
    ids of the k nearest rows of each query."""

    def __init__(self, name, feats, build, k, threads):
        import numpy as np

        self.name, self.k, self.threads = name, k, threads
        n, d = feats.shape
        if name == "faiss-ivf":
            import faiss

            faiss.omp_set_num_threads(threads)
            self.index = faiss.index_factory(d, f"IVF{build['nlist']},Flat", faiss.METRIC_INNER_PRODUCT)
            self.index.train(feats)
            self.index.add(feats)
        elif name == "faiss-hnsw":
            import faiss

            faiss.omp_set_num_threads(threads)
            self.index = faiss.IndexHNSWFlat(d, build["M"], faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = build["efConstruction"]
            self.index.add(feats)
        elif name == "hnswlib":
            import hnswlib

            self.index = hnswlib.Index(space="ip", dim=d)
            self.index.init_index(max_elements=n, M=build["M"], ef_construction=build["ef_construction"],
                                  random_seed=100)
            self.index.add_items(feats, np.arange(n), num_threads=threads)
        elif name == "usearch":
            from usearch.index import Index

            self.index = Index(ndim=d, metric="ip", dtype="f32", connectivity=build["connectivity"],
                               expansion_add=build["expansion_add"])
            self.index.add(np.arange(n), feats, threads=threads)
        else:
            raise SystemExit(f"unknown peer {name}")

    def knob_name(self):
        return {"faiss-ivf": "nprobe", "faiss-hnsw": "efSearch", "hnswlib": "ef",
                "usearch": "expansion_search"}[self.name]

    def knobs(self):
        return NPROBES if self.name == "faiss-ivf" else EFS

    def search(self, queries, knob):
        import numpy as np

        if self.name == "faiss-ivf":
            self.index.nprobe = knob
            return self.index.search(queries, self.k)[1]
        if self.name == "faiss-hnsw":
            self.index.hnsw.efSearch = knob
            return self.index.search(queries, self.k)[1]
        if self.name == "hnswlib":
            self.index.set_ef(max(knob, self.k))
            return self.index.knn_query(queries, k=self.k, num_threads=self.threads)[0].astype(np.int64)
        self.index.expansion_search = max(knob, self.k)
        matches = self.index.search(queries, self.k, threads=self.threads)
        keys = np.asarray(matches.keys, dtype=np.int64)
        # usearch pads missing results with a sentinel key; mark them -1.
        keys[(keys < 0) | (keys >= self.index.size)] = -1
        return keys


def peer_child(args):
    import numpy as np

    feats = load_rows(args.feats)
    exact = np.load(args.exact)
    rows, exact_ids, exact_sims = exact["rows"], exact["ids"], exact["sims"]
    build = json.loads(args.build)
    t = time.perf_counter()
    peer = Peer(args.child, feats, build, args.k, args.threads)
    build_secs = time.perf_counter() - t

    tried = []
    chosen = None
    for knob in peer.knobs():
        ids = peer.search(feats[rows], knob)
        recall, topk, kept = edge_recall(exact_ids, exact_sims, rows, ids, args.min_sim)
        tried.append({"knob": knob, "edge_recall": recall, "topk_recall": topk})
        if recall >= args.target:
            chosen = knob
            break
    result = {"peer": args.child, "build": build, "knob_name": peer.knob_name(), "tried": tried,
              "build_secs": build_secs, "met": chosen is not None}
    if chosen is not None:
        t = time.perf_counter()
        ids = peer.search(feats, chosen)
        search_secs = time.perf_counter() - t
        recall, topk, kept = edge_recall(exact_ids, exact_sims, rows, ids[rows], args.min_sim)
        result.update({"knob": chosen, "search_secs": search_secs, "graph_secs": build_secs + search_secs,
                       "edge_recall": recall, "topk_recall": topk, "kept_links": kept})
    else:
        best = max(tried, key=lambda x: x["edge_recall"])
        result.update({"knob": best["knob"], "edge_recall": best["edge_recall"], "topk_recall": best["topk_recall"]})
    print(RESULT_MARK + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# The parent.


def run_process(cmd, timeout):
    """Runs `cmd`; returns stdout, stderr, wall seconds, peak RSS in bytes and the load averages
    before and after (None for the output when it ran past `timeout`)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load_before = os.getloadavg()
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = t + timeout
        while True:
            # wait4, not Popen.wait: it also returns this child's own rusage (its peak RSS).
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return None, None, time.perf_counter() - t, None, (load_before, os.getloadavg())
            time.sleep(0.05)
        wall = time.perf_counter() - t
        loads = (load_before, os.getloadavg())
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        raise SystemExit(f"{cmd[0]} failed with status {code}:\n{stderr[-3000:]}")
    return stdout, stderr, wall, usage.ru_maxrss * 1024, loads


def child_result(out):
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise SystemExit("the child printed no result:\n" + out[-3000:])


def exact_sample(feats_path, args):
    """The path of the cached exact top k (ids, sims) of the sampled rows of a file, computed
    in a child process (the parent stays small: a child's peak RSS counts the parent's)."""
    os.makedirs(OUT, exist_ok=True)
    tag = os.path.basename(os.path.dirname(os.path.abspath(feats_path)))
    size = os.path.getsize(feats_path)
    path = os.path.join(OUT, f"exact-{tag}-{size}-k{args.k}-m{args.sample}-s{args.seed}.npz")
    if not os.path.exists(path):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "exact", "--feats", feats_path, "--exact", path,
               "--k", str(args.k), "--sample", str(args.sample), "--seed", str(args.seed)]
        run_process(cmd, args.timeout)
    return path


def exact_child(args):
    """Writes the exact top k of the sampled rows of --feats to --exact."""
    import numpy as np

    feats = load_rows(args.feats)
    n = feats.shape[0]
    rows = np.sort(np.random.default_rng(args.seed).choice(n, size=min(args.sample, n), replace=False))
    queries = feats[rows]
    best_sims = np.full((len(rows), 0), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(rows), 0), dtype=np.int64)
    for start in range(0, n, 65536):
        block = queries @ feats[start:start + 65536].T
        sims = np.concatenate([best_sims, block], axis=1)
        ids = np.concatenate([best_ids, np.broadcast_to(np.arange(start, start + block.shape[1]), block.shape)], axis=1)
        # Sort each row by (sim desc, id asc) and keep k.
        order = np.lexsort((ids, -sims), axis=1)[:, :args.k]
        best_sims = np.take_along_axis(sims, order, axis=1)
        best_ids = np.take_along_axis(ids, order, axis=1)
    np.savez(args.exact + ".tmp.npz", rows=rows, ids=best_ids, sims=best_sims)
    os.replace(args.exact + ".tmp.npz", args.exact)


def table_recall_child(args):
    """Prints the recall of the face-cluster table --build (a path) against --exact."""
    import numpy as np

    z = np.load(args.exact)
    ids = np.load(args.build)["ids"][z["rows"]]
    recall, topk, kept = edge_recall(z["ids"], z["sims"], z["rows"], ids, args.min_sim)
    print(RESULT_MARK + json.dumps({"edge_recall": recall, "topk_recall": topk, "kept_links": kept}), flush=True)


def run_face_cluster(feats, exact, fc_args, args):
    with tempfile.TemporaryDirectory() as tmp:
        table = os.path.join(tmp, "knn.npz")
        cmd = [binary(), "knn", feats, "-k", str(args.k), "-o", table, *fc_args]
        stdout, stderr, wall, rss, loads = run_process(cmd, args.timeout)
        if stdout is None:
            return {"peer": "face-cluster", "build": {"args": " ".join(fc_args)}, "met": False, "timed_out": True}
        line = next(l for l in stderr.splitlines() if "k-NN table written" in l)
        index_secs = float(line.split("(index ")[1].split("s,")[0])
        search_secs = float(line.split("search ")[1].split("s")[0])
        resolved = line.split("index ")[1].split(":")[0]
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "table-recall", "--exact", exact,
               "--build", table, "--min-sim", str(args.min_sim)]
        r = child_result(run_process(cmd, args.timeout)[0])
    recall, topk, kept = r["edge_recall"], r["topk_recall"], r["kept_links"]
    return {"peer": "face-cluster", "build": {"args": " ".join(fc_args) or "defaults", "index": resolved},
            "knob_name": "", "knob": "", "build_secs": index_secs, "search_secs": search_secs,
            "graph_secs": index_secs + search_secs, "edge_recall": recall, "topk_recall": topk,
            "kept_links": kept, "met": recall >= args.target, "wall_secs": wall, "peak_rss_bytes": rss,
            "load_before": loads[0], "load_after": loads[1]}


def rows_of(feats):
    """The number of rows of a .npy file (memory-mapped: its data is not read)."""
    import numpy as np

    return int(np.load(feats, mmap_mode="r").shape[0])


def run_file(feats, args):
    n = rows_of(feats)
    exact = exact_sample(feats, args)
    runs = []
    for fc_args in [[]] + [a.split() for a in args.fc_args]:
        r = run_face_cluster(feats, exact, fc_args, args)
        print(f"  face-cluster {r['build']}: {r.get('graph_secs', float('nan')):.2f} s, "
              f"recall {r.get('edge_recall', float('nan')):.4f}", file=sys.stderr, flush=True)
        runs.append(r)
    for peer in args.peers.split(","):
        for build in build_grid(peer, n, args.quick):
            cmd = [sys.executable, os.path.abspath(__file__), "--child", peer, "--feats", feats, "--exact", exact,
                   "--build", json.dumps(build), "--k", str(args.k), "--min-sim", str(args.min_sim),
                   "--target", str(args.target), "--threads", str(args.threads)]
            stdout, _, wall, rss, loads = run_process(cmd, args.timeout)
            if stdout is None:
                r = {"peer": peer, "build": build, "met": False, "timed_out": True, "wall_secs": wall}
            else:
                r = child_result(stdout)
                r.update({"wall_secs": wall, "peak_rss_bytes": rss})
            r.update({"load_before": loads[0], "load_after": loads[1]})
            print(f"  {peer} {build}: {r.get('graph_secs', float('nan')):.2f} s, "
                  f"recall {r.get('edge_recall', float('nan')):.4f}", file=sys.stderr, flush=True)
            runs.append(r)
    return {"feats": feats, "n": n, "k": args.k, "min_sim": args.min_sim, "target": args.target,
            "sample": args.sample, "seed": args.seed, "threads": args.threads, "runs": runs,
            "face_cluster": binary(), "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "versions": peer_versions()}


def peer_versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ["faiss-cpu", "hnswlib", "usearch", "numpy"]:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def describe(r):
    b = r["build"]
    if r["peer"] == "face-cluster":
        return f"`{b.get('index', '')}`" + ("" if b["args"] == "defaults" else f" ({b['args']})")
    knobs = ", ".join(f"{k} {v}" for k, v in b.items())
    if r.get("knob_name"):
        knobs += f", {r['knob_name']} {r['knob']}"
    return knobs


def table(results):
    lines = ["| rows | library | setting | build s | search s | graph s | peak RSS MiB | edge recall | "
             "top-50 recall | load before, after |", "|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    summary = []
    for res in results:
        best = {}
        for r in res["runs"]:
            if r.get("met") and (r["peer"] not in best or r["graph_secs"] < best[r["peer"]]["graph_secs"]):
                best[r["peer"]] = r
        for r in res["runs"]:
            chosen = best.get(r["peer"]) is r
            fmt = (lambda s: f"**{s}**") if chosen else (lambda s: s)
            if r.get("timed_out"):
                cells = ["", "", f"> {res.get('timeout', 0) or r.get('wall_secs', 0):.0f}", "", "", ""]
            elif not r.get("met"):
                cells = [f"{r.get('build_secs', 0):.2f}", "", "", "", f"{r.get('edge_recall', 0):.4f} (best)",
                         f"{r.get('topk_recall', 0):.4f}"]
            else:
                cells = [f"{r['build_secs']:.2f}", f"{r['search_secs']:.2f}", fmt(f"{r['graph_secs']:.2f}"),
                         f"{r['peak_rss_bytes'] / 2**20:.0f}", f"{r['edge_recall']:.4f}", f"{r['topk_recall']:.4f}"]
            load = ""
            if r.get("load_before"):
                load = f"{r['load_before'][0]:.2f}, {r['load_after'][0]:.2f}"
            lines.append(f"| {res['n']:,} | {r['peer']} | {describe(r)} | " + " | ".join(cells) + f" | {load} |")
        fc = best.get("face-cluster")
        peers = [r for p, r in best.items() if p != "face-cluster"]
        if fc and peers:
            fastest = min(peers, key=lambda r: r["graph_secs"])
            summary.append(f"- {res['n']:,} rows: face-cluster {fc['graph_secs']:.2f} s, the fastest peer "
                           f"{fastest['peer']} ({describe(fastest)}) {fastest['graph_secs']:.2f} s: "
                           f"**{fastest['graph_secs'] / fc['graph_secs']:.2f}x** faster")
    return "\n".join(lines + [""] + summary) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="folders holding feats.npy, comma-separated")
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--min-sim", type=float, default=0.58)
    p.add_argument("--target", type=float, default=0.995, help="edge recall each side must reach")
    p.add_argument("--sample", type=int, default=2000, help="rows whose recall is measured")
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--timeout", type=float, default=1800, help="seconds per build setting")
    p.add_argument("--quick", action="store_true", help="fewer build settings per peer")
    p.add_argument("--fc-args", action="append", default=[],
                   help="an extra face-cluster setting to run, e.g. '--nprobe 8' (repeatable)")
    p.add_argument("--from-json", help="print the table of earlier result files, comma-separated")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--feats", help=argparse.SUPPRESS)
    p.add_argument("--exact", help=argparse.SUPPRESS)
    p.add_argument("--build", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "exact":
        return exact_child(args)
    if args.child == "table-recall":
        return table_recall_child(args)
    if args.child:
        return peer_child(args)
    if args.from_json:
        results = [json.load(open(path)) for path in args.from_json.split(",")]
        print(table(results), end="")
        return
    if not args.data:
        p.error("--data is required")
    os.makedirs(OUT, exist_ok=True)
    results = []
    for folder in args.data.split(","):
        feats = os.path.join(folder, "feats.npy")
        print(f"{feats}:", file=sys.stderr, flush=True)
        res = run_file(feats, args)
        res["timeout"] = args.timeout
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = os.path.join(OUT, f"{os.path.basename(os.path.abspath(folder))}-{stamp}.json")
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        results.append(res)
    text = table(results)
    with open(os.path.join(OUT, "table.md"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
