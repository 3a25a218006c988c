"""Clustering metrics: ACC (Hungarian matching), NMI, AMI, ARI, purity, contingency.

Labels may be ints, strings or other sortable hashable values, as in scikit-learn;
inputs must be non-empty 1-D label arrays of the same length without NaN or None.
"""

import math
import numbers
from collections import namedtuple
from collections.abc import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as _skm

__all__ = ["Contingency", "contingency_table", "cluster_accuracy", "match_labels", "nmi", "ami",
           "ari", "purity", "cluster_purity", "evaluate", "compare", "ComparisonTable"]


Contingency = namedtuple("Contingency", ["table", "classes", "clusters"])
Contingency.__doc__ = "Named tuple ``(table, classes, clusters)`` returned by `contingency_table`."


def _encode(y, name, what):
    """Validate one label vector; return (sorted unique labels, integer codes)."""
    expected = f"{name} must be a 1-D array of {what} labels"
    try:
        arr = np.asarray(y, dtype=object if isinstance(y, (str, bytes)) else None)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{expected}. Could not convert {name} to an array: {exc}") from None
    if arr.ndim != 1:
        hint = f" Use {name}.ravel() to flatten a column vector." if arr.shape[1:] == (1,) else ""
        got = f"{name}={y!r}"[:80] if arr.ndim == 0 else f"{name} of shape {arr.shape}"
        raise ValueError(f"{expected}. Received: {got}.{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must contain at least 1 label. Received: {name} of shape (0,)")
    if arr.dtype.kind in "US" and not isinstance(y, np.ndarray):  # numpy stringifies 1, None, nan
        obj = np.asarray(y, dtype=object)
        arr = arr if all(isinstance(v, (str, bytes)) for v in obj) else obj
    if arr.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, numbers.Number) and v != v) for v in arr])
    else:
        missing = ~np.isfinite(arr) if arr.dtype.kind in "fc" else np.zeros(arr.shape, bool)
    if missing.any():
        raise ValueError(
            f"{name} must not contain missing labels (NaN, infinity or None). Received: {name} "
            f"with {missing.sum()} missing label(s), the first at index {missing.argmax()}.")
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError:
        raise ValueError(f"{expected} of one sortable type (all ints or all strings). Received: "
                         f"{name} mixing types {sorted({type(v).__name__ for v in arr})}. "
                         f"Convert them, e.g. with {name}.astype(str).") from None
    return labels, codes.reshape(-1)


def _prepare(y_true, y_pred, pred_name="y_pred"):
    """Validate both label vectors; return their `Contingency` and integer codes."""
    classes, ci = _encode(y_true, "y_true", "true class")
    clusters, ki = _encode(y_pred, pred_name, "cluster")
    if len(ci) != len(ki):
        raise ValueError(f"y_true and {pred_name} must have the same length. "
                         f"Received: len(y_true)={len(ci)}, len({pred_name})={len(ki)}")
    shape = (len(classes), len(clusters))
    table = np.bincount(ci.astype(np.int64) * shape[1] + ki, minlength=shape[0] * shape[1])
    return Contingency(table.astype(np.int64).reshape(shape), classes, clusters), (ci, ki)


def contingency_table(y_true, y_pred):
    """Count how the true classes are spread over the clusters.

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        A `Contingency` named tuple ``(table, classes, clusters)``: an int64 ndarray of
        shape (n_classes, n_clusters), rows and columns in sorted label order, and labels.

    Raises:
        ValueError: if an input is not a non-empty 1-D label array or the lengths differ.

    Example:
        >>> table, classes, clusters = contingency_table([0, 0, 1], ["a", "b", "b"])
        >>> table.tolist(), classes.tolist(), clusters.tolist()
        ([[1, 1], [0, 1]], [0, 1], ['a', 'b'])
    """
    return _prepare(y_true, y_pred)[0]


def cluster_accuracy(y_true, y_pred):
    """Unsupervised clustering accuracy (ACC) under the best one-to-one matching.

    Clusters are matched one-to-one to classes by the Hungarian algorithm; with unequal
    numbers of clusters and classes, samples of the unmatched ones count as wrong.

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        ACC as a float in (0, 1]; 1.0 iff `y_pred` is a one-to-one relabelling of `y_true`.

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> cluster_accuracy([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 0])
        0.8333333333333334
    """
    return _scores(y_true, y_pred, ("acc",))["acc"]


def match_labels(y_true, y_pred):
    """Relabel each cluster with the true class it is matched to by `cluster_accuracy`.

    ``np.mean(match_labels(y_true, y_pred) == y_true)`` equals ACC. Unmatched clusters get
    labels that are no class: ``max(classes) + 1 + i`` (i-th unmatched cluster in sorted
    order) for numeric classes, else ``"cluster_<id>"``, prefixed with "_" until unused.

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        ndarray of shape (n_samples,), of the classes' dtype when every cluster is
        matched, otherwise int64 (int/bool classes), float64 (float classes) or str/object.

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> match_labels([0, 0, 0, 1, 1, 1], [5, 5, 7, 7, 7, 9]).tolist()
        [0, 0, 1, 1, 1, 2]
    """
    (table, classes, clusters), (_, ki) = _prepare(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    lut = np.empty(len(clusters), dtype=object)
    lut[cols] = classes[rows].tolist()
    unmatched = np.setdiff1d(np.arange(len(clusters)), cols)
    if len(unmatched) == 0:
        return lut.astype(classes.dtype)[ki]
    kind, taken = classes.dtype.kind, set(classes.tolist())
    for i, j in enumerate(unmatched):
        label = classes.max().item() + 1 + i if kind in "biuf" else f"cluster_{clusters[j]}"
        while label in taken:  # only a string can collide with a class
            label = "_" + label
        lut[j] = label
    dtype = {"b": np.int64, "i": np.int64, "u": np.int64, "f": np.float64, "U": str}.get(kind)
    return (lut if dtype is None else lut.astype(dtype))[ki]


def nmi(y_true, y_pred, *, average_method="arithmetic"):
    """Normalized mutual information (scikit-learn's `normalized_mutual_info_score`).

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.
        average_method: "arithmetic" (default, as scikit-learn), "geometric", "min", "max".

    Returns:
        NMI as a float in [0, 1].

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> round(nmi([0, 0, 1, 1], [0, 0, 1, 2]), 6)
        0.8
    """
    _, (ci, ki) = _prepare(y_true, y_pred)
    return float(_skm.normalized_mutual_info_score(ci, ki, average_method=average_method))


def ami(y_true, y_pred, *, average_method="arithmetic"):
    """Adjusted mutual information, corrected for chance (`adjusted_mutual_info_score`).

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.
        average_method: as in `nmi`.

    Returns:
        AMI as a float <= 1.0; about 0 for random labels, may be negative.

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> ami([0, 0, 1, 1], [1, 1, 0, 0])
        1.0
    """
    _, (ci, ki) = _prepare(y_true, y_pred)
    return float(_skm.adjusted_mutual_info_score(ci, ki, average_method=average_method))


def ari(y_true, y_pred):
    """Adjusted Rand index, corrected for chance (scikit-learn's `adjusted_rand_score`).

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        ARI as a float in [-0.5, 1]; about 0 for random labels.

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> round(ari([0, 0, 1, 1], [0, 0, 1, 2]), 4)
        0.5714
    """
    return _scores(y_true, y_pred, ("ari",))["ari"]


def purity(y_true, y_pred):
    """Purity: the share of samples in their cluster's majority class (always >= ACC).

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        Purity as a float in (0, 1].

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> purity([0, 0, 0, 1], [0, 0, 1, 1])
        0.75
    """
    return _scores(y_true, y_pred, ("purity",))["purity"]


def cluster_purity(y_true, y_pred):
    """Purity of each cluster: the share of its samples in its majority class.

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        dict mapping each cluster label (Python scalar, sorted) to a float in (0, 1].

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> cluster_purity([0, 0, 0, 1], [0, 0, 1, 1])
        {0: 1.0, 1: 0.5}
    """
    table, _, clusters = _prepare(y_true, y_pred)[0]
    shares = table.max(axis=0) / table.sum(axis=0)
    return {c: float(s) for c, s in zip(clusters.tolist(), shares)}


_SCORERS = {
    "acc": lambda t, ci, ki: t[linear_sum_assignment(t, maximize=True)].sum() / t.sum(),
    "nmi": lambda t, ci, ki: _skm.normalized_mutual_info_score(ci, ki),
    "ami": lambda t, ci, ki: _skm.adjusted_mutual_info_score(ci, ki),
    "ari": lambda t, ci, ki: _skm.adjusted_rand_score(ci, ki),
    "purity": lambda t, ci, ki: t.max(axis=0).sum() / t.sum(),
}


def _scores(y_true, y_pred, names=tuple(_SCORERS), pred_name="y_pred"):
    (table, _, _), (ci, ki) = _prepare(y_true, y_pred, pred_name)
    return {m: float(_SCORERS[m](table, ci, ki)) for m in names}


def evaluate(y_true, y_pred):
    """Compute every clustering metric at once.

    Args:
        y_true: array-like of shape (n_samples,), ground-truth class labels.
        y_pred: array-like of shape (n_samples,), cluster labels.

    Returns:
        dict with exactly the keys "acc", "nmi", "ami", "ari", "purity"; Python floats.

    Raises:
        ValueError: if the inputs are invalid (see `contingency_table`).

    Example:
        >>> evaluate([0, 0, 1, 1], [1, 1, 0, 0])
        {'acc': 1.0, 'nmi': 1.0, 'ami': 1.0, 'ari': 1.0, 'purity': 1.0}
    """
    return _scores(y_true, y_pred)


_pct = lambda value: "n/a" if value is None else f"{value:+.1%}"  # noqa: E731


class ComparisonTable:
    """Metrics of several methods side by side, made by `compare`; ``str()`` aligns them.

    Attributes:
        rows: list of dicts, one per method in input order: "method", a float per metric
            and ``"<metric>_improvement"`` = ``(value - base) / abs(base)`` over the
            baseline (0.25 means +25%; None if the baseline is 0 and the value is not).
        metrics: tuple of the metric names, in column order.
        baseline: name of the baseline method.
    """

    def __init__(self, rows, metrics, baseline):
        self.rows, self.metrics, self.baseline = rows, tuple(metrics), baseline

    def to_dict(self):
        """Return ``{"baseline": ..., "metrics": [...], "rows": [...]}``, JSON-ready."""
        return {"baseline": self.baseline, "metrics": list(self.metrics),
                "rows": [dict(r) for r in self.rows]}

    def _cells(self, digits=3):
        header = ["method"] + [h for m in self.metrics
                               for h in (m.upper(), f"{m.upper()} vs {self.baseline}")]
        body = [[str(r["method"])] + [c for m in self.metrics for c in (f"{r[m]:.{digits}f}",
                "-" if r["method"] == self.baseline else _pct(r[f"{m}_improvement"]))]
                for r in self.rows]
        return [header] + body

    def to_markdown(self, digits=3):
        """Render a Markdown table with values rounded to `digits` decimals."""
        header, *body = self._cells(digits)
        rule = ["---"] + ["---:"] * (len(header) - 1)
        return "\n".join("| " + " | ".join(c) + " |" for c in [header, rule] + body)

    def __str__(self):
        cells = self._cells()
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        cells.insert(1, ["-" * w for w in widths])
        return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(row, widths))) for row in cells)

    def summary(self):
        """One line per other method, e.g. ``"DEC vs k-means: ACC +12.0%, ARI +30.5%"``."""
        return [f"{r['method']} vs {self.baseline}: "
                + ", ".join(f"{m.upper()} {_pct(r[m + '_improvement'])}" for m in self.metrics)
                for r in self.rows if r["method"] != self.baseline]

    __repr__ = __str__


def compare(results, y_true=None, baseline=None, metrics=("acc", "nmi", "ami", "ari")):
    """Tabulate several methods' metrics and their relative improvement over a baseline.

    Args:
        results: dict mapping method names (row order) to dicts of metrics (as from
            `evaluate`) or to cluster labels, array-like of shape (n_samples,).
        y_true: array-like of shape (n_samples,), true labels; required for label entries.
        baseline: name of the method the others are compared with; default the first.
        metrics: metric names (or one name): any keys the metric dicts share; for label
            entries a subset of "acc", "nmi", "ami", "ari", "purity".

    Returns:
        A `ComparisonTable` with ``.rows``, ``.to_markdown()``, ``.summary()``, ``.to_dict()``.

    Raises:
        ValueError: if `results` is not a non-empty dict, `baseline` is not one of its
            names, a metric is unknown or missing, or labels or `y_true` are invalid.

    Example:
        >>> table = compare({"k-means": {"acc": 0.5}, "AE+k-means": {"acc": 0.8}}, metrics="acc")
        >>> print(table.summary()[0])
        AE+k-means vs k-means: ACC +60.0%
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict {method_name: metrics dict or labels}. "
                         f"Received: results={results!r}"[:300])
    names = list(results)
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    baseline = names[0] if baseline is None else baseline
    if baseline not in results:
        raise ValueError(f"baseline must be one of the method names {names}. "
                         f"Received: baseline={baseline!r}")
    scores = {}
    for name, value in results.items():
        where = f"results[{name!r}]"
        if isinstance(value, Mapping):
            if any(isinstance(value.get(m), (bool, np.bool_)) or not isinstance(
                    value.get(m), numbers.Real) or math.isnan(value[m]) for m in metrics):
                raise ValueError(f"{where} must map each of {list(metrics)} to a number. Received: "
                                 f"{where}={dict(value)!r}"[:300])
            scores[name] = {m: float(value[m]) for m in metrics}
        elif y_true is None:
            raise ValueError(f"y_true is required when results holds cluster labels. Received: "
                             f"y_true=None with labels in {where}. "
                             f"Pass compare(results, y_true=y).")
        elif any(m not in _SCORERS for m in metrics):
            raise ValueError(f"metrics must be among {list(_SCORERS)} to score labels in {where}. "
                             f"Received: metrics={list(metrics)}")
        else:
            scores[name] = _scores(y_true, value, metrics, pred_name=where)
    base = scores[baseline]
    rows = [{"method": name, **scores[name], **{
        f"{m}_improvement": (v - base[m]) / abs(base[m]) if base[m] else (None if v else 0.0)
        for m, v in scores[name].items()}} for name in names]
    return ComparisonTable(rows, metrics, baseline)
