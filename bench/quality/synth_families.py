#!/usr/bin/env python3
"""Harder synthetic face-embedding families: a Python prototype of what `face-cluster synth`
should gain (issue 17), to be ported to src/synth.rs.

Usage:
    synth_families.py OUT_DIR FAMILY [--n N] [--seed S]      one family into OUT_DIR
    synth_families.py --list                                  the families and their knobs

Writes OUT_DIR/feats.npy (float32, n x dim, unit rows), OUT_DIR/labels.meta (identity label per
row), OUT_DIR/sources.meta (the identity a row really is an image of; junk rows get a label of
their own, n + row, as `synth`'s JUNK rows do), OUT_DIR/kinds.meta (0 original image, 1
near-duplicate, 2 junk, 3 mislabelled) and OUT_DIR/params.json (every knob).

# The model

It is src/synth.rs's model (identity sizes, attribute groups, look-alikes, per-image quality,
junk, mislabels: see that file's documentation), with five additions, each off at its default
so that the base model is unchanged:

1. **Heavy head** (`head_identities` H, `head_min_size`, `head_max_size`): the first H
   identities get sizes drawn log-uniformly in [head_min_size, head_max_size] (celebrities, the
   owner of a photo collection, the subject of a video); the remaining rows get the base
   model's lognormal sizes (`mean_identity_size`, `identity_size_sigma`). With
   `identities_total` set, there is no lognormal tail: exactly that many identities, all drawn
   log-uniformly in [head_min_size, head_max_size], and n is their sum (a personal album).
2. **Sessions** (`session_mean_size` S, `session_noise` sigma_s): an identity's images come in
   sessions (an event, a video, a photo shoot) of geometric size with mean S; each session has
   its own centre `normalize(c + sigma_s g / sqrt(dim))` around the identity centre c, and the
   images of the session are drawn around the session centre with the base model's noise. Two
   images of one session meet at about 1/(1+s^2), two of different sessions at about
   1/((1+s^2)(1+sigma_s^2)). A large identity is then a chain of tight sub-clusters, which is
   what a small k fails to connect.
3. **Near-duplicate bursts** (`dup_fraction`, `dup_burst_mean`, `dup_noise_max`): that share of
   each identity's rows (rounded down) are re-encodings of one of its original images, in
   bursts: a burst copies one original chosen uniformly, and has a geometric size with mean
   `dup_burst_mean` (cut to the copies left). A copy is `normalize(x + d g / sqrt(dim))` with d
   uniform in [0, dup_noise_max]: cosine to its original at least about 1/sqrt(1+d^2), 0.98 for
   d = 0.2 (before the scale compression below).
4. **Junk that looks alike** (`junk_fraction` as the base, plus `junk_clustered` and
   `junk_noise`): a share `junk_clustered` of the junk rows are not uniform random vectors but
   drawn around one shared junk centre, `normalize(j + junk_noise g / sqrt(dim))` (failed
   detections and non-faces that the model maps near one "non-face" direction); they keep
   their identity's label, as the base model's junk does.
5. **Compressed similarity scale** (`common_sim` rho, `common_sim_spread`): dlib's descriptors
   put every pair of faces at cosine 0.8-0.9 and same-person pairs at 0.92-0.99. Every final
   row x (made orthogonal to one fixed unit vector m first) becomes
   `sqrt(rho_i) m + sqrt(1 - rho_i) x`, with rho_i drawn per row uniformly in
   [rho - spread, rho + spread]. Two rows meet at
   `sqrt(rho_i rho_j) + sqrt((1-rho_i)(1-rho_j)) cos(x_i, x_j)`: with spread 0 an increasing
   affine map of the cosine (ranks unchanged, thresholds moved: 0 -> rho, 0.72 -> rho +
   0.72 (1 - rho)); with a spread, rows with a large rho_i (low-quality faces pulled toward the
   "mean face") are a little closer to everything, as dlib's are.

Every draw comes from numpy's PCG64 seeded with `seed`; the same seed and knobs give the same
bytes.
"""
import argparse
import json
import os
import sys

import numpy as np

DEFAULTS = dict(
    n=20000,
    dim=256,
    seed=1,
    mean_identity_size=68.0,
    identity_size_sigma=0.8,
    noise=0.6,
    quality_sigma=0.3,
    groups=32,
    group_sim=0.3,
    lookalike_fraction=0.1,
    lookalike_min_sim=0.5,
    lookalike_max_sim=0.75,
    junk_fraction=0.01,
    mislabel_fraction=0.02,
    # additions (off by default)
    head_identities=0,
    head_min_size=300,
    head_max_size=2000,
    identities_total=0,
    session_mean_size=0.0,
    session_noise=0.5,
    dup_fraction=0.0,
    dup_burst_mean=5.0,
    dup_noise_max=0.2,
    junk_clustered=0.0,
    junk_noise=1.4,
    common_sim=0.0,
    common_sim_spread=0.0,
)

# The families of issue 17. Each is DEFAULTS updated with these knobs.
FAMILIES = {
    # A few identities of hundreds to thousands of rows in sessions, then a long tail.
    "head": dict(head_identities=10, head_min_size=300, head_max_size=3000, mean_identity_size=30,
                 identity_size_sigma=1.0, session_mean_size=20, session_noise=0.5, noise=0.45),
    # The base model with sessions and 30% of rows in near-duplicate bursts (mean 8).
    "dups": dict(session_mean_size=20, session_noise=0.5, noise=0.45, dup_fraction=0.3,
                 dup_burst_mean=8, dup_noise_max=0.2),
    # 10% junk, half of it near one shared "non-face" direction (junk-junk cosine about 0.34).
    "junk": dict(junk_fraction=0.10, junk_clustered=0.5),
    # The base model on dlib's compressed scale (128-d, 10,000 rows).
    "dlib": dict(n=10000, dim=128, common_sim=0.85, common_sim_spread=0.03),
    # A personal album on dlib's scale: 24 people of 22..936 photos in sessions, 25% near-duplicates.
    "album": dict(dim=128, identities_total=24, head_min_size=22, head_max_size=936,
                  session_mean_size=25, session_noise=0.5, noise=0.45, dup_fraction=0.25,
                  dup_burst_mean=6, dup_noise_max=0.25, junk_fraction=0.01, mislabel_fraction=0.005,
                  common_sim=0.85, common_sim_spread=0.03),
    # The head family with long, spread-out sessions (60 images, session noise 0.6: two images of
    # one person from different sessions meet at about 0.61): identities that are chains of
    # distinct sub-clusters, which the map equation splits. A stress variant (run with --seed 3).
    "sessions": dict(head_identities=10, head_min_size=300, head_max_size=3000, mean_identity_size=30,
                     identity_size_sigma=1.0, session_mean_size=60, session_noise=0.6, noise=0.45),
    # Everything at once on the ArcFace-style scale.
    "mixed": dict(head_identities=8, head_min_size=300, head_max_size=2500, mean_identity_size=25,
                  identity_size_sigma=1.1, session_mean_size=20, session_noise=0.5, noise=0.45,
                  dup_fraction=0.2, dup_burst_mean=6, dup_noise_max=0.2, junk_fraction=0.05,
                  junk_clustered=0.5),
}


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def identity_sizes(p, rng):
    sizes = []
    lo, hi = np.log(p["head_min_size"]), np.log(p["head_max_size"])
    if p["identities_total"]:
        return [int(round(np.exp(rng.uniform(lo, hi)))) for _ in range(p["identities_total"])]
    left = p["n"]
    for _ in range(p["head_identities"]):
        s = min(int(round(np.exp(rng.uniform(lo, hi)))), left)
        if s:
            sizes.append(s)
            left -= s
    sigma = p["identity_size_sigma"]
    mu = np.log(p["mean_identity_size"]) - sigma * sigma / 2
    while left > 0:
        s = int(np.clip(round(np.exp(mu + sigma * rng.standard_normal())), 1, left))
        sizes.append(s)
        left -= s
    return sizes


def centres(p, ids, rng):
    dim = p["dim"]
    groups = unit(rng.standard_normal((p["groups"], dim)))
    own = unit(rng.standard_normal((ids, dim)))
    g = rng.integers(0, p["groups"], ids)
    c = unit(np.sqrt(p["group_sim"]) * groups[g] + np.sqrt(1 - p["group_sim"]) * own)
    looks = 0
    for i in range(1, ids):
        if rng.random() < p["lookalike_fraction"]:
            model = c[rng.integers(0, i)]
            sim = rng.uniform(p["lookalike_min_sim"], p["lookalike_max_sim"])
            e = c[i] - (c[i] @ model) * model
            e /= np.linalg.norm(e)
            c[i] = unit(sim * model + np.sqrt(max(0.0, 1 - sim * sim)) * e)
            looks += 1
    return c, looks


def image(p, centre, rng, count=1):
    dim = p["dim"]
    s = p["noise"] * np.exp(p["quality_sigma"] * rng.standard_normal(count))
    return unit(centre + s[:, None] * rng.standard_normal((count, dim)) / np.sqrt(dim))


def session_centres(p, c, size, rng):
    """The session centre of each of `size` images of an identity with centre c."""
    dim = p["dim"]
    if p["session_mean_size"] <= 0:
        return np.repeat(c[None], size, 0)
    out = []
    while len(out) < size:
        m = rng.geometric(1.0 / p["session_mean_size"])
        sc = unit(c + p["session_noise"] * rng.standard_normal(dim) / np.sqrt(dim))
        out.extend([sc] * m)
    return np.array(out[:size])


def generate(p):
    rng = np.random.Generator(np.random.PCG64(p["seed"]))
    dim = p["dim"]
    sizes = identity_sizes(p, rng)
    n = sum(sizes)
    ids = len(sizes)
    c, looks = centres(p, ids, rng)
    junk_centre = unit(rng.standard_normal(dim))
    feats = np.empty((n, dim), np.float32)
    labels = np.repeat(np.arange(ids), sizes)
    sources = labels.copy()
    kinds = np.zeros(n, np.int8)
    row = 0
    for i, size in enumerate(sizes):
        dups = int(np.floor(p["dup_fraction"] * size)) if size > 1 else 0
        originals = size - dups
        sc = session_centres(p, c[i], originals, rng)
        block = np.empty((size, dim))
        for r in range(originals):
            u = rng.random()
            if u < p["junk_fraction"]:
                if rng.random() < p["junk_clustered"]:
                    block[r] = unit(junk_centre + p["junk_noise"] * rng.standard_normal(dim) / np.sqrt(dim))
                else:
                    block[r] = unit(rng.standard_normal(dim))
                kinds[row + r] = 2
                sources[row + r] = n + row + r
            elif u < p["junk_fraction"] + p["mislabel_fraction"] and ids > 1:
                other = rng.integers(0, ids - 1)
                other += other >= i
                block[r] = image(p, session_centres(p, c[other], 1, rng)[0], rng)[0]
                kinds[row + r] = 3
                sources[row + r] = other
            else:
                block[r] = image(p, sc[r], rng)[0]
        r = originals
        while r < size:
            b = min(int(rng.geometric(1.0 / p["dup_burst_mean"])), size - r)
            src = rng.integers(0, originals)
            d = rng.uniform(0, p["dup_noise_max"], b)
            block[r:r + b] = unit(block[src] + d[:, None] * rng.standard_normal((b, dim)) / np.sqrt(dim))
            kinds[row + r:row + r + b] = 1
            sources[row + r:row + r + b] = sources[row + src]
            r += b
        feats[row:row + size] = block
        row += size
    if p["common_sim"] > 0:
        m = unit(rng.standard_normal(dim))
        x = feats.astype(np.float64)
        x = unit(x - (x @ m)[:, None] * m)
        rho = np.clip(rng.uniform(p["common_sim"] - p["common_sim_spread"], p["common_sim"] + p["common_sim_spread"], n), 0, 1)
        feats = (np.sqrt(rho)[:, None] * m + np.sqrt(1 - rho)[:, None] * x).astype(np.float32)
    stats = dict(n=n, dim=dim, identities=ids, sizes_min=int(min(sizes)), sizes_median=int(np.median(sizes)),
                 sizes_max=int(max(sizes)), sizes_top=sorted(sizes, reverse=True)[:10], lookalikes=looks,
                 duplicates=int((kinds == 1).sum()), junk=int((kinds == 2).sum()),
                 mislabelled=int((kinds == 3).sum()), singletons=int(sum(s == 1 for s in sizes)))
    return feats, labels, sources, kinds, stats


def similarity_summary(feats, labels, kinds, rng, pairs=20000):
    n = len(labels)
    out = {}
    order = np.argsort(labels, kind="stable")
    a = rng.integers(0, n, pairs * 4)
    b = rng.integers(0, n, pairs * 4)
    keep = a != b
    a, b = a[keep], b[keep]
    diff = labels[a] != labels[b]
    s = np.einsum("ij,ij->i", feats[a], feats[b])
    q = lambda v: [round(float(x), 3) for x in np.quantile(v, [0.05, 0.5, 0.95])] if len(v) else []
    out["different p5/p50/p95"] = q(s[diff][:pairs])
    # same-label pairs: sample within identities
    starts = np.r_[0, np.cumsum(np.bincount(labels))[:-1]]
    counts = np.bincount(labels)
    big = np.flatnonzero(counts > 1)
    w = counts[big] * (counts[big] - 1)
    ident = rng.choice(big, pairs, p=w / w.sum())
    i = starts[ident] + rng.integers(0, counts[ident])
    j = starts[ident] + rng.integers(0, counts[ident])
    ok = i != j
    i, j = i[ok], j[ok]
    ss = np.einsum("ij,ij->i", feats[i], feats[j])
    out["same p5/p50/p95"] = q(ss)
    orig = (kinds[i] == 0) & (kinds[j] == 0)
    out["same, originals only p5/p50/p95"] = q(ss[orig])
    dup = (kinds == 1)
    if dup.any():
        # each duplicate against its nearest row of the same identity
        di = np.flatnonzero(dup)[:2000]
        best = [float(np.max(np.delete(feats[starts[labels[r]]:starts[labels[r]] + counts[labels[r]]] @ feats[r], r - starts[labels[r]])))
                for r in di]
        out["duplicate to its nearest p5/p50/p95"] = q(np.array(best))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?")
    ap.add_argument("family", nargs="?")
    ap.add_argument("--n", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for name, knobs in FAMILIES.items():
            print(f"{name}: {json.dumps(knobs)}")
        return
    if a.family not in FAMILIES:
        sys.exit(f"unknown family {a.family!r}; one of {', '.join(FAMILIES)}")
    p = dict(DEFAULTS, **FAMILIES[a.family])
    if a.n:
        p["n"] = a.n
    if a.seed is not None:
        p["seed"] = a.seed
    feats, labels, sources, kinds, stats = generate(p)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "feats.npy"), feats)
    for name, v in (("labels", labels), ("sources", sources), ("kinds", kinds)):
        with open(os.path.join(a.out, f"{name}.meta"), "w") as f:
            f.write("\n".join(map(str, v.tolist())) + "\n")
    sims = similarity_summary(feats, labels, kinds, np.random.Generator(np.random.PCG64(p["seed"] + 1)))
    with open(os.path.join(a.out, "params.json"), "w") as f:
        json.dump(dict(family=a.family, params=p, stats=stats, similarities=sims), f, indent=1)
    print(json.dumps(dict(family=a.family, stats=stats, similarities=sims)))


if __name__ == "__main__":
    main()
