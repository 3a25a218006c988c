"""kdc's training engine: one place decides how every training phase runs.

- :mod:`kdc.training.plan`: the rules that turn an estimator's public
  parameters into a :class:`PhasePlan` (epochs, dtype policy, XLA, steps per
  call, learning-rate schedule, image shifts, thread pinning);
- :mod:`kdc.training.engine`: runs a phase by its plan with Keras' own ``fit``;
- :mod:`kdc.training.data`: every kind of input (array, memmap, ``.npy``
  path, ``tf.data.Dataset``) behind one interface;
- :mod:`kdc.training.precision`, :mod:`kdc.training.augment`,
  :mod:`kdc.training.optimizers`, :mod:`kdc.training.distribute`,
  :mod:`kdc.training.threads`, :mod:`kdc.training.scaling`: the parts.

Estimators in :mod:`kdc.cluster` use this package and never decide any of
these themselves. Public names: :class:`PhasePlan`, :class:`FusedAdam` (the
optimizer of ``optimizer="adam"``), :class:`ConstantThenLinearDecay`,
:class:`ReconstructionTrainer`, :class:`SpreadThreads`.
"""

from kdc.training.augment import ReconstructionTrainer
from kdc.training.optimizers import ConstantThenLinearDecay, FusedAdam
from kdc.training.plan import PhasePlan
from kdc.training.threads import SpreadThreads

__all__ = ["ConstantThenLinearDecay", "FusedAdam", "PhasePlan", "ReconstructionTrainer",
           "SpreadThreads"]
