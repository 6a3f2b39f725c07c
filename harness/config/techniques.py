"""The training techniques a sweep names beyond optimizer and augmentation (airbench's: a
learning-rate schedule, a lookahead average of the weights, test-time augmentation), as data,
torch-free, so a sweep's settings are checked without the engine. harness.engine.steps and
harness.engine.train apply them. Adding one is adding a row, never a branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import lookup


@dataclass(frozen=True)
class LrSchedule:
    """The learning rate as a piecewise-linear multiple of `--lr` over training progress (0 at
    the first step, 1 after the last), set before every optimizer step."""

    knots: tuple[tuple[float, float], ...]  # (progress, factor) pairs, progress ascending from 0 to 1
    description: str = ""

    @property
    def constant(self) -> bool:
        """--lr at every step: nothing to set (fit leaves the optimizer's rate alone)."""
        return all(factor == 1.0 for _, factor in self.knots)

    def factor(self, progress: float) -> float:
        """The multiple of the base learning rate at `progress` (clamped to 0..1)."""
        p = min(max(progress, 0.0), 1.0)
        for (x0, y0), (x1, y1) in zip(self.knots, self.knots[1:]):
            if p <= x1:
                return y0 + (y1 - y0) * (p - x0) / (x1 - x0) if x1 > x0 else y1
        return self.knots[-1][1]


SCHEDULES: dict[str, LrSchedule] = {
    "constant": LrSchedule(((0.0, 1.0), (1.0, 1.0)), "--lr at every step"),
    # airbench94's triangle: 0.2 x lr rising to lr at 23% of the steps, then falling to 0.07 x lr
    "triangle": LrSchedule(((0.0, 0.2), (0.23, 1.0), (1.0, 0.07)), "0.2 -> 1 x lr over 23% of the steps, -> 0.07"),
    # one warm-up-free linear decay to zero, the simplest schedule that anneals
    "linear": LrSchedule(((0.0, 1.0), (1.0, 0.0)), "1 -> 0 x lr, linearly"),
}


@dataclass(frozen=True)
class Lookahead:
    """airbench94's weight averaging: every `every` steps an exponential moving average of the
    weights takes in the current ones with decay `base ** every * progress ** power` (no
    averaging at first, strong at the end), and the weights are set to that average (as the
    Lookahead optimizer does); at each epoch's end the weights are the average."""

    every: int  # optimizer steps between updates
    base: float  # per-step decay the schedule rises to at the end of training
    power: float  # how late the averaging sets in: decay grows as progress ** power


AVERAGING: dict[str, Lookahead | None] = {
    "none": None,
    "lookahead": Lookahead(every=5, base=0.95, power=3.0),  # airbench94's constants
}

# Test-time augmentation: the views of each image whose logits are averaged in evaluation
# (validation and test). harness.engine.train holds the functions each name stands for.
TTA: dict[str, tuple[str, ...]] = {
    "none": ("identity",),
    "flip": ("identity", "hflip"),  # airbench's level 1: the image and its mirror
}


def get_schedule(name: str) -> LrSchedule:
    return lookup("learning-rate schedule", SCHEDULES, name)


def get_averaging(name: str) -> Lookahead | None:
    return lookup("weight averaging", AVERAGING, name)


def get_tta(name: str) -> tuple[str, ...]:
    return lookup("test-time augmentation", TTA, name)
