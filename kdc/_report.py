"""Run folders of the command line: safe output folders, atomic writes, report rendering.

A run (``kdc fit``, ``kdc demo``) writes ``report.json``, ``report.md``,
``labels.npy``, ``model/`` and ``plots/*.png`` into one folder (``kdc
select-k``: the reports and ``plots/select_k.png``). The
folder is built under a hidden temporary name beside it and renamed into place
only when every file is written, so a failed or interrupted run never leaves a
report that points at missing files, and an existing folder that is being
replaced (``--overwrite``) is kept until the new run has succeeded.
"""

import io
import json
import os
import platform
import shlex
import shutil
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from kdc._figures import NOTES, PLOTS
from kdc._fileio import atomic_write, staging_dir, swap_in
from kdc._json import json_safe
from kdc._validation import NPY_READ_ERRORS

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
LABELS = "labels.npy"
MODEL = "model"
REPORT_VERSION = 1
METRIC_NAMES = ("acc", "nmi", "ami", "ari", "purity")
# Versions recorded in every report (distribution names).
PACKAGES = ("keras", "tensorflow", "numpy", "scipy", "scikit-learn", "umap-learn")
LABEL_SUFFIXES = (".npy", ".npz", ".csv", ".txt")


class OutputDirError(ValueError):
    """The output folder cannot be used (exists, not replaceable, not writable)."""


# ------------------------------------------------------------------ output folder

def read_report(folder):
    """The parsed ``report.json`` of a previous kdc run in ``folder``, or None."""
    try:
        with open(Path(folder) / REPORT_JSON, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and "kdc_report_version" in report else None


def check_output_dir(path, *, overwrite=False, auto_replace=None, keep=()):
    """Check, before any work is done, that a run may write its folder ``path``.

    A missing or empty folder is always fine. A non-empty folder is replaced
    (after the new run succeeded) only when it holds a previous kdc run
    (``report.json``) and ``overwrite`` is true or ``auto_replace(report)`` is
    true; folders that kdc did not write are never replaced, so a mistyped
    ``--out`` cannot delete unrelated files.

    Args:
        path: str or path-like, the output folder.
        overwrite: bool, whether a previous kdc run there may be replaced.
        auto_replace: optional callable ``(previous_report_dict) -> bool``
            allowing replacement without ``overwrite`` (used by ``kdc demo``).
        keep: paths (e.g. the input data) that must not lie inside a folder
            that is about to be replaced.

    Returns:
        ``pathlib.Path`` of the folder.

    Raises:
        OutputDirError: with a one-line explanation and the fix.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--out '{out}' exists and is not a folder. Choose a folder path.")
    if out.is_dir() and any(out.iterdir()):
        previous = read_report(out)
        if previous is None:
            raise OutputDirError(
                f"output folder '{out}' already exists, is not empty and holds no kdc "
                f"{REPORT_JSON}; kdc only replaces folders it wrote itself. Choose another --out.")
        if not (overwrite or (auto_replace is not None and auto_replace(previous))):
            raise OutputDirError(
                f"output folder '{out}' already exists (a previous kdc run). Pass --overwrite "
                "to replace it once the new run has succeeded, or choose another --out.")
    if out.is_dir():
        resolved = out.resolve()
        for item in (Path.cwd(), *[Path(p).expanduser() for p in keep]):
            item = item.resolve()
            if item == resolved or resolved in item.parents:
                raise OutputDirError(f"output folder '{out}' holds '{item}', which replacing it "
                                     "would delete. Choose another --out.")
    ancestor = out.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputDirError(f"cannot create output folder '{out}': '{ancestor}' is not a "
                             "writable folder.")
    return out


def save_npy(path, array):
    """``np.save`` to ``path`` atomically."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    atomic_write(path, buffer.getvalue())


def write_run(out, report, artifacts, render=None):
    """Write a run folder: artifacts, then ``report.json`` and ``report.md``, then swap it in.

    Args:
        out: ``pathlib.Path`` checked by :func:`check_output_dir`.
        report: the JSON-ready report dict; its ``"files"`` entry is filled in.
        artifacts: dict ``{relative name: writer}``; ``writer(path)`` writes
            that file or folder (``"labels.npy"``, ``"model"`` via
            ``est.save``, ``"plots"``). Every name must exist when its writer
            returns, or the run fails.
        render: ``report -> Markdown text`` (default :func:`render_markdown`).

    Returns:
        ``pathlib.Path`` of the finished folder.

    Raises:
        OSError or any writer error; ``out`` is then left as it was.
    """
    staging = staging_dir(out)
    try:
        for name, writer in artifacts.items():
            writer(staging / name)
            if not (staging / name).exists():
                raise OSError(f"writing {name} produced no file")
        report["files"] = sorted([*artifacts, REPORT_JSON, REPORT_MD])
        atomic_write(staging / REPORT_MD, (render or render_markdown)(report))
        atomic_write(staging / REPORT_JSON, dumps(report) + "\n")  # last: marks a complete run
        swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def read_labels(path):
    """A 1-D label array from ``.npy``, ``.npz`` (array ``y`` or ``labels``) or ``.csv``/``.txt``.

    Text files hold one label per line; an optional first line that is not a
    number (a header such as ``label``) is skipped when all others are numbers.
    Integral numbers become int64; other labels stay strings.

    Raises:
        ValueError: unsupported suffix, missing array, several columns, not 1-D.
        OSError: the file cannot be read.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    if suffix not in LABEL_SUFFIXES:
        raise ValueError(f"unsupported file type {suffix or '(none)'!r}; use "
                         f"{', '.join(LABEL_SUFFIXES)}.")
    if suffix == ".npy":
        y = _load_numpy(p)
    elif suffix == ".npz":
        with _load_numpy(p) as arrays:
            key = next((k for k in ("y", "labels") if k in arrays.files), None)
            if key is None:
                raise ValueError("no array named 'y' or 'labels' (found: "
                                 f"{', '.join(arrays.files) or 'none'})")
            y = arrays[key]
    else:
        y = _label_lines(p.read_text(encoding="utf-8"))
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"expected a non-empty 1-D array of labels, got shape {y.shape}")
    return y


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _label_lines(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any("," in ln or "\t" in ln for ln in lines):
        raise ValueError("expected one label per line, found several columns")
    if len(lines) > 1 and _number(lines[0]) is None and all(
            _number(s) is not None for s in lines[1:]):
        lines = lines[1:]  # a header such as "label"
    values = [_number(s) for s in lines]
    if lines and all(v is not None and v.is_integer() for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(lines)


# ------------------------------------------------------------------ report content

def header(command, argv):
    """The first entries of every report: format version, command, command line, time."""
    return {"kdc_report_version": REPORT_VERSION, "command": command,
            "command_line": shlex.join(["kdc", *argv]),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def data_summary(source, x, y):
    """The ``"data"`` entry of a report."""
    return {"source": source, "n_samples": len(x), "n_features": int(np.prod(x.shape[1:])),
            "sample_shape": list(x.shape[1:]), "has_labels": y is not None,
            "n_classes": None if y is None else int(len(np.unique(y)))}


def decisions(est):
    """What the estimator's "auto" rules decided in its fit: the training plan of each
    phase (``training_plan_``) and, for N2D, the manifold's input and its candidates'
    scores (``manifold_input_``, ``manifold_input_scores_``)."""
    out = {"training_plan": dict(getattr(est, "training_plan_", None) or {})}
    if getattr(est, "manifold_input_", None) is not None:
        out["manifold_input"] = est.manifold_input_
        out["manifold_input_scores"] = getattr(est, "manifold_input_scores_", None)
    return out


def decisions_section(report):
    """report.md's lines on what the "auto" rules decided (none for older reports)."""
    decided = report.get("estimator", {}).get("decisions")
    if not decided:
        return []
    pairs = []
    if decided.get("manifold_input"):
        scores = decided.get("manifold_input_scores")
        pairs.append(("manifold input", decided["manifold_input"] + (
            "" if not scores else " (silhouette of each candidate's clusters: "
            + ", ".join(f"{name} {value:.4f}" for name, value in scores.items()) + ")")))
    for name, plan in decided.get("training_plan", {}).items():
        shift = plan.get("shift") or 0
        pairs.append((f"{name} plan", f"{plan.get('epochs')} epochs of batch "
                      f"{plan.get('batch_size')}, {plan.get('precision')}, "
                      + (f"shifts of up to {shift} pixel{'s' if shift != 1 else ''}" if shift
                         else "no shifts")))
    if not pairs:
        return []
    return ["## Decided by the \"auto\" rules", "", _kv_table(pairs, ("what", "decision")), ""]


def build_report(*, command, argv, source, x, y, method, est, labels, scores, comparison,
                 timings, warnings, plots=(), notes=()):
    """The report dict of a run (see the module docstring of :mod:`kdc.cli`).

    ``plots`` are the file names written into ``plots/``; the report lists
    them as relative paths (``"plots"``) for report.md to link. ``notes`` are
    sentences about how to read the results (``kdc demo --quick``: the scores
    of a smoke run mean nothing); report.md shows them under the metrics.
    """
    sizes = np.unique(labels, return_counts=True)[1]
    selection = getattr(est, "k_selection_", None)
    return {
        **header(command, argv), "data": data_summary(source, x, y),
        "method": method,
        "estimator": {"class": type(est).__name__, "params": est.get_params(deep=False),
                      "decisions": decisions(est)},
        "metrics": scores, "comparison": comparison.to_dict() if comparison else None,
        "clusters": {"n_requested": est.n_clusters, "n_used": getattr(est, "n_clusters_", None),
                     "n_found": len(sizes), "sizes": sizes.tolist(),
                     "k_selection": None if selection is None else selection.to_dict()},
        "timings": {**timings,
                    **{f"fit.{k}": v for k, v in getattr(est, "timings_", {}).items()}},
        "environment": environment(), "warnings": list(warnings), "notes": list(notes),
        "plots": [f"{PLOTS}/{name}" for name in plots],
        "files": [],  # filled in by write_run
    }


def dumps(report):
    """The report as indented JSON (strict: no NaN)."""
    return json.dumps(json_safe(report), indent=2, allow_nan=False)


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment():
    """Versions and machine facts recorded in every report.

    Returns:
        dict with ``"versions"`` (kdc and :data:`PACKAGES`, None when not
        installed), ``"keras_backend"``, ``"dtype_policy"`` and ``"machine"``
        (platform, architecture, processor, CPU counts, Python, GPUs seen by
        TensorFlow when it is loaded).
    """
    from kdc import _quiet

    _quiet.import_keras()  # TensorFlow without its start-up log lines, if not loaded yet
    import keras

    import kdc

    versions = {"kdc": kdc.__version__, **{p: _version(p) for p in PACKAGES}}
    versions["keras"] = keras.__version__
    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable_cpus = os.cpu_count()
    gpus = None
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
        except Exception:  # noqa: BLE001 - informational only
            gpus = None
    machine = {
        "platform": platform.platform(), "machine": platform.machine(),
        "processor": platform.processor() or None, "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus, "python": platform.python_version(),
        "python_implementation": platform.python_implementation(), "gpus": gpus,
    }
    return {"versions": versions, "keras_backend": keras.backend.backend(),
            "dtype_policy": keras.config.dtype_policy().name, "machine": machine}


def metrics_table(rows, *, markdown=False, digits=3):
    """Render ``{name: metrics dict}`` as an aligned text or Markdown table."""
    names = [m for m in METRIC_NAMES if all(m in r for r in rows.values())]
    header = ["method"] + [m.upper() if m != "purity" else "purity" for m in names]
    body = [[str(k)] + [f"{r[m]:.{digits}f}" for m in names] for k, r in rows.items()]
    if markdown:
        rule = ["---"] + ["---:"] * len(names)
        return "\n".join("| " + " | ".join(c) + " |" for c in [header, rule, *body])
    cells = [header, *body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    cells.insert(1, ["-" * w for w in widths])
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))) for row in cells)


def comparison_table(report):
    """The ``kdc.metrics.ComparisonTable`` stored in a report, or None."""
    from kdc.metrics import ComparisonTable

    stored = report.get("comparison")
    return None if not stored else ComparisonTable(stored["rows"], stored["metrics"],
                                                   stored["baseline"])


def results_text(report):
    """The metrics of a report as aligned text (with the baseline comparison), or None."""
    table = comparison_table(report)
    if table is not None:  # compact: values only; the relative improvements as sentences
        rows = {r["method"]: r for r in table.rows}
        return "\n".join([metrics_table(rows), "", *table.summary()])
    if report.get("metrics"):
        return metrics_table({report["estimator"]["class"]: report["metrics"]})
    return None


def _kv_table(pairs, head=("", "")):
    lines = [f"| {head[0]} | {head[1]} |", "| --- | --- |"]
    lines += [f"| {k} | {_md(v)} |" for k, v in pairs]
    return "\n".join(lines)


def _md(value):
    text = value if isinstance(value, str) else json.dumps(json_safe(value))
    return text.replace("|", "\\|").replace("\n", " ")


_FILE_NOTES = {
    REPORT_JSON: "this report, machine-readable",
    REPORT_MD: "this report",
    LABELS: "cluster label of each row, int64 array of shape (n_samples,)",
    MODEL: "the fitted estimator (est.save): `kdc.load('model')`, `kdc predict --model`, "
           "`kdc export --model`",
    PLOTS: "the figures below, PNG",
}


def plots_section(report):
    """Markdown lines showing the report's plots (relative links), or []."""
    lines = []
    for path in report.get("plots") or []:
        name = path.rsplit("/", 1)[-1]
        lines += [f"[`{path}`]({path}): {NOTES.get(name, name)}", "", f"![{name}]({path})", ""]
    return ["## Plots", "", *lines] if lines else []


def environment_section(report):
    """The Markdown table of versions and machine facts."""
    env = report.get("environment", {})
    pairs = [(k, v) for k, v in env.get("versions", {}).items()]
    pairs += [("keras backend", env.get("keras_backend")), ("dtype policy", env.get("dtype_policy"))]
    pairs += list(env.get("machine", {}).items())
    return ["## Environment", "", _kv_table(pairs), ""]


def files_section(report):
    """The Markdown list of the files of a run folder."""
    return ["## Files", "", *[f"- `{f}`: {_FILE_NOTES.get(f, '')}".rstrip(": ")
                              for f in report.get("files", [])], ""]


def k_selection_text(selection):
    """The table of a stored k selection (``KSelection.to_dict()``), as text."""
    from kdc.select import KSelection

    return str(KSelection(**selection))


def render_markdown(report):
    """The report for people: data, metrics, clusters, timings, parameters, environment, files."""
    data, est = report.get("data", {}), report.get("estimator", {})
    lines = [f"# kdc {report.get('command', 'run')}: {est.get('class', '?')} on "
             f"{data.get('source', '?')}", ""]
    lines += [f"`{report.get('command_line', '')}`", "",
              f"Written {report.get('created', '?')} by kdc "
              f"{report.get('environment', {}).get('versions', {}).get('kdc', '?')}.", ""]
    shape = "x".join(str(s) for s in data.get("sample_shape", []))
    labels = (f"{data['n_classes']} classes" if data.get("has_labels") else "none")
    lines += ["## Data", "", _kv_table([
        ("source", data.get("source")), ("samples", data.get("n_samples")),
        ("features", f"{data.get('n_features')} (samples of shape {shape})"),
        ("labels", labels)]), ""]
    lines += ["## Metrics", ""]
    table = comparison_table(report)
    if table is not None:
        lines += [table.to_markdown(), "", *[f"- {s}" for s in table.summary()], ""]
    elif report.get("metrics"):
        lines += [metrics_table({est.get("class", "model"): report["metrics"]}, markdown=True), ""]
    else:
        lines += ["No labels: metrics were not computed. Score the labels later with "
                  "`kdc evaluate --labels labels.npy --truth TRUTH`.", ""]
    lines += [f"> **Note:** {_md(note)}\n" for note in report.get("notes") or []]
    clusters = report.get("clusters", {})
    selection = clusters.get("k_selection")
    asked = (f"k = {selection['k']} chosen by {selection['method']}" if selection else
             f"{clusters.get('n_requested')} requested")
    lines += ["## Clusters", "", f"{clusters.get('n_found')} clusters found "
              f"({asked}); sizes: {', '.join(str(s) for s in clusters.get('sizes', []))}.", ""]
    if selection:
        lines += ["### Choosing k", "", "On the embedding, by `kdc.select.select_k`:", "",
                  "```", k_selection_text(selection), "```", ""]
    lines += decisions_section(report)
    lines += plots_section(report)
    lines += ["## Timings", "", _kv_table(
        [(k, f"{v:.2f}") for k, v in report.get("timings", {}).items()],
        ("stage", "seconds")), ""]
    lines += ["## Parameters", "", _kv_table(sorted(est.get("params", {}).items()),
                                             ("parameter", "value")), ""]
    lines += environment_section(report)
    if report.get("warnings"):
        lines += ["## Warnings", "", *[f"- {_md(w)}" for w in report["warnings"]], ""]
    return "\n".join(lines + files_section(report))


def _load_numpy(path):
    """``np.load(path)`` without pickles; a corrupt file raises ValueError."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except NPY_READ_ERRORS as exc:
        raise ValueError(f"not a readable numpy file ({type(exc).__name__}: {exc})") from None
