"""Export a fitted estimator as a TensorFlow SavedModel for TF Serving.

``export(est, path)`` (or ``est.export(path)``) writes a SavedModel whose
``serving_default`` signature takes the raw features, float32
``[None, n_features]`` (scaled inside the graph exactly as the estimator
scales them), and returns::

    {"cluster": int64 [None], "probabilities": float32 [None, k],
     "embedding": float32 [None, d]}

A row with a NaN or infinite value, or whose embedding is not finite or
beyond ``kdc._validation.EMBEDDING_LIMIT`` (finite but extreme values can
overflow), gets cluster -1 (``NO_CLUSTER``) and NaN
probabilities: a server cannot raise per row, and no cluster is better than a
made-up one. ``est.predict`` refuses such rows with a ValueError.

Heads in TensorFlow:

- AEKMeans, DEC, IDEC: exact. The nearest centre and the Student-t soft
  assignment are computed in float64 from the differences, as ``predict``
  does, so exported clusters equal ``est.predict`` row for row.
- N2D: UMAP and the Gaussian mixture are not TF ops. With a UMAP manifold
  (the default) the export carries the estimator's own placement of new
  rows (``est.placement_``, :mod:`kdc._umap_placement`: exact k-NN over the
  training embedding, UMAP's membership weights, start and attraction
  schedule, without the random repulsion), the same steps ``predict`` runs
  in numpy, so served clusters equal ``predict``'s, and the mixture's
  posterior from its means, precision Cholesky factors and weights. The
  graph holds the rows UMAP was fitted on (embedding and coordinates as
  constants; ``manifold_sample_size`` bounds them for large data). Other
  manifold learners (or ``manifold_map="parametric"``) get a learned map
  instead: a small Keras network mapping the autoencoder embedding to the
  fitted coordinates (a parametric UMAP, trained on ``manifold_embedding_``
  and on points interpolated between neighbouring rows, placed as ``predict``
  places new rows), kept as ``est.serving_map_`` so a saved estimator
  exports the same graph again.
  ``kdc_export.json`` records the agreement of the exported head with
  ``labels_`` on the training rows and with ``predict`` on 2,000 such
  interpolated points.

Serving it: TF Serving loads ``<model_base_path>/<version>/saved_model.pb``,
so export to e.g. ``serving/kdc/1`` and run
``tensorflow_model_server --rest_api_port=8501 --model_name=kdc
--model_base_path=$PWD/serving/kdc``; then POST
``{"instances": [[...n_features floats...], ...]}`` to
``http://localhost:8501/v1/models/kdc:predict``.
"""

import collections
import json
import math
import os
import shutil

import keras
import numpy as np
from sklearn.utils.validation import check_is_fitted

from kdc._fileio import atomic_write, check_target, staging_dir, swap_in
from kdc._optional import require_tensorflow
from kdc._progress import Stage
from kdc._validation import EMBEDDING_LIMIT, check_choice
from kdc._version import __version__

EXPORT_INFO = "kdc_export.json"
# Training budget of the N2D parametric map, in samples seen.
_MAP_SAMPLES = 2_000_000
_MAP_MIN_ROWS = 25_600
_MAP_WIDTH, _MAP_DEPTH = 512, 3
SIGNATURE = "serving_default"
# The exported model's cluster of a row it cannot place (non-finite values or embedding).
NO_CLUSTER = -1
MANIFOLD_MAPS = ("auto", "umap", "parametric")

__all__ = ["EXPORT_INFO", "NO_CLUSTER", "SIGNATURE", "ServingHead", "export", "fit_parametric_map",
           "gmm_head", "gmm_terms", "mixture_logits", "squared_distances", "student_t_head"]


def export(estimator, path, *, overwrite=False, verbose=None, manifold_map="auto"):
    """Write ``estimator`` as a TF SavedModel with a ``serving_default`` signature.

    Args:
        estimator: a fitted kdc estimator.
        path: str or path-like, the SavedModel folder (for TF Serving, a
            version folder such as ``serving/kdc/1``).
        overwrite: bool, replace an earlier kdc export at ``path``.
        verbose: None (the estimator's ``verbose``) or an int.
        manifold_map: N2D only: "auto" (UMAP's transform in TF when the
            manifold is a UMAP it supports, else "parametric"), "umap" or
            "parametric" (a learned Keras map, see :func:`fit_parametric_map`).

    Returns:
        ``pathlib.Path`` of the SavedModel folder.

    Raises:
        FileExistsError: ``path`` holds an export and ``overwrite`` is False.
        ValueError: ``path`` is a file or a folder kdc did not write, or the
            N2D clusterer has no TF equivalent (use the default GMM or a
            clusterer with ``cluster_centers_``), or ``manifold_map`` is not
            one of its values (or "umap" for a manifold it cannot carry).
    """
    tf = require_tensorflow("export (a TF SavedModel)")
    check_is_fitted(estimator, "labels_")
    check_choice(manifold_map, "manifold_map", MANIFOLD_MAPS)
    out = check_target(path, overwrite, kind="SavedModel export",
                       is_ours=lambda folder: (folder / EXPORT_INFO).is_file())
    verbose = estimator.verbose if verbose is None else verbose
    head, tracked, info, n_outputs = estimator.export_head(verbose=verbose,
                                                           manifold_map=manifold_map)
    info = dict(info)
    scale = None if estimator.scale_ is None else tf.constant(estimator.scale_, tf.float32)
    offset = None if estimator.offset_ is None else tf.constant(estimator.offset_, tf.float32)
    model_shape = [-1, *estimator.model_input_shape_]
    encoder = estimator.encoder_
    probe = np.zeros((1, *estimator.model_input_shape_), dtype="float32")
    embedding_dim = int(encoder(probe, training=False).shape[-1])

    def serve(x):
        if scale is not None:
            x = x * scale + offset
        z = tf.cast(encoder(tf.reshape(x, model_shape), training=False), tf.float32)
        cluster, probabilities = head(z, x)
        # A row with a NaN or infinite value, or whose embedding is not finite or beyond
        # EMBEDDING_LIMIT (as transform and predict refuse it), gets no cluster.
        valid = tf.logical_and(tf.reduce_all(tf.math.is_finite(x), axis=1),
                               tf.reduce_all(tf.abs(z) <= EMBEDDING_LIMIT, axis=1))
        cluster = tf.where(valid, tf.cast(cluster, tf.int64), tf.constant(NO_CLUSTER, tf.int64))
        probabilities = tf.where(valid[:, None], tf.cast(probabilities, tf.float32),
                                 tf.constant(float("nan"), tf.float32))
        return {"cluster": cluster, "probabilities": probabilities, "embedding": z}

    archive = keras.export.ExportArchive()
    archive.track(estimator.autoencoder_)
    for model in tracked:
        archive.track(model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[
        tf.TensorSpec([None, estimator.n_features_in_], tf.float32, name="x")])
    info.update({
        "format": "kdc.export", "format_version": 1, "kdc_version": __version__,
        "class": type(estimator).__name__, "signature": SIGNATURE,
        "inputs": {"x": ["float32", [None, int(estimator.n_features_in_)]]},
        "outputs": {"cluster": ["int64", [None]],
                    "probabilities": ["float32", [None, int(n_outputs)]],
                    "embedding": ["float32", [None, embedding_dim]]},
    })
    staging = staging_dir(out)
    try:
        with Stage(f"writing the SavedModel to '{out}'", verbose):
            archive.write_out(os.fspath(staging), verbose=False)
        atomic_write(staging / EXPORT_INFO, json.dumps(info, indent=1) + "\n")
        swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if verbose:
        print(f"[kdc] exported a SavedModel to {out} (signature {SIGNATURE!r})", flush=True)
    return out


class ServingHead(collections.namedtuple("ServingHead", "function tracked info n_outputs")):
    """What an estimator's ``export_head`` hook gives :func:`export`.

    Attributes:
        function: a function ``(z, x)`` of the float32 embedding tensor ``z``
            and the scaled input rows ``x`` (flat, float32; N2D's head reads
            them with a ``manifold_input`` other than the embedding) returning
            ``(cluster, probabilities)`` tensors, in TensorFlow ops.
        tracked: Keras models the function uses (tracked by the SavedModel).
        info: dict recorded in ``kdc_export.json`` (``"head"`` names the head).
        n_outputs: int, the width of ``probabilities``.
    """


def squared_distances(z, centers):
    import tensorflow as tf

    c = tf.constant(np.asarray(centers, dtype="float64"))
    return tf.reduce_sum(tf.square(tf.cast(z, tf.float64)[:, None, :] - c[None, :, :]), axis=-1)


def student_t_head(z, centers, alpha):
    """Nearest centre and DEC's Student-t q, as AEKMeans/DEC ``predict``/``predict_proba``."""
    import tensorflow as tf

    d2 = squared_distances(z, centers)
    logits = -(alpha + 1.0) / 2.0 * tf.math.log1p(d2 / alpha)
    return tf.argmin(d2, axis=1), tf.nn.softmax(logits, axis=1)


def gmm_terms(gmm):
    """(L, shift, bias) with log p_k(x) + log w_k = bias_k - |x @ L_k - shift_k|^2 / 2.

    The same terms as scikit-learn's ``_estimate_log_gaussian_prob``, for
    every ``covariance_type``, as float64 arrays of shapes (k, d, d), (k, d), (k,).
    """
    means = np.asarray(gmm.means_, "float64")
    k, d = means.shape
    chol = np.asarray(gmm.precisions_cholesky_, "float64")
    kind = gmm.covariance_type
    if kind == "full":
        chol_k = chol
    elif kind == "tied":
        chol_k = np.broadcast_to(chol, (k, d, d))
    elif kind == "diag":
        chol_k = np.stack([np.diag(c) for c in chol])
    else:  # spherical
        chol_k = np.stack([np.eye(d) * c for c in chol])
    log_det = np.log(np.stack([np.diagonal(c) for c in chol_k])).sum(axis=1)
    bias = log_det - 0.5 * d * math.log(2 * math.pi) + np.log(np.asarray(gmm.weights_, "float64"))
    return np.ascontiguousarray(chol_k), np.einsum("kd,kde->ke", means, chol_k), bias


def mixture_logits(m, terms):
    """Weighted log-likelihoods (n, k) of rows of ``m`` under the mixture ``terms`` (keras.ops)."""
    chol_k, shift, bias = terms
    proj = keras.ops.einsum("nd,kde->nke", m, chol_k)
    return bias[None] - 0.5 * keras.ops.sum(keras.ops.square(proj - shift[None]), axis=-1)


def gmm_head(m, gmm):
    """A fitted GaussianMixture's predict/predict_proba, in float64 TF ops."""
    import tensorflow as tf

    terms = [tf.constant(t) for t in gmm_terms(gmm)]
    logits = mixture_logits(tf.cast(m, tf.float64), terms)
    return tf.argmax(logits, axis=1), tf.nn.softmax(logits, axis=1)


class _MixtureLogits(keras.layers.Layer):
    """Fixed mixture log-likelihoods of the mapped points (used only to train the map)."""

    def __init__(self, terms, **kwargs):
        super().__init__(**kwargs)
        self.terms = [np.asarray(t, "float32") for t in terms]

    def call(self, m):
        return mixture_logits(m, [keras.ops.convert_to_tensor(t) for t in self.terms])


def fit_parametric_map(z, target, *, labels=None, mixture=None, seed=None, epochs=None,
                       batch_size=256, verbose=0):
    """Train a small Keras network mapping embeddings ``z`` to manifold coordinates ``target``.

    A parametric stand-in for UMAP's ``transform`` (as umap-learn's
    ParametricUMAP, but fitted to an existing embedding by regression): three
    hidden ReLU layers of 512, targets standardised inside the model. With
    ``labels`` and ``mixture``, a cross-entropy term through the fixed mixture
    posterior keeps mapped points inside their cluster, which matters more
    for serving than the exact coordinates.

    Args:
        z: array of shape (n_samples, d), the autoencoder embedding.
        target: array of shape (n_samples, n_components), the fitted
            manifold coordinates of the same rows.
        labels: optional int array of shape (n_samples,), the fitted clusters.
        mixture: optional ``(L, shift, bias)`` terms of the clusterer (see
            ``gmm_terms``), needed with ``labels``.
        seed: int or None.
        epochs: int or None (about 2,000,000 samples seen, at least 5 epochs;
            data under 25,600 rows are repeated to make up an epoch).
        batch_size: int.
        verbose: 0 silent, else one line when done.

    Returns:
        A ``keras.Sequential`` model from (d,) to (n_components,).
    """
    z = np.asarray(z, "float32")
    target = np.asarray(target, "float32")
    mean, std = target.mean(axis=0), target.std(axis=0) + 1e-6
    if seed is not None:
        keras.utils.set_random_seed(int(seed) % 2**31)
    rows = np.arange(z.shape[0])
    if z.shape[0] < _MAP_MIN_ROWS:  # small data: repeat rows so an epoch has enough steps
        rows = np.tile(rows, math.ceil(_MAP_MIN_ROWS / z.shape[0]))
    n = rows.shape[0]
    epochs = epochs or int(max(math.ceil(_MAP_SAMPLES / n), 5))
    layers = [keras.layers.Dense(_MAP_WIDTH, activation="relu") for _ in range(_MAP_DEPTH)]
    layers.append(keras.layers.Dense(target.shape[1]))
    rescale = keras.layers.Rescaling(std, offset=mean)
    inputs = keras.Input((z.shape[1],))
    coords = inputs
    for layer in layers:
        coords = layer(coords)
    outputs, losses, ys = [coords], ["mse"], [((target - mean) / std)[rows]]
    if labels is not None:
        outputs.append(_MixtureLogits(mixture)(rescale(coords)))
        losses.append(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        ys.append(np.asarray(labels, "int64")[rows])
    trainer = keras.Model(inputs, outputs)
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-3, decay_steps=epochs * math.ceil(n / batch_size))
    trainer.compile(optimizer=keras.optimizers.Adam(schedule), loss=losses)
    with Stage(f"training the parametric map on {len(rows)} rows, {epochs} epochs", verbose):
        history = trainer.fit(z[rows], ys, epochs=epochs, batch_size=batch_size, shuffle=True,
                              verbose=0)
    if verbose:
        print(f"[kdc] parametric map trained for {epochs} epochs, final loss "
              f"{history.history['loss'][-1]:.4f}", flush=True)
    # The same layers, then undo the standardisation.
    return keras.Sequential([keras.Input((z.shape[1],)), *layers, rescale], name="parametric_map")
