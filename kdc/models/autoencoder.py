"""Dense and denoising autoencoders as subclassed Keras models.

The encoder ends in a linear embedding layer and the decoder in a linear
reconstruction layer, as in DEC, IDEC and N2D. Both halves are
``keras.Sequential`` models available as ``.encoder`` and ``.decoder`` and can
be used on their own once the autoencoder is trained.
"""

import numbers

import keras

from kdc._validation import check_choice, check_float, check_int
from kdc.layers.noise import MaskingNoise


def _check_dims(hidden_dims, name="hidden_dims"):
    try:
        dims = tuple(hidden_dims)
    except TypeError:
        dims = None
    if isinstance(hidden_dims, str) or dims is None or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in dims
    ):
        raise ValueError(
            f"{name} must be a sequence of positive ints, e.g. (500, 500, 2000). "
            f"Received: {name}={hidden_dims!r}"
        )
    return tuple(int(d) for d in dims)  # plain ints: numpy ints are not JSON-serializable


def serialize_activation(activation):
    """An activation (name, callable or None) as it goes into a config."""
    return keras.activations.serialize(keras.activations.get(activation))


def deserialize_activations(config, keys=("activation", "output_activation")):
    """A copy of ``config`` with the serialised activations under ``keys`` restored."""
    config = dict(config)
    for key in keys:
        if isinstance(config.get(key), dict):
            config[key] = keras.activations.deserialize(config[key])
    return config


@keras.saving.register_keras_serializable(package="kdc")
class DenseAutoencoder(keras.Model):
    """Fully connected autoencoder: input -> hidden_dims -> embedding -> reversed -> input.

    The default ``d-500-500-2000-10`` architecture is the one of DEC, IDEC and
    N2D. Train it like any Keras model on (x, x) with a mean squared error loss.

    Args:
        input_dim: int, the number of input features.
        hidden_dims: sequence of ints, the encoder's hidden layer sizes; the
            decoder mirrors them.
        embedding_dim: int, the size of the (linear) embedding layer.
        activation: activation of the hidden layers.
        dropout: float in [0, 1), dropout after each hidden layer.
        output_activation: activation of the reconstruction layer (``None`` is
            linear; ``"sigmoid"`` suits data in [0, 1] with a cross-entropy loss).
        kernel_initializer: initializer of every Dense kernel.
        **kwargs: passed to ``keras.Model`` (``name``, ``dtype``...).

    Example:
        >>> ae = DenseAutoencoder(784, embedding_dim=10)
        >>> ae.compile(optimizer="adam", loss="mse")
        >>> ae.fit(x, x, epochs=10, batch_size=256)
        >>> z = ae.encoder.predict(x)  # shape (n_samples, 10)
    """

    def __init__(self, input_dim, hidden_dims=(500, 500, 2000), embedding_dim=10,
                 activation="relu", dropout=0.0, output_activation=None,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.input_dim = check_int(input_dim, "input_dim", minimum=1)
        self.hidden_dims = _check_dims(hidden_dims)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", minimum=1)
        self.activation = activation
        self.dropout = check_float(dropout, "dropout", minimum=0.0, maximum=1.0,
                                   exclusive_max=True)
        self.output_activation = output_activation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.encoder = self._stack(self.input_dim, self.hidden_dims, self.embedding_dim,
                                   name="encoder")
        self.decoder = self._stack(self.embedding_dim, self.hidden_dims[::-1], self.input_dim,
                                   name="decoder", output_activation=output_activation)

    def _stack(self, input_dim, dims, output_dim, name, output_activation=None):
        layers = [keras.Input((input_dim,))]
        for i, units in enumerate(dims):
            layers.append(keras.layers.Dense(
                units, activation=self.activation, name=f"{name}_dense_{i}",
                kernel_initializer=self._initializer()))
            if self.dropout:
                layers.append(keras.layers.Dropout(self.dropout, name=f"{name}_dropout_{i}"))
        out_name = "embedding" if name == "encoder" else "reconstruction"
        layers.append(keras.layers.Dense(output_dim, activation=output_activation,
                                         name=out_name, kernel_initializer=self._initializer()))
        return keras.Sequential(layers, name=name)

    def _initializer(self):
        # A fresh initializer object per layer, so a seeded initializer does not
        # give every layer of the same shape the same weights.
        return self.kernel_initializer.__class__.from_config(self.kernel_initializer.get_config())

    def corrupt(self, inputs, training=False):
        """The input the encoder sees; identity here, noise in the denoising variant."""
        return inputs

    def call(self, inputs, training=False):
        z = self.encoder(self.corrupt(inputs, training=training), training=training)
        return self.decoder(z, training=training)

    def encode(self, x, batch_size=1024, verbose=0):
        """Embed ``x`` (numpy in, numpy out) with the encoder."""
        return self.encoder.predict(x, batch_size=batch_size, verbose=verbose)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "hidden_dims": list(self.hidden_dims),
            "embedding_dim": self.embedding_dim,
            "activation": serialize_activation(self.activation),
            "dropout": self.dropout,
            "output_activation": serialize_activation(self.output_activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_activations(config))


@keras.saving.register_keras_serializable(package="kdc")
class DenoisingAutoencoder(DenseAutoencoder):
    """Dense autoencoder trained to reconstruct clean inputs from corrupted ones.

    The corruption is applied only while training (``training=True``), so
    ``encoder`` and inference see clean data. ``input_dim``, ``hidden_dims``,
    ``embedding_dim``, ``activation``, ``dropout``, ``output_activation`` and
    ``kernel_initializer`` are as in :class:`DenseAutoencoder`.

    Args:
        noise: ``"gaussian"`` (additive, standard deviation ``noise_level``)
            or ``"masking"`` (a ``noise_level`` fraction of inputs set to 0).
        noise_level: float in (0, 1] (gaussian) or in (0, 1) (masking).
        seed: optional int seed of the corruption.

    Example:
        >>> ae = DenoisingAutoencoder(784, noise="masking", noise_level=0.2)
        >>> ae.compile(optimizer="adam", loss="mse")
        >>> ae.fit(x, x, epochs=10)   # targets are the clean inputs
    """

    def __init__(self, input_dim, hidden_dims=(500, 500, 2000), embedding_dim=10,
                 activation="relu", dropout=0.0, output_activation=None,
                 kernel_initializer="glorot_uniform", noise="gaussian", noise_level=0.2,
                 seed=None, **kwargs):
        super().__init__(input_dim, hidden_dims, embedding_dim, activation, dropout,
                         output_activation, kernel_initializer, **kwargs)
        self.noise = check_choice(noise, "noise", ("gaussian", "masking"))
        # Masking zeroes a fraction in (0, 1); keras.layers.GaussianNoise takes a
        # standard deviation in (0, 1] (the data are scaled to [0, 1]).
        self.noise_level = check_float(noise_level, "noise_level", minimum=0.0,
                                       exclusive_min=True, maximum=1.0,
                                       exclusive_max=noise == "masking")
        self.seed = check_int(seed, "seed", minimum=0, allow_none=True)
        if noise == "gaussian":
            self.noise_layer = keras.layers.GaussianNoise(self.noise_level, seed=seed,
                                                          name="corruption")
        else:
            self.noise_layer = MaskingNoise(self.noise_level, seed=seed, name="corruption")

    def corrupt(self, inputs, training=False):
        return self.noise_layer(inputs, training=training)

    def get_config(self):
        return {**super().get_config(), "noise": self.noise, "noise_level": self.noise_level,
                "seed": self.seed}
