"""N2D's pretraining ends on a linear learning-rate decay (ConstantThenLinearDecay)."""

import keras
import numpy as np
import pytest

from kdc import AEKMeans, N2D
from kdc.cluster import n2d
from kdc.training import plan
from kdc.training.optimizers import ConstantThenLinearDecay

from tests.conftest import TINY, make_blobs


def test_rate_is_constant_then_falls_in_a_straight_line_to_zero():
    schedule = ConstantThenLinearDecay(1e-3, total_steps=100, decay_fraction=0.3)
    rates = [float(schedule(step)) for step in (0, 50, 70, 85, 99, 100, 150)]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-3, 5e-4, 1e-3 / 30, 0.0, 0.0],
                               rtol=1e-6, atol=1e-12)
    same = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(same, ConstantThenLinearDecay)
    assert same.get_config() == {"learning_rate": 1e-3, "total_steps": 100,
                                 "decay_fraction": 0.3}


@pytest.mark.parametrize("kwargs, match", [
    (dict(learning_rate=0.0, total_steps=10, decay_fraction=0.3), "learning_rate"),
    (dict(learning_rate=1e-3, total_steps=0, decay_fraction=0.3), "total_steps"),
    (dict(learning_rate=1e-3, total_steps=10, decay_fraction=1.5), "decay_fraction"),
])
def test_bad_schedule_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConstantThenLinearDecay(**kwargs)


def _rate(est):
    opt = est.autoencoder_.optimizer
    return opt._learning_rate, float(keras.ops.convert_to_numpy(opt.learning_rate))


def test_n2d_alone_decays_its_pretraining_rate_to_zero():
    x, _ = make_blobs()  # 240 rows in batches of 32: 8 steps per epoch
    est = N2D(3, n_neighbors=10, random_state=0, **TINY).fit(x)
    schedule, rate = _rate(est)
    assert isinstance(schedule, ConstantThenLinearDecay)
    assert (schedule.total_steps, schedule.decay_fraction) == (24, n2d.N2D_LR_DECAY_END)
    assert int(est.autoencoder_.optimizer.iterations) == 24 and rate == 0.0
    aek = AEKMeans(3, random_state=0, **TINY).fit(x)
    schedule, rate = _rate(aek)  # a constant rate
    assert not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    assert rate == pytest.approx(1e-3)
    decayed = AEKMeans(3, random_state=0, lr_decay_end=0.5, **TINY).fit(x)
    schedule, rate = _rate(decayed)  # the same parameter gives AEKMeans the decay too
    assert (schedule.total_steps, schedule.decay_fraction, rate) == (24, 0.5, 0.0)


def test_a_callback_that_sets_the_rate_keeps_it_constant():
    x, _ = make_blobs()
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=100)
    est = N2D(3, n_neighbors=10, random_state=0, callbacks=[plateau], **TINY).fit(x)
    assert not isinstance(est.autoencoder_.optimizer._learning_rate,
                          keras.optimizers.schedules.LearningRateSchedule)
    assert _rate(est)[1] == pytest.approx(1e-3)
    assert isinstance(plateau, plan.LR_CALLBACKS)
