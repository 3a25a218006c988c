import keras
import numpy as np
import pytest

from kdc.layers.noise import MaskingNoise
from kdc.models import DenoisingAutoencoder, DenseAutoencoder

N_FEATURES = 12


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    # Low-rank data in [0, 1]: an autoencoder can learn to reconstruct it.
    z = rng.uniform(size=(n, 3))
    w = rng.uniform(size=(3, N_FEATURES)) / 3
    return (z @ w).astype("float32")


def np_(t):
    return keras.ops.convert_to_numpy(t)


MODELS = {
    "dense": lambda **kw: DenseAutoencoder(N_FEATURES, hidden_dims=(16,), embedding_dim=3, **kw),
    "gaussian": lambda **kw: DenoisingAutoencoder(N_FEATURES, hidden_dims=(16,), embedding_dim=3,
                                                  noise="gaussian", noise_level=0.3, seed=1,
                                                  **kw),
    "masking": lambda **kw: DenoisingAutoencoder(N_FEATURES, hidden_dims=(16,), embedding_dim=3,
                                                 noise="masking", noise_level=0.3, seed=1, **kw),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_shapes_and_halves_usable_alone(kind):
    ae = MODELS[kind]()
    x = data(10)
    assert tuple(np_(ae(x)).shape) == (10, N_FEATURES)
    z = np_(ae.encoder(x))
    assert z.shape == (10, 3)  # embedding_dim
    assert ae.encoder.output_shape == (None, 3)
    assert tuple(np_(ae.decoder(z)).shape) == (10, N_FEATURES)
    assert ae.decoder.input_shape == (None, 3)
    assert ae.encode(x).shape == (10, 3)
    # Inference is exactly decoder(encoder(x)).
    np.testing.assert_allclose(np_(ae(x, training=False)), np_(ae.decoder(ae.encoder(x))),
                               rtol=1e-6, atol=1e-6)


def test_architecture_mirrors_hidden_dims():
    ae = DenseAutoencoder(20, hidden_dims=(16, 8), embedding_dim=2, dropout=0.1)
    enc_units = [layer.units for layer in ae.encoder.layers if isinstance(layer,
                                                                          keras.layers.Dense)]
    dec_units = [layer.units for layer in ae.decoder.layers if isinstance(layer,
                                                                          keras.layers.Dense)]
    assert enc_units == [16, 8, 2]
    assert dec_units == [8, 16, 20]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in ae.encoder.layers) == 2
    # Embedding and reconstruction layers are linear.
    assert ae.encoder.get_layer("embedding").activation is keras.activations.linear
    assert ae.decoder.get_layer("reconstruction").activation is keras.activations.linear


def test_hidden_dims_accepts_numpy_ints():
    ae = DenseAutoencoder(5, hidden_dims=np.array([4, 3]), embedding_dim=2)
    assert ae.hidden_dims == (4, 3)
    assert ae.get_config()["hidden_dims"] == [4, 3]
    assert all(type(d) is int for d in ae.get_config()["hidden_dims"])


@pytest.mark.parametrize("kind", list(MODELS))
def test_trains_with_plain_compile_and_fit_then_keras_file_round_trip(kind, tmp_path):
    x = data(128)
    ae = MODELS[kind](dropout=0.1)
    ae.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    losses = ae.fit(x, x, epochs=5, batch_size=32, verbose=0).history["loss"]
    assert len(losses) == 5
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]

    path = tmp_path / f"{kind}.keras"
    ae.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(ae)
    assert loaded.get_config() == ae.get_config()
    np.testing.assert_allclose(np_(loaded(x)), np_(ae(x)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np_(loaded.encoder(x)), np_(ae.encoder(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["gaussian", "masking"])
def test_denoising_corrupts_only_in_training(kind):
    ae = MODELS[kind]()
    x = data(16)
    inference = np_(ae(x, training=False))
    np.testing.assert_array_equal(inference, np_(ae(x, training=False)))  # deterministic
    np.testing.assert_allclose(inference, np_(ae.decoder(ae.encoder(x))), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(np_(ae.corrupt(x)), x)  # default training=False
    corrupted = np_(ae.corrupt(x, training=True))
    assert not np.allclose(corrupted, x)
    assert not np.allclose(np_(ae(x, training=True)), inference)


def test_masking_corruption_zeroes_without_rescaling():
    ae = DenoisingAutoencoder(200, hidden_dims=(4,), embedding_dim=2, noise="masking",
                              noise_level=0.25, seed=0)
    assert isinstance(ae.noise_layer, MaskingNoise)
    x = np.full((50, 200), 0.7, dtype="float32")
    corrupted = np_(ae.corrupt(x, training=True))
    assert abs((corrupted == 0).mean() - 0.25) < 0.02
    np.testing.assert_allclose(corrupted[corrupted != 0], 0.7)


def test_gaussian_corruption_has_requested_std():
    ae = DenoisingAutoencoder(200, hidden_dims=(4,), embedding_dim=2, noise="gaussian",
                              noise_level=0.5, seed=0)
    x = np.zeros((100, 200), dtype="float32")
    noise = np_(ae.corrupt(x, training=True))
    assert abs(noise.std() - 0.5) < 0.02
    assert abs(noise.mean()) < 0.02


@pytest.mark.parametrize("kind", list(MODELS))
def test_get_config_round_trip(kind):
    ae = MODELS[kind](activation="tanh", output_activation="sigmoid", name="my_ae")
    config = ae.get_config()
    clone = type(ae).from_config(config)
    assert clone.get_config() == config
    assert clone.name == "my_ae"
    assert clone.hidden_dims == (16,) and clone.embedding_dim == 3
    assert clone.encoder.get_layer("encoder_dense_0").activation is keras.activations.tanh
    assert clone.decoder.get_layer("reconstruction").activation is keras.activations.sigmoid
    if kind != "dense":
        assert (clone.noise, clone.noise_level, clone.seed) == (ae.noise, ae.noise_level, 1)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"input_dim": 0}, r"input_dim must be an int >= 1\. Received: input_dim=0"),
    ({"input_dim": 3.5}, r"input_dim must be an int >= 1\. Received: input_dim=3\.5"),
    ({"hidden_dims": [0]}, r"hidden_dims must be a sequence of positive ints.*"
                           r"Received: hidden_dims=\[0\]"),
    ({"hidden_dims": "abc"}, r"hidden_dims must be a sequence of positive ints.*"
                             r"Received: hidden_dims='abc'"),
    ({"hidden_dims": 64}, r"hidden_dims must be a sequence of positive ints.*"
                          r"Received: hidden_dims=64"),
    ({"hidden_dims": (8, True)}, r"hidden_dims must be a sequence.*Received: hidden_dims="),
    ({"embedding_dim": 0}, r"embedding_dim must be an int >= 1\. Received: embedding_dim=0"),
    ({"dropout": 1.0}, r"dropout must be a finite number >= 0\.0 and < 1\.0\. "
                       r"Received: dropout=1\.0"),
    ({"dropout": -0.5}, r"dropout must be .*Received: dropout=-0\.5"),
])
@pytest.mark.parametrize("cls", [DenseAutoencoder, DenoisingAutoencoder])
def test_invalid_arguments(cls, kwargs, pattern):
    args = {"input_dim": 4, "hidden_dims": (8,), **kwargs}
    with pytest.raises(ValueError, match=pattern):
        cls(**args)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"noise": "salt"}, r"noise must be one of 'gaussian', 'masking'\. Received: noise='salt'"),
    ({"noise": "gaussian", "noise_level": 0}, r"noise_level must be a finite number > 0\.0 "
                                              r"and <= 1\.0\. Received: noise_level=0"),
    ({"noise": "gaussian", "noise_level": -1.0}, r"noise_level must be .*"
                                                 r"Received: noise_level=-1\.0"),
    ({"noise": "gaussian", "noise_level": 2.0}, r"noise_level must be a finite number > 0\.0 "
                                                r"and <= 1\.0\. Received: noise_level=2\.0"),
    ({"noise": "masking", "noise_level": 1.0}, r"noise_level must be a finite number > 0\.0 "
                                               r"and < 1\.0\. Received: noise_level=1\.0"),
    ({"noise": "masking", "noise_level": 0.0}, r"noise_level must be .*"
                                               r"Received: noise_level=0\.0"),
    ({"seed": -2}, r"seed must be an int >= 0\. Received: seed=-2"),
])
def test_invalid_noise_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        DenoisingAutoencoder(4, hidden_dims=(8,), **kwargs)


def test_gaussian_noise_level_one_is_allowed():
    assert DenoisingAutoencoder(4, hidden_dims=(8,), noise_level=1.0).noise_level == 1.0
