"""kdc: deep clustering for Keras 3.

Autoencoders, AE + k-means, DEC, IDEC and N2D as scikit-learn estimators
built on Keras models, with metrics, datasets and a command line.

``import kdc`` is quick: the estimators and Keras building blocks, hence
TensorFlow, are imported on first use. TensorFlow's own C++ and absl log
lines (start-up notes, a CUDA error on a machine without a GPU) are hidden
unless you set ``KDC_DEBUG=1`` or ``TF_CPP_MIN_LOG_LEVEL`` yourself; Python
warnings and errors always show.

Example:
    >>> import kdc
    >>> x, y = kdc.datasets.load("digits")
    >>> est = kdc.N2D(n_clusters=10, random_state=0).fit(x)
    >>> kdc.metrics.evaluate(y, est.labels_)
"""

import importlib
import typing

from kdc import _quiet
from kdc._version import __version__

# TensorFlow's C++ start-up notes (CUDA probing, CPU features) and absl's log
# lines hide kdc's own output: silenced before TensorFlow is imported, unless
# the user asks for them (KDC_DEBUG=1, or their own TF_CPP_MIN_LOG_LEVEL); see
# kdc._quiet.
_quiet.quiet()

# The public names are imported on first use (the module __getattr__ below), so
# that ``import kdc`` and ``kdc --help`` load neither TensorFlow nor Keras.
# {submodule: whether it needs TensorFlow}
_SUBMODULES = {"callbacks": True, "cluster": True, "datasets": False, "layers": True,
               "losses": True, "metrics": False, "models": True, "plot": False,
               "saving": True, "select": False, "serving": True, "training": True}
_NAMES = {"AEKMeans": "kdc.cluster", "BaseDeepClusterer": "kdc.cluster", "DEC": "kdc.cluster",
          "IDEC": "kdc.cluster", "N2D": "kdc.cluster", "load": "kdc.saving"}
# kdc.load knows the estimators only once they are imported (each registers itself
# with kdc.saving when it is defined).
_NEEDS_ESTIMATORS = ("load", "saving")

if typing.TYPE_CHECKING:  # type checkers and the API reference see the names statically
    from kdc import (callbacks, datasets, layers, losses, metrics, models, plot, select,
                     training)
    from kdc.cluster import DEC, IDEC, AEKMeans, BaseDeepClusterer, N2D
    from kdc.saving import load


def __getattr__(name):
    """Import a public name of kdc on first use (TensorFlow quietly, see kdc._quiet)."""
    if name not in _SUBMODULES and name not in _NAMES:
        raise AttributeError(f"module 'kdc' has no attribute {name!r}")
    if _SUBMODULES.get(name, True):
        _quiet.import_keras()
    if name in _NEEDS_ESTIMATORS:
        importlib.import_module("kdc.cluster")
    if name in _SUBMODULES:
        value = importlib.import_module(f"kdc.{name}")
    else:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


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
