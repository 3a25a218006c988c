"""Quiet TensorFlow: its C++ and absl log lines hide kdc's own output (private).

TensorFlow prints start-up notes and, on a machine without a GPU, an
``E0000 ... failed call to cuInit ... CUDA error`` line that reads as a
failure although nothing failed. Unless the user asks for them, kdc keeps
them out of the way:

- :func:`quiet` (run by ``import kdc``) sets the environment variable
  ``TF_CPP_MIN_LOG_LEVEL`` to 3 (TensorFlow's C++ logging: fatal errors only)
  when the user has not set it, and the level of the ``absl`` logger (where
  TensorFlow's Python code logs) to ERROR when nobody has set one. Both only
  take effect if TensorFlow is imported afterwards, as it is through kdc's
  own lazy imports.
- :func:`import_keras` (run by kdc's facade before the first name that needs
  it) imports Keras, hence TensorFlow, with the process's standard error
  captured, then writes back everything except absl's INFO, WARNING and ERROR
  records (``I0000 12:00:00.000000 123 file.cc:45] ...``): the notes a few
  TensorFlow libraries print while they load, before the log level applies.

Python warnings and errors, kdc's own included, always show. Set
``KDC_DEBUG=1`` (or ``TF_CPP_MIN_LOG_LEVEL`` yourself, or pass ``kdc
--debug``) to see TensorFlow's logging as it comes.
"""

import contextlib
import logging
import os
import re
import sys
import tempfile

from kdc._env import OFF_VALUES

DEBUG_ENV = "KDC_DEBUG"
TF_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"
TF_LOG_LEVEL = "3"  # fatal errors only: the cuInit line without a GPU is an ERROR record
# absl's C++ log records below FATAL (severity letter, MMDD, time, thread, file:line]).
_ABSL_RECORD = re.compile(r"[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\]\s]+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"

# What quiet() changed, so that loud() can undo it before TensorFlow is imported.
_changed = {"env": False, "absl": False, "imported": False}


def debug_requested():
    """Whether ``KDC_DEBUG`` asks for TensorFlow's own logging (any value but 0/false/no/off)."""
    value = os.environ.get(DEBUG_ENV, "").strip().lower()
    return bool(value) and value not in OFF_VALUES


def quiet():
    """Silence TensorFlow's C++ and absl logging unless the user asked for it (see the module
    docstring); a no-op with ``KDC_DEBUG`` set."""
    if debug_requested():
        return
    if TF_LOG_ENV not in os.environ:
        os.environ[TF_LOG_ENV] = TF_LOG_LEVEL
        _changed["env"] = True
    logger = _absl_logger()
    if logger is not None and logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)
        _changed["absl"] = True


def loud():
    """Undo :func:`quiet` (``kdc --debug``): TensorFlow logs as it would without kdc.

    Effective for the C++ logging only before TensorFlow is imported.
    """
    if _changed["env"] and os.environ.get(TF_LOG_ENV) == TF_LOG_LEVEL:
        del os.environ[TF_LOG_ENV]
    if _changed["absl"]:
        logger = _absl_logger()
        if logger is not None and logger.level == logging.ERROR:
            logger.setLevel(logging.NOTSET)
    _changed.update(env=False, absl=False)  # "imported" stays: the import happened or not


def is_quiet():
    """Whether kdc silenced TensorFlow's C++ logging in this process (see :func:`quiet`)."""
    return _changed["env"]


def import_keras():
    """Import Keras (and so TensorFlow, its backend), without the log lines TensorFlow prints
    while it loads.

    Only the first call does anything. A plain import when kdc did not silence
    TensorFlow (the user set ``TF_CPP_MIN_LOG_LEVEL`` or ``KDC_DEBUG``, or ran
    ``kdc --debug``). If the import fails, everything it printed is shown.
    Another Keras backend (``KERAS_BACKEND=jax``) imports no TensorFlow here.
    """
    if _changed["imported"] or "keras" in sys.modules:
        return
    _changed["imported"] = True
    with filtered_stderr() if is_quiet() else contextlib.nullcontext():
        import keras  # noqa: F401


@contextlib.contextmanager
def filtered_stderr():
    """Capture file descriptor 2 in the block; then write it back without absl's records.

    Python-level output to ``sys.stderr`` is captured too (it is written back
    in order). Where descriptor 2 cannot be redirected, nothing is captured.
    """
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as capture:
        try:
            os.dup2(capture.fileno(), 2)
            yield
            failed = False
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = text if failed else drop_absl_records(text)
            if kept:
                with contextlib.suppress(AttributeError, OSError, ValueError):
                    sys.stderr.write(kept)
                    sys.stderr.flush()


def drop_absl_records(text):
    """``text`` without absl's INFO/WARNING/ERROR records and its pre-initialisation notice."""
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines
                   if not (_ABSL_RECORD.match(line) or line.startswith(_ABSL_PREAMBLE)))


def _absl_logger():
    """The ``absl`` Python logger (absl's own class, so absl keeps working), or None."""
    try:
        from absl import logging as absl_logging
    except ImportError:
        return None
    return absl_logging.get_absl_logger()
