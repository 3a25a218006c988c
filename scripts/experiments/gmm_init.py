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

import time


import kdc
from _common import n2d_fits, report, parser as common_parser

INITS = ("kmeans", "k-means++")


def main():
    parser = common_parser(__doc__)
    args = parser.parse_args()
    for name, seed, _, y, est, seconds in n2d_fits(args):
        row = {"dataset": name, "seed": seed, "n2d_s": round(seconds, 1),
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
