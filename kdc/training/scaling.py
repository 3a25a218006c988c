"""The learnt input scaling of the estimators, fitted in one pass over row chunks.

The statistics are accumulated chunk by chunk: the global minimum and maximum
("auto", "minmax") and, for "standard" (and "auto" on flat rows), the
per-feature mean and sum of squared deviations, merged across chunks with the
pairwise update of Chan, Golub and LeVeque (numerically stable, in float64).
Arrays in memory and data streamed from disk or a ``tf.data`` pipeline are
cut into the same chunks of :func:`chunk_rows` rows, so both give exactly the
same ``scale_`` and ``offset_``.
"""

import numpy as np

# Streaming passes read about this many bytes of float32 rows at a time.
CHUNK_BYTES = 16 * 2**20
# Rows per forward pass of the embedding (see kdc._keras_utils.call_in_chunks).
# Chunks are a multiple of it, so a chunked embedding matches the in-memory one
# bit for bit (a matrix product's rounding may depend on the batch size).
EMBED_BATCH = 4096
# "auto" on flat rows outside [0, 1]: the columns are on different units when the
# 90th percentile of the non-constant columns' ranges is at least this many times
# their 10th percentile; each column is then standardised instead of one global
# min-max (which would leave the small-range columns near 0, invisible to the
# autoencoder). Images and rows of one unit (pixels, sensor readings, pen
# coordinates) have ranges within a small factor of each other.
HETEROGENEOUS_RANGE_RATIO = 10.0


def chunk_rows(n_features):
    """Rows per chunk of a streaming pass over rows of ``n_features`` float32 values."""
    rows = CHUNK_BYTES // (4 * max(int(n_features), 1))
    return max(EMBED_BATCH, rows // EMBED_BATCH * EMBED_BATCH)


class ScalingStatistics:
    """Accumulates what a scaling needs from chunks of rows.

    Args:
        scale: "auto", "minmax", "standard" or "none".
        n_features: int, the number of values per row.
        flat: bool, whether the samples are flat rows (not images); "auto"
            standardises flat rows whose columns are on different units (see
            ``HETEROGENEOUS_RANGE_RATIO``).
    """

    def __init__(self, scale, n_features, flat=False):
        self.scale = scale
        self.n_features = int(n_features)
        self.flat = bool(flat)
        self.n_samples = 0
        self.minimum, self.maximum = np.inf, -np.inf
        self.column_min = self.column_max = None
        self.mean = self.m2 = None

    def update(self, flat):
        """Add the rows of ``flat``, a float32 array of shape (rows, n_features)."""
        rows = flat.shape[0]
        if rows == 0:
            return
        if self.scale in ("auto", "minmax"):
            self.minimum = min(self.minimum, float(flat.min()))
            self.maximum = max(self.maximum, float(flat.max()))
        if self.scale == "auto" and self.flat:
            low, high = flat.min(axis=0), flat.max(axis=0)
            self.column_min = low if self.column_min is None else np.minimum(self.column_min, low)
            self.column_max = high if self.column_max is None else np.maximum(self.column_max, high)
        if self.scale == "standard" or (self.scale == "auto" and self.flat):
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
        lo, hi = self.minimum, self.maximum
        if self.scale == "auto" and lo >= 0.0 and hi <= 1.0:
            return None, None
        if self.scale == "standard" or (self.scale == "auto" and self.flat
                                        and self.columns_on_different_units()):
            std = np.sqrt(self.m2 / self.n_samples)
            std[std == 0] = 1.0
            return (1.0 / std).astype("float32"), (-self.mean / std).astype("float32")
        span = hi - lo if hi > lo else 1.0
        return (np.full(self.n_features, 1.0 / span, "float32"),
                np.full(self.n_features, -lo / span, "float32"))

    def columns_on_different_units(self):
        """Whether the non-constant columns' ranges spread by ``HETEROGENEOUS_RANGE_RATIO``
        or more between their 10th and 90th percentiles."""
        if self.column_min is None:
            return False
        ranges = (self.column_max.astype("float64") - self.column_min)
        ranges = ranges[ranges > 0]
        if ranges.size < 2:
            return False
        low, high = np.percentile(ranges, [10, 90])
        return bool(high >= HETEROGENEOUS_RANGE_RATIO * low)


def scaling_statistics(flat, scale, rows_are_flat=False):
    """The :class:`ScalingStatistics` of ``scale`` over the rows of ``flat`` (n_samples,
    n_features), accumulated over the same chunks as a streaming pass (no float64 copy
    of the rows). ``rows_are_flat``: the samples are flat rows, not images."""
    stats = ScalingStatistics(scale, flat.shape[1], flat=rows_are_flat)
    step = chunk_rows(flat.shape[1])
    for start in range(0, flat.shape[0], step):
        stats.update(flat[start:start + step])
    return stats


def fit_scaling(flat, scale, rows_are_flat=False):
    """``(scale, offset)`` of ``scale`` for the rows of ``flat`` (n_samples, n_features),
    accumulated over the same chunks as a streaming pass; ``(None, None)`` for none.
    ``rows_are_flat``: the samples are flat rows, not images (see ScalingStatistics)."""
    return scaling_statistics(flat, scale, rows_are_flat).result()
