"""Tests of kdc.training.engine's progress display: one per training phase (PhaseProgress)."""

import keras
import numpy as np
import pytest

from kdc import AEKMeans
from kdc.training.engine import PhaseProgress
from tests.conftest import TINY, make_blobs


def tiny_fit(progress, epochs, stop_after=None):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    callbacks = [progress]
    if stop_after is not None:
        def stop(epoch, logs):
            model.stop_training = epoch + 1 >= stop_after
        callbacks.insert(0, keras.callbacks.LambdaCallback(on_epoch_end=stop))
    x = np.ones((8, 4), "float32")
    model.fit(x, np.zeros((8, 2), "float32"), epochs=epochs, batch_size=4, verbose=0,
              callbacks=callbacks)


def test_on_a_terminal_one_keras_progress_bar_for_the_whole_phase(capsys):
    tiny_fit(PhaseProgress("pretrain", 3, terminal=True), epochs=3)
    out = capsys.readouterr().out
    assert "Epoch" not in out
    assert out.count("\n") == 1 and out.endswith("\n")  # redrawn in place, one line in the end
    final = out.rsplit("\r", 1)[-1]
    assert "3/3" in final and "/epoch" in final and "loss: " in final


def test_a_bar_stopped_early_still_ends_its_line(capsys):
    tiny_fit(PhaseProgress("pretrain", 5, terminal=True), epochs=5, stop_after=2)
    out = capsys.readouterr().out
    assert out.endswith("\n") and "2/5" in out.rsplit("\r", 1)[-1]


def test_in_a_file_a_line_at_most_every_interval_and_none_for_the_last_epoch(capsys):
    tiny_fit(PhaseProgress("pretrain", 4, terminal=False, interval=0.0), epochs=4)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        f"[kdc] pretrain: epoch {i}/4" for i in (1, 2, 3)]
    assert all(" loss " in line and line.endswith(" s") for line in lines)
    tiny_fit(PhaseProgress("pretrain", 4, terminal=False), epochs=4)  # shorter than 10 s
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("verbose", [1, 2])
def test_pretraining_shows_kdcs_bar_at_verbose_1_and_keras_epochs_at_2(verbose, capsys):
    x, _ = make_blobs()
    AEKMeans(3, **{**TINY, "pretrain_epochs": 2, "verbose": verbose}).fit(x)
    out = capsys.readouterr().out
    assert "[kdc] pretraining done in" in out
    if verbose == 1:  # no line pair per epoch (the bar would show on a terminal)
        assert "Epoch 1/2" not in out and "Epoch 2/2" not in out
    else:  # Keras' own output per epoch
        assert "Epoch 1/2" in out and "Epoch 2/2" in out
