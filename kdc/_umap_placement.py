"""Deterministic placement of new rows on a fitted UMAP layout, in numpy or TensorFlow ops.

N2D's ``predict``/``predict_proba`` and its exported SavedModel place new
rows with :class:`UMAPPlacement`, one algorithm written once over two array
namespaces (numpy for ``predict``, TensorFlow for the export), so that a
row's coordinates, and so its cluster, never depend on the other rows of the
call and the served clusters are ``predict``'s.

UMAP places a new row in three steps (umap-learn 0.5, ``UMAP.transform``):

1. its ``n_neighbors`` nearest training rows, and their fuzzy membership
   weights ``exp(-(d - rho) / sigma)``, with ``sigma`` found by bisection so
   that the weights sum to ``log2(n_neighbors)`` (``smooth_knn_dist``);
2. a start at the weighted mean of those rows' UMAP coordinates;
3. ``n_epochs / 3`` epochs of UMAP's stochastic gradient descent with the
   training coordinates held fixed: each edge pulls the row towards its
   neighbour on a fixed schedule (an edge of weight ``w`` fires about
   ``epochs * w / w_max`` times, in order of distance), and each pull is
   followed by pushes away from randomly drawn training rows.

Steps 1-2 and the pulls of step 3 are deterministic and are reproduced here
exactly, with an exact k-NN search over the training embedding (euclidean or
cosine distances, UMAP's ``metric``). The random pushes are left out: with
the pulls alone, the clusters of new rows agree with ``UMAP.transform`` + GMM
about as often as umap-learn's own transform agrees with itself under
another ``transform_seed`` (the measured agreement is on the benchmark page
of the docs), while their expected value over all training rows would cost a
pass over every training row per pull.

Where UMAP's own result depends on the batch it is given (the largest weight
in the batch sets the schedule; the epochs are 100 for batches of up to
10,000 rows and 30 above when UMAP ran with its default epochs), the
placement fixes them from the training data, so a row gets the same
coordinates in any call.
"""

import numpy as np

# Rows searched at once (a block of rows x training rows distances).
BLOCK_ROWS = 256
# Rows placed at once by the numpy placement (its epochs loop over all of them together).
_NUMPY_PLACE_ROWS = 8192
# smooth_knn_dist's bisection: steps, tolerance and the floor on sigma.
_BISECTION_STEPS = 64
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_CLIP = 4.0
# Training rows whose membership weights set the fixed largest weight.
_WMAX_ROWS = 10_000
# Input metrics of the placement: euclidean distances, or cosine distances
# 1 - cos(angle) (rows of zero norm are taken as the zero direction).
METRICS = ("euclidean", "l2", "cosine")
# The numbers that define a placement besides its two arrays (see UMAPPlacement.get_state).
_SCALARS = ("metric", "n_neighbors", "epochs", "local_connectivity", "w_max", "a", "b", "alpha")


def unsupported(manifold):
    """None when ``manifold`` is a fitted UMAP this module can place rows on, else the reason."""
    try:
        import umap
    except ImportError:  # pragma: no cover - umap-learn is a dependency
        return "umap-learn is not installed"
    if not isinstance(manifold, umap.UMAP):
        return f"the manifold is a {type(manifold).__name__}, not a umap.UMAP"
    import scipy.sparse

    checks = [
        (manifold.metric in METRICS, f"metric={manifold.metric!r}"),
        (getattr(manifold, "output_metric", "euclidean") in ("euclidean", "l2"),
         f"output_metric={getattr(manifold, 'output_metric', None)!r}"),
        (not getattr(manifold, "densmap", False), "densmap=True"),
        (getattr(manifold, "transform_mode", "embedding") == "embedding",
         f"transform_mode={getattr(manifold, 'transform_mode', None)!r}"),
        (isinstance(manifold.n_epochs, (int, np.integer, type(None))),
         f"n_epochs={manifold.n_epochs!r}"),
        (getattr(manifold, "_raw_data", None) is not None
         and not scipy.sparse.issparse(manifold._raw_data), "sparse or missing training data"),
    ]
    reasons = [why for ok, why in checks if not ok]
    return ", ".join(reasons) if reasons else None


class UMAPPlacement:
    """UMAP's placement of new rows without its random repulsion: one row at a time.

    Built from a fitted ``umap.UMAP`` with :meth:`from_umap`; holds only
    arrays and numbers (:meth:`get_state`), so a saved N2D stores it without
    pickle. :meth:`transform` (numpy) and :meth:`tf_transform` (TensorFlow
    ops, for the SavedModel) run the same steps; each row is placed on its
    own, from the training rows only.

    Args:
        fit_z: array of shape (n_train, d), the training rows UMAP was fitted on.
        fit_y: array of shape (n_train, c), their UMAP coordinates.
        metric: "euclidean" or "cosine".
        n_neighbors, epochs, local_connectivity, w_max, a, b, alpha: UMAP's
            neighbours, the placement's epochs (a third of the layout's), its
            local connectivity minus one, the fixed largest membership weight,
            the curve parameters and the initial learning rate (a quarter of
            UMAP's, as in ``UMAP.transform``).
    """

    def __init__(self, fit_z, fit_y, *, metric, n_neighbors, epochs, local_connectivity,
                 w_max, a, b, alpha):
        self.fit_z = np.ascontiguousarray(fit_z, dtype="float32")
        self.fit_y = np.ascontiguousarray(fit_y, dtype="float32")
        self.metric = "cosine" if metric == "cosine" else "euclidean"
        self.n_neighbors, self.epochs = int(n_neighbors), int(epochs)
        self.local_connectivity, self.w_max = float(local_connectivity), float(w_max)
        self.a, self.b, self.alpha = float(a), float(b), float(alpha)
        self._unit = _NumpyOps.unit_rows(self.fit_z) if self.metric == "cosine" else self.fit_z
        self._fit_sq = np.einsum("nd,nd->n", self._unit, self._unit)
        self._index = None  # kdc._manifold.ExactNeighborIndex over fit_z, built on first use

    @classmethod
    def from_umap(cls, manifold):
        """The placement of a fitted ``umap.UMAP`` (see :func:`unsupported`).

        Raises:
            ValueError: UMAP was fitted with settings this placement does not reproduce.
        """
        reason = unsupported(manifold)
        if reason is not None:
            raise ValueError(f"kdc's placement of new rows does not support this UMAP: {reason}")
        fit_z = np.ascontiguousarray(manifold._raw_data, dtype="float32")
        k = int(min(manifold._n_neighbors, fit_z.shape[0]))
        # UMAP: n_epochs // 3, or 100 (batches up to 10,000 rows) when it ran with its default.
        epochs = 100 if manifold.n_epochs is None else max(int(manifold.n_epochs // 3), 1)
        placement = cls(fit_z, manifold.embedding_, metric=manifold.metric, n_neighbors=k,
                        epochs=epochs,
                        local_connectivity=max(0.0, float(manifold.local_connectivity) - 1.0),
                        w_max=1.0, a=manifold._a, b=manifold._b,
                        alpha=float(manifold._initial_alpha) / 4.0)
        # The largest weight a batch of new rows would show: training rows as new rows
        # (their own row left out of their neighbours).
        rows = np.random.default_rng(0).choice(
            fit_z.shape[0], min(_WMAX_ROWS, fit_z.shape[0]), replace=False)
        n_query = min(k + 1, fit_z.shape[0])
        _, dist = placement._neighbours(fit_z[rows], n_query, _NumpyOps)
        dist = dist[:, 1:] if n_query > k else dist
        weights, _ = _memberships(dist, k, placement.local_connectivity, _NumpyOps)
        placement.w_max = float(weights.max())
        return placement

    def get_state(self):
        """The placement as a dict of two float32 arrays and plain numbers (for saving)."""
        return {"fit_z": self.fit_z, "fit_y": self.fit_y,
                **{name: getattr(self, name) for name in _SCALARS}}

    @classmethod
    def from_state(cls, state):
        """The placement saved by :meth:`get_state`."""
        return cls(state["fit_z"], state["fit_y"], **{name: state[name] for name in _SCALARS})

    def _search(self, zb, k):
        """Indices of the k nearest training rows to each row of ``zb`` (exact, in the metric)."""
        from kdc._manifold import ExactNeighborIndex

        if self._index is None:
            self._index = ExactNeighborIndex(self.fit_z, self.n_neighbors, metric=self.metric)
        return self._index.query(zb, k)[0]

    def __getstate__(self):
        return {**self.__dict__, "_index": None}  # the search index is rebuilt when needed

    @property
    def n_components(self):
        return self.fit_y.shape[1]

    def transform(self, z):
        """UMAP coordinates of the rows of ``z``: float32 array of shape (n_samples, c)."""
        z = np.asarray(z, dtype="float32")
        out = np.empty((z.shape[0], self.n_components), dtype="float32")
        for start in range(0, z.shape[0], _NUMPY_PLACE_ROWS):
            chunk = z[start:start + _NUMPY_PLACE_ROWS]
            idx, dist = self._neighbours(chunk, self.n_neighbors, _NumpyOps)
            out[start:start + chunk.shape[0]] = self._place(idx, dist, self.fit_y, _NumpyOps)
        return out

    def tf_transform(self, z):
        """:meth:`transform` in TensorFlow ops, for a float tensor ``z`` of shape [n, d]."""
        import tensorflow as tf

        z = tf.cast(z, tf.float32)
        n = tf.shape(z)[0]
        d, c = self.fit_z.shape[1], self.n_components
        blocks = tf.reshape(tf.pad(z, [[0, (-n) % BLOCK_ROWS], [0, 0]]), [-1, BLOCK_ROWS, d])
        consts = {"fit_z": tf.constant(self._unit), "fit_sq": tf.constant(self._fit_sq),
                  "fit_y": tf.constant(self.fit_y)}

        def place_block(block):
            xp = _TFOps()
            idx, dist = self._neighbours(block, self.n_neighbors, xp, consts)
            return self._place(idx, dist, consts["fit_y"], xp)

        out = tf.map_fn(place_block, blocks,
                        fn_output_signature=tf.TensorSpec([BLOCK_ROWS, c], tf.float32))
        return tf.reshape(out, [-1, c])[:n]

    # ---------------------------------------------------------------- steps
    def _neighbours(self, zb, k, xp, consts=None):
        """(indices, distances) of the k nearest training rows of each row of ``zb``, by distance."""
        consts = consts or {"fit_z": self._unit, "fit_sq": self._fit_sq, "index": self._search}
        fit_z = consts["fit_z"]
        if self.metric == "cosine":
            # fit_z holds unit rows (zero rows stay zero). Candidates by the dot product; the
            # distance 1 - cos computed as |u - v|^2 / 2 from the differences (no cancellation,
            # so numpy and TensorFlow agree), plus 1/2 for each zero row: a zero row is at
            # distance 1 from every row, as in scikit-learn.
            zb = xp.unit_rows(zb)
            idx = xp.top_k(lambda: xp.matmul_t(zb, fit_z), k, consts, zb)
            near = xp.take(fit_z, idx)
            zero = xp.where(xp.sum(xp.square(zb), 1) > 0, 0.0, 0.5)[:, None]
            zero = zero + xp.where(xp.sum(xp.square(near), -1) > 0, 0.0, 0.5)
            dist = 0.5 * xp.sum(xp.square(zb[:, None, :] - near), -1) + zero
        else:
            # Candidates from the expanded squared distance, then the distances
            # recomputed from the differences.
            idx = xp.top_k(lambda: -(xp.sum(zb * zb, 1)[:, None] - 2.0 * xp.matmul_t(zb, fit_z)
                                     + consts["fit_sq"][None, :]), k, consts, zb)
            dist = xp.sqrt(xp.sum(xp.square(zb[:, None, :] - xp.take(fit_z, idx)), -1))
        order = xp.argsort(dist)
        return xp.take_along(idx, order), xp.take_along(dist, order)

    def _place(self, idx, dist, fit_y, xp):
        """Coordinates of rows whose sorted neighbours are ``idx`` at distances ``dist``."""
        k, a, b = self.n_neighbors, self.a, self.b
        w, _ = _memberships(dist, k, self.local_connectivity, xp)
        neighbours = xp.take(fit_y, idx)  # (rows, k, c)
        # Start: the weighted mean of the neighbours' coordinates, or the coordinates of the
        # neighbour of weight 1 with the smallest training index (init_graph_transform).
        start = xp.sum(w[..., None] * neighbours, 1) / xp.sum(w, 1)[:, None]
        is_one = w == 1.0
        first = xp.argmin(xp.where(is_one, idx, np.iinfo(np.int32).max))
        start = xp.where(xp.any(is_one)[:, None],
                         xp.pick(neighbours, first), start)
        # The schedule of make_epochs_per_sample, with edges below w_max / epochs dropped.
        epochs, w_max = self.epochs, self.w_max
        keep = w >= w_max / epochs
        samples = xp.float64(float(epochs) * (w / w_max))
        period = xp.where(keep, float(epochs) / xp.maximum(samples, 1e-300), -1.0)

        def epoch(n, current, next_at):
            nf = xp.float64(n)
            # optimize_layout_euclidean: epoch 0 and 1 run at the initial rate, epoch n at
            # alpha * (1 - (n - 1) / epochs).
            alpha = self.alpha * (1.0 - xp.maximum(xp.float32(n) - 1.0, 0.0) / epochs)
            columns = []
            for j in range(k):  # in order of distance, as UMAP walks a row's edges
                fire = keep[:, j] & (next_at[:, j] <= nf)
                diff = current - neighbours[:, j]
                dsq = xp.sum(xp.square(diff), 1)[:, None]
                safe = xp.where(dsq > 0, dsq, 1.0)
                coeff = xp.where(dsq > 0, -2.0 * a * b * xp.pow(safe, b - 1.0)
                                 / (a * xp.pow(safe, b) + 1.0), 0.0)
                step = xp.clip(coeff * diff, -_CLIP, _CLIP) * alpha
                current = current + xp.where(fire[:, None], step, 0.0)
                columns.append(xp.where(fire, next_at[:, j] + period[:, j], next_at[:, j]))
            return current, xp.stack(columns, 1)

        return xp.loop(epochs, epoch, start, period)


def _memberships(dist, n_neighbors, local_connectivity, xp):
    """(weights, sigma) of smooth_knn_dist + compute_membership_strengths, for sorted ``dist``.

    ``xp`` is :class:`_NumpyOps` or :class:`_TFOps`; the bisection runs a
    fixed number of steps and freezes each row once its sum is within UMAP's
    tolerance, as UMAP's loop breaks there.
    """
    index = int(np.floor(local_connectivity))
    interpolation = local_connectivity - index
    if index > 0:
        rho = dist[:, index - 1]
        if interpolation > _SMOOTH_K_TOLERANCE:
            rho = rho + interpolation * (dist[:, index] - dist[:, index - 1])
    else:
        rho = interpolation * dist[:, 0]
    target = np.log2(n_neighbors)
    gap = dist[:, 1:] - rho[:, None]
    lo, hi, mid = rho * 0.0, rho * 0.0 + np.inf, rho * 0.0 + 1.0
    done = rho < -1.0  # all False
    for _ in range(_BISECTION_STEPS):
        psum = xp.sum(xp.where(gap > 0, xp.exp(-gap / mid[:, None]), 1.0 + gap * 0), 1)
        done = done | (xp.abs(psum - target) < _SMOOTH_K_TOLERANCE)
        big = psum > target
        new_hi = xp.where(big, mid, hi)
        new_lo = xp.where(big, lo, mid)
        new_mid = xp.where(big | (new_hi < np.inf), (new_lo + new_hi) / 2.0, mid * 2.0)
        lo, hi, mid = (xp.where(done, old, new)
                       for old, new in ((lo, new_lo), (hi, new_hi), (mid, new_mid)))
    # UMAP floors sigma at 1e-3 of the mean distance (of the row when rho > 0, of the whole
    # batch otherwise); the row's own mean keeps a row's placement independent of its batch.
    sigma = xp.maximum(mid, _MIN_K_DIST_SCALE * xp.mean(dist, 1))
    gap = dist - rho[:, None]
    weights = xp.where((gap <= 0) | (sigma[:, None] == 0), 1.0 + gap * 0,
                       xp.exp(-gap / sigma[:, None]))
    return weights, sigma


class _NumpyOps:
    """The array operations of the placement, on numpy arrays (float32 as TensorFlow's)."""

    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    abs = staticmethod(np.abs)
    sqrt = staticmethod(np.sqrt)
    square = staticmethod(np.square)
    maximum = staticmethod(np.maximum)
    clip = staticmethod(np.clip)
    stack = staticmethod(np.stack)

    @staticmethod
    def pow(x, y):
        return np.power(x, np.float32(y))

    @staticmethod
    def sum(a, axis):
        return a.sum(axis=axis)

    @staticmethod
    def mean(a, axis):
        return a.mean(axis=axis)

    @staticmethod
    def any(a):
        return a.any(axis=1)

    @staticmethod
    def argmin(a):
        return a.argmin(axis=1)

    @staticmethod
    def float64(a):
        return np.asarray(a, dtype="float64")

    @staticmethod
    def float32(a):
        return np.float32(a)

    @staticmethod
    def matmul_t(a, b):
        return a @ b.T

    @staticmethod
    def top_k(scores, k, consts, zb):
        """Indices of the k nearest training rows of ``zb`` (the k largest ``scores()``),
        from scikit-learn's exact search (the scores need not be computed)."""
        return consts["index"](zb, k)

    @staticmethod
    def take(params, idx):
        return params[idx]

    @staticmethod
    def take_along(a, idx):
        return np.take_along_axis(a, idx, 1)

    @staticmethod
    def pick(a, idx):
        return a[np.arange(a.shape[0]), idx]

    @staticmethod
    def argsort(a):
        return np.argsort(a, axis=1, kind="stable")

    @staticmethod
    def unit_rows(z):
        """Rows scaled to unit norm (zero rows stay zero), as scipy's cosine distance sees them."""
        norm = np.sqrt(np.einsum("nd,nd->n", z, z))[:, None]
        return np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)

    @staticmethod
    def loop(n, body, current, state):
        for i in range(n):
            current, state = body(i, current, state)
        return current


class _TFOps:
    """The same operations in TensorFlow (traced into the exported graph)."""

    def __getattr__(self, name):
        import tensorflow as tf

        return {"where": tf.where, "exp": tf.exp, "abs": tf.abs, "sqrt": tf.sqrt,
                "square": tf.square, "maximum": tf.maximum, "clip": tf.clip_by_value,
                "stack": lambda values, axis: tf.stack(values, axis=axis),
                "pow": tf.pow, "sum": lambda a, axis: tf.reduce_sum(a, axis),
                "mean": lambda a, axis: tf.reduce_mean(a, axis),
                "any": lambda a: tf.reduce_any(a, axis=1),
                "argmin": lambda a: tf.argmin(a, axis=1, output_type=tf.int32),
                "float64": lambda a: tf.cast(a, tf.float64),
                "float32": lambda a: tf.cast(a, tf.float32),
                "matmul_t": lambda a, b: tf.matmul(a, b, transpose_b=True),
                "top_k": lambda scores, k, consts, zb: tf.math.top_k(scores(), k=k)[1],
                "take": tf.gather,
                "take_along": lambda a, idx: tf.gather(a, idx, batch_dims=1),
                "pick": lambda a, idx: tf.gather(a, idx, batch_dims=1),
                "argsort": lambda a: tf.argsort(a, axis=1, stable=True),
                "unit_rows": _tf_unit_rows,
                "loop": _tf_loop}[name]


def _tf_unit_rows(z):
    import tensorflow as tf

    norm = tf.sqrt(tf.reduce_sum(tf.square(z), axis=-1, keepdims=True))
    return tf.math.divide_no_nan(z, norm)


def _tf_loop(n, body, current, state):
    import tensorflow as tf

    def step(i, current, state):
        return (i + 1, *body(i, current, state))

    _, current, _ = tf.while_loop(lambda i, *_: i < n, step, (tf.constant(0), current, state),
                                  maximum_iterations=n)
    return current
