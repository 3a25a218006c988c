"""Small helpers around Keras models shared by the models and the estimators."""

import keras
import numpy as np


# Every chunk is zero-padded to a multiple of this many rows. CPU matrix
# kernels treat the rows of a partial register block (the last rows of a
# batch) with other instructions than full blocks, which rounds differently
# in the last bits: without padding, a row's embedding would depend on where
# it sits in the batch and on how many rows came with it (seen on AVX2 CPUs:
# 3e-8 differences, enough to break exact agreement of predict, predict on a
# permuted or sliced input, and labels_).
ROW_BLOCK = 64


def call_in_chunks(model, x, batch_size=4096):
    """``model(x, training=False)`` as a float32 numpy array, ``batch_size`` rows at a time.

    Each row's output does not depend on the other rows passed with it (see
    ``ROW_BLOCK``). Direct calls rather than ``Model.predict``: predict builds
    a tf.data pipeline and traces a function on every call (a fixed cost even
    for one row, and retracing warnings when called repeatedly).
    """
    batch_size = -(-int(batch_size) // ROW_BLOCK) * ROW_BLOCK  # whole blocks only
    parts = []
    for i in range(0, x.shape[0], batch_size):
        chunk = np.asarray(x[i:i + batch_size])
        rows = chunk.shape[0]
        padded = -(-rows // ROW_BLOCK) * ROW_BLOCK
        if padded != rows:
            chunk = np.concatenate([chunk, np.zeros((padded - rows,) + chunk.shape[1:],
                                                    dtype=chunk.dtype)])
        parts.append(keras.ops.convert_to_numpy(model(chunk, training=False))[:rows])
    return np.concatenate(parts).astype("float32", copy=False)
