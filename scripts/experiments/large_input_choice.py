"""Experiment: N2D's manifold_input="auto" on a large image set passed as flat rows
(MNIST, 70,000 x 784), comparing the inputs on a sample of INPUT_CHOICE_ROWS rows
(``--compare-on sample``, what N2D does) or on every row (``--compare-on all``).

    KDC_DATA=/path/to/datasets python scripts/experiments/large_input_choice.py --seeds 0
    KDC_DATA=/path/to/datasets python scripts/experiments/large_input_choice.py --seeds 0 \\
        --compare-on all
"""

import time

import numpy as np

import kdc
from kdc.cluster import n2d
from _common import load, report, parser as common_parser


def main():
    parser = common_parser(__doc__, datasets=["mnist"])
    parser.add_argument("--compare-on", choices=("sample", "all"), default="sample")
    args = parser.parse_args()
    if args.compare_on == "all":
        n2d.INPUT_CHOICE_ROWS = np.inf
    for name in args.datasets:
        x, y = load(name)
        x = np.asarray(x, "float32").reshape(len(x), -1)  # flat rows: "auto" compares inputs
        for seed in args.seeds:
            start = time.perf_counter()
            est = kdc.N2D(len(np.unique(y)), random_state=seed, verbose=0).fit(x)
            report({"dataset": name, "seed": seed, "compare_on": args.compare_on,
                    "chosen": est.manifold_input_, "scores": est.manifold_input_scores_,
                    "acc": kdc.metrics.cluster_accuracy(y, est.labels_),
                    "nmi": kdc.metrics.nmi(y, est.labels_),
                    "seconds": time.perf_counter() - start,
                    "head_s": est.timings_.get("head")}, args.out)


if __name__ == "__main__":
    main()
