"""Keras layers of kdc."""

from kdc.layers.clustering import ClusteringLayer
from kdc.layers.noise import MaskingNoise
from kdc.layers.shift import RandomShift

__all__ = ["ClusteringLayer", "MaskingNoise", "RandomShift"]
