"""UMAP for the N2D head, with an exact nearest-neighbour graph.

umap-learn builds its k-NN graph with pynndescent, whose numba kernels are
compiled afresh in every process (a long wait before the first UMAP) because
they cannot be cached. The N2D embedding is low-dimensional (10-D by default),
where scikit-learn's exact brute-force search (matrix products) is fast and
needs no compilation, so kdc computes the exact graph of up to
``EXACT_KNN_MAX_SAMPLES`` points and hands it to UMAP through its documented
``precomputed_knn`` argument, together with an index object that UMAP's
``transform`` queries for new points.

UMAP's layout (its stochastic gradient descent) is single-threaded when a
``random_state`` is set, which is how it stays repeatable, and costs time in
proportion to rows x epochs. On large data the clusters separate long before
UMAP's default 200 epochs, so above ``FULL_EPOCHS_MAX_SAMPLES`` rows the number
of epochs shrinks as ``LAYOUT_SAMPLE_EPOCHS / n_samples``, never below
``MIN_LAYOUT_EPOCHS`` (the measurements are on the benchmark page of the docs).
"""

import functools
import warnings

import numpy as np
from sklearn.neighbors import NearestNeighbors

from kdc._env import switched_off

# Above this many rows the exact graph costs more than pynndescent's one-off
# compilation (the brute-force graph's cost grows with the square of the
# rows), so UMAP's own approximate search is used.
EXACT_KNN_MAX_SAMPLES = 100_000

# UMAP's own number of layout epochs (200; 500 below 10,000 rows) up to this
# many rows; above it, about LAYOUT_SAMPLE_EPOCHS row-epochs in all.
FULL_EPOCHS_MAX_SAMPLES = 20_000
LAYOUT_SAMPLE_EPOCHS = 4_000_000
MIN_LAYOUT_EPOCHS = 60

# umap-learn's modules whose module-level numba functions kdc lets numba cache on disk.
UMAP_NUMBA_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.spectral",
                      "umap.distances", "umap.sparse")

# Metrics the exact search supports, with the same meaning in UMAP.
EXACT_METRICS = ("euclidean", "manhattan", "chebyshev", "minkowski", "cosine", "l1", "l2")


class ExactNeighborIndex:
    """Exact k-nearest-neighbour search with the query interface UMAP's transform uses.

    Args:
        data: array of shape (n_samples, n_features), the points to search.
        n_neighbors: int, the neighbours computed for the training graph.
        metric: a metric of ``EXACT_METRICS``.
        n_jobs: parallel jobs of the search.
    """

    _angular_trees = False  # read by umap's transform to choose its search epsilon

    def __init__(self, data, n_neighbors, metric="euclidean", n_jobs=None):
        self.n_neighbors = n_neighbors
        # Cosine distances are searched as euclidean distances between unit rows
        # (|u - v|^2 = 2 (1 - cos)): the same neighbours, through scikit-learn's
        # fast euclidean kernel instead of its much slower generic cosine search.
        self._cosine = metric == "cosine"
        self._nn = NearestNeighbors(n_neighbors=n_neighbors,
                                    metric="euclidean" if self._cosine else metric,
                                    algorithm="brute", n_jobs=n_jobs)
        self._nn.fit(self._prepare(data))

    def _prepare(self, x):
        x = np.asarray(x, dtype="float32")
        if self._cosine:  # zero rows stay zero, at cosine distance 1 as in scikit-learn
            norm = np.linalg.norm(x, axis=1, keepdims=True)
            x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
        return x

    def _kneighbors(self, x, k):
        q = None if x is None else self._prepare(x)
        dist, ind = self._nn.kneighbors(q, n_neighbors=k)
        if self._cosine:  # 1 - cos from the dot products (exact for zero rows too)
            rows = self._nn._fit_X
            q = rows if q is None else q
            dist = np.maximum(1.0 - np.einsum("nd,nkd->nk", q, rows[ind]), 0.0)
        return dist, ind

    def query(self, x, k, epsilon=None):
        """(indices int32, distances float32) of the k nearest training points of each row."""
        dist, ind = self._kneighbors(x, k)
        return ind.astype(np.int32), dist.astype(np.float32)

    def neighbor_graph(self):
        """(indices, distances) of the training points, each point its own first neighbour."""
        dist, ind = self._kneighbors(None, self.n_neighbors - 1)
        n = ind.shape[0]
        ind = np.hstack([np.arange(n)[:, None], ind]).astype(np.int32)
        dist = np.hstack([np.zeros((n, 1)), dist]).astype(np.float32)
        return ind, dist


@functools.lru_cache(maxsize=1)
def cache_umap_kernels():
    """Let numba keep umap-learn's compiled kernels on disk; returns how many it caches.

    An explicit opt-in, process-wide: kdc's command line and
    ``scripts/benchmark.py`` call it; the library itself never does, since
    it changes umap-learn's functions for the whole process.

    umap-learn compiles its numba functions in every new process and asks
    numba for no on-disk cache, so each ``kdc`` command or script paid for
    that compilation again before its first UMAP (the layout, the fuzzy
    graph, the spectral initialisation). Enabling numba's own cache on
    those functions keeps the machine code from the first run for the next
    ones, in ``__pycache__`` beside umap-learn or, where that is read-only,
    numba's user-wide cache directory (``NUMBA_CACHE_DIR`` chooses another
    place). Numba invalidates an entry when umap-learn's source changes. The
    code and results are the same; set the environment variable
    ``KDC_NUMBA_CACHE=0`` to leave umap-learn as it is.
    """
    if switched_off("KDC_NUMBA_CACHE"):
        return 0
    import importlib

    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    cached = 0
    for name in UMAP_NUMBA_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, CPUDispatcher) and isinstance(obj._cache, NullCache):
                try:
                    obj.enable_caching()
                except RuntimeError:  # numba found nowhere to write this function's cache
                    continue
                cached += 1
    return cached


def layout_epochs(n_samples):
    """The "auto" number of UMAP layout epochs for ``n_samples`` rows (None: UMAP's default)."""
    if n_samples <= FULL_EPOCHS_MAX_SAMPLES:
        return None
    return max(MIN_LAYOUT_EPOCHS, round(LAYOUT_SAMPLE_EPOCHS / n_samples))


def make_umap(z, *, n_components, n_neighbors, min_dist, metric, random_state, verbose,
              n_jobs=None, n_epochs="auto"):
    """An unfitted ``umap.UMAP`` for data ``z``, with an exact k-NN graph when the metric allows.

    Args:
        n_epochs: "auto" (see :func:`layout_epochs`), None (UMAP's default)
            or an int, the epochs of UMAP's layout.

    Returns:
        The UMAP object; call ``fit_transform(z)`` on the same ``z``.
    """
    try:
        import umap
    except ImportError as exc:  # pragma: no cover - umap-learn is a dependency
        raise ImportError("N2D's default manifold needs umap-learn: pip install umap-learn") from exc
    n_samples = z.shape[0]
    n_neighbors = max(2, min(n_neighbors, n_samples - 1))
    # A spectral initialisation needs n_components < n_samples - 1.
    init = "spectral" if n_components < n_samples - 1 else "random"
    if isinstance(n_epochs, str):
        n_epochs = layout_epochs(n_samples)
    kwargs = dict(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist,
                  metric=metric, init=init, random_state=random_state, verbose=verbose,
                  n_epochs=n_epochs)
    if metric in EXACT_METRICS and n_samples <= EXACT_KNN_MAX_SAMPLES:
        index = ExactNeighborIndex(z, n_neighbors, metric=metric, n_jobs=n_jobs)
        knn_indices, knn_dists = index.neighbor_graph()
        kwargs["precomputed_knn"] = (knn_indices, knn_dists, index)
    return umap.UMAP(**kwargs)


def fit_transform(manifold, z):
    """``manifold.fit_transform(z)`` without two umap-learn warnings that do not apply here.

    With the exact index, umap-learn warns that transform "will be
    unavailable" although its transform queries the index and works; with a
    ``random_state`` it warns that it runs single-threaded, which is how it
    keeps results repeatable.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"n_jobs value .* overridden", category=UserWarning)
        return np.asarray(manifold.fit_transform(z), dtype="float32")
