"""scripts/scale_benchmark.py: the data it writes and the report it renders (no training)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "scale_benchmark.py"


def _load():
    spec = importlib.util.spec_from_file_location("_kdc_scale_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generate_writes_a_float32_mixture_in_chunks(tmp_path, monkeypatch):
    bench = _load()
    monkeypatch.setattr(bench, "GENERATE_CHUNK", 300)  # several chunks
    path = tmp_path / "data.npy"
    bench.generate(path, rows=1000, features=7, clusters=4, seed=0)
    x = np.load(path, mmap_mode="r")
    y = np.load(tmp_path / "labels.npy")
    assert x.shape == (1000, 7) and x.dtype == np.float32 and y.shape == (1000,)
    assert set(np.unique(y)) == {0, 1, 2, 3} and np.isfinite(x).all()
    means = np.stack([np.asarray(x)[y == k].mean(axis=0) for k in range(4)])
    assert np.linalg.norm(means[0] - means[1]) > 1.0  # distinct components


def test_arguments_and_report():
    bench = _load()
    args = bench.build_parser().parse_args(["--rows", "100", "--hidden-dims", "8,4"])
    assert args.rows == 100 and args.hidden_dims == [8, 4] and args.methods == ["n2d", "dec"]
    assert args.epochs == 1 and args.scale == "standard"
    report = {"command": "c", "rows": 100, "features": 3, "clusters": 2, "data_mb": 0.1,
              "generate_s": 0.1, "generate_rss_mb": 80.0, "results": [
                  {"estimator": "DEC", "acc": 1.0, "nmi": 1.0, "fit_s": 2.0,
                   "timings": {"pretrain": 1.0, "embed": 0.1, "head": 0.5,
                               "validate_and_build": 0.4},
                   "predict_10k_s": 0.1, "vmhwm_mb": 900.0, "ru_maxrss_mb": 900.0}]}
    table = bench.to_markdown(report)
    assert "| DEC | 1.000 | 1.000 | 2.0 | 0.4 | 1.0 | 0.1 | 0.5 | 0.1 | 900 |" in table
    assert bench.peak_rss_mb()["ru_maxrss_mb"] > 0
