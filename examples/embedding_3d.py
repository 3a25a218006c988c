"""
Title: A 3-D embedding you can look at
Author: kdc developers
Description: Autoencoder + k-means with a 3-dimensional embedding on USPS:
    a 3-D scatter of the clusters, the cluster centres decoded into images,
    and the purity of each cluster.
Accelerator: none needed (a 2-core CPU is enough)

Run:
    python examples/embedding_3d.py            # USPS, 9,298 digits
    python examples/embedding_3d.py --quick    # 2,000 digits, tiny network (CI)
"""

"""
## Introduction

Deep clustering methods usually embed into 10 dimensions, which we can only
see through a projection (UMAP, PCA) that adds its own distortions. With
`embedding_dim=3` the embedding itself can be drawn. The autoencoder has to
squeeze each 16x16 digit into three numbers, so clusters overlap more than
in 10-D, but the picture shows honestly what k-means works with. Because the
decoder maps any point of the embedding back to an image, each cluster centre
can be *decoded*: the prototype digit of the cluster.
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
parser.add_argument("--out", default=os.path.join("examples_out", "embedding_3d"),
                    help="folder for the figures")
parser.add_argument("--data", default="usps", help="dataset name (default: usps)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

import numpy as np

import kdc


def load_data(name, quick, n_quick=2000):
    try:
        x, y = kdc.datasets.load(name, download=not quick)
    except FileNotFoundError:
        print(f"note: {name!r} not found (set KDC_DATA); using the bundled 'digits' instead")
        x, y = kdc.datasets.load("digits")
    if quick:
        x, y = x[:n_quick], y[:n_quick]
    return x, y  # images (n, h, w): kdc flattens them and remembers the shape


x, y = load_data(args.data, args.quick)  # y is used only to score the clusters
print(f"x: {x.shape}, {len(np.unique(y))} classes")

"""
## Fit autoencoder + k-means in three dimensions
"""

if args.quick:
    # XLA's compile (seconds on a CPU) costs more than this tiny run trains.
    budget = {"hidden_dims": (128,), "pretrain_epochs": 5, "n_init": 5, "jit_compile": False}
else:
    budget = {"pretrain_epochs": 40}
est = kdc.AEKMeans(n_clusters=10, embedding_dim=3, random_state=0, **budget).fit(x)
z = est.transform(x)  # shape (n_samples, 3)
scores = kdc.metrics.evaluate(y, est.labels_)
print("AE(3-D) + k-means:", {k: round(v, 3) for k, v in scores.items()})

"""
## The embedding in 3-D

Left, the clusters with the k-means centres as black crosses; right, the
true digits, from the same viewing angle. Each cluster is drawn in the colour
of the digit it is matched to (`match_labels`, the matching behind ACC), so
the two panels can be compared colour by colour.
"""

fig = plt.figure(figsize=(13, 6), layout="constrained")
idx = np.random.default_rng(0).permutation(len(z))[:3000]  # a readable number of points
matched = kdc.metrics.match_labels(y, est.labels_)
for i, (colour_by, title) in enumerate([(matched, "clusters"), (y, "true digits")]):
    ax = fig.add_subplot(1, 2, i + 1, projection="3d")
    points = ax.scatter(*z[idx].T, c=colour_by[idx], cmap="tab10", s=4, alpha=0.6,
                        vmin=-0.5, vmax=9.5)
    if i == 0:
        ax.scatter(*est.cluster_centers_.T, c="black", marker="x", s=80, depthshade=False)
    ax.set(xlabel="z1", ylabel="z2", zlabel="z3", title=title)
    ax.view_init(elev=25, azim=45)
fig.colorbar(points, ax=fig.axes, ticks=range(10), shrink=0.6,
             label="digit (clusters: their matched digit)")
fig.suptitle(f"3-D autoencoder embedding (ACC {scores['acc']:.3f}, NMI {scores['nmi']:.3f})")
fig.savefig(os.path.join(args.out, "embedding_3d.png"), dpi=100)

"""
## Decoded centres

`kdc.plot.centroids` passes `est.cluster_centers_` through the decoder and
undoes the input scaling, one tile per cluster with its size.
"""

tiles = kdc.plot.centroids(est)
tiles.flat[0].figure.savefig(os.path.join(args.out, "centroids.png"), dpi=100)

"""
## Purity per cluster

`cluster_purity` is the share of each cluster's members that belong to its
most common digit. It points at the clusters that mix digits (often 4/9,
3/5/8 or 7/9), which the decoded centres above usually show as blurry blends.
"""

purity = kdc.metrics.cluster_purity(y, est.labels_)
table, classes, clusters = kdc.metrics.contingency_table(y, est.labels_)
print("\ncluster  size  majority digit  purity")
for j, c in enumerate(clusters.tolist()):
    print(f"{c:7d} {table[:, j].sum():5d} {classes[table[:, j].argmax()]:15d} "
          f"{purity[c]:7.1%}")
print(f"overall purity {scores['purity']:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
ax.bar([str(c) for c in purity], list(purity.values()), color="C0")
for j, (c, p) in enumerate(purity.items()):
    ax.text(j, p + 0.01, f"{classes[table[:, j].argmax()]}", ha="center", fontsize=9)
ax.axhline(scores["purity"], color="0.3", ls="--", label=f"overall {scores['purity']:.2f}")
ax.set(xlabel="cluster (majority digit above the bar)", ylabel="purity", ylim=(0, 1.08),
       title="purity per cluster")
ax.legend(loc="lower right")
fig.savefig(os.path.join(args.out, "purity.png"), dpi=100)
print(f"figures written to {args.out}/")
