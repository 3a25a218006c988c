#!/usr/bin/env python
"""Side-by-side benchmark: datasets x methods, ACC / NMI / ARI and wall time.

Every method runs in the same process on the same machine, one after the
other, on data from ``kdc.datasets.load`` (``../shared/datasets`` beside the
checkout is used when present). Results are printed as a table and written
as JSON and Markdown.

Usage:
    python scripts/benchmark.py --quick            # digits, pendigits, mnist_test
    python scripts/benchmark.py --full             # + usps, mnist (70k)
    python scripts/benchmark.py --datasets mnist --methods n2d --seeds 0 1 2
"""

import argparse
import json
import os
import platform
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
from kdc.metrics import evaluate  # noqa: E402

QUICK = ["digits", "pendigits", "mnist_test"]
FULL = ["digits", "pendigits", "usps", "mnist_test", "mnist"]
METHODS = ["kmeans", "umap_gmm", "aekmeans", "n2d", "dec", "idec"]


def run_kmeans(x, k, seed):
    from sklearn.cluster import KMeans

    t = time.perf_counter()
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(x)
    return labels, {"head": time.perf_counter() - t}


def run_umap_gmm(x, k, seed):
    from sklearn.mixture import GaussianMixture

    from kdc.cluster._manifold import fit_transform, make_umap

    t = time.perf_counter()
    u = make_umap(x, n_components=k, n_neighbors=20, min_dist=0.0, metric="euclidean",
                  random_state=seed, verbose=False)
    m = fit_transform(u, x)
    labels = GaussianMixture(k, covariance_type="full", n_init=10, random_state=seed).fit_predict(m)
    return labels, {"head": time.perf_counter() - t}


def run_estimator(cls_name, x, k, seed, epochs):
    cls = getattr(kdc, cls_name, None)
    if cls is None:
        raise RuntimeError(f"kdc.{cls_name} is not available in this version")
    kwargs = {} if epochs is None else {"pretrain_epochs": epochs}
    est = cls(n_clusters=k, random_state=seed, verbose=0, **kwargs).fit(x)
    timings = dict(est.timings_)
    n_epochs = len(est.history_["pretrain"]["loss"])
    if n_epochs and timings.get("pretrain"):
        timings["pretrain_samples_per_s"] = n_epochs * x.shape[0] / timings["pretrain"]
    timings["pretrain_epochs"] = n_epochs
    return est.labels_, timings


RUNNERS = {
    "kmeans": ("k-means on pixels", lambda x, k, s, e: run_kmeans(x, k, s)),
    "umap_gmm": ("UMAP + GMM on pixels", lambda x, k, s, e: run_umap_gmm(x, k, s)),
    "aekmeans": ("kdc AEKMeans", lambda x, k, s, e: run_estimator("AEKMeans", x, k, s, e)),
    "n2d": ("kdc N2D", lambda x, k, s, e: run_estimator("N2D", x, k, s, e)),
    "dec": ("kdc DEC", lambda x, k, s, e: run_estimator("DEC", x, k, s, e)),
    "idec": ("kdc IDEC", lambda x, k, s, e: run_estimator("IDEC", x, k, s, e)),
}


def machine():
    import keras
    import sklearn
    import tensorflow as tf

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "python": platform.python_version(), "kdc": kdc.__version__,
            "keras": keras.__version__, "tensorflow": tf.__version__,
            "scikit-learn": sklearn.__version__, "gpus": len(tf.config.list_physical_devices("GPU"))}


def summarize(rows):
    """Mean and spread over seeds per (dataset, method)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["method"]), []).append(r)
    out = []
    for (ds, method), rs in groups.items():
        ok = [r for r in rs if "acc" in r]
        if not ok:
            out.append({"dataset": ds, "method": method, "error": rs[0].get("error", "")})
            continue
        entry = {"dataset": ds, "method": method, "runs": len(ok)}
        for key in ("acc", "nmi", "ari", "seconds", "pretrain", "head"):
            vals = [r[key] for r in ok if r.get(key) is not None]
            if vals:
                entry[key] = float(np.mean(vals))
                entry[key + "_std"] = float(np.std(vals))
        sps = [r["pretrain_samples_per_s"] for r in ok if r.get("pretrain_samples_per_s")]
        if sps:
            entry["samples_per_s"] = float(np.mean(sps))
        out.append(entry)
    return out


def to_markdown(summary, info, command):
    lines = [f"Machine: {info['cpu']}, {info['cpus']} cores, {info['gpus']} GPU; "
             f"TensorFlow {info['tensorflow']}, Keras {info['keras']}, kdc {info['kdc']}.",
             f"Command: `{command}`", "",
             "| dataset | method | ACC | NMI | ARI | time (s) | pretrain (s) | pretrain samples/s |",
             "|---|---|---|---|---|---|---|---|"]

    def fmt(e, key, digits=3):
        if key not in e:
            return ""
        s = f"{e[key]:.{digits}f}"
        if e.get("runs", 1) > 1 and key + "_std" in e:
            s += f" ± {e[key + '_std']:.{digits}f}"
        return s

    for e in summary:
        name = RUNNERS[e["method"]][0]
        if "error" in e:
            lines.append(f"| {e['dataset']} | {name} | skipped: {e['error']} | | | | | |")
            continue
        lines.append(f"| {e['dataset']} | {name} | {fmt(e, 'acc')} | {fmt(e, 'nmi')} | "
                     f"{fmt(e, 'ari')} | {fmt(e, 'seconds', 1)} | {fmt(e, 'pretrain', 1)} | "
                     f"{e['samples_per_s']:.0f} |" if "samples_per_s" in e else
                     f"| {e['dataset']} | {name} | {fmt(e, 'acc')} | {fmt(e, 'nmi')} | "
                     f"{fmt(e, 'ari')} | {fmt(e, 'seconds', 1)} | | |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help=f"datasets {QUICK}")
    group.add_argument("--full", action="store_true", help=f"datasets {FULL}")
    group.add_argument("--datasets", nargs="+", help="dataset names or paths")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None,
                        help="pretraining epochs for kdc estimators (default: their 'auto')")
    parser.add_argument("--out", default="benchmark-results", help="folder for JSON and Markdown")
    args = parser.parse_args(argv)
    datasets = args.datasets or (FULL if args.full else QUICK)
    command = "python scripts/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine()
    print(f"# {info['cpu']} x{info['cpus']}, TF {info['tensorflow']}, Keras {info['keras']}",
          flush=True)
    rows = []
    for ds in datasets:
        x, y = kdc.datasets.load(ds, flatten=True, verbose=0)
        k = len(np.unique(y))
        for method in args.methods:
            for seed in args.seeds:
                row = {"dataset": ds, "method": method, "seed": seed, "n": int(x.shape[0])}
                t = time.perf_counter()
                try:
                    labels, timings = RUNNERS[method][1](x, k, seed, args.epochs)
                except Exception as exc:  # report, keep benchmarking the rest
                    row["error"] = f"{type(exc).__name__}: {exc}"
                    print(f"{ds:12s} {method:9s} seed {seed}: {row['error']}", flush=True)
                    rows.append(row)
                    continue
                row["seconds"] = time.perf_counter() - t
                scores = evaluate(y, labels)
                row.update({key: scores[key] for key in ("acc", "nmi", "ari")})
                row.update(timings)
                rows.append(row)
                print(f"{ds:12s} {method:9s} seed {seed}: ACC {row['acc']:.4f} NMI "
                      f"{row['nmi']:.4f} ARI {row['ari']:.4f} {row['seconds']:7.1f} s "
                      f"{json.dumps({k: round(v, 1) for k, v in timings.items()})}", flush=True)
    summary = summarize(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmark.json").write_text(json.dumps(
        {"machine": info, "command": command, "runs": rows, "summary": summary}, indent=2))
    md = to_markdown(summary, info, command)
    (out / "benchmark.md").write_text(md)
    print()
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
