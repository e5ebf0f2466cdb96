"""numpy port of src/threshold.rs (the valley of single-linkage merge heights), with hooks for
the variants tried in issue 17: merge heights of any link list (mutual-reachability
similarities, near-duplicates collapsed, ...), and every valley of the density, not only the
most prominent one.
"""
import numpy as np

GRID_POINTS = 4096
MIN_MERGES = 16
SPREAD = (0.02, 0.98)
BANDWIDTH_DIVISOR = 40.0
MAX_VALLEY_RATIO = 0.8


def find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


def merge_heights(n, src, dst, sim, parent=None):
    """Kruskal over links sorted by similarity descending (ties by position); the heights of
    the links that join two components. `parent` (optional) starts from given components."""
    order = np.lexsort((np.arange(len(sim)), -sim.astype(np.float64)))
    parent = list(range(n)) if parent is None else list(parent)
    heights = []
    s_, d_, w_ = src[order].tolist(), dst[order].tolist(), sim[order].tolist()
    comps = len({find(parent, i) for i in range(n)}) if parent is not None else n
    for a, b, h in zip(s_, d_, w_):
        ra, rb = find(parent, a), find(parent, b)
        if ra != rb:
            parent[ra] = rb
            heights.append(h)
            if len(heights) + 1 == comps:
                break
    return np.array(heights, np.float32)


def mst_heights(n, src, dst, sim):
    """The same multiset of heights as merge_heights (the maximum spanning forest's link
    similarities, descending), by scipy's minimum spanning tree on 2 - sim (> 0, so that
    sim = 1 links are not taken for missing ones)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    g = coo_matrix((2.0 - sim.astype(np.float64), (src, dst)), shape=(n, n)).tocsr()
    sym = _sym_min(g)
    mst = minimum_spanning_tree(sym)
    return np.sort((2.0 - mst.data).astype(np.float32))[::-1]


def _sym_min(g):
    """Symmetric matrix with the smaller stored value of (i,j) and (j,i) where both exist."""
    from scipy.sparse import coo_matrix
    c = g.tocoo()
    r = np.concatenate([c.row, c.col])
    cc = np.concatenate([c.col, c.row])
    v = np.concatenate([c.data, c.data])
    key = r.astype(np.int64) * g.shape[0] + cc
    order = np.lexsort((v, key))
    key, v, r, cc = key[order], v[order], r[order], cc[order]
    first = np.r_[True, key[1:] != key[:-1]]
    return coo_matrix((v[first], (r[first], cc[first])), shape=g.shape).tocsr()


def table_heights(t, k):
    ids = t.ids[:, :k]
    m = (ids != np.arange(t.n)[:, None]) & (ids >= 0)
    src = np.nonzero(m)[0]
    return mst_heights(t.n, src, ids[m], t.sims[:, :k][m])


SILVERMAN = False  # issue 17: floor the bandwidth at Silverman's rule (few merges: smoother)
SILVERMAN_BELOW = 2000  # ... for fewer values than this only (a small-sample guard)


def silverman(asc):
    """Silverman's rule of thumb, 0.9 min(sd, IQR / 1.34) n^(-1/5), for sorted values."""
    n = len(asc)
    sd = float(np.std(asc))
    iqr = float(asc[int(round((n - 1) * 0.75))] - asc[int(round((n - 1) * 0.25))])
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    return 0.9 * spread * n ** -0.2


def density(heights, use_silverman=None):
    """The binned Gaussian kernel density of threshold.rs: (grid, density, h, q_lo, q_hi).
    With use_silverman (default: the module's SILVERMAN) and fewer than SILVERMAN_BELOW
    values, the bandwidth is at least Silverman's rule (40 bandwidths across the spread is too
    narrow for a few dozen merges: the estimate breaks into spurious valleys)."""
    asc = np.sort(heights.astype(np.float64))
    q = lambda p: asc[int(round((len(asc) - 1) * p))]
    q_lo, q_hi = q(SPREAD[0]), q(SPREAD[1])
    first, last = asc[0], asc[-1]
    h = max((q_hi - q_lo) / BANDWIDTH_DIVISOR, (last - first) / GRID_POINTS, 1e-7)
    if (SILVERMAN if use_silverman is None else use_silverman) and len(asc) < SILVERMAN_BELOW:
        h = max(h, silverman(asc))
    lo, hi = first - 3 * h, last + 3 * h
    step = (hi - lo) / (GRID_POINTS - 1)
    pos = (asc - lo) / step
    at = np.minimum(np.floor(pos).astype(np.int64), GRID_POINTS - 2)
    frac = pos - at
    bins = np.zeros(GRID_POINTS)
    np.add.at(bins, at, 1 - frac)
    np.add.at(bins, at + 1, frac)
    reach = max(int(np.ceil(4 * h / step)), 1)
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) * step / h) ** 2)
    dens = np.convolve(bins, kernel, mode="same") if len(kernel) <= GRID_POINTS else None
    grid = lo + np.arange(GRID_POINTS) * step
    return grid, dens, h, q_lo, q_hi


def pick(heights, n, search=None):
    """threshold.rs's pick(): (min_sim, components, valley_ratio, h). `search` = (lo, hi)
    replaces the searched range (default: the 2%..98% quantiles of the heights)."""
    heights = np.sort(np.asarray(heights, np.float32))[::-1]
    merges = len(heights)
    comps = lambda t: n - int(np.sum(heights >= t))
    if merges < 2:
        ms = float(heights[0]) if merges else 1.0
        return ms, comps(ms), 1.0, 0.0
    if merges < MIN_MERGES:
        gaps = heights[:-1].astype(np.float64) - heights[1:]
        i = int(np.argmax(gaps))
        ms = float((heights[i] + heights[i + 1]) / 2)
        return ms, comps(ms), 0.0 if gaps[i] > 0 else 1.0, 0.0
    grid, dens, h, q_lo, q_hi = density(heights)
    if search is not None:
        q_lo, q_hi = search
    step = grid[1] - grid[0]
    lo = grid[0]
    fr, to = int(np.ceil((q_lo - lo) / step)), int(np.floor((q_hi - lo) / step))
    fr, to = max(fr, 0), min(to, GRID_POINTS - 1)
    seg = dens[fr:to + 1]
    below = np.maximum.accumulate(seg)
    above = np.maximum.accumulate(seg[::-1])[::-1]
    sides = np.minimum(below, above)
    depth = sides - seg
    g = int(np.argmax(depth))  # first maximum = lowest point wins a tie
    ratio = seg[g] / sides[g] if sides[g] > 0 else 1.0
    if ratio > MAX_VALLEY_RATIO:
        return float(grid[0]), comps(float(grid[0])), 1.0, h
    ms = float(grid[fr + g])
    return ms, comps(ms), float(ratio), h


def valleys(heights, min_depth_ratio=MAX_VALLEY_RATIO):
    """Every local minimum of the density inside the 2-98% range that is a valley (density at
    most min_depth_ratio of the lower of the highest points on either side): a list of
    (threshold, ratio, depth) from the highest threshold down."""
    grid, dens, h, q_lo, q_hi = density(np.asarray(heights))
    step = grid[1] - grid[0]
    fr, to = int(np.ceil((q_lo - grid[0]) / step)), int(np.floor((q_hi - grid[0]) / step))
    seg = dens[fr:to + 1]
    below = np.maximum.accumulate(seg)
    above = np.maximum.accumulate(seg[::-1])[::-1]
    sides = np.minimum(below, above)
    out = []
    for g in range(1, len(seg) - 1):
        if seg[g] <= seg[g - 1] and seg[g] < seg[g + 1] and sides[g] > 0 and seg[g] / sides[g] <= min_depth_ratio:
            out.append((float(grid[fr + g]), float(seg[g] / sides[g]), float(sides[g] - seg[g])))
    return out[::-1]
