"""
Title: Choosing the number of clusters
Author: kdc developers
Description: Elbow, silhouette and BIC on an autoencoder embedding of USPS,
    with the k-means and Gaussian-mixture restarts run in parallel.
Accelerator: none needed (a 2-core CPU is enough)

Run:
    python examples/choose_k.py            # USPS, 9,298 digits
    python examples/choose_k.py --quick    # 2,000 digits, tiny network (CI)
"""

"""
## Introduction

Every clustering method here asks for `n_clusters`. With real unlabeled data
nobody tells you k, and the usual answer is to scan a range of k and read
criteria off the curves:

- **elbow**: the k-means inertia always falls with k; the elbow is where it
  stops falling fast (kdc fits two straight lines and takes the best split);
- **silhouette**: how much closer points are to their own cluster than to the
  next one (higher is better);
- **BIC**: the Gaussian-mixture likelihood penalised by the number of
  parameters (lower is better).

They often disagree, so `method="all"` reports all three and takes their
median. We scan an autoencoder *embedding*: the criteria are computed on the
space the clustering will actually run in. The autoencoder needs no k.
"""

"""
## Setup
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")  # write PNG files, no window

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="tiny data and epochs (CI)")
parser.add_argument("--out", default=os.path.join("examples_out", "choose_k"),
                    help="folder for the figures")
parser.add_argument("--data", default="usps", help="dataset name (default: usps)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

import keras

import kdc

keras.utils.set_random_seed(0)


def load_data(name, quick, n_quick=2000):
    try:
        x, y = kdc.datasets.load(name, download=not quick)
    except FileNotFoundError:
        print(f"note: {name!r} not found (set KDC_DATA); using the bundled 'digits' instead")
        x, y = kdc.datasets.load("digits")
    if quick:
        x, y = x[:n_quick], y[:n_quick]
    return x.reshape(len(x), -1), y


x, y = load_data(args.data, args.quick)  # y is only used at the very end
print(f"x: {x.shape}")

"""
## An embedding without k

A `kdc.models.DenseAutoencoder` trained with plain Keras: it learns to
reconstruct `x` and knows nothing about clusters.
"""

autoencoder = kdc.models.DenseAutoencoder(
    x.shape[1], hidden_dims=(128,) if args.quick else (500, 500, 2000), embedding_dim=10)
# XLA pays off on long runs; its compile (about 10 s on a CPU) does not in --quick.
autoencoder.compile(optimizer="adam", loss="mse", jit_compile=not args.quick)
autoencoder.fit(x, x, batch_size=256, epochs=5 if args.quick else 30, verbose=2)
z = autoencoder.encode(x)

"""
## Scan k

`select_k` runs `n_init` k-means restarts per k (for the inertia curve and
the silhouette labels) and `n_init` Gaussian mixtures per k (for the BIC).
Every (k, restart) pair is one single-threaded joblib task, and `n_jobs=-1`
spreads them over all cores; the result does not depend on `n_jobs`.
"""

start = time.perf_counter()
k_range = range(6, 13) if args.quick else range(5, 16)
result = kdc.select.select_k(z, k_range, method="all", n_init=2 if args.quick else 5,
                             n_jobs=-1, random_state=0)
print(f"k scan over {len(result.k_values)} values of k: {time.perf_counter() - start:.1f} s")
print(result)  # the curves, each criterion's choice marked with *

ax = kdc.plot.select_k(result)
ax.figure.savefig(os.path.join(args.out, "select_k.png"), dpi=100)

"""
## Cluster with the chosen k

The scan kept the best k-means labels of every k (`result.labels`), so the
chosen clustering costs nothing more. To get a full estimator (`predict`,
`save`, `export`) from the same autoencoder, hand it to `kdc.AEKMeans` with
`pretrain_epochs=0`: it is copied, weights included, and not trained again.
"""

k = result.k
est = kdc.AEKMeans(n_clusters=k, autoencoder=autoencoder, pretrain_epochs=0,
                   random_state=0, verbose=0).fit(x)
print(f"AEKMeans(n_clusters={k}) agrees with the scan's labels on "
      f"{kdc.metrics.ari(result.labels[k], est.labels_):.3f} ARI")

"""
## Check against the labels

Only now do we look at `y` (10 digits). A k above 10 is not necessarily
wrong: some digits are written in two distinct styles (open and closed 4s,
7s with and without a bar), which a clustering may well split.
"""

for name, kk in sorted(result.best_k.items(), key=lambda item: item[1]):
    s = kdc.metrics.evaluate(y, result.labels[kk])
    print(f"{name:>10}: k={kk:2d}  ACC {s['acc']:.3f}  NMI {s['nmi']:.3f}  ARI {s['ari']:.3f}")
ax = kdc.plot.contingency(y, est.labels_)
ax.figure.savefig(os.path.join(args.out, "contingency.png"), dpi=100)
print(f"figures written to {args.out}/")
