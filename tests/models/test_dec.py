import keras
import numpy as np
import pytest

from kdc.callbacks import TargetDistributionUpdate
from kdc.losses import kl_divergence
from kdc.models.autoencoder import DenseAutoencoder
from kdc.models.dec import DEC, IDEC


def make_data(n_per_blob=32, n_features=6, seed=0):
    """Three Gaussian blobs, sorted by blob."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (3, n_features))
    x = np.concatenate([rng.normal(c, 0.5, (n_per_blob, n_features)) for c in centres])
    return x.astype("float32"), np.repeat(np.arange(3), n_per_blob)


def make_ae(n_features=6, seed=0):
    keras.utils.set_random_seed(seed)
    return DenseAutoencoder(n_features, hidden_dims=(16,), embedding_dim=3)


def kl_from_model(model, x, p):
    return float(kl_divergence(p, model.predict(x, verbose=0)))


@pytest.fixture
def policy():
    yield keras.mixed_precision.set_dtype_policy
    keras.mixed_precision.set_dtype_policy("float32")


def test_dec_outputs_float32_q_rows_sum_to_one():
    x, _ = make_data()
    model = DEC(make_ae().encoder, n_clusters=3)
    q = model.predict(x, verbose=0)
    assert q.shape == (len(x), 3) and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-6)
    assert model.clustering.centers.shape == (3, 3)


def test_initialize_clusters_uses_kmeans_on_embedding():
    from sklearn.cluster import KMeans

    x, y = make_data()
    model = DEC(make_ae().encoder, n_clusters=3)
    labels = model.initialize_clusters(x, n_init=3, random_state=0)
    reference = KMeans(3, n_init=3, random_state=0).fit(model.embed(x))
    np.testing.assert_array_equal(labels, reference.labels_)
    np.testing.assert_allclose(model.cluster_centers, reference.cluster_centers_, rtol=1e-5,
                               atol=1e-6)
    # With k-means centres the hard labels agree with k-means on nearly all points.
    assert np.mean(model.predict_labels(x) == labels) > 0.9
    with pytest.raises(ValueError, match=r"n_init must be an int >= 1\. Received: n_init=0"):
        model.initialize_clusters(x, n_init=0)


def test_training_steps_on_fixed_target_decrease_kl():
    x, _ = make_data()
    model = DEC(make_ae().encoder, n_clusters=3)
    model.initialize_clusters(x, n_init=3, random_state=0)
    p = model.target_distribution(x)
    before = kl_from_model(model, x, p)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    logs = [model.train_on_batch(x, p, return_dict=True)["loss"] for _ in range(5)]
    after = kl_from_model(model, x, p)
    # The first reported loss is KL(P || Q) before the step.
    np.testing.assert_allclose(logs[0], before, rtol=1e-4)
    assert after < before
    assert logs[-1] < logs[0]


def test_integer_indices_gather_the_stored_target():
    x, _ = make_data()
    model = DEC(make_ae().encoder, n_clusters=3)
    p = model.target_distribution(x)
    model.set_target(p)
    assert model.target.dtype == "float32" and tuple(model.target.shape) == p.shape
    assert not model.target.trainable
    idx = np.array([5, 90, 0, 47])
    q = model(x[idx])
    by_index = model.compute_loss(x[idx], idx, q)
    direct = model.compute_loss(x[idx], p[idx], q)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(by_index),
                               keras.ops.convert_to_numpy(direct), rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(by_index),
                               kl_divergence(p[idx], keras.ops.convert_to_numpy(q)), rtol=1e-5)
    # fit with shuffled indices trains against the rows of the stored P.
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    history = model.fit(x, np.arange(len(x)), batch_size=16, epochs=1, shuffle=True, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], kl_from_model(model, x, p),
                               rtol=1e-4)
    # A new data set size re-creates the target and the compiled step.
    model.set_target(p[:50])
    assert tuple(model.target.shape) == (50, 3)
    history = model.fit(x[:50], np.arange(50), batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0],
                               kl_from_model(model, x[:50], p[:50]), rtol=1e-4)


def test_missing_or_bad_target_is_a_clear_error():
    x, _ = make_data()
    model = DEC(make_ae().encoder, n_clusters=3)
    model.compile()
    with pytest.raises(ValueError, match="DEC needs the target distribution P as y"):
        model.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="no target distribution is stored"):
        model.fit(x, np.arange(len(x)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"y must be .* Received: y of shape \(\d+, 2\)"):
        model.fit(x, np.ones((len(x), 2), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"p must have shape \(n_samples, n_clusters=3\)\. "
                                         r"Received: p of shape \(5, 2\)"):
        model.set_target(np.ones((5, 2)))
    with pytest.raises(ValueError, match="DEC computes its own loss.*Received: loss='mse'"):
        model.compile(loss="mse")


@pytest.mark.parametrize("gamma", [0.1, 0.0])
def test_idec_loss_is_reconstruction_plus_gamma_times_kl(gamma):
    x, _ = make_data()
    model = IDEC(make_ae(), n_clusters=3, gamma=gamma)
    model.initialize_clusters(x, n_init=3, random_state=0)
    p = model.target_distribution(x)
    q = model.predict(x, verbose=0)
    reconstruction = float(np.mean((x - model.reconstruct(x)) ** 2))
    clustering = float(kl_divergence(p, q))
    assert clustering > 1e-3 and reconstruction > 1e-3
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    logs = model.train_on_batch(x, p, return_dict=True)  # one batch; losses before the step
    np.testing.assert_allclose(logs["loss"], reconstruction + gamma * clustering, rtol=1e-5)
    np.testing.assert_allclose(logs["reconstruction_loss"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(logs["clustering_loss"], clustering, rtol=1e-5)
    # The swapped weighting (gamma on the reconstruction) would be a different number.
    assert abs(logs["loss"] - (gamma * reconstruction + clustering)) > 1e-3
    if gamma == 0.0:
        np.testing.assert_allclose(logs["loss"], reconstruction, rtol=1e-6)
    assert model.metrics_names == ["loss", "reconstruction_loss", "clustering_loss"]


@pytest.mark.parametrize("name, cls", [("mixed_float16", DEC), ("mixed_float16", IDEC),
                                       ("mixed_bfloat16", IDEC)])
def test_mixed_precision_training_is_finite(policy, name, cls):
    policy(name)
    x, _ = make_data()
    ae = make_ae()
    model = DEC(ae.encoder, n_clusters=3) if cls is DEC else IDEC(ae, n_clusters=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (
        name == "mixed_float16")
    history = model.fit(x, np.arange(len(x)), batch_size=32, epochs=2, verbose=0,
                        callbacks=[TargetDistributionUpdate(x, update_interval=2)])
    assert len(history.history["loss"]) == 2
    for values in history.history.values():
        assert np.isfinite(values).all()
    q = model.predict(x, verbose=0)
    assert q.dtype == np.float32
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-5)
    assert model.target.dtype == "float32"
    assert model.clustering.centers.dtype == "float32"
    assert model.encoder.layers[0].compute_dtype == name.split("_")[1]


def test_dec_round_trip(tmp_path):
    x, _ = make_data()
    model = DEC(make_ae().encoder, n_clusters=3, alpha=2.0, name="my_dec")
    model.initialize_clusters(x, n_init=2, random_state=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.set_target(model.target_distribution(x))  # training state, not saved
    q = model.predict(x, verbose=0)

    config = model.get_config()
    assert config["n_clusters"] == 3 and config["alpha"] == 2.0
    assert isinstance(config["encoder"], dict)
    clone = DEC.from_config(config)
    clone(x[:1])
    clone.set_weights([w for w in model.get_weights() if w.shape != (len(x), 3)])
    np.testing.assert_allclose(clone.predict(x, verbose=0), q, rtol=1e-5, atol=1e-7)

    path = tmp_path / "dec.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DEC) and loaded.alpha == 2.0 and loaded.name == "my_dec"
    assert loaded.target is None
    np.testing.assert_allclose(loaded.predict(x, verbose=0), q, rtol=1e-5, atol=1e-7)
    # The loaded model is compiled (with the same optimizer) and trains on.
    assert isinstance(loaded.optimizer, keras.optimizers.SGD)
    p = loaded.target_distribution(x)
    assert np.isfinite(loaded.train_on_batch(x, p))


def test_idec_round_trip(tmp_path):
    x, _ = make_data()
    model = IDEC(make_ae(), n_clusters=3, alpha=1.5, gamma=0.3)
    model.initialize_clusters(x, n_init=2, random_state=0)
    q = model.predict(x, verbose=0)
    reconstruction = model.reconstruct(x)

    config = model.get_config()
    assert (config["n_clusters"], config["alpha"], config["gamma"]) == (3, 1.5, 0.3)
    clone = IDEC.from_config(config)
    clone(x[:1])
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), q, rtol=1e-5, atol=1e-7)

    path = tmp_path / "idec.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, IDEC) and loaded.gamma == 0.3
    assert isinstance(loaded.autoencoder, DenseAutoencoder)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), q, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loaded.reconstruct(x), reconstruction, rtol=1e-5, atol=1e-6)


def test_encoder_output_must_be_2d():
    bad = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6), keras.layers.Reshape((3, 2))])
    with pytest.raises(ValueError, match=r"encoder must output 2-D embeddings .* Received: "
                                         r"encoder output of shape \(None, 3, 2\)"):
        DEC(bad, n_clusters=3)

    class Unbuilt(keras.layers.Layer):  # output shape only known when called
        def call(self, x):
            return keras.ops.expand_dims(x, -1)

    model = DEC(Unbuilt(), n_clusters=3)
    with pytest.raises(ValueError, match=r"encoder output of shape \(None, 6, 1\)"):
        model.predict(make_data()[0], verbose=0)
    with pytest.raises(ValueError, match=r"encoder must be a Keras layer or model\. "
                                         r"Received: encoder='dense'"):
        DEC("dense", n_clusters=3)


@pytest.mark.parametrize("kwargs, match", [
    ({"gamma": -0.5}, r"gamma must be a finite number >= 0\.0\. Received: gamma=-0\.5"),
    ({"gamma": float("nan")}, r"gamma .* Received: gamma=nan"),
    ({"alpha": 0.0}, r"alpha must be a finite number > 0\.0\. Received: alpha=0\.0"),
    ({"n_clusters": 1}, r"n_clusters must be an int >= 2\. Received: n_clusters=1"),
])
def test_idec_invalid_arguments(kwargs, match):
    arguments = {"n_clusters": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        IDEC(make_ae(), **arguments)


def test_dec_invalid_alpha():
    with pytest.raises(ValueError, match=r"alpha must be a finite number > 0\.0\. "
                                         r"Received: alpha=-1"):
        DEC(make_ae().encoder, n_clusters=3, alpha=-1)


def test_idec_needs_encoder_and_decoder():
    ae = make_ae()
    with pytest.raises(ValueError, match=r"autoencoder must be a Keras model with \.encoder and "
                                         r"\.decoder .* without \.encoder and \.decoder"):
        IDEC(keras.Sequential([keras.layers.Dense(2)]), n_clusters=3)
    with pytest.raises(ValueError, match=r"Received: autoencoder=.* without \.decoder"):
        IDEC(DEC(ae.encoder, 3), n_clusters=3)

    class WrongDecoder(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = ae.encoder
            self.decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])

    model = IDEC(WrongDecoder(), n_clusters=3)
    with pytest.raises(ValueError, match=r"decoder must reconstruct the input shape\. Received: "
                                         r"input of shape \(None, 6\) and reconstruction of "
                                         r"shape \(None, 4\)"):
        model.predict(make_data()[0], verbose=0)
