"""
Title: DEC as a plain Keras workflow
Author: kdc developers
Description: Deep Embedded Clustering written with Keras' own `compile` and
    `fit`: pretrain an autoencoder, put a clustering layer on its encoder and
    self-train it with callbacks, on USPS digits.
Accelerator: none needed (a 2-core CPU is enough)

Run:
    python examples/dec_keras_workflow.py            # USPS, 9,298 digits
    python examples/dec_keras_workflow.py --quick    # 2,000 digits, tiny network (CI)
"""

"""
## Introduction

DEC (Xie et al., 2016) has two stages. First an autoencoder learns an
embedding of the data. Then a *clustering layer* (one learnable centre per
cluster, Student-t soft assignments Q) sits on top of the encoder, and the
encoder and the centres are trained to match a sharpened target P computed
from Q itself: confident assignments get more confident, and the embedding
moves the clusters apart. The target is recomputed every `update_interval`
batches, and training stops when fewer than `tol` of the labels still change.

`kdc.DEC` wraps all of this in one estimator. Here we do it by hand, with the
Keras pieces kdc provides, so that each step is visible and replaceable.
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
parser.add_argument("--out", default=os.path.join("examples_out", "dec_keras_workflow"),
                    help="folder for the figures")
parser.add_argument("--data", default="usps", help="dataset name (default: usps)")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

import keras
import numpy as np

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


x, y = load_data(args.data, args.quick)  # float32 in [0, 1]; y only for monitoring
print(f"x: {x.shape}, {len(np.unique(y))} classes")
quick = args.quick
view = "pca" if quick else "auto"  # 2-D view of the embedding (UMAP when installed)

"""
## Stage 1: pretrain the autoencoder

`kdc.models.DenseAutoencoder` is an ordinary subclassed `keras.Model`
(d-500-500-2000-10 by default) with `.encoder` and `.decoder` sub-models.
Train it to reconstruct its input, on (x, x).
"""

autoencoder = kdc.models.DenseAutoencoder(
    x.shape[1], hidden_dims=(128,) if quick else (500, 500, 2000), embedding_dim=10)
# XLA pays off on long runs; its compile (about 10 s on a CPU) does not in --quick.
autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=not quick)
pretrain = autoencoder.fit(x, x, batch_size=256, epochs=5 if quick else 30, verbose=2)

"""
## Stage 2: the DEC model

`kdc.models.DEC` puts a `ClusteringLayer` on the encoder (the same encoder
object: it is fine-tuned in place). `initialize_clusters` runs k-means on the
embedding and copies its centres into the layer; it returns the k-means
labels, our "before" picture.
"""

model = kdc.models.DEC(autoencoder.encoder, n_clusters=10)
kmeans_labels = model.initialize_clusters(x, n_init=5 if quick else 20, random_state=0)
z_before = model.embed(x)
print("k-means on the pretrained embedding:", {k: round(v, 3) for k, v in
                                               kdc.metrics.evaluate(y, kmeans_labels).items()})
ax = kdc.plot.embedding(z_before, kmeans_labels, y, method=view)
ax[0].figure.suptitle("before self-training: k-means on the autoencoder embedding")
ax[0].figure.savefig(os.path.join(args.out, "embedding_before.png"), dpi=100)

"""
## Stage 3: self-training with callbacks

The model computes its own loss, KL(P || Q), so `compile` takes only an
optimizer (SGD with momentum, as in the paper). We train on the sample
*indices* `np.arange(len(x))` as `y`: `TargetDistributionUpdate` stores P for
all samples every `update_interval` batches, and the loss looks up each
batch's rows of P by index, whatever the shuffling. `LabelChangeStopping`
(listed after it) stops when fewer than `tol` of the labels changed.

The update callback records ACC and NMI per update when given `y_true`. A
tiny callback of our own adds the ARI from the labels it just computed.
"""


class ARIPerUpdate(keras.callbacks.Callback):
    """Print the ARI of the labels of each target update (monitoring only)."""

    def __init__(self, update, y_true):
        super().__init__()
        self.update, self.y_true, self.ari = update, y_true, []

    def on_train_begin(self, logs=None):
        self._report()  # the update callback has made its first P already

    def on_train_batch_end(self, batch, logs=None):
        if len(self.update.history["step"]) > len(self.ari):
            self._report()

    def _report(self):
        h = self.update.history
        self.ari.append(kdc.metrics.ari(self.y_true, self.update.labels))
        change = "" if np.isnan(h["label_change"][-1]) else \
            f", labels changed {h['label_change'][-1]:6.2%}"
        print(f"step {h['step'][-1]:5d}: ACC {h['acc'][-1]:.3f}  NMI {h['nmi'][-1]:.3f}  "
              f"ARI {self.ari[-1]:.3f}{change}")


update = kdc.callbacks.TargetDistributionUpdate(
    x, update_interval=5 if quick else 140, y_true=y)
monitor = ARIPerUpdate(update, y)
stopping = kdc.callbacks.LabelChangeStopping(tol=0.001, verbose=1)
model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9))
model.fit(x, np.arange(len(x)), batch_size=256, epochs=3 if quick else 30, shuffle=True,
          callbacks=[update, monitor, stopping], verbose=0)

"""
## Results

`predict_labels` is the argmax of Q. Compare with the k-means start, and look
at the fine-tuned embedding: the clusters should be tighter and further apart.
"""

labels = model.predict_labels(x)
table = kdc.metrics.compare({"k-means on AE embedding": kmeans_labels, "DEC": labels},
                            y_true=y, metrics=("acc", "nmi", "ari"))
print()
print(table.to_markdown())
ax = kdc.plot.embedding(model.embed(x), labels, y, method=view)
ax[0].figure.suptitle("after DEC self-training")
ax[0].figure.savefig(os.path.join(args.out, "embedding_after.png"), dpi=100)
axes = kdc.plot.history({"pretrain": pretrain.history, "clustering": update.history})
axes[0].figure.savefig(os.path.join(args.out, "history.png"), dpi=100)
plt.close("all")
print(f"figures written to {args.out}/")
