"""``kdc select-k`` and ``kdc export`` (see :mod:`kdc.cli`)."""

import sys
from pathlib import Path

import numpy as np

import kdc
from kdc import _figures, _report
from kdc._cli_common import (CLIError, _check_pretrained, _Console, _errors_as, _keep,
                             _load_data, _load_model, _model_dir, _one_line)
from kdc._pretrained import PretrainedWeightsError

SELECT_K_PLOT = "select_k.png"
# Options that build the autoencoder (`kdc fit`, `kdc select-k --embed`): (option, argument).
EMBED_OPTIONS = (("epochs", "pretrain_epochs"), ("batch_size", "batch_size"),
                 ("autoencoder", "autoencoder"), ("hidden_dims", "hidden_dims"),
                 ("embedding_dim", "embedding_dim"), ("augment", "augment"),
                 ("pretrain_budget", "pretrain_budget"), ("learning_rate", "learning_rate"),
                 ("lr_decay_end", "lr_decay_end"), ("unshifted_end", "unshifted_end"),
                 ("precision", "precision"), ("jit_compile", "jit_compile"),
                 ("steps_per_execution", "steps_per_execution"),
                 ("pretrained", "pretrained"))  # --pretrained last: it implies --embed


# ------------------------------------------------------------------ select-k

def cmd_select_k(args):
    """Scan k on the features (or an autoencoder embedding), print the table and the k."""
    from kdc.select import parse_k_range, scan_jobs, select_k

    embed = args.embed or args.pretrained is not None
    given = [f"--{o.replace('_', '-')}" for o, _ in EMBED_OPTIONS[:-1]
             if getattr(args, o) is not None]
    if given and not embed:
        raise CLIError(f"{', '.join(given)} need --embed or --pretrained (without them the raw "
                       "features are scanned).", 2)
    _check_pretrained(args.pretrained, args.autoencoder)
    out = None if args.out is None else _report.check_output_dir(
        args.out, overwrite=args.overwrite, keep=_keep(args.data))
    console, timings = _Console(args.quiet), {}
    with console.stage(f"loading data {args.data!r}", "loaded", timings, "load"):
        x, y = _load_data(args.data, args.data_dir, console)
    n = len(x)
    values = parse_k_range(args.range)
    if values[-1] >= n:
        raise CLIError(f"--range goes up to k={values[-1]}, but the data has {n} samples: every "
                       f"k must be < the number of samples. Received: --range {args.range}", 2)
    if embed:
        params = {name: getattr(args, option) for option, name in EMBED_OPTIONS
                  if getattr(args, option) is not None}
        est = kdc.AEKMeans(2, n_init=1, random_state=args.seed, verbose=0 if args.quiet else 1,
                           pin_threads=not args.no_pin_threads, **params)
        with console.stage("embedding the data with an autoencoder (" + ", ".join(
                f"{k}={v}" for k, v in params.items()) + ")", "embedded", timings, "embed"):
            with _errors_as("embedding the data failed", 1, with_type=True):
                try:
                    z = est.fit(x).transform(x)
                except PretrainedWeightsError as exc:
                    raise CLIError(f"--pretrained {args.pretrained!r} does not fit the data: "
                                   f"{_one_line(exc)}", 2) from exc
        kept = ("autoencoder", "hidden_dims", "embedding_dim", "pretrain_epochs", "batch_size",
                "pretrained", "augment", "random_state")
        space = {"kind": "embedding", "n_dims": int(z.shape[1]),
                 "autoencoder": {k: v for k, v in est.get_params().items() if k in kept},
                 "pretrain_epochs_run": len(est.history_["pretrain"].get("loss", []))}
    else:
        z = x.reshape(n, -1)
        space = {"kind": "features", "n_dims": int(z.shape[1])}
    with console.stage(f"scanning k = {values[0]}..{values[-1]} by {args.method} on the "
                       f"{space['kind']} ({space['n_dims']} dimensions, n_init={args.n_init})",
                       "scanned", timings, "select_k"):
        with _errors_as("choosing k failed", 1, with_type=True):
            result = select_k(z, values, method=args.method, n_init=args.n_init,
                              n_jobs=scan_jobs(n), random_state=args.seed,
                              verbose=0 if args.quiet else 1)
    console.show(f"\n{result}\n")
    hint = "" if y is None else f"; the data's labels have {len(np.unique(y))} classes"
    print(f"k = {result.k} (method {args.method!r}, k in {values[0]}..{values[-1]}{hint})",
          flush=True)
    if out is None:
        return 0
    from kdc import plot as kplot

    figures, problems = _figures.draw([(SELECT_K_PLOT, lambda: kplot.select_k(result))])
    for message in () if args.quiet else problems:
        print(f"[kdc] warning: {message}", file=sys.stderr, flush=True)
    report = {**_report.header(args.command, args.argv),
              "data": _report.data_summary(args.data, x, y), "space": space,
              "k": result.k, "selection": result.to_dict(), "timings": timings,
              "environment": _report.environment(), "warnings": problems,
              "plots": [f"{_figures.PLOTS}/{name}" for name in figures], "files": []}
    artifacts = {_figures.PLOTS: _figures.writer(figures)} if figures else {}
    with _errors_as(f"cannot write the report to '{out}'", 1, OSError):
        _report.write_run(out, report, artifacts, render=render_select_k)
    print(f"report written to {out / _report.REPORT_MD}", flush=True)
    return 0


def render_select_k(report):
    """report.md of ``kdc select-k``."""
    data, space, sel = report["data"], report["space"], report["selection"]
    lines = [f"# kdc select-k on {data['source']}: k = {report['k']}", "",
             f"`{report['command_line']}`", "",
             f"Written {report['created']} by kdc "
             f"{report['environment']['versions'].get('kdc', '?')}.", ""]
    labels = f"{data['n_classes']} classes (not used)" if data["has_labels"] else "none"
    shape = "x".join(str(s) for s in data["sample_shape"])
    scanned = ("the raw features" if space["kind"] == "features" else
               f"an autoencoder embedding of {space['n_dims']} dimensions "
               f"({space['pretrain_epochs_run']} pretraining epochs"
               + (f", pretrained={space['autoencoder']['pretrained']!r}"
                  if space["autoencoder"].get("pretrained") else "") + ")")
    lines += ["## Data", "", _report._kv_table([
        ("source", data["source"]), ("samples", data["n_samples"]),
        ("features", f"{data['n_features']} (samples of shape {shape})"), ("labels", labels),
        ("scanned", scanned)]), ""]
    lines += ["## Result", "", f"k = **{report['k']}** (method `{sel['method']}`; each "
              "criterion: " + ", ".join(f"{m} {k}" for m, k in sel["best_k"].items()) + ").", "",
              "```", _report.k_selection_text(sel), "```", ""]
    lines += _report.plots_section(report)
    lines += ["## Timings", "", _report._kv_table(
        [(k, f"{v:.2f}") for k, v in report["timings"].items()], ("stage", "seconds")), ""]
    lines += _report.environment_section(report)
    if report.get("warnings"):
        lines += ["## Warnings", "", *[f"- {_report._md(w)}" for w in report["warnings"]], ""]
    return "\n".join(lines + _report.files_section(report))


# ------------------------------------------------------------------ export

def cmd_export(args):
    """Load a saved model and write it as a TF SavedModel (``est.export``)."""
    load = getattr(kdc, "load", None)  # first: kdc's facade imports TensorFlow quietly
    from kdc.serving import EXPORT_INFO

    model = _model_dir(args.model)
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out '{out}' exists and is not a folder. Choose a folder path.", 2)
    if out.is_dir() and any(out.iterdir()):
        if not (out / EXPORT_INFO).is_file():
            raise CLIError(f"--out '{out}' is a non-empty folder that holds no kdc export; kdc "
                           "only replaces folders it wrote itself. Choose another --out.", 2)
        if not args.overwrite:
            raise CLIError(f"--out '{out}' already holds a kdc export. Pass --overwrite to "
                           "replace it once the new export has succeeded, or choose another "
                           "--out.", 2)
    console, timings = _Console(args.quiet), {}
    with console.stage(f"loading the model in '{model}'", "loaded", timings, "model"):
        with _errors_as(f"cannot load the model in '{model}'", 2):
            est = _load_model(load, model, args.no_safe_mode)
    with console.stage(f"exporting {type(est).__name__} as a TF SavedModel to '{out}'",
                       "exported", timings, "export"):
        with _errors_as("exporting failed", 1, with_type=True):
            est.export(out, overwrite=args.overwrite, verbose=0 if args.quiet else 1,
                       manifold_map=args.manifold_map)
    print(f"SavedModel written to {out} (signature 'serving_default')", flush=True)
    return 0
