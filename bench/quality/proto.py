"""Prototyping kit for graph constructions over a cached k-NN table (issue 17 research).

Everything between the k-NN table and the labels is done here in numpy; the map equation is
the tool's own (`face-cluster infomap` on a link list) and the scores are the tool's own
(`face-cluster eval --json`), so figures are those the Rust pipeline would give for the same
links.

    import proto
    t = proto.Table.load(DATA / "lfw-a")             # knn256.npz, labels.meta
    src, dst, w = proto.threshold_links(t, k=50, min_sim=0.95)
    labels, info = proto.infomap(src, dst, w, t.n)    # rows without out-links: own clusters
    proto.evaluate(labels, t)                         # {'pf':..,'bf':..,'nmi':..,'clusters':..}
"""
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

# OpenBLAS's own core detection falls back to a generic kernel on this VM that crashes in large
# multithreaded GEMMs (segfault in 20K x 20K products); the tool itself restarts on Zen kernels.
os.environ.setdefault("OPENBLAS_CORETYPE", "Zen")
import numpy as np  # noqa: E402

_REPO = Path(__file__).resolve().parent.parent.parent
# The binary: $FACE_CLUSTER, else the release build of this checkout (under $CARGO_TARGET_DIR
# when set). The research ran main's binary of the time (commit b6f9bce).
BIN = os.environ.get("FACE_CLUSTER") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", _REPO / "target")) / "release" / "face-cluster")
if "QDATA" not in os.environ:
    raise SystemExit("set QDATA to the folder for the harness's data sets, k-NN tables and results")
DATA = Path(os.environ["QDATA"])
TMP = Path(os.environ.get("QTMP", DATA / "tmp"))


class Table:
    """A k-NN table (rows sorted by similarity descending, self included) and ground truth."""

    def __init__(self, name, ids, sims, gt_path):
        self.name = name
        self.ids = ids
        self.sims = sims
        self.n, self.k = ids.shape
        self.gt_path = str(gt_path)
        self.gt = np.loadtxt(gt_path, dtype=np.int64)

    @classmethod
    def load(cls, folder, knn="knn256.npz"):
        folder = Path(folder)
        z = np.load(folder / knn)
        ids, sims = z["ids"].astype(np.int64), z["sims"].astype(np.float32)
        # Put each row's self in slot 0 (exact search does; ties with duplicates may not).
        return cls(folder.name, ids, sims, folder / "labels.meta")

    def feats(self):
        f = np.load(Path(self.gt_path).parent / "feats.npy").astype(np.float32)
        return f / np.linalg.norm(f, axis=1, keepdims=True)


def not_self(t, k):
    """Mask of the first k slots that are real neighbours (not self, not padding)."""
    ids = t.ids[:, :k]
    return (ids != np.arange(t.n)[:, None]) & (ids >= 0)


def threshold_links(t, k, min_sim):
    """The seed's graph: i -> j for j in the first k slots, j != i, sim >= min_sim."""
    m = not_self(t, k) & (t.sims[:, :k] >= min_sim)
    src = np.nonzero(m)[0]
    return src, t.ids[:, :k][m], t.sims[:, :k][m]


def mask_links(t, k, mask, weights=None):
    """Links from a boolean mask over the first k slots (self and padding always dropped)."""
    m = mask & not_self(t, k)
    src = np.nonzero(m)[0]
    w = (t.sims[:, :k] if weights is None else weights)[m]
    return src, t.ids[:, :k][m], w


LINKS2TXT = Path(os.environ.get("LINKS2TXT", DATA / "bin" / "links2txt"))


def write_links(path, src, dst, w):
    """Writes `src dst w` lines; with the C helper links2txt.c when built (cc -O2 -o
    $QDATA/bin/links2txt links2txt.c), else numpy's savetxt (same text, slower)."""
    if LINKS2TXT.exists():
        data = (np.asarray(src, "<i4").tobytes() + np.asarray(dst, "<i4").tobytes()
                + np.asarray(w, "<f4").tobytes())
        subprocess.run([str(LINKS2TXT), str(len(src)), str(path)], input=data, check=True)
        return
    with open(path, "w") as f:
        if len(src):
            np.savetxt(f, np.column_stack([src, dst, w]), fmt="%d %d %.7g")


def infomap(src, dst, w, n, directed=True, trials=1, seed=123, lonely="own"):
    """Runs `face-cluster infomap` on the links; returns labels (n) and its JSON summary.

    lonely='own': rows without an out-link are clusters of their own (the seed's rule);
    'infomap': every row that appears in a link keeps its module; rows in no link are alone.
    """
    TMP.mkdir(parents=True, exist_ok=True)
    labels = np.full(n, -1, np.int64)
    info = {"modules": 0, "codelength": 0.0, "one_level_codelength": 0.0}
    if len(src):
        with tempfile.TemporaryDirectory(dir=TMP) as d:
            lp, cp = os.path.join(d, "links.txt"), os.path.join(d, "out.clu")
            write_links(lp, src, dst, w)
            cmd = [BIN, "infomap", lp, "-o", cp, "--json", "-q", "--trials", str(trials), "--seed", str(seed)]
            cmd.append("--directed" if directed else "--undirected")
            r = subprocess.run(cmd, capture_output=True, text=True, check=True)
            info = json.loads(r.stdout)
            clu = np.loadtxt(cp, comments="#", usecols=(0, 1), dtype=np.int64, ndmin=2)
            labels[clu[:, 0]] = clu[:, 1]
    if lonely == "own":
        has_out = np.zeros(n, bool)
        has_out[src] = True
        labels[~has_out] = -1
    alone = labels < 0
    labels[alone] = labels.max() + 1 + np.arange(alone.sum())
    return labels, info


def relabel(labels):
    _, inv = np.unique(labels, return_inverse=True)
    return inv


def evaluate(labels, t, extra=None):
    """Scores by `face-cluster eval --json`: pairwise F, BCubed F, NMI, clusters, singletons."""
    TMP.mkdir(parents=True, exist_ok=True)
    labels = relabel(np.asarray(labels))
    with tempfile.NamedTemporaryFile("w", dir=TMP, suffix=".txt", delete=False) as f:
        f.write("\n".join(map(str, labels.tolist())) + "\n")
        path = f.name
    try:
        r = subprocess.run([BIN, "eval", "--gt", t.gt_path, "--pred", path, "--json"],
                           capture_output=True, text=True, check=True)
    finally:
        os.unlink(path)
    e = json.loads(r.stdout)
    sizes = np.bincount(labels)
    out = dict(pf=e["pairwise"]["f"], pp=e["pairwise"]["precision"], pr=e["pairwise"]["recall"],
               bf=e["bcubed"]["f"], nmi=e["nmi"], clusters=int(len(sizes)), singletons=int((sizes == 1).sum()),
               true_clusters=e["true_clusters"])
    if extra:
        out.update(extra)
    return out


def run(t, links, **kw):
    """links = (src, dst, w): Infomap, labels and scores, with wall seconds."""
    t0 = time.time()
    labels, info = infomap(*links, t.n, **kw)
    r = evaluate(labels, t)
    r["secs"] = round(time.time() - t0, 2)
    r["links"] = int(len(links[0]))
    r["codelength"] = info.get("codelength", 0.0)
    r["one_level"] = info.get("one_level_codelength", 0.0)
    return r, labels


def fmt(r):
    return f"pF {100*r['pf']:.2f} bF {100*r['bf']:.2f} NMI {100*r['nmi']:.2f} cl {r['clusters']} (1: {r['singletons']})"
