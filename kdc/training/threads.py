"""Spreading TensorFlow's busy threads over the CPUs while kdc trains (Linux only).

On small virtual machines the Linux scheduler can leave TensorFlow's two
compute threads taking turns instead of running side by side: whole epochs
then run at the single-thread rate with one core idle, at random. Pinning the
threads, busiest first, round-robin to the CPUs the process may use keeps
them side by side (the measured effect is on the benchmark page of the
docs).

:class:`SpreadThreads` is a Keras callback that measures each thread's CPU
time over the first training batches, pins the threads in that order and
gives every thread back the CPUs it was allowed when training ends. Set the
environment variable ``KDC_PIN_THREADS=0`` to turn it off.
"""

import os

import keras

from kdc._env import switched_off

TASKS = "/proc/self/task"


def enabled():
    """Whether pinning applies here: Linux, two or more usable CPUs, not turned off."""
    if switched_off("KDC_PIN_THREADS"):
        return False
    if not (hasattr(os, "sched_getaffinity") and os.path.isdir(TASKS)):
        return False
    return len(os.sched_getaffinity(0)) >= 2


def thread_ids():
    """The ids of this process' threads."""
    try:
        return [int(t) for t in os.listdir(TASKS)]
    except OSError:
        return []


def cpu_ticks(tid):
    """User + system CPU time of thread ``tid`` in clock ticks (0 if it has ended)."""
    try:
        with open(f"{TASKS}/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _set_affinity(tid, cpus):
    try:
        os.sched_setaffinity(tid, cpus)
    except OSError:  # the thread ended, or a CPU set the system refuses
        pass


class SpreadThreads(keras.callbacks.Callback):
    """Pin the process' threads, busiest first, round-robin to its CPUs during ``fit``.

    Args:
        start: the training step after which CPU times are first read.
        window: steps over which they are measured before pinning.

    Steps are counted from the batch numbers Keras passes, so a model compiled
    with ``steps_per_execution`` > 1 (several steps per call, one callback per
    call) reads CPU times from the start of its second call and pins at the
    end of the first call that completes the window.
    """

    def __init__(self, start=2, window=10):
        super().__init__()
        self.start, self.window = start, window
        self._allowed = self._ticks = None
        self.pinned = 0

    def on_train_begin(self, logs=None):
        self._allowed = sorted(os.sched_getaffinity(0)) if enabled() else None
        self._ticks, self.pinned = None, 0
        self._steps = self._measured_from = 0
        self._last_batch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self._last_batch = -1

    def on_train_batch_begin(self, batch, logs=None):
        if self._allowed is not None and self._ticks is None and self._steps >= self.start:
            self._ticks = {t: cpu_ticks(t) for t in thread_ids()}
            self._measured_from = self._steps

    def on_train_batch_end(self, batch, logs=None):
        self._steps += batch - self._last_batch  # a call may have run several steps
        self._last_batch = batch
        if (self._allowed is None or self._ticks is None or self.pinned
                or self._steps < self._measured_from + self.window):
            return
        used = {t: cpu_ticks(t) - self._ticks.get(t, 0) for t in thread_ids()}
        order = sorted(used, key=lambda t: (-used[t], t))
        for i, tid in enumerate(order):
            _set_affinity(tid, {self._allowed[i % len(self._allowed)]})
        self.pinned = len(order)

    def on_train_end(self, logs=None):
        if self._allowed is not None and self.pinned:
            for tid in thread_ids():  # threads started meanwhile inherited one CPU too
                _set_affinity(tid, set(self._allowed))
        self.pinned = 0
