"""Building the autoencoder an estimator asks for (its training is kdc.training's)."""

import math

import keras
import numpy as np

from kdc.models.autoencoder import DenoisingAutoencoder, DenseAutoencoder
from kdc.models.conv_autoencoder import ConvAutoencoder

AUTOENCODERS = ("dense", "denoising", "conv")


def image_shape_of(input_shape):
    """(h, w, c) for image-shaped samples, inferring square images from flat ones."""
    if len(input_shape) == 3:
        return tuple(input_shape)
    if len(input_shape) == 2:
        return tuple(input_shape) + (1,)
    side = math.isqrt(input_shape[0])
    if side * side == input_shape[0]:
        return (side, side, 1)
    raise ValueError(
        "autoencoder='conv' needs images: x of shape (n_samples, height, width[, channels]) "
        "or flat rows whose length is a perfect square. Received samples of shape "
        f"{tuple(input_shape)}. Use autoencoder='dense' for tabular data."
    )


def build_autoencoder(autoencoder, input_shape, hidden_dims, embedding_dim, params=None,
                      seed=None):
    """Create the autoencoder an estimator asked for.

    Args:
        autoencoder: "dense", "denoising", "conv" or a Keras autoencoder (a
            ``keras.Model`` with ``encoder`` and ``decoder`` attributes), which
            is copied, weights included, so the caller's model is not modified.
        input_shape: shape of one sample as given to ``fit``.
        hidden_dims, embedding_dim: architecture of the dense variants.
        params: optional dict of extra constructor arguments.
        seed: seed of the denoising corruption.

    Returns:
        (model, model_input_shape): the model and the per-sample shape it takes.
    """
    params = dict(params or {})
    if isinstance(autoencoder, keras.Model):
        for attr in ("encoder", "decoder"):
            if not isinstance(getattr(autoencoder, attr, None), keras.layers.Layer):
                raise ValueError(
                    "autoencoder must be 'dense', 'denoising', 'conv' or a keras.Model with "
                    f"`encoder` and `decoder` attributes. Received: a {type(autoencoder).__name__} "
                    f"without a `{attr}` layer."
                )
        model = autoencoder.__class__.from_config(autoencoder.get_config())
        for attr in ("encoder", "decoder"):
            # A functional model with `encoder`/`decoder` attached by hand comes
            # back from from_config without them: find the copied sub-models.
            if not isinstance(getattr(model, attr, None), keras.layers.Layer):
                try:
                    setattr(model, attr, model.get_layer(getattr(autoencoder, attr).name))
                except ValueError:
                    raise ValueError(
                        f"autoencoder could not be copied: its copy made with from_config has no "
                        f"`{attr}` and no layer named {getattr(autoencoder, attr).name!r}. "
                        f"Received: a {type(autoencoder).__name__}. Subclass keras.Model and "
                        "create `encoder` and `decoder` in __init__ (see "
                        "kdc.models.DenseAutoencoder)."
                    ) from None
        model_shape = tuple(autoencoder.encoder.input_shape[1:]) if getattr(
            autoencoder.encoder, "inputs", None) else (int(np.prod(input_shape)),)
        if None in model_shape or int(np.prod(model_shape)) != int(np.prod(input_shape)):
            raise ValueError(
                f"autoencoder must take samples with as many values as x: its encoder takes "
                f"samples of shape {model_shape}. Received: x with samples of shape "
                f"{tuple(input_shape)} ({int(np.prod(input_shape))} values)."
            )
        model(np.zeros((1,) + model_shape, dtype="float32"))
        if autoencoder.built:
            model.set_weights(autoencoder.get_weights())
        return model, model_shape
    if not isinstance(autoencoder, str) or autoencoder not in AUTOENCODERS:
        raise ValueError(
            "autoencoder must be one of 'dense', 'denoising', 'conv' or a keras.Model with "
            f"`encoder` and `decoder` attributes. Received: autoencoder={autoencoder!r}"
        )
    if autoencoder == "conv":
        shape = image_shape_of(input_shape)
        params.setdefault("embedding_dim", embedding_dim)
        return ConvAutoencoder(shape, **params), shape
    n_features = int(np.prod(input_shape))
    cls = DenseAutoencoder if autoencoder == "dense" else DenoisingAutoencoder
    if autoencoder == "denoising":
        params.setdefault("seed", seed)
    model = cls(n_features, hidden_dims=hidden_dims, embedding_dim=embedding_dim, **params)
    return model, (n_features,)
