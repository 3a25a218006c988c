"""The ``kdc`` command line; each subcommand is a thin wrapper over the Python API.

Commands: ``kdc demo``, ``kdc fit``, ``kdc predict``, ``kdc evaluate`` (see
``kdc COMMAND --help``) and ``kdc --version``. ``main(argv)`` runs them in-process.

Every command also takes ``--quiet`` (only errors and the final "report/labels
written to" line) and ``--debug`` (a traceback with errors).

Output: progress lines ``[kdc] ...`` (with seconds per stage), the estimators'
own ``[kdc]`` lines and Keras progress go to stdout, followed by the metrics
table; warnings and errors go to stderr. An error is one line,
``kdc <command>: error: <what went wrong and the fix>``.

Exit status: 0 success; 1 the run failed (fitting, writing, a missing
feature); 2 bad usage or input (unknown option, method or dataset, unreadable
file, existing output folder, ``--clusters`` < 2, labels that do not match);
130 interrupted.

Output folders (``fit``, ``demo``) are written under a temporary name and
renamed into place at the end, so a failed run leaves nothing behind. An
existing non-empty folder is refused unless it holds a previous kdc run
(``report.json``) and ``--overwrite`` is given; it is then replaced only after
the new run has succeeded. ``kdc demo`` replaces a previous *demo* folder
without ``--overwrite``. Folders kdc did not write are never replaced.
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
from kdc import _report
from kdc import datasets as _datasets
from kdc import metrics as _metrics

METHODS = {"aekmeans": "AEKMeans", "dec": "DEC", "idec": "IDEC", "n2d": "N2D"}
AUTOENCODERS = ("dense", "denoising", "conv")
DEMO_DATA, DEMO_CLUSTERS, DEMO_SEED, DEMO_OUT = "digits", 10, 0, "kdc-demo"
QUICK_PARAMS = {"pretrain_epochs": 2, "hidden_dims": (64,), "embedding_dim": 8}
BASELINE = "k-means (pixels)"
BASELINE_N_INIT = 10
_COMMANDS = ("demo", "fit", "predict", "evaluate")


class CLIError(Exception):
    """A failure reported as one line on stderr; ``code`` is the exit status."""

    def __init__(self, message, code=2):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line ``CLIError`` instead of printing usage and exiting."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')", 2)


# ------------------------------------------------------------------ argument types

def _int_type(minimum, allow_auto=False):
    def parse(text):
        if allow_auto and text == "auto":
            return text
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            extra = " or 'auto'" if allow_auto else ""
            raise argparse.ArgumentTypeError(
                f"must be an int >= {minimum}{extra}. Received: {text!r}")
        return value
    return parse


def _int_list(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated ints >= 1, e.g. 500,500,2000. Received: {text!r}")
    return values


def build_parser():
    """The ``argparse`` parser of ``kdc`` (subcommands demo, fit, predict, evaluate)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="print only errors and the final 'written to' line")
    common.add_argument("--debug", action="store_true", help="show tracebacks with errors")
    parser = _Parser(prog="kdc", description="Deep clustering for Keras 3.",
                     epilog="Exit status: 0 ok, 1 failure, 2 bad usage or input.")
    parser.add_argument("--version", action="version", version=_version_string())
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
    demo.set_defaults(func=_cmd_demo)

    fit = sub.add_parser("fit", parents=[common], help="fit an estimator and write a report",
                         description="Fit, evaluate when labels are available and write "
                         "DIR/report.json, DIR/report.md and DIR/labels.npy.")
    fit.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                     help=f"dataset name ({', '.join(_datasets.list_datasets())}) or a "
                     ".npz/.npy/.csv file")
    fit.add_argument("--method", required=True, choices=tuple(METHODS), help="the estimator")
    fit.add_argument("--clusters", required=True, type=_int_type(2), metavar="K",
                     help="number of clusters, >= 2")
    fit.add_argument("--out", required=True, metavar="DIR",
                     help="output folder; must not exist or be empty, unless --overwrite")
    _add_fit_options(fit)
    fit.set_defaults(func=_cmd_fit)

    predict = sub.add_parser("predict", parents=[common], help="label data with a saved model")
    predict.add_argument("--model", required=True, metavar="DIR", help="folder of est.save")
    predict.add_argument("--data", required=True, metavar="NAME_OR_PATH")
    predict.add_argument("--data-dir", metavar="DIR", help="where named datasets are looked up")
    predict.add_argument("--out", required=True, metavar="PATH",
                         help="labels file to write (.npy, .csv or .txt)")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    predict.set_defaults(func=_cmd_predict)

    evaluate = sub.add_parser("evaluate", parents=[common], help="score labels against truth",
                              description="Print ACC, NMI, AMI, ARI and purity of cluster "
                              "labels against true labels.")
    evaluate.add_argument("--labels", required=True, metavar="PATH",
                          help="cluster labels: .npy, .npz (array y) or .csv/.txt, one per line")
    evaluate.add_argument("--truth", required=True, metavar="PATH_OR_DATASET_NAME",
                          help="true labels (a file as for --labels) or a dataset name")
    evaluate.add_argument("--data-dir", metavar="DIR", help="where named datasets are looked up")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.set_defaults(func=_cmd_evaluate)
    return parser


def _add_fit_options(p):
    p.add_argument("--epochs", type=_int_type(0, allow_auto=True), metavar="N",
                   help="autoencoder pretraining epochs (default: the estimator's, 'auto')")
    p.add_argument("--batch-size", type=_int_type(1), metavar="N",
                   help="pretraining batch size (default: the estimator's)")
    p.add_argument("--seed", type=_int_type(0), default=0, metavar="N",
                   help="random_state (default: 0)")
    p.add_argument("--autoencoder", choices=AUTOENCODERS, help="default: dense")
    p.add_argument("--hidden-dims", type=_int_list, metavar="500,500,2000",
                   help="hidden layer sizes of the dense encoder")
    p.add_argument("--embedding-dim", type=_int_type(1), metavar="D",
                   help="size of the embedding that is clustered")
    p.add_argument("--baseline", action="store_true",
                   help=f"also run k-means on the raw features (n_init={BASELINE_N_INIT})")
    p.add_argument("--data-dir", metavar="DIR", help="where named datasets are looked up")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous kdc run in --out (after success)")


def _version_string():
    import platform

    import keras
    return (f"kdc {kdc.__version__} (keras {keras.__version__}, backend "
            f"{keras.backend.backend()}, python {platform.python_version()})")


# ------------------------------------------------------------------ helpers

class _Console:
    """Progress lines on stdout unless quiet."""

    def __init__(self, quiet):
        self.quiet = quiet

    def say(self, message):
        if not self.quiet:
            print(f"[kdc] {message}", flush=True)

    def show(self, text):
        if not self.quiet:
            print(text, flush=True)

    @contextlib.contextmanager
    def stage(self, start, done, timings, key):
        """Print ``start``, run the block, print ``done`` with the seconds, record them."""
        self.say(start)
        t0 = time.perf_counter()
        yield
        timings[key] = time.perf_counter() - t0
        self.say(f"{done} in {timings[key]:.1f} s")


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


def _load_data(source, data_dir, console):
    """``kdc.datasets.load`` with its errors as one-line CLIErrors (2: bad input, 1: download)."""
    try:
        return _datasets.load(source, data_dir, verbose=0 if console.quiet else 1)
    except (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise CLIError(f"cannot load data {source!r}: {_one_line(exc)}", 2) from exc
    except OSError as exc:
        raise CLIError(f"cannot load data {source!r}: {_one_line(exc)}", 1) from exc


def _one_line(exc, with_type=False):
    text = " ".join(str(exc).split()) or type(exc).__name__
    plain = isinstance(exc, ValueError) and not with_type
    return text if plain else f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def _errors_as(prefix, code, catch=Exception, with_type=False):
    """Turn ``catch`` exceptions raised in the block into a one-line CLIError."""
    try:
        yield
    except CLIError:
        raise
    except catch as exc:
        raise CLIError(f"{prefix}: {_one_line(exc, with_type)}", code) from exc


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
    # Default budgets: "auto" pretraining gives the 1,797 digits 100 epochs,
    # about 1.5 minutes end to end on 2 cores.
    params = {"n_clusters": DEMO_CLUSTERS, "random_state": DEMO_SEED}
    if args.quick:
        params.update(QUICK_PARAMS)
    return _run(args, DEMO_DATA, None, "n2d", params, out, baseline=True)


def _cmd_fit(args):
    _estimator_class(args.method)  # fail before any work when the method is missing
    out = _report.check_output_dir(args.out, overwrite=args.overwrite,
                                   keep=[args.data] if Path(args.data).exists() else [])
    params = {"n_clusters": args.clusters, "random_state": args.seed}
    for option, name in (("epochs", "pretrain_epochs"), ("batch_size", "batch_size"),
                         ("autoencoder", "autoencoder"), ("hidden_dims", "hidden_dims"),
                         ("embedding_dim", "embedding_dim")):
        if getattr(args, option) is not None:  # otherwise the estimator's default applies
            params[name] = getattr(args, option)
    return _run(args, args.data, args.data_dir, args.method, params, out, baseline=args.baseline)


def _run(args, source, data_dir, method, params, out, *, baseline):
    """Load, fit, evaluate and write the run folder ``out``; shared by demo and fit."""
    console, timings = _Console(args.quiet), {}
    cls = _estimator_class(method)
    with console.stage(f"loading data {source!r}", "loaded", timings, "load"):
        x, y = _load_data(source, data_dir, console)
    n_samples = len(x)
    console.say(f"{n_samples} samples of shape {tuple(x.shape[1:])}, "
                + (f"labels with {len(np.unique(y))} classes" if y is not None else "no labels"))
    if params["n_clusters"] > n_samples:
        raise CLIError(f"--clusters must be <= the number of samples ({n_samples}). Received: "
                       f"{params['n_clusters']}", 2)
    est = cls(**params, verbose=0 if args.quiet else 1)
    with warnings.catch_warnings(record=True) as caught:  # the active filters still apply
        settings = ", ".join(f"{k}={v}" for k, v in params.items())
        with console.stage(f"fitting {cls.__name__} ({settings})", "fitted", timings, "fit"):
            with _errors_as(f"fitting {cls.__name__} failed", 1, with_type=True):
                est.fit(x)
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    for message in () if args.quiet else messages:
        print(f"[kdc] warning: {message}", file=sys.stderr, flush=True)
    labels = np.asarray(est.labels_).astype(np.int64)
    scores = comparison = None
    if y is not None:
        with console.stage(f"evaluating against the labels of {source!r}", "evaluated",
                           timings, "evaluate"):
            scores = _metrics.evaluate(y, labels)
            if baseline:
                from sklearn.cluster import KMeans

                t0 = time.perf_counter()
                km = KMeans(params["n_clusters"], n_init=BASELINE_N_INIT,
                            random_state=params["random_state"]).fit(x.reshape(n_samples, -1))
                timings["baseline"] = time.perf_counter() - t0
                comparison = _metrics.compare(
                    {BASELINE: _metrics.evaluate(y, km.labels_), cls.__name__: scores},
                    metrics=_report.METRIC_NAMES)
    report = _report.build_report(
        command=args.command, argv=args.argv, source=source, x=x, y=y, method=method, est=est,
        labels=labels, scores=scores, comparison=comparison, timings=timings,
        warnings=messages)
    if scores is not None:
        console.show(f"\n{_report.results_text(report)}\n")
    with console.stage(f"writing report to '{out}'", "written", {}, "write"):
        with _errors_as(f"cannot write the report to '{out}'", 1, OSError):
            _report.write_run(out, report, _artifacts(est, labels))
    others = ", ".join(f for f in report["files"] if f != _report.REPORT_MD)
    print(f"report written to {out / _report.REPORT_MD} (with {others})", flush=True)
    return 0


def _artifacts(est, labels):
    """Files of a run folder besides the reports: ``{name: writer(path)}``.

    Hook for later issues: add ``"model": est.save`` once estimators can be
    saved, and ``"plots": ...`` (a folder of ``kdc.plot`` figures as PNG) once
    ``kdc.plot`` exists; ``write_run`` lists them in the report.
    """
    return {_report.LABELS: lambda path: _report.save_npy(path, labels)}


def _cmd_predict(args):
    load = getattr(kdc, "load", None)
    if load is None:
        raise CLIError("saving/loading models is not available yet (kdc.load is missing in kdc "
                       f"{kdc.__version__}).", 1)
    console, out = _Console(args.quiet), Path(args.out).expanduser()
    if out.suffix.lower() not in (".npy", ".csv", ".txt"):
        raise CLIError(f"--out '{out}' must end in .npy, .csv or .txt.", 2)
    if out.exists() and not args.overwrite:
        raise CLIError(f"--out '{out}' already exists. Pass --overwrite to replace it.", 2)
    if not Path(args.model).expanduser().is_dir():
        raise CLIError(f"--model '{args.model}' is not a folder written by est.save.", 2)
    timings = {}
    with console.stage(f"loading the model in '{args.model}'", "loaded", timings, "model"):
        with _errors_as(f"cannot load the model in '{args.model}'", 2):
            est = load(args.model)
    with console.stage(f"loading data {args.data!r}", "loaded", timings, "load"):
        x, _ = _load_data(args.data, args.data_dir, console)
    with console.stage(f"predicting {len(x)} samples", "predicted", timings, "predict"):
        with _errors_as("predicting failed", 1, with_type=True):
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
        prog = "kdc" + (f" {argv[0]}" if argv and argv[0] in _COMMANDS else "")
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    args.argv = argv
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
