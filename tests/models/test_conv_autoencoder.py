import keras
import numpy as np
import pytest

from kdc.models import ConvAutoencoder

SMALL = dict(filters=(4, 8), kernel_size=3, embedding_dim=3)


def np_(t):
    return keras.ops.convert_to_numpy(t)


def images(shape, n=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n,) + tuple(shape)).astype("float32")


@pytest.mark.parametrize("input_shape, full_shape", [
    ((28, 28, 1), (28, 28, 1)),
    ((16, 16), (16, 16, 1)),       # (height, width) gets one channel
    ((13, 21, 3), (13, 21, 3)),    # odd sizes: the decoder crops back to the input size
])
def test_shapes_and_halves_usable_alone(input_shape, full_shape):
    ae = ConvAutoencoder(input_shape, **SMALL)
    assert ae.image_shape == full_shape
    x = images(full_shape, n=5)
    assert tuple(np_(ae(x)).shape) == (5,) + full_shape
    z = np_(ae.encoder(x))
    assert z.shape == (5, 3)
    assert ae.encoder.output_shape == (None, 3)
    assert ae.decoder.output_shape == (None,) + full_shape
    assert tuple(np_(ae.decoder(z)).shape) == (5,) + full_shape
    assert ae.encode(x).shape == (5, 3)
    np.testing.assert_allclose(np_(ae(x, training=False)), np_(ae.decoder(ae.encoder(x))),
                               rtol=1e-5, atol=1e-6)


def test_default_architecture_is_dcec():
    ae = ConvAutoencoder((28, 28, 1))
    convs = [layer for layer in ae.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128]
    assert all(c.strides == (2, 2) for c in convs)
    assert ae.encoder.output_shape == (None, 10)
    assert ae.decoder.output_shape == (None, 28, 28, 1)
    assert ae.decoder.get_layer("reconstruction").activation is keras.activations.linear


def test_trains_with_plain_compile_and_fit_then_keras_file_round_trip(tmp_path):
    # Smooth images (a few blurred gradients) that a tiny network can learn.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16] / 15.0
    coef = rng.uniform(size=(48, 3))
    x = (coef[:, :1, None] * yy + coef[:, 1:2, None] * xx + coef[:, 2:, None]) / 3
    x = x[..., None].astype("float32")
    ae = ConvAutoencoder((16, 16, 1), **SMALL)
    ae.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    losses = ae.fit(x, x, epochs=5, batch_size=16, verbose=0).history["loss"]
    assert len(losses) == 5 and np.isfinite(losses).all()
    assert losses[-1] < 0.5 * losses[0]

    path = tmp_path / "conv.keras"
    ae.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ConvAutoencoder)
    assert loaded.get_config() == ae.get_config()
    np.testing.assert_allclose(np_(loaded(x)), np_(ae(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np_(loaded.encoder(x)), np_(ae.encoder(x)), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("input_shape", [(28, 28, 1), (13, 21, 3)])
def test_get_config_round_trip(input_shape):
    ae = ConvAutoencoder(input_shape, activation="elu", output_activation="sigmoid",
                         name="conv_ae", **SMALL)
    config = ae.get_config()
    assert config["input_shape"] == list(input_shape)
    clone = ConvAutoencoder.from_config(config)
    assert clone.get_config() == config
    assert clone.name == "conv_ae"
    assert clone.decoder.get_layer("reconstruction").activation is keras.activations.sigmoid
    assert clone.decoder.output_shape == (None,) + tuple(input_shape)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"input_shape": (28,)}, r"input_shape must be \(height, width\) or \(height, width, "
                             r"channels\).*Received: input_shape=\(28,\)"),
    ({"input_shape": (28, 28, 1, 1)}, r"input_shape must be .*Received: input_shape="
                                      r"\(28, 28, 1, 1\)"),
    ({"input_shape": (0, 28)}, r"input_shape must be .*positive sizes.*Received: input_shape="
                               r"\(0, 28\)"),
    ({"input_shape": "28x28"}, r"input_shape must be .*Received: input_shape='28x28'"),
    ({"input_shape": 28}, r"input_shape must be .*Received: input_shape=28"),
    ({"filters": [0, 8]}, r"filters must be a sequence of positive ints.*"
                          r"Received: filters=\[0, 8\]"),
    ({"embedding_dim": 0}, r"embedding_dim must be an int >= 1\. Received: embedding_dim=0"),
    ({"kernel_size": 0}, r"kernel_size must be an int >= 1\. Received: kernel_size=0"),
    ({"padding": "valid"}, r"padding must be one of 'same'\. Received: padding='valid'"),
])
def test_invalid_arguments(kwargs, pattern):
    args = {"input_shape": (16, 16, 1), **kwargs}
    with pytest.raises(ValueError, match=pattern):
        ConvAutoencoder(**args)
