#!/usr/bin/env python
"""Scale benchmark: cluster a synthetic data set streamed from a ``.npy`` file on disk.

Writes a Gaussian mixture of ``--rows`` rows x ``--features`` features
(float32, ``--clusters`` components with random means and per-feature
spreads) to ``<out>/data.npy`` in chunks, then fits each method on the *path*
of that file, so that kdc streams it (memory-mapped, see "Scaling out" in the
README) instead of loading it:

- ``n2d``: :class:`kdc.N2D` with ``manifold_sample_size`` (UMAP and the GMM are
  fitted on a sample; every other row takes the vote of its nearest sampled
  rows in the autoencoder embedding);
- ``dec``: :class:`kdc.DEC`, whose self-training computes the target
  distribution in streaming passes.

Each method runs in a fresh Python process, so its peak resident memory
(``VmHWM`` from /proc, and ``ru_maxrss``) is its own; the data generation's
is reported separately. Results (seconds per stage, peak RSS, ACC/NMI against
the mixture components) are printed and written to
``<out>/scale_benchmark.json`` and ``.md``.

Usage:
    python scripts/scale_benchmark.py                       # 1,000,000 rows
    python scripts/scale_benchmark.py --rows 100000 --epochs 1 --out /tmp/scale
    python scripts/scale_benchmark.py --rows 1000000 --hidden-dims 256,256,512 --epochs 1
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GENERATE_CHUNK = 100_000


def peak_rss_mb():
    """``{"vmhwm_mb", "ru_maxrss_mb"}``: this process' peak resident memory."""
    out = {"vmhwm_mb": None}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    out["vmhwm_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1 / 2**20 if platform.system() == "Darwin" else 1 / 1024  # bytes / kilobytes
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return out


def generate(path, rows, features, clusters, seed):
    """Write the mixture to ``path`` (float32 .npy) and its labels beside it; returns seconds."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.0, size=(clusters, features))
    spreads = rng.uniform(0.5, 2.0, size=(clusters, features))
    x = np.lib.format.open_memmap(path, mode="w+", dtype="float32", shape=(rows, features))
    y = rng.integers(0, clusters, size=rows)
    for start in range(0, rows, GENERATE_CHUNK):
        part = y[start:start + GENERATE_CHUNK]
        noise = rng.standard_normal((part.size, features))
        x[start:start + part.size] = means[part] + spreads[part] * noise
    x.flush()
    del x
    np.save(Path(path).with_name("labels.npy"), y)
    return time.perf_counter() - t0


def make_estimator(method, args):
    import kdc

    common = dict(hidden_dims=tuple(args.hidden_dims), pretrain_epochs=args.epochs,
                  batch_size=args.batch_size, scale=args.scale, random_state=args.seed,
                  verbose=1)
    if method == "n2d":
        return kdc.N2D(args.clusters, manifold_sample_size=args.manifold_sample_size,
                       **common), "N2D"
    return kdc.DEC(args.clusters, max_iter=args.dec_iter, update_interval=args.update_interval,
                   clustering_batch_size=args.batch_size, **common), "DEC"


def worker(args):
    """Fit one method on the .npy path; print its result as one JSON line."""
    import kdc

    t0 = time.perf_counter()
    est, name = make_estimator(args.worker, args)
    est.fit(str(args.data))
    fit_s = time.perf_counter() - t0
    y = np.load(Path(args.data).with_name("labels.npy"))
    x = np.load(args.data, mmap_mode="r")
    t0 = time.perf_counter()
    predicted = est.predict(x[:10_000])  # a memmap slice: streamed too
    predict_s = time.perf_counter() - t0
    timings = {k: round(float(v), 2) for k, v in est.timings_.items()}
    # What the named stages leave out of the total: the validation pass over
    # the file (counting, checks, scaling statistics) and building the model.
    timings["validate_and_build"] = round(
        fit_s - sum(v for k, v in est.timings_.items() if k in ("pretrain", "embed", "head",
                                                                 "select_k", "load_weights")), 2)
    result = {
        "method": args.worker, "estimator": name, "rows": int(x.shape[0]),
        "fit_s": round(fit_s, 2), "timings": timings, "predict_10k_s": round(predict_s, 2),
        "acc": kdc.metrics.cluster_accuracy(y, est.labels_), "nmi": kdc.metrics.nmi(y, est.labels_),
        "predict_matches_labels": float(np.mean(predicted == est.labels_[:10_000])),
        **peak_rss_mb(),
    }
    print("RESULT " + json.dumps(result), flush=True)


def run_method(method, data, args):
    command = [sys.executable, os.path.abspath(__file__), "--worker", method, "--data",
               str(data), *args.passthrough]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    lines = proc.stdout.splitlines()
    for line in lines:
        if line.startswith("[kdc]"):
            print(f"  {method}: {line}", flush=True)
    results = [json.loads(line[7:]) for line in lines if line.startswith("RESULT ")]
    if proc.returncode or not results:
        print("\n".join(lines[-40:]), file=sys.stderr)
        raise SystemExit(f"{method} failed (exit code {proc.returncode})")
    return results[-1]


def to_markdown(report):
    lines = [f"Command: `{report['command']}`", "",
             f"Data: {report['rows']:,} rows x {report['features']} float32 features "
             f"({report['data_mb']:.0f} MB on disk), {report['clusters']} Gaussian components; "
             f"written in {report['generate_s']:.1f} s "
             f"(peak RSS {report['generate_rss_mb']:.0f} MB).",
             "", "| method | ACC | NMI | fit (s) | validate+build | pretrain | embed | head "
             "| predict 10k (s) | peak RSS (MB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        t = r["timings"]
        lines.append(
            f"| {r['estimator']} | {r['acc']:.3f} | {r['nmi']:.3f} | {r['fit_s']:.1f} | "
            f"{t.get('validate_and_build', 0):.1f} | {t.get('pretrain', 0):.1f} | "
            f"{t.get('embed', 0):.1f} | {t.get('head', 0):.1f} | {r['predict_10k_s']:.1f} | "
            f"{r['vmhwm_mb'] or r['ru_maxrss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--clusters", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1, help="pretraining epochs (default 1)")
    p.add_argument("--hidden-dims", type=lambda s: [int(v) for v in s.split(",")],
                   default=[500, 500, 2000], help="encoder sizes, e.g. 256,256,512")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--scale", default="standard",
                   help="input scaling (default standard: the mixture's features are Gaussian; "
                        "its statistics are computed in a streaming pass)")
    p.add_argument("--dec-iter", type=int, default=1000, help="DEC self-training steps")
    p.add_argument("--update-interval", type=int, default=500,
                   help="DEC steps between target updates (each one a pass over all rows)")
    p.add_argument("--manifold-sample-size", type=int, default=20_000,
                   help="N2D: rows UMAP and the GMM are fitted on (20,000: exact k-NN graph)")
    p.add_argument("--methods", nargs="+", choices=("n2d", "dec"), default=["n2d", "dec"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help="folder for data.npy and the report (default: a temporary folder, "
                        "whose data file is deleted at the end)")
    p.add_argument("--worker", choices=("n2d", "dec"), help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker(args)
    out = args.out or Path(tempfile.mkdtemp(prefix="kdc-scale-"))
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data.npy"
    # The workers get the model arguments as given, not the orchestration ones.
    skip = {"--out", "--methods"}
    args.passthrough, i = [], 0
    while i < len(argv):
        if argv[i] in skip:
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                i += 1
            continue
        args.passthrough.append(argv[i])
        i += 1
    print(f"[scale] writing {args.rows:,} x {args.features} float32 rows to {data}", flush=True)
    generate_s = generate(data, args.rows, args.features, args.clusters, args.seed)
    report = {
        "command": "python scripts/scale_benchmark.py " + " ".join(argv),
        "rows": args.rows, "features": args.features, "clusters": args.clusters,
        "data_mb": data.stat().st_size / 2**20, "generate_s": round(generate_s, 2),
        "generate_rss_mb": peak_rss_mb()["vmhwm_mb"] or peak_rss_mb()["ru_maxrss_mb"],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "results": [],
    }
    print(f"[scale] written in {generate_s:.1f} s", flush=True)
    for method in args.methods:
        print(f"[scale] {method} ...", flush=True)
        result = run_method(method, data, args)
        report["results"].append(result)
        print(f"[scale] {method}: fit {result['fit_s']:.1f} s {result['timings']}, ACC "
              f"{result['acc']:.3f}, peak RSS {result['vmhwm_mb']} MB", flush=True)
    report["machine"]["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    (out / "scale_benchmark.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "scale_benchmark.md").write_text(to_markdown(report))
    print(to_markdown(report))
    if args.out is None:
        data.unlink()
    return report


if __name__ == "__main__":
    main()
