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
    python scripts/experiments/input_choice.py --summarise results.jsonl

``--summarise`` prints, per data set, the mean ACC (over seeds, first head)
of the input each criterion picks: the larger silhouette of one head
("sil1") or of two ("sil2"), the larger stability ("stab") or GMM
confidence ("conf"), among embedding and both ("/eb") or also raw ("/ebr").
"""

import collections
import json
import time

import numpy as np
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


CRITERIA = {
    "sil1": lambda row, c: row[f"{c}_sil"][0],
    "sil2": lambda row, c: np.mean(row[f"{c}_sil"]),
    "stab": lambda row, c: row[f"{c}_stab"],
    "conf": lambda row, c: row[f"{c}_conf"][0],
}


def summarise(paths):
    """Print the mean ACC of each input, and of each criterion's pick, per data set."""
    by_set = collections.defaultdict(list)
    for path in paths:
        for line in open(path):
            row = json.loads(line)
            by_set[row["dataset"]].append(row)
    inputs = ("embedding", "both", "raw")
    picks = [(name, cands) for name in CRITERIA
             for cands in (("embedding", "both"), inputs)]
    print("data set | " + " | ".join(inputs) + " | " + " | ".join(
        f"{name}/{''.join(c[0] for c in cands)}" for name, cands in picks))
    for name, rows in by_set.items():
        cells = [np.mean([row[f"{c}_acc"][0] for row in rows]) for c in inputs]
        for criterion, cands in picks:
            chosen = [max(cands, key=lambda c: CRITERIA[criterion](row, c)) for row in rows]
            cells.append(np.mean([row[f"{c}_acc"][0] for row, c in zip(rows, chosen)]))
        print(f"{name} | " + " | ".join(f"{v:.4f}" for v in cells))


def main():
    parser = common_parser(__doc__, datasets=[])
    parser.add_argument("--offset", type=int, default=100,
                        help="the second head's seed is the fit's seed plus this")
    parser.add_argument("--summarise", nargs="+", metavar="JSONL",
                        help="summarise these results files instead of fitting")
    args = parser.parse_args()
    if args.summarise:
        return summarise(args.summarise)
    if not args.datasets:
        parser.error("--datasets (or --summarise) is required")
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
