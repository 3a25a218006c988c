import keras
import numpy as np
import pytest

from kdc.layers.clustering import ClusteringLayer

Z = np.array([[0.0, 0.0], [1.0, 2.0], [-3.0, 0.5]], dtype="float32")
CENTERS = np.array([[0.0, 1.0], [2.0, -1.0]], dtype="float32")


def student_t_numpy(z, centers, alpha):
    """Independent reference: DEC eq. 1, written with explicit loops."""
    q = np.zeros((len(z), len(centers)))
    for i, zi in enumerate(z.astype(np.float64)):
        for j, mu in enumerate(centers.astype(np.float64)):
            q[i, j] = (1.0 + np.sum((zi - mu) ** 2) / alpha) ** (-(alpha + 1.0) / 2.0)
        q[i] /= q[i].sum()
    return q


@pytest.fixture
def policy():
    yield keras.mixed_precision.set_dtype_policy
    keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_q_matches_independent_numpy(alpha):
    layer = ClusteringLayer(2, alpha=alpha, initial_centers=CENTERS)
    q = keras.ops.convert_to_numpy(layer(Z))
    # Hand check of one entry for alpha=1: point (0,0) is at squared distances 1 and 5.
    if alpha == 1.0:
        np.testing.assert_allclose(q[0], [(1 / 2) / (1 / 2 + 1 / 6), (1 / 6) / (1 / 2 + 1 / 6)],
                                   rtol=1e-6)
    np.testing.assert_allclose(q, student_t_numpy(Z, CENTERS, alpha), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-6)
    assert q.dtype == np.float32


def test_q_is_finite_for_huge_distances():
    layer = ClusteringLayer(3, initial_centers=np.array([[0.0, 0.0], [1e3, 0.0], [0.0, 1e3]]))
    z = np.array([[1e19, 1e19], [-3e38, 3e38], [1e6, 0.0], [0.0, 0.0]], dtype="float32")
    q = keras.ops.convert_to_numpy(layer(z))
    assert np.isfinite(q).all()
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-6)
    assert q[2].argmax() == 1  # (1e6, 0) is nearest the centre (1e3, 0)
    assert q[3].argmax() == 0


def test_gradient_is_finite_at_zero_distance():
    layer = ClusteringLayer(2, initial_centers=CENTERS)
    import tensorflow as tf

    z = tf.constant(CENTERS)  # every point sits exactly on a centre
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = keras.ops.sum(keras.ops.log(layer(z)))
    grads = tape.gradient(loss, [z, layer.centers])
    assert all(np.isfinite(keras.ops.convert_to_numpy(g)).all() for g in grads)


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16"])
def test_computes_in_float32_under_mixed_precision(policy, name):
    policy(name)
    layer = ClusteringLayer(2, alpha=2.5, initial_centers=CENTERS)
    inputs = keras.ops.cast(Z, "float16" if name == "mixed_float16" else "bfloat16")
    q = layer(inputs)
    assert keras.backend.standardize_dtype(q.dtype) == "float32"
    assert layer.centers.dtype == "float32"
    assert layer.dtype_policy.name == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(q), student_t_numpy(Z, CENTERS, 2.5),
                               rtol=1e-5)
    # Inside a mixed-precision model the output stays float32.
    x = keras.Input((4,))
    model = keras.Model(x, ClusteringLayer(3)(keras.layers.Dense(2)(x)))
    out = model.predict(np.ones((5, 4), "float32"), verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)


def test_centers_weight_is_named_and_trainable():
    layer = ClusteringLayer(4)
    layer.build((None, 3))
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["centers"]
    assert tuple(layer.centers.shape) == (4, 3)


def test_set_centers_and_wrong_shapes():
    layer = ClusteringLayer(2)
    with pytest.raises(ValueError, match="must be built before set_centers"):
        layer.set_centers(CENTERS)
    layer(Z)
    layer.set_centers(CENTERS * 2)
    np.testing.assert_allclose(layer.get_centers(), CENTERS * 2)
    with pytest.raises(ValueError, match=r"centers must have shape .* = \(2, 2\)\. "
                                         r"Received: centers of shape \(3, 2\)"):
        layer.set_centers(np.zeros((3, 2)))


def test_initial_centers_wrong_shape():
    with pytest.raises(ValueError, match=r"initial_centers .*n_clusters=3.*shape \(2, 2\)"):
        ClusteringLayer(3, initial_centers=CENTERS)
    with pytest.raises(ValueError, match=r"initial_centers must be a 2-D .*shape \(2,\)"):
        ClusteringLayer(2, initial_centers=np.zeros(2))
    layer = ClusteringLayer(2, initial_centers=CENTERS)
    with pytest.raises(ValueError, match=r"initial_centers must have shape .* = \(2, 5\)\. "
                                         r"Received: initial_centers of shape \(2, 2\)"):
        layer(np.zeros((4, 5), "float32"))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_clusters": 1}, r"n_clusters must be an int >= 2\. Received: n_clusters=1"),
    ({"n_clusters": 2.0}, r"n_clusters must be an int >= 2\. Received: n_clusters=2\.0"),
    ({"n_clusters": 2, "alpha": 0}, r"alpha must be a finite number > 0\.0\. Received: alpha=0"),
    ({"n_clusters": 2, "alpha": -1.5}, r"alpha .* Received: alpha=-1\.5"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClusteringLayer(**kwargs)


def test_input_must_be_2d():
    with pytest.raises(ValueError, match=r"2-D inputs .* Received: input of shape \(2, 3, 4\)"):
        ClusteringLayer(2)(np.zeros((2, 3, 4), "float32"))


def test_config_round_trip():
    layer = ClusteringLayer(2, alpha=2.5, initial_centers=CENTERS, name="clu")
    q = keras.ops.convert_to_numpy(layer(Z))
    config = layer.get_config()
    assert config["n_clusters"] == 2 and config["alpha"] == 2.5 and config["name"] == "clu"
    clone = ClusteringLayer.from_config(config)
    clone.build((None, 2))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(Z)), q, rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, ClusteringLayer) and restored.alpha == 2.5


def test_keras_file_round_trip(tmp_path):
    x = keras.Input((2,))
    model = keras.Model(x, ClusteringLayer(2, alpha=2.5, initial_centers=CENTERS)(x))
    path = tmp_path / "clustering.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], ClusteringLayer)
    np.testing.assert_allclose(loaded.predict(Z, verbose=0), model.predict(Z, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(loaded.layers[-1].get_centers(), CENTERS)
