"""
Title: Autoencoder + k-means on MNIST
Author: kdc developers
Description: The classic deep clustering baseline: k-means on an autoencoder's
    embedding against k-means on the raw pixels, scored with AMI and ARI.
Accelerator: none needed (a 2-core CPU is enough)

Run:
    python examples/ae_kmeans_mnist.py            # MNIST, 70,000 digits
    python examples/ae_kmeans_mnist.py --quick    # 2,000 digits, tiny network (CI)
"""

"""
## Introduction

k-means draws straight boundaries between round clusters. On raw pixels,
the distance between two images says little about the digit they show, so
k-means on MNIST pixels finds only about half of the digit classes. An
autoencoder compresses each image into 10 numbers that it needs to
reconstruct the image, and those numbers hold much more of the "which digit"
information: k-means in that space does far better. This example measures how
much better, the way papers report it: a table of metrics and the relative
improvement over the pixel baseline.
"""

"""
## Setup
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")  # write PNG files, no window
import matplotlib.pyplot as plt

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="tiny data and epochs (CI)")
parser.add_argument("--out", default=os.path.join("examples_out", "ae_kmeans_mnist"),
                    help="folder for the figures")
parser.add_argument("--data", default="mnist", help="dataset name (default: mnist)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

# The heavy imports come after argparse, so that --help answers at once.
from sklearn.cluster import KMeans

import kdc

"""
## Load the data

`kdc.datasets.load` returns float32 images in [0, 1] and int labels. It finds
the files in `$KDC_DATA` (or downloads and checksums them). The labels are
used only to score the clusterings, never to fit them. `--quick` keeps the
first 2,000 images and falls back to scikit-learn's bundled 8x8 digits when
the data set is not on disk.
"""


def load_data(name, quick, n_quick=2000):
    try:
        x, y = kdc.datasets.load(name, download=not quick)
    except FileNotFoundError:
        print(f"note: {name!r} not found (set KDC_DATA); using the bundled 'digits' instead")
        x, y = kdc.datasets.load("digits")
    if quick:
        x, y = x[:n_quick], y[:n_quick]
    return x.reshape(len(x), -1), y, x.shape[1:]


x, y, image_shape = load_data(args.data, args.quick)
print(f"x: {x.shape} {x.dtype}, {len(set(y.tolist()))} classes, images {image_shape}")

"""
## Baseline: k-means on the pixels
"""

start = time.perf_counter()
pixels = KMeans(n_clusters=10, n_init=10, random_state=0).fit(x)
print(f"k-means on pixels: {time.perf_counter() - start:.1f} s")

"""
## Autoencoder + k-means

`kdc.AEKMeans` pretrains a dense autoencoder (d-500-500-2000-10, as in DEC
and N2D) to reconstruct `x`, embeds `x` with its encoder and runs k-means
(20 restarts) on the embedding. `pretrain_epochs="auto"` trains on about
1,750,000 samples: 25 epochs of MNIST.
"""

if args.quick:
    # XLA compiles each new model for seconds on a small CPU: more than this
    # tiny run trains, so jit_compile=False.
    budget = {"hidden_dims": (128,), "pretrain_epochs": 5, "batch_size": 128,
              "jit_compile": False}
else:
    budget = {"pretrain_epochs": "auto"}
est = kdc.AEKMeans(n_clusters=10, random_state=0, **budget).fit(x)

"""
## Compare

`kdc.metrics.compare` scores each labelling against `y` and adds the relative
improvement over the first method. AMI and ARI are corrected for chance (0 for
random labels, 1 for a perfect match), so they can be compared across data
sets; ACC matches clusters to classes one-to-one (Hungarian algorithm).
"""

table = kdc.metrics.compare(
    {"k-means on pixels": pixels.labels_, "AE + k-means": est.labels_},
    y_true=y, metrics=("acc", "nmi", "ami", "ari"))
print()
print(table.to_markdown())
print()
print("\n".join(table.summary()))
print(f"AE + k-means timings (s): {({k: round(v, 1) for k, v in est.timings_.items()})}")

"""
## Look at the clusters

The contingency tables show where each digit went (a bright diagonal is a
good clustering). The centroids show what each method "thinks" a cluster is:
for pixels the mean image, for the autoencoder the decoder's image of each
centre in the embedding.
"""

fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
kdc.plot.contingency(y, pixels.labels_, ax=axes[0])
kdc.plot.contingency(y, est.labels_, ax=axes[1])
axes[0].set_title(f"k-means on pixels: {axes[0].get_title()}")
axes[1].set_title(f"AE + k-means: {axes[1].get_title()}")
fig.savefig(os.path.join(args.out, "contingency.png"), dpi=100)

fig, tiles = plt.subplots(2, 10, figsize=(13, 3.6), layout="constrained")
kdc.plot.centroids(lambda c: c, centers=pixels.cluster_centers_, image_shape=image_shape,
                   ax=tiles[0])  # an identity "decoder": the centres are images already
kdc.plot.centroids(est, ax=tiles[1])
fig.suptitle("top: k-means centres on pixels; bottom: AE + k-means centres, decoded")
fig.savefig(os.path.join(args.out, "centroids.png"), dpi=100)
print(f"figures written to {args.out}/")

"""
## What next

The embedding was trained only to reconstruct: nothing in it asks for
clusters. DEC and IDEC (`kdc.DEC`, `kdc.IDEC`, see `dec_keras_workflow.py`)
fine-tune it for clustering; N2D (`kdc.N2D`, see `n2d_swapped_head.py`)
learns the manifold of the embedding with UMAP first.
"""
