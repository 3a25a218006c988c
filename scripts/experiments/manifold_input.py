"""Experiment: what the N2D head's manifold learner is fitted on.

Fits ``kdc.N2D`` (its defaults, the manifold on the embedding) once per
dataset and seed, then runs N2D's own head (UMAP + GMM, ``N2D._fit_head``)
again on other inputs:

- ``embedding``: the autoencoder embedding (N2D's labels as fitted);
- ``raw``: the scaled rows as the autoencoder saw them (UMAP + GMM on the
  raw features);
- ``both``: the embedding and the scaled rows side by side, each block
  divided by the square root of its total variance, so that each block
  contributes equally to squared distances on average.

With ``--head-seeds``, N2D's own head is refitted with ``manifold_input``
"embedding" and "both" under each of those ``random_state`` values (UMAP's
and the GMM's seeds) on the same embedding: the spread of the head alone.

    KDC_DATA=/path/to/datasets python scripts/experiments/manifold_input.py \\
        --datasets digits pendigits usps mnist_test --seeds 0 1 2 --out results.jsonl
"""

import time

import numpy as np

import kdc
from _common import n2d_fits, report, parser as common_parser
from kdc.training.scaling import fit_scaling


def scaled_rows(x):
    flat = np.asarray(x, dtype="float32").reshape(len(x), -1)
    scale, offset = fit_scaling(flat, "auto", rows_are_flat=np.ndim(x) == 2)
    return flat if scale is None else flat * scale + offset


def unit_block(a):
    a = a - a.mean(axis=0)
    return a / np.sqrt(np.square(a).sum(axis=1).mean())


def main():
    parser = common_parser(__doc__)
    parser.add_argument("--variants", nargs="*", default=["raw", "both"])
    parser.add_argument("--head-seeds", nargs="+", type=int, default=None,
                        help="also refit N2D's own head (manifold_input 'embedding' and 'both') "
                             "with each of these random_state values on the same embedding")
    args = parser.parse_args()
    raws = {}  # each data set's scaled rows, computed once
    for name, seed, x, y, est, seconds in n2d_fits(args, manifold_input="embedding"):
        if name not in raws:
            raws[name] = scaled_rows(x)
        raw = raws[name]
        row = {"dataset": name, "seed": seed, "n2d_s": round(seconds, 1),
               "embedding_acc": kdc.metrics.cluster_accuracy(y, est.labels_)}
        z = est.embedding_
        inputs = {"raw": lambda: raw,
                  "both": lambda: np.hstack([unit_block(z), unit_block(raw)]).astype("float32")}
        for variant in args.variants:
            start = time.perf_counter()
            est._fit_head(inputs[variant](), None, None)
            row[f"{variant}_s"] = round(time.perf_counter() - start, 1)
            row[f"{variant}_acc"] = kdc.metrics.cluster_accuracy(y, est.labels_)
        xm = est._to_model_input(est._validate_predict_input(x))
        for head_seed in args.head_seeds or ():
            est.random_state = head_seed
            for choice in ("embedding", "both"):
                est.manifold_input = choice
                est._fit_head(z, xm, None)
                row[f"head{head_seed}_{choice}_acc"] = kdc.metrics.cluster_accuracy(
                    y, est.labels_)
        report(row, args.out)


if __name__ == "__main__":
    main()
