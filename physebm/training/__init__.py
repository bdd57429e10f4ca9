"""Training: a pure update [`make_step`][] and the [`fit`][] driver on top of it.

- `physebm.training.step`: ``make_step(objective, optimizer) -> Trainer(init, step)``,
  one update ``step(state, batch, key) -> (state, StepInfo)``, pure and jittable;
- `physebm.training.loop`: ``fit``, which draws the minibatches and PRNG keys, runs the
  steps in compiled chunks, and adds the progress bar, the NaN guard and the checkpoints;
- `physebm.training.checkpoint`: what the loop carries, saved and restored bit for bit.
"""

from physebm.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointWarning,
    load_checkpoint,
    save_checkpoint,
)
from physebm.training.loop import FitResult, NonFiniteLossWarning, fit
from physebm.training.step import StepInfo, Trainer, TrainState, make_step

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointWarning",
    "FitResult",
    "NonFiniteLossWarning",
    "StepInfo",
    "TrainState",
    "Trainer",
    "fit",
    "load_checkpoint",
    "make_step",
    "save_checkpoint",
]
