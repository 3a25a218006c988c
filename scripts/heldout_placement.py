"""Held-out accuracy of N2D's placement of new rows against UMAP's own transform.

Fits N2D (defaults) on MNIST's 60,000 training rows, then labels the 10,000
test rows twice with the same fitted model: with ``placement_`` (what
``predict`` uses) and with ``manifold_.transform`` (umap-learn's stochastic
transform), and prints accuracy, agreement and time of each.

    KDC_DATA=/path/to/datasets python scripts/heldout_placement.py --seed 0
"""

import argparse
import time

import numpy as np

import kdc
from kdc._manifold import cache_umap_kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cache_umap_kernels()
    x, y = kdc.datasets.load("mnist")
    xt, yt, xn, yn = x[:60_000], y[:60_000], x[60_000:], y[60_000:]
    start = time.perf_counter()
    est = kdc.N2D(10, random_state=args.seed, verbose=0).fit(xt)
    print(f"fit on 60,000 rows: {time.perf_counter() - start:.1f} s, "
          f"train ACC {kdc.metrics.cluster_accuracy(yt, est.labels_):.4f}")
    z = est.transform(xn)
    for name, place in (("placement_ (predict)", est.placement_.transform),
                        ("UMAP.transform", est.manifold_.transform)):
        start = time.perf_counter()
        labels = est._label_coordinates(np.asarray(place(z), dtype="float32"))
        took = time.perf_counter() - start
        print(f"{name:22s} held-out ACC {kdc.metrics.cluster_accuracy(yn, labels):.4f} "
              f"NMI {kdc.metrics.evaluate(yn, labels)['nmi']:.4f} in {took:.1f} s")
        if name.startswith("placement"):
            ours = labels
    print(f"agreement of the two: {np.mean(ours == labels):.4f}")


if __name__ == "__main__":
    main()
