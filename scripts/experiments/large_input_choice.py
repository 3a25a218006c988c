"""Experiment: N2D's manifold_input="auto" on flat MNIST (70,000 x 784 rows), seed 0,
comparing the inputs on a sample of INPUT_CHOICE_ROWS rows ("sample", the default)
or on every row ("all").

    KDC_DATA=/path/to/datasets python scripts/experiments/large_input_choice.py sample
    KDC_DATA=/path/to/datasets python scripts/experiments/large_input_choice.py all
"""
import sys
import time

import numpy as np

import kdc
from kdc.cluster import n2d
x, y = kdc.datasets.load("mnist", verbose=0)[:2]
x = np.asarray(x, "float32").reshape(len(x), -1)
mode = sys.argv[1]
if mode == "all":
    n2d.INPUT_CHOICE_ROWS = 10**9
t = time.time()
est = kdc.N2D(10, random_state=0, verbose=0).fit(x)
print(mode, est.manifold_input_, {c: round(v, 4) for c, v in est.manifold_input_scores_.items()},
      "ACC", round(kdc.metrics.cluster_accuracy(y, est.labels_), 4), "NMI",
      round(kdc.metrics.nmi(y, est.labels_), 4),
      "total", round(time.time() - t, 1), {k: round(v, 1) for k, v in est.timings_.items() if isinstance(v, float)}, flush=True)
