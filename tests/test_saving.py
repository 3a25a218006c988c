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
from kdc.saving import ModelFormatError, UnsafeModelError
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
    files = {"arrays.npz", "autoencoder.keras", "kdc_model.json", "state.json"}
    files |= {"AEKMeans": {"kmeans.skops"},
              "N2D": {"clusterer.skops", "objects.joblib"}}.get(name, set())
    assert {p.name for p in path.iterdir()} == files
    manifest = json.loads((path / "kdc_model.json").read_text())
    assert manifest["safe"] is True
    # Only the fitted UMAP object (N2D predicts without it) is pickled.
    assert [info["path"] for info in manifest["objects"].values()] == (
        ["fitted.manifold_"] if name == "N2D" else [])
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

    monkeypatch.setattr(np, "savez", broken_dump)
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

    manifest_file.write_text(good.replace('"format_version": 3', '"format_version": 99'))
    with pytest.raises(ModelFormatError, match="format version 99.*Upgrade kdc"):
        kdc.load(path)
    manifest_file.write_text(good.replace('"kdc.estimator"', '"something.else"'))
    with pytest.raises(ModelFormatError, match="not a kdc model"):
        kdc.load(path)
    manifest_file.write_text("{not json")
    with pytest.raises(ModelFormatError, match="corrupt.*not valid JSON"):
        kdc.load(path)
    manifest_file.write_text(good)

    state = path / "state.json"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="corrupt: state.json does not match"):
        kdc.load(path)
    state.unlink()
    with pytest.raises(ModelFormatError, match="incomplete: state.json is missing"):
        kdc.load(path)


def test_keras_arguments_are_saved_through_keras(tmp_path):
    ae = kdc.models.DenseAutoencoder(20, hidden_dims=(16,), embedding_dim=3)
    ae(np.zeros((1, 20), "float32"))
    est = kdc.AEKMeans(3, autoencoder=ae, optimizer=keras.optimizers.Adam(0.01),
                       callbacks=[keras.callbacks.TerminateOnNaN()], pretrain_epochs=1,
                       random_state=0, verbose=0).fit(X)
    with pytest.warns(UserWarning, match="callbacks are not saved"):
        path = est.save(tmp_path / "m")
    assert (path / "params.autoencoder.keras").is_file()
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
    state = json.loads((path / "state.json").read_text())
    assert set(state) == {"params", "fitted"}
    assert set(state["params"]) == set(est.get_params(deep=False))
    assert state["params"]["unshifted_end"] == 0.2 and "labels_" in state["fitted"]
    assert "encoder_" not in state["fitted"]
    assert est.get_fitted_state().keys() >= {"labels_", "model_input_shape_", "training_plan_"}


def _write_legacy(est, path, version):
    """A folder as kdc wrote it before format 3: the state pickled in state.joblib
    (format 1: one flat dict with ``_model_input_shape`` and without the parameters
    added since), the fitted autoencoder in autoencoder.keras."""
    path.mkdir()
    params = est.get_params(deep=False)
    fitted = {k: v for k, v in vars(est).items()
              if k not in params and k not in ("encoder_", "autoencoder_", "placement_")}
    est.autoencoder_.save(path / "autoencoder.keras")
    state = {"params": params, "fitted": fitted}
    if version == 1:
        state = {**params, **fitted}
        state["_model_input_shape"] = state.pop("model_input_shape_")
        for new in ("pretrain_budget", "unshifted_end", "lr_decay_end", "jit_compile",
                    "steps_per_execution", "pin_threads", "training_plan_"):
            state.pop(new)
    joblib.dump(state, path / "state.joblib")
    files = ("autoencoder.keras", "state.joblib")
    manifest = {"format": "kdc.estimator", "format_version": version,
                "class": f"{type(est).__module__}:{type(est).__qualname__}",
                "keras_files": {"autoencoder_": "autoencoder.keras"},
                "files": {f: saving._sha256(path / f) for f in files},
                "versions": {"kdc": "0.1.0"}}
    (path / "kdc_model.json").write_text(json.dumps(manifest))
    return path


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("name", ["AEKMeans", "N2D"])
def test_pickle_formats_load_only_with_safe_mode_off(fitted, name, version, tmp_path):
    est = fitted[name]
    path = _write_legacy(est, tmp_path / "m", version)
    with pytest.raises(UnsafeModelError, match=rf"format {version}.*pickle.*safe_mode=False"
                                               r".*--no-safe-mode.*save it again"):
        kdc.load(path)
    loaded = kdc.load(path, safe_mode=False)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.model_input_shape_ == est.model_input_shape_
    if version == 1:  # parameters added since: the class defaults
        defaults = type(est)().get_params()
        assert all(loaded.get_params()[k] == defaults[k]
                   for k in ("pretrain_budget", "unshifted_end"))
    # Saved again, it is in the safe format and loads by default.
    again = kdc.load(loaded.save(tmp_path / "again"))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


class _Payload:
    """An object whose unpickling leaves a mark (as an attacker's would run code)."""

    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (_leave_mark, (self.mark,))


def _leave_mark(mark):
    import pathlib

    pathlib.Path(mark).write_text("ran")
    return _Payload(mark)


def test_objects_only_pickle_stores_need_safe_mode_off(fitted, tmp_path):
    from sklearn.decomposition import PCA

    mark = tmp_path / "mark"
    est = kdc.N2D(3, manifold=PCA(2), n_neighbors=5, random_state=0, **TINY).fit(X)
    est.user_note_ = _Payload(str(mark))  # a fitted attribute of the user's own class
    path = est.save(tmp_path / "m")
    mark.unlink(missing_ok=True)
    manifest = json.loads((path / "kdc_model.json").read_text())
    assert manifest["safe"] is False
    with pytest.raises(UnsafeModelError, match=r"user_note_ \(tests.*_Payload\).*"
                                               r"safe_mode=False"):
        kdc.load(path)
    assert not mark.exists()
    loaded = kdc.load(path, safe_mode=False)
    assert mark.exists() and isinstance(loaded.user_note_, _Payload)
    # The PCA manifold and the mixture are scikit-learn objects: stored without pickle.
    assert isinstance(loaded.manifold_, PCA) and loaded.placement_ is None
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_safe_load_of_n2d_leaves_out_the_umap_object_only(fitted, tmp_path):
    est = fitted["N2D"]
    path = est.save(tmp_path / "m")
    safe = kdc.load(path)
    assert safe.manifold_ is None and safe.placement_ is not None
    x_new = make_blobs(n_samples=60, seed=1)[0]
    np.testing.assert_array_equal(safe.predict(x_new), est.predict(x_new))
    full = kdc.load(path, safe_mode=False)
    assert type(full.manifold_).__name__ == "UMAP"
    np.testing.assert_array_equal(full.predict(x_new), est.predict(x_new))


def test_tampered_files_run_no_code(fitted, tmp_path):
    """Whoever rewrites the files can rewrite the checksums too: loading must still run nothing."""
    mark = tmp_path / "mark"
    path = fitted["AEKMeans"].save(tmp_path / "m")
    manifest_file = path / "kdc_model.json"
    manifest = json.loads(manifest_file.read_text())

    def rewrite(name, data):
        (path / name).write_bytes(data)
        manifest["files"][name] = saving._sha256(path / name)
        manifest_file.write_text(json.dumps(manifest))

    # An object array (np.save pickles it) in place of the arrays.
    good_arrays = (path / "arrays.npz").read_bytes()
    arrays = dict(np.load(path / "arrays.npz"))
    key = next(iter(arrays))
    arrays[key] = np.array([_Payload(str(mark))], dtype=object)
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    rewrite("arrays.npz", buffer.getvalue())
    with pytest.raises(ModelFormatError, match="could not be read.*pickle"):
        kdc.load(path)
    assert not mark.exists()
    # A skops file holding a type skops does not trust.
    import skops.io

    rewrite("arrays.npz", good_arrays)
    rewrite("kmeans.skops", skops.io.dumps(_Payload(str(mark))))
    mark.unlink(missing_ok=True)
    with pytest.raises(ModelFormatError, match="could not be read.*[Uu]ntrusted"):
        kdc.load(path)
    assert not mark.exists()
    # A pickle named in the manifest as a needed object.
    joblib.dump({"x": _Payload(str(mark))}, path / "objects.joblib")
    mark.unlink(missing_ok=True)
    manifest["objects"] = {"x": {"path": "fitted.x", "type": "builtins.object",
                                 "optional": False}}
    rewrite("objects.joblib", (path / "objects.joblib").read_bytes())
    with pytest.raises(UnsafeModelError):
        kdc.load(path)
    assert not mark.exists()


def test_load_refuses_a_non_bool_safe_mode(fitted, tmp_path):
    path = fitted["AEKMeans"].save(tmp_path / "m")
    with pytest.raises(ValueError, match="safe_mode must be True or False. Received: "
                                         "safe_mode='no'"):
        kdc.load(path, safe_mode="no")


def test_auto_k_estimators_save_their_k_scan_as_plain_data(tmp_path):
    est = kdc.AEKMeans("auto", k_range=(2, 3, 4), random_state=0, **TINY).fit(X)
    path = est.save(tmp_path / "m")
    assert json.loads((path / "kdc_model.json").read_text())["safe"] is True
    loaded = kdc.load(path)
    assert loaded.k_selection_ == est.k_selection_  # the scan, labels aside
    assert sorted(loaded.k_selection_.labels) == sorted(est.k_selection_.labels)
    for k, labels in est.k_selection_.labels.items():
        np.testing.assert_array_equal(loaded.k_selection_.labels[k], labels)
