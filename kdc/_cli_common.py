"""Helpers shared by the ``kdc`` subcommands (see :mod:`kdc.cli`): errors, argument types,
progress lines, data loading."""

import argparse
import contextlib
import re
import time
from pathlib import Path

from kdc import _report
from kdc import datasets as _datasets


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


def _fraction(text):
    """A float in [0, 1] for --lr-decay-end and --unshifted-end."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]. Received: {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0. Received: {text!r}")
    return value


def _jit(text):
    """'auto', 'true' or 'false' for --jit-compile."""
    value = {"auto": "auto", "true": True, "false": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"must be auto, true or false. Received: {text!r}")
    return value


def _int_list(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated ints >= 1, e.g. 500,500,2000. Received: {text!r}")
    return values


def _k_range(text):
    """``START:STOP`` (both included) or ``START:STOP:STEP``: at least 3 values of k, all >= 2.

    Returns the text (stripped); :func:`kdc.select.parse_k_range` reads it.
    """
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*(?::\s*(\d+)\s*)?", text)
    if match is None:
        raise argparse.ArgumentTypeError(
            "must be START:STOP with both ends included, or START:STOP:STEP, e.g. 5:15. "
            f"Received: {text!r}")
    start, stop, step = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    if step < 1:
        raise argparse.ArgumentTypeError(f"STEP must be >= 1. Received: {text!r}")
    values = range(start, stop + 1, step)
    if len(values) < 3:
        raise argparse.ArgumentTypeError(
            "must give at least 3 values of k (the elbow fits two lines of >= 2 points), e.g. "
            f"5:15. Received: {text!r} ({len(values)} value{'s' * (len(values) != 1)})")
    if start < 2:
        raise argparse.ArgumentTypeError(f"must start at k >= 2. Received: {text!r}")
    return "".join(text.split())


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


def _keep(data):
    """Input paths that an output folder about to be replaced must not contain."""
    return [data] if Path(data).expanduser().exists() else []


def _check_pretrained(pretrained, autoencoder):
    """Fail early (exit 2) when ``--pretrained`` names no usable weights."""
    if pretrained is None:
        return
    from kdc import _pretrained

    with _errors_as("--pretrained", 2, ValueError):
        _pretrained.resolve(pretrained, autoencoder or "dense")


def _load_model(load, folder, no_safe_mode):
    """``load(folder)`` (``kdc.load``), with ``safe_mode=False`` only when ``--no-safe-mode``
    asks for it."""
    return load(folder, safe_mode=False) if no_safe_mode else load(folder)


def _model_dir(path, option="--model"):
    """The folder of a saved model (str): ``path``, or ``path/model`` for a kdc run folder."""
    folder = Path(path).expanduser()
    if _report.read_report(folder) is not None and (folder / _report.MODEL).is_dir():
        return str(folder / _report.MODEL)
    if not folder.is_dir():
        raise CLIError(f"{option} '{path}' is not a folder written by est.save (or a kdc fit "
                       "run folder with a model/ inside).", 2)
    return str(path)
