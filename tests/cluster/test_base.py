"""The scikit-learn contract of BaseDeepClusterer, exercised through AEKMeans."""

import contextlib
import io
import math

import keras
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from kdc import DEC, IDEC, N2D, AEKMeans
from kdc.models import ConvAutoencoder, DenseAutoencoder
from tests.conftest import TINY, make_blobs

# Fits that do not need a trained network skip pretraining: they cost a fraction of a second.
UNTRAINED = {**TINY, "pretrain_epochs": 0}


@pytest.fixture(scope="module")
def data():
    """Blobs clipped to [0, 1], so that scale="auto" leaves them unchanged."""
    x, y = make_blobs()
    return np.clip(x, 0.0, 1.0), y


@pytest.fixture(scope="module")
def fitted(data):
    """AEKMeans trained for TINY's 3 epochs with verbose=0; ``printed_`` is its stdout."""
    x, _ = data
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        est = AEKMeans(3, n_init=3, random_state=0, **TINY).fit(x)
    est.printed_ = out.getvalue()
    return est


@pytest.fixture(scope="module")
def images(digits):
    """300 of scikit-learn's 8x8 digits as images of shape (300, 8, 8) in [0, 1]."""
    x, _ = digits
    return x[:300].reshape(-1, 8, 8)


# ---------------------------------------------------------------- fitted state
def test_fit_returns_self(data):
    est = AEKMeans(3, n_init=1, **UNTRAINED)
    assert est.fit(data[0]) is est


def test_fitted_attributes(fitted, data):
    x, _ = data
    assert fitted.labels_.shape == (240,)
    assert np.issubdtype(fitted.labels_.dtype, np.integer)
    assert set(np.unique(fitted.labels_)) <= {0, 1, 2}
    assert fitted.n_features_in_ == 20
    assert fitted.input_shape_ == (20,)
    assert len(fitted.history_["pretrain"]["loss"]) == TINY["pretrain_epochs"]
    assert set(fitted.timings_) == {"pretrain", "embed", "head", "total"}
    assert all(isinstance(t, float) and t >= 0 for t in fitted.timings_.values())
    assert fitted.timings_["total"] >= fitted.timings_["pretrain"]
    assert fitted.encoder_ is fitted.autoencoder_.encoder
    assert isinstance(fitted.autoencoder_, DenseAutoencoder)
    assert fitted.autoencoder_.hidden_dims == TINY["hidden_dims"]


def test_fit_does_not_change_parameters(data):
    est = AEKMeans(3, n_init=1, **UNTRAINED)
    before = est.get_params()
    est.fit(data[0])
    after = est.get_params()
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)


def test_predict_on_training_data_equals_labels(fitted, data):
    pred = fitted.predict(data[0])
    assert pred.shape == (240,) and np.issubdtype(pred.dtype, np.integer)
    np.testing.assert_array_equal(pred, fitted.labels_)


def test_predict_proba(fitted, data):
    x, _ = data
    proba = fitted.predict_proba(x)
    assert proba.shape == (240, 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(proba.argmax(axis=1), fitted.predict(x))


def test_transform(fitted, data):
    x, _ = data
    z = fitted.transform(x)
    assert z.shape == (240, TINY["embedding_dim"])
    assert z.dtype == np.float32
    # The data are in [0, 1], so scale="auto" feeds them to the encoder unchanged.
    assert fitted.scale_ is None
    np.testing.assert_allclose(z, keras.ops.convert_to_numpy(fitted.encoder_(x)), rtol=1e-5,
                               atol=1e-6)


def test_methods_are_invariant_to_batching_and_order(fitted, data):
    x, _ = data
    order = np.random.default_rng(0).permutation(240)
    for method in ("predict", "predict_proba", "transform"):
        full = getattr(fitted, method)(x)
        parts = np.concatenate([getattr(fitted, method)(x[i:i + 7]) for i in range(0, 240, 7)])
        np.testing.assert_allclose(parts, full, rtol=1e-5, atol=1e-6, err_msg=method)
        np.testing.assert_allclose(getattr(fitted, method)(x[order]), full[order], rtol=1e-5,
                                   atol=1e-6, err_msg=method)
    # A single row and list input work as well.
    assert fitted.predict(x[:1]).shape == (1,)
    np.testing.assert_array_equal(fitted.predict(x[:5].tolist()), fitted.labels_[:5])


def test_fit_predict_matches_fit(data):
    x, _ = data
    labels = AEKMeans(3, n_init=1, random_state=1, **UNTRAINED).fit_predict(x)
    est = AEKMeans(3, n_init=1, random_state=1, **UNTRAINED).fit(x)
    assert labels.shape == (240,)
    np.testing.assert_array_equal(labels, est.labels_)


def test_score_is_negative_reconstruction_error(fitted, data):
    x, _ = data
    score = fitted.score(x)
    rec = keras.ops.convert_to_numpy(fitted.autoencoder_(x))
    assert isinstance(score, float) and score < 0
    np.testing.assert_allclose(score, -np.mean((rec - x) ** 2), rtol=1e-4)


def test_one_feature_and_two_samples_work():
    x = np.array([[0.0], [0.1], [0.9], [1.0]], dtype="float32")
    est = AEKMeans(2, n_init=1, random_state=0, **UNTRAINED).fit(x)
    assert est.n_features_in_ == 1
    assert len(set(est.labels_)) == 2
    est = AEKMeans(2, n_init=1, random_state=0, **UNTRAINED).fit(x[:2])
    assert sorted(est.labels_) == [0, 1]


# ------------------------------------------------------------- reproducibility
def test_same_random_state_gives_identical_results(fitted, data):
    x, _ = data
    again = AEKMeans(3, n_init=3, random_state=0, **TINY).fit(x)
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.transform(x), fitted.transform(x))
    assert again.history_["pretrain"]["loss"] == fitted.history_["pretrain"]["loss"]


def test_different_random_state_gives_different_networks(fitted, data):
    x, _ = data
    other = AEKMeans(3, n_init=1, random_state=1, **UNTRAINED).fit(x)
    same = AEKMeans(3, n_init=1, random_state=0, **UNTRAINED).fit(x)
    assert not np.allclose(other.transform(x), same.transform(x))


# ---------------------------------------------------------------------- images
def test_images_are_flattened_for_dense(images):
    est = AEKMeans(4, n_init=1, random_state=0, **UNTRAINED).fit(images)
    assert est.input_shape_ == (8, 8)
    assert est.n_features_in_ == 64
    assert est.autoencoder_.input_dim == 64
    assert est.transform(images).shape == (300, TINY["embedding_dim"])
    # Flat rows with the same number of values are accepted too.
    np.testing.assert_array_equal(est.predict(images.reshape(300, 64)), est.labels_)


@pytest.mark.parametrize("flat", [False, True])
def test_conv_autoencoder_on_images(images, flat):
    x = images.reshape(300, 64) if flat else images
    est = AEKMeans(4, n_init=1, random_state=0, autoencoder="conv",
                   autoencoder_params={"filters": (4, 8), "kernel_size": 3},
                   **{**TINY, "pretrain_epochs": 1 if not flat else 0})
    est.fit(x)
    assert isinstance(est.autoencoder_, ConvAutoencoder)
    assert est.autoencoder_.image_shape == (8, 8, 1)  # flat rows of 64 are 8x8 images
    assert est.encoder_.input_shape == (None, 8, 8, 1)
    assert est.transform(x).shape == (300, TINY["embedding_dim"])
    np.testing.assert_array_equal(est.predict(x), est.labels_)
    assert len(est.history_["pretrain"]["loss"]) == (0 if flat else 1)


def test_conv_autoencoder_needs_images(data):
    with pytest.raises(ValueError, match=r"autoencoder='conv' needs images.*Received samples "
                                         r"of shape \(20,\)"):
        AEKMeans(3, autoencoder="conv", **UNTRAINED).fit(data[0])


def test_uint8_input_is_scaled_by_1_over_255(images):
    x8 = np.round(images * 255).astype(np.uint8)
    est = AEKMeans(4, n_init=1, random_state=0, **UNTRAINED).fit(x8)
    assert est.scale_ is None  # after /255 the data are in [0, 1]: "auto" leaves them alone
    as_float = x8.astype("float32") / 255
    np.testing.assert_array_equal(est.predict(as_float), est.labels_)
    np.testing.assert_allclose(est.transform(as_float), est.transform(x8), rtol=1e-6)
    # The same fit on the float data gives the same result.
    other = AEKMeans(4, n_init=1, random_state=0, **UNTRAINED).fit(as_float)
    np.testing.assert_array_equal(other.labels_, est.labels_)


# --------------------------------------------------------------------- scaling
def pendigits_like(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 101, size=(n, 16)).astype("float64")


def test_scale_auto_leaves_unit_interval_data_alone(data):
    est = AEKMeans(3, n_init=1, scale="auto", **UNTRAINED).fit(data[0])
    assert est.scale_ is None and est.offset_ is None


def test_scale_auto_min_max_scales_other_data():
    x = pendigits_like()
    lo, hi = x.min(), x.max()
    est = AEKMeans(3, n_init=1, scale="auto", random_state=0, **UNTRAINED).fit(x)
    np.testing.assert_allclose(x * est.scale_ + est.offset_, (x - lo) / (hi - lo), atol=1e-6)
    # The encoder sees exactly the scaled data, in fit and in transform.
    ref = AEKMeans(3, n_init=1, scale="none", random_state=0, **UNTRAINED).fit(
        (x - lo) / (hi - lo))
    np.testing.assert_allclose(est.transform(x), ref.transform((x - lo) / (hi - lo)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(est.labels_, ref.labels_)


def test_scale_minmax_scales_even_unit_interval_data(data):
    x = data[0]
    est = AEKMeans(3, n_init=1, scale="minmax", **UNTRAINED).fit(x)
    scaled = x * est.scale_ + est.offset_
    np.testing.assert_allclose([scaled.min(), scaled.max()], [0.0, 1.0], atol=1e-6)


def test_scale_standard_standardises_each_feature():
    x = pendigits_like() * np.linspace(0.1, 3, 16)
    est = AEKMeans(3, n_init=1, scale="standard", **UNTRAINED).fit(x)
    scaled = x * est.scale_ + est.offset_
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0, rtol=1e-5)


def test_scale_standard_keeps_constant_features_finite():
    x = pendigits_like()
    x[:, 3] = 7.0
    est = AEKMeans(3, n_init=1, scale="standard", **UNTRAINED).fit(x)
    assert np.isfinite(est.transform(x)).all()
    np.testing.assert_allclose((x * est.scale_ + est.offset_)[:, 3], 0.0, atol=1e-6)


def test_scale_none_leaves_data_alone():
    x = pendigits_like()
    est = AEKMeans(3, n_init=1, scale="none", **UNTRAINED).fit(x)
    assert est.scale_ is None
    np.testing.assert_allclose(est.transform(x),
                               keras.ops.convert_to_numpy(est.encoder_(x.astype("float32"))),
                               rtol=1e-5, atol=1e-4)


def test_scaling_learnt_in_fit_is_reused_in_predict():
    x = pendigits_like()
    est = AEKMeans(3, n_init=1, random_state=0, **UNTRAINED).fit(x)
    # New rows are scaled with the training minimum and maximum, not their own.
    z_one = est.transform(x[:1])
    np.testing.assert_allclose(z_one, est.transform(x)[:1], rtol=1e-5, atol=1e-6)


# --------------------------------------------------------- user's autoencoder
def blob_autoencoder():
    ae = DenseAutoencoder(20, hidden_dims=(16,), embedding_dim=4)
    ae(np.zeros((1, 20), dtype="float32"))
    return ae


def test_user_autoencoder_and_optimizer_are_copied_and_trained(data):
    x, _ = data
    ae = blob_autoencoder()
    before = [w.copy() for w in ae.get_weights()]
    opt = keras.optimizers.SGD(learning_rate=0.5, momentum=0.9)
    est = AEKMeans(3, n_init=1, autoencoder=ae, random_state=0, optimizer=opt,
                   learning_rate=0.002, **{**TINY, "pretrain_epochs": 2}).fit(x)
    used = est.autoencoder_.optimizer
    assert used is not opt and isinstance(used, keras.optimizers.SGD)
    assert float(keras.ops.convert_to_numpy(used.learning_rate)) == pytest.approx(0.002)
    assert used.momentum == 0.9
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.5)
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 0  # the caller's is unused

    assert est.autoencoder_ is not ae
    assert isinstance(est.autoencoder_, DenseAutoencoder)
    assert len(est.history_["pretrain"]["loss"]) == 2
    for w0, w1 in zip(before, ae.get_weights()):
        np.testing.assert_array_equal(w0, w1)  # the caller's model is untouched
    trained = est.autoencoder_.get_weights()
    assert any(not np.allclose(w0, w1) for w0, w1 in zip(before, trained))
    # The copy started from the caller's weights, not from a fresh initialisation.
    assert all(np.abs(w0 - w1).max() < 0.1 for w0, w1 in zip(before, trained))


def test_user_autoencoder_with_zero_epochs_keeps_its_weights(data):
    x, _ = data
    ae = blob_autoencoder()
    est = AEKMeans(3, n_init=1, autoencoder=ae, **UNTRAINED).fit(x)
    for w0, w1 in zip(ae.get_weights(), est.autoencoder_.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    np.testing.assert_allclose(est.transform(x), keras.ops.convert_to_numpy(ae.encoder(x)),
                               rtol=1e-5, atol=1e-6)


def test_user_functional_autoencoder_with_encoder_attributes(data):
    x, _ = data
    encoder = keras.Sequential([keras.Input((20,)), keras.layers.Dense(3)], name="enc")
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(20)], name="dec")
    inputs = keras.Input((20,))
    ae = keras.Model(inputs, decoder(encoder(inputs)))
    ae.encoder, ae.decoder = encoder, decoder
    est = AEKMeans(3, n_init=1, autoencoder=ae, **UNTRAINED).fit(x)
    assert est.encoder_ is not encoder
    np.testing.assert_allclose(est.transform(x), keras.ops.convert_to_numpy(encoder(x)),
                               rtol=1e-5, atol=1e-6)


def test_user_autoencoder_with_wrong_input_size(data):
    ae = DenseAutoencoder(7, hidden_dims=(4,), embedding_dim=2)
    with pytest.raises(ValueError, match=r"autoencoder must take samples with as many values "
                                         r"as x.*\(7,\).*Received: x with samples of shape "
                                         r"\(20,\)"):
        AEKMeans(3, autoencoder=ae, **UNTRAINED).fit(data[0])


def test_user_autoencoder_without_encoder(data):
    inputs = keras.Input((20,))
    model = keras.Model(inputs, keras.layers.Dense(20)(inputs))
    with pytest.raises(ValueError, match=r"autoencoder must be 'dense', 'denoising', 'conv' or "
                                         r"a keras.Model with `encoder` and `decoder`.*"
                                         r"Functional without a `encoder`"):
        AEKMeans(3, autoencoder=model, **UNTRAINED).fit(data[0])


def test_denoising_autoencoder_with_verbose_1_stage_lines(data, capsys):
    est = AEKMeans(3, n_init=1, autoencoder="denoising", random_state=0,
                   autoencoder_params={"noise": "masking", "noise_level": 0.3},
                   **{**TINY, "pretrain_epochs": 1, "verbose": 1}).fit(data[0])
    assert est.autoencoder_.noise == "masking" and est.autoencoder_.noise_level == 0.3
    assert est.autoencoder_.seed == 0  # the corruption is seeded by random_state
    np.testing.assert_array_equal(est.predict(data[0]), est.labels_)

    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("[kdc]")]
    assert lines[0] == "[kdc] AEKMeans: 240 samples, 20 features, 3 clusters"
    assert any(line.startswith("[kdc] pretraining DenoisingAutoencoder: 1 epochs x 8 steps of 32")
               for line in lines)
    assert any(line.startswith("[kdc] pretraining done in ") for line in lines)
    assert "[kdc] fitting the k-means (n_init=1) head" in lines
    assert lines[-1].startswith("[kdc] head done")
    # no Keras output per epoch: kdc's one bar per phase on a terminal, and in a log a line
    # every few seconds only (kdc.training.engine.PhaseProgress); this phase is shorter
    assert "Epoch" not in out and "loss:" not in out
    # predict/transform print nothing.
    est.predict(data[0][:3])
    assert capsys.readouterr().out == ""


def test_verbose_0_prints_nothing(fitted):
    assert fitted.verbose == 0
    assert fitted.printed_ == ""


# ------------------------------------------------------------------- bad input
BAD_X = {
    "nan": (np.where(np.eye(4, 3) > 0, np.nan, 0.5), r"x must not contain NaN or infinity.*NaN"),
    "inf": (np.where(np.eye(4, 3) > 0, np.inf, 0.5), r"x must not contain NaN or "
                                                      r"infinity.*infinity"),
    "empty": (np.empty((0, 3)), r"x must have at least 2 sample\(s\).*Received: x with 0 "
                                r"sample"),
    "one row": (np.ones((1, 3)), r"x must have at least 2 sample\(s\).*Received: x with 1 "
                                 r"sample"),
    "1-D": (np.arange(5.0), r"x must be a 2-D array.*Received: x=array of shape \(5,\)"),
    "strings": ([["a", "b"], ["c", "d"], ["e", "f"]], r"x must contain numbers.*dtype <U1"),
    "object strings": (np.array([[1, "a"], [2, "b"], [3, "c"]], dtype=object),
                       r"x must contain numbers.*dtype object"),
    "string": ("data.csv", r"x must be array-like of numbers.*Received: x='data.csv'"),
    "ragged": ([[1.0, 2.0], [3.0]], r"x must be array-like of numbers.*Could not convert"),
    "no features": (np.empty((5, 0)), r"x must have at least 1 feature.*shape=\(5, 0\)"),
}


@pytest.mark.parametrize("name", list(BAD_X))
def test_fit_rejects_bad_x(name):
    x, pattern = BAD_X[name]
    with pytest.raises(ValueError, match=pattern):
        AEKMeans(2, **UNTRAINED).fit(x)


@pytest.mark.parametrize("name", ["nan", "inf", "1-D", "strings", "ragged", "string"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score"])
def test_predict_rejects_bad_x(fitted, name, method):
    x, pattern = BAD_X[name]
    with pytest.raises(ValueError, match=pattern):
        getattr(fitted, method)(x)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score"])
def test_predict_rejects_wrong_number_of_features(fitted, data, method):
    x = data[0]
    with pytest.raises(ValueError, match=r"x must have the 20 features seen in fit.*Received: x "
                                         r"with samples of shape \(19,\).*X has 19 features, "
                                         r"but AEKMeans is expecting 20 features as input"):
        getattr(fitted, method)(x[:, :19])
    with pytest.raises(ValueError, match=r"Received: x with samples of shape \(4, 4\)"):
        getattr(fitted, method)(x.reshape(240, 4, 5)[:, :, :4])
    # Samples of another shape with the same number of values are another layout: refused.
    with pytest.raises(ValueError, match=r"x must have samples of the shape seen in fit, "
                                         r"\(20,\).*Received: x with samples of shape \(4, 5\)"):
        getattr(fitted, method)(x.reshape(240, 4, 5))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform", "score"])
def test_methods_before_fit_raise_not_fitted(data, method):
    with pytest.raises(NotFittedError, match=r"This AEKMeans instance is not fitted yet"):
        getattr(AEKMeans(3), method)(data[0])


AUTO = r"n_clusters must be an int >= 2 or 'auto' \(chosen by k_selection over k_range\)"


@pytest.mark.parametrize("n_clusters, pattern", [
    (1, AUTO + r"\. Received: n_clusters=1"),
    (0, AUTO + r"\. Received: n_clusters=0"),
    ("3", AUTO + r"\. Received: n_clusters='3'"),
    (2.5, AUTO + r"\. Received: n_clusters=2\.5"),
    (True, AUTO + r"\. Received: n_clusters=True"),
    (None, AUTO + r"\. Received: n_clusters=None"),
    (241, r"n_clusters must be <= n_samples=240.*Received: n_clusters=241"),
])
def test_fit_rejects_bad_n_clusters(data, n_clusters, pattern):
    with pytest.raises(ValueError, match=pattern):
        AEKMeans(n_clusters, **UNTRAINED).fit(data[0])


@pytest.mark.parametrize("params, pattern", [
    ({"pretrain_epochs": -1}, r"pretrain_epochs must be an int >= 0\. "
                              r"Received: pretrain_epochs=-1"),
    ({"pretrain_epochs": "lots"}, r"pretrain_epochs must be one of 'auto'\. "
                                  r"Received: pretrain_epochs='lots'"),
    ({"pretrain_epochs": 2.0}, r"pretrain_epochs must be an int >= 0\. "
                               r"Received: pretrain_epochs=2\.0"),
    ({"batch_size": 0}, r"batch_size must be an int >= 1\. Received: batch_size=0"),
    ({"learning_rate": 0}, r"learning_rate must be a finite number > 0\.0\. "
                           r"Received: learning_rate=0"),
    ({"learning_rate": "fast"}, r"learning_rate must be a finite number > 0\.0\. "
                                r"Received: learning_rate='fast'"),
    ({"autoencoder": "vae"}, r"autoencoder must be one of 'dense', 'denoising', 'conv' or a "
                             r"keras.Model.*Received: autoencoder='vae'"),
    ({"autoencoder": None}, r"autoencoder must be one of .*Received: autoencoder=None"),
    ({"scale": "zscore"}, r"scale must be one of 'auto', 'minmax', 'standard', 'none'\. "
                          r"Received: scale='zscore'"),
    ({"scale": None}, r"scale must be one of .*Received: scale=None"),
    ({"optimizer": "adamx"}, r"optimizer must be the name of a Keras optimizer.*"
                             r"Received: optimizer='adamx'"),
    ({"random_state": -1}, r"random_state must be an int >= 0 and <= 4294967295\. "
                           r"Received: random_state=-1"),
    ({"random_state": 1.5}, r"random_state must be an int .*Received: random_state=1\.5"),
    ({"hidden_dims": [0]}, r"hidden_dims must be a sequence of positive ints.*"
                           r"Received: hidden_dims=\[0\]"),
    ({"embedding_dim": 0}, r"embedding_dim must be an int >= 1\. Received: embedding_dim=0"),
    ({"n_init": 0}, r"n_init must be an int >= 1\. Received: n_init=0"),
    ({"autoencoder": "denoising", "autoencoder_params": {"noise": "salt"}},
     r"noise must be one of 'gaussian', 'masking'\. Received: noise='salt'"),
])
def test_fit_rejects_bad_parameters(data, params, pattern):
    est = AEKMeans(3, **{**UNTRAINED, **params})
    with pytest.raises(ValueError, match=pattern):
        est.fit(data[0])
    assert not hasattr(est, "labels_")


def test_random_state_accepts_random_state_instance(data):
    x, _ = data
    a = AEKMeans(3, n_init=1, random_state=np.random.RandomState(3), **UNTRAINED).fit(x)
    b = AEKMeans(3, n_init=1, random_state=np.random.RandomState(3), **UNTRAINED).fit(x)
    np.testing.assert_array_equal(a.transform(x), b.transform(x))


def test_largest_random_state_is_accepted(data):
    est = AEKMeans(3, n_init=1, random_state=2**32 - 1, **UNTRAINED).fit(data[0])
    assert est.labels_.shape == (240,)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "float32"])
def test_pretraining_precision_keeps_the_models_float32(data, precision):
    x, _ = data
    est = AEKMeans(3, n_init=2, random_state=0, precision=precision, **TINY).fit(x)
    assert keras.config.dtype_policy().name == "float32"
    assert {layer.dtype_policy.name for layer in est.autoencoder_.encoder.layers} == {"float32"}
    assert est.transform(x).dtype == np.float32
    losses = est.history_["pretrain"]["loss"]
    assert len(losses) == TINY["pretrain_epochs"] and np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]  # the trained weights reached the float32 model
    # The same seed gives the same network under a mixed policy too.
    again = AEKMeans(3, n_init=2, random_state=0, precision=precision, **TINY).fit(x)
    np.testing.assert_array_equal(again.transform(x), est.transform(x))


@pytest.mark.parametrize("autoencoder", ["dense", "conv"])
def test_mixed_precision_pretraining_keeps_a_callable_activation(data, autoencoder):
    # The mixed-policy copy of the autoencoder used to be rebuilt from its
    # config, where Keras cannot restore a plain function or a lambda: fit
    # failed under bf16 (and float16) only.
    x, _ = data
    x = x[:, :16] if autoencoder == "conv" else x  # 4x4 images for the conv model

    def leaky(t):
        return keras.ops.leaky_relu(t, 0.2)

    def fit(activation):
        return AEKMeans(3, n_init=1, random_state=0, precision="mixed_bfloat16",
                        autoencoder=autoencoder, autoencoder_params={"activation": activation},
                        **TINY).fit(x)

    function, lam = fit(leaky), fit(lambda t: keras.ops.leaky_relu(t, 0.2))
    assert function.autoencoder_.activation is leaky
    # Keras' own leaky_relu (negative slope 0.2) trains to the same network.
    named = fit("leaky_relu")
    assert named.history_["pretrain"]["loss"][-1] < named.history_["pretrain"]["loss"][0]
    for est in (function, lam):
        np.testing.assert_allclose(est.history_["pretrain"]["loss"],
                                   named.history_["pretrain"]["loss"], rtol=1e-5)
        np.testing.assert_allclose(est.transform(x), named.transform(x), rtol=1e-5, atol=1e-6)


def test_auto_precision_uses_bf16_only_where_asked_on_cpus_that_have_it(monkeypatch):
    from kdc.training import precision as _precision

    monkeypatch.setattr(_precision, "gpu_available", lambda: False)
    for native, expected in ((True, "mixed_bfloat16"), (False, "float32")):
        monkeypatch.setattr(_precision, "native_bf16_cpu", lambda native=native: native)
        assert _precision.resolve_precision("auto", cpu_bf16=True) == expected
        assert _precision.resolve_precision("auto") == "float32"
        # Pretraining: bf16 on enough rows only (small data pretrains better in float32).
        n = _precision.BF16_PRETRAIN_MIN_SAMPLES
        assert _precision.pretraining_precision("auto", n) == expected
        assert _precision.pretraining_precision("auto", n - 1) == "float32"
        assert _precision.pretraining_precision("float32", n) == "float32"
    monkeypatch.setattr(_precision, "gpu_available", lambda: True)
    for cpu_bf16 in (True, False):
        assert _precision.resolve_precision("auto", cpu_bf16=cpu_bf16) == "mixed_float16"
    assert _precision.pretraining_precision("auto", 10) == "mixed_float16"
    assert _precision.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


def test_invalid_precision_names_the_argument(data):
    with pytest.raises(ValueError, match="precision must be one of .*Received: precision='bf16'"):
        AEKMeans(3, precision="bf16", **TINY).fit(data[0])


def test_auto_pretraining_epochs_follow_the_sample_budget():
    from kdc.training.plan import AUTO_BUDGET_MIN_ROWS, resolve_epochs

    for cls in (AEKMeans, DEC, IDEC):
        assert cls().get_params()["pretrain_budget"] == 1_750_000
    assert N2D().get_params()["pretrain_budget"] == 2_520_000
    assert resolve_epochs("auto", 70_000, 1_750_000) == 25  # MNIST
    assert resolve_epochs("auto", 1_000_000, 1_750_000) == 10  # at least 10 epochs
    assert resolve_epochs(3, 70_000, 1_750_000) == 3
    # Under AUTO_BUDGET_MIN_ROWS rows, as many epochs as that many rows: 100 with the
    # budget of AEKMeans, DEC and IDEC on every smaller data set, as many as before
    assert AUTO_BUDGET_MIN_ROWS == 17_500
    for n in (150, 1_797, 10_000, 17_500):
        assert resolve_epochs("auto", n, 1_750_000) == 100
    for n in range(1, 400_000, 997):
        assert resolve_epochs("auto", n, 1_750_000) == min(max(math.ceil(1_750_000 / n), 10), 100)
    # N2D's larger budget: 36 epochs on MNIST, 144 on small data, the budget in between
    assert resolve_epochs("auto", 70_000, 2_520_000) == 36
    assert resolve_epochs("auto", 10_000, 2_520_000) == 144
    assert resolve_epochs("auto", 150, 2_520_000) == 144
    assert resolve_epochs("auto", 21_000, 2_520_000) == 120
    # a larger budget trains small data longer, in proportion
    assert resolve_epochs("auto", 1_000, 5_040_000) == 288
    with pytest.raises(ValueError, match="pretrain_epochs.*'many'"):
        resolve_epochs("many", 10, 1_750_000)
    with pytest.raises(ValueError, match="pretrain_budget.*0"):
        resolve_epochs("auto", 10, 0)


SHARED_TRAINING = ("pretrain_budget", "lr_decay_end", "unshifted_end", "jit_compile",
                   "steps_per_execution", "pin_threads", "optimizer", "learning_rate",
                   "batch_size", "augment", "precision")


def test_estimators_share_every_training_parameter_and_differ_only_in_defaults():
    params = {cls: cls().get_params() for cls in (AEKMeans, DEC, IDEC, N2D)}
    for cls, values in params.items():
        assert set(SHARED_TRAINING) <= set(values), cls
        assert not [a for a in vars(cls) if a.startswith("_auto") or a.endswith("_end")], cls
    n2d, aek = params[N2D], params[AEKMeans]
    assert (n2d["pretrain_budget"], n2d["unshifted_end"], n2d["lr_decay_end"]) == (
        2_520_000, 0.2, 0.3)
    assert (aek["pretrain_budget"], aek["unshifted_end"], aek["lr_decay_end"]) == (
        1_750_000, 0.0, 0.0)


def test_aekmeans_and_n2d_with_the_same_training_parameters_pretrain_identically():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 16, 16)).astype("float32")  # images: shifts apply
    shared = dict(TINY, pretrain_epochs="auto", pretrain_budget=64 * 10, unshifted_end=0.2,
                  lr_decay_end=0.3, random_state=0)
    n2d = N2D(3, n_neighbors=5, **shared).fit(x)
    aek = AEKMeans(3, n_init=1, **shared).fit(x)
    assert n2d.training_plan_["pretrain"] == aek.training_plan_["pretrain"]
    for a, b in zip(n2d.autoencoder_.get_weights(), aek.autoencoder_.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = AEKMeans(3, n_init=1, **{**shared, "unshifted_end": 0.0}).fit(x)
    assert not all(np.array_equal(a, b) for a, b in zip(
        other.autoencoder_.get_weights(), aek.autoencoder_.get_weights()))


@pytest.mark.parametrize("kwargs, match", [
    (dict(verbose="yes"), r"verbose must be an int >= 0.*verbose='yes'"),
    (dict(verbose=-1), r"verbose must be an int >= 0"),
    (dict(pretrain_budget=0), r"pretrain_budget.*0"),
    (dict(unshifted_end=1.5), r"unshifted_end.*1.5"),
    (dict(lr_decay_end=-0.1), r"lr_decay_end.*-0.1"),
    (dict(jit_compile="always"), r"jit_compile must be True, False or 'auto'"),
    (dict(steps_per_execution=0), r"steps_per_execution.*0"),
    (dict(pin_threads="yes"), r"pin_threads must be True or False"),
])
def test_training_parameters_are_checked_when_fit_starts(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        AEKMeans(3, **{**TINY, **kwargs}).fit(data[0])


def test_verbose_prints_the_training_plan_in_one_line(data, capsys):
    est = AEKMeans(3, **{**TINY, "verbose": 1}).fit(data[0])
    lines = [line for line in capsys.readouterr().out.splitlines() if "steps/call" in line]
    assert len(lines) == 1 and "float32" in lines[0] and "data: array" in lines[0]
    assert est.training_plan_["pretrain"]["epochs"] == TINY["pretrain_epochs"]


@pytest.mark.parametrize("cls, kwargs, match", [
    (AEKMeans, dict(learning_rate=1e9, pretrain_epochs=5),
     r"pretraining diverged: its loss was (nan|inf) in epoch 1 of 5\. Lower the learning rate\. "
     r"Received: learning_rate=1e\+09"),
    (IDEC, dict(pretrain_epochs=0, clustering_optimizer="sgd", clustering_learning_rate=1e9,
                max_iter=50, update_interval=5),
     r"self-training diverged: its loss was (nan|inf) in epoch \d+ of \d+.*"
     r"clustering_learning_rate=1e\+09"),
])
def test_divergence_stops_training_at_once(data, cls, kwargs, match):
    epochs = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(epoch))
    with pytest.raises(ValueError, match=match):
        cls(3, **{**TINY, "callbacks": [record], **kwargs}).fit(data[0])
    if cls is AEKMeans:
        assert epochs == [0]  # stopped in the epoch that diverged, not after the last one


def test_images_of_another_shape_with_the_same_pixel_count_are_refused():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 8, 6)).astype("float32")
    est = AEKMeans(3, n_init=1, **TINY).fit(x)
    labels = est.predict(x)
    np.testing.assert_array_equal(est.predict(x.reshape(40, -1)), labels)  # flat rows
    np.testing.assert_array_equal(est.predict(x[..., None]), labels)  # a channel axis of 1
    with pytest.raises(ValueError, match=r"x must have samples of the shape seen in fit, "
                                         r"\(8, 6\).*Received: x with samples of shape \(6, 8\)"):
        est.predict(x.reshape(40, 6, 8))
    with pytest.raises(ValueError, match=r"shape \(2, 24\)"):
        est.transform(x.reshape(40, 2, 24))
