"""Experiment: can an unsupervised score tell which input N2D's manifold should see?

Fits ``kdc.N2D`` (its defaults, the manifold on the embedding) once per
dataset and seed, then refits N2D's own head on three inputs --
``embedding``, ``both`` (embedding and scaled rows,
``manifold_input="both"``) and ``raw`` (the scaled rows alone) -- under two
head seeds each, and reports per input: ACC of each head, the agreement
(ARI) of the two heads (stability), the silhouette of the labels in the
head's own UMAP space and the GMM's mean largest posterior.

    KDC_DATA=/path/to/datasets python scripts/experiments/input_choice.py \\
        --datasets pendigits my.npz --seeds 0 1 2 --out results.jsonl
"""

import time

from sklearn.metrics import adjusted_rand_score

import kdc
from kdc.cluster.n2d import layout_score
from _common import n2d_fits, report, parser as common_parser
from manifold_input import scaled_rows


def head_scores(est, y):
    m = est.manifold_embedding_
    labels = est.labels_
    sil = layout_score(m, labels, random_state=0)  # the score of manifold_input="auto"
    conf = est.clusterer_.predict_proba(m).max(axis=1).mean()
    return labels.copy(), kdc.metrics.cluster_accuracy(y, labels), float(sil), float(conf)


def main():
    parser = common_parser(__doc__)
    parser.add_argument("--offset", type=int, default=100,
                        help="the second head's seed is the fit's seed plus this")
    args = parser.parse_args()
    raws = {}
    for name, seed, x, y, est, seconds in n2d_fits(args, manifold_input="embedding"):
        if name not in raws:
            raws[name] = scaled_rows(x)
        z = est.embedding_
        xm = est._to_model_input(est._validate_predict_input(x))
        row = {"dataset": name, "seed": seed, "n2d_s": round(seconds, 1)}
        for variant in ("embedding", "both", "raw"):
            fits = []
            start = time.perf_counter()
            for head_seed in (seed, seed + args.offset):
                est.random_state = head_seed
                if variant == "raw":
                    est.manifold_input = "embedding"
                    est._fit_head(raws[name], None, None)
                else:
                    est.manifold_input = variant
                    est._fit_head(z, xm, None)
                fits.append(head_scores(est, y))
            row[f"{variant}_s"] = round((time.perf_counter() - start) / 2, 1)
            row[f"{variant}_acc"] = [f[1] for f in fits]
            row[f"{variant}_sil"] = [f[2] for f in fits]
            row[f"{variant}_conf"] = [f[3] for f in fits]
            row[f"{variant}_stab"] = adjusted_rand_score(fits[0][0], fits[1][0])
        est.random_state = seed
        report(row, args.out)


if __name__ == "__main__":
    main()
