"""
Title: N2D with a swapped head
Author: kdc developers
Description: N2D (autoencoder, UMAP, Gaussian mixture) on USPS with a
    denoising autoencoder, then the GMM head swapped for spectral clustering
    and HDBSCAN without retraining the autoencoder.
Accelerator: none needed (a 2-core CPU is enough)

Run:
    python examples/n2d_swapped_head.py            # USPS, 9,298 digits
    python examples/n2d_swapped_head.py --quick    # 2,000 digits, tiny network, PCA (CI)
"""

"""
## Introduction

N2D (McConville et al., 2020) clusters in three steps: an autoencoder embeds
the data, UMAP learns the local manifold of the embedding, and a Gaussian
mixture finds the clusters on that manifold. In kdc the last two steps are
pluggable: `manifold=` takes any object with `fit_transform`/`transform`, and
`clusterer=` any scikit-learn clusterer. Clusterers that cannot label new
rows (spectral clustering, HDBSCAN) are extended to `predict` by a k-nearest
neighbour vote on the manifold.

We also swap the autoencoder: a *denoising* one, which sees inputs with 20%
of the pixels masked out and must reconstruct the clean image. That is a
cheap regulariser that often gives a smoother embedding.
"""

"""
## Setup
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write PNG files, no window
import matplotlib.pyplot as plt

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="tiny data and epochs (CI)")
parser.add_argument("--out", default=os.path.join("examples_out", "n2d_swapped_head"),
                    help="folder for the figures")
parser.add_argument("--data", default="usps", help="dataset name (default: usps)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

import numpy as np
from sklearn.cluster import HDBSCAN, SpectralClustering

import kdc


def load_data(name, quick, n_quick=2000):
    try:
        x, y = kdc.datasets.load(name, download=not quick)
    except FileNotFoundError:
        print(f"note: {name!r} not found (set KDC_DATA); using the bundled 'digits' instead")
        x, y = kdc.datasets.load("digits")
    if quick:
        x, y = x[:n_quick], y[:n_quick]
    return x.reshape(len(x), -1), y


x, y = load_data(args.data, args.quick)  # y is used only to score the clusterings
print(f"x: {x.shape}, {len(np.unique(y))} classes")

"""
## N2D with its default head

`autoencoder_params` goes to `kdc.models.DenoisingAutoencoder`: `noise` is
"masking" (zero a fraction of the inputs) or "gaussian", `noise_level` the
fraction (or the standard deviation). The corruption is applied only while
training; `transform` and `predict` see clean data.
"""

if args.quick:
    # XLA's compile (seconds on a CPU) costs more than this tiny run trains,
    # and UMAP's numba compile more again: use PCA as the manifold in --quick.
    from sklearn.decomposition import PCA

    budget = {"hidden_dims": (128,), "pretrain_epochs": 5, "jit_compile": False,
              "manifold": PCA(10, random_state=0)}
else:
    budget = {"pretrain_epochs": 20}
m = "PCA" if args.quick else "UMAP"
est = kdc.N2D(n_clusters=10, autoencoder="denoising",
              autoencoder_params={"noise": "masking", "noise_level": 0.2},
              random_state=0, **budget)
results = {f"N2D ({m} + GMM)": est.fit(x).labels_}

"""
## Swap the head, keep the autoencoder

`warm_start=True` with `pretrain_epochs=0` keeps the trained autoencoder:
the next `fit` only embeds the data again and fits the new head. Spectral
clustering on a nearest-neighbour graph follows curved clusters that a GMM
would cut. HDBSCAN needs no number of clusters at all, and labels the points
it cannot place confidently as noise (-1): the metrics below count the noise
as one more cluster.
"""

heads = {
    f"N2D ({m} + spectral)": SpectralClustering(
        n_clusters=10, affinity="nearest_neighbors", n_neighbors=15,
        assign_labels="cluster_qr", random_state=0),
    f"N2D ({m} + HDBSCAN)": HDBSCAN(min_cluster_size=max(20, len(x) // 100), copy=True),
}
est.set_params(warm_start=True, pretrain_epochs=0)
for name, head in heads.items():
    results[name] = est.set_params(clusterer=head).fit(x).labels_
    found = len(set(results[name].tolist()) - {-1})
    print(f"{name}: {found} clusters, {np.mean(results[name] == -1):.1%} noise")

"""
## Compare the heads

The first head is the baseline of the relative improvements. On digits the
default GMM is hard to beat: with `min_dist=0` UMAP packs each digit into a
compact blob, exactly what a Gaussian mixture models. Spectral clustering and
HDBSCAN earn their place on clusters that are not blob-shaped, or (HDBSCAN)
when k is unknown; the contingency tables show which digits they merge or split.
"""

table = kdc.metrics.compare(results, y_true=y, metrics=("acc", "nmi", "ari"))
print()
print(table.to_markdown())
print()
print("\n".join(table.summary()))

# New rows: the estimator holds the HDBSCAN head now, extended by a k-NN vote.
agree = np.mean(est.predict(x[:500]) == est.labels_[:500])
print(f"predict() agrees with labels_ on {agree:.1%} of the first 500 rows")

fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.8),
                         layout="constrained")
for ax, (name, labels) in zip(axes, results.items()):
    kdc.plot.contingency(y, labels, ax=ax)
    ax.set_title(f"{name}\n{ax.get_title()}")
fig.savefig(os.path.join(args.out, "contingency.png"), dpi=100)

# The manifold coordinates the heads clustered (10-D), seen in 2-D.
ax = kdc.plot.embedding(est.manifold_embedding_, results[f"N2D ({m} + spectral)"], y,
                        method="pca" if args.quick else "auto")
ax[0].figure.suptitle("spectral clusters on the N2D manifold")
ax[0].figure.savefig(os.path.join(args.out, "embedding.png"), dpi=100)
print(f"figures written to {args.out}/")
