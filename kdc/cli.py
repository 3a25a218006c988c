"""The ``kdc`` command line; each subcommand is a thin wrapper over the Python API.

Commands: ``kdc demo``, ``kdc fit``, ``kdc predict``, ``kdc evaluate``, ``kdc
select-k``, ``kdc export`` (see ``kdc COMMAND --help``) and ``kdc --version``.
``main(argv)`` runs them in-process.

Every command also takes ``--quiet`` (only errors and the final "written to"
or "k =" line) and ``--debug`` (a traceback with errors, and TensorFlow's own
log lines, which kdc hides otherwise: see :mod:`kdc._quiet`; also ``kdc --debug
COMMAND`` or the environment variable ``KDC_DEBUG=1``). ``kdc --help``, ``kdc
--version`` and argument errors answer without importing TensorFlow.

Output: progress lines ``[kdc] ...`` (with seconds per stage), the estimators'
own ``[kdc]`` lines and Keras progress go to stdout, followed by the metrics
table; warnings and errors go to stderr. An error is one line,
``kdc <command>: error: <what went wrong and the fix>``.

Exit status: 0 success; 1 the run failed (fitting, writing, a missing
feature); 2 bad usage or input (unknown option, method or dataset, unreadable
file, existing output folder, ``--clusters`` < 2, a bad ``--range``, labels
that do not match); 130 interrupted.

Run folders (``fit``, ``demo``: ``report.json``, ``report.md``, ``labels.npy``,
``model/``, ``plots/*.png``; ``select-k --out``: the reports and
``plots/select_k.png``) are written under a temporary name and renamed into
place at the end, so a failed run leaves nothing behind. An existing non-empty
folder is refused unless it holds a previous kdc run (``report.json``) and
``--overwrite`` is given; it is then replaced only after the new run has
succeeded. ``kdc demo`` replaces a previous *demo* folder without
``--overwrite``. ``kdc export`` replaces only an earlier export, and only with
``--overwrite``. Folders kdc did not write are never replaced.
"""

import argparse
import contextlib
import importlib
import json
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

import kdc
from kdc import _figures, _quiet, _report
from kdc import datasets as _datasets
from kdc._cli_commands import EMBED_OPTIONS, cmd_export, cmd_select_k
from kdc._cli_common import (CLIError, _check_pretrained, _Console, _errors_as, _fraction,
                             _int_list, _int_type, _jit, _k_range, _keep, _load_data,
                             _load_model, _model_dir, _one_line, _Parser, _positive_float)
from kdc._pretrained import PretrainedWeightsError

# This module imports neither TensorFlow, Keras nor scikit-learn at the top:
# ``kdc --help``, ``kdc --version`` and argument errors answer without them (the
# commands import them when they run; TensorFlow through kdc's facade, quietly:
# see kdc._quiet). Hence two copies (tests/test_cli.py checks them):
K_METHODS = ("elbow", "silhouette", "bic", "all")  # kdc.select.METHODS
MANIFOLD_MAPS = ("auto", "umap", "parametric")  # kdc.serving.MANIFOLD_MAPS

METHODS = {"aekmeans": "AEKMeans", "dec": "DEC", "idec": "IDEC", "n2d": "N2D"}
AUTOENCODERS = ("dense", "denoising", "conv")
DEMO_DATA, DEMO_CLUSTERS, DEMO_SEED, DEMO_OUT = "digits", 10, 0, "kdc-demo"
QUICK_PARAMS = {"pretrain_epochs": 2, "hidden_dims": (64,), "embedding_dim": 8}
# The baseline of --baseline and kdc demo: k-means on the input as it is.
BASELINE_IMAGES, BASELINE_FEATURES = "k-means (pixels)", "k-means (raw features)"
QUICK_NOTE = ("--quick is a smoke test (a tiny autoencoder trained for 2 epochs): its scores "
              "say nothing about kdc; run kdc demo without --quick for meaningful ones.")
BASELINE_N_INIT = 10
DEFAULT_K_RANGE = "2:15"
DATA_FILES_HELP = (
    "Data files: .npz with an array x (the samples) and optionally y (integer labels; "
    "Keras' x_train, y_train, x_test, y_test also work), .npy (x only), or .csv: numbers "
    "separated by commas, one sample per row. A CSV header row is optional: the first "
    "non-empty row is a header when any of its cells is not a number. A header column "
    f"named {', '.join(_datasets._LABEL_COLUMNS[:-1])} or {_datasets._LABEL_COLUMNS[-1]} "
    "(any case) holds the labels and is not a "
    "feature; without a header every column is a feature. Every other value must be a "
    "number: encode text columns, labels included, as integers first. Dataset names win over "
    "files of the same name: write ./mnist for a file called mnist.")
LABEL_FILES_HELP = (
    "Label files: .npy, .npz (array y or labels), or .csv/.txt with one label per line; a "
    "first line that is not a number (a header such as 'label') is skipped. Whole numbers "
    "are read as integers, other labels as strings. --truth may also name a dataset.")
DEBUG_HELP = ("show tracebacks with errors, and TensorFlow's own log lines (hidden by default; "
              "the environment variable KDC_DEBUG=1 shows them too)")
_COMMANDS = ("demo", "fit", "predict", "evaluate", "select-k", "export")


def build_parser():
    """The ``argparse`` parser of ``kdc`` (subcommands demo, fit, predict, evaluate,
    select-k, export)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="print only errors and the final 'written to' line")
    common.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser = _Parser(prog="kdc", description="Deep clustering for Keras 3.",
                     epilog="Exit status: 0 ok, 1 failure, 2 bad usage or input.")
    parser.add_argument("--version", action="version", version=_version_string())
    parser.add_argument("--debug", dest="debug_all", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)

    demo = sub.add_parser("demo", parents=[common], help="N2D vs k-means on the digits data",
                          description="Fit N2D on scikit-learn's 8x8 digits, compare it with "
                          "k-means on the pixels and write a report (a previous demo folder "
                          "is replaced).")
    demo.add_argument("--out", default=DEMO_OUT, metavar="DIR",
                      help=f"output folder (default: {DEMO_OUT})")
    demo.add_argument("--quick", action="store_true",
                      help="smoke test: a tiny autoencoder trained for 2 epochs (metrics "
                      "are not meaningful; UMAP's first call still compiles for a while)")
    demo.add_argument("--overwrite", action="store_true",
                      help="replace a previous kdc run in --out (after success)")
    _add_seed_option(demo, default=DEMO_SEED)
    demo.set_defaults(func=_cmd_demo)

    fit = sub.add_parser("fit", parents=[common], help="fit an estimator and write a report",
                         epilog=DATA_FILES_HELP,
                         description="Fit, evaluate when labels are available and write "
                         "DIR/report.json, DIR/report.md, DIR/labels.npy, DIR/model/ (est.save: "
                         "for kdc predict, kdc export, kdc.load) and DIR/plots/*.png (embedding, "
                         "contingency table with labels, decoded centroids for images and sequences, "
                         "training history, k selection with --clusters auto).")
    fit.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                     help=f"dataset name ({', '.join(_datasets.list_datasets())}) or a "
                     ".npz/.npy/.csv file (see below)")
    fit.add_argument("--method", required=True, choices=tuple(METHODS), help="the estimator")
    fit.add_argument("--clusters", required=True, type=_int_type(2, allow_auto=True),
                     metavar="K", help="number of clusters, >= 2, or 'auto': chosen after "
                     "pretraining on the embedding (see --k-range, --k-selection)")
    fit.add_argument("--k-range", type=_k_range, metavar="START:STOP",
                     help=f"with --clusters auto: the k scanned, both ends included "
                     f"(default: {DEFAULT_K_RANGE}, capped below the number of samples)")
    fit.add_argument("--k-selection", choices=K_METHODS,
                     help="with --clusters auto: the criterion (default: elbow)")
    fit.add_argument("--out", required=True, metavar="DIR",
                     help="output folder; must not exist or be empty, unless --overwrite")
    _add_model_options(fit)
    fit.add_argument("--baseline", action="store_true",
                     help=f"also run k-means on the raw features (n_init={BASELINE_N_INIT})")
    _add_run_options(fit, "replace a previous kdc run in --out (after success)")
    fit.set_defaults(func=_cmd_fit)

    predict = sub.add_parser(
        "predict", parents=[common], help="label data with a saved model",
        description="Load a model saved by est.save (or the model/ folder of a kdc fit run), "
        "assign every row of --data to a cluster with est.predict and write the labels: a "
        ".npy array, or one label per line in a .csv/.txt file. The data must have the "
        "features the model was fitted on, scaled as they were then (kdc scales them the same "
        "way again).", epilog=DATA_FILES_HELP)
    predict.add_argument("--model", required=True, metavar="DIR",
                         help="folder of est.save, or a kdc fit run folder (its model/)")
    predict.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                         help="dataset name or a .npz/.npy/.csv file (see below)")
    predict.add_argument("--data-dir", metavar="DIR", help="where named datasets are looked up")
    predict.add_argument("--out", required=True, metavar="PATH",
                         help="labels file to write (.npy, .csv or .txt)")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    _add_safe_mode_option(predict)
    predict.set_defaults(func=_cmd_predict)

    evaluate = sub.add_parser("evaluate", parents=[common], help="score labels against truth",
                              description="Print ACC, NMI, AMI, ARI and purity of cluster "
                              "labels against true labels.", epilog=LABEL_FILES_HELP)
    evaluate.add_argument("--labels", required=True, metavar="PATH",
                          help="cluster labels: .npy, .npz (array y) or .csv/.txt, one per line")
    evaluate.add_argument("--truth", required=True, metavar="PATH_OR_DATASET_NAME",
                          help="true labels (a file as for --labels) or a dataset name")
    evaluate.add_argument("--data-dir", metavar="DIR", help="where named datasets are looked up")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(func=_cmd_evaluate)

    select = sub.add_parser(
        "select-k", parents=[common], help="choose the number of clusters",
        description="Scan a range of k with kdc.select.select_k (k-means restarts for the "
        "elbow of the inertia and the silhouette, Gaussian mixtures for the BIC), print the "
        "table and the chosen k. By default the raw features are scanned (fast; a good guide "
        "for tabular data). --embed first trains the autoencoder kdc fit would use "
        "(--epochs etc. as for kdc fit) and scans its embedding, the space the clusters are "
        "found in; --pretrained NAME_OR_PATH embeds with shipped or saved weights instead "
        "(no training unless --epochs). With --out, writes DIR/report.json, DIR/report.md and "
        "DIR/plots/select_k.png.", epilog=DATA_FILES_HELP)
    select.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                        help="dataset name or a .npz/.npy/.csv file (see below)")
    select.add_argument("--range", default=DEFAULT_K_RANGE, type=_k_range, metavar="START:STOP",
                        help=f"the k scanned, both ends included; at least 3 values, all >= 2 "
                        f"(default: {DEFAULT_K_RANGE}; START:STOP:STEP also works)")
    select.add_argument("--method", choices=K_METHODS, default="elbow",
                        help="the criterion: elbow (default), silhouette, bic or all (the "
                        "median of the three choices); bic and all fit full-covariance "
                        "Gaussian mixtures, slow on many features")
    select.add_argument("--n-init", type=_int_type(1), default=10, metavar="N",
                        help="k-means / Gaussian-mixture restarts per k (default: 10)")
    select.add_argument("--embed", action="store_true",
                        help="scan the embedding of a freshly trained autoencoder")
    _add_model_options(select)
    select.add_argument("--out", metavar="DIR", help="also write a report folder")
    _add_run_options(select, "replace a previous kdc run in --out (after success)")
    select.set_defaults(func=cmd_select_k)

    export = sub.add_parser(
        "export", parents=[common], help="export a saved model for TF Serving",
        description="Load a model saved by est.save (or kdc fit's DIR/model) and write a "
        "TensorFlow SavedModel with signature serving_default: float32 [None, n_features] -> "
        "cluster, probabilities, embedding. For TF Serving, export to a version folder such "
        "as serving/kdc/1.")
    export.add_argument("--model", required=True, metavar="DIR",
                        help="folder of est.save, or a kdc fit run folder (its model/)")
    export.add_argument("--out", required=True, metavar="DIR", help="the SavedModel folder")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an earlier kdc export in --out (after success)")
    export.add_argument("--manifold-map", choices=MANIFOLD_MAPS, default="auto",
                        help="N2D: UMAP's transform in TF ops ('umap'; 'auto' uses it for a UMAP "
                        "manifold) or a learned Keras map ('parametric')")
    _add_safe_mode_option(export)
    export.set_defaults(func=cmd_export)
    return parser


def _add_model_options(p):
    p.add_argument("--epochs", type=_int_type(0, allow_auto=True), metavar="N",
                   help="autoencoder pretraining epochs (default: the estimator's, 'auto'; "
                   "with --pretrained: none)")
    p.add_argument("--batch-size", type=_int_type(1), metavar="N",
                   help="pretraining batch size (default: the estimator's)")
    p.add_argument("--autoencoder", choices=AUTOENCODERS, help="default: dense")
    p.add_argument("--augment", type=_int_type(0, allow_auto=True), metavar="PIXELS",
                   help="largest random shift of image rows while training (pretraining and "
                   "DEC/IDEC self-training; default 'auto': 1 pixel for images of at least "
                   "16x16, none for other data; 0: none)")
    p.add_argument("--hidden-dims", type=_int_list, metavar="500,500,2000",
                   help="hidden layer sizes of the dense encoder")
    p.add_argument("--embedding-dim", type=_int_type(1), metavar="D",
                   help="size of the embedding that is clustered")
    p.add_argument("--pretrained", metavar="NAME_OR_PATH",
                   help="start from pretrained autoencoder weights: a shipped name (see "
                   "weights/manifest.json) or a .weights.h5 file; the architecture options "
                   "must match them")
    training = p.add_argument_group(
        "training", "how pretraining runs (default: the estimator's; see kdc.training.plan)")
    training.add_argument("--pretrain-budget", type=_int_type(1), metavar="SAMPLES",
                          help="samples seen by --epochs auto")
    training.add_argument("--learning-rate", type=_positive_float, metavar="LR",
                          help="pretraining learning rate")
    training.add_argument("--lr-decay-end", type=_fraction, metavar="FRACTION",
                          help="last fraction of pretraining over which the rate falls to 0")
    training.add_argument("--unshifted-end", type=_fraction, metavar="FRACTION",
                          help="last fraction of pretraining whose images are not shifted")
    training.add_argument("--precision", choices=("auto", "float32", "mixed_float16",
                                                  "mixed_bfloat16"),
                          help="training dtype policy")
    training.add_argument("--jit-compile", type=_jit, metavar="auto|true|false",
                          help="XLA compilation of the training steps")
    training.add_argument("--steps-per-execution", type=_int_type(1, allow_auto=True),
                          metavar="N", help="pretraining steps per compiled call")
    training.add_argument("--no-pin-threads", action="store_true",
                          help="do not pin TensorFlow's threads to CPUs while training")


def _add_safe_mode_option(p):
    p.add_argument("--no-safe-mode", action="store_true",
                   help="load a model folder that only kdc.load(path, safe_mode=False) loads "
                   "(one holding pickled objects: a custom clusterer, manifold learner or "
                   "activation, or a model saved by an older kdc). Unpickling can run code "
                   "from the folder: use it only for folders you trust")


def _add_seed_option(p, default=0):
    p.add_argument("--seed", type=_int_type(0), default=default, metavar="N",
                   help=f"random_state (default: {default})")


def _add_run_options(p, overwrite_help):
    _add_seed_option(p)
    p.add_argument("--data-dir", metavar="DIR", help="where named datasets are looked up")
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _version_string():
    """``kdc X (keras Y, backend B, python Z)``, without importing Keras (it loads TensorFlow)."""
    import platform

    return (f"kdc {kdc.__version__} (keras {_keras_version()}, backend "
            f"{_keras_backend()}, python {platform.python_version()})")


def _keras_version():
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.__version__
    from importlib import metadata

    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return "not installed"


def _keras_backend():
    """The backend Keras will use, read as Keras reads it: ``KERAS_BACKEND``, else the
    ``backend`` of ``keras.json`` in ``KERAS_HOME`` (default ``~/.keras``), else tensorflow."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    import os

    name = os.environ.get("KERAS_BACKEND")
    if not name:
        home = os.environ.get("KERAS_HOME")
        if home is None:
            base = os.path.expanduser("~")
            home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
        try:
            name = json.loads(Path(home, "keras.json").read_text()).get("backend")
        except (OSError, ValueError, AttributeError):
            name = None
    return name or "tensorflow"


# ------------------------------------------------------------------ helpers

def _find_class(method):
    """The estimator class of ``method`` or None; imported lazily (kdc.cluster.dec is new)."""
    name = METHODS[method]
    cls = getattr(kdc, name, None)
    module = "kdc.cluster.dec" if method in ("dec", "idec") else f"kdc.cluster.{method}"
    if cls is None:
        with contextlib.suppress(ImportError):
            cls = getattr(importlib.import_module(module), name, None)
    return cls


def _estimator_class(method):
    """The estimator class of ``method``; a CLIError (2) naming the available ones if missing."""
    cls = _find_class(method)
    if cls is None:
        raise CLIError(f"--method {method} is not available in kdc {kdc.__version__} "
                       f"(kdc.{METHODS[method]} is missing). Choose one of: "
                       f"{', '.join(m for m in METHODS if _find_class(m))}.", 2)
    return cls


def _is_file_arg(text):
    """Whether ``text`` names a file rather than a dataset (dataset names win, as in load)."""
    if Path(text).suffix.lower() in _report.LABEL_SUFFIXES:
        return True
    is_name = text.strip().lower().replace("-", "_") in _datasets.DATASETS
    return not is_name and Path(text).expanduser().exists()


def _read_labels(path, option):
    """``_report.read_labels`` with its errors as one-line CLIErrors."""
    with _errors_as(f"cannot read {option} '{path}'", 2, (OSError, ValueError)):
        return _report.read_labels(path)


# ------------------------------------------------------------------ commands

def _cmd_demo(args):
    out = _report.check_output_dir(args.out, overwrite=args.overwrite,
                                   auto_replace=lambda old: old.get("command") == "demo")
    # Default budgets: "auto" pretraining gives the 1,797 digits rows the
    # 100-epoch cap of the pretraining budget (kdc.training.plan).
    params = {"n_clusters": DEMO_CLUSTERS, "random_state": args.seed}
    if args.quick:
        params.update(QUICK_PARAMS)
    return _run(args, DEMO_DATA, None, "n2d", params, out, baseline=True)


def _cmd_fit(args):
    _estimator_class(args.method)  # fail before any work when the method is missing
    auto = args.clusters == "auto"
    if not auto and (args.k_range or args.k_selection):
        used = " and ".join(o for o, v in (("--k-range", args.k_range),
                                           ("--k-selection", args.k_selection)) if v)
        raise CLIError(f"{used}: only used with --clusters auto. Received: --clusters "
                       f"{args.clusters}", 2)
    _check_pretrained(args.pretrained, args.autoencoder)
    out = _report.check_output_dir(args.out, overwrite=args.overwrite, keep=_keep(args.data))
    params = {"n_clusters": args.clusters, "random_state": args.seed}
    for option, name in (("k_range", "k_range"), ("k_selection", "k_selection"),
                         *EMBED_OPTIONS):
        if getattr(args, option) is not None:  # otherwise the estimator's default applies
            params[name] = getattr(args, option)
    return _run(args, args.data, args.data_dir, args.method, params, out, baseline=args.baseline)


def _check_k(params, n_samples):
    """``--clusters`` / ``--k-range`` against the number of samples (CLIError 2)."""
    if params["n_clusters"] != "auto":
        if params["n_clusters"] > n_samples:
            raise CLIError(f"--clusters must be <= the number of samples ({n_samples}). "
                           f"Received: {params['n_clusters']}", 2)
        return
    from kdc.select import parse_k_range

    top = parse_k_range(params["k_range"])[-1] if "k_range" in params else 4
    if top >= n_samples:
        what = f"--k-range {params['k_range']}" if "k_range" in params else "--clusters auto"
        raise CLIError(f"every k of --k-range must be < the number of samples ({n_samples}), "
                       f"and --clusters auto needs at least 5 samples. Received: {what}", 2)


def _run(args, source, data_dir, method, params, out, *, baseline):
    """Load, fit, evaluate and write the run folder ``out``; shared by demo and fit."""
    from kdc import metrics as _metrics

    console, timings = _Console(args.quiet), {}
    notes = [QUICK_NOTE] if getattr(args, "quick", False) else []
    cls = _estimator_class(method)
    with console.stage(f"loading data {source!r}", "loaded", timings, "load"):
        x, y = _load_data(source, data_dir, console)
    n_samples = len(x)
    console.say(f"{n_samples} samples of shape {tuple(x.shape[1:])}, "
                + (f"labels with {len(np.unique(y))} classes" if y is not None else "no labels"))
    _check_k(params, n_samples)
    if "augment" in params:  # shifts need images: a bad input, not a failed fit
        from kdc.training.plan import resolve_shift

        with _errors_as("--augment", 2, ValueError):
            resolve_shift(params["augment"], tuple(x.shape[1:]))
    from kdc._manifold import cache_umap_kernels

    cache_umap_kernels()  # the CLI's opt-in: numba keeps UMAP's compiled code on disk
    est = cls(**params, pin_threads=not getattr(args, "no_pin_threads", False),
              verbose=0 if args.quiet else 1)
    with warnings.catch_warnings(record=True) as caught:  # the active filters still apply
        settings = ", ".join(f"{k}={v}" for k, v in params.items())
        with console.stage(f"fitting {cls.__name__} ({settings})", "fitted", timings, "fit"):
            with _errors_as(f"fitting {cls.__name__} failed", 1, with_type=True):
                try:
                    est.fit(x)
                except PretrainedWeightsError as exc:
                    raise CLIError(f"--pretrained {params.get('pretrained')!r} does not fit: "
                                   f"{_one_line(exc)}", 2) from exc
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    selection = getattr(est, "k_selection_", None)
    if selection is not None:
        console.show(f"\n{selection}\n")
    k = params["n_clusters"] if selection is None else selection.k
    labels = np.asarray(est.labels_).astype(np.int64)
    scores = comparison = None
    if y is not None:
        with console.stage(f"evaluating against the labels of {source!r}", "evaluated",
                           timings, "evaluate"):
            scores = _metrics.evaluate(y, labels)
            if baseline:  # images (n, height, width[, channels]) are k-means'd on their pixels
                from kdc.training.plan import is_sequence

                pixels = x.ndim >= 3 and not is_sequence(tuple(x.shape[1:]))
                name = BASELINE_IMAGES if pixels else BASELINE_FEATURES
                from sklearn.cluster import KMeans

                t0 = time.perf_counter()
                km = KMeans(k, n_init=BASELINE_N_INIT,
                            random_state=params["random_state"]).fit(x.reshape(n_samples, -1))
                timings["baseline"] = time.perf_counter() - t0
                comparison = _metrics.compare(
                    {name: _metrics.evaluate(y, km.labels_), cls.__name__: scores},
                    metrics=_report.METRIC_NAMES)
    with console.stage("drawing plots", "drawn", timings, "plots"):
        figures, problems = _figures.fit_figures(est, x, y, labels)
    messages += problems
    for message in () if args.quiet else messages:
        print(f"[kdc] warning: {message}", file=sys.stderr, flush=True)
    report = _report.build_report(
        command=args.command, argv=args.argv, source=source, x=x, y=y, method=method, est=est,
        labels=labels, scores=scores, comparison=comparison, timings=timings,
        warnings=messages, plots=list(figures), notes=notes)
    if scores is not None:
        console.show(f"\n{_report.results_text(report)}\n")
    for note in notes:
        console.say(f"note: {note}")
    with console.stage(f"writing the model and the report to '{out}'", "written", {}, "write"):
        with _errors_as(f"cannot write the report to '{out}'", 1, OSError):
            _report.write_run(out, report, _artifacts(est, labels, figures))
    others = ", ".join(f for f in report["files"] if f != _report.REPORT_MD)
    print(f"report written to {out / _report.REPORT_MD} (with {others})", flush=True)
    return 0


def _artifacts(est, labels, figures=None):
    """Files of a run folder besides the reports: ``{name: writer(path)}``.

    ``labels.npy``; ``model/`` (``est.save``, for ``kdc.load``, ``kdc predict``
    and ``kdc export``); ``plots/`` with the PNG bytes of ``figures`` (``{file
    name: bytes}``, from :func:`kdc._figures.fit_figures`) when there are any.
    ``write_run`` lists them in the report.
    """
    files = {_report.LABELS: lambda path: _report.save_npy(path, labels),
             _report.MODEL: lambda path: est.save(path)}
    if figures:
        files[_figures.PLOTS] = _figures.writer(figures)
    return files


def _cmd_predict(args):
    console, out = _Console(args.quiet), Path(args.out).expanduser()
    if out.suffix.lower() not in (".npy", ".csv", ".txt"):
        raise CLIError(f"--out '{out}' must end in .npy, .csv or .txt.", 2)
    if out.exists() and not args.overwrite:
        raise CLIError(f"--out '{out}' already exists. Pass --overwrite to replace it.", 2)
    model = _model_dir(args.model)
    load = getattr(kdc, "load", None)  # after the checks: it imports TensorFlow
    if load is None:
        raise CLIError("saving/loading models is not available yet (kdc.load is missing in kdc "
                       f"{kdc.__version__}).", 1)
    timings = {}
    with console.stage(f"loading the model in '{model}'", "loaded", timings, "model"):
        with _errors_as(f"cannot load the model in '{model}'", 2):
            est = _load_model(load, model, args.no_safe_mode)
    with console.stage(f"loading data {args.data!r}", "loaded", timings, "load"):
        x, _ = _load_data(args.data, args.data_dir, console)
    with console.stage(f"predicting {len(x)} samples", "predicted", timings, "predict"):
        with _errors_as("predicting failed", 1, with_type=True):
            # the estimators raise ValueError for input that does not fit the model: bad input
            with _errors_as(f"--data {args.data!r} does not fit the model", 2, ValueError):
                labels = np.asarray(est.predict(x)).astype(np.int64)
    with _errors_as(f"cannot write --out '{out}'", 1, OSError):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".npy":
            _report.save_npy(out, labels)
        else:
            _report.atomic_write(out, "".join(f"{v}\n" for v in labels.tolist()))
    print(f"labels written to {out} ({len(labels)} rows)", flush=True)
    return 0


def _cmd_evaluate(args):
    y_pred = _read_labels(args.labels, "--labels")
    if _is_file_arg(args.truth):
        y_true = _read_labels(args.truth, "--truth")
    else:
        with _errors_as(f"--truth {args.truth!r}", 2, (ValueError, TypeError, OSError)):
            _, y_true = _datasets.load(args.truth, args.data_dir, verbose=0 if args.quiet else 1)
    from kdc import metrics as _metrics

    with _errors_as(f"--labels '{args.labels}' vs --truth '{args.truth}'", 2, ValueError):
        scores = _metrics.evaluate(y_true, y_pred)
    if args.json:
        print(json.dumps({"labels": args.labels, "truth": args.truth, "n_samples": len(y_pred),
                          "metrics": scores}, indent=2))
    else:
        print(_report.metrics_table({Path(args.labels).name: scores}))
    return 0


# ------------------------------------------------------------------ entry point

def main(argv=None):
    """Run the ``kdc`` command line.

    Args:
        argv: list of str, the arguments after the program name (default:
            ``sys.argv[1:]``).

    Returns:
        int exit status: 0 success, 1 failure, 2 bad usage or input, 130
        interrupted. Errors are printed as one line on stderr.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CLIError as exc:
        command = next((a for a in argv if not a.startswith("-")), None)  # kdc --debug fit
        prog = "kdc" + (f" {command}" if command in _COMMANDS else "")
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    args.argv = argv
    args.debug = args.debug or args.debug_all
    if args.debug:
        _quiet.loud()  # TensorFlow's own log lines, as it prints them
    prog = f"kdc {args.command}"
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line
        code = exc.code if isinstance(exc, CLIError) else 2 if isinstance(
            exc, _report.OutputDirError) else 1
        if args.debug:
            traceback.print_exception(exc)
        text = str(exc) if isinstance(exc, (CLIError, _report.OutputDirError)) else (
            f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        print(f"{prog}: error: {' '.join(text.split())}", file=sys.stderr, flush=True)
        return code
