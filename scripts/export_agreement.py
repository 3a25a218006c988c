#!/usr/bin/env python
"""Agreement of an exported N2D SavedModel with ``est.predict`` on held-out rows.

Fits N2D on the MNIST training rows (from the shipped pretrained weights),
exports it, loads the SavedModel with TensorFlow alone and compares its
clusters with ``est.predict`` (UMAP transform + GMM) on the 10,000 test rows.

Usage:
    python scripts/export_agreement.py [--sample 20000] [--manifold-map parametric]
        [--out /tmp/n2d_export]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"
if SHARED.is_dir():
    os.environ.setdefault("KDC_DATA", str(SHARED))

import kdc  # noqa: E402
from kdc.serving import EXPORT_INFO, MANIFOLD_MAPS  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=None,
                        help="manifold_sample_size (default: fit UMAP on every training row)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/kdc_n2d_export"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifold-map", default="auto", choices=MANIFOLD_MAPS)
    args = parser.parse_args(argv)
    import tensorflow as tf

    x, y = kdc.datasets.load("mnist", flatten=True)
    x_train, x_test, y_test = x[:60000], x[60000:], y[60000:]
    t0 = time.perf_counter()
    est = kdc.N2D(10, pretrained="mnist", manifold_sample_size=args.sample,
                  random_state=args.seed, verbose=1).fit(x_train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = est.export(args.out / "1", overwrite=True, manifold_map=args.manifold_map)
    export_s = time.perf_counter() - t0
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    served = fn(x=tf.constant(x_test))["cluster"].numpy()
    predicted = est.predict(x_test)
    result = {
        "fit_s": round(fit_s, 1), "export_s": round(export_s, 1),
        "manifold_sample_size": args.sample, "manifold_map": args.manifold_map,
        "export_info": {k: v for k, v in json.loads(
            (path / EXPORT_INFO).read_text()).items() if "agreement" in k or k == "head"},
        "train_acc": kdc.metrics.cluster_accuracy(y[:60000], est.labels_),
        "heldout_acc_predict": kdc.metrics.cluster_accuracy(y_test, predicted),
        "heldout_acc_served": kdc.metrics.cluster_accuracy(y_test, served),
        "heldout_agreement": float(np.mean(served == predicted)),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
