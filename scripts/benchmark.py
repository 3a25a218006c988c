#!/usr/bin/env python
"""Side-by-side benchmark: datasets x methods x seeds, scores, time, memory, machine limits.

For every dataset, method and seed it records ACC / NMI / ARI, the wall time
of each stage (pretraining, embedding, head), pretraining throughput
(samples/s and achieved GFLOP/s against the machine's measured matmul rate)
and peak memory. Results are printed as a table and written as JSON and
Markdown (``benchmark.json``, ``benchmark.md`` in ``--out``), with the mean
and standard deviation over seeds per dataset x method.

Isolation: by default each (dataset, method, seed) runs in a fresh Python
process, so its peak RSS is its own and no method inherits another's warm
caches or memory. Interpreter start-up and imports (TensorFlow, PyTorch...)
and data loading are timed separately (``import_s``, ``load_s``) and are not
part of the method's time. ``--in-process`` runs everything in this process
instead (faster; memory is then the peak RSS sampled while the method runs).

Methods: kdc's AEKMeans, DEC, IDEC, N2D; baselines k-means and UMAP+GMM on
the pixels; peers, each skipped with a note when not installed: ClustPy's DEC,
IDEC and N2D (PyTorch, same d-500-500-2000-10 autoencoder, batch size and
pretraining epochs) and the original ``n2d`` package (see scripts/_peers.py).

The machine section measures dense matmul GFLOP/s with TensorFlow (float32,
and bfloat16 labelled native or emulated) on a square matrix and on the
autoencoder's layer shapes, and counts the autoencoder's training FLOPs.

Usage:
    python scripts/benchmark.py --quick            # digits, pendigits, mnist_test
    python scripts/benchmark.py --full             # + usps, mnist (70k)
    python scripts/benchmark.py --datasets mnist --methods n2d clustpy_n2d --seeds 0 1 2
    python scripts/benchmark.py --datasets digits --epochs 2 --seeds 0   # smoke test
    python scripts/benchmark.py --list-methods
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(HERE), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
SHARED = ROOT.parent / "shared" / "datasets"
if SHARED.is_dir():
    os.environ.setdefault("KDC_DATA", str(SHARED))

import _machine  # noqa: E402
import _peers  # noqa: E402

QUICK = ["digits", "pendigits", "mnist_test"]
FULL = ["digits", "pendigits", "usps", "mnist_test", "mnist"]
KDC_METHODS = ["aekmeans", "n2d", "dec", "idec", "n2d_pretrained"]
BASELINES = ["kmeans", "umap_gmm"]
METHODS = BASELINES + KDC_METHODS  # kdc + baselines (always available)
PEER_METHODS = list(_peers.RUNNERS)
ALL_METHODS = METHODS + PEER_METHODS
# methods pretraining the d-500-500-2000-10 AE (n2d_pretrained loads it from weights/)
AE_METHODS = (set(KDC_METHODS) - {"n2d_pretrained"}) | set(PEER_METHODS)
# opt-in only (--methods): rows for datasets without shipped weights would be errors
NOT_DEFAULT = {"n2d_pretrained"}


# ------------------------------------------------------------------ runners
def run_kmeans(x, k, seed):
    from sklearn.cluster import KMeans

    t = time.perf_counter()
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(x)
    return labels, {"head": time.perf_counter() - t}


def run_umap_gmm(x, k, seed):
    from sklearn.mixture import GaussianMixture

    from kdc._manifold import fit_transform, make_umap

    t = time.perf_counter()
    u = make_umap(x, n_components=k, n_neighbors=20, min_dist=0.0, metric="euclidean",
                  random_state=seed, verbose=False)
    m = fit_transform(u, x)
    labels = GaussianMixture(k, covariance_type="full", n_init=10, random_state=seed).fit_predict(m)
    return labels, {"head": time.perf_counter() - t}


# Extra arguments of every kdc estimator in this run (``--augment``); workers get them
# through their spec.
# The benchmark opts in to thread pinning, as the CLI does (see kdc.training.threads).
KDC_PARAMS = {"pin_threads": True}


def _augment_arg(text):
    """``--augment``: "auto", "none" or an int >= 0 (kdc's ``augment``)."""
    if text in ("auto", "none"):
        return None if text == "none" else text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 'auto', 'none' or an int >= 0. "
                                         f"Received: {text!r}")
    return value


def run_estimator(cls_name, x, k, seed, epochs, **params):
    import kdc

    cls = getattr(kdc, cls_name, None)
    if cls is None:
        raise RuntimeError(f"kdc.{cls_name} is not available in this version")
    kwargs = dict(KDC_PARAMS) if epochs is None else {**KDC_PARAMS, "pretrain_epochs": epochs}
    kwargs.update(params)
    est = cls(n_clusters=k, random_state=seed, verbose=0, **kwargs).fit(x)
    timings = dict(est.timings_)
    n_epochs = len(est.history_["pretrain"]["loss"])
    timings["pretrain_epochs"] = n_epochs
    timings["precision"] = est.training_plan_["pretrain"]["precision"]
    if getattr(est, "manifold_input_", None) is not None:  # N2D: what its UMAP was fitted on
        timings["manifold_input"] = est.manifold_input_
    return est.labels_, timings


# The dataset being run (set per run): n2d_pretrained loads weights/<dataset>-dense.
DATASET = None


def run_pretrained_n2d(x, k, seed):
    """kdc's N2D with ``pretrained=`` the dataset's shipped weights: only the head is fitted."""
    from kdc import _pretrained

    if DATASET not in _pretrained.available():
        raise RuntimeError(f"no shipped weights for dataset {DATASET!r} (weights/ has "
                           f"{_pretrained.available()}); see scripts/pretrain.py")
    return run_estimator("N2D", x, k, seed, None, pretrained=DATASET)


RUNNERS = {
    "kmeans": ("k-means on the raw features", lambda x, k, s, e, c: run_kmeans(x, k, s)),
    "umap_gmm": ("UMAP + GMM on the raw features", lambda x, k, s, e, c: run_umap_gmm(x, k, s)),
    "aekmeans": ("kdc AEKMeans", lambda x, k, s, e, c: run_estimator("AEKMeans", x, k, s, e)),
    "n2d": ("kdc N2D", lambda x, k, s, e, c: run_estimator("N2D", x, k, s, e)),
    "dec": ("kdc DEC", lambda x, k, s, e, c: run_estimator("DEC", x, k, s, e)),
    "idec": ("kdc IDEC", lambda x, k, s, e, c: run_estimator("IDEC", x, k, s, e)),
    "n2d_pretrained": ("kdc N2D, shipped weights",
                       lambda x, k, s, e, c: run_pretrained_n2d(x, k, s)),
}
RUNNERS.update(_peers.RUNNERS)


UMAP_METHODS = {"umap_gmm", "n2d", "n2d_pretrained", "clustpy_n2d", "n2d_original"}
_WARMED = set()


def warm_umap(n_samples):
    """Compile umap-learn's numba functions on small random data; returns the seconds.

    A fresh process pays tens of seconds of JIT compilation on its first UMAP
    (more again for the approximate-neighbour path umap-learn takes from 4096
    samples on). That is start-up cost, the same for every UMAP-based method,
    so it is paid here, reported as ``warmup_s``, and kept out of the method's
    time. Runs once per process and path.
    """
    import warnings

    import umap

    sizes = [n for n in (200, 4200) if n not in _WARMED and (n == 200 or n_samples >= 4096)]
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    for n in sizes:
        z = rng.normal(size=(n, 10)).astype("float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            umap.UMAP(n_components=5, n_neighbors=15, min_dist=0.0, random_state=0,
                      n_epochs=5).fit_transform(z)
        _WARMED.add(n)
    return time.perf_counter() - t


def prepare(method, n_samples=0, warm=True):
    """Import what ``method`` needs and warm up JIT code before its timed region.

    Returns:
        dict with ``note`` (what a peer's import had to work around, or '')
        and ``warmup_s`` (seconds of JIT warm-up; 0 when none).
    """
    note = ""
    if method == "kmeans":
        import sklearn.cluster  # noqa: F401
    elif method == "umap_gmm":
        import umap  # noqa: F401

        import kdc._manifold

        kdc._manifold.cache_umap_kernels()  # the benchmark's opt-in, as the CLI's
    elif method in KDC_METHODS:
        import kdc
        import kdc._manifold

        kdc._manifold.cache_umap_kernels()
    else:
        note = _peers.prepare(method)
    warmup = warm_umap(n_samples) if warm and method in UMAP_METHODS else 0.0
    return {"note": note, "warmup_s": warmup}


def peer_epochs(method, epochs, n):
    """The pretraining epochs the kdc counterpart of ``method`` uses (so the peer gets the same)."""
    if epochs is not None:
        return int(epochs)
    import kdc
    from kdc.training.plan import resolve_epochs

    kdc_class = getattr(kdc, _peers.KDC_COUNTERPART[method])
    return int(resolve_epochs("auto", n, kdc_class().get_params()["pretrain_budget"]))


def method_epochs(method, epochs, n):
    """The ``epochs`` argument for a runner: kdc's own 'auto' stays None."""
    if method in PEER_METHODS:
        return peer_epochs(method, epochs, n)
    return epochs


def run_method(method, x, k, seed, epochs, clustering_epochs):
    """Run one method under an RSS sampler; returns (labels, row fields).

    ``epochs`` is already resolved by :func:`method_epochs` (so a peer's worker
    needs no kdc import); ``clustering_epochs`` None means ``epochs``.
    """
    e = epochs
    c = clustering_epochs if clustering_epochs is not None else e
    if method not in KDC_METHODS:  # baselines and peers take flat rows; kdc takes images
        x = x.reshape(x.shape[0], -1)  # as loaded (augment="auto" shifts them while training)
    with _machine.PeakRSS() as mem:
        t = time.perf_counter()
        labels, timings = RUNNERS[method][1](x, k, seed, e, c)
        seconds = time.perf_counter() - t
    fields = {"seconds": seconds,
              **{key: v if isinstance(v, str) else float(v) for key, v in timings.items()},
              "rss_before_mb": mem.start_mb, "method_peak_rss_mb": mem.peak_mb}
    for key in ("pretrain_epochs", "clustering_epochs"):
        if key in fields:
            fields[key] = int(fields[key])
    return np.asarray(labels).ravel(), fields


# ------------------------------------------------------------------- worker
class _BlockImport:
    """Meta-path finder making ``import NAME`` raise ModuleNotFoundError.

    Unlike ``sys.modules[NAME] = None`` it leaves no entry in sys.modules, which
    libraries probing ``"torch" in sys.modules`` (array-api-compat) rely on.
    """

    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name or fullname.startswith(self.name + "."):
            raise ModuleNotFoundError(f"{fullname} is blocked in this benchmark worker",
                                      name=fullname)


def worker(spec_path):
    """Child process: run one (dataset, method, seed) from a JSON spec; write the result."""
    spec = json.loads(Path(spec_path).read_text())
    method = spec["method"]
    if spec.get("block_torch") and method not in _peers.TORCH_METHODS:
        # umap-learn imports torch when it is installed (for ParametricUMAP's export),
        # which would add seconds and hundreds of MB to methods that never use it.
        sys.meta_path.insert(0, _BlockImport("torch"))
    result = {"pid": os.getpid()}
    KDC_PARAMS.update(spec.get("kdc_params", {}))
    global DATASET
    DATASET = spec.get("dataset")
    try:
        prep = prepare(method, spec["n"], warm=spec["warm"])
        if prep["note"]:
            result["note"] = prep["note"]
        result["warmup_s"] = prep["warmup_s"]
        # interpreter start-up and imports, without the JIT warm-up
        result["import_s"] = time.time() - spec["launched"] - prep["warmup_s"]
        t = time.perf_counter()
        data = np.load(spec["data"])
        x = data["x"]
        result["load_s"] = time.perf_counter() - t
        labels, fields = run_method(method, x, spec["k"], spec["seed"], spec["epochs"],
                                    spec["clustering_epochs"])
        result.update(fields)
        np.save(spec["labels"], labels)
    except BaseException as exc:  # report any failure to the parent
        import traceback

        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    mem = _machine.memory_status()
    result["process_peak_rss_mb"] = mem["hwm_mb"]
    Path(spec["result"]).write_text(json.dumps(result))
    return 0 if "error" not in result else 1


def run_in_subprocess(ds, method, seed, k, n, data_path, args, tmp, log_dir):
    """Run one (dataset, method, seed) in a fresh interpreter; returns row fields and labels."""
    stem = f"{ds}-{method}-{seed}".replace(os.sep, "_")
    spec = {"method": method, "dataset": ds, "seed": seed, "k": k, "n": n,
            "epochs": method_epochs(method, args.epochs, n),
            "warm": not args.no_warmup,
            "clustering_epochs": args.peer_clustering_epochs, "data": str(data_path),
            "labels": str(tmp / f"{stem}.labels.npy"), "result": str(tmp / f"{stem}.json"),
            "block_torch": not args.no_torch_block, "kdc_params": KDC_PARAMS,
            "launched": time.time()}
    spec_path = tmp / f"{stem}.spec.json"
    spec_path.write_text(json.dumps(spec))
    log_path = log_dir / f"{stem}.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    t = time.perf_counter()
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                   "--worker", str(spec_path)], stdout=log,
                                  stderr=subprocess.STDOUT, env=env,
                                  timeout=args.timeout or None, check=False)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    process_s = time.perf_counter() - t
    result_path = Path(spec["result"])
    fields = json.loads(result_path.read_text()) if result_path.exists() else {}
    fields["process_s"] = process_s
    fields["log"] = str(log_path)
    if "error" not in fields and rc != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        why = {"timeout": f"timed out after {args.timeout} s",
               -9: "killed (SIGKILL: out of memory?)"}.get(rc, f"exit status {rc}")
        fields["error"] = f"worker {why}: {' | '.join(tail)}"
    labels = None
    if "error" not in fields:
        labels = np.load(spec["labels"])
    return fields, labels


# ------------------------------------------------------------------ machine
def machine_info():
    """Versions and hardware of this run (imports kdc, Keras and TensorFlow)."""
    import kdc
    from kdc._quiet import import_keras

    import_keras()  # as kdc imports it: without TensorFlow's start-up log lines
    import keras
    import sklearn
    import tensorflow as tf

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            mem_gb = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 2**20
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "memory_gb": mem_gb, "python": platform.python_version(), "kdc": kdc.__version__,
            "keras": keras.__version__, "tensorflow": tf.__version__,
            "scikit-learn": sklearn.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "peers": _peers.versions(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


# Kept for callers of the previous version of this script.
machine = machine_info


def efficiency(row, probe):
    """Pretraining samples/s, FLOPs/sample, achieved GFLOP/s and fractions of the peaks."""
    out = {}
    epochs, pretrain = row.get("pretrain_epochs"), row.get("pretrain")
    if not epochs or not pretrain:
        return out
    out["pretrain_samples_per_s"] = epochs * row["n"] / pretrain
    if row["method"] not in AE_METHODS or not row.get("d"):
        return out
    fps = _machine.autoencoder_flops_per_sample(row["d"])
    out["flops_per_sample"] = fps
    out["pretrain_gflops"] = fps * out["pretrain_samples_per_s"] / 1e9
    # Against the peak of the dtype the matmuls ran in: bfloat16 for a kdc run pretrained
    # with precision="mixed_bfloat16" (kdc's default on CPUs with native bf16 from 5,000
    # rows on), else float32 (the peers).
    dtype = "bfloat16" if row.get("precision") == "mixed_bfloat16" else "float32"
    out["peak_dtype"] = dtype
    peak = _machine.peak_gflops(probe, dtype)
    if peak:
        out["pretrain_peak_fraction"] = out["pretrain_gflops"] / peak
    mix = ((probe or {}).get(dtype, {}).get("layers", {}).get(str(row["d"])) or {})
    if mix.get("mix_gflops"):
        out["pretrain_mix_fraction"] = out["pretrain_gflops"] / mix["mix_gflops"]
    return out


# ------------------------------------------------------------------ summary
SUMMARY_KEYS = ("acc", "nmi", "ari", "seconds", "pretrain", "embed", "head",
                "pretrain_samples_per_s", "pretrain_gflops", "pretrain_peak_fraction",
                "pretrain_mix_fraction", "rss_before_mb", "method_peak_rss_mb",
                "process_peak_rss_mb", "import_s", "warmup_s", "load_s", "process_s")


def summarize(rows):
    """Mean and spread (population std) over seeds per (dataset, method)."""
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["method"]), []).append(r)
    out = []
    for (ds, method), rs in groups.items():
        ok = [r for r in rs if "acc" in r]
        if not ok:
            why = rs[0].get("skipped") or rs[0].get("error", "")
            key = "skipped" if rs[0].get("skipped") else "error"
            out.append({"dataset": ds, "method": method, key: why})
            continue
        entry = {"dataset": ds, "method": method, "runs": len(ok),
                 "seeds": [r["seed"] for r in ok]}
        if len(ok) < len(rs):
            entry["failed_runs"] = len(rs) - len(ok)
        for key in SUMMARY_KEYS:
            vals = [r[key] for r in ok if r.get(key) is not None]
            if vals:
                entry[key] = float(np.mean(vals))
                entry[key + "_std"] = float(np.std(vals))
        if "pretrain_samples_per_s" in entry:
            entry["samples_per_s"] = entry["pretrain_samples_per_s"]
        if any(r.get("manifold_input") for r in ok):  # N2D's choice, per seed
            entry["manifold_input"] = [r.get("manifold_input") for r in ok]
        for key in ("pretrain_epochs", "clustering_epochs", "flops_per_sample", "precision",
                    "peak_dtype"):
            if ok[0].get(key) is not None:
                entry[key] = ok[0][key]
        out.append(entry)
    return out


def _fmt(e, key, digits=3, scale=1.0):
    if e.get(key) is None:
        return ""
    s = f"{e[key] * scale:.{digits}f}"
    if e.get("runs", 1) > 1 and key + "_std" in e:
        s += f" ± {e[key + '_std'] * scale:.{digits}f}"
    return s


def to_markdown(summary, info, command, probe=None, notes=None, isolation="process"):
    """The Markdown report: results, machine limits, notes."""
    lines = [f"Machine: {info['cpu']}, {info['cpus']} cores, {info['gpus']} GPU; "
             f"TensorFlow {info['tensorflow']}, Keras {info['keras']}, kdc {info['kdc']}"
             + "".join(f", {k} {v}" for k, v in (info.get("peers") or {}).items() if v) + ".",
             f"Command: `{command}`", "",
             ("Each (dataset, method, seed) ran in its own process: peak RSS is that process' "
              "VmHWM; start-up (interpreter + imports) and data loading are not in the method's "
              "time." if isolation == "process" else
              "All methods ran in one process: peak RSS is the largest RSS sampled while the "
              "method ran."),
             ("Mean ± std over seeds. time = the method's wall time; pretrain / head = its "
             "stages; GFLOP/s = autoencoder training FLOPs x samples/s, with its fraction of the "
             "best measured matmul rate of the dtype it trained in (bfloat16 for kdc runs "
             "pretrained with precision='mixed_bfloat16', else float32)."), "",
             "## Results", "",
             ("| dataset | method | seeds | ACC | NMI | ARI | time (s) | pretrain (s) | head (s) "
             "| pretrain samples/s | pretrain GFLOP/s (% peak) | peak RSS (MB) | start-up (s) "
             "| JIT warm-up (s) |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in summary:
        name = RUNNERS[e["method"]][0] if e["method"] in RUNNERS else e["method"]
        if "acc" not in e:
            why = e.get("skipped") or e.get("error", "")
            label = "skipped" if e.get("skipped") else "failed"
            lines.append(f"| {e['dataset']} | {name} | | {label}: {why} |" + " |" * 10)
            continue
        if e.get("manifold_input"):
            name += f" (manifold input: {'/'.join(map(str, e['manifold_input']))})"
        gflops = _fmt(e, "pretrain_gflops", 1)
        if gflops and e.get("pretrain_peak_fraction") is not None:
            gflops += f" ({e['pretrain_peak_fraction']:.0%})"
        peak_key = "process_peak_rss_mb" if isolation == "process" else "method_peak_rss_mb"
        seeds = str(e["runs"]) + (f" ({e['failed_runs']} failed)" if e.get("failed_runs") else "")
        lines.append(
            f"| {e['dataset']} | {name} | {seeds} | {_fmt(e, 'acc')} | {_fmt(e, 'nmi')} | "
            f"{_fmt(e, 'ari')} | {_fmt(e, 'seconds', 1)} | {_fmt(e, 'pretrain', 1)} | "
            f"{_fmt(e, 'head', 1)} | {_fmt(e, 'pretrain_samples_per_s', 0)} | {gflops} | "
            f"{_fmt(e, peak_key, 0)} | {_fmt(e, 'import_s', 1)} | {_fmt(e, 'warmup_s', 1)} |")
    lines += ["", "## Machine", ""] + machine_markdown(info, probe, summary)
    if notes:
        lines += ["", "## Notes", ""] + [f"- **{k}**: {v}" for k, v in notes.items()]
    return "\n".join(lines) + "\n"


def machine_markdown(info, probe, summary):
    """The machine section: matmul rates and the autoencoder's achieved FLOP rate."""
    lines = [(f"CPU: {info['cpu']}, {info['cpus']} cores, {info.get('memory_gb') or 0:.0f} GiB; "
             f"load average at start {info.get('load_average')}.")]
    if not probe:
        return lines + ["", "Matmul probe skipped (--no-probe)."]
    lines += [f"SIMD: {' '.join(probe['simd'])}. bfloat16: {probe['bf16_support']}.",
              (f"TensorFlow threads: intra-op {probe['threads']['intra_op']}, inter-op "
              f"{probe['threads']['inter_op']} (0 = all cores). Best of {probe['repeats']} "
              "timed batches after warm-up; other processes on the machine lower these "
              "numbers."), "",
              "| dtype | matmul (m x k x n) | GFLOP/s |", "|---|---|---|"]
    for dtype in ("float32", "bfloat16"):
        res = probe.get(dtype)
        if not res:
            continue
        if "square" in res:
            m, k, n = res["square"]["shape"]
            lines.append(f"| {dtype} | {m} x {k} x {n} | {res['square']['gflops']:.1f} |")
        for d, layer in res["layers"].items():
            for r in layer["matmuls"]:
                m, k, n = r["shape"]
                lines.append(f"| {dtype} | {m} x {k} x {n} | {r['gflops']:.1f} |")
            lines.append(f"| {dtype} | autoencoder layer mix, d={d} (FLOP-weighted) | "
                         f"{layer['mix_gflops']:.1f} |")
    effs = [e for e in summary if e.get("pretrain_gflops") is not None]
    if effs:
        lines += ["", ("Autoencoder pretraining (d-500-500-2000-10-2000-500-500-d; training = 3 x "
                  "forward FLOPs of 2·in·out per dense layer):"), "",
                  ("| dataset | method | dtype | FLOPs/sample | samples/s | GFLOP/s | % of the "
                  "dtype's peak | % of the dtype's layer mix |"),
                  "|---|---|---|---|---|---|---|---|"]
        for e in effs:
            name = RUNNERS[e["method"]][0]
            mix = (f"{e['pretrain_mix_fraction']:.0%}"
                   if e.get("pretrain_mix_fraction") is not None else "")
            peak = (f"{e['pretrain_peak_fraction']:.0%}"
                    if e.get("pretrain_peak_fraction") is not None else "")
            lines.append(f"| {e['dataset']} | {name} | {e.get('peak_dtype', '')} | "
                         f"{e['flops_per_sample'] / 1e6:.1f} M | "
                         f"{e['pretrain_samples_per_s']:.0f} | {e['pretrain_gflops']:.1f} | "
                         f"{peak} | {mix} |")
    return lines


# --------------------------------------------------------------------- main
def available_methods():
    """``{method: (available, note)}`` for every method."""
    out = {m: (True, "") for m in METHODS}
    out.update(_peers.availability())
    return out


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help=f"datasets {QUICK}")
    group.add_argument("--full", action="store_true", help=f"datasets {FULL}")
    group.add_argument("--datasets", nargs="+", help="dataset names or paths")
    parser.add_argument("--methods", nargs="+", default=None, choices=ALL_METHODS,
                        help="default: kdc methods, baselines and the installed peers")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None,
                        help="pretraining epochs for kdc estimators and peers (default: kdc's "
                             "'auto'; the peers get the number of epochs it resolves to)")
    parser.add_argument("--augment", type=_augment_arg, default="auto",
                        help="kdc's augment for the kdc estimators: 'auto' (the default: "
                             "1-pixel shifts of image rows while training), 'none' or the "
                             "largest shift in pixels; the data is passed as images")
    parser.add_argument("--peer-clustering-epochs", type=int, default=None,
                        help="self-training epochs of the ClustPy DEC/IDEC peers "
                             "(default: their pretraining epochs; ClustPy's own default is 150)")
    parser.add_argument("--out", default="benchmark-results", help="folder for JSON and Markdown")
    parser.add_argument("--in-process", action="store_true",
                        help="run every method in this process (no per-method isolation; "
                             "peak RSS is sampled while each method runs)")
    parser.add_argument("--timeout", type=float, default=0,
                        help="seconds per (dataset, method, seed) run in its own process "
                             "(0: no limit)")
    parser.add_argument("--no-torch-block", action="store_true",
                        help="let non-PyTorch workers import torch (umap-learn does when it "
                             "is installed); by default it is blocked there")
    parser.add_argument("--no-warmup", action="store_true",
                        help="do not compile umap-learn's numba code before UMAP-based methods "
                             "(their time then includes tens of seconds of JIT compilation in "
                             "every fresh process)")
    parser.add_argument("--no-probe", action="store_true", help="skip the matmul GFLOP/s probe")
    parser.add_argument("--probe-size", type=int, default=2048,
                        help="side of the square matmul of the probe (default 2048)")
    parser.add_argument("--probe-repeats", type=int, default=5,
                        help="timed batches per probe shape; the best is kept (default 5)")
    parser.add_argument("--list-methods", action="store_true",
                        help="print the methods, whether each can run here, and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    global DATASET
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.augment != "auto":
        KDC_PARAMS["augment"] = args.augment
    avail = available_methods()
    if args.list_methods:
        for m in ALL_METHODS:
            ok, note = avail[m]
            print(f"{m:14s} {RUNNERS[m][0]:32s} {'yes' if ok else 'no: ' + note}")
        return 0
    methods = args.methods or [m for m in ALL_METHODS if avail[m][0] and m not in NOT_DEFAULT]
    datasets = args.datasets or (FULL if args.full else QUICK)
    command = "python scripts/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    isolation = "none" if args.in_process else "process"

    import kdc
    from kdc.metrics import evaluate

    info = machine_info()
    print(f"# {info['cpu']} x{info['cpus']}, TF {info['tensorflow']}, Keras {info['keras']}; "
          f"isolation: {isolation}", flush=True)
    notes = {}
    for m in methods:
        ok, why = avail[m]
        if m in PEER_METHODS:
            key = "clustpy" if m in _peers.CLUSTPY_METHODS else m
            notes.setdefault(key, _peers.note_for(m) if ok else f"{m} skipped: {why}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="kdc-bench-"))
    log_dir = out / "logs"
    if not args.in_process:
        log_dir.mkdir(exist_ok=True)
    try:
        data = {}
        for ds in datasets:
            x, y = kdc.datasets.load(ds, verbose=0)  # images stay images (see run_method)
            path = tmp / f"{len(data)}.npz"
            if not args.in_process:
                np.savez(path, x=x)
            data[ds] = (x, y, path)
        probe = None
        if not args.no_probe:
            dims = sorted({int(np.prod(x.shape[1:])) for x, _, _ in data.values()})
            t = time.perf_counter()
            probe = _machine.probe(input_dims=dims, square=args.probe_size,
                                   repeats=args.probe_repeats)
            print(f"# matmul probe ({time.perf_counter() - t:.0f} s): float32 "
                  f"{_machine.peak_gflops(probe, 'float32'):.1f} GFLOP/s, bfloat16 "
                  f"{_machine.peak_gflops(probe, 'bfloat16'):.1f} GFLOP/s "
                  f"({probe['bf16_support'].split(' ')[0]})", flush=True)
        rows = []
        for ds, (x, y, path) in data.items():
            k = len(np.unique(y))
            for method in methods:
                ok, why = avail[method]
                if not ok:
                    rows.append({"dataset": ds, "method": method, "skipped": why})
                    print(f"{ds:12s} {method:13s} skipped: {why}", flush=True)
                    continue
                for seed in args.seeds:
                    row = {"dataset": ds, "method": method, "seed": seed,
                           "n": int(x.shape[0]), "d": int(np.prod(x.shape[1:])), "k": k,
                           "isolation": isolation}
                    if args.in_process:
                        DATASET = ds
                        try:
                            prep = prepare(method, row["n"], warm=not args.no_warmup)
                            if prep["note"]:
                                row["note"] = prep["note"]
                            row["warmup_s"] = prep["warmup_s"]
                            labels, fields = run_method(
                                method, x, k, seed, method_epochs(method, args.epochs, row["n"]),
                                args.peer_clustering_epochs)
                        except Exception as exc:  # report, keep benchmarking the rest
                            labels, fields = None, {"error": f"{type(exc).__name__}: {exc}"}
                        fields["process_peak_rss_mb"] = None
                    else:
                        fields, labels = run_in_subprocess(ds, method, seed, k, row["n"], path,
                                                           args, tmp, log_dir)
                    fields.pop("pid", None)
                    row.update(fields)
                    if labels is None:
                        row.setdefault("error", "no labels")
                        print(f"{ds:12s} {method:13s} seed {seed}: {row['error']}", flush=True)
                        rows.append(row)
                        continue
                    scores = evaluate(y, labels)
                    row.update({key: scores[key] for key in ("acc", "nmi", "ari")})
                    row.update(efficiency(row, probe))
                    rows.append(row)
                    print(_run_line(row), flush=True)
        summary = summarize(rows)
        for r in rows:  # what a peer's import had to work around (e.g. a torchvision stub)
            if r.get("note"):
                notes.setdefault(f"{r['method']} import", r["note"])
        info["matmul"] = probe
        info["autoencoder_flops_per_sample"] = {
            ds: _machine.autoencoder_flops_per_sample(int(np.prod(x.shape[1:])))
            for ds, (x, _, _) in data.items()}
        info["pretraining_efficiency"] = [
            {key: e.get(key) for key in ("dataset", "method", "flops_per_sample",
                                         "pretrain_samples_per_s", "pretrain_gflops",
                                         "pretrain_peak_fraction", "pretrain_mix_fraction")}
            for e in summary if e.get("pretrain_gflops") is not None]
        if probe:
            info["matmul_peak_gflops"] = {"float32": _machine.peak_gflops(probe, "float32"),
                                          "bfloat16": _machine.peak_gflops(probe, "bfloat16")}
        if not args.in_process and not args.no_torch_block:
            notes["isolation"] = ("torch import blocked in the workers of non-PyTorch methods "
                                  "(umap-learn imports torch when it is installed).")
        (out / "benchmark.json").write_text(json.dumps(
            {"machine": info, "command": command, "isolation": isolation, "notes": notes,
             "runs": rows, "summary": summary}, indent=2))
        md = to_markdown(summary, info, command, probe, notes, isolation)
        (out / "benchmark.md").write_text(md)
        print()
        print(md)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _run_line(row):
    parts = [(f"{row['dataset']:12s} {row['method']:13s} seed {row['seed']}: ACC {row['acc']:.4f} "
             f"NMI {row['nmi']:.4f} ARI {row['ari']:.4f} {row['seconds']:7.1f} s")]
    for key, fmt in (("pretrain", "pretrain {:.1f} s"), ("head", "head {:.1f} s"),
                     ("pretrain_samples_per_s", "{:.0f} samples/s"),
                     ("pretrain_gflops", "{:.1f} GFLOP/s"),
                     ("process_peak_rss_mb", "peak {:.0f} MB"),
                     ("method_peak_rss_mb", "method peak {:.0f} MB"),
                     ("import_s", "start-up {:.1f} s"), ("warmup_s", "warm-up {:.1f} s")):
        if row.get(key) is not None:
            parts.append(fmt.format(row[key]))
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
