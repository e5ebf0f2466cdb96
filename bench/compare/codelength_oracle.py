#!/usr/bin/env python3
"""Re-derive the codelength oracle stored in tests/data/oracle/ from the reference Infomap.

For several small networks (directed and undirected flow, with dangling nodes, isolated
nodes and self-links) and several partitions of each, this writes the network (Pajek-style
link list), the partition (.clu) and the reference's codelength of that partition, computed
with `--two-level --no-infomap` and the partition as the initial one (the Python equivalent of
`--no-infomap --cluster-data FILE.clu`). The Rust test `tests/integration/oracle.rs` checks that
face-cluster computes the same codelengths to 1e-6 relative.

Needs: numpy and infomap (PyPI; the stored values come from infomap 2.16.0).
    python3 -m venv .venv && .venv/bin/pip install numpy infomap==2.16.0
    .venv/bin/python bench/compare/codelength_oracle.py
"""

import json
import os
import sys

import numpy as np
import infomap

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "data", "oracle")
ATT = os.path.join(HERE, "..", "..", "data", "att-orl")


def g1():
    links = [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (3, 4, 1.0), (4, 5, 1.0), (5, 3, 1.0),
             (2, 3, 0.2), (5, 0, 0.2)]
    parts = {"triangles": [0, 0, 0, 1, 1, 1], "merged": [0, 0, 1, 1, 1, 1],
             "singletons": list(range(6)), "one": [0] * 6}
    return 6, links, parts


def random_graph(seed, n, m, isolated, dangling, self_links):
    rng = np.random.default_rng(seed)
    links = {}
    active = n - isolated                      # the last `isolated` nodes get no links
    no_out = set(range(active - dangling, active))  # dangling: in-links only
    while len(links) < m:
        s = int(rng.integers(active))
        t = int(rng.integers(active))
        if s in no_out or (s == t and not self_links):
            continue
        links[(s, t)] = round(float(rng.uniform(0.1, 2.0)), 6)
    links = [(s, t, w) for (s, t), w in sorted(links.items())]
    parts = {"random5": [int(x) for x in rng.integers(5, size=n)],
             "blocks": [i * 4 // n for i in range(n)],
             "singletons": list(range(n)), "one": [0] * n}
    return n, links, parts


def knn_graph():
    """k-NN graph of the shipped att-orl faces (k=20, sim >= 0.9), true identities as partition."""
    feats = np.load(os.path.join(ATT, "feats.npy")).astype(np.float64)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    labels = [int(x) for x in open(os.path.join(ATT, "labels.meta")).read().split()]
    sims = feats @ feats.T
    n = len(feats)
    links = []
    for i in range(n):
        order = np.argsort(-sims[i], kind="stable")[:20]
        for j in order:
            s = float(np.float32(sims[i, j]))
            if j != i and s >= 0.9:
                links.append((i, int(j), float(f"{s:.7g}")))
    parts = {"truth": labels, "singletons": list(range(n))}
    return n, links, parts


def reference_codelength(n, links, partition, model):
    flags = "--two-level --silent --no-infomap" + (" --directed" if model == "directed" else "")
    im = infomap.Infomap(flags)
    for i in range(n):
        im.add_node(i)
    im.add_links(links)
    # Module ids must be positive for the reference's initial partition.
    res = im.run(initial_partition={i: int(m) + 1 for i, m in enumerate(partition)})
    return {"codelength": res.codelength, "index": res.index_codelength,
            "module": res.module_codelength, "one_level": res.one_level_codelength}


def main():
    os.makedirs(OUT, exist_ok=True)
    graphs = {
        "g1": g1(),
        "random_dangling_isolated": random_graph(1, 60, 240, isolated=5, dangling=6, self_links=False),
        "random_self_links": random_graph(2, 40, 160, isolated=2, dangling=3, self_links=True),
        "sparse": random_graph(3, 80, 100, isolated=4, dangling=10, self_links=False),
        "att_orl_knn": knn_graph(),
    }
    cases = []
    for name, (n, links, parts) in graphs.items():
        with open(os.path.join(OUT, f"{name}.net"), "w") as f:
            f.write(f"# {name}: {n} nodes, {len(links)} links (written by codelength_oracle.py)\n")
            f.write(f"*Vertices {n}\n")
            for i in range(n):
                f.write(f'{i} "{i}"\n')
            f.write("*Arcs\n")
            for s, t, w in links:
                f.write(f"{s} {t} {w!r}\n")
        for part_name, part in parts.items():
            clu = f"{name}_{part_name}.clu"
            with open(os.path.join(OUT, clu), "w") as f:
                f.write("# node_id module\n")
                for i, m in enumerate(part):
                    f.write(f"{i} {m}\n")
            for model in ("directed", "undirected"):
                ref = reference_codelength(n, links, part, model)
                cases.append({"network": f"{name}.net", "partition": clu, "model": model, **ref})
                print(f"{name:28s} {part_name:11s} {model:10s} L={ref['codelength']:.12f}")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"reference": f"infomap {infomap.__version__}", "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
