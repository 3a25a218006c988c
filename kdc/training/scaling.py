"""The learnt input scaling of the estimators, fitted in one pass over row chunks.

The statistics are accumulated chunk by chunk: the global minimum and maximum
("auto", "minmax") and, for "standard", the per-feature mean and sum of
squared deviations, merged across chunks with the pairwise update of Chan,
Golub and LeVeque (numerically stable, in float64). Arrays in memory and data
streamed from disk or a ``tf.data`` pipeline are cut into the same chunks of
:func:`chunk_rows` rows, so both give exactly the same ``scale_`` and
``offset_``.
"""

import numpy as np

# Streaming passes read about this many bytes of float32 rows at a time.
CHUNK_BYTES = 16 * 2**20
# Rows per forward pass of the embedding (see kdc._keras_utils.call_in_chunks).
# Chunks are a multiple of it, so a chunked embedding matches the in-memory one
# bit for bit (a matrix product's rounding may depend on the batch size).
EMBED_BATCH = 4096


def chunk_rows(n_features):
    """Rows per chunk of a streaming pass over rows of ``n_features`` float32 values."""
    rows = CHUNK_BYTES // (4 * max(int(n_features), 1))
    return max(EMBED_BATCH, rows // EMBED_BATCH * EMBED_BATCH)


class ScalingStatistics:
    """Accumulates what a scaling needs from chunks of rows.

    Args:
        scale: "auto", "minmax", "standard" or "none".
        n_features: int, the number of values per row.
    """

    def __init__(self, scale, n_features):
        self.scale = scale
        self.n_features = int(n_features)
        self.n_samples = 0
        self.minimum, self.maximum = np.inf, -np.inf
        self.mean = self.m2 = None

    def update(self, flat):
        """Add the rows of ``flat``, a float32 array of shape (rows, n_features)."""
        rows = flat.shape[0]
        if rows == 0:
            return
        if self.scale in ("auto", "minmax"):
            self.minimum = min(self.minimum, float(flat.min()))
            self.maximum = max(self.maximum, float(flat.max()))
        elif self.scale == "standard":
            chunk = flat.astype("float64")
            mean = chunk.mean(axis=0)
            m2 = np.square(chunk - mean).sum(axis=0)
            if self.mean is None:
                self.mean, self.m2 = mean, m2
            else:
                total = self.n_samples + rows
                delta = mean - self.mean
                self.mean = self.mean + delta * (rows / total)
                self.m2 = self.m2 + m2 + np.square(delta) * (self.n_samples * rows / total)
        self.n_samples += rows

    def result(self):
        """``(scale, offset)`` float32 arrays with ``flat * scale + offset`` the scaled
        rows, or ``(None, None)`` when the data is used as it is."""
        if self.scale == "none" or self.n_samples == 0:
            return None, None
        if self.scale == "standard":
            std = np.sqrt(self.m2 / self.n_samples)
            std[std == 0] = 1.0
            return (1.0 / std).astype("float32"), (-self.mean / std).astype("float32")
        lo, hi = self.minimum, self.maximum
        if self.scale == "auto" and lo >= 0.0 and hi <= 1.0:
            return None, None
        span = hi - lo if hi > lo else 1.0
        return (np.full(self.n_features, 1.0 / span, "float32"),
                np.full(self.n_features, -lo / span, "float32"))


def fit_scaling(flat, scale):
    """``(scale, offset)`` of ``scale`` for the rows of ``flat`` (n_samples, n_features),
    accumulated over the same chunks as a streaming pass; ``(None, None)`` for none."""
    stats = ScalingStatistics(scale, flat.shape[1])
    step = chunk_rows(flat.shape[1])
    for start in range(0, flat.shape[0], step):
        stats.update(flat[start:start + step])
    return stats.result()
