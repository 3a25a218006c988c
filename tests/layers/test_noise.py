import keras
import numpy as np
import pytest

from kdc.layers.noise import MaskingNoise


def test_identity_when_not_training():
    x = np.random.default_rng(0).uniform(size=(8, 5)).astype("float32")
    layer = MaskingNoise(0.5, seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_zeroes_about_rate_and_does_not_rescale(rate):
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(200, 100)).astype("float32")
    out = keras.ops.convert_to_numpy(MaskingNoise(rate, seed=3)(x, training=True))
    assert out.shape == x.shape
    zeroed = out == 0
    # 20,000 Bernoulli draws: the fraction is within 2 percentage points of rate.
    assert abs(zeroed.mean() - rate) < 0.02
    # Survivors keep their value exactly: no 1 / (1 - rate) rescaling as in Dropout.
    np.testing.assert_array_equal(out[~zeroed], x[~zeroed])


def test_rate_zero_is_identity_while_training():
    x = np.ones((4, 3), dtype="float32")
    out = MaskingNoise(0.0)(x, training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), x)


def test_mask_changes_between_calls_and_is_seeded():
    x = np.ones((10, 50), dtype="float32")
    a = MaskingNoise(0.5, seed=7)
    first = keras.ops.convert_to_numpy(a(x, training=True))
    second = keras.ops.convert_to_numpy(a(x, training=True))
    assert not np.array_equal(first, second)  # a new mask per call
    again = keras.ops.convert_to_numpy(MaskingNoise(0.5, seed=7)(x, training=True))
    np.testing.assert_array_equal(first, again)  # same seed, same first mask


def test_works_inside_a_model_and_keeps_shape_and_dtype():
    inputs = keras.Input((6,))
    outputs = MaskingNoise(0.3, seed=0)(inputs)
    model = keras.Model(inputs, outputs)
    assert model.output_shape == (None, 6)
    x = np.ones((3, 6), dtype="float32")
    out = model(x, training=True)
    assert keras.ops.convert_to_numpy(out).dtype == np.float32
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)  # inference: identity


def test_get_config_round_trip():
    layer = MaskingNoise(0.25, seed=4, name="mask")
    config = layer.get_config()
    assert config["rate"] == 0.25 and config["seed"] == 4
    clone = MaskingNoise.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, MaskingNoise) and restored.rate == 0.25


def test_keras_file_round_trip(tmp_path):
    inputs = keras.Input((5,))
    hidden = MaskingNoise(0.4, seed=2, name="mask")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    path = tmp_path / "masking.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("mask"), MaskingNoise)
    assert loaded.get_layer("mask").rate == 0.4
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("rate, shown", [(1.5, "1.5"), (1.0, "1.0"), (-0.1, "-0.1"),
                                         ("half", "'half'"), (None, "None")])
def test_invalid_rate(rate, shown):
    with pytest.raises(ValueError, match=rf"rate must be a finite number >= 0\.0 and < 1\.0\. "
                                         rf"Received: rate={shown}"):
        MaskingNoise(rate)


def test_invalid_seed():
    with pytest.raises(ValueError, match=r"seed must be an int >= 0\. Received: seed=-1"):
        MaskingNoise(0.1, seed=-1)
