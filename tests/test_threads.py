"""SpreadThreads: pins the busiest threads to distinct CPUs during fit, then restores them."""

import os

import keras
import numpy as np
import pytest

from kdc.training import threads as _threads

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "sched_getaffinity") and os.path.isdir(_threads.TASKS)
         and len(os.sched_getaffinity(0)) >= 2),
    reason="thread pinning needs Linux and at least 2 usable CPUs")


class _Probe(keras.callbacks.Callback):
    """Records every thread's CPU set at the end of each batch."""

    def __init__(self):
        super().__init__()
        self.masks = []

    def on_train_batch_end(self, batch, logs=None):
        self.masks.append(_masks())


def _masks():
    """Each live thread's CPU set (a thread may end between listing it and reading it)."""
    masks = {}
    for tid in _threads.thread_ids():
        try:
            masks[tid] = os.sched_getaffinity(tid)
        except ProcessLookupError:
            pass
    return masks


def _fit(callbacks, batches=8):
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32), keras.layers.Dense(16)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(batches * 8, 16)).astype("float32")
    model.fit(x, x, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)


def test_threads_are_spread_while_training_and_restored_after(monkeypatch):
    monkeypatch.delenv("KDC_PIN_THREADS", raising=False)
    allowed = os.sched_getaffinity(0)
    spread, probe = _threads.SpreadThreads(start=1, window=2), _Probe()
    _fit([spread, probe])
    before, after = probe.masks[1], probe.masks[-1]  # before pinning, after it
    assert all(mask == allowed for mask in before.values())
    pinned = [mask for mask in after.values() if len(mask) == 1]
    assert len(pinned) >= 2 and len({next(iter(m)) for m in pinned}) == min(len(allowed), len(pinned))
    assert all(mask <= allowed for mask in after.values())
    assert spread.pinned == 0  # reset at the end of training
    assert all(mask == allowed for mask in _masks().values())


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("KDC_PIN_THREADS", "0")
    assert not _threads.enabled()
    probe = _Probe()
    _fit([_threads.SpreadThreads(start=1, window=2), probe])
    allowed = os.sched_getaffinity(0)
    assert all(mask == allowed for masks in probe.masks for mask in masks.values())


def test_cpu_ticks_of_an_ended_thread_is_zero():
    assert _threads.cpu_ticks(2**31 - 1) == 0
    assert _threads.cpu_ticks(_threads.thread_ids()[0]) >= 0


def test_steps_are_counted_when_each_call_runs_several(monkeypatch):
    monkeypatch.delenv("KDC_PIN_THREADS", raising=False)
    allowed = os.sched_getaffinity(0)
    spread, probe = _threads.SpreadThreads(start=1, window=2), _Probe()
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32), keras.layers.Dense(16)])
    model.compile(optimizer="adam", loss="mse", steps_per_execution=4)
    x = np.random.default_rng(0).normal(size=(16 * 8, 16)).astype("float32")
    model.fit(x, x, batch_size=8, epochs=2, verbose=0, callbacks=[spread, probe])
    # one callback per call of 4 steps: CPU times are read from the start of the
    # second call (step 4 >= start) and the threads pinned at its end (step 8 >= 4 + 2)
    assert len(probe.masks) == 8
    assert all(mask == allowed for mask in probe.masks[0].values())
    assert len([m for m in probe.masks[1].values() if len(m) == 1]) >= 2
    assert spread._steps == 32  # 2 epochs of 16 steps, counted across the epoch boundary
    assert all(mask == allowed for mask in _masks().values())


def test_estimators_pin_threads_only_when_asked():
    from kdc import AEKMeans
    from tests.conftest import TINY, make_blobs

    x, _ = make_blobs(n_samples=64)
    allowed = os.sched_getaffinity(0)
    for pin in (False, True):
        probe = _Probe()
        est = AEKMeans(3, n_init=1, callbacks=[probe], pin_threads=pin,
                       **{**TINY, "pretrain_epochs": 12}).fit(x)
        assert est.training_plan_["pretrain"]["pin_threads"] is pin
        masks = [m for masks in probe.masks for m in masks.values()]
        assert any(len(m) == 1 for m in masks) is pin  # pinned (after its window) only if asked
        assert all(mask == allowed for mask in _masks().values())
