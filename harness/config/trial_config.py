"""A trial's config as a dict: what the plan puts into Ray Tune's space, what Ray hands the
trainable and the driver's callback, and what the store keeps as `config_json`.

The keys are `TrialSpec`'s fields (harness/config/spec.py declares them, with their units), plus
what the plan adds beside them. A test holds the two lists equal, so a new setting is declared
in spec.py and named here.
"""

from __future__ import annotations

from typing import TypedDict


class SharedSettings(TypedDict):
    """`TrialSettings`' fields: what every trial of a sweep gets as it is (SweepSpec.shared)."""

    task: str
    epochs: int
    steps_per_epoch: int | None
    data_dir: str | None
    variant: str | None
    image_size: int | None
    augment: str | None
    pixels: str | None
    train_limit: int | None
    eval_limit: int | None
    framework: str
    pretrained: bool | None
    init: str | None  # a weights file: a trial id given to --init is its checkpoint's path here
    label_smoothing: float
    lr_schedule: str
    averaging: str
    tta: str
    precision: str


class _Searched(SharedSettings):
    """`TrialSpec`'s own fields: one value of each searched list."""

    arch: str
    optimizer: str
    lr: float
    batch_size: int
    weight_decay: float
    seed: int


class TrialConfig(_Searched, total=False):
    """A trial's whole config. The keys below are the plan's, beside the trial's settings, and
    only some trials have them; `TrialSpec.from_config` leaves them out."""

    recipe: str  # `harness reproduce`: the report's label of the recipe this trial runs
    base_seed: int  # `--repeats`: the configuration's seed, which `seed` is derived from
    replicate: int  # `--repeats`: the replicate index 0, 1, ... (harness.config.replicates)
