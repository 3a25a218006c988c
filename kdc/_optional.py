"""Optional dependencies: one clear error when a TensorFlow-only part runs without it."""

import importlib


def require_tensorflow(what):
    """The ``tensorflow`` module; ImportError naming ``what`` needs it when it is missing.

    In-memory arrays train and predict under any Keras backend; streamed
    input (memmaps, ``.npy`` paths, ``tf.data``), distribution strategies,
    SavedModel export and the fused Adam kernel are TensorFlow's.
    """
    try:
        return importlib.import_module("tensorflow")
    except ImportError as exc:
        raise ImportError(
            f"{what} needs TensorFlow, which is not installed: pip install tensorflow "
            "(in-memory arrays train and predict under any Keras backend without it)."
        ) from exc
