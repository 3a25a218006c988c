"""Shared machinery of the DEC and IDEC Keras models (private).

:class:`_SelfTrainingModel` holds what both models have in common: the
:class:`~kdc.layers.ClusteringLayer` on top of an encoder, the stored target
distribution P (fed to ``fit`` as sample indices), the KL(P || Q) loss, k-means
initialisation and the guarded ``fit``/``predict`` wrappers. The public models
are in :mod:`kdc.models.dec`.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from kdc._keras_utils import call_in_chunks
from kdc._validation import _describe, check_int, check_n_clusters
from kdc.layers.clustering import ClusteringLayer
from kdc.losses import KLDivergence
from kdc.losses import target_distribution as _target_distribution

_NO_TARGET = (
    "{cls} needs the target distribution P as y. Pass it directly, "
    "model.fit(x, model.target_distribution(x)), or pass integer sample indices, "
    "model.fit(x, np.arange(len(x)), callbacks=[kdc.callbacks.TargetDistributionUpdate(x)]). "
    "Received: y={y}"
)


def _check_layer(layer, name):
    if not isinstance(layer, keras.layers.Layer):
        raise ValueError(
            f"{name} must be a Keras layer or model. Received: {name}={_describe(layer)}")
    return layer


def _check_embedding_shape(shape, name):
    shape = tuple(shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"{name} must output 2-D embeddings of shape (batch_size, embedding_dim). "
            f"Received: {name} output of shape {shape}. End the encoder with a "
            "keras.layers.Flatten() or a Dense layer."
        )


def _static_output_shape(layer):
    """The output shape of a built functional/Sequential model, else None."""
    try:
        outputs = layer.outputs
    except (AttributeError, ValueError):
        return None
    if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
        return tuple(outputs[0].shape)
    return None


def _predict_with(layer, x, batch_size, verbose=0):
    if isinstance(layer, keras.Model):
        out = layer.predict(x, batch_size=batch_size, verbose=verbose)
    else:
        out = call_in_chunks(layer, x, batch_size)
    return np.asarray(out, dtype="float32")


class _SelfTrainingModel(keras.Model):
    """Shared machinery of DEC and IDEC: clustering head, target P, KL loss."""

    _encoder_name = "encoder"

    def __init__(self, n_clusters, alpha=1.0, augmentation=None, **kwargs):
        super().__init__(**kwargs)
        if augmentation is not None:
            _check_layer(augmentation, "augmentation")
        self.augmentation = augmentation
        self.clustering = ClusteringLayer(n_clusters, alpha, name="clustering")
        self.n_clusters = self.clustering.n_clusters
        self.alpha = self.clustering.alpha
        self.kl_loss = KLDivergence(name="clustering_loss")
        self._target = None

    # ----------------------------------------------------------------- building
    def build(self, input_shape):
        z = self.encoder(keras.KerasTensor(tuple(input_shape)))
        _check_embedding_shape(z.shape, self._encoder_name)
        self.clustering.build(tuple(z.shape))
        self._build_head(input_shape, z)

    def _build_head(self, input_shape, z):
        pass

    def _ensure_built(self, x):
        if not self.built:
            self.build((None,) + tuple(np.shape(x)[1:]))

    def _embed(self, inputs, training):
        z = self.encoder(inputs, training=training)
        _check_embedding_shape(z.shape, self._encoder_name)
        return z

    def _augment(self, inputs, training):
        """``inputs`` through ``augmentation`` (which changes them only while training)."""
        if self.augmentation is None:
            return inputs
        return self.augmentation(inputs, training=training)

    def call(self, inputs, training=False):
        return self.clustering(self._embed(inputs, training))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_clusters)

    # ------------------------------------------------------------------ target
    @property
    def target(self):
        """The stored target distribution P (a non-trainable float32 variable of
        shape (n_samples, n_clusters)), or None before :meth:`set_target`."""
        return self._target

    def set_target(self, p):
        """Store the target distribution P for training on sample indices.

        With P stored, ``fit(x, y)`` with integer ``y`` (the row index of each
        sample in ``p``) trains against ``p[y]``. The variable is created, or
        re-created when the number of samples changes (the compiled train
        and test steps are then rebuilt); otherwise it is assigned in place,
        so a compiled step sees the new values. It is not saved with the model.

        Args:
            p: array-like of shape (n_samples, n_clusters).

        Raises:
            ValueError: if ``p`` has the wrong shape or is not finite.
        """
        p = np.asarray(keras.ops.convert_to_numpy(p), dtype="float32")
        if p.ndim != 2 or p.shape[1] != self.n_clusters or p.shape[0] < 1:
            raise ValueError(
                f"p must have shape (n_samples, n_clusters={self.n_clusters}). "
                f"Received: p of shape {p.shape}")
        if not np.isfinite(p).all():
            raise ValueError("p must not contain NaN or infinity.")
        if self._target is not None and tuple(self._target.shape) == p.shape:
            self._target.assign(p)
            return
        # The target is sized by the data, unknown when the model is built, so
        # it is added after build: unlock the (post-build) state tracker.
        locked = self._tracker.locked
        self._tracker.unlock()
        strategy = getattr(self, "_distribute_strategy", None)
        try:
            if self._target is not None:
                self._untrack_variable(self._target)
            with strategy.scope() if strategy is not None else contextlib.nullcontext():
                self._target = self.add_weight(
                    shape=p.shape, initializer="zeros", dtype="float32", trainable=False,
                    autocast=False, name="target")
        finally:
            if locked:
                self._tracker.lock()
        self._target.assign(p)
        # Compiled steps captured the previous variable: rebuild them.
        if getattr(self, "train_function", None) is not None:
            self.make_train_function(force=True)
        if getattr(self, "test_function", None) is not None:
            self.make_test_function(force=True)

    def _resolve_target(self, y):
        if y is None or isinstance(y, (list, tuple, dict)):
            raise ValueError(_NO_TARGET.format(cls=type(self).__name__, y=_describe(y)))
        dtype = keras.backend.standardize_dtype(y.dtype)
        if "int" in dtype:
            if self._target is None:
                raise ValueError(
                    "y holds integer sample indices, but no target distribution is stored. "
                    "Add kdc.callbacks.TargetDistributionUpdate(x) to the callbacks or call "
                    "model.set_target(model.target_distribution(x)) before fit.")
            return ops.take(self._target, ops.reshape(ops.cast(y, "int32"), (-1,)), axis=0)
        if len(y.shape) != 2 or y.shape[-1] not in (None, self.n_clusters):
            raise ValueError(
                f"y must be the target distribution of shape (batch_size, "
                f"n_clusters={self.n_clusters}) or integer sample indices of shape "
                f"(batch_size,). Received: y of shape {tuple(y.shape)} and dtype {dtype}")
        return ops.stop_gradient(ops.cast(y, "float32"))

    def _with_regularization(self, loss):
        for extra in self.losses:
            loss = loss + ops.cast(ops.sum(extra), "float32")
        return loss

    # ---------------------------------------------------------------- training
    def compile(self, optimizer="adam", loss=None, **kwargs):
        """Configure training; the model supplies its own loss.

        Args:
            optimizer: a Keras optimizer or its name.
            loss: must be None (the loss is built in, see ``compute_loss``).
            **kwargs: passed to ``keras.Model.compile`` (``metrics``,
                ``jit_compile``, ``steps_per_execution``...).
        """
        if loss is not None:
            raise ValueError(
                f"{type(self).__name__} computes its own loss; call compile() without "
                f"loss. Received: loss={_describe(loss)}")
        super().compile(optimizer=optimizer, **kwargs)

    def _run_guarded(self, method, function_name, x, args, kwargs):
        # Build eagerly so that variables are not created inside the first trace,
        # and drop a compiled step whose first trace failed (e.g. no target P):
        # Keras would otherwise reuse the broken function on the next call.
        if not self.built and hasattr(x, "shape") and len(x.shape) >= 2:
            self._ensure_built(x)
        try:
            return method(x, *args, **kwargs)
        except ValueError:
            setattr(self, function_name, None)
            raise

    def fit(self, x=None, *args, **kwargs):
        return self._run_guarded(super().fit, "train_function", x, args, kwargs)

    def train_on_batch(self, x, *args, **kwargs):
        return self._run_guarded(super().train_on_batch, "train_function", x, args, kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return self._run_guarded(super().evaluate, "test_function", x, args, kwargs)

    def test_on_batch(self, x, *args, **kwargs):
        return self._run_guarded(super().test_on_batch, "test_function", x, args, kwargs)

    def predict(self, x, *args, **kwargs):
        return self._run_guarded(super().predict, "predict_function", x, args, kwargs)

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def save_own_variables(self, store):
        # The target P is training state sized by the data set: not saved.
        for i, v in enumerate(self._own_saved_variables()):
            store[f"{i}"] = v

    def load_own_variables(self, store):
        own = self._own_saved_variables()
        if len(store.keys()) != len(own):
            raise ValueError(
                f"{self.name} expects {len(own)} variable(s) of its own in the file, "
                f"found {len(store.keys())}.")
        for i, v in enumerate(own):
            v.assign(store[f"{i}"])

    def _own_saved_variables(self):
        return [v for v in self._trainable_variables + self._non_trainable_variables
                if v is not self._target]

    # --------------------------------------------------------------- utilities
    @property
    def cluster_centers(self):
        """The cluster centres, numpy array of shape (n_clusters, embedding_dim)."""
        return self.clustering.get_centers()

    def embed(self, x, batch_size=256, verbose=0):
        """The encoder's embedding of ``x`` (numpy in, float32 numpy out)."""
        self._ensure_built(x)
        return _predict_with(self.encoder, x, batch_size, verbose)

    def initialize_clusters(self, x, n_init=20, random_state=None, batch_size=256):
        """Set the centres to those of k-means on the embedding of ``x``.

        Args:
            x: array-like of shape (n_samples, ...) accepted by the encoder.
            n_init: int >= 1, the number of k-means restarts.
            random_state: int, RandomState or None, seeds k-means.
            batch_size: batch size of the embedding pass.

        Returns:
            The k-means labels, int array of shape (n_samples,).
        """
        from sklearn.cluster import KMeans

        n_init = check_int(n_init, "n_init", minimum=1)
        z = self.embed(x, batch_size=batch_size)
        check_n_clusters(self.n_clusters, n_samples=len(z))
        kmeans = KMeans(self.n_clusters, n_init=n_init, random_state=random_state).fit(z)
        self.clustering.set_centers(kmeans.cluster_centers_)
        return kmeans.labels_.astype("int64")

    def target_distribution(self, x, batch_size=256):
        """The target P over the whole of ``x``: one predict pass, then
        :func:`kdc.losses.target_distribution`. Float32 numpy (n_samples, n_clusters)."""
        q = self.predict(x, batch_size=batch_size, verbose=0)
        return _target_distribution(np.asarray(q, dtype="float32"))

    def predict_labels(self, x, batch_size=256):
        """Hard cluster labels, ``argmax_j q_ij``, int array of shape (n_samples,)."""
        return np.argmax(self.predict(x, batch_size=batch_size, verbose=0), axis=1)

    def get_config(self):
        config = {**super().get_config(), "n_clusters": self.n_clusters, "alpha": self.alpha}
        if self.augmentation is not None:
            config["augmentation"] = keras.saving.serialize_keras_object(self.augmentation)
        return config

    @staticmethod
    def _deserialize_augmentation(config):
        if config.get("augmentation") is not None:
            config["augmentation"] = keras.saving.deserialize_keras_object(config["augmentation"])
        return config
