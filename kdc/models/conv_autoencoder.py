"""Convolutional autoencoder for image input (DCEC-style)."""

import math

import keras

from kdc._validation import check_choice, check_int
from kdc.models.autoencoder import _check_dims, deserialize_activations, serialize_activation


def _check_image_shape(input_shape):
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            "input_shape must be (height, width) or (height, width, channels) with positive "
            f"sizes. Received: input_shape={input_shape!r}"
        )
    return shape


@keras.saving.register_keras_serializable(package="kdc")
class ConvAutoencoder(keras.Model):
    """Convolutional autoencoder: strided convolutions -> dense embedding -> transposed convolutions.

    The encoder is DCEC's (Guo et al., 2017): convolutions with 32, 64 and 128
    filters, each halving the image, then a linear dense embedding. The
    decoder mirrors it with transposed convolutions and crops the output back
    to the input size, so any height and width work (28x28 MNIST, 16x16 USPS...).

    Args:
        input_shape: (height, width) or (height, width, channels).
        filters: sequence of ints, filters of each strided convolution.
        embedding_dim: int, size of the linear embedding.
        activation: activation of the convolutions.
        kernel_size: int, size of the convolution kernels.
        output_activation: activation of the reconstruction (``None``: linear).
        **kwargs: passed to ``keras.Model``.

    Example:
        >>> ae = ConvAutoencoder((28, 28, 1), embedding_dim=10)
        >>> ae.compile(optimizer="adam", loss="mse")
        >>> ae.fit(images, images, epochs=10)   # images of shape (n, 28, 28, 1)
    """

    def __init__(self, input_shape, filters=(32, 64, 128), embedding_dim=10,
                 activation="relu", kernel_size=5, output_activation=None, padding="same",
                 **kwargs):
        super().__init__(**kwargs)
        self.image_shape = _check_image_shape(input_shape)
        self.filters = _check_dims(filters, "filters")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", minimum=1)
        self.activation = activation
        self.kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
        self.output_activation = output_activation
        self.padding = check_choice(padding, "padding", ("same",))
        h, w, c = self.image_shape
        factor = 2 ** len(self.filters)
        self._bottleneck = (math.ceil(h / factor), math.ceil(w / factor), self.filters[-1])

        enc = [keras.Input(self.image_shape)]
        for i, f in enumerate(self.filters):
            enc.append(keras.layers.Conv2D(f, self.kernel_size, strides=2, padding="same",
                                           activation=activation, name=f"encoder_conv_{i}"))
        enc += [keras.layers.Flatten(name="encoder_flatten"),
                keras.layers.Dense(self.embedding_dim, name="embedding")]
        self.encoder = keras.Sequential(enc, name="encoder")

        bh, bw, bc = self._bottleneck
        dec = [keras.Input((self.embedding_dim,)),
               keras.layers.Dense(bh * bw * bc, activation=activation, name="decoder_dense"),
               keras.layers.Reshape((bh, bw, bc), name="decoder_reshape")]
        for i, f in enumerate(self.filters[-2::-1]):
            dec.append(keras.layers.Conv2DTranspose(
                f, self.kernel_size, strides=2, padding="same", activation=activation,
                name=f"decoder_deconv_{i}"))
        dec.append(keras.layers.Conv2DTranspose(
            c, self.kernel_size, strides=2, padding="same", activation=output_activation,
            name="reconstruction"))
        ph, pw = bh * factor - h, bw * factor - w
        if ph or pw:
            dec.append(keras.layers.Cropping2D(((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)),
                                               name="decoder_crop"))
        self.decoder = keras.Sequential(dec, name="decoder")

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def encode(self, x, batch_size=1024, verbose=0):
        """Embed images ``x`` (numpy in, numpy out) with the encoder."""
        return self.encoder.predict(x, batch_size=batch_size, verbose=verbose)

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": list(self.image_shape),
            "filters": list(self.filters),
            "embedding_dim": self.embedding_dim,
            "activation": serialize_activation(self.activation),
            "kernel_size": self.kernel_size,
            "output_activation": serialize_activation(self.output_activation),
            "padding": self.padding,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_activations(config))
