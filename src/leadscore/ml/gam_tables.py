"""Exact lookup tables of a boosted GA²M (the booster → per-feature and per-pair tables).

Every leaf of every tree is assigned to the term its path tests (one feature or one pair,
``_TreeBlocks``); a term's function is the booster with every other leaf zeroed, which is exact by
construction.

**Tables.** Every split threshold is read from the booster; each single term
is evaluated on a 1-D grid (one point per interval between thresholds, plus
missing), each pair term on the 2-D grid of both features' intervals ×
missing. Scoring is ``searchsorted`` + table lookups: one per feature, two
index searches and two reads per pair. The tables reproduce
``booster.predict(raw_score=True)`` exactly (checked at fit time to 1e-6 on
training rows; the tests probe every threshold, missing values, unseen or
negative category codes and LightGBM's ±1e-35 zero band).

**Per-feature reasons from pairs.** A pair term ``g(x_a, x_b)`` is split
between its two features by their exact two-player Shapley values with the
training rows as background: ``v(∅) = E g(A, B)``, ``v(a) = E_B g(x_a, B)``,
``v(b) = E_A g(A, x_b)``, ``φ_a = ½[(v(a) − v(∅)) + (g − v(b))]``,
``φ_b = g − v(∅) − φ_a``; both are stored as 2-D tables, so this costs nothing
at scoring time. Contributions are centred on the training mean, so
``expected_value_`` is the average lead's log-odds and
``expected_value_ + sum(contributions) == raw`` exactly, per feature.
"""

from __future__ import annotations

import re
from bisect import bisect_left

import numpy as np

_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a C float)


class FeatureTable:
    """Step function of one feature: thresholds → values, plus the value for missing."""

    __slots__ = ("kind", "thresholds", "values", "nan_value", "_t", "_v")

    def __init__(self, kind: str, thresholds: np.ndarray, values: np.ndarray, nan_value: float):
        self.kind = kind  # "numeric" or "categorical"
        self.thresholds = thresholds
        self.values = values
        self.nan_value = float(nan_value)
        self.freeze()

    def freeze(self) -> None:
        """Plain-list copies for the scalar path (bisect on a list beats numpy on one value)."""
        self._t = [float(v) for v in self.thresholds]
        self._v = [float(v) for v in self.values]

    def lookup(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        nan = np.isnan(x)
        if self.kind == "numeric":
            # LightGBM sends x <= threshold left, so x in (t[i-1], t[i]] takes values[i]
            idx = np.searchsorted(self.thresholds, np.where(nan, 0.0, x), side="left")
        else:
            # LightGBM truncates a category value to an int; a negative one counts as missing
            last = len(self.values) - 1  # last slot = categories never seen in training
            nan = nan | (x <= -1)
            idx = np.clip(np.where(nan, 0, x), 0, last).astype(np.int64)
        return np.where(nan, self.nan_value, self.values[idx])

    def lookup_scalar(self, x: float) -> float:
        if x != x or (self.kind == "categorical" and x <= -1):
            return self.nan_value
        if self.kind == "numeric":
            return self._v[bisect_left(self._t, x)]  # same rule as searchsorted(side="left")
        return self._v[min(int(x), len(self._v) - 1)]


class _Axis:
    """Slot index of one feature on a pair table: intervals between thresholds (numeric) or codes
    (categorical, last code = unseen), and one extra slot, ``size``, for missing."""

    __slots__ = ("kind", "thresholds", "size", "_t")

    def __init__(self, kind: str, thresholds: np.ndarray, size: int):
        self.kind = kind
        self.thresholds = thresholds
        self.size = int(size)
        self.freeze()

    def freeze(self) -> None:
        self._t = [float(v) for v in self.thresholds]

    def index(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        nan = np.isnan(x)
        if self.kind == "numeric":
            idx = np.searchsorted(self.thresholds, np.where(nan, 0.0, x), side="left")
        else:
            nan = nan | (x <= -1)  # as FeatureTable: truncated to an int, negative = missing
            idx = np.clip(np.where(nan, 0, x), 0, self.size - 1).astype(np.int64)
        return np.where(nan, self.size, idx)

    def index_scalar(self, x: float) -> int:
        if x != x or (self.kind == "categorical" and x <= -1):
            return self.size
        if self.kind == "numeric":
            return bisect_left(self._t, x)
        return min(int(x), self.size - 1)


class PairTable:
    """A pair term g(x_a, x_b) of a GA²M, stored as the two features' exact Shapley shares.

    ``phi_a[i, j] + phi_b[i, j] == g(i, j) − E[g]`` on the (a-slot, b-slot) grid; the last slot of
    each axis is missing. Shares are two-player interventional Shapley values relative to the
    training distribution, so each has mean zero over the training rows.
    """

    __slots__ = ("a", "b", "axis_a", "axis_b", "phi_a", "phi_b", "_pa", "_pb")

    def __init__(self, a: int, b: int, axis_a: _Axis, axis_b: _Axis, phi_a: np.ndarray, phi_b: np.ndarray):
        self.a, self.b = int(a), int(b)
        self.axis_a, self.axis_b = axis_a, axis_b
        self.phi_a, self.phi_b = phi_a, phi_b
        self.freeze()

    def freeze(self) -> None:
        self.axis_a.freeze()
        self.axis_b.freeze()
        self._pa = self.phi_a.tolist()
        self._pb = self.phi_b.tolist()

    def lookup(self, xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i, j = self.axis_a.index(xa), self.axis_b.index(xb)
        return self.phi_a[i, j], self.phi_b[i, j]

    def lookup_scalar(self, xa: float, xb: float) -> tuple[float, float]:
        i, j = self.axis_a.index_scalar(xa), self.axis_b.index_scalar(xb)
        return self._pa[i][j], self._pb[i][j]


class _TreeBlocks:
    """The booster's trees as text, with the features on the path to every leaf.

    With interaction groups, LightGBM constrains each *branch*: a tree rooted on feature a may use
    the pair (a, b) in one branch and (a, c) in another. But every leaf is reached by tests on one
    feature or one pair only, so a tree is a sum of leaf terms each depending on one feature or one
    pair. ``booster(keep)`` loads the trees with every leaf not in ``keep`` set to zero: evaluated
    anywhere, it gives exactly the sum of the kept leaves' terms.
    """

    def __init__(self, booster, num_iteration: int | None):
        text = booster.model_to_string(num_iteration=num_iteration)
        start = text.index("\nTree=") + 1
        end = text.index("end of trees")
        self.header = re.sub(r"(?m)^tree_sizes=.*\n", "", text[:start])
        self.tail = text[end:]
        self.blocks = re.split(r"(?m)^Tree=\d+\n", text[start:end])[1:]
        self.leaf_values: list[list[float]] = []
        self.leaf_features: list[list[frozenset]] = []  # per tree, per leaf: features on its path
        self.splits: list[list[tuple[int, float]]] = []  # per tree: (feature, threshold) of its numeric splits
        for block in self.blocks:
            fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            values = [float(v) for v in fields["leaf_value"].split()]
            paths = [frozenset()] * len(values)
            self.splits.append([])
            if "split_feature" in fields:
                feature = [int(v) for v in fields["split_feature"].split()]
                left = [int(v) for v in fields["left_child"].split()]
                right = [int(v) for v in fields["right_child"].split()]
                kinds = [int(v) for v in fields["decision_type"].split()]  # bit 0 set: categorical split
                self.splits[-1] = [(f, float(t)) for f, t, kind in zip(feature, fields["threshold"].split(), kinds)
                                   if not kind & 1]
                stack = [(0, frozenset())]
                while stack:
                    node, seen = stack.pop()
                    seen = seen | {feature[node]}
                    for child in (left[node], right[node]):
                        if child < 0:
                            paths[~child] = seen
                        else:
                            stack.append((child, seen))
            self.leaf_values.append(values)
            self.leaf_features.append(paths)

    def thresholds(self, n_features: int, trees=None) -> list[set]:
        """Numeric split thresholds of each feature in ``trees`` (default: all), as LightGBM applies them
        to raw values (``_as_read``)."""
        found: list[set] = [set() for _ in range(n_features)]
        for t in range(len(self.splits)) if trees is None else trees:
            for f, v in self.splits[t]:
                found[f].add(_as_read(v))
        return found

    def booster(self, keep: dict[int, set[int]]):
        """Booster of the trees in ``keep`` (tree → leaves kept), other leaves zeroed; None if empty."""
        import lightgbm as lgb

        if not keep:
            return None
        body = []
        for k, t in enumerate(sorted(keep)):
            values = " ".join(repr(v if i in keep[t] else 0.0) for i, v in enumerate(self.leaf_values[t]))
            block = re.sub(r"(?m)^leaf_value=.*$", lambda _: "leaf_value=" + values, self.blocks[t], count=1)
            body.append(f"Tree={k}\n{block}")
        return lgb.Booster(model_str=self.header + "".join(body) + self.tail)


def average_boosters(boosters, iterations):
    """One booster computing the mean raw score of ``boosters`` (each cut at its ``iterations``).

    The trees of every booster are concatenated with their leaf values divided by the number of
    boosters (LightGBM puts the initial score into the first tree's leaves, so it is averaged too).
    The result is one ordinary booster: ``build_tables`` decomposes it like any other, so the
    average of several GA²Ms is one GA²M with the same exact tables, one per feature and per pair.
    All boosters must share the feature layout (the same training columns); bins shared through
    one ``lgb.Dataset`` keep the union of their thresholds at most ``max_bin`` per feature.
    """
    import lightgbm as lgb

    k = len(boosters)
    header = tail = None
    body = []
    for booster, n in zip(boosters, iterations):
        text = booster.model_to_string(num_iteration=n)
        start, end = text.index("\nTree=") + 1, text.index("end of trees")
        if header is None:
            header = re.sub(r"(?m)^tree_sizes=.*\n", "", text[:start])
            tail = text[end:]
        for block in re.split(r"(?m)^Tree=\d+\n", text[start:end])[1:]:
            body.append(re.sub(r"(?m)^leaf_value=(.*)$",
                               lambda m: "leaf_value=" + " ".join(repr(float(v) / k) for v in m.group(1).split()),
                               block, count=1))
    return lgb.Booster(model_str=header + "".join(f"Tree={t}\n{b}" for t, b in enumerate(body)) + tail)


def _as_read(t: float) -> float:
    """The threshold that sends x left iff LightGBM does, for raw x (LightGBM reads |x| <= 1e-35 as 0).

    A split ``x' <= t`` with t in [-1e-35, 0) sends left exactly x < -1e-35, and with t in [0, 1e-35]
    exactly x <= 1e-35; other thresholds act on x as on x'. With these, searchsorted on the raw value
    matches LightGBM at every point of the zero band, at no cost per lookup.
    """
    if -_ZERO <= t < 0.0:
        return float(np.nextafter(-_ZERO, -np.inf))
    if 0.0 <= t <= _ZERO:
        return _ZERO
    return t


def _grid(j: int, X: np.ndarray, cats: set, thresholds: set) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, one point per slot) of feature j: a slot per interval between thresholds, or
    every seen code + one for unseen codes (no thresholds)."""
    if j in cats:
        top = int(np.nanmax(X[:, j])) if np.isfinite(X[:, j]).any() else 0
        return np.empty(0), np.arange(max(top, 0) + 2, dtype=np.float64)
    t = np.array(sorted(thresholds), dtype=np.float64)
    if not len(t):
        return t, np.zeros(1)
    # slot i holds x in (t[i-1], t[i]]; t[i] itself represents it, except that LightGBM's predictor
    # reads |x| <= 1e-35 as 0 (its "zero" thresholds are ±1e-35): then pick another point of the slot
    grid = np.append(t, np.nextafter(t[-1], np.inf))
    for i, v in enumerate(grid):
        if abs(v) <= _ZERO:
            lo = t[i - 1] if i > 0 else -np.inf
            hi = t[i] if i < len(t) else np.inf
            if lo < 0.0 <= hi:
                grid[i] = 0.0
            elif hi < 0.0:
                grid[i] = (lo + hi) / 2 if np.isfinite(lo) else hi - 1.0
            else:  # the slot above the last threshold
                grid[i] = 1.0
    return t, grid


def build_tables(booster, X: np.ndarray, categorical: list[int], num_iteration: int | None = None,
                 pairs: list[tuple[int, int]] | tuple = ()):
    """Exact lookup tables for a booster whose leaves each depend on one feature or one of ``pairs``.

    Every leaf of every tree is assigned to the term its path tests: a single feature or a pair.
    The single terms are evaluated on a 1-D grid per feature, each pair on the 2-D grid of its two
    features (thresholds of both × missing), with the other leaves zeroed (``_TreeBlocks``). Returns
    (tables, pair_tables, expected_value): ``tables[j]`` is feature j's own step function, each pair
    table holds the Shapley shares of its term; all are centred on the mean over ``X``.
    """
    n, d = X.shape
    cats = set(categorical)
    pair_index = {tuple(sorted(p)): k for k, p in enumerate(pairs)}
    blocks = _TreeBlocks(booster, num_iteration)
    single_keep: dict[int, set[int]] = {}
    pair_keep: list[dict[int, set[int]]] = [{} for _ in pairs]
    for t, paths in enumerate(blocks.leaf_features):
        for leaf, feats in enumerate(paths):
            if len(feats) == 1:
                single_keep.setdefault(t, set()).add(leaf)
            elif len(feats) == 2 and tuple(sorted(feats)) in pair_index:
                pair_keep[pair_index[tuple(sorted(feats))]].setdefault(t, set()).add(leaf)
            elif feats:
                raise RuntimeError(f"tree {t} has a leaf on features {sorted(feats)}, outside the interaction groups")
    thresholds = blocks.thresholds(d, single_keep)  # each term's grid: the thresholds of its own trees
    grids = {j: _grid(j, X, cats, thresholds[j]) for j in range(d)}
    ref = float(booster.predict(np.full((1, d), np.nan), raw_score=True, num_iteration=num_iteration)[0])
    sizes = [len(grids[j][1]) + 1 for j in range(d)]  # +1: the missing value
    rows = np.full((1 + sum(sizes), d), np.nan)
    pos = 1  # row 0: everything missing (the reference point)
    for j in range(d):
        rows[pos:pos + sizes[j] - 1, j] = grids[j][1]
        pos += sizes[j]
    singles = blocks.booster(single_keep)
    raw = singles.predict(rows, raw_score=True) if singles is not None else np.zeros(len(rows))
    tables: list[FeatureTable] = []
    pos = 1
    for j in range(d):
        t, g = grids[j]
        vals = raw[pos:pos + len(g)] - raw[0]
        nan_val = raw[pos + len(g)] - raw[0]
        pos += sizes[j]
        tables.append(FeatureTable("categorical" if j in cats else "numeric", t, vals, nan_val))
    # centre each table on the training mean so contributions read "versus the average lead"
    expected = ref
    for j, table in enumerate(tables):
        mean = float(table.lookup(X[:, j]).mean()) if n else 0.0
        table.values = table.values - mean
        table.nan_value -= mean
        table.freeze()
        expected += mean
    pair_tables = []
    for k, (a, b) in enumerate(tuple(sorted(p)) for p in pairs):
        # the pair's axes need only the thresholds of the trees holding its leaves (a superset of the
        # tests on their paths): smaller tables than all of a's and b's thresholds, so faster lookups
        own = blocks.thresholds(d, pair_keep[k])
        grid_a, grid_b = _grid(a, X, cats, own[a]), _grid(b, X, cats, own[b])
        axis_a = _Axis("categorical" if a in cats else "numeric", grid_a[0], len(grid_a[1]))
        axis_b = _Axis("categorical" if b in cats else "numeric", grid_b[0], len(grid_b[1]))
        g = np.zeros((axis_a.size + 1, axis_b.size + 1))
        term = blocks.booster(pair_keep[k])
        if term is not None:  # the pair's leaves, evaluated on every (a-slot, b-slot) cell, missing included
            ga, gb = np.append(grid_a[1], np.nan), np.append(grid_b[1], np.nan)
            cells = np.full((len(ga) * len(gb), d), np.nan)
            cells[:, a] = np.repeat(ga, len(gb))
            cells[:, b] = np.tile(gb, len(ga))
            g = term.predict(cells, raw_score=True).reshape(len(ga), len(gb))
            g = g - g[-1, -1]  # relative to both missing, as the reference row
        # two-player Shapley values with the training rows as background:
        # v(∅) = E g(A, B), v(a) = E_B g(x_a, B), v(b) = E_A g(A, x_b), v(ab) = g(x_a, x_b)
        ia, ib = axis_a.index(X[:, a]), axis_b.index(X[:, b])
        joint = np.zeros_like(g)
        np.add.at(joint, (ia, ib), 1.0)
        joint /= max(n, 1)
        pa, pb = joint.sum(axis=1), joint.sum(axis=0)
        v0 = float((joint * g).sum())
        va = g @ pb  # (slots of a,)
        vb = pa @ g  # (slots of b,)
        phi_a = 0.5 * ((va[:, None] - v0) + (g - vb[None, :]))
        phi_b = (g - v0) - phi_a
        pair_tables.append(PairTable(a, b, axis_a, axis_b, phi_a, phi_b))
        expected += v0
    return tables, pair_tables, expected
