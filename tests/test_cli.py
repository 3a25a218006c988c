"""Tests for the ``kdc`` command line (kdc/cli.py, kdc/_report.py).

Commands run in-process through ``kdc.cli.main`` with tiny budgets; one test
runs ``python -m kdc`` in a subprocess. Expected metric values are worked out
by hand in the comments.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

import kdc
from kdc import cli
from kdc.metrics import evaluate
from tests.conftest import make_blobs, make_windows

REPO = Path(__file__).resolve().parents[1]
TINY_FIT = ["--method", "aekmeans", "--epochs", "2", "--hidden-dims", "16", "--embedding-dim",
            "2", "--batch-size", "64"]


def run(capsys, *argv):
    """``kdc ARGV`` in-process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err, *needles):
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kdc")
    assert ": error: " in lines[0]
    for needle in needles:
        assert needle in lines[0]


def tree(folder):
    """{relative path: bytes} of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*")
            if p.is_file()}


def staging_leftovers(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """blobs.npz (240 x 20, labels of 3 clusters), blobs4.npz (4 clusters), nolabels.npz
    (x only), garbage.npy."""
    d = tmp_path_factory.mktemp("data")
    x, y = make_blobs()
    np.savez(d / "blobs.npz", x=x, y=y)
    np.savez(d / "blobs4.npz", **dict(zip("xy", make_blobs(n_clusters=4))))
    np.savez(d / "nolabels.npz", x=x[:90])
    (d / "garbage.npy").write_bytes(b"this is not a numpy file")
    return d


@pytest.fixture(scope="module")
def fit_run(data_dir, tmp_path_factory):
    """One tiny ``kdc fit --baseline`` run: (output folder, stdout)."""
    out = tmp_path_factory.mktemp("runs") / "blobs"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["fit", "--data", str(data_dir / "blobs.npz"), "--clusters", "3",
                         "--out", str(out), "--baseline", *TINY_FIT])
    assert code == 0, buffer.getvalue()
    return out, buffer.getvalue()


# --------------------------------------------------------------------------- fit

FIT_FILES = ["labels.npy", "model", "plots", "report.json", "report.md"]


def test_fit_writes_report_json_markdown_and_labels(fit_run, data_dir):
    out, stdout = fit_run
    assert sorted(p.name for p in out.iterdir()) == FIT_FILES
    assert staging_leftovers(out.parent) == []
    report = json.loads((out / "report.json").read_text())
    labels = np.load(out / "labels.npy")
    _, y = make_blobs()
    assert labels.shape == (240,) and labels.dtype == np.int64
    assert set(np.unique(labels)) <= {0, 1, 2}
    assert report["command"] == "fit" and report["method"] == "aekmeans"
    assert report["files"] == FIT_FILES
    assert report["data"]["n_samples"] == 240 and report["data"]["n_features"] == 20
    assert 0.0 <= report["metrics"]["acc"] <= 1.0
    assert report["metrics"] == pytest.approx(evaluate(y, labels))  # the labels written
    # flat rows (not images): the baseline is k-means on the raw features
    assert [r["method"] for r in report["comparison"]["rows"]] == ["k-means (raw features)",
                                                                   "AEKMeans"]
    assert report["notes"] == []
    params = report["estimator"]["params"]
    assert (params["pretrain_epochs"], params["hidden_dims"], params["embedding_dim"],
            params["batch_size"], params["random_state"]) == (2, [16], 2, 64, 0)
    assert {"load", "fit", "evaluate", "baseline", "fit.pretrain"} <= set(report["timings"])
    env = report["environment"]
    assert env["versions"]["kdc"] == kdc.__version__
    assert {"keras", "tensorflow", "numpy", "scikit-learn"} <= set(env["versions"])
    assert env["machine"]["cpu_count"] >= 1 and env["machine"]["python"]
    assert report["clusters"]["n_requested"] == report["clusters"]["n_used"] == 3
    assert report["clusters"]["k_selection"] is None
    assert sum(report["clusters"]["sizes"]) == 240
    md = (out / "report.md").read_text()
    assert f"{report['metrics']['acc']:.3f}" in md and "## Environment" in md
    assert "[kdc] loading data" in stdout and "[kdc] fitted in" in stdout
    assert "[kdc] drawn in" in stdout and "plots" in report["timings"]
    assert stdout.strip().splitlines()[-1].startswith(f"report written to {out}")


def test_fit_run_folder_has_the_model_and_linked_plots(fit_run):
    out, _ = fit_run
    report = json.loads((out / "report.json").read_text())
    # 20 features are not an image: no centroids.png; labels known: a contingency table.
    assert report["plots"] == ["plots/embedding.png", "plots/contingency.png",
                               "plots/history.png"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "contingency.png", "embedding.png", "history.png"]
    for path in report["plots"]:
        assert (out / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({path})" in (out / "report.md").read_text()  # a relative link
    est = kdc.load(out / "model")
    x, _ = make_blobs()
    assert type(est).__name__ == "AEKMeans" and est.n_clusters_ == 3
    np.testing.assert_array_equal(est.predict(x), np.load(out / "labels.npy"))


def test_fit_refuses_existing_run_then_replaces_it_with_overwrite(fit_run, data_dir, tmp_path,
                                                                 capsys):
    out = tmp_path / "run"
    shutil.copytree(fit_run[0], out)
    (out / "marker.txt").write_text("old run")
    before = (out / "report.json").read_bytes()
    args = ["fit", "--data", data_dir / "nolabels.npz", "--clusters", "3", "--out", out,
            *TINY_FIT, "--epochs", "0"]  # no training: only the folder handling matters
    code, _, err = run(capsys, *args)
    assert code == 2
    assert_one_line_error(err, "already exists", "--overwrite")
    assert (out / "marker.txt").exists() and (out / "report.json").read_bytes() == before

    code, stdout, err = run(capsys, *args, "--overwrite", "--quiet")
    assert code == 0, err
    assert stdout.strip() == f"report written to {out / 'report.md'} (with labels.npy, " \
                             "model, plots, report.json)"
    assert not (out / "marker.txt").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["has_labels"] is False and report["metrics"] is None
    assert report["plots"] == ["plots/embedding.png", "plots/history.png"]  # no labels
    assert np.load(out / "labels.npy").shape == (90,)
    assert "No labels" in (out / "report.md").read_text()
    assert staging_leftovers(tmp_path) == []


def test_failed_fit_keeps_the_existing_folder_and_debug_shows_traceback(fit_run, data_dir,
                                                                       tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(fit_run[0], out)
    before = tree(out)
    # 20 features are not a square image: the conv autoencoder fails inside fit.
    args = ["fit", "--data", data_dir / "blobs.npz", "--clusters", "3", "--out", out,
            "--overwrite", "--autoencoder", "conv", *TINY_FIT]
    code, _, err = run(capsys, *args, "--quiet")
    assert code == 1
    assert_one_line_error(err, "fitting AEKMeans failed", "conv")
    assert tree(out) == before
    assert staging_leftovers(tmp_path) == []
    code, _, err = run(capsys, *args, "--quiet", "--debug")
    assert code == 1 and "Traceback" in err and "fitting AEKMeans failed" in err


def test_fit_with_a_missing_method_class_says_so(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(cli.METHODS, "nomethod", "NoSuchEstimator")
    code, _, err = run(capsys, "fit", "--data", data_dir / "blobs.npz", "--method", "nomethod",
                       "--clusters", "3", "--out", tmp_path / "o")
    assert code == 2
    assert_one_line_error(err, "nomethod is not available", "aekmeans")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- demo

@pytest.fixture
def fast_demo_head(monkeypatch):
    # PCA and k-means instead of UMAP and a 10-restart GMM keep the demo tests fast
    # (UMAP's first call compiles for about a minute); the CLI wiring is the same.
    monkeypatch.setitem(cli.QUICK_PARAMS, "manifold", PCA(n_components=4))
    monkeypatch.setitem(cli.QUICK_PARAMS, "clusterer", KMeans(10, n_init=1, random_state=0))


def test_demo_quick_runs_end_to_end_and_replaces_a_previous_demo(tmp_path, capsys,
                                                                 monkeypatch, fast_demo_head):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "kdc-demo"  # the default --out, holding a previous demo run
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"kdc_report_version": 1, "command": "demo"}))
    (out / "marker.txt").write_text("previous demo")
    code, stdout, err = run(capsys, "demo", "--quick")  # no --overwrite needed
    assert code == 0, err
    assert not (out / "marker.txt").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["command"] == "demo" and report["estimator"]["class"] == "N2D"
    assert report["estimator"]["params"]["pretrain_epochs"] == 2
    assert report["estimator"]["params"]["random_state"] == 0  # the default --seed
    decided = report["estimator"]["decisions"]  # what "auto" made of the parameters
    assert decided["manifold_input"] == "embedding"  # PCA as the manifold: its input as given
    assert decided["manifold_input_scores"] is None
    assert decided["training_plan"]["pretrain"]["epochs"] == 2
    assert "| pretrain plan | 2 epochs of batch 256, " in (out / "report.md").read_text()
    assert report["data"]["source"] == "digits" and report["data"]["n_samples"] == 1797
    rows = {r["method"]: r for r in report["comparison"]["rows"]}
    assert set(rows) == {"k-means (pixels)", "N2D"}
    assert all(0.0 <= rows[m]["acc"] <= 1.0 for m in rows)
    assert np.load(out / "labels.npy").shape == (1797,)
    assert "N2D vs k-means (pixels): ACC" in stdout  # compare()'s relative improvement
    table = {line.split()[0]: line.split()[-5:] for line in stdout.splitlines()
             if line.startswith(("method", "N2D  "))}
    assert table["method"] == ["ACC", "NMI", "AMI", "ARI", "purity"]
    assert table["N2D"] == [f"{rows['N2D'][m]:.3f}" for m in ("acc", "nmi", "ami", "ari",
                                                               "purity")]
    assert "ACC vs k-means (pixels)" in (out / "report.md").read_text()  # the full table
    # a smoke run says that its scores mean nothing: after the table, in both reports
    assert f"[kdc] note: {cli.QUICK_NOTE}" in stdout
    assert stdout.index("N2D vs k-means") < stdout.index("[kdc] note: --quick is a smoke test")
    assert report["notes"] == [cli.QUICK_NOTE]
    assert "**Note:** --quick is a smoke test" in (out / "report.md").read_text()
    # 64 features: 8x8 images, so N2D's mean embedding per cluster is decoded too.
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "centroids.png", "contingency.png", "embedding.png", "history.png"]
    assert stdout.strip().splitlines()[-1] == (
        f"report written to kdc-demo{os.sep}report.md (with labels.npy, model, plots, "
        "report.json)")


def test_demo_seed_sets_the_estimators_random_state(tmp_path, capsys, fast_demo_head):
    out = tmp_path / "demo"
    code, _, err = run(capsys, "demo", "--quick", "--seed", "3", "--out", out)
    assert code == 0, err
    assert json.loads((out / "report.json").read_text())["estimator"]["params"][
        "random_state"] == 3
    code, _, err = run(capsys, "demo", "--quick", "--seed", "-1", "--out", tmp_path / "d2")
    assert code == 2 and "--seed" in err and "-1" in err
    assert not (tmp_path / "d2").exists()


def test_demo_refuses_a_folder_of_another_kdc_run(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text(json.dumps({"kdc_report_version": 1, "command": "fit"}))
    code, _, err = run(capsys, "demo", "--quick", "--out", out)
    assert code == 2
    assert_one_line_error(err, "already exists", "--overwrite")
    assert json.loads((out / "report.json").read_text())["command"] == "fit"


# --------------------------------------------------------------------------- evaluate

@pytest.fixture
def label_files(tmp_path):
    # truth   0 0 0 1 1 1 2 2
    # labels  1 1 0 0 0 0 2 2     contingency (rows truth, columns clusters 0 1 2):
    #   class 0: [1, 2, 0]; class 1: [3, 0, 0]; class 2: [0, 0, 2]
    # best matching 0->1, 1->0, 2->2: (3 + 2 + 2) / 8 = 0.875 = ACC; purity (3 + 2 + 2) / 8.
    np.save(tmp_path / "truth.npy", np.array([0, 0, 0, 1, 1, 1, 2, 2]))
    (tmp_path / "labels.txt").write_text("cluster\n1\n1\n0\n0\n0\n0\n2\n2\n")
    (tmp_path / "names.csv").write_text("b\nb\na\na\na\na\nc\nc\n")  # same partition
    return tmp_path


def test_evaluate_prints_hand_computed_metrics(label_files, capsys):
    code, out, err = run(capsys, "evaluate", "--labels", label_files / "labels.txt",
                         "--truth", label_files / "truth.npy")
    assert code == 0, err
    header, _, row = out.strip().splitlines()
    assert header.split() == ["method", "ACC", "NMI", "AMI", "ARI", "purity"]
    assert row.split()[0] == "labels.txt"
    assert row.split()[1] == "0.875" and row.split()[5] == "0.875"


def test_evaluate_json_and_string_labels(label_files, capsys):
    code, out, _ = run(capsys, "evaluate", "--labels", label_files / "names.csv",
                       "--truth", label_files / "truth.npy", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["n_samples"] == 8
    assert result["metrics"]["acc"] == pytest.approx(0.875)
    assert result["metrics"]["purity"] == pytest.approx(0.875)


def test_evaluate_against_a_dataset_name(tmp_path, capsys):
    from sklearn.datasets import load_digits

    y = load_digits().target
    np.save(tmp_path / "perm.npy", (y + 3) % 10)  # a relabelling: every metric is 1
    code, out, _ = run(capsys, "evaluate", "--labels", tmp_path / "perm.npy", "--truth",
                       "digits", "--json")
    assert code == 0
    assert json.loads(out)["metrics"] == pytest.approx(dict.fromkeys(
        ["acc", "nmi", "ami", "ari", "purity"], 1.0))


# --------------------------------------------------------------------------- bad input

BAD_INPUT = {
    "no command": ([], "COMMAND"),
    "unknown dataset": (["fit", "--data", "digitz", "--method", "n2d", "--clusters", "10",
                         "--out", "{tmp}/o"], "'digitz'"),
    "unknown method": (["fit", "--data", "digits", "--method", "kmeans", "--clusters", "10",
                        "--out", "{tmp}/o"], "invalid choice: 'kmeans'"),
    "one cluster": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "1",
                     "--out", "{tmp}/o"], "--clusters: must be an int >= 2"),
    "clusters not an int": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "ten",
                             "--out", "{tmp}/o"], "--clusters"),
    "more clusters than samples": (["fit", "--data", "{data}/nolabels.npz", "--method",
                                    "aekmeans", "--clusters", "91", "--out", "{tmp}/o"],
                                   "number of samples (90)"),
    "missing data file": (["fit", "--data", "{tmp}/missing.npz", "--method", "n2d",
                           "--clusters", "3", "--out", "{tmp}/o"], "not found"),
    "unreadable data file": (["fit", "--data", "{data}/garbage.npy", "--method", "n2d",
                              "--clusters", "3", "--out", "{tmp}/o"], "garbage.npy"),
    "negative epochs": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "3",
                         "--out", "{tmp}/o", "--epochs", "-1"], "--epochs"),
    "negative augment": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "3",
                          "--out", "{tmp}/o", "--augment", "-1"], "--augment"),
    "augment of flat rows": (["fit", "--data", "{data}/blobs.npz", "--clusters", "3",
                              "--out", "{tmp}/o", *TINY_FIT, "--augment", "2"],
                             "--augment: augment shifts images"),
    "bad hidden dims": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "3",
                         "--out", "{tmp}/o", "--hidden-dims", "500,x"], "--hidden-dims"),
    "missing labels file": (["evaluate", "--labels", "{tmp}/nope.npy", "--truth", "digits"],
                            "nope.npy"),
    "unsupported labels file": (["evaluate", "--labels", "{data}/blobs.json", "--truth",
                                 "digits"], "unsupported file type"),
    "labels of the wrong length": (["evaluate", "--labels", "{data}/labels8.npy", "--truth",
                                    "digits"], "same length"),
    "unknown truth dataset": (["evaluate", "--labels", "{data}/labels8.npy", "--truth",
                               "digts"], "'digts'"),
    "k-range without auto": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "3",
                              "--k-range", "2:5", "--out", "{tmp}/o"],
                             "--k-range: only used with --clusters auto"),
    "bad k-range": (["fit", "--data", "digits", "--method", "n2d", "--clusters", "auto",
                     "--k-range", "2:3", "--out", "{tmp}/o"], "at least 3 values of k"),
    "k-range above n": (["fit", "--data", "{data}/nolabels.npz", "--method", "aekmeans",
                         "--clusters", "auto", "--k-range", "80:90", "--out", "{tmp}/o"],
                        "< the number of samples (90)"),
    "unknown pretrained weights": (["fit", "--data", "digits", "--method", "aekmeans",
                                    "--clusters", "3", "--pretrained", "nosuchset",
                                    "--out", "{tmp}/o"], "--pretrained: pretrained='nosuchset'"),
    "range of two values": (["select-k", "--data", "digits", "--range", "5:6"],
                            "argument --range: must give at least 3 values"),
    "range from k=1": (["select-k", "--data", "digits", "--range", "1:6"], "k >= 2"),
    "range not a:b": (["select-k", "--data", "digits", "--range", "5-15"], "START:STOP"),
    "range above n": (["select-k", "--data", "{data}/nolabels.npz", "--range", "80:95"],
                      "the data has 90 samples"),
    "embedding option without --embed": (["select-k", "--data", "digits", "--epochs", "3"],
                                         "--epochs need --embed or --pretrained"),
    "select-k into a folder kdc did not write": (["select-k", "--data", "digits", "--out",
                                                  "{data}"], "kdc only replaces folders"),
    "export without a model": (["export", "--model", "{tmp}/nomodel", "--out", "{tmp}/o"],
                               "not a folder written by est.save"),
    # one line: numpy's "input contained no data" warning (with a source path) does not leak
    "header-only csv": (["fit", "--data", "{data}/header.csv", "--method", "aekmeans",
                         "--clusters", "3", "--out", "{tmp}/o"],
                        "header.csv' has a header row but no data rows"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_gives_exit_status_2_and_one_line(case, data_dir, tmp_path, capsys):
    np.save(data_dir / "labels8.npy", np.zeros(8, dtype=int))
    (data_dir / "header.csv").write_text("f1,f2,label\n")
    argv, needle = BAD_INPUT[case]
    argv = [a.format(tmp=tmp_path, data=data_dir) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert_one_line_error(err, needle)
    assert not (tmp_path / "o").exists()


def test_non_kdc_folder_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for extra in ([], ["--overwrite"]):
        code, _, err = run(capsys, "fit", "--data", "digits", "--method", "n2d", "--clusters",
                           "10", "--out", out, *extra)
        assert code == 2
        assert_one_line_error(err, "already exists", "kdc only replaces folders it wrote")
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


# --------------------------------------------------------------------------- predict

def test_predict_without_kdc_load_says_it_is_not_available(tmp_path, capsys, monkeypatch):
    monkeypatch.delattr(kdc, "load", raising=False)
    monkeypatch.delitem(kdc._NAMES, "load")  # the facade would import it again
    code, _, err = run(capsys, "predict", "--model", tmp_path, "--data", "digits",
                       "--out", tmp_path / "labels.npy")
    assert code == 1
    assert_one_line_error(err, "saving/loading models is not available yet")


def test_predict_uses_kdc_load(tmp_path, capsys, monkeypatch):
    class Thresholds:
        def predict(self, x):
            return (x.reshape(len(x), -1).mean(axis=1) > 0.3).astype(int)

    loaded = []
    monkeypatch.setattr(kdc, "load", lambda path: loaded.append(path) or Thresholds(),
                        raising=False)
    (tmp_path / "model").mkdir()
    out = tmp_path / "pred.txt"
    code, stdout, err = run(capsys, "predict", "--model", tmp_path / "model", "--data",
                            "digits", "--out", out, "--quiet")
    assert code == 0, err
    assert loaded == [str(tmp_path / "model")]
    x, _ = kdc.datasets.load("digits")
    expected = (x.reshape(len(x), -1).mean(axis=1) > 0.3).astype(int)
    assert out.read_text().split() == [str(v) for v in expected]
    assert stdout.strip() == f"labels written to {out} (1797 rows)"
    code, _, err = run(capsys, "predict", "--model", tmp_path / "model", "--data", "digits",
                       "--out", out)
    assert code == 2
    assert_one_line_error(err, "already exists")


def test_predict_with_the_saved_model_of_a_fit_run(fit_run, data_dir, tmp_path, capsys):
    out, _ = fit_run
    for model in (out, out / "model"):  # the run folder or its model/
        pred = tmp_path / f"{model.name}.npy"
        code, stdout, err = run(capsys, "predict", "--model", model, "--data",
                                data_dir / "blobs.npz", "--out", pred)
        assert code == 0, err
        assert f"loading the model in '{out / 'model'}'" in stdout
        np.testing.assert_array_equal(np.load(pred), np.load(out / "labels.npy"))


def test_predict_data_that_does_not_fit_the_model_exits_2(fit_run, tmp_path, capsys):
    out, _ = fit_run
    np.save(tmp_path / "wide.npy", np.zeros((5, 21), "float32"))  # the model has 20 features
    code, _, err = run(capsys, "predict", "--model", out, "--data", tmp_path / "wide.npy",
                       "--out", tmp_path / "labels.npy")
    assert code == 2, err
    assert "does not fit the model" in err and "20 features" in err
    assert not (tmp_path / "labels.npy").exists()


# --------------------------------------------------------------------------- auto k, pretrained

def test_fit_auto_k_from_pretrained_weights(data_dir, tmp_path, capsys):
    # Weights of an untrained 20-16-8 autoencoder: the 4 blobs stay apart in its embedding,
    # and with --pretrained (and no --epochs) nothing is trained.
    ae = kdc.models.DenseAutoencoder(20, hidden_dims=(16,), embedding_dim=8)
    ae(np.zeros((1, 20), "float32"))
    weights = tmp_path / "ae.weights.h5"
    ae.save_weights(weights)
    out = tmp_path / "auto"
    code, stdout, err = run(capsys, "fit", "--data", data_dir / "blobs4.npz", "--method",
                            "aekmeans", "--clusters", "auto", "--k-range", "2:6", "--out", out,
                            "--pretrained", weights, "--hidden-dims", "16", "--embedding-dim",
                            "8")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    clusters = report["clusters"]
    assert clusters["n_requested"] == "auto" and clusters["n_used"] == clusters["n_found"] == 4
    assert clusters["k_selection"]["k_values"] == [2, 3, 4, 5, 6]
    assert clusters["k_selection"]["method"] == "elbow"
    assert report["estimator"]["params"]["pretrained"] == str(weights)
    assert report["estimator"]["params"]["k_range"] == "2:6"
    assert {"fit.load_weights", "fit.select_k"} <= set(report["timings"])
    assert "fit.pretrain" in report["timings"] and "Epoch" not in stdout  # no training
    assert "plots/select_k.png" in report["plots"]
    md = (out / "report.md").read_text()
    assert "k = 4 chosen by elbow" in md and "### Choosing k" in md
    assert "k = 4 (method='elbow')" in stdout  # the selection table


# --------------------------------------------------------------------------- select-k

def test_select_k_prints_the_table_and_writes_a_report(data_dir, tmp_path, capsys):
    out = tmp_path / "sk"
    args = ["select-k", "--data", data_dir / "blobs4.npz", "--range", "2:6", "--n-init", "2",
            "--out", out]
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[-2] == "k = 4 (method 'elbow', k in 2..6; the data's labels have 4 classes)"
    assert lines[-1] == f"report written to {out / 'report.md'}"
    assert "scanning k = 2..6 by elbow on the features (20 dimensions" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["command"] == "select-k" and report["k"] == 4
    assert report["selection"]["k_values"] == [2, 3, 4, 5, 6]
    assert report["space"] == {"kind": "features", "n_dims": 20}
    assert report["files"] == ["plots", "report.json", "report.md"]
    assert report["plots"] == ["plots/select_k.png"]
    assert (out / "plots" / "select_k.png").read_bytes()[:4] == b"\x89PNG"
    md = (out / "report.md").read_text()
    assert "k = **4**" in md and "](plots/select_k.png)" in md
    code, _, err = run(capsys, *args)  # the folder exists now
    assert code == 2
    assert_one_line_error(err, "already exists", "--overwrite")
    code, stdout, err = run(capsys, *args, "--overwrite", "--quiet", "--method", "elbow")
    assert code == 0, err
    assert stdout.strip().splitlines()[0].startswith("k = ")  # quiet: only the result lines
    assert json.loads((out / "report.json").read_text())["selection"]["method"] == "elbow"


# --------------------------------------------------------------------------- export

def test_export_a_fit_run_and_refuse_to_replace_it_without_overwrite(fit_run, tmp_path,
                                                                    capsys):
    out = tmp_path / "serving" / "1"
    code, stdout, err = run(capsys, "export", "--model", fit_run[0], "--out", out, "--quiet")
    assert code == 0, err
    assert stdout.strip() == f"SavedModel written to {out} (signature 'serving_default')"
    assert (out / "saved_model.pb").is_file() and (out / "kdc_export.json").is_file()
    code, _, err = run(capsys, "export", "--model", fit_run[0] / "model", "--out", out)
    assert code == 2
    assert_one_line_error(err, "already holds a kdc export", "--overwrite")
    code, _, err = run(capsys, "export", "--model", fit_run[0], "--out", out, "--overwrite",
                       "--quiet", "--manifold-map", "parametric")  # N2D only; this head is exact
    assert code == 0, err
    assert json.loads((out / "kdc_export.json").read_text())["head"] == "student_t"


# --------------------------------------------------------------------------- version

def test_version_in_process(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith(f"kdc {kdc.__version__} (keras ")


def child_env():
    """The environment of a ``python -m kdc`` child: this checkout first, and TensorFlow's
    logging left to kdc (the test session's TF_CPP_MIN_LOG_LEVEL and KDC_DEBUG removed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KDC_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def test_python_dash_m_kdc_version(tmp_path):
    # -X importtime lists every module imported (on stderr): neither TensorFlow nor Keras
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kdc", "--version"],
                          cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(f"kdc {kdc.__version__} (keras ")
    assert "kdc.cli" in proc.stderr
    assert "tensorflow" not in proc.stderr and "keras" not in proc.stderr


# --------------------------------------------------------------------------- quiet and fast

def test_help_version_and_argument_errors_answer_without_tensorflow(tmp_path):
    script = (
        "import sys\n"
        "from kdc import cli\n"
        "codes = [cli.main(argv) for argv in ([], ['--help'], ['--version'], ['fit', '--help'], "
        "['predict', '--help'], ['evaluate', '--help'], ['select-k', '--help'], "
        "['export', '--help'], ['demo', '--help'], ['fit', '--data', 'digits', '--method', "
        "'kmeans', '--clusters', '3', '--out', 'o'], ['select-k', '--data', 'x', '--range', "
        "'5:6'], ['--debug', 'fit'])]\n"
        "print(codes)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))\n"
        # a scan of the raw features needs scikit-learn only
        "cli.main(['select-k', '--data', 'digits', '--range', '2:4', '--n-init', '1', '-q'])\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=child_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    *_, codes, loaded, k, loaded_by_select_k = proc.stdout.strip().splitlines()
    assert codes == "[2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2]"
    assert loaded == "[]"  # not even scikit-learn: the help answers at once
    assert k.startswith("k = ") and loaded_by_select_k == "['sklearn']"
    assert "invalid choice: 'kmeans'" in proc.stderr and "at least 3 values" in proc.stderr


def test_a_command_prints_no_tensorflow_log_lines(fit_run, data_dir, tmp_path):
    """TensorFlow's C++ start-up lines and, without a GPU, its ``E0000 ... cuInit`` error are
    hidden (kdc._quiet); kdc's own output and errors still show."""
    from kdc._quiet import _ABSL_RECORD

    argv = [sys.executable, "-m", "kdc", "predict", "--model", str(fit_run[0]), "--data",
            str(data_dir / "blobs.npz"), "--out", str(tmp_path / "labels.npy")]
    proc = subprocess.run(argv, cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "labels written to" in proc.stdout
    assert not [line for line in proc.stderr.splitlines() if _ABSL_RECORD.match(line)]
    assert "cuInit" not in proc.stderr and "absl::InitializeLog" not in proc.stderr
    proc = subprocess.run(argv, cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                          timeout=300)  # --out exists now: kdc's own error shows
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "already exists")


@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_debug_gives_tensorflow_its_own_logging_back(where, label_files, capsys, monkeypatch):
    from kdc import _quiet

    monkeypatch.setitem(_quiet._changed, "env", True)  # as if kdc had set the variable
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", _quiet.TF_LOG_LEVEL)
    args = ["evaluate", "--labels", label_files / "labels.txt", "--truth",
            label_files / "truth.npy"]
    code, _, err = run(capsys, *args)
    assert code == 0 and os.environ["TF_CPP_MIN_LOG_LEVEL"] == _quiet.TF_LOG_LEVEL
    args = ["--debug", *args] if where == "before the command" else [*args, "--debug"]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and not _quiet.is_quiet()


def test_the_copies_of_library_constants_match_the_library():
    from kdc import select, serving

    assert cli.K_METHODS == select.METHODS
    assert cli.MANIFOLD_MAPS == serving.MANIFOLD_MAPS


# --------------------------------------------------------------------------- help texts

def test_commands_that_read_files_give_the_file_rules_in_their_help(capsys):
    for command in ("fit", "predict", "select-k"):
        code, out, _ = run(capsys, command, "--help")
        text = " ".join(out.split())
        assert code == 0
        assert ("A CSV header row is optional: the first non-empty row is a header when any "
                "of its cells is not a number") in text
        assert "named label, y, target or class (any case) holds the labels" in text
    code, out, _ = run(capsys, "evaluate", "--help")
    assert "Label files: .npy, .npz (array y or labels), or .csv/.txt with one label per line" \
        in " ".join(out.split())


def test_predict_help_has_a_description(capsys):
    code, out, _ = run(capsys, "predict", "--help")
    assert code == 0
    assert "assign every row of --data to a cluster with est.predict" in " ".join(out.split())


# --------------------------------------------------------------------------- safe mode

def test_no_safe_mode_is_passed_to_kdc_load(tmp_path, capsys, monkeypatch):
    class Model:
        def predict(self, x):
            return np.zeros(len(x), dtype=int)

        def export(self, out, **kwargs):
            Path(out).mkdir(parents=True)
            (Path(out) / "kdc_export.json").write_text("{}")

    calls = []
    monkeypatch.setattr(kdc, "load", lambda path, **kw: calls.append(kw) or Model(),
                        raising=False)
    (tmp_path / "model").mkdir()
    for i, extra in enumerate(([], ["--no-safe-mode"])):
        code, _, err = run(capsys, "predict", "--model", tmp_path / "model", "--data", "digits",
                           "--out", tmp_path / f"labels{i}.npy", "--quiet", *extra)
        assert code == 0, err
        code, _, err = run(capsys, "export", "--model", tmp_path / "model", "--out",
                           tmp_path / f"export{i}", "--quiet", *extra)
        assert code == 0, err
    # only when asked for, and then as a keyword: kdc.load's default stays in charge
    assert calls == [{}, {}, {"safe_mode": False}, {"safe_mode": False}]


def test_fit_on_sequences_compares_with_k_means_on_their_raw_values(tmp_path, capsys):
    windows, y = make_windows(n=120)  # (120, 32, 2): sequences, not images
    np.savez(tmp_path / "windows.npz", x=windows, y=y)
    code, stdout, err = run(capsys, "fit", "--data", tmp_path / "windows.npz", "--clusters", "3",
                            "--out", tmp_path / "run", "--baseline", *TINY_FIT)
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["data"]["sample_shape"] == [32, 2]
    assert [r["method"] for r in report["comparison"]["rows"]] == ["k-means (raw features)",
                                                                   "AEKMeans"]
    # Decoded centres of sequences are drawn, as line plots (tests/test_plot.py).
    assert "centroids.png" in {p.name for p in (tmp_path / "run" / "plots").iterdir()}


def test_report_md_says_what_the_auto_rules_decided():
    from kdc import _report

    decided = {"manifold_input": "spectrum",
               "manifold_input_scores": {"embedding": 0.31, "raw": 0.28, "spectrum": 0.85},
               "training_plan": {"pretrain": {"epochs": 36, "batch_size": 256,
                                              "precision": "mixed_bfloat16", "shift": 1}}}
    lines = _report.decisions_section({"estimator": {"decisions": decided}})
    text = "\n".join(lines)
    assert lines[0] == '## Decided by the "auto" rules'
    assert ("| manifold input | spectrum (silhouette of each candidate's clusters: embedding "
            "0.3100, raw 0.2800, spectrum 0.8500) |") in text
    assert ("| pretrain plan | 36 epochs of batch 256, mixed_bfloat16, shifts of up to 1 pixel |"
            in text)
    assert _report.decisions_section({"estimator": {"params": {}}}) == []  # an older report
    est = kdc.AEKMeans(2)  # not fitted: no plan, no manifold input
    assert _report.decisions(est) == {"training_plan": {}}

