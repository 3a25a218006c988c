"""pretrained= weights: manifest lookup, sha256 and architecture checks, skipped pretraining."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import kdc
from kdc import _pretrained
from kdc._pretrained import PretrainedWeightsError
from kdc.cluster import _autoencoder
from kdc.training.data import InMemory
from tests.conftest import TINY, make_blobs

X, Y = make_blobs(n_samples=120)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """A weights folder with one entry, 'blobs-dense', for X's 20 features."""
    model, _ = _autoencoder.build_autoencoder("dense", (20,), (32,), 4)
    model(X[:1])
    model.set_weights([w + 0.01 * i for i, w in enumerate(model.get_weights())])
    model.save_weights(tmp_path / "blobs-dense.weights.h5")
    manifest = {"format": 1, "weights": {"blobs-dense": {
        "file": "blobs-dense.weights.h5", "dataset": "blobs", "architecture": "dense",
        "n_features": 20, "config": model.get_config(),
        "sha256": _pretrained.sha256(tmp_path / "blobs-dense.weights.h5")}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("KDC_WEIGHTS", str(tmp_path))
    return tmp_path, model


def _est(**kwargs):
    return kdc.AEKMeans(3, random_state=0, **{**TINY, "pretrain_epochs": "auto", **kwargs})


def test_pretrained_weights_are_loaded_and_pretraining_skipped(weights_dir):
    _, model = weights_dir
    est = _est(pretrained="blobs").fit(X)
    assert est.history_["pretrain"]["loss"] == []
    assert est.timings_["pretrain"] == 0.0
    for a, b in zip(est.autoencoder_.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    expected = model.encoder(est._apply_scaling(InMemory(X)).array).numpy()  # min-max scaled
    np.testing.assert_allclose(est.transform(X), expected, rtol=1e-5, atol=1e-6)


def test_pretrained_with_epochs_fine_tunes(weights_dir):
    _, model = weights_dir
    est = _est(pretrained="blobs", pretrain_epochs=2).fit(X)
    assert len(est.history_["pretrain"]["loss"]) == 2
    assert not np.array_equal(est.autoencoder_.get_weights()[0], model.get_weights()[0])


def test_pretrained_path_outside_the_manifest(weights_dir, tmp_path):
    folder, model = weights_dir
    other = tmp_path / "elsewhere"
    other.mkdir()
    path = other / "mine.weights.h5"
    path.write_bytes((folder / "blobs-dense.weights.h5").read_bytes())
    est = _est(pretrained=str(path)).fit(X)
    np.testing.assert_array_equal(est.autoencoder_.get_weights()[0], model.get_weights()[0])


def test_altered_weights_are_refused(weights_dir):
    folder, _ = weights_dir
    file = folder / "blobs-dense.weights.h5"
    data = bytearray(file.read_bytes())
    data[-100] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(PretrainedWeightsError, match="does not match its manifest entry"):
        _est(pretrained="blobs").fit(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"pretrained": "nothing"}, "no shipped weights for dataset 'nothing'.*Available.*blobs"),
    ({"pretrained": "blobs", "autoencoder": "denoising"}, "Available for 'denoising': none"),
    ({"pretrained": "blobs", "embedding_dim": 5}, "embedding_dim=4.*embedding_dim=5"),
    ({"pretrained": "/no/such/file.weights.h5"}, "no such file"),
    ({"pretrained": 3}, "pretrained must be None"),
])
def test_bad_pretrained_arguments(weights_dir, kwargs, match):
    with pytest.raises(PretrainedWeightsError, match=match):
        _est(**kwargs).fit(X)


def test_weights_for_other_features_are_refused(weights_dir):
    with pytest.raises(PretrainedWeightsError, match="trained on 20 features, but x has 7"):
        _est(pretrained="blobs").fit(np.random.default_rng(0).random((50, 7), dtype="float32"))


def test_missing_file_listed_in_the_manifest(weights_dir):
    folder, _ = weights_dir
    (folder / "blobs-dense.weights.h5").unlink()
    with pytest.raises(PretrainedWeightsError, match="listed in the manifest is missing"):
        _est(pretrained="blobs").fit(X)


def test_shipped_weights_match_their_manifest():
    """Every file in the repository's weights/ passes its sha256 check and loads."""
    manifest = _pretrained.read_manifest(_pretrained.WEIGHTS_DIR)
    if not manifest["weights"]:
        pytest.skip("no shipped weights in this checkout")
    for entry in manifest["weights"].values():
        path, checked = _pretrained.resolve(entry["dataset"], entry["architecture"])
        assert checked is entry or checked == entry
        model, _ = _autoencoder.build_autoencoder(
            entry["architecture"], (entry["n_features"],), tuple(entry["config"]["hidden_dims"]),
            entry["config"]["embedding_dim"])
        model(np.zeros((1, entry["n_features"]), "float32"))
        _pretrained.load_into(model, path, entry, entry["n_features"])
        assert np.isfinite(model.get_weights()[0]).all()
    total = sum(p.stat().st_size for p in _pretrained.WEIGHTS_DIR.glob("*.weights.h5"))
    assert total < 40e6


def test_pretrain_script_writes_weights_and_manifest(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("pretrain_script", ROOT / "scripts" /
                                                  "pretrain.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--datasets", "digits", "--epochs", "1", "--out", str(tmp_path),
                        "--no-evaluate"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["weights"]["digits-dense"]
    assert entry["sha256"] == _pretrained.sha256(tmp_path / "digits-dense.weights.h5")
    assert entry["n_features"] == 64 and entry["epochs"] == 1
    assert entry["reconstruction_loss"] > 0
    # trained as the estimators train: 8x8 images are too small for shifts, and
    # 1,797 rows pretrain in float32
    assert entry["augment_shift"] == 0 and entry["precision"] == "float32"
    monkeypatch.setenv("KDC_WEIGHTS", str(tmp_path))
    x, _ = kdc.datasets.load("digits", flatten=True)
    est = kdc.AEKMeans(10, pretrained="digits", random_state=0, verbose=0).fit(x[:300])
    assert est.history_["pretrain"]["loss"] == []
