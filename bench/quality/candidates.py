"""Candidate label-free defaults (issue 17), prototyped over cached exact k-NN tables.

A candidate is a function `table -> (src, dst, w)` for a given threshold, or a whole
`table -> labels` rule. `grid(...)` scores link builders over a threshold grid (to see how wide
each one's plateau is); `run_rule(...)` scores label-free rules on every data set.

    python candidates.py grid BUILDER DATASETS THRESHOLDS...
    python candidates.py rules RULE[,RULE...] [DATASETS]
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proto  # noqa: E402
import valley  # noqa: E402

ALL = ["att-orl", "lfw-a", "lfw-a-sface", "base", "dlib", "junk", "head", "dups", "album", "mixed"]
S2 = [f"{d}-s2" for d in ["base", "dlib", "junk", "head", "dups", "album", "mixed"]]
_tables = {}


def table(name):
    if name not in _tables:
        _tables[name] = proto.Table.load(proto.DATA / name)
    return _tables[name]


def ranks(t, k):
    return np.broadcast_to(np.arange(k), (t.n, k))


# ---------------------------------------------------------------- link builders (t, k, thr)

def seed_links(t, k, thr, **_):
    return proto.threshold_links(t, k, thr)


def rankdecay_links(t, k, thr, rho=50.0, **_):
    """Seed links with weight sim * exp(-rank / rho) (rank from 1 for the nearest other row)."""
    m = t.sims[:, :k] >= thr
    w = t.sims[:, :k] * np.exp(-ranks(t, k) / rho)
    return proto.mask_links(t, k, m, w.astype(np.float32))


def normalized_links(t, k, thr, **_):
    src, dst, w = proto.threshold_links(t, k, thr)
    tot = np.bincount(src, weights=w, minlength=t.n)
    return src, dst, (w / tot[src]).astype(np.float32)


def tier_links(t, k, thr, k0=50, beta=0.85, stride=1, **_):
    """Two-tier: ranks 1..k0-1 kept at sim >= thr (the seed's graph at k0), ranks k0..k-1 only
    at sim >= thr_far = 1 - beta (1 - thr) (beta < 1: stricter in distance units)."""
    far = 1.0 - beta * (1.0 - thr)
    r = ranks(t, k)
    s = t.sims[:, :k]
    m = np.where(r < int(k0), s >= thr, (s >= far) & ((r - int(k0)) % int(stride) == 0))
    return proto.mask_links(t, k, m, weigh(s, thr, kw_weight(_)))


def kw_weight(kw):
    return kw.get("weight", "sim")


def weigh(s, thr, how):
    """Link weights: 'sim' (the seed's), 'one' (every kept link 1), 'lin' ((s - thr) / (1 - thr),
    0..1 above the threshold, with a floor of 0.05)."""
    if how == "sim":
        return s
    if how == "one":
        return np.ones_like(s)
    if how == "lin":
        return np.maximum((s - thr) / (1.0 - thr), 0.05).astype(np.float32)
    if how.startswith("sat"):  # sat<c>@<h>: 1 - exp(-(s - thr) / (c h)), floor 0.05
        c, h = how[3:].split("@")
        return np.maximum(1.0 - np.exp(-(s - thr) / (float(c) * float(h))), 0.05).astype(np.float32)
    raise ValueError(how)


BUILDERS = {"tier": tier_links, "seed": seed_links, "rankdecay": rankdecay_links, "normalized": normalized_links}


def grid(builder, names, thresholds, k=256, **kw):
    out = {}
    for name in names:
        t = table(name)
        row = []
        for thr in thresholds:
            r, _ = proto.run(t, builder(t, k, thr, **kw))
            row.append((thr, r))
            print(f"{name:12s} k={k} {thr:.4f} {proto.fmt(r)}", file=sys.stderr, flush=True)
        out[name] = row
    return out


def attach_lonely(t, labels, src, t_lo):
    """Rows alone in their cluster whose nearest other row has sim >= t_lo join that row's
    cluster (chains followed with union-find, as src/lonely.rs's attach)."""
    labels = labels.copy()
    sizes = np.bincount(labels)
    alone = sizes[labels] == 1
    nn_col = np.where(t.ids[:, 0] == np.arange(t.n), 1, 0)
    nn = t.ids[np.arange(t.n), nn_col]
    ns = t.sims[np.arange(t.n), nn_col]
    parent = np.arange(t.n)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for i in np.flatnonzero(alone & (ns >= t_lo)):
        a, b = find(i), find(nn[i])
        if a != b:
            parent[a] = b
    roots = np.array([find(i) for i in range(t.n)])
    # each set takes the label of its non-lonely member if any, else its root's
    lab = labels[roots]
    nonlonely = ~alone
    setlab = {}
    for i in np.flatnonzero(nonlonely):
        setlab.setdefault(roots[i], labels[i])
    out = np.array([setlab.get(roots[i], labels[roots[i]]) for i in range(t.n)])
    return out


# ---------------------------------------------------------------- thresholds (label-free)

def nn_sims(t):
    """Similarity of each row's nearest other row."""
    first_other = np.where(t.ids[:, 0] == np.arange(t.n), t.sims[:, 1], t.sims[:, 0])
    return first_other


def link_sample(t, k, cap=2_000_000):
    s = t.sims[:, :k][proto.not_self(t, k)]
    if len(s) > cap:  # a fixed-stride sample keeps the estimate cheap and deterministic
        s = s[:: int(np.ceil(len(s) / cap))]
    return s


def auto_threshold(t, k_merge=50, k_link=256, max_alone=0.5, combine="max", robust=False):
    """Merge-height valley (near-duplicate valleys discarded) and link-similarity valley;
    returns (threshold, info).

    robust=False: the first version (a valley leaving > max_alone of the rows without a link
    is near-duplicates; no valley at all keeps every link).
    robust=True (the recommendation): bandwidths floored at Silverman's rule; a merge valley
    is near-duplicates only if it leaves > max_alone of the rows alone while the link valley
    exists and leaves <= max_alone alone; with no valley at all, the deepest dip of the merge
    heights whatever its depth (and a warning)."""
    valley.SILVERMAN = robust
    try:
        h = valley.table_heights(t, min(k_merge, t.k))
        nn = nn_sims(t)
        alone = lambda x: float(np.mean(nn < x))
        lk = valley.pick(link_sample(t, min(k_link, t.k)), t.n)
        t_link = lk[0] if lk[2] <= valley.MAX_VALLEY_RATIO else None
        if robust and t_link is not None and alone(t_link) > max_alone:
            t_link = None
        vs = sorted(valley.valleys(h, valley.MAX_VALLEY_RATIO), key=lambda v: -v[2])
        t_merge, rejected = None, []
        for v in vs:
            if alone(v[0]) > max_alone and (not robust or t_link is not None):
                rejected.append(round(v[0], 4))
                continue
            t_merge = v[0]
            break
        cands = [x for x in (t_merge, t_link) if x is not None]
        fallback = None
        if not cands:
            if robust:
                deep = sorted(valley.valleys(h, 1.0), key=lambda v: -v[2])
                fallback = deep[0][0] if deep else valley.pick(h, t.n)[0]
                thr = fallback
            else:
                thr = float(np.min(h))  # no valley anywhere: keep every link
        elif combine == "max":
            thr = max(cands)
        elif combine == "merge":
            thr = t_merge if t_merge is not None else t_link
        else:
            thr = t_link if t_link is not None else t_merge
        info = dict(t_merge=t_merge, t_link=t_link, rejected=rejected, alone=round(alone(thr), 3),
                    h=float(valley.density(h)[2]), h_plain=float(valley.density(h, use_silverman=False)[2]),
                    fallback=fallback)
        return thr, info
    finally:
        valley.SILVERMAN = False


def rule(builder, k=256, attach=None, thr_kw=None, **kw):
    def f(t):
        thr, info = auto_threshold(t, **(thr_kw or {}))
        kw2 = dict(kw)
        if kw2.get("weight", "").startswith("sat"):
            kw2["weight"] = f"{kw2['weight']}@{info['h']}"
        links = builder(t, min(k, t.k), thr, **kw2)
        if attach == "mutual" and info["t_link"] is not None:
            extra = mutual_nn_links(t, min(info["t_link"], thr), thr)
            links = tuple(np.concatenate([a, b]) for a, b in zip(links, extra))
            info["mutual_added"] = int(len(extra[0]))
        labels, _ = proto.infomap(*links, t.n)
        if attach == "link" and info["t_link"] is not None:
            labels = attach_lonely(t, labels, links[0], min(info["t_link"], thr))
        info["thr"] = round(thr, 4)
        return labels, info
    return f


def _proposed_rule(**kw):
    def f(t):
        labels, why = proposed(t, **kw)
        return labels, {"thr": why.split(" ")[1], "why": why}
    return f


RULES = {
    "proposed": _proposed_rule(),
    # the steps of the recommendation, one at a time (first version: no merge, plain thresholds)
    "proposed-v1": _proposed_rule(merge=None, robust=False),
    "proposed-noattach": _proposed_rule(merge=None, robust=False, attach=False),
    "proposed-merge0.5": _proposed_rule(merge=0.5, robust=False),
    "proposed-merge0.67": _proposed_rule(merge=2 / 3, robust=False),
    "proposed-merge0.8": _proposed_rule(merge=0.8, robust=False),
    "proposed-robust": _proposed_rule(merge=2 / 3, robust=True),
    "proposed-k0_30": _proposed_rule(k0=30),
    "proposed-k0_40": _proposed_rule(k0=40),
    "proposed-b0.75": _proposed_rule(beta=0.75),
    "proposed-stride2": _proposed_rule(merge=2 / 3, stride=2, robust=False),
    "proposed-stride4": _proposed_rule(merge=2 / 3, stride=4, robust=False),
    "proposed-mergeall0.67": _proposed_rule(merge=2 / 3, merge_graph="all", robust=False),
    "proposed-mergeall0.8": _proposed_rule(merge=0.8, merge_graph="all", robust=False),
    "auto-seed50": rule(seed_links, k=50),
    "auto-seed256": rule(seed_links, k=256),
    "auto-tier0.6": rule(tier_links, beta=0.6),
    "auto-tier0.7": rule(tier_links, beta=0.7),
    "auto-tier0.8": rule(tier_links, beta=0.8),
    "auto-tier0.7-attach": rule(tier_links, beta=0.7, attach="link"),
    "auto-tier0.7-mutual": rule(tier_links, beta=0.7, attach="mutual"),
    "auto-tier0.65": rule(tier_links, beta=0.65),
    "auto-tier0.75": rule(tier_links, beta=0.75),
    "auto-tier0.7-k0_30": rule(tier_links, beta=0.7, k0=30),
    "auto-tier0.7-k0_64": rule(tier_links, beta=0.7, k0=64),
    "tier-k0_20-b0.7": rule(tier_links, beta=0.7, k0=20),
    "tier-k0_20-b0.75": rule(tier_links, beta=0.75, k0=20),
    "tier-k0_20-b0.8": rule(tier_links, beta=0.8, k0=20),
    "tier-k0_30-b0.7": rule(tier_links, beta=0.7, k0=30),
    "tier-k0_30-b0.75": rule(tier_links, beta=0.75, k0=30),
    "tier-k0_30-b0.8": rule(tier_links, beta=0.8, k0=30),
    "tier-k0_40-b0.7": rule(tier_links, beta=0.7, k0=40),
    "tier-k0_40-b0.75": rule(tier_links, beta=0.75, k0=40),
    "tier-k0_40-b0.8": rule(tier_links, beta=0.8, k0=40),
    "auto-tier0.7-k128": rule(tier_links, k=128, beta=0.7),
    "auto-tier0.7-k192": rule(tier_links, k=192, beta=0.7),
    "auto-tier0.7-sat2": rule(tier_links, beta=0.7, weight="sat2"),
    "auto-tier0.7-sat4": rule(tier_links, beta=0.7, weight="sat4"),
    "auto-tier0.7-one": rule(tier_links, beta=0.7, weight="one"),
    "auto-tier0.7-lin": rule(tier_links, beta=0.7, weight="lin"),
}


# ---------------------------------------------------------------- the recommendation

PROPOSED_K = 256        # neighbours searched per row, self included
PROPOSED_K0 = 20        # near tier: ranks 1..K0-1 kept down to the threshold
PROPOSED_BETA = 0.7     # far tier: ranks K0..K-1 need 1 - sim <= BETA (1 - threshold)
MAX_ALONE = 0.5         # a valley leaving more rows than this without a link is near-duplicates
ATTACH_BELOW = 2.0      # a lonely row may join its nearest row down to threshold - 2 h ...
ATTACH_GAP = 1.0        # ... if that row is at least 1 h closer than its second nearest


MERGE_SHARE = 2 / 3     # clusters A, B merge when this share of each one's rows link into the other


def proposed(t, k=PROPOSED_K, k0=PROPOSED_K0, beta=PROPOSED_BETA, attach=True, merge=MERGE_SHARE,
             merge_graph="tier", stride=1, robust=True, verbose=False):
    """The recommended label-free default (docs/quality.md, "The recommended default")."""
    k = min(k, t.k)
    thr, info = auto_threshold(t, k_merge=50, k_link=k, max_alone=MAX_ALONE, robust=robust)
    # The attach window is threshold.rs's own bandwidth ((q98 - q2) / 40), without the Silverman
    # floor: that floor smooths the valley search on few merges, but as a window it lets rows of
    # small sets join clusters 0.03 below the threshold (tiny-sface300: -3.9 pairwise).
    h = info["h_plain"]
    links = tier_links(t, k, thr, k0=min(k0, k), beta=beta, stride=stride)
    labels, im = proto.infomap(*links, t.n)
    merged = 0
    if merge:
        mlinks = links if merge_graph == "tier" else seed_links(t, k, thr)
        while True:  # merge until no pair qualifies (merged clusters can qualify anew)
            labels, m = merge_modules(labels, mlinks[0], mlinks[1], min_share=merge)
            merged += m
            if not m:
                break
    attached = 0
    if attach and info["alone"] <= MAX_ALONE:
        # (when most rows are alone, a lonely row is most likely a one-photo person: no attach)
        labels, attached = attach_clear_nn(t, labels, thr - ATTACH_BELOW * h, ATTACH_GAP * h)
    warnings = []
    if info["t_merge"] is None and info["t_link"] is None:
        warnings.append("no valley (min_sim is the deepest dip there is; set --min-sim)")
    if info["rejected"]:
        warnings.append(f"near-duplicate valley at {info['rejected'][0]} ignored")
    if info["alone"] > MAX_ALONE:
        warnings.append(f"{100 * info['alone']:.0f}% of rows alone")
    why = (f"min_sim {thr:.4f} = max(merge valley {_f(info['t_merge'])}, link valley {_f(info['t_link'])}), "
           f"far tier {1 - beta * (1 - thr):.4f}, h {h:.4f}, merged {merged}, attached {attached}"
           + (f"; warnings: {'; '.join(warnings)}" if warnings else ""))
    return labels, why


def _f(x):
    return "none" if x is None else f"{x:.4f}"


def merge_modules(labels, src, dst, min_share=2 / 3, min_size=2):
    """Merges clusters A and B when at least `min_share` of A's rows have a kept out-link into B
    and at least `min_share` of B's rows have one into A (both of at least `min_size` rows);
    all qualifying pairs at once, with union-find. Returns (labels, merges)."""
    labels = proto.relabel(labels)
    size = np.bincount(labels)
    a, b = labels[src], labels[dst]
    cross = (a != b) & (size[a] >= min_size) & (size[b] >= min_size)
    # distinct (row, target cluster) pairs: how many rows of A link into B
    key = np.unique(src[cross].astype(np.int64) * (len(size) + 1) + b[cross])
    row, tgt = key // (len(size) + 1), key % (len(size) + 1)
    pa = labels[row]
    pair = pa.astype(np.int64) * len(size) + tgt
    uniq, cnt = np.unique(pair, return_counts=True)
    share = dict(zip(uniq.tolist(), (cnt / size[uniq // len(size)]).tolist()))
    parent = np.arange(len(size))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    merges = 0
    for p, sh in share.items():
        x, y = divmod(p, len(size))
        if x < y and sh >= min_share and share.get(y * len(size) + x, 0.0) >= min_share:
            rx, ry = find(x), find(y)
            if rx != ry:
                parent[rx] = ry
                merges += 1
    roots = np.array([find(c) for c in range(len(size))])
    return roots[labels], merges


def attach_clear_nn(t, labels, t_lo, gap):
    """Rows alone in their cluster join their nearest other row's cluster when that row has
    sim >= t_lo and is at least `gap` more similar than the second nearest (chains followed,
    as src/lonely.rs's attach). Returns (labels, rows attached)."""
    own = t.ids[:, 0] == np.arange(t.n)
    s1 = np.where(own, t.sims[:, 1], t.sims[:, 0])
    s2 = np.where(own, t.sims[:, 2], t.sims[:, 1])
    nn = np.where(own, t.ids[:, 1], t.ids[:, 0])
    alone = np.bincount(labels)[labels] == 1
    cand = np.flatnonzero(alone & (s1 >= t_lo) & (s1 - s2 >= gap))
    parent = np.arange(t.n)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for i in cand:
        a, b = find(i), find(nn[i])
        if a != b:
            parent[a] = b
    roots = np.array([find(i) for i in range(t.n)])
    setlab = {}
    for i in np.flatnonzero(~alone):
        setlab.setdefault(roots[i], labels[i])
    out = np.array([setlab.get(roots[i], labels[roots[i]]) for i in range(t.n)])
    return out, int(len(cand))


def density_peaks(t, m=10, k=PROPOSED_K):
    """Density-peaks clustering (Rodriguez & Laio, Science 2014) on the k-NN table, made
    label-free with the automatic threshold: density rho_i = mean similarity of the m nearest
    other rows; each row points to its most similar neighbour (within k) of higher density
    (ties by id), and keeps that pointer when its similarity is >= the threshold; clusters
    are the trees of kept pointers (a row with no kept pointer is a peak)."""
    k = min(k, t.k)
    thr, info = auto_threshold(t, k_link=k)
    own = t.ids[:, 0] == np.arange(t.n)
    rho = t.sims[:, 1:m + 1].mean(1)
    ids, sims = t.ids[:, :k], t.sims[:, :k]
    higher = (rho[np.maximum(ids, 0)] > rho[:, None]) | ((rho[np.maximum(ids, 0)] == rho[:, None]) & (ids < np.arange(t.n)[:, None]))
    higher &= (ids != np.arange(t.n)[:, None]) & (ids >= 0)
    first = np.where(higher.any(1), higher.argmax(1), -1)
    parent = np.arange(t.n)
    ok = first >= 0
    rows = np.flatnonzero(ok)
    par, ps = ids[rows, first[rows]], sims[rows, first[rows]]
    keep = ps >= thr
    parent[rows[keep]] = par[keep]
    # follow pointers to the peak (density strictly increases along them, so no cycles)
    for _ in range(64):
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    return parent, {"thr": round(thr, 4)}


RULES["density-peaks"] = density_peaks
RESULTS = proto.DATA / "rules"


def run_rules(names, datasets, redo=False):
    res = {}
    for rn in names:
        for ds in datasets:
            cache = RESULTS / rn / f"{ds}.json"
            if cache.exists() and not redo:
                res[(rn, ds)] = json.load(open(cache))
                continue
            t = table(ds)
            t0 = time.time()
            labels, info = RULES[rn](t)
            r = proto.evaluate(labels, t)
            r["secs"] = round(time.time() - t0, 2)
            r["info"] = info
            res[(rn, ds)] = r
            cache.parent.mkdir(parents=True, exist_ok=True)
            json.dump(r, open(cache, "w"), default=float)
            print(f"{rn:16s} {ds:12s} {proto.fmt(r)} thr {info.get('thr')} {json.dumps({k: v for k, v in info.items() if k != 'thr'})}",
                  file=sys.stderr, flush=True)
    print("| rule | " + " | ".join(datasets) + " |")
    print("|:--|" + "--:|" * len(datasets))
    for rn in names:
        print(f"| {rn} | " + " | ".join(f"{100*res[(rn, d)]['pf']:.2f} / {100*res[(rn, d)]['bf']:.2f}" for d in datasets) + " |")
    return res


def main():
    cmd = sys.argv[1]
    if cmd == "grid":
        b = sys.argv[2]
        names = sys.argv[3].split(",")
        kw = {}
        ths = []
        for a in sys.argv[4:]:
            if "=" in a:
                key, v = a.split("=")
                kw[key] = v if key == "weight" else (int(v) if key == "k" else float(v))
            else:
                ths.append(float(a))
        res = grid(BUILDERS[b], names, ths, **kw)
        for name, row in res.items():
            print(f"{name:12s} " + " ".join(f"{thr:.3f}:{100*r['pf']:.1f}/{100*r['bf']:.1f}" for thr, r in row))
    elif cmd == "rules":
        ds = sys.argv[3] if len(sys.argv) > 3 else "all"
        ds = {"all": ALL, "s2": S2, "both": ALL + S2}.get(ds) or ds.split(",")
        run_rules(sys.argv[2].split(","), ds)


if __name__ == "__main__":
    main()
