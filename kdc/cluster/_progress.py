"""Progress of DEC/IDEC self-training inside Keras' ``fit`` (private)."""

import math

import keras


class SelfTrainingProgress(keras.callbacks.Callback):
    """Stops training after ``max_iter`` steps; logs a line per target update."""

    def __init__(self, update, max_iter, log):
        super().__init__()
        self.update, self.max_iter, self.log = update, max_iter, log

    def on_train_begin(self, logs=None):
        self.steps, self._shown = 0, 0
        self._show()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self._show()
        if self.steps >= self.max_iter:
            self.model.stop_training = True

    def _show(self):
        h = self.update.history
        if len(h["step"]) == self._shown:
            return
        self._shown = len(h["step"])
        change = h["label_change"][-1]
        line = f"step {h['step'][-1]}/{self.max_iter}: " + (
            "k-means start" if math.isnan(change) else
            f"loss {h['loss'][-1]:.4g}, label change {change:.2%}")
        if "acc" in h:
            line += f", acc {h['acc'][-1]:.4f}, nmi {h['nmi'][-1]:.4f}"
        self.log(line)
