import itertools

import keras
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from kdc.callbacks import LabelChangeStopping, TargetDistributionUpdate
from kdc.losses import target_distribution
from kdc.models.dec import DEC


def make_data(n_per_blob=32, n_features=6, seed=0):
    """Three Gaussian blobs, sorted by blob (so a batch is not a sample of the whole)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (3, n_features))
    x = np.concatenate([rng.normal(c, 0.5, (n_per_blob, n_features)) for c in centres])
    return x.astype("float32"), np.repeat(np.arange(3), n_per_blob)


def make_dec(x, learning_rate=0.0, seed=0):
    keras.utils.set_random_seed(seed)
    encoder = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(8, "relu"),
                                keras.layers.Dense(3)])
    model = DEC(encoder, n_clusters=3)
    model.initialize_clusters(x, n_init=2, random_state=0)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    return model


class LogRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        if "label_change" in logs:
            self.seen.append((batch, logs["label_change"]))


def test_target_is_computed_over_the_whole_data_set():
    x, y = make_data()
    model = make_dec(x)  # learning rate 0: Q does not move
    update = TargetDistributionUpdate(x, update_interval=2, batch_size=7, y_true=y)
    recorder = LogRecorder()
    model.fit(x, np.arange(len(x)), batch_size=16, epochs=1, shuffle=False, verbose=0,
              callbacks=[update, recorder])
    q = model.predict(x, verbose=0)
    stored = keras.ops.convert_to_numpy(model.target)
    np.testing.assert_allclose(stored, target_distribution(q), rtol=1e-5, atol=1e-7)
    # Normalising by the cluster frequencies of one batch (all from one blob)
    # would give a different P for those rows.
    per_batch = target_distribution(q[:16])
    assert np.abs(per_batch - stored[:16]).max() > 1e-2
    # Updates at train begin, then every 2 of the 6 batches; logs carry the change.
    assert update.history["step"] == [0, 2, 4, 6]
    assert np.isnan(update.history["label_change"][0])
    assert update.history["label_change"][1:] == [0.0, 0.0, 0.0]
    assert [batch for batch, _ in recorder.seen] == [1, 3, 5]
    # Monitoring metrics agree with independent computations.
    labels = q.argmax(axis=1)
    np.testing.assert_allclose(update.history["nmi"][-1],
                               normalized_mutual_info_score(y, labels))
    best = max(np.mean(np.array(perm)[labels] == y) for perm in itertools.permutations(range(3)))
    np.testing.assert_allclose(update.history["acc"][-1], best)
    assert update.history["acc"][-1] > 0.9


def test_update_counts_batches_across_epochs_and_steps_per_execution():
    x, _ = make_data(n_per_blob=16)
    model = make_dec(x)
    model.compile(optimizer=keras.optimizers.SGD(0.0), steps_per_execution=2)
    update = TargetDistributionUpdate(x, update_interval=3)
    model.fit(x, np.arange(len(x)), batch_size=12, epochs=2, verbose=0, callbacks=[update])
    # 4 batches per epoch run 2 at a time (steps 2, 4 | 6, 8): an update at the
    # first call at or past each multiple of 3, i.e. at steps 4 (>= 3) and 6.
    assert update.history["step"] == [0, 4, 6]


class BatchLosses(keras.callbacks.Callback):
    """Each batch's own loss, from the running mean over the epoch that Keras logs."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = 0.0

    def on_train_batch_end(self, batch, logs=None):
        total = float(logs["loss"]) * (batch + 1)
        self.losses.append(total - self._previous)
        self._previous = total


def test_history_holds_the_mean_loss_between_updates():
    x, _ = make_data()  # 96 samples: 6 batches of 16 per epoch
    model = make_dec(x, learning_rate=0.5)
    update = TargetDistributionUpdate(x, update_interval=4)
    batches = BatchLosses()
    model.fit(x, np.arange(len(x)), batch_size=16, epochs=2, verbose=0,
              callbacks=[update, batches])
    assert update.history["step"] == [0, 4, 8, 12]
    losses = update.history["loss"]
    assert np.isnan(losses[0])
    # The second interval spans the end of epoch 1 and the start of epoch 2.
    expected = [np.mean(batches.losses[i:i + 4]) for i in (0, 4, 8)]
    np.testing.assert_allclose(losses[1:], expected, rtol=1e-4)
    assert len(set(np.round(batches.losses, 6))) > 1  # the losses did change


def test_label_change_stopping_stops_when_labels_are_stable():
    x, _ = make_data()
    model = make_dec(x)  # learning rate 0: no label changes
    update = TargetDistributionUpdate(x, update_interval=2)
    stopping = LabelChangeStopping(tol=0.001)
    history = model.fit(x, np.arange(len(x)), batch_size=16, epochs=5, verbose=0,
                        callbacks=[update, stopping])
    assert stopping.stopped_step == 2  # at the second update
    assert len(update.history["step"]) == 2
    assert len(history.history["loss"]) == 1  # 1 of 5 epochs


def test_label_change_stopping_waits_while_labels_change():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    stopping = LabelChangeStopping(tol=0.01, patience=1)
    stopping.set_model(model)
    model.stop_training = False
    stopping.on_train_begin()
    stopping.on_epoch_begin(0)
    for batch, change in enumerate([0.5, 0.2, None, 0.005, 0.3, 0.009]):
        logs = {"loss": 1.0} if change is None else {"loss": 1.0, "label_change": change}
        stopping.on_train_batch_end(batch, logs)
        assert not model.stop_training  # a change >= tol resets the patience
    stopping.on_train_batch_end(6, {"label_change": 0.0})
    assert model.stop_training and stopping.stopped_step == 7


def test_label_change_stopping_warns_without_updates():
    x, _ = make_data(n_per_blob=8)
    model = make_dec(x)
    update = TargetDistributionUpdate(x, update_interval=100)
    with pytest.warns(UserWarning, match="list it after"):
        model.fit(x, np.arange(len(x)), epochs=1, verbose=0,
                  callbacks=[update, LabelChangeStopping()])


def test_needs_a_dec_model():
    x, _ = make_data(n_per_blob=4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="needs a kdc DEC or IDEC model.*Sequential"):
        model.fit(x, np.zeros(len(x)), verbose=0, callbacks=[TargetDistributionUpdate(x)])


@pytest.mark.parametrize("kwargs, match", [
    ({"update_interval": 0}, r"update_interval must be an int >= 1\. Received: update_interval=0"),
    ({"update_interval": 1.5}, r"update_interval must be an int >= 1\. "
                               r"Received: update_interval=1\.5"),
    ({"batch_size": 0}, r"batch_size must be an int >= 1\. Received: batch_size=0"),
    ({"y_true": [0, 1]}, r"y_true must have one label per sample of x \(12\)\. "
                         r"Received: y_true of length 2"),
])
def test_target_update_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TargetDistributionUpdate(np.zeros((12, 3)), **kwargs)


def test_target_update_needs_2d_x():
    with pytest.raises(ValueError, match=r"x must be an array .* Received: x of shape \(5,\)"):
        TargetDistributionUpdate(np.zeros(5))


@pytest.mark.parametrize("kwargs, match", [
    ({"tol": 1.0}, r"tol must be a finite number >= 0\.0 and < 1\.0\. Received: tol=1\.0"),
    ({"tol": -0.1}, r"tol .* Received: tol=-0\.1"),
    ({"tol": "0.1"}, r"tol .* Received: tol='0\.1'"),
    ({"patience": -1}, r"patience must be an int >= 0\. Received: patience=-1"),
])
def test_label_change_stopping_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LabelChangeStopping(**kwargs)
