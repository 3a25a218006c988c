"""umap-learn's ``UMAP.transform`` of new rows, as TensorFlow ops (for the N2D export).

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
cosine distances, UMAP's ``metric``). The random
pushes are left out: with the pulls alone, the placement agreed with
``UMAP.transform`` + GMM on 99.9% of held-out MNIST rows (umap-learn's own
transform with another ``transform_seed`` also agrees on 99.9%), while their
expected value over all training rows would cost a pass over every training
row per pull for no measurable gain.

Where UMAP's result depends on the batch it is given (the largest weight in
the batch sets the schedule; the epochs are 100 for batches of up to 10,000
rows and 30 above when UMAP ran with its default epochs), the export fixes
them from the training data, so a row gets the same coordinates in any
request.
"""

import numpy as np

# Rows of a request searched at once (a block of rows x training rows distances).
BLOCK_ROWS = 256
# smooth_knn_dist's bisection: steps, tolerance and the floor on sigma.
_BISECTION_STEPS = 64
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_CLIP = 4.0
# Training rows whose membership weights set the fixed largest weight.
_WMAX_ROWS = 10_000
# Input metrics of the transform: euclidean distances, or cosine distances
# 1 - cos(angle) (rows of zero norm are taken as the zero direction).
METRICS = ("euclidean", "l2", "cosine")


def unsupported(manifold):
    """None when ``manifold`` is a fitted UMAP this module can transform, else the reason."""
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


def _memberships(dist, n_neighbors, local_connectivity, xp):
    """(weights, sigma) of smooth_knn_dist + compute_membership_strengths, for sorted ``dist``.

    ``xp`` is numpy or a tensorflow-like namespace with ``where``; the
    bisection runs a fixed number of steps and freezes each row once its sum
    is within UMAP's tolerance, as UMAP's loop breaks there.
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
        psum = xp.reduce_sum(xp.where(gap > 0, xp.exp(-gap / mid[:, None]), 1.0 + gap * 0), 1)
        done = done | (xp.abs(psum - target) < _SMOOTH_K_TOLERANCE)
        big = psum > target
        new_hi = xp.where(big, mid, hi)
        new_lo = xp.where(big, lo, mid)
        new_mid = xp.where(big | (new_hi < np.inf), (new_lo + new_hi) / 2.0, mid * 2.0)
        lo, hi, mid = (xp.where(done, old, new)
                       for old, new in ((lo, new_lo), (hi, new_hi), (mid, new_mid)))
    # UMAP floors sigma at 1e-3 of the mean distance (of the row when rho > 0, of the whole
    # batch otherwise); the row's own mean keeps a row's placement independent of its batch.
    sigma = xp.maximum(mid, _MIN_K_DIST_SCALE * xp.reduce_mean(dist, 1))
    gap = dist - rho[:, None]
    weights = xp.where((gap <= 0) | (sigma[:, None] == 0), 1.0 + gap * 0,
                       xp.exp(-gap / sigma[:, None]))
    return weights, sigma


class _NumpyOps:
    """The few tensorflow calls ``_memberships`` uses, on numpy arrays."""

    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    abs = staticmethod(np.abs)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def reduce_sum(a, axis):
        return a.sum(axis=axis)

    @staticmethod
    def reduce_mean(a, axis):
        return a.mean(axis=axis)


def terms(manifold):
    """The constants of the TF transform of a fitted UMAP (see :func:`unsupported`).

    Returns:
        dict of numpy arrays and numbers: training embedding and coordinates,
        UMAP's curve ``a``, ``b``, learning rate, epochs, neighbours, local
        connectivity and the fixed largest membership weight.
    """
    from kdc._manifold import ExactNeighborIndex

    reason = unsupported(manifold)
    if reason is not None:
        raise ValueError(f"UMAP's transform has no TF version for this manifold: {reason}")
    fit_z = np.ascontiguousarray(manifold._raw_data, dtype="float32")
    fit_y = np.ascontiguousarray(manifold.embedding_, dtype="float32")
    k = int(min(manifold._n_neighbors, fit_z.shape[0]))
    # UMAP: n_epochs // 3, or 100 (batches up to 10,000 rows) when it ran with its default.
    epochs = 100 if manifold.n_epochs is None else max(int(manifold.n_epochs // 3), 1)
    local_connectivity = max(0.0, float(manifold.local_connectivity) - 1.0)
    # The largest weight a batch of new rows would show: training rows as new rows
    # (their own row left out of their neighbours).
    rows = np.random.default_rng(0).choice(
        fit_z.shape[0], min(_WMAX_ROWS, fit_z.shape[0]), replace=False)
    n_query = min(k + 1, fit_z.shape[0])
    metric = "cosine" if manifold.metric == "cosine" else "euclidean"
    _, dist = ExactNeighborIndex(fit_z, n_query, metric=metric).query(fit_z[rows], n_query)
    dist = dist[:, 1:] if n_query > k else dist
    weights, _ = _memberships(dist, k, local_connectivity, _NumpyOps)
    return {"fit_z": fit_z, "fit_y": fit_y, "metric": metric, "n_neighbors": k, "epochs": epochs,
            "local_connectivity": local_connectivity, "w_max": float(weights.max()),
            "a": float(manifold._a), "b": float(manifold._b),
            "alpha": float(manifold._initial_alpha) / 4.0}


def transform(z, t):
    """UMAP coordinates of embedding rows ``z`` (a float tensor [n, d]) in TF ops."""
    import tensorflow as tf

    z = tf.cast(z, tf.float32)
    n = tf.shape(z)[0]
    d, c = t["fit_z"].shape[1], t["fit_y"].shape[1]
    blocks = tf.reshape(tf.pad(z, [[0, (-n) % BLOCK_ROWS], [0, 0]]), [-1, BLOCK_ROWS, d])
    consts = {name: tf.constant(t[name]) for name in ("fit_z", "fit_y")}
    if t["metric"] == "cosine":
        consts["fit_z"] = _unit_rows(consts["fit_z"])
    consts["fit_sq"] = tf.reduce_sum(tf.square(consts["fit_z"]), axis=1)
    out = tf.map_fn(lambda block: _place_block(block, consts, t), blocks,
                    fn_output_signature=tf.TensorSpec([BLOCK_ROWS, c], tf.float32))
    return tf.reshape(out, [-1, c])[:n]


class _TFOps:
    """tensorflow calls under the names ``_memberships`` uses."""

    def __getattr__(self, name):
        import tensorflow as tf

        return {"where": tf.where, "exp": tf.exp, "abs": tf.abs, "maximum": tf.maximum,
                "reduce_sum": tf.reduce_sum, "reduce_mean": tf.reduce_mean}[name]


def _unit_rows(z):
    """Rows scaled to unit norm (zero rows stay zero), as scipy's cosine distance sees them."""
    import tensorflow as tf

    norm = tf.sqrt(tf.reduce_sum(tf.square(z), axis=-1, keepdims=True))
    return tf.math.divide_no_nan(z, norm)


def _neighbours(zb, consts, k, metric):
    """(indices, distances) of the k nearest training rows of each row of the block ``zb``."""
    import tensorflow as tf

    fit_z = consts["fit_z"]
    if metric == "cosine":  # fit_z holds unit rows: 1 - cos is 1 - the dot product
        zb = _unit_rows(zb)
        _, idx = tf.math.top_k(tf.matmul(zb, fit_z, transpose_b=True), k=k)
        return idx, tf.maximum(
            1.0 - tf.reduce_sum(zb[:, None, :] * tf.gather(fit_z, idx), axis=-1), 0.0)
    # Candidates from the expanded squared distance, then the distances
    # recomputed from the differences.
    d2 = (tf.reduce_sum(tf.square(zb), axis=1, keepdims=True)
          - 2.0 * tf.matmul(zb, fit_z, transpose_b=True) + consts["fit_sq"][None, :])
    _, idx = tf.math.top_k(-d2, k=k)
    return idx, tf.sqrt(tf.reduce_sum(tf.square(zb[:, None, :] - tf.gather(fit_z, idx)), -1))


def _place_block(zb, consts, t):
    import tensorflow as tf

    k, a, b = t["n_neighbors"], t["a"], t["b"]
    fit_y = consts["fit_y"]
    # Exact k nearest training rows, sorted by distance.
    idx, dist = _neighbours(zb, consts, k, t["metric"])
    order = tf.argsort(dist, axis=1, stable=True)
    idx, dist = tf.gather(idx, order, batch_dims=1), tf.gather(dist, order, batch_dims=1)
    w, _ = _memberships(dist, k, t["local_connectivity"], _TFOps())
    neighbours = tf.gather(fit_y, idx)  # (rows, k, c)
    # Start: the weighted mean of the neighbours' coordinates, or the coordinates of the
    # neighbour of weight 1 with the smallest training index (init_graph_transform).
    start = tf.reduce_sum(w[..., None] * neighbours, axis=1) / tf.reduce_sum(w, 1, keepdims=True)
    is_one = tf.equal(w, 1.0)
    first = tf.argmin(tf.where(is_one, idx, tf.int32.max), axis=1, output_type=tf.int32)
    start = tf.where(tf.reduce_any(is_one, axis=1, keepdims=True),
                     tf.gather(neighbours, first, batch_dims=1), start)
    # The schedule of make_epochs_per_sample, with edges below w_max / epochs dropped.
    epochs, w_max = t["epochs"], t["w_max"]
    keep = w >= w_max / epochs
    samples = tf.cast(float(epochs) * (w / w_max), tf.float64)
    period = tf.where(keep, float(epochs) / tf.maximum(samples, 1e-300), -1.0)

    def epoch(n, current, next_at):
        nf = tf.cast(n, tf.float64)
        # optimize_layout_euclidean: epoch 0 and 1 run at the initial rate, epoch n at
        # alpha * (1 - (n - 1) / epochs).
        alpha = t["alpha"] * (1.0 - tf.maximum(tf.cast(n, tf.float32) - 1.0, 0.0) / epochs)
        columns = []
        for j in range(k):  # in order of distance, as UMAP walks a row's edges
            fire = keep[:, j] & (next_at[:, j] <= nf)
            diff = current - neighbours[:, j]
            dsq = tf.reduce_sum(tf.square(diff), axis=1, keepdims=True)
            safe = tf.where(dsq > 0, dsq, 1.0)
            coeff = tf.where(dsq > 0, -2.0 * a * b * tf.pow(safe, b - 1.0)
                             / (a * tf.pow(safe, b) + 1.0), 0.0)
            step = tf.clip_by_value(coeff * diff, -_CLIP, _CLIP) * alpha
            current = current + tf.where(fire[:, None], step, 0.0)
            columns.append(tf.where(fire, next_at[:, j] + period[:, j], next_at[:, j]))
        return n + 1, current, tf.stack(columns, axis=1)

    _, placed, _ = tf.while_loop(lambda n, *_: n < epochs, epoch,
                                 (tf.constant(0), start, period), maximum_iterations=epochs)
    return placed
