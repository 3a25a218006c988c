"""kdc.plot.centroids: cluster centres decoded into images, or into line plots for
sequences (see kdc.plot)."""

import math

import numpy as np

from kdc._plot_utils import _codes, _pyplot
from kdc._validation import _describe, check_array, check_int


def _image_shape(image_shape, input_shape, n_features):
    """(h, w) or (h, w, c) for tiles of ``n_features`` values."""
    if image_shape is not None:
        shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
        if (shape is None or len(shape) not in (2, 3) or not all(
                isinstance(v, (int, np.integer)) and v > 0 for v in shape)
                or math.prod(shape) != n_features):
            raise ValueError(f"image_shape must be (height, width) or (height, width, channels) "
                             f"with {n_features} values in all, the size of a decoded row. "
                             f"Received: image_shape={_describe(image_shape)}")
    elif input_shape is not None and len(input_shape) in (2, 3):
        shape = tuple(int(v) for v in input_shape)
    else:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(f"image_shape is needed: decoded rows have {n_features} values, "
                             f"which is not a perfect square. Pass image_shape=(height, width). "
                             f"Received: image_shape=None")
        shape = (side, side)
    if len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) == 3 and shape[2] not in (3, 4):
        raise ValueError(f"image_shape must have 1, 3 or 4 channels to be drawn as images. "
                         f"Received: image_shape={shape}")
    return shape


def _mean_embedding(est, z, labels, x):
    """(cluster ids, centres, counts) as mean embeddings per cluster (for N2D)."""
    if z is None and x is None:
        raise ValueError(
            f"centroids needs cluster centres: {type(est).__name__} has no cluster_centers_. "
            "Pass centers=, or z=est.transform(x) (or x=, the data the estimator was fitted "
            "on) to use the mean embedding of each cluster. Received: centers=None, z=None, "
            "x=None")
    z = est.transform(x) if z is None else check_array(z, "z")
    labels = est.labels_ if labels is None else labels
    uniques, codes = _codes(labels, "labels", len(z))
    keep = [i for i, u in enumerate(uniques.tolist()) if not (isinstance(u, int) and u < 0)]
    centres = np.stack([z[codes == i].mean(axis=0) for i in keep])
    return uniques[keep], centres, np.bincount(codes, minlength=len(uniques))[keep]


def centroids(estimator_or_decoder, centers=None, *, image_shape=None, ax=None, n_cols=None,
              z=None, labels=None, x=None):
    """Decode cluster centres (in embedding space) into images, one tile per cluster.

    A kdc estimator fitted on sequences (``kdc.training.plan.is_sequence``:
    (steps, channels) or (channels, steps)) gets a line plot per tile instead,
    one line per channel over the steps, on a common vertical scale.

    With a fitted kdc estimator the centres are, in order of preference:
    ``centers``; ``est.cluster_centers_`` (AEKMeans, DEC, IDEC); the mean
    embedding of each cluster (N2D, whose clusters live in UMAP space), from
    ``z`` (``est.transform(x)``, computed once by the caller) or else from ``x``
    (the data the estimator was fitted on; ``est.transform`` is run), with
    ``labels`` defaulting to ``est.labels_``. The tiles are decoded with
    ``est.autoencoder_.decoder`` and mapped back to the input scale (undoing
    the estimator's ``scale``).

    Args:
        estimator_or_decoder: a fitted kdc estimator, a Keras autoencoder with a
            ``decoder``, or a decoder (Keras model or callable from embeddings
            to rows).
        centers: array-like of shape (n_clusters, embedding_dim); required with
            a decoder.
        image_shape: (height, width[, channels]); default ``est.input_shape_``
            for image data (line plots for sequences), else the square root of
            the decoded row length.
        ax: None (a new figure), one Axes (the tiles fill it) or a sequence of
            at least n_clusters Axes.
        n_cols: tiles per row (default: at most 10, rows balanced).
        z: optional array-like of shape (n_samples, embedding_dim).
        labels: optional array-like of shape (n_samples,) for ``z`` or ``x``.
        x: optional array-like, the training data (used when ``z`` is None).

    Returns:
        Array of the tile Axes (unused ones are hidden).

    Raises:
        ValueError: missing centres, shapes that do not fit, a bad ``image_shape``.
    """
    plt = _pyplot()
    import keras

    obj, input_shape, scaling, counts = estimator_or_decoder, None, None, None
    if hasattr(obj, "get_params"):  # a kdc (scikit-learn) estimator
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj, "labels_")
        decoder, input_shape = obj.autoencoder_.decoder, obj.input_shape_
        scaling = (obj.scale_, obj.offset_) if getattr(obj, "scale_", None) is not None else None
        if centers is not None:
            ids = np.arange(len(centers))
        elif getattr(obj, "cluster_centers_", None) is not None:
            centers = obj.cluster_centers_
            ids = np.arange(len(centers))
            counts = np.bincount(obj.labels_, minlength=len(centers))
        else:
            ids, centers, counts = _mean_embedding(obj, z, labels, x)
    else:
        decoder = obj.decoder if isinstance(getattr(obj, "decoder", None), keras.layers.Layer) \
            else obj
        if not callable(decoder):
            raise ValueError("estimator_or_decoder must be a fitted kdc estimator, an "
                             "autoencoder with a decoder, or a decoder. "
                             f"Received: estimator_or_decoder={_describe(obj)}")
        if centers is None:
            raise ValueError("centers is required when estimator_or_decoder is a decoder: "
                             "pass centers of shape (n_clusters, embedding_dim). "
                             "Received: centers=None")
        ids = np.arange(len(centers))
    centers = check_array(centers, "centers")
    expected = getattr(decoder, "input_shape", None) if isinstance(decoder, keras.Model) else None
    if expected is not None and expected[-1] is not None and expected[-1] != centers.shape[1]:
        raise ValueError(f"centers must have shape (n_clusters, {expected[-1]}), the decoder's "
                         f"input. Received: centers of shape {centers.shape}")
    if isinstance(decoder, keras.layers.Layer):
        from kdc._keras_utils import call_in_chunks

        images = call_in_chunks(decoder, centers)
    else:
        images = keras.ops.convert_to_numpy(decoder(centers))
    images = np.asarray(images, dtype="float64").reshape(len(centers), -1)
    if scaling is not None:
        images = (images - scaling[1]) / scaling[0]
    from kdc.training.plan import is_sequence, steps_first

    lines = image_shape is None and input_shape is not None and is_sequence(tuple(input_shape))
    if lines:  # (clusters, steps, channels)
        images = steps_first(images, tuple(input_shape), "float64")
        shape = images.shape[1:]
    else:
        shape = _image_shape(image_shape, input_shape, images.shape[1])
    lo, hi = float(images.min()), float(images.max())
    images = images.reshape((len(images),) + shape)
    if len(shape) == 3:  # colour: one common min-max scaling into [0, 1]
        images = (images - lo) / (hi - lo or 1.0)

    k = len(images)
    n_cols = check_int(n_cols, "n_cols", minimum=1, allow_none=True)
    n_cols = min(k, n_cols or math.ceil(k / math.ceil(k / 10)))
    n_rows = math.ceil(k / n_cols)
    if ax is None:
        fig, tiles = plt.subplots(n_rows, n_cols, figsize=(1.3 * n_cols + 0.2,
                                  1.55 * n_rows + 0.4), layout="constrained", squeeze=False)
        fig.suptitle("decoded cluster centres")
    elif hasattr(ax, "inset_axes"):
        ax.set_axis_off()
        w, h = 1.0 / n_cols, 1.0 / n_rows
        tiles = np.array([[ax.inset_axes([c * w + 0.05 * w, 1 - (r + 1) * h + 0.12 * h,
                                          0.9 * w, 0.72 * h]) for c in range(n_cols)]
                          for r in range(n_rows)], dtype=object)
    else:
        tiles = np.asarray(ax, dtype=object)
        if tiles.size < k:
            raise ValueError(f"ax must be None, one Axes or at least {k} Axes (one per "
                             f"cluster). Received: ax with {tiles.size} Axes")
    for i, tile in enumerate(tiles.ravel()):
        if i >= k:
            tile.set_axis_off()
            continue
        if lines:
            tile.plot(images[i], linewidth=0.8)
            pad = 0.05 * (hi - lo) or 0.5  # one vertical scale for every tile
            tile.set_ylim(lo - pad, hi + pad)
        else:
            tile.imshow(images[i], cmap="gray_r", vmin=lo, vmax=hi, interpolation="nearest")
        tile.set_xticks([])
        tile.set_yticks([])
        tile.set_title(f"cluster {ids[i]}", fontsize=9)
        if counts is not None:
            tile.set_xlabel(f"n={counts[i]}", fontsize=8)
    return tiles
