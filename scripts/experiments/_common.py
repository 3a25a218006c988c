"""What the experiment scripts share: their common arguments, reading a data set and
reporting a row of results."""

import argparse
import json
import time

import numpy as np

import kdc
from kdc._manifold import cache_umap_kernels


def parser(doc, datasets=None):
    """An argument parser described by ``doc``'s first line, with ``--datasets`` (required
    unless ``datasets`` gives a default), ``--seeds`` (0 1 2) and ``--out``."""
    out = argparse.ArgumentParser(description=doc.splitlines()[0])
    out.add_argument("--datasets", nargs="+", required=datasets is None, default=datasets)
    out.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    out.add_argument("--out", default=None, help="JSON lines file for the results")
    return out


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


def n2d_fits(args, **params):
    """``kdc.N2D`` with its defaults but ``params`` fitted on each of ``args.datasets`` under
    each of ``args.seeds`` (k: the classes of y): yields ``(name, seed, x, y, est, seconds)``."""
    cache_umap_kernels()
    for name in args.datasets:
        x, y = load(name)
        for seed in args.seeds:
            start = time.perf_counter()
            est = kdc.N2D(len(np.unique(y)), random_state=seed, verbose=0,
                          **params).fit(x)
            yield name, seed, x, y, est, time.perf_counter() - start
