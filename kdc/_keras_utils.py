"""Small helpers around Keras models shared by the models and the estimators."""

import keras
import numpy as np


def call_in_chunks(model, x, batch_size=4096):
    """``model(x, training=False)`` as a float32 numpy array, ``batch_size`` rows at a time.

    Direct calls rather than ``Model.predict``: predict builds a tf.data
    pipeline and traces a function on every call (about 0.2 s even for one
    row, and retracing warnings when called repeatedly).
    """
    parts = [keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
             for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(parts).astype("float32", copy=False)
