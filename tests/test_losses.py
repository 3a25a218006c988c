import keras
import numpy as np
import pytest

from kdc.losses import KLDivergence, kl_divergence, target_distribution

Q = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], dtype="float32")


def target_numpy(q):
    """Independent reference: DEC eq. 3 with explicit loops, in float64."""
    q = q.astype(np.float64)
    f = [sum(q[i, j] for i in range(len(q))) for j in range(q.shape[1])]
    p = np.array([[q[i, j] ** 2 / f[j] for j in range(q.shape[1])] for i in range(len(q))])
    return p / p.sum(axis=1, keepdims=True)


def kl_numpy(p, q):
    p = p.astype(np.float64)
    q = q.astype(np.float64)
    per_sample = [sum(pj * np.log(pj / qj) for pj, qj in zip(pi, qi) if pj > 0)
                  for pi, qi in zip(p, q)]
    return float(np.mean(per_sample))


@pytest.fixture
def policy():
    yield keras.mixed_precision.set_dtype_policy
    keras.mixed_precision.set_dtype_policy("float32")


def test_target_distribution_numpy_matches_reference():
    p = target_distribution(Q)
    assert isinstance(p, np.ndarray) and p.dtype == np.float32
    # Hand value: f = (1.7, 1.3); row 0: (0.81/1.7, 0.01/1.3) normalised.
    row0 = np.array([0.81 / 1.7, 0.01 / 1.3])
    np.testing.assert_allclose(p[0], row0 / row0.sum(), rtol=1e-5)
    np.testing.assert_allclose(p, target_numpy(Q), rtol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    # P sharpens Q: each row's largest entry grows.
    assert (p.max(axis=1) >= Q.max(axis=1) - 1e-6).all()


def test_target_distribution_tensor_in_tensor_out():
    p = target_distribution(keras.ops.convert_to_tensor(Q.astype("float16")))
    assert keras.ops.is_tensor(p)
    assert keras.backend.standardize_dtype(p.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(p), target_numpy(Q), rtol=1e-3)


def test_target_distribution_handles_empty_cluster():
    q = np.array([[1.0, 0.0], [1.0, 0.0]], dtype="float32")
    p = target_distribution(q)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, q)


def test_kl_divergence_matches_reference():
    p = target_distribution(Q)
    value = kl_divergence(p, Q)
    assert isinstance(value, np.floating) and value.dtype == np.float32
    np.testing.assert_allclose(value, kl_numpy(p, Q), rtol=1e-5)
    assert value > 0
    assert kl_divergence(Q, Q) == pytest.approx(0.0, abs=1e-7)
    tensor_value = kl_divergence(keras.ops.convert_to_tensor(p), keras.ops.convert_to_tensor(Q))
    assert keras.ops.is_tensor(tensor_value)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor_value), value, rtol=1e-6)


def test_kl_divergence_is_finite_when_q_is_zero():
    p = np.array([[0.5, 0.5], [1.0, 0.0]], dtype="float32")
    q = np.array([[1.0, 0.0], [1.0, 0.0]], dtype="float32")
    value = kl_divergence(p, q)
    assert np.isfinite(value)
    # p log(p / eps) for the clipped entry, 0 for p == 0 entries.
    expected = (0.5 * np.log(0.5 / 1.0) + 0.5 * np.log(0.5 / 1e-7) + 0.0) / 2
    np.testing.assert_allclose(value, expected, rtol=1e-4)


def test_loss_class_matches_function_and_reductions():
    p = target_distribution(Q)
    loss = KLDivergence()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(p, Q)), kl_numpy(p, Q),
                               rtol=1e-5)
    per_sample = keras.ops.convert_to_numpy(KLDivergence(reduction="none")(p, Q))
    assert per_sample.shape == (3,)
    np.testing.assert_allclose(per_sample.mean(), kl_numpy(p, Q), rtol=1e-5)
    summed = keras.ops.convert_to_numpy(KLDivergence(reduction="sum")(p, Q))
    np.testing.assert_allclose(summed, per_sample.sum(), rtol=1e-5)


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16"])
def test_loss_is_float32_under_mixed_precision(policy, name):
    policy(name)
    loss = KLDivergence()
    low = "float16" if name == "mixed_float16" else "bfloat16"
    p = keras.ops.cast(target_distribution(Q), low)
    value = loss(p, keras.ops.cast(Q, low))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert loss.dtype == "float32"


def test_loss_config_round_trip(tmp_path):
    loss = KLDivergence(reduction="sum", name="kl")
    config = loss.get_config()
    assert config["reduction"] == "sum" and config["name"] == "kl"
    clone = KLDivergence.from_config(config)
    p = target_distribution(Q)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(p, Q)),
                               keras.ops.convert_to_numpy(loss(p, Q)), rtol=1e-7)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, KLDivergence) and restored.reduction == "sum"
    # .keras round trip of a model compiled with the loss.
    x = keras.Input((2,))
    model = keras.Model(x, keras.layers.Softmax()(keras.layers.Dense(2)(x)))
    model.compile(optimizer="sgd", loss=KLDivergence())
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, KLDivergence)
    np.testing.assert_allclose(loaded.evaluate(Q, p, verbose=0), model.evaluate(Q, p, verbose=0),
                               rtol=1e-6)
