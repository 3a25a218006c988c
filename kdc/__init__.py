"""kdc: deep clustering for Keras 3.

Autoencoders, AE + k-means, DEC, IDEC and N2D as scikit-learn estimators
built on Keras models, with metrics, datasets and a command line.

Example:
    >>> import kdc
    >>> x, y = kdc.datasets.load("digits")
    >>> est = kdc.N2D(n_clusters=10, random_state=0).fit(x)
    >>> kdc.metrics.evaluate(y, est.labels_)
"""

import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU feature notes) hides
# kdc's own output; keep it quiet unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kdc._version import __version__  # noqa: E402
from kdc import (callbacks, datasets, layers, losses, metrics, models, plot,  # noqa: E402
                 select, training)
from kdc.cluster import DEC, IDEC, AEKMeans, BaseDeepClusterer, N2D  # noqa: E402
from kdc.saving import load  # noqa: E402

__all__ = [
    "AEKMeans",
    "BaseDeepClusterer",
    "DEC",
    "IDEC",
    "N2D",
    "__version__",
    "callbacks",
    "datasets",
    "layers",
    "load",
    "losses",
    "metrics",
    "models",
    "plot",
    "select",
    "training",
]
