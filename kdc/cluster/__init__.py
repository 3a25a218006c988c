"""scikit-learn estimators of kdc."""

from kdc.cluster._base import BaseDeepClusterer
from kdc.cluster.aekmeans import AEKMeans
from kdc.cluster.dec import DEC, IDEC
from kdc.cluster.n2d import N2D

__all__ = ["AEKMeans", "BaseDeepClusterer", "DEC", "IDEC", "N2D"]
