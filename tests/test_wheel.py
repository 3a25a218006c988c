"""kdc built as a wheel and installed in a fresh virtual environment: its shipped weights,
``pretrained=`` and ``kdc demo`` work from any folder."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import numpy as np
import kdc, kdc._pretrained as p
path, entry = p.resolve("pendigits", "dense")
x = np.random.default_rng(0).uniform(0, 100, size=(300, 16)).astype("float32")
est = kdc.N2D(4, pretrained="pendigits", n_neighbors=10, random_state=0, verbose=0).fit(x)
assert est.history_["pretrain"]["loss"] == [] and est.labels_.shape == (300,)
print("RESULT", kdc.__file__, path, entry["n_features"])
"""


def test_wheel_ships_the_weights_and_pretrained_finds_them_from_any_folder(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("kdc-*.whl"))
    # the environment's other packages (TensorFlow, Keras...) are reused, kdc is the wheel's
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(tmp_path / "env")
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([str(python), "-c", CHECK], cwd=elsewhere, capture_output=True,
                         text=True, timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    module, weights, n_features = lines[-1].split()[1:]
    site = str(tmp_path / "env")
    assert module.startswith(site), module  # the installed wheel, not the checkout
    assert weights.startswith(site) and weights.endswith("pendigits-dense.weights.h5")
    assert int(n_features) == 16
    # As a user runs it: TensorFlow's log level left to kdc.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KDC_DEBUG")}
    demo = subprocess.run([str(tmp_path / "env" / "bin" / "kdc"), "demo", "--quick", "--out",
                           str(elsewhere / "demo")], cwd=elsewhere, capture_output=True,
                          text=True, timeout=600, env=env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (elsewhere / "demo" / "report.md").is_file()
    assert "CUDA" not in demo.stderr and "I0000" not in demo.stderr  # quiet by default
