"""Experiment: the initialisation of the N2D head's Gaussian mixture restarts.

Fits ``kdc.N2D`` (its defaults) once per dataset and seed, then fits the
default GMM head again on the same UMAP coordinates with each
``init_params`` of scikit-learn's ``GaussianMixture`` ("kmeans", N2D's
default, and "k-means++"), through N2D's own ``_fit_clusterer`` (restarts on
a sample above ``GMM_RESTART_SAMPLE`` rows, then EM on all rows). Same
embedding, same UMAP: only the head's initialisation differs.

    KDC_DATA=/path/to/datasets python scripts/experiments/gmm_init.py \\
        --datasets digits pendigits usps mnist_test mnist --seeds 0 1 2 --out results.jsonl
"""

import argparse
import time

import numpy as np

import kdc
from _common import load, report
from kdc._manifold import cache_umap_kernels

INITS = ("kmeans", "k-means++")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cache_umap_kernels()
    for name in args.datasets:
        x, y = load(name)
        k = len(np.unique(y))
        for seed in args.seeds:
            start = time.perf_counter()
            est = kdc.N2D(k, random_state=seed, verbose=0).fit(x)
            row = {"dataset": name, "seed": seed, "n2d_s": round(time.perf_counter() - start, 1),
                   "n2d_acc": kdc.metrics.cluster_accuracy(y, est.labels_)}
            m = est.manifold_embedding_
            for init in INITS:
                est.clusterer_ = est._make_clusterer().set_params(init_params=init)
                start = time.perf_counter()
                labels = est._fit_clusterer(m)
                row[f"{init}_s"] = round(time.perf_counter() - start, 2)
                row[f"{init}_acc"] = kdc.metrics.cluster_accuracy(y, labels)
                row[f"{init}_nmi"] = kdc.metrics.evaluate(y, labels)["nmi"]
                row[f"{init}_lower_bound"] = float(est.clusterer_.lower_bound_)
            report(row, args.out)


if __name__ == "__main__":
    main()
