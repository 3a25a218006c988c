"""Pretraining runs several training steps per call of the compiled train function."""

import keras
import numpy as np
import pytest

from kdc import AEKMeans
from kdc.training import plan


def execution_steps(steps, callbacks=(), distributed=False):
    return plan.resolve_steps_per_execution("auto", steps, callbacks, distributed)

from tests.conftest import TINY, make_blobs


class _BatchRecorder(keras.callbacks.Callback):
    """Acts on single batches: records the batch numbers it is called with, per epoch."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.batches[-1].append(batch)


class _EpochRecorder(keras.callbacks.Callback):
    """Acts on epochs only: records the model's steps per call and the epochs it saw."""

    def on_train_begin(self, logs=None):
        self.steps_per_execution, self.epochs = self.model.steps_per_execution, []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.mark.parametrize("steps, expected", [
    (274, 137),  # MNIST at batch 256: two calls per epoch
    (40, 40),  # MNIST-test: one call per epoch
    (400, 200),  # capped at EXECUTION_STEPS_LIMIT
    (211, 1),  # a prime above the cap: one step per call, epochs stay whole
    (8, 8),
    (1, 1),
])
def test_steps_per_call_divide_the_epoch(steps, expected):
    assert plan.EXECUTION_STEPS_LIMIT == 200
    assert execution_steps(steps) == expected
    assert execution_steps(steps, [keras.callbacks.EarlyStopping(), _EpochRecorder()]) == expected


@pytest.mark.parametrize("callback", [
    _BatchRecorder(), keras.callbacks.TerminateOnNaN(),
    keras.callbacks.ModelCheckpoint("unused.weights.h5", save_weights_only=True, save_freq=5),
])
def test_callbacks_acting_on_batches_get_one_step_per_call(callback):
    assert execution_steps(274, [keras.callbacks.EarlyStopping(), callback]) == 1


def test_an_int_asks_for_at_most_that_many_steps_per_call():
    assert plan.resolve_steps_per_execution(50, 274) == 2  # the largest divisor <= 50
    assert plan.resolve_steps_per_execution(500, 274) == 274
    assert plan.resolve_steps_per_execution(8, 274, [keras.callbacks.TerminateOnNaN()]) == 1
    with pytest.raises(ValueError, match="steps_per_execution"):
        plan.resolve_steps_per_execution(0, 274)


def test_several_steps_per_call_train_exactly_as_one_step_per_call():
    x, _ = make_blobs(n_samples=320)  # 10 batches of 32: 10 steps per call
    params = dict(TINY, pretrain_epochs=4)
    epochs = _EpochRecorder()
    fast = AEKMeans(3, n_init=1, random_state=0, callbacks=[epochs], **params).fit(x)
    assert epochs.steps_per_execution == 10 and epochs.epochs == [0, 1, 2, 3]
    slow_epochs = _EpochRecorder()
    slow = AEKMeans(3, n_init=1, random_state=0, callbacks=[slow_epochs], steps_per_execution=1,
                    **params).fit(x)
    assert slow_epochs.steps_per_execution == 1
    assert fast.history_["pretrain"]["loss"] == slow.history_["pretrain"]["loss"]
    for a, b in zip(fast.autoencoder_.get_weights(), slow.autoencoder_.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_batch_callback_sees_every_batch_of_every_epoch():
    x, _ = make_blobs(n_samples=100)  # 3 full batches of 32 and one of 4
    recorder = _BatchRecorder()
    AEKMeans(3, n_init=1, random_state=0, callbacks=[recorder], **TINY).fit(x)
    assert recorder.batches == [[0, 1, 2, 3]] * TINY["pretrain_epochs"]


def test_one_step_per_call_under_a_distribution_strategy():
    import tensorflow as tf

    assert execution_steps(274, distributed=True) == 1
    assert execution_steps(274) == 137
    x, _ = make_blobs(n_samples=64)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        est = AEKMeans(3, n_init=1, random_state=0, **TINY).fit(x)
    assert est.training_plan_["pretrain"]["steps_per_execution"] == 1
    assert est.training_plan_["pretrain"]["distributed"] == "OneDeviceStrategy"
