"""What the experiment scripts share: reading a data set and reporting a row of results."""

import json

import numpy as np

import kdc


def load(name):
    """(x, y) of a ``kdc.datasets`` name, or of an ``.npz`` file with arrays ``x`` and ``y``."""
    if name.endswith(".npz"):
        data = np.load(name)
        return data["x"], data["y"]
    return kdc.datasets.load(name, verbose=0)


def report(row, out=None):
    """Print ``row`` as one JSON line (floats to 4 places); append it whole to ``out``."""
    print(json.dumps({key: round(v, 4) if isinstance(v, float) else v for key, v in row.items()}),
          flush=True)
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
