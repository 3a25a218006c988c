"""FusedAdam: Keras' Adam arithmetic through TensorFlow's fused update kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kdc.training.optimizers import make_optimizer
from kdc.training.optimizers import FusedAdam


def _steps(optimizer, n_steps=5, wrap=None):
    """Weights after ``n_steps`` updates of two variables with fixed random gradients."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=(7, 5)).astype("float32")),
                 keras.Variable(rng.normal(size=(5,)).astype("float32"))]
    grads = [[tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables]
             for _ in range(n_steps)]
    optimizer.build(variables)

    def apply(g):
        optimizer.apply(g, variables)
        return tf.constant(0.0)

    step = apply if wrap is None else wrap(apply)
    for g in grads:
        step(g)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("wrap", [None, tf.function, lambda f: tf.function(f, jit_compile=True)],
                         ids=["eager", "graph", "xla"])
def test_fused_adam_matches_keras_adam(wrap):
    kwargs = dict(learning_rate=0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-4)
    expected = _steps(keras.optimizers.Adam(**kwargs))
    got = _steps(FusedAdam(**kwargs), wrap=wrap)
    start = _steps(keras.optimizers.Adam(**kwargs), n_steps=0)
    for e, g, s in zip(expected, got, start):
        assert not np.allclose(e, s)  # the steps moved the weights
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_fused_adam_amsgrad_and_schedule_match_keras_adam():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    for kwargs in (dict(learning_rate=0.05, amsgrad=True), dict(learning_rate=schedule)):
        expected = _steps(keras.optimizers.Adam(**kwargs))
        got = _steps(FusedAdam(**kwargs), wrap=tf.function)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_make_optimizer_gives_fused_adam_for_the_string_adam_only():
    for name in ("adam", "Adam"):
        opt = make_optimizer(name, 0.01)
        assert type(opt) is FusedAdam and opt.weight_decay is None
        assert float(opt.learning_rate) == pytest.approx(0.01)
    assert type(make_optimizer("adamw", 0.01)) is keras.optimizers.AdamW
    # an instance keeps its class and configuration: copied, never swapped
    mine = keras.optimizers.AdamW(0.5, beta_1=0.7, weight_decay=0.03)
    copy = make_optimizer(mine, 0.02)
    assert type(copy) is keras.optimizers.AdamW and copy is not mine
    assert copy.beta_1 == 0.7 and copy.weight_decay == pytest.approx(0.03)
    assert float(copy.learning_rate) == pytest.approx(0.02)
    assert float(mine.learning_rate) == pytest.approx(0.5)  # the user's object is unchanged
    assert type(make_optimizer(keras.optimizers.Adam(0.1))) is keras.optimizers.Adam
    fused = make_optimizer(FusedAdam(0.3, beta_2=0.9))
    assert type(fused) is FusedAdam and fused.beta_2 == 0.9
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)
    assert float(make_optimizer(keras.optimizers.Adam(schedule), 0.02).learning_rate) == (
        pytest.approx(0.02))
    assert type(make_optimizer("sgd", 0.1)) is keras.optimizers.SGD
    with pytest.raises(ValueError, match=r"optimizer must be the name of a Keras optimizer"):
        make_optimizer("nope")


@pytest.mark.parametrize("wrap", [None, tf.function], ids=["eager", "graph"])
def test_fused_adam_weight_decay_matches_keras_adamw(wrap):
    kwargs = dict(learning_rate=0.05, beta_1=0.8, weight_decay=0.5)
    expected = _steps(keras.optimizers.AdamW(**kwargs))
    got = _steps(FusedAdam(**kwargs), wrap=wrap)
    undecayed = _steps(FusedAdam(learning_rate=0.05, beta_1=0.8), wrap=wrap)
    for e, g, u in zip(expected, got, undecayed):
        assert not np.allclose(e, u, atol=1e-3)  # the decay changed the weights
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_fused_adam_weight_decay_skips_excluded_variables():
    opt = FusedAdam(learning_rate=0.05, weight_decay=0.5)
    expected_opt = keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5)
    rng = np.random.default_rng(1)
    start = rng.normal(size=(3, 2)).astype("float32")
    grad = tf.constant(rng.normal(size=(3, 2)).astype("float32"))
    out = []
    for o in (opt, expected_opt, FusedAdam(learning_rate=0.05)):
        v = keras.Variable(start)
        if o.weight_decay is not None:
            o.exclude_from_weight_decay(var_list=[v])
        o.build([v])
        o.apply([grad], [v])
        out.append(v.numpy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0], out[2], rtol=1e-5, atol=1e-6)  # excluded: no decay


def test_model_compiled_with_fused_adam_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=FusedAdam(0.01, beta_2=0.9), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdam and loaded.optimizer.beta_2 == 0.9
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_fused_adam_runs_the_fused_kernel_in_a_graph():
    variable = keras.Variable(np.ones((4, 3), "float32"))
    for optimizer, fused in ((FusedAdam(0.1), True), (FusedAdam(0.1, amsgrad=True), False)):
        optimizer.build([variable])
        graph = tf.function(lambda g, o=optimizer: o.apply([g], [variable])).get_concrete_function(
            tf.TensorSpec((4, 3), "float32")).graph
        assert any(op.type == "ResourceApplyAdam" for op in graph.get_operations()) is fused
