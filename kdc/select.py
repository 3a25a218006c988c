"""Choosing the number of clusters: elbow (two-segment fit), silhouette, BIC.

:func:`select_k` scans a range of k on data or on an embedding: k-means with
``n_init`` restarts per k (the restarts run in parallel with joblib) for the
elbow of the inertia curve and the silhouette score, and Gaussian mixtures for
the BIC. An estimator can call it on its embedding and read ``.k``::

    k = select_k(z, range(5, 16), method="silhouette", random_state=0).k
"""

import numbers
import re
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from kdc._progress import say
from kdc._validation import _describe, check_array, check_choice, check_int

__all__ = ["KSelection", "select_k", "parse_k_range"]

METHODS = ("elbow", "silhouette", "bic", "all")
CRITERIA = ("elbow", "silhouette", "bic")
_SEED_MAX = np.iinfo(np.int32).max
# Callers scan fewer rows in their own process (n_jobs=None): starting joblib's worker
# processes takes seconds, longer than the whole scan of a few thousand rows.
PARALLEL_MIN_ROWS = 5000


def scan_jobs(n_samples):
    """The ``n_jobs`` of :func:`select_k` for ``n_samples`` rows: all cores from
    ``PARALLEL_MIN_ROWS`` rows on, else this process (None)."""
    return -1 if n_samples >= PARALLEL_MIN_ROWS else None


@dataclass(frozen=True)
class KSelection:
    """The result of :func:`select_k`.

    Attributes:
        k_values: list of the k scanned, increasing.
        inertia: list of the best k-means inertia per k (lowest of the
            restarts), or None when not computed (``method="bic"``).
        silhouette: list of silhouette scores of those k-means labels per k,
            or None when not computed (``method`` "elbow" or "bic").
        bic: list of the lowest Gaussian-mixture BIC per k, or None when not
            computed (``method`` "elbow" or "silhouette").
        best_k: dict mapping each criterion computed ("elbow", "silhouette",
            "bic") to the k it chose.
        k: int, the chosen k: ``best_k[method]``, or for ``method="all"`` the
            median of the three choices (the majority when two agree, else the
            middle one).
        method: the method asked for.
        labels: dict mapping each k to the int64 labels of its best k-means
            run, of shape (n_samples,); empty for ``method="bic"``. Not part
            of ``to_dict()``, ``repr`` or equality.
    """

    k_values: list
    inertia: list
    silhouette: list
    bic: list
    best_k: dict
    k: int
    method: str
    labels: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self):
        """Everything but ``labels`` as JSON-ready Python types."""
        return {"method": self.method, "k": self.k, "best_k": dict(self.best_k),
                "k_values": list(self.k_values), "inertia": self.inertia,
                "silhouette": self.silhouette, "bic": self.bic}

    def __str__(self):
        columns = [("k", [str(k) for k in self.k_values], None)]
        for name, values, fmt in (("inertia", self.inertia, "{:.5g}"),
                                  ("silhouette", self.silhouette, "{:.4f}"),
                                  ("bic", self.bic, "{:.6g}")):
            if values is not None:
                crit = "elbow" if name == "inertia" else name
                columns.append((name, [fmt.format(v) for v in values], self.best_k.get(crit)))
        rows = [[c[0] for c in columns]]
        for i, k in enumerate(self.k_values):
            rows.append([c[1][i] + (" *" if c[2] == k else "  ") if c[2] is not None
                         else c[1][i] for c in columns])
        widths = [max(len(r[j]) for r in rows) for j in range(len(columns))]
        lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        choices = ", ".join(f"{m}={k}" for m, k in self.best_k.items())
        lines.append(f"* chosen by each criterion ({choices}); "
                     f"k = {self.k} (method={self.method!r})")
        edge = [m for m, k in self.best_k.items() if k in (self.k_values[0], self.k_values[-1])]
        if edge:
            lines.append(f"note: {', '.join(edge)} chose an end of k_range; the best k may lie "
                         "outside it")
        return "\n".join(lines)


def parse_k_range(k_range, n_samples=None):
    """Validate ``k_range`` and return its values as a sorted list of ints.

    Args:
        k_range: an iterable of ints (e.g. ``range(5, 16)``) or a string
            ``"start:stop"`` (both ends included) or ``"start:stop:step"``.
        n_samples: if given, every k must be < n_samples.

    Returns:
        list of at least 3 distinct ints >= 2, increasing.

    Raises:
        ValueError: for a malformed string, non-integers, fewer than 3 distinct
            values, a k < 2 or a k >= n_samples.
    """
    received = f"Received: k_range={_describe(k_range)}"
    if isinstance(k_range, str):
        match = re.fullmatch(r"\s*(-?\d+)\s*:\s*(-?\d+)\s*(?::\s*(\d+)\s*)?", k_range)
        if match is None or (match.group(3) is not None and int(match.group(3)) == 0):
            raise ValueError(
                "k_range must be an iterable of ints or a string 'start:stop' (both ends "
                f"included, e.g. '5:15') or 'start:stop:step'. {received}")
        start, stop = int(match.group(1)), int(match.group(2))
        step = int(match.group(3) or 1)
        values = list(range(start, stop + 1, step))
    else:
        try:
            values = list(k_range)
        except TypeError:
            raise ValueError(
                f"k_range must be an iterable of ints or a string 'start:stop' such as '5:15'. "
                f"{received}") from None
        if not all(isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_))
                   for k in values):
            raise ValueError(f"k_range must contain only ints. {received}")
        values = [int(k) for k in values]
    values = sorted(set(values))
    if len(values) < 3:
        raise ValueError(
            "k_range must hold at least 3 distinct values (the elbow needs two line segments "
            f"of at least 2 points each), e.g. range(2, 11) or '2:10'. {received}")
    if values[0] < 2:
        raise ValueError(f"k_range values must all be ints >= 2. {received}")
    if n_samples is not None and values[-1] >= n_samples:
        raise ValueError(
            f"k_range values must all be < n_samples={n_samples} (the number of rows of x). "
            f"{received}")
    return values


def _r2(k, y):
    """R^2 of the least-squares line through (k, y); 1.0 for a constant y."""
    slope, intercept = np.polyfit(k, y, 1)
    ss_res = float(np.sum((y - (slope * k + intercept)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 if ss_tot <= 1e-12 * max(1.0, float(np.sum(y ** 2))) else 1.0 - ss_res / ss_tot


def _two_segment_elbow(k_values, inertia):
    """The elbow of a curve by the best two-segment linear fit.

    For each inner point i, one line is fitted to points 0..i and another to
    points i..m-1 (both include i, each has at least 2 points); the split with
    the highest mean R^2 of the two fits wins (the smallest k on ties).

    Args:
        k_values: sequence of at least 3 increasing k.
        inertia: sequence of the same length, the curve (e.g. k-means inertia).

    Returns:
        int, the k at the split point shared by both segments.
    """
    k = np.asarray(k_values, dtype="float64")
    y = np.asarray(inertia, dtype="float64")
    if k.ndim != 1 or k.shape != y.shape or len(k) < 3:
        raise ValueError(
            "k_values and inertia must be 1-D sequences of the same length >= 3. Received: "
            f"k_values of shape {k.shape}, inertia of shape {y.shape}")
    scores = [(_r2(k[:i + 1], y[:i + 1]) + _r2(k[i:], y[i:])) / 2 for i in range(1, len(k) - 1)]
    return int(k_values[1 + int(np.argmax(scores))])


def _tasks():
    """The two joblib task functions, ``(kmeans_run, gmm_bic)``.

    Each fit runs single-threaded (BLAS and OpenMP): the parallelism is over the
    (k, restart) tasks, so the result does not depend on ``n_jobs``, and tiny
    fits do not wait for idle OpenMP threads (which slows them down most on a
    busy machine with few cores). The functions are nested so that joblib's
    loky workers receive them by value: a module-level function would make
    every worker import ``kdc``, hence TensorFlow, a slow start.
    """

    def kmeans_run(x, k, seed):
        with threadpool_limits(limits=1):
            km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x)
        return float(km.inertia_), km.labels_.astype("int64")

    def gmm_bic(x, k, seed):
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm = GaussianMixture(n_components=k, covariance_type="full", n_init=1,
                                  random_state=seed).fit(x)
            return float(gmm.bic(x))

    return kmeans_run, gmm_bic


def _check_n_jobs(n_jobs):
    if n_jobs is not None and (isinstance(n_jobs, (bool, np.bool_))
                               or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0):
        raise ValueError(
            "n_jobs must be None or a non-zero int (-1 uses every core). "
            f"Received: n_jobs={_describe(n_jobs)}")
    return n_jobs


def select_k(x, k_range, method="elbow", *, n_init=10, n_jobs=-1, random_state=None,
             sample_size=10000, verbose=0):
    """Choose the number of clusters of ``x`` by the elbow, silhouette or BIC criterion.

    A k-means scan (``n_init`` restarts of scikit-learn's ``KMeans`` per k, run in
    parallel over (k, restart) with joblib; the lowest inertia per k is kept) gives
    the inertia curve and labels; a Gaussian-mixture scan (full covariances,
    ``n_init`` restarts per k, also in parallel) gives the BIC. Only the scans the
    method needs are run.

    - ``"elbow"``: the knee of inertia vs k by a two-segment linear fit (the split
      maximising the mean R^2 of the two lines).
    - ``"silhouette"``: the highest silhouette score of the k-means labels
      (computed on at most ``sample_size`` rows).
    - ``"bic"``: the lowest Gaussian-mixture BIC.
    - ``"all"``: all three; ``k`` is their median (the majority when two agree,
      else the middle choice).

    Args:
        x: array-like of shape (n_samples, n_features): data or an embedding
            (images of shape (n_samples, height, width) are flattened).
        k_range: iterable of ints (e.g. ``range(5, 16)``) or a string
            ``"start:stop"`` with both ends included (``"5:15"``); at least 3
            distinct values, each >= 2 and < n_samples.
        method: "elbow", "silhouette", "bic" or "all".
        n_init: int >= 1, restarts per k of k-means and of the Gaussian mixture.
        n_jobs: joblib's number of parallel jobs over the (k, restart) fits
            (-1: all cores, None or 1: sequential). Each fit is single-threaded,
            so the result does not depend on ``n_jobs``.
        random_state: int, RandomState or None; an int gives the same result
            on every run.
        verbose: int; 0 is silent, 1 prints a ``[kdc]`` line per k of each scan
            (k-means, silhouette, Gaussian mixture) as it completes.
        sample_size: int > max(k_range): the silhouette score is computed on a
            random subset of this many rows when n_samples is larger.

    Returns:
        A :class:`KSelection` with ``k``, ``best_k``, the curves and ``to_dict()``.

    Raises:
        ValueError: for an invalid argument, or NaN/infinity in ``x``.

    Example:
        >>> result = select_k(x, "2:10", method="all", random_state=0)
        >>> result.k, result.best_k
        >>> print(result)
    """
    check_choice(method, "method", METHODS)
    x = check_array(x, "x", min_samples=4, dtype="float64")
    x = x.reshape(x.shape[0], -1)
    n = x.shape[0]
    k_values = parse_k_range(k_range, n)
    n_init = check_int(n_init, "n_init", minimum=1)
    n_jobs = _check_n_jobs(n_jobs)
    verbose = check_int(verbose, "verbose", minimum=0)
    sample_size = check_int(sample_size, "sample_size", minimum=k_values[-1] + 1)
    rng = check_random_state(random_state)
    km_seeds = rng.randint(_SEED_MAX, size=(len(k_values), n_init))
    gmm_seeds = rng.randint(_SEED_MAX, size=(len(k_values), n_init))
    sil_seed = int(rng.randint(_SEED_MAX))
    wanted = CRITERIA if method == "all" else (method,)

    inertia = silhouette = bic = None
    labels = {}
    best_k = {}
    # With verbose, the fits come back in order as they finish (joblib's generator), so a
    # line per k shows while the scan runs; otherwise all at once. One Parallel per scan.
    def parallel(tasks, per_k):
        """The results of ``tasks`` in order, ``per_k`` at a time (one k's restarts)."""
        results = iter(Parallel(n_jobs=n_jobs,
                                **({"return_as": "generator"} if verbose else {}))(tasks))
        for _ in k_values:
            yield [next(results) for _ in range(per_k)]
        next(results, None)  # lets joblib's generator finish

    start = time.perf_counter()

    def show(message):
        say(f"select_k: {message}, {time.perf_counter() - start:.1f} s", verbose)

    kmeans_run, gmm_bic = _tasks()
    if "elbow" in wanted or "silhouette" in wanted:
        runs = parallel((delayed(kmeans_run)(x, k, int(km_seeds[i, j]))
                         for i, k in enumerate(k_values) for j in range(n_init)), n_init)
        inertia = []
        for restarts, k in zip(runs, k_values):  # runs first: it ends the generator
            best = min(restarts, key=lambda r: r[0])
            inertia.append(best[0])
            labels[k] = best[1]
            show(f"k-means k={k}: inertia {best[0]:.5g} (best of {n_init})")
        if "elbow" in wanted:
            best_k["elbow"] = _two_segment_elbow(k_values, inertia)
    if "silhouette" in wanted:
        size = sample_size if n > sample_size else None
        silhouette = []
        for k in k_values:
            silhouette.append(float(silhouette_score(x, labels[k], sample_size=size,
                                                     random_state=sil_seed)))
            show(f"silhouette k={k}: {silhouette[-1]:.4f}")
        best_k["silhouette"] = k_values[int(np.argmax(silhouette))]
    if "bic" in wanted:
        bics = parallel((delayed(gmm_bic)(x, k, int(gmm_seeds[i, j]))
                         for i, k in enumerate(k_values) for j in range(n_init)), n_init)
        bic = []
        for restarts, k in zip(bics, k_values):
            bic.append(min(restarts))
            show(f"Gaussian mixture k={k}: BIC {bic[-1]:.6g} (best of {n_init})")
        best_k["bic"] = k_values[int(np.argmin(bic))]
    k = int(statistics.median_low(best_k.values())) if method == "all" else best_k[method]
    return KSelection(k_values=k_values, inertia=inertia, silhouette=silhouette, bic=bic,
                      best_k=best_k, k=k, method=method, labels=labels)
