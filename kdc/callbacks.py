"""Callbacks for DEC-style self-training with ``model.fit``.

:class:`TargetDistributionUpdate` recomputes the target distribution P over
the whole data set every ``update_interval`` batches and stores it in the
model (``model.set_target``), so that ``fit(x, np.arange(len(x)))`` trains on
the current P of each sample. :class:`LabelChangeStopping` ends training when
the hard labels stop changing between two updates (the DEC criterion).
"""

import math
import warnings

import keras
import numpy as np

from kdc._keras_utils import call_in_chunks
from kdc._validation import check_float, check_int
from kdc.losses import target_distribution
from kdc.metrics import cluster_accuracy, nmi


class TargetDistributionUpdate(keras.callbacks.Callback):
    """Recompute DEC's target distribution P over the whole data set.

    At the start of training and then every ``update_interval`` training
    batches, runs one ``model.predict`` pass over all of ``x``, computes
    ``P = kdc.losses.target_distribution(Q)`` (cluster frequencies summed over
    the whole data set, not a batch) and stores it with
    ``model.set_target(P)``. Train with the sample indices as ``y``, so that
    each batch is matched with its rows of P whatever the shuffling::

        model.fit(x, np.arange(len(x)), shuffle=True,
                  callbacks=[TargetDistributionUpdate(x), LabelChangeStopping()])

    Each update records, in ``self.history`` (a dict of lists): ``"step"``
    (training batches seen in this ``fit``), ``"label_change"`` (fraction of
    hard labels ``argmax q`` changed since the previous update; NaN at the
    first), ``"loss"`` and any other ``"*loss"`` entry of the logs (such as
    IDEC's ``"reconstruction_loss"``): the mean over the training batches
    since the previous update (NaN at the first), and, with ``y_true``,
    ``"acc"`` (:func:`kdc.metrics.cluster_accuracy`) and ``"nmi"``
    (:func:`kdc.metrics.nmi`). After an update inside an epoch it also writes
    ``"label_change"`` into the batch logs, where callbacks placed after it
    (such as :class:`LabelChangeStopping`) read it.

    Args:
        x: array of shape (n_samples, ...), the whole training input, in the
            same order as the indices passed as ``y``; or, for data larger
            than memory, a ``tf.data.Dataset`` yielding batches of that input
            in that order (the same order on every pass), over which each
            update makes one streaming ``model.predict`` pass (only Q, of
            shape (n_samples, n_clusters), is kept).
        update_interval: int >= 1, training batches between updates.
        batch_size: int >= 1, batch size of the prediction pass.
        verbose: 0 (silent) or 1 (a line per update).
        y_true: optional array of shape (n_samples,) of reference labels for
            monitoring only.

    Raises:
        ValueError: for an invalid argument; at train begin, if the model has
            no ``set_target`` (it is not a kdc DEC or IDEC).
    """

    def __init__(self, x, update_interval=140, batch_size=256, verbose=0, y_true=None):
        super().__init__()
        if not _is_dataset(x) and (not hasattr(x, "shape") or len(x.shape) < 2):
            received = (f"x of shape {tuple(x.shape)}" if hasattr(x, "shape")
                        else f"x of type {type(x).__name__}")
            raise ValueError(
                "x must be an array (numpy or tensor) of shape (n_samples, ...) with at "
                f"least 2 dimensions, or a tf.data.Dataset of its batches. Received: {received}")
        self.x = x
        n_samples = None if _is_dataset(x) else len(x)
        self.update_interval = check_int(update_interval, "update_interval", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.verbose = check_int(verbose, "verbose", minimum=0)
        if y_true is not None:
            y_true = np.asarray(y_true).ravel()
            _check_y_true(y_true, n_samples)
        self.y_true = y_true
        self.labels = None
        self.history = {}

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, "set_target"):
            raise ValueError(
                "TargetDistributionUpdate needs a kdc DEC or IDEC model (with set_target). "
                f"Received: model of type {type(self.model).__name__}")
        self.labels = None
        self.history = {"step": [], "label_change": [], "loss": []}
        if self.y_true is not None:
            self.history.update(acc=[], nmi=[])
        self._steps_done = 0
        self._epoch_start = 0
        self._next_update = self.update_interval
        # Loss bookkeeping: sums of the batch losses of the finished epochs and
        # of the current one, and both totals at the previous update.
        self._loss_sums, self._epoch_loss_sums = {}, {}
        self._last_loss_sums, self._last_step = {}, 0
        self.update(step=0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._steps_done
        for name, value in self._epoch_loss_sums.items():
            self._loss_sums[name] = self._loss_sums.get(name, 0.0) + value
        self._epoch_loss_sums = {}

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last batch index of this epoch processed so far
        # (steps_per_execution may run several batches per call).
        self._steps_done = self._epoch_start + batch + 1
        for name, value in (logs or {}).items():
            if name.endswith("loss"):  # Keras logs the running mean over the epoch
                self._epoch_loss_sums[name] = float(value) * (batch + 1)
        if self._steps_done >= self._next_update:
            change = self.update(step=self._steps_done)
            self._next_update = (self._steps_done // self.update_interval + 1) * \
                self.update_interval
            if logs is not None:
                logs["label_change"] = change

    def update(self, step):
        """Recompute P over all of ``x``, store it in the model, record the change.

        Returns:
            The fraction of labels changed since the previous update (NaN at the first).
        """
        if _is_dataset(self.x):  # already batched
            with warnings.catch_warnings():  # the end of a dataset of unknown length
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                q = np.asarray(self.model.predict(self.x, verbose=0), dtype="float32")
        else:
            # Direct calls, not Model.predict: each predict builds a tf.data
            # iterator whose end can wait for tf.data's autotuning thread,
            # and DEC recomputes P every update_interval steps.
            q = call_in_chunks(self.model, self.x, self.batch_size)
        if self.y_true is not None:
            _check_y_true(self.y_true, len(q))
        self.model.set_target(target_distribution(q))
        labels = q.argmax(axis=1)
        change = float("nan") if self.labels is None else float(np.mean(labels != self.labels))
        self.labels = labels
        self.history["step"].append(step)
        self.history["label_change"].append(change)
        self._record_losses()
        shown = "n/a" if math.isnan(change) else f"{change:.4%}"
        line = f"Target update at step {step}: label change {shown}"
        if not math.isnan(self.history["loss"][-1]):
            line += f", loss {self.history['loss'][-1]:.4g}"
        if self.y_true is not None:
            acc = cluster_accuracy(self.y_true, labels)
            nmi_ = nmi(self.y_true, labels)
            self.history["acc"].append(acc)
            self.history["nmi"].append(nmi_)
            line += f", acc {acc:.4f}, nmi {nmi_:.4f}"
        if self.verbose:
            print(line)
        return change

    def _record_losses(self):
        """Append the mean of each loss over the batches since the previous update."""
        sums = {n: self._loss_sums.get(n, 0.0) + self._epoch_loss_sums.get(n, 0.0)
                for n in {*self._loss_sums, *self._epoch_loss_sums}}
        steps = self._steps_done - self._last_step
        n_before = len(self.history["step"]) - 1
        for name in sorted({*sums, "loss"}):
            values = self.history.setdefault(name, [math.nan] * n_before)
            values.append((sums.get(name, 0.0) - self._last_loss_sums.get(name, 0.0)) / steps
                          if steps > 0 and name in sums else math.nan)
        self._last_loss_sums, self._last_step = sums, self._steps_done


def _is_dataset(x):
    import sys

    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.data.Dataset)


def _check_y_true(y_true, n_samples):
    if n_samples is not None and len(y_true) != n_samples:
        raise ValueError(
            f"y_true must have one label per sample of x ({n_samples}). "
            f"Received: y_true of length {len(y_true)}")


class LabelChangeStopping(keras.callbacks.Callback):
    """Stop training when fewer than ``tol`` of the labels change between updates.

    The stopping rule of DEC: at each target update, if the fraction of
    samples whose hard label changed since the previous update is below
    ``tol`` (for ``patience + 1`` consecutive updates), set
    ``model.stop_training``. The fraction is read from the ``"label_change"``
    entry that :class:`TargetDistributionUpdate` writes into the batch logs,
    so list this callback *after* it.

    Args:
        tol: float in [0, 1); 0 never stops.
        patience: int >= 0, further updates below ``tol`` to wait for.
        verbose: 0 (silent) or 1 (a line when stopping).

    Attributes:
        stopped_step: training batch of this ``fit`` at which it stopped
            training, or None.
    """

    def __init__(self, tol=0.001, patience=0, verbose=0):
        super().__init__()
        self.tol = check_float(tol, "tol", minimum=0.0, maximum=1.0, exclusive_max=True)
        self.patience = check_int(patience, "patience", minimum=0)
        self.verbose = check_int(verbose, "verbose", minimum=0)
        self.stopped_step = None

    def on_train_begin(self, logs=None):
        self.stopped_step = None
        self._wait = 0
        self._seen = False
        self._steps_done = 0
        self._epoch_start = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._steps_done

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done = self._epoch_start + batch + 1
        change = (logs or {}).get("label_change")
        if change is None or math.isnan(change):
            return
        self._seen = True
        if change < self.tol:
            self._wait += 1
            if self._wait > self.patience:
                self.model.stop_training = True
                self.stopped_step = self._steps_done
                if self.verbose:
                    print(f"Label change {change:.4%} < tol {self.tol:.4%}: "
                          f"stopping at step {self._steps_done}.")
        else:
            self._wait = 0

    def on_train_end(self, logs=None):
        if not self._seen:
            warnings.warn(
                "LabelChangeStopping saw no 'label_change' in the batch logs: list it after "
                "kdc.callbacks.TargetDistributionUpdate in callbacks, with an "
                "update_interval shorter than the training run.", stacklevel=2)
