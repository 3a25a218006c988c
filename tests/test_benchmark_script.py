"""scripts/benchmark.py: one cheap run writes the JSON/Markdown report; FLOP counting."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_kdc_bench_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("benchmark")


def test_flops_per_sample_tiny_architecture(bench):
    flops = bench._machine.autoencoder_flops_per_sample
    # 4-3-2-3-4: dense layers 4x3, 3x2, 2x3, 3x4 -> 2 * (12 + 6 + 6 + 12) = 72 forward
    assert flops(4, hidden_dims=(3,), embedding_dim=2, training=False) == 72
    assert flops(4, hidden_dims=(3,), embedding_dim=2) == 3 * 72
    # the default 784-500-500-2000-10 autoencoder:
    # 2 * 2 * (784*500 + 500*500 + 500*2000 + 2000*10) = 6,648,000 forward
    assert flops(784, training=False) == 6_648_000
    assert flops(784) == 19_944_000


def test_peers_get_the_pretraining_epochs_of_the_matching_kdc_estimator(bench):
    # MNIST's 70,000 rows: kdc's N2D pretrains for 36 epochs by "auto", DEC and IDEC for 25.
    assert bench.method_epochs("clustpy_n2d", None, 70_000) == 36
    assert bench.method_epochs("n2d_original", None, 70_000) == 36
    assert bench.method_epochs("clustpy_dec", None, 70_000) == 25
    assert bench.method_epochs("clustpy_idec", None, 70_000) == 25
    assert bench.method_epochs("clustpy_n2d", 7, 70_000) == 7  # --epochs wins
    assert bench.method_epochs("n2d", None, 70_000) is None  # kdc's own "auto"
    assert set(bench._peers.KDC_COUNTERPART) == set(bench.PEER_METHODS)


def test_peak_rss_sampler_sees_an_allocation(bench):
    import numpy as np

    with bench._machine.PeakRSS(interval=0.005) as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block.sum()
    del block
    assert mem.peak_mb - mem.start_mb > 30


def _check_report(out, methods, seeds, in_process):
    data = json.loads((out / "benchmark.json").read_text())
    assert {"machine", "command", "runs", "summary", "isolation", "notes"} <= set(data)
    assert data["isolation"] == ("none" if in_process else "process")
    assert data["machine"]["autoencoder_flops_per_sample"] == {"digits": 3 * 2 * 2 * (
        64 * 500 + 500 * 500 + 500 * 2000 + 2000 * 10)}
    runs = data["runs"]
    assert [(r["method"], r["seed"]) for r in runs] == [(m, s) for m in methods for s in seeds]
    for r in runs:
        assert "error" not in r, r.get("error")
        assert 0.5 < r["acc"] <= 1 and 0 < r["nmi"] <= 1 and -1 <= r["ari"] <= 1
        assert r["seconds"] > 0 and r["head"] > 0
        assert r["n"] == 1797 and r["d"] == 64 and r["k"] == 10
        assert r["method_peak_rss_mb"] >= r["rss_before_mb"] > 0
        if not in_process:
            assert r["process_peak_rss_mb"] >= r["method_peak_rss_mb"] * 0.99
            assert r["import_s"] > 0 and r["process_s"] > r["seconds"]
    (entry,) = data["summary"]
    assert entry["runs"] == len(seeds)
    for key in ("acc", "nmi", "ari", "seconds", "method_peak_rss_mb"):
        assert key in entry and key + "_std" in entry
    md = (out / "benchmark.md").read_text()
    assert "## Results" in md and "## Machine" in md and "k-means on the raw features" in md
    assert "| ACC | NMI | ARI |" in md
    return data


def test_main_in_process_with_probe(bench, tmp_path):
    out = tmp_path / "bench"
    rc = bench.main(["--datasets", "digits", "--methods", "kmeans", "--seeds", "0", "1",
                         "--in-process", "--probe-size", "128", "--probe-repeats", "1",
                         "--out", str(out)])
    assert rc == 0
    data = _check_report(out, ["kmeans"], [0, 1], in_process=True)
    machine = data["machine"]
    assert machine["matmul_peak_gflops"]["float32"] > 0
    assert machine["matmul_peak_gflops"]["bfloat16"] > 0
    assert machine["matmul"]["float32"]["square"]["shape"] == [128, 128, 128]
    layers = machine["matmul"]["float32"]["layers"]["64"]["matmuls"]
    assert [r["shape"] for r in layers][:4] == [[256, 64, 500], [256, 500, 500],
                                                [256, 500, 2000], [256, 2000, 10]]
    assert "bfloat16" in (out / "benchmark.md").read_text()


def test_main_one_process_per_run(bench, tmp_path):
    out = tmp_path / "bench"
    rc = bench.main(["--datasets", "digits", "--methods", "kmeans", "--seeds", "0",
                         "--no-probe", "--out", str(out)])
    assert rc == 0
    data = _check_report(out, ["kmeans"], [0], in_process=False)
    assert data["machine"]["matmul"] is None
    assert (out / "logs" / "digits-kmeans-0.log").exists()


def test_unknown_method_is_rejected(bench):
    with pytest.raises(SystemExit):
        bench.main(["--methods", "no_such_method"])


def test_augment_option_reaches_the_kdc_estimators(bench, monkeypatch):
    import argparse

    import numpy as np

    assert bench._augment_arg("none") is None
    assert bench._augment_arg("auto") == "auto"
    assert bench._augment_arg("2") == 2
    with pytest.raises(argparse.ArgumentTypeError, match="'auto', 'none' or an int >= 0"):
        bench._augment_arg("-1")
    monkeypatch.setattr(bench, "KDC_PARAMS", {"augment": 2})
    x = np.random.default_rng(0).uniform(size=(40, 6)).astype("float32")  # flat rows
    with pytest.raises(ValueError, match="augment shifts images"):
        bench.run_estimator("AEKMeans", x, 2, 0, 1)


def test_pretrained_n2d_fits_the_head_on_the_datasets_shipped_weights(bench, monkeypatch):
    import numpy as np

    calls = []

    def fake(*args, **params):
        calls.append((args, params))
        return np.zeros(4, dtype=int), {}

    monkeypatch.setattr(bench, "run_estimator", fake)
    monkeypatch.setattr(bench, "DATASET", "pendigits")
    x = np.zeros((4, 16), dtype="float32")
    bench.RUNNERS["n2d_pretrained"][1](x, 10, 3, None, None)
    assert calls == [(("N2D", x, 10, 3, None), {"pretrained": "pendigits"})]
    monkeypatch.setattr(bench, "DATASET", "digits")
    with pytest.raises(RuntimeError, match="no shipped weights for dataset 'digits'"):
        bench.RUNNERS["n2d_pretrained"][1](x, 10, 3, None, None)
    assert "n2d_pretrained" in bench.NOT_DEFAULT  # opt-in: most datasets have no weights
    assert "n2d_pretrained" not in bench.AE_METHODS  # no pretraining to measure


def test_worker_is_told_its_dataset(bench, tmp_path):
    out = tmp_path / "bench"
    rc = bench.main(["--datasets", "digits", "--methods", "n2d_pretrained", "--seeds", "0",
                     "--no-probe", "--no-warmup", "--out", str(out)])
    assert rc == 0
    (run,) = json.loads((out / "benchmark.json").read_text())["runs"]
    assert "no shipped weights for dataset 'digits'" in run["error"]


def test_summary_and_report_show_n2ds_manifold_input_per_seed(bench, monkeypatch):
    rows = [{"dataset": "wine", "method": "n2d", "seed": s, "acc": a, "nmi": 0.8, "ari": 0.8,
             "seconds": 5.0, "manifold_input": choice}
            for s, a, choice in ((0, 0.93, "raw"), (1, 0.92, "both"))]
    rows.append({"dataset": "wine", "method": "kmeans", "seed": 0, "acc": 0.7, "nmi": 0.4,
                 "ari": 0.4, "seconds": 0.1})
    n2d, kmeans = bench.summarize(rows)
    assert n2d["manifold_input"] == ["raw", "both"] and "manifold_input" not in kmeans
    info = {"cpu": "cpu", "cpus": 2, "gpus": 0, "tensorflow": "t", "keras": "k", "kdc": "v"}
    monkeypatch.setattr(bench, "machine_markdown", lambda *args: [])
    md = bench.to_markdown([n2d, kmeans], info, "command")
    assert "(manifold input: raw/both)" in md
    assert md.count("manifold input") == 1
