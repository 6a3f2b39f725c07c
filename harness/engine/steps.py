"""What happens around each optimizer step beyond the step itself: the learning rate the
schedule gives (harness.config.techniques.SCHEDULES) and the lookahead average of the weights
(AVERAGING). Pure: train_one_epoch calls `before` and `after` each step and `end_epoch` once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.config.techniques import Lookahead, LrSchedule


class LookaheadAverage:
    """airbench94's LookaheadState: an average of the floating-point entries of the state dict
    (weights and BatchNorm statistics), copied back into the model at each update."""

    def __init__(self, model: nn.Module, knobs: Lookahead) -> None:
        self.knobs = knobs
        self.average: dict[str, Tensor] | None = None  # taken at the first update: the weights then

    def update(self, model: nn.Module, decay: float) -> None:
        """average <- decay x average + (1 - decay) x weights; weights <- average."""
        state = model.state_dict()
        if self.average is None:
            self.average = {k: v.detach().clone() for k, v in state.items() if v.is_floating_point()}
            return
        with torch.no_grad():
            for key, mean in self.average.items():
                mean.lerp_(state[key], 1.0 - decay)
                state[key].copy_(mean)

    def decay(self, progress: float) -> float:
        return self.knobs.base**self.knobs.every * progress**self.knobs.power


class Steps:
    """Counts a trial's optimizer steps across epochs (from `done` on a resumed trial) out of
    `total`, sets each one's learning rate and keeps the lookahead average."""

    def __init__(
        self,
        *,
        optimizer: torch.optim.Optimizer,
        model: nn.Module,
        total: int,
        done: int = 0,
        schedule: LrSchedule | None = None,
        averaging: Lookahead | None = None,
    ) -> None:
        self.optimizer, self.model, self.total, self.done = optimizer, model, max(total, 1), done
        self.schedule = schedule
        self.average = LookaheadAverage(model, averaging) if averaging else None
        for group in optimizer.param_groups:
            # The base rate, kept in the group as torch's own schedulers keep it: a resumed
            # optimizer's state carries it back, where "lr" holds the last scheduled value.
            group.setdefault("initial_lr", group["lr"])

    @property
    def progress(self) -> float:
        return self.done / self.total

    def before(self) -> None:
        """Before optimizer.step(): the schedule's learning rate for this step."""
        if self.schedule is None:
            return
        factor = self.schedule.factor(self.progress)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def after(self) -> None:
        """After optimizer.step(): one step more; every `every` steps, the lookahead update."""
        self.done += 1
        if self.average and self.done % self.average.knobs.every == 0:
            self.average.update(self.model, self.average.decay(self.progress))

    def end_epoch(self) -> None:
        """The epoch's weights are the average (decay 1: the average unchanged, copied back)."""
        if self.average and self.average.average is not None:
            self.average.update(self.model, 1.0)
