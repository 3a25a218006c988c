"""JSON helpers shared by the run reports and the model manifests."""

import math
import numbers
import os
from collections.abc import Mapping

import numpy as np


def json_safe(value):
    """``value`` with numpy scalars/arrays, tuples and paths made JSON-ready; other objects as repr."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)
