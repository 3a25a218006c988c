"""Keras layers of kdc."""

from kdc.layers.clustering import ClusteringLayer
from kdc.layers.noise import MaskingNoise

__all__ = ["ClusteringLayer", "MaskingNoise"]
