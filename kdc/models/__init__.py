"""Keras models of kdc: autoencoders and the DEC/IDEC self-training models."""

from kdc.models.autoencoder import DenoisingAutoencoder, DenseAutoencoder
from kdc.models.conv_autoencoder import ConvAutoencoder
from kdc.models.dec import DEC, IDEC

__all__ = ["ConvAutoencoder", "DEC", "DenoisingAutoencoder", "DenseAutoencoder", "IDEC"]
