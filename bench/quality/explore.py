#!/usr/bin/env python3
"""The one-off measurements of docs/quality.md that are not candidates.py rules.

Usage: explore.py WHAT
  mr          threshold from mutual-reachability merge heights (HDBSCAN's min_samples m)
  linkvalley  valley of the k-NN link-similarity density at k = 50, 100, 256
  codelength  codelength of each threshold's partition on one reference graph (lfw-a, base)
  attach      rows left alone joining their nearest row: windows and the clear-NN rule
  modpairs    cluster pairs joined by kept links: share of rows linking across, same identity or not
  bandwidth   the merge-height valley with the bandwidth floored at Silverman's rule (x0, 0.5, 1)
  seeds       Infomap seed and trials variation at fixed thresholds (lfw-a, base)
  small       random subsets of 30-500 rows: proposed, current default, seed's best fixed
  strat       best over thresholds of each existing strategy at k = 256 (from strat.sh sweeps)
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import candidates as C  # noqa: E402
import proto  # noqa: E402
import valley  # noqa: E402

NAMES = C.ALL


def mr():
    for name in NAMES:
        t = C.table(name)
        out = []
        for m in (5, 10, 20, 40):
            core = t.sims[:, m]
            ids = t.ids[:, :50]
            mask = proto.not_self(t, 50)
            src = np.nonzero(mask)[0]
            dst = ids[mask]
            s = t.sims[:, :50][mask]
            h = valley.mst_heights(t.n, src, dst, np.minimum(s, np.minimum(core[src], core[dst])))
            p = valley.pick(h, t.n)
            out.append(f"m{m}: {p[0]:.4f} (ratio {p[2]:.2f})")
        print(f"| {name} | " + " | ".join(out) + " |")


def linkvalley():
    for name in NAMES:
        t = C.table(name)
        out = []
        for k in (50, 100, 256):
            p = valley.pick(C.link_sample(t, min(k, t.k)), t.n)
            out.append(f"{p[0]:.4f} ({p[2]:.2f})")
        print(f"| {name} | " + " | ".join(out) + " |")


def codelength():
    for name, ths, ref in (("lfw-a", (0.94, 0.945, 0.95, 0.9537, 0.96), 0.93), ("base", (0.44, 0.48, 0.52, 0.56, 0.60), 0.40)):
        t = C.table(name)
        rs = C.tier_links(t, 256, ref, k0=50, beta=0.7)
        d = tempfile.mkdtemp(dir=proto.TMP)
        lp = os.path.join(d, "ref.txt")
        proto.write_links(lp, *rs)
        nodes = np.unique(np.concatenate([rs[0], rs[1]]))
        for th in ths:
            r, lab = proto.run(t, C.tier_links(t, 256, th, k0=50, beta=0.7))
            cp = os.path.join(d, "p.clu")
            with open(cp, "w") as f:
                f.write("# node_id module\n" + "\n".join(f"{i} {lab[i] + 1}" for i in nodes) + "\n")
            o = subprocess.run([proto.BIN, "infomap", lp, "--cluster-data", cp, "--json", "-q"], capture_output=True, text=True)
            print(f"| {name} | {th} | {100 * r['pf']:.2f} / {100 * r['bf']:.2f} | {r['codelength']:.4f} | "
                  f"{json.loads(o.stdout)['codelength']:.4f} |")


def attach():
    for name in ("lfw-a", "lfw-a-sface", "base", "att-orl", "dlib", "junk"):
        t = C.table(name)
        thr, info = C.auto_threshold(t)
        h = info["h"]
        links = C.tier_links(t, 256, thr, k0=20, beta=0.7)
        lab, _ = proto.infomap(*links, t.n)
        r0 = proto.evaluate(lab, t)
        own = t.ids[:, 0] == np.arange(t.n)
        s1 = np.where(own, t.sims[:, 1], t.sims[:, 0])
        s2 = np.where(own, t.sims[:, 2], t.sims[:, 1])
        nn = np.where(own, t.ids[:, 1], t.ids[:, 0])
        alone = np.bincount(lab)[lab] == 1
        cells = [f"{100 * r0['pf']:.2f} / {100 * r0['bf']:.2f}"]
        for lo, gap, label in ((info["t_link"], -1, "t_link"), (thr - 2 * h, -1, "t-2h"), (thr - 2 * h, h, "t-2h, gap h"),
                               (thr - 2 * h, 2 * h, "t-2h, gap 2h")):
            cand = alone & (s1 >= lo) & (s1 - s2 >= gap)
            same = np.mean(t.gt[cand] == t.gt[nn[cand]]) if cand.any() else float("nan")
            lab2, _ = C.attach_clear_nn(t, lab, lo, gap)
            r = proto.evaluate(lab2, t)
            cells.append(f"{label}: {cand.sum()} rows, {100 * same:.0f}% right, {100 * r['pf']:.2f} / {100 * r['bf']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def modpairs():
    from collections import Counter
    for name in ("sessions", "dlib", "base", "lfw-a"):
        t = C.table(name)
        thr, info = C.auto_threshold(t, robust=True)
        src, dst, w = C.tier_links(t, 256, thr, k0=20, beta=0.7)
        lab = proto.relabel(proto.infomap(src, dst, w, t.n)[0])
        size = np.bincount(lab)
        maj = np.array([np.bincount(t.gt[lab == c]).argmax() for c in range(len(size))])
        a, b = lab[src], lab[dst]
        pairs = Counter(zip(a[a != b].tolist(), b[a != b].tolist()))
        rows, seen = [], set()
        for (x, y), _ in pairs.items():
            key = (min(x, y), max(x, y))
            if key in seen or size[x] < 2 or size[y] < 2:
                continue
            seen.add(key)
            sh = lambda u, v: len(np.unique(src[(lab[src] == u) & (lab[dst] == v)])) / size[u]
            rows.append((maj[x] == maj[y], size[x], size[y], sh(x, y), sh(y, x)))
        for same in (True, False):
            rs = sorted([r for r in rows if r[0] == same], key=lambda r: -min(r[3], r[4]))[:5]
            print(f"{name} {'same' if same else 'different'} identity ({sum(r[0] == same for r in rows)} pairs), "
                  "highest min share: " + "; ".join(f"{r[1]}x{r[2]} {r[3]:.2f}/{r[4]:.2f}" for r in rs))


def bandwidth():
    for fac in (0.0, 0.5, 1.0):
        out = []
        for name in NAMES + ["tiny-orl30", "tiny-orl100", "tiny-lfw300"]:
            if not (proto.DATA / name / "knn256.npz").exists():
                continue
            t = C.table(name)
            h = valley.table_heights(t, min(50, t.k))
            orig = valley.silverman
            valley.silverman = lambda asc, f=fac: f * orig(asc)
            valley.SILVERMAN, below = fac > 0, valley.SILVERMAN_BELOW
            valley.SILVERMAN_BELOW = 10 ** 9
            try:
                vs = sorted(valley.valleys(h, 0.8), key=lambda v: -v[2])
            finally:
                valley.silverman, valley.SILVERMAN, valley.SILVERMAN_BELOW = orig, False, below
            out.append(f"{name} {vs[0][0]:.4f}" if vs else f"{name} -")
        print(f"Silverman x{fac}: " + ", ".join(out))


def seeds():
    for name, th in (("lfw-a", 0.9537), ("lfw-a", 0.95), ("base", 0.48)):
        t = C.table(name)
        links = C.tier_links(t, 256, th, k0=50, beta=0.7)
        for seed in (123, 1, 2, 3, 4):
            r, _ = proto.run(t, links, seed=seed)
            print(f"{name} {th} seed {seed}: {proto.fmt(r)}")


def small():
    rng = np.random.default_rng(0)
    print("| subset | rows | people | proposed | min_sim (warnings) | current default | seed, best fixed (labels) |")
    print("|:--|--:|--:|--:|:--|--:|--:|")
    for name, src, m in (("tiny-orl30", "att-orl", 30), ("tiny-orl60", "att-orl", 60), ("tiny-orl100", "att-orl", 100),
                         ("tiny-lfw300", "lfw-a", 300), ("tiny-sface300", "lfw-a-sface", 300),
                         ("tiny-base500", "base", 500), ("tiny-album400", "album", 400)):
        d = proto.DATA / name
        labels_all = np.loadtxt(proto.DATA / src / "labels.meta", dtype=int)
        rows = np.arange(m) if src == "att-orl" else np.sort(rng.choice(len(labels_all), m, replace=False))
        if not (d / "knn256.npz").exists():
            d.mkdir(parents=True, exist_ok=True)
            np.save(d / "feats.npy", np.load(proto.DATA / src / "feats.npy")[rows])
            (d / "labels.meta").write_text("\n".join(map(str, labels_all[rows])) + "\n")
            subprocess.run([proto.BIN, "knn", str(d / "feats.npy"), "-k", str(min(256, m - 1)), "--index", "Flat", "-q",
                            "-o", str(d / "knn256.npz")], check=True)
        t = proto.Table.load(d)
        lab, why = C.proposed(t)
        r = proto.evaluate(lab, t)
        k = min(50, t.k)
        cur = proto.evaluate(proto.infomap(*proto.threshold_links(t, k, valley.pick(valley.table_heights(t, k), t.n)[0]), t.n)[0], t)
        lo, hi = np.quantile(C.nn_sims(t), [0.01, 0.99])
        best = max(((proto.run(t, proto.threshold_links(t, k, s))[0], s) for s in np.linspace(lo - 0.1, hi, 60)), key=lambda x: x[0]['pf'])
        warn = why.split("warnings: ")[1] if "warnings: " in why else ""
        print(f"| {name} | {t.n} | {len(np.unique(t.gt))} | {100 * r['pf']:.2f} / {100 * r['bf']:.2f} | {why.split(' ')[1]} ({warn}) | "
              f"{100 * cur['pf']:.2f} / {100 * cur['bf']:.2f} | {100 * best[0]['pf']:.2f} / {100 * best[0]['bf']:.2f} ({best[1]:.3f}) |")


def ranges():
    """Thresholds where the two-tier graph (k0 20, beta 0.7) is within 0.5 pairwise points of
    its best over the grid, and the best."""
    print("| data set | best fixed (two-tier) | within 0.5 points of it | proposed min_sim |")
    print("|:--|--:|:--|--:|")
    for name in NAMES:
        t = C.table(name)
        dl = float(np.median(t.sims[:, min(50, t.k - 1)])) > 0.8  # dlib's compressed scale
        thr, _ = C.auto_threshold(t, k_link=t.k, robust=True)
        grid = np.round(np.arange(0.88, 0.99, 0.0025), 4) if dl else np.round(np.arange(0.30, 0.70, 0.01), 4)
        grid = sorted(set(grid.tolist()) | {round(thr, 4)})
        res = [(x, proto.run(t, C.tier_links(t, min(256, t.k), x, k0=20, beta=0.7))[0]["pf"]) for x in grid]
        b = max(res, key=lambda r: r[1])
        ok = [x for x, f in res if f >= b[1] - 0.005]
        print(f"| {name} | {b[0]} ({100 * b[1]:.2f}) | {min(ok)}-{max(ok)} ({len(ok)} of {len(grid)} grid points) | {thr:.4f} |")


def strat():
    from collections import defaultdict
    names = ["lfw-a", "lfw-a-sface", "base", "dlib", "album"]
    best = defaultdict(dict)
    for n in names:
        for c in json.load(open(proto.DATA / "sweeps" / f"{n}-strat-k256.json"))["cells"]:
            s = c["strategy"]
            e = s["edges"]
            key = f"{e['pruning']}/{e['weighting']}/{s['flow']}"
            pf = c["eval"]["pairwise"]["f"]
            if pf > best[key].get(n, (0,))[0]:
                best[key][n] = (pf, c["eval"]["bcubed"]["f"], c["min_sim"])
    print("| strategy, k = 256 | " + " | ".join(names) + " |")
    print("|:--|" + "--:|" * len(names))
    for k, v in best.items():
        print(f"| {k} | " + " | ".join(f"{100 * v[n][0]:.2f} / {100 * v[n][1]:.2f} ({v[n][2]:.3f})" for n in names) + " |")


if __name__ == "__main__":
    globals()[sys.argv[1]]()
