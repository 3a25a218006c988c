"""kdc built as a wheel and installed in a fresh virtual environment finds its shipped weights."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import kdc, kdc._pretrained as p
path, entry = p.resolve("pendigits", "dense")
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
