"""DEC and IDEC as subclassed Keras models trained with Keras' own ``fit``.

Both models map inputs to the soft cluster assignments Q of a
:class:`~kdc.layers.ClusteringLayer` on top of an encoder, and override
``compute_loss`` so that Keras' compiled ``train_step`` (loss scaling,
metrics, callbacks, distribution) does the training. The self-training target
P is fed as ``y``, either directly or as sample indices into a stored target
(see :class:`DEC`).
"""

import keras
from keras import ops

from kdc._validation import _describe, check_float
from kdc.models._self_training import (
    _check_embedding_shape,
    _check_layer,
    _predict_with,
    _SelfTrainingModel,
    _static_output_shape,
)


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
        augmentation: None, or a Keras layer applied to the inputs before the
            encoder while training only (e.g. :class:`kdc.layers.RandomShift`);
            ``predict`` and the target distribution see the inputs as they are.
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

    def __init__(self, encoder, n_clusters, alpha=1.0, augmentation=None, **kwargs):
        super().__init__(n_clusters, alpha, augmentation, **kwargs)
        self.encoder = _check_layer(encoder, "encoder")
        shape = _static_output_shape(encoder)
        if shape is not None:
            _check_embedding_shape(shape, "encoder")

    def call(self, inputs, training=False):
        return super().call(self._augment(inputs, training), training)

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
        return cls(**cls._deserialize_augmentation(config))


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
        augmentation: None, or a Keras layer applied to the inputs of the
            training loss (e.g. :class:`kdc.layers.RandomShift`): the encoder
            embeds, and the decoder reconstructs, the augmented batch.
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

    def __init__(self, autoencoder, n_clusters, alpha=1.0, gamma=0.1, augmentation=None,
                 **kwargs):
        super().__init__(n_clusters, alpha, augmentation, **kwargs)
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
        x = self._augment(x, training)
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
        return cls(**cls._deserialize_augmentation(config))
