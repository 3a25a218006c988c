"""Experiment: self-labelling refinement after N2D (not a kdc default).

After ``kdc.N2D`` (its defaults), train the pretrained encoder with a softmax
head on the rows the Gaussian mixture assigns confidently (posterior >=
``--threshold``), under random shifts of up to ``--max-shift`` pixels for
image rows, and label every row by the classifier. The idea is SCAN's
self-labelling step (Van Gansbeke et al., ECCV 2020) and ASPC-DA's training
on confident assignments under augmentation (Guo et al., 2019).

Prints, per dataset and seed, N2D's accuracy and the refined one in the same
run, with their times:

    KDC_DATA=/path/to/datasets python scripts/experiments/self_label.py \\
        --datasets mnist_test usps pendigits digits --seeds 0 1 2
"""

import time

import keras
import numpy as np

import kdc
from _common import n2d_fits, report, parser as common_parser


def refine(est, x, *, epochs, threshold, max_shift, learning_rate, seed):
    """Labels of the rows of ``x`` (the data ``est`` was fitted on) after self-labelling."""
    keras.utils.set_random_seed(seed)
    proba = est.clusterer_.predict_proba(est.manifold_embedding_)
    labels, confident = proba.argmax(1), proba.max(1) >= threshold
    xs = np.asarray(x, "float32").reshape(len(x), -1)
    if est.scale_ is not None:
        xs = xs * est.scale_ + est.offset_
    xs = xs.reshape((len(xs), *est.model_input_shape_))
    encoder = keras.models.clone_model(est.autoencoder_.encoder)
    encoder.set_weights(est.autoencoder_.encoder.get_weights())
    layers = []
    image = tuple(est.input_shape_)
    if len(image) >= 2 and max_shift > 0:  # at most a tenth of the side: 1 px on 8x8 images
        shift = min(max_shift, max(1, min(image[:2]) // 10))
        layers.append(kdc.layers.RandomShift(shift, image[:2], seed=seed))
    head = keras.layers.Dense(est.n_clusters_, activation="softmax", dtype="float32")
    model = keras.Sequential([keras.Input(est.model_input_shape_), *layers, encoder, head])
    # Start from the nearest-centre classifier of the confident rows' embedding:
    # logits 2 z.mu_k - |mu_k|^2, scaled so that typical logit gaps are a few units.
    z = est.embedding_
    centres = np.stack([z[confident & (labels == k)].mean(0) if (confident & (labels == k)).any()
                        else z[labels == k].mean(0) for k in range(est.n_clusters_)])
    spread = np.median(((z[:, None, :] - centres[None]) ** 2).sum(-1))
    head.set_weights([(2.0 * centres.T / spread).astype("float32"),
                      (-(centres ** 2).sum(1) / spread).astype("float32")])
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    model.fit(xs[confident], labels[confident], batch_size=256, epochs=epochs, verbose=0,
              shuffle=True)
    return model.predict(xs, batch_size=1024, verbose=0).argmax(1), float(confident.mean())


def main():
    parser = common_parser(__doc__, datasets=["mnist_test", "usps", "pendigits", "digits"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.99)
    parser.add_argument("--max-shift", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    args = parser.parse_args()
    for name, seed, x, y, est, n2d_time in n2d_fits(args):
        start = time.perf_counter()
        refined, kept = refine(est, x, epochs=args.epochs, threshold=args.threshold,
                               max_shift=args.max_shift,
                               learning_rate=args.learning_rate, seed=seed)
        row = {"dataset": name, "seed": seed,
               "n2d_acc": kdc.metrics.cluster_accuracy(y, est.labels_),
               "refined_acc": kdc.metrics.cluster_accuracy(y, refined),
               "confident": kept, "n2d_s": n2d_time,
               "refine_s": time.perf_counter() - start,
               **{k: v for k, v in vars(args).items() if k not in ("datasets", "seeds", "out")}}
        report(row, args.out)


if __name__ == "__main__":
    main()
