"""DEC and IDEC as subclassed Keras models trained with Keras' own ``fit``.

Both models map inputs to the soft cluster assignments Q of a
:class:`~kdc.layers.ClusteringLayer` on top of an encoder, and override
``compute_loss`` so that Keras' compiled ``train_step`` (loss scaling,
metrics, callbacks, distribution) does the training. The self-training target
P is fed as ``y``, either directly or as sample indices into a stored target
(see :class:`DEC`).
"""

import contextlib

import keras
import numpy as np
from keras import ops

from kdc._validation import _describe, check_float, check_int, check_n_clusters
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
        out = np.concatenate([
            keras.ops.convert_to_numpy(layer(x[i:i + batch_size], training=False))
            for i in range(0, len(x), batch_size)])
    return np.asarray(out, dtype="float32")


class _SelfTrainingModel(keras.Model):
    """Shared machinery of DEC and IDEC: clustering head, target P, KL loss."""

    _encoder_name = "encoder"

    def __init__(self, n_clusters, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
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
        return {**super().get_config(), "n_clusters": self.n_clusters, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="kdc")
class DEC(_SelfTrainingModel):
    """Deep Embedded Clustering (Xie et al., 2016) as a Keras model.

    ``model(x)`` returns the float32 soft assignments Q of shape
    (batch_size, n_clusters) of a :class:`~kdc.layers.ClusteringLayer` on top
    of ``encoder``. Training minimises KL(P || Q) (:class:`kdc.losses.KLDivergence`,
    mean over the batch, plus any regularisation losses of the encoder) in
    Keras' own compiled ``train_step``; ``compile()`` takes no loss.

    The target P is given as ``y`` in one of two forms:

    - float P of shape (batch_size, n_clusters): used as is, e.g.
      ``model.fit(x, model.target_distribution(x))`` (one fixed target per
      ``fit`` call);
    - integer sample indices of shape (batch_size,): the loss uses
      ``model.target[y]``, the target stored by :meth:`set_target`. With
      ``y = np.arange(len(x))`` the indices travel with the samples through
      shuffling, and :class:`kdc.callbacks.TargetDistributionUpdate`
      recomputes P over the whole of ``x`` every ``update_interval`` batches
      inside a single ``fit`` call: the DEC algorithm.

    Args:
        encoder: a Keras layer or model mapping inputs to 2-D embeddings of
            shape (batch_size, embedding_dim), usually a pretrained
            autoencoder's ``.encoder``. It is trained further.
        n_clusters: int >= 2, the number of clusters.
        alpha: float > 0, degrees of freedom of the Student's t kernel.
        **kwargs: passed to ``keras.Model`` (``name``...).

    Raises:
        ValueError: for an invalid argument or an encoder whose output is not 2-D.

    Example:
        >>> ae = kdc.models.DenseAutoencoder(x.shape[1])    # then pretrain it
        >>> model = DEC(ae.encoder, n_clusters=10)
        >>> model.initialize_clusters(x, random_state=0)     # k-means centres
        >>> model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
        >>> model.fit(
        ...     x, np.arange(len(x)), batch_size=256, epochs=20, shuffle=True,
        ...     callbacks=[kdc.callbacks.TargetDistributionUpdate(x, update_interval=140),
        ...                kdc.callbacks.LabelChangeStopping(tol=0.001)])
        >>> labels = model.predict_labels(x)
    """

    def __init__(self, encoder, n_clusters, alpha=1.0, **kwargs):
        super().__init__(n_clusters, alpha, **kwargs)
        self.encoder = _check_layer(encoder, "encoder")
        shape = _static_output_shape(encoder)
        if shape is not None:
            _check_embedding_shape(shape, "encoder")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """KL(P || Q) with P from ``y`` (see the class docstring), Q = ``y_pred``."""
        p = self._resolve_target(y)
        return self._with_regularization(self.kl_loss(p, y_pred, sample_weight))

    def get_config(self):
        return {**super().get_config(),
                "encoder": keras.saving.serialize_keras_object(self.encoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="kdc")
class IDEC(_SelfTrainingModel):
    """Improved DEC (Guo et al., 2017): DEC that keeps the decoder training.

    ``model(x)`` returns the float32 soft assignments Q, like :class:`DEC`;
    :meth:`reconstruct` gives the reconstruction. The loss is::

        L = L_rec + gamma * L_KL

    with ``L_rec`` the mean squared error between ``x`` and
    ``decoder(encoder(x))`` (mean over features and batch) and ``L_KL`` =
    KL(P || Q) (mean over the batch): ``gamma`` weights the *clustering* term,
    as in the paper. ``gamma=0`` trains the autoencoder alone. Both terms are
    computed in float32 and reported as the metrics ``"reconstruction_loss"``
    and ``"clustering_loss"`` beside ``"loss"``. P is fed as ``y`` exactly as
    for :class:`DEC`. The encoder sees clean inputs (a denoising
    autoencoder's corruption is not applied).

    Args:
        autoencoder: a Keras model with ``.encoder`` and ``.decoder`` layers,
            e.g. a pretrained :class:`kdc.models.DenseAutoencoder`; the
            decoder must map the embedding back to the input shape.
        n_clusters: int >= 2, the number of clusters.
        alpha: float > 0, degrees of freedom of the Student's t kernel.
        gamma: float >= 0, the weight of the clustering loss.
        **kwargs: passed to ``keras.Model``.

    Raises:
        ValueError: for an invalid argument, an autoencoder without
            ``.encoder``/``.decoder``, or an encoder whose output is not 2-D.

    Example:
        >>> model = IDEC(ae, n_clusters=10, gamma=0.1)
        >>> model.initialize_clusters(x, random_state=0)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(
        ...     x, np.arange(len(x)), batch_size=256, epochs=20, shuffle=True,
        ...     callbacks=[kdc.callbacks.TargetDistributionUpdate(x, update_interval=140),
        ...                kdc.callbacks.LabelChangeStopping(tol=0.001)])
    """

    _encoder_name = "autoencoder.encoder"

    def __init__(self, autoencoder, n_clusters, alpha=1.0, gamma=0.1, **kwargs):
        super().__init__(n_clusters, alpha, **kwargs)
        self.gamma = check_float(gamma, "gamma", minimum=0.0)
        missing = [a for a in ("encoder", "decoder")
                   if not isinstance(getattr(autoencoder, a, None), keras.layers.Layer)]
        if missing or not isinstance(autoencoder, keras.layers.Layer):
            raise ValueError(
                "autoencoder must be a Keras model with .encoder and .decoder layers, "
                "e.g. kdc.models.DenseAutoencoder. Received: "
                f"autoencoder={_describe(autoencoder)}"
                + (f" without {' and '.join('.' + m for m in missing)}" if missing else ""))
        self.autoencoder = autoencoder
        shape = _static_output_shape(autoencoder.encoder)
        if shape is not None:
            _check_embedding_shape(shape, self._encoder_name)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.clustering_tracker = keras.metrics.Mean(name="clustering_loss")

    @property
    def encoder(self):
        """The autoencoder's encoder."""
        return self.autoencoder.encoder

    @property
    def decoder(self):
        """The autoencoder's decoder."""
        return self.autoencoder.decoder

    def _build_head(self, input_shape, z):
        x_hat = self.decoder(z)
        if tuple(x_hat.shape[1:]) != tuple(input_shape[1:]):
            raise ValueError(
                "autoencoder.decoder must reconstruct the input shape. Received: input of "
                f"shape {tuple(input_shape)} and reconstruction of shape {tuple(x_hat.shape)}")

    def forward(self, inputs, training=False):
        """Soft assignments and reconstruction from one encoder pass.

        Returns:
            A tuple ``(q, x_hat)`` of tensors: q float32 (batch_size, n_clusters),
            x_hat the decoder's output, shaped like ``inputs``.
        """
        z = self._embed(inputs, training)
        return self.clustering(z), self.decoder(z, training=training)

    def reconstruct(self, x, batch_size=256):
        """The reconstruction ``decoder(encoder(x))`` as a float32 numpy array."""
        return _predict_with(self.decoder, self.embed(x, batch_size=batch_size), batch_size)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``L_rec + gamma * KL(P || Q)``, P from ``y`` as for :class:`DEC`.

        Q and the reconstruction come from one forward pass over ``x``
        (``y_pred`` is not used; in a compiled step Keras' own forward pass is
        then dead code and pruned).
        """
        p = self._resolve_target(y)
        q, x_hat = self.forward(x, training=training)
        clustering = self.kl_loss(p, q, sample_weight)
        x32 = ops.cast(x, "float32")
        error = ops.square(x32 - ops.cast(x_hat, "float32"))
        per_sample = ops.mean(ops.reshape(error, (ops.shape(x32)[0], -1)), axis=1)
        if sample_weight is None:
            reconstruction = ops.mean(per_sample)
        else:
            weights = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
            reconstruction = ops.sum(per_sample * weights) / ops.cast(
                ops.shape(per_sample)[0], "float32")
        batch = ops.shape(x32)[0]
        self.reconstruction_tracker.update_state(reconstruction, sample_weight=batch)
        self.clustering_tracker.update_state(clustering, sample_weight=batch)
        return self._with_regularization(reconstruction + self.gamma * clustering)

    def get_config(self):
        return {**super().get_config(),
                "autoencoder": keras.saving.serialize_keras_object(self.autoencoder),
                "gamma": self.gamma}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["autoencoder"] = keras.saving.deserialize_keras_object(config["autoencoder"])
        return cls(**config)
