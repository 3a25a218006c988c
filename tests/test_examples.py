"""Run every tutorial in examples/ in --quick mode, as a user would.

Each example runs in its own subprocess (``python examples/NAME.py --quick
--out DIR``) so that it is tested exactly as documented: its own imports,
argument parsing, Keras state and matplotlib backend. A run must exit with 0,
write the expected figures (real pictures, not empty canvases: > 5 KB) and
print what the tutorial is about.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"

# name -> (figures it writes, a line fragment its output must contain)
EXAMPLES = {
    "ae_kmeans_mnist": (["contingency.png", "centroids.png"],
                        "| AE + k-means |"),
    "dec_keras_workflow": (["embedding_before.png", "embedding_after.png", "history.png"],
                           "ARI"),
    "n2d_swapped_head": (["contingency.png", "embedding.png"],
                         "+ HDBSCAN) |"),
    "embedding_3d": (["embedding_3d.png", "centroids.png", "purity.png"],
                     "overall purity"),
    "choose_k": (["select_k.png", "contingency.png"],
                 "chosen by each criterion"),
}
# Generous: a quick run takes 15-30 s on a 2-core CPU, up to twice that when
# the cores are shared with other jobs. The limit only turns a hang into a failure.
TIMEOUT_S = 300


def _env(**overrides):
    env = dict(os.environ)
    if "KDC_DATA" not in env and SHARED_DATA.is_dir():
        env["KDC_DATA"] = str(SHARED_DATA)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Tiny k-means and Gaussian-mixture fits are several times slower when
    # their OpenMP threads compete with other jobs for the cores of a shared
    # CI machine; one thread each keeps the quick runs fast and steady.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(overrides)
    return env


def _run(script, out, env):
    """Run ``examples/<script> --quick --out <out>``; (CompletedProcess, seconds)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--quick", "--out", str(out)],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
        check=False)
    return proc, time.perf_counter() - start


def test_every_example_is_tested():
    found = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    assert found == sorted(EXAMPLES)


def test_readme_lists_every_example():
    readme = (ROOT / "examples" / "README.md").read_text()
    for name in EXAMPLES:
        assert f"python examples/{name}.py --quick" in readme, name


def _check_png(path, log):
    assert path.is_file(), f"{path.name} was not written\n{log}"
    assert path.stat().st_size > 5 * 1024, f"{path.name} is only {path.stat().st_size} bytes"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_in_quick_mode(name, tmp_path):
    figures, expected_text = EXAMPLES[name]
    out = tmp_path / "out"
    proc, seconds = _run(f"{name}.py", out, _env())
    log = f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{log}"
    assert expected_text in proc.stdout, f"{name} did not print {expected_text!r}\n{log}"
    for figure in figures:
        _check_png(out / figure, log)
    print(f"{name}: {seconds:.1f} s")


def test_quick_mode_falls_back_to_digits_without_data(tmp_path):
    """With no data directory, --quick still runs, on the bundled digits."""
    out = tmp_path / "out"
    proc, _ = _run("embedding_3d.py", out, _env(
        KDC_DATA=str(tmp_path / "no-data-here"),  # no data directory ...
        KERAS_HOME=str(tmp_path / "keras-home")))  # ... and no cached downloads either
    log = f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, log
    assert "using the bundled 'digits'" in proc.stdout, log
    assert "x: (1797, 8, 8)" in proc.stdout, log
    _check_png(out / "centroids.png", log)
