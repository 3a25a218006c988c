"""Tests of kdc._quiet (TensorFlow's logging kept out of the way) and of kdc's lazy facade."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kdc
from kdc import _quiet

REPO = Path(__file__).resolve().parents[1]

TF_STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796548014.098267   26636 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796548014.098590   26636 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.\n"
    "W0101 12:00:01.000001    7 some_file.cc:9] a warning\n"
    "E0000 00:00:1796548019.228350   26636 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
KEPT = ("/path/module.py:12: UserWarning: kdc's own warning\n"
        "  warnings.warn(...)\n"
        "F0000 00:00:1796548019.2 1 x.cc:1] a fatal error stays\n")


def test_drop_absl_records_keeps_everything_else():
    assert _quiet.drop_absl_records(TF_STARTUP + KEPT) == KEPT
    assert _quiet.drop_absl_records(KEPT + TF_STARTUP + KEPT) == KEPT + KEPT


def test_filtered_stderr_drops_tensorflows_lines_written_to_the_file_descriptor(capfd):
    with _quiet.filtered_stderr():
        os.write(2, TF_STARTUP.encode())
        print("python's own warning", file=sys.stderr)
        os.write(2, b"a native line that is not a log record\n")
    err = capfd.readouterr().err
    assert err == "python's own warning\na native line that is not a log record\n"


def test_filtered_stderr_shows_everything_when_the_block_fails(capfd):
    with pytest.raises(ImportError), _quiet.filtered_stderr():
        os.write(2, TF_STARTUP.encode())
        raise ImportError("no tensorflow")
    assert capfd.readouterr().err == TF_STARTUP


@pytest.fixture
def clean(monkeypatch):
    """No TF_CPP_MIN_LOG_LEVEL or KDC_DEBUG; kdc._quiet's record and the absl logger restored."""
    monkeypatch.delenv(_quiet.TF_LOG_ENV, raising=False)
    monkeypatch.delenv(_quiet.DEBUG_ENV, raising=False)
    monkeypatch.setattr(_quiet, "_changed", {"env": False, "absl": False, "imported": True})
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    yield logger
    logger.setLevel(level)


def test_quiet_silences_tensorflow_unless_the_user_set_its_level(clean, monkeypatch):
    _quiet.quiet()
    assert os.environ[_quiet.TF_LOG_ENV] == "3" and _quiet.is_quiet()
    assert clean.level == logging.ERROR
    _quiet.loud()  # kdc --debug
    assert _quiet.TF_LOG_ENV not in os.environ and not _quiet.is_quiet()
    assert clean.level == logging.NOTSET
    monkeypatch.setenv(_quiet.TF_LOG_ENV, "1")  # the user's own choice stays
    clean.setLevel(logging.INFO)
    _quiet.quiet()
    _quiet.loud()
    assert os.environ[_quiet.TF_LOG_ENV] == "1" and clean.level == logging.INFO


@pytest.mark.parametrize("value, debug", [("1", True), ("yes", True), ("0", False),
                                          ("off", False), ("", False)])
def test_kdc_debug_turns_the_silencing_off(clean, monkeypatch, value, debug):
    monkeypatch.setenv(_quiet.DEBUG_ENV, value)
    assert _quiet.debug_requested() is debug
    _quiet.quiet()
    assert (_quiet.TF_LOG_ENV not in os.environ) is debug
    assert _quiet.is_quiet() is not debug


def test_the_facade_imports_public_names_on_first_use():
    from kdc import N2D, load  # noqa: F401 - `from kdc import` goes through __getattr__

    assert kdc.N2D is kdc.cluster.N2D and kdc.load is kdc.saving.load
    assert kdc.serving.export  # submodules that `import kdc` used to import stay reachable
    assert kdc.metrics.evaluate and kdc.datasets.load and kdc.training.PhasePlan
    assert set(kdc.__all__) <= set(dir(kdc))
    with pytest.raises(AttributeError, match="module 'kdc' has no attribute 'N3D'"):
        kdc.N3D  # noqa: B018


def run_python(script, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in (_quiet.TF_LOG_ENV, _quiet.DEBUG_ENV)}
    base["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-c", script], env={**base, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_import_kdc_is_light_and_tensorflow_comes_quietly_with_kdc_load(tmp_path):
    """`import kdc` loads no TensorFlow; kdc.load imports it without its log lines, and knows
    the estimators although nothing imported them yet."""
    import numpy as np

    x = np.random.default_rng(0).random((60, 4)).astype("float32")
    kdc.AEKMeans(2, hidden_dims=(8,), embedding_dim=2, pretrain_epochs=0, verbose=0,
                 random_state=0).fit(x).save(tmp_path / "model")
    proc = run_python(
        "import os, sys, kdc\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
        "kdc.datasets.load('digits')\n"
        "print('tensorflow' in sys.modules)\n"
        f"print(type(kdc.load({str(tmp_path / 'model')!r})).__name__)\n"
        "print('tensorflow' in sys.modules, os.environ['TF_CPP_MIN_LOG_LEVEL'])\n")
    assert proc.stdout.split() == ["False", "False", "False", "AEKMeans", "True", "3"]
    assert not [line for line in proc.stderr.splitlines() if _quiet._ABSL_RECORD.match(line)]
    assert "absl::InitializeLog" not in proc.stderr and "cuInit" not in proc.stderr
