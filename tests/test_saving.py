"""est.save / kdc.load / pickle: identical predictions, atomic writes, clear errors."""

import json
import pickle

import joblib
import keras
import numpy as np
import pytest
from sklearn.cluster import KMeans

import kdc
from kdc import saving
from kdc.training.precision import resolve_precision
from kdc.saving import ModelFormatError
from tests.conftest import TINY, make_blobs

X, Y = make_blobs(n_samples=180)
CLASSES = {
    "AEKMeans": (kdc.AEKMeans, {}),
    "N2D": (kdc.N2D, {"n_neighbors": 5}),
    "DEC": (kdc.DEC, {"max_iter": 30, "update_interval": 10}),
    "IDEC": (kdc.IDEC, {"max_iter": 30, "update_interval": 10}),
}


@pytest.fixture(scope="module")
def fitted():
    """One small fitted estimator per class (fitted once for the module)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, (cls, extra) in CLASSES.items():
            out[name] = cls(3, random_state=0, **TINY, **extra).fit(X)
    return out


@pytest.mark.parametrize("name", list(CLASSES))
def test_reloaded_estimator_predicts_identically(fitted, name, tmp_path):
    est = fitted[name]
    path = est.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == [
        "autoencoder.keras", "kdc_model.json", "state.joblib"]
    manifest = json.loads((path / "kdc_model.json").read_text())
    assert manifest["format"] == "kdc.estimator"
    assert manifest["format_version"] == saving.FORMAT_VERSION
    assert manifest["class"].endswith(f":{name}")
    assert manifest["params"]["n_clusters"] == 3

    loaded = kdc.load(path)
    assert type(loaded) is type(est)
    assert loaded.get_params() == est.get_params()
    x_new = make_blobs(n_samples=60, seed=1)[0]
    np.testing.assert_array_equal(loaded.predict(x_new), est.predict(x_new))
    np.testing.assert_array_equal(loaded.predict_proba(x_new), est.predict_proba(x_new))
    np.testing.assert_array_equal(loaded.transform(x_new), est.transform(x_new))
    np.testing.assert_array_equal(loaded.labels_, est.labels_)
    assert loaded.encoder_ is loaded.autoencoder_.encoder
    assert json.dumps(loaded.history_) == json.dumps(est.history_)  # NaN-safe equality


@pytest.mark.parametrize("name", ["AEKMeans", "DEC"])
def test_pickle_round_trip_keeps_predictions_and_links(fitted, name):
    est = fitted[name]
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert again.encoder_ is again.autoencoder_.encoder
    if name == "DEC":
        # The self-training model wraps the encoder itself in float32, a copy under a
        # mixed policy ("auto": bf16 on CPUs that have it), with the same weights.
        shared = again.model_.encoder is again.autoencoder_.encoder
        assert shared == (resolve_precision(again.precision, cpu_bf16=True) == "float32")
        for a, b in zip(again.model_.encoder.get_weights(), again.autoencoder_.encoder.get_weights()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(again.model_.cluster_centers, est.cluster_centers_)


@pytest.mark.parametrize("name", ["AEKMeans", "DEC"])
def test_loaded_estimator_keeps_training_with_warm_start(fitted, name, tmp_path):
    est = fitted[name]
    loaded = kdc.load(est.save(tmp_path / "m"))
    before = [w.copy() for w in loaded.autoencoder_.get_weights()]
    loaded.set_params(warm_start=True, pretrain_epochs=2)
    loaded.fit(X)
    assert len(loaded.history_["pretrain"]["loss"]) == 2
    # It continued from the trained autoencoder: its loss starts below a fresh start's.
    assert loaded.history_["pretrain"]["loss"][0] < est.history_["pretrain"]["loss"][0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, loaded.autoencoder_.get_weights()))
    assert loaded.labels_.shape == (X.shape[0],)
    if name == "DEC":  # continued from the saved centres, no new k-means
        assert "kmeans" not in loaded.timings_


def test_warm_start_with_auto_epochs_skips_pretraining(fitted, tmp_path):
    loaded = kdc.load(fitted["AEKMeans"].save(tmp_path / "m"))
    weights = loaded.autoencoder_.get_weights()
    loaded.set_params(warm_start=True, pretrain_epochs="auto").fit(X)
    assert loaded.history_["pretrain"]["loss"] == []
    for a, b in zip(weights, loaded.autoencoder_.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_warm_start_rejects_other_features(fitted):
    est = pickle.loads(pickle.dumps(fitted["AEKMeans"])).set_params(warm_start=True)
    with pytest.raises(ValueError, match="x must have the 20 features"):
        est.fit(np.zeros((10, 7), "float32"))


def test_save_refuses_to_overwrite_without_overwrite(fitted, tmp_path):
    path = fitted["AEKMeans"].save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fitted["N2D"].save(path)
    assert type(kdc.load(path)) is kdc.AEKMeans
    fitted["N2D"].save(path, overwrite=True)
    assert type(kdc.load(path)) is kdc.N2D
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folders left


def test_save_never_replaces_a_folder_kdc_did_not_write(fitted, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="does not hold a kdc model"):
        fitted["AEKMeans"].save(folder, overwrite=True)
    assert (folder / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="existing file"):
        fitted["AEKMeans"].save(tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert kdc.load(fitted["AEKMeans"].save(empty)).n_clusters == 3


class _Unpicklable(KMeans):
    """A clusterer that cannot be pickled (it holds a lambda after fit)."""

    def fit(self, x, y=None, sample_weight=None):
        super().fit(x, y, sample_weight)
        self.hook_ = lambda v: v
        return self


def test_failed_save_leaves_the_earlier_save_intact(fitted, tmp_path):
    path = fitted["AEKMeans"].save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    est = kdc.N2D(3, clusterer=_Unpicklable(3, n_init=1), n_neighbors=5, random_state=0,
                  **TINY).fit(X)
    with pytest.raises(Exception, match="clusterer_ .*cannot be pickled.*unchanged"):
        est.save(path, overwrite=True)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    np.testing.assert_array_equal(kdc.load(path).predict(X), fitted["AEKMeans"].predict(X))


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_interrupted_save_leaves_the_earlier_save_intact(fitted, tmp_path, monkeypatch, error):
    path = fitted["AEKMeans"].save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def broken_dump(*args, **kwargs):
        raise error

    monkeypatch.setattr(joblib, "dump", broken_dump)
    with pytest.raises(type(error)):
        fitted["DEC"].save(path, overwrite=True)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_load_errors_are_clear(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        kdc.load(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ModelFormatError, match="not a kdc model: it has no kdc_model.json"):
        kdc.load(tmp_path / "plain")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ModelFormatError, match="is a file"):
        kdc.load(tmp_path / "afile")

    path = fitted["AEKMeans"].save(tmp_path / "m")
    manifest_file = path / "kdc_model.json"
    good = manifest_file.read_text()

    manifest_file.write_text(good.replace('"format_version": 2', '"format_version": 99'))
    with pytest.raises(ModelFormatError, match="format version 99.*Upgrade kdc"):
        kdc.load(path)
    manifest_file.write_text(good.replace('"kdc.estimator"', '"something.else"'))
    with pytest.raises(ModelFormatError, match="not a kdc model"):
        kdc.load(path)
    manifest_file.write_text("{not json")
    with pytest.raises(ModelFormatError, match="corrupt.*not valid JSON"):
        kdc.load(path)
    manifest_file.write_text(good)

    state = path / "state.joblib"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="corrupt: state.joblib does not match"):
        kdc.load(path)
    state.unlink()
    with pytest.raises(ModelFormatError, match="incomplete: state.joblib is missing"):
        kdc.load(path)


def test_keras_arguments_are_saved_through_keras(tmp_path):
    ae = kdc.models.DenseAutoencoder(20, hidden_dims=(16,), embedding_dim=3)
    ae(np.zeros((1, 20), "float32"))
    est = kdc.AEKMeans(3, autoencoder=ae, optimizer=keras.optimizers.Adam(0.01),
                       callbacks=[keras.callbacks.TerminateOnNaN()], pretrain_epochs=1,
                       random_state=0, verbose=0).fit(X)
    with pytest.warns(UserWarning, match="callbacks are not saved"):
        path = est.save(tmp_path / "m")
    assert (path / "autoencoder_param.keras").is_file()
    loaded = kdc.load(path)
    assert isinstance(loaded.autoencoder, kdc.models.DenseAutoencoder)
    np.testing.assert_array_equal(loaded.autoencoder.get_weights()[0], ae.get_weights()[0])
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert loaded.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_save_needs_a_fitted_kdc_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        kdc.AEKMeans(3).save(tmp_path / "m")
    with pytest.raises(TypeError, match="must be a kdc estimator"):
        saving.save(KMeans(3), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_load_imports_nothing_named_in_the_folder(fitted, tmp_path, monkeypatch):
    path = fitted["AEKMeans"].save(tmp_path / "m")
    (path / "payload.py").write_text("import pathlib\npathlib.Path('ran').write_text('x')\n")
    monkeypatch.chdir(path)
    monkeypatch.syspath_prepend(str(path))
    manifest_file = path / "kdc_model.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["class"] = "payload:AEKMeans"
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match=r"class 'payload:AEKMeans', which is not a kdc "
                                               r"estimator known here.*imports nothing"):
        kdc.load(path)
    assert not (path / "ran").exists()
    import sys

    assert "payload" not in sys.modules


def test_saved_state_separates_parameters_from_fitted_state(fitted, tmp_path):
    est = fitted["N2D"]
    path = est.save(tmp_path / "m")
    state = joblib.load(path / "state.joblib")
    assert set(state) == {"params", "fitted"}
    assert set(state["params"]) == set(est.get_params(deep=False))
    assert state["params"]["unshifted_end"] == 0.2 and "labels_" in state["fitted"]
    assert "encoder_" not in state["fitted"] and "autoencoder_" not in state["fitted"]
    assert est.get_fitted_state().keys() >= {"labels_", "model_input_shape_", "training_plan_"}


@pytest.mark.parametrize("name", ["AEKMeans", "N2D"])
def test_models_saved_in_format_1_still_load(fitted, name, tmp_path):
    """Format 1 (kdc at feed824): one flat joblib dict, ``_model_input_shape``, no new params."""
    est = fitted[name]
    path = est.save(tmp_path / "m")
    state = joblib.load(path / "state.joblib")
    flat = {**state["params"], **state["fitted"]}
    flat["_model_input_shape"] = flat.pop("model_input_shape_")
    for new in ("pretrain_budget", "unshifted_end", "lr_decay_end", "jit_compile",
                "steps_per_execution", "pin_threads"):
        flat.pop(new)
    flat.pop("training_plan_")
    joblib.dump(flat, path / "state.joblib")
    manifest = json.loads((path / "kdc_model.json").read_text())
    manifest["format_version"] = 1
    manifest["files"]["state.joblib"] = saving._sha256(path / "state.joblib")
    (path / "kdc_model.json").write_text(json.dumps(manifest))
    loaded = kdc.load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.model_input_shape_ == est.model_input_shape_
    defaults = type(est)().get_params()  # parameters added since: the class defaults
    assert all(loaded.get_params()[k] == defaults[k] for k in ("pretrain_budget", "unshifted_end"))
