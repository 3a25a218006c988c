"""N2D's head in TensorFlow ops, for export (the ``export_head`` hook of :class:`kdc.N2D`).

With a UMAP manifold the SavedModel carries the estimator's placement of new
rows (``placement_``, :mod:`kdc._umap_placement`) as TF ops, the same steps
``predict`` runs in numpy, followed by the mixture's posterior; other
manifold learners, or ``manifold_map="parametric"``, get a learned map (see
:func:`kdc.serving.fit_parametric_map`), kept as the estimator's
``serving_map_`` so a saved estimator exports the same graph again.
"""

import keras
import numpy as np

from kdc import serving
from kdc._progress import Stage
from kdc._umap_placement import unsupported
from kdc._keras_utils import call_in_chunks
from kdc.training import plan

# Interpolated rows labelled by transform + clusterer, added to the map's training set.
MAP_PROBES = 20_000
# Interpolated rows on which the export's agreement with predict is measured and recorded.
CHECK_PROBES = 2_000


def _spectrum(tf, rows, input_shape):
    """TensorFlow's :func:`kdc.cluster.n2d.spectrum` of the flat float32 ``rows``: per
    channel the magnitudes of the real FFT over the steps, frequency by frequency."""
    first, second = (int(d) for d in input_shape)
    if plan.is_channels_first(input_shape):
        channels, steps = first, second
        series = tf.reshape(rows, [-1, channels, steps])
    else:
        steps, channels = first, second
        series = tf.transpose(tf.reshape(rows, [-1, steps, channels]), [0, 2, 1])
    amplitude = tf.abs(tf.signal.rfft(series))  # (rows, channels, steps // 2 + 1)
    return tf.reshape(tf.transpose(amplitude, [0, 2, 1]), [-1, (steps // 2 + 1) * channels])


def export_head(est, verbose, manifold_map="auto"):
    """N2D's :class:`kdc.serving.ServingHead` (see :meth:`kdc.N2D.export_head`)."""
    from sklearn.mixture import GaussianMixture

    clusterer = est.clusterer_
    if isinstance(clusterer, GaussianMixture):
        terms, kind = serving.gmm_terms(clusterer), "gmm"
    elif getattr(clusterer, "cluster_centers_", None) is not None:
        # Nearest centre = the most likely component of unit spherical Gaussians.
        centers = np.asarray(clusterer.cluster_centers_, "float64")
        k, d = centers.shape
        terms, kind = (np.broadcast_to(np.eye(d), (k, d, d)).copy(), centers, np.zeros(k)), "centers"
    else:
        raise ValueError(
            "export of N2D needs a clusterer with a TF equivalent: the default 'gmm' (any "
            "sklearn GaussianMixture) or one with cluster_centers_ (KMeans). Received: "
            f"clusterer={type(clusterer).__name__}. Predict with est.predict instead.")
    placement = est.placement_
    fit_rows = est._head_fit_rows()
    if fit_rows is None:
        raise ValueError(
            f"export of N2D with manifold_input='{est.manifold_input_}' needs the default UMAP "
            "manifold (metric 'euclidean' or 'cosine'), whose placement keeps the rows it was "
            "fitted on. "
            f"Received: {unsupported(est.manifold_)}. Refit with "
            "manifold_input='embedding' to export it.")
    if manifold_map == "umap" and placement is None:
        raise ValueError("manifold_map='umap' needs a UMAP manifold that kdc places new rows "
                         "on (metric 'euclidean' or 'cosine'; see kdc._umap_placement); in this "
                         f"N2D {unsupported(est.manifold_)}. Use manifold_map='parametric'.")
    if manifold_map != "parametric" and placement is not None:
        import tensorflow as tf

        transform = tf.function(
            placement.tf_transform,
            input_signature=[tf.TensorSpec([None, placement.fit_z.shape[1]], tf.float32)])

        def mapper(z, training=False):
            return transform(tf.cast(z, tf.float32))

        tracked, name = [], "umap transform"
    else:
        if getattr(est, "serving_map_", None) is None:
            z, m, labels = fit_rows
            if _places_new_rows(est):
                with Stage(f"labelling {MAP_PROBES} probe points for the parametric map", verbose):
                    probes = _probe_points(est, MAP_PROBES, est._sklearn_seed(4),
                                           fit_input=z)
                z, m, labels = (np.concatenate(pair) for pair in zip((z, m, labels), probes))
            est.serving_map_ = serving.fit_parametric_map(
                z, m, labels=labels, mixture=terms, seed=est._sklearn_seed(2), verbose=verbose)
        mapper, name = est.serving_map_, "parametric map"
        tracked = [mapper]
    constants = None
    choice = getattr(est, "manifold_input_", "embedding")

    def head(z, x):
        import tensorflow as tf

        nonlocal constants
        constants = constants or [tf.constant(t) for t in terms]
        if choice != "embedding":  # the manifold's input (manifold_input_): the scaled rows,
            rows = tf.cast(x, tf.float32)  # beside the embedding with "both"
            if choice == "spectrum":
                rows = _spectrum(tf, rows, est.input_shape_)
            u = tf.concat([z, rows], axis=1) if choice == "both" else rows
            z = (u - est.manifold_input_offset_) * est.manifold_input_scale_
        logits = serving.mixture_logits(tf.cast(mapper(z, training=False), tf.float64), constants)
        return tf.argmax(logits, axis=1), tf.nn.softmax(logits, axis=1)

    def clusters(z):
        m = call_in_chunks(mapper, z).astype("float64")
        return np.argmax(keras.ops.convert_to_numpy(serving.mixture_logits(m, terms)), axis=1)

    with Stage(f"{name}: checking the export against labels_ and predict", verbose):
        info = {"head": f"{name} + {kind}",
                "train_agreement": float(np.mean(clusters(fit_rows[0]) == fit_rows[2]))}
        if _places_new_rows(est):
            z, _, labels = _probe_points(est, CHECK_PROBES, est._sklearn_seed(5),
                                         fit_input=fit_rows[0])
            info["predict_agreement"] = float(np.mean(clusters(z) == labels))
    if verbose:
        more = (f" and with predict on {info['predict_agreement']:.2%} of {CHECK_PROBES} points "
                "between neighbouring rows" if "predict_agreement" in info else "")
        print(f"[kdc] {name}: exported clusters agree with labels_ on "
              f"{info['train_agreement']:.2%} of the training rows{more}", flush=True)
    return serving.ServingHead(head, tracked, info, int(terms[2].shape[0]))


def _places_new_rows(est):
    return est.placement_ is not None or hasattr(est.manifold_, "transform")


def _probe_points(est, size, seed, neighbors=10, fit_input=None):
    """New-row stand-ins labelled the way ``est.predict`` labels new rows.

    Points between a training row and one of its ``neighbors`` nearest rows
    in the manifold's input (the embedding, or with another ``manifold_input_``
    the rows of ``placement_``; a uniform step of up to half way), mapped by
    ``manifold_.transform`` and labelled by the clusterer, as ``predict``
    does. Training the map on them as well teaches it ``transform``'s
    behaviour on unseen rows, not only the fitted coordinates.

    ``fit_input``: the manifold's input of those training rows, the first of
    ``est._head_fit_rows()`` (computed here when not given).

    Returns:
        (z, coordinates, labels) of ``min(size, n_samples)`` probe points.
    """
    from sklearn.neighbors import NearestNeighbors

    if fit_input is None:
        fit_input = est._head_fit_rows()[0]
    z = np.asarray(fit_input, "float32")
    rng = np.random.default_rng(seed)
    size = min(size, z.shape[0])
    rows = rng.choice(z.shape[0], size, replace=False)
    k = min(neighbors + 1, z.shape[0])
    index = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(z)
    _, near = index.kneighbors(z[rows])
    partner = near[np.arange(size), rng.integers(1, k, size)] if k > 1 else rows
    step = rng.uniform(0.0, 0.5, (size, 1)).astype("float32")
    probes = z[rows] + step * (z[partner] - z[rows])
    coords = est._manifold_transform(probes)
    return probes, coords, est._label_coordinates(coords)


