"""Frozen sweep and trial specs, one declaration per setting, and their validation.

A `SweepSpec` is validated completely before anything is written or any Ray process starts, so
a user's mistake costs one line on the terminal and nothing in the store.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

from harness.config.replicates import SEED_MAX, SEED_STEP, max_base_seed
from harness.config.settings import declared, number_problem, setting
from harness.config.trial_config import SharedSettings, TrialConfig
from harness.environment import cpu_flags, cpu_model
from harness.errors import HarnessError, lookup

if sys.version_info >= (3, 11):
    pass
else:  # Python 3.10
    pass


def _lr_range(text: str) -> tuple[float, float]:
    """`--lr-range 1e-4:1e-1` -> (0.0001, 0.1)."""
    low, sep, high = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW:HIGH, e.g. 1e-4:1e-1")
    return float(low), float(high)


SEARCHES = ("grid", "random", "optuna")  # Ray Tune: grid/random variants, or its Optuna searcher
SCHEDULERS = ("fifo", "asha")  # run every trial to the end, or stop weak ones early (ASHA)
# auto: bf16 on GPUs with native bf16, else fp16 with loss scaling; on the CPU bf16 with AMX or where
# AVX512-BF16 measures faster, else fp32 (harness/engine/device.py, which holds what each one means;
# config stays torch-free)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Every sweep setting is declared once, below: its field (type, default, unit) and its Setting
# (help text, --help section). The flag, the sweep-file key, the command line's mapping and the
# trial config are derived from it (harness/config/settings.py, harness/sweeps/plan.py). README "Development"
# walks through adding one.


@dataclass(frozen=True, kw_only=True)
class TrialSettings:
    """The settings every trial of a sweep gets as they are (each trial's config holds them)."""

    task: str = setting(
        "digits",
        help="task to train on: a built-in one (see `harness data`), folder:PATH (one sub-folder of images"
        " per class) or hf:PATH|NAME (a Hugging Face dataset; pip install 'harness[hf]')",
        group="what to train",
        path="task",
    )
    epochs: int = setting(
        10, help="epochs per trial (full passes over the training split), >= 1", group="what to train", reproduce=True
    )
    steps_per_epoch: int | None = setting(
        None,
        help="optimizer steps per epoch, the batches drawn from shuffled passes that run on across epochs"
        " (Keras's steps_per_epoch, as itesm2022's model 1 trained), >= 1",
        group="what to train",
        metavar="N",
        default_text="one pass over the training split",
    )
    data_dir: str | None = setting(
        None,
        help="data root",
        group="data",
        metavar="DIR",
        path="dir",
        reproduce=True,
        default_text="$HARNESS_DATA_DIR or ~/.cache/harness/data",
    )
    variant: str | None = setting(
        None,
        help="the task's split recipe, e.g. cifar10: report | full; cats_vs_dogs: A | B; folder: and hf:"
        " tasks: train,val,test fractions for the splits the data does not come with",
        group="data",
        alias="--split",
        default_text="the task's own; 0.8,0.1,0.1 for folder: and hf:",
    )
    image_size: int | None = setting(
        None,
        help="photo sets: resize images to PX x PX",
        group="data",
        metavar="PX",
        default_text="cats_vs_dogs 128, pokemon150 224, folder: and hf: 64",
    )
    augment: str | None = setting(
        None,
        help="batch augmentation preset: none, flip_crop, uni2022, itesm2022, pokemon, cifar, airbench",
        group="data",
        default_text="the task's reports'; flip_crop for folder: and hf:",
    )
    pixels: str | None = setting(
        None,
        help="input scaling: standard (the task's mean/std), unit (x/255) or raw (0..255)",
        group="data",
        default_text="standard",
    )
    train_limit: int | None = setting(
        None,
        help="train on a seeded random subset of N training images, for quick checks",
        group="data",
        metavar="N",
        reproduce=True,
    )
    eval_limit: int | None = setting(
        None,
        help="validate each epoch on a seeded random subset of N validation images, for quick checks"
        " (the test split is always scored whole)",
        group="data",
        metavar="N",
        reproduce=True,
    )
    framework: str = setting(
        "pytorch",
        help="framework defaults to train under: pytorch, or keras (glorot_uniform kernels, zero biases,"
        " Adam epsilon 1e-7), as the Keras reports trained",
        group="what to train",
    )
    pretrained: bool | None = setting(
        None,
        help="start timm: and torchvision: networks from their library's published weights (downloaded once, online)",
        group="what to train",
    )
    init: str | None = setting(
        None,
        help="fine-tune from these weights: a trial id of the store (its best checkpoint, which the trials"
        " record), a state_dict .pt or a .safetensors file; a head of another shape is re-initialised",
        group="what to train",
        metavar="TRIAL_ID|FILE",
        path="file_or_name",
    )
    label_smoothing: float = setting(
        0.0,
        help="label smoothing of the training loss, 0 <= EPS < 1, for networks with a logits head (airbench: 0.2)",
        group="what to train",
        metavar="EPS",
    )
    lr_schedule: str = setting(
        "constant",
        help="the learning rate over training, set every step: constant, triangle (airbench94's: 0.2 -> 1 x"
        " --lr over the first 0.23 of the steps, then -> 0.07) or linear (1 -> 0)",
        group="what to train",
    )
    averaging: str = setting(
        "none",
        help="weight averaging: none, or lookahead (airbench94's: every 5 steps an EMA of the weights, its"
        " decay rising as progress**3, is copied back into them; each epoch ends on the average)",
        group="what to train",
    )
    tta: str = setting(
        "none",
        help="test-time augmentation in validation and test scoring: none, or flip (the mean of the logits of"
        " each image and its mirror; the test scores then also give acc_without_tta)",
        group="what to train",
    )
    precision: str = setting(
        "auto",
        help="auto (bf16 on GPUs with compute capability >= 8.0, fp16 with loss scaling on older ones;"
        " on the CPU bf16 with AMX, or with AVX512-BF16 where a probe of the network measures >= 1.2x"
        " float32, else fp32), fp32, bf16 (a GPU, or a CPU with AVX512-BF16 or AMX) or fp16 (a GPU);"
        " `reproduce` trains in fp32 unless told",
        group="where it runs",
        reproduce=True,
    )


@dataclass(frozen=True, kw_only=True)
class TrialSpec(TrialSettings):
    """One training run: what Ray Tune hands to a trial as its config. Besides the settings
    every trial shares, one value of each searched list (the `trial` key of its Setting)."""

    arch: str
    optimizer: str
    lr: float  # learning rate, > 0
    batch_size: int  # images per optimizer step
    weight_decay: float = 0.0
    seed: int  # seeds weights init and shuffling; the data split has its own fixed seed

    @classmethod
    def from_config(cls, config: TrialConfig) -> TrialSpec:
        """From a trial's config as Ray hands it (or a checkpoint keeps it); the keys the plan adds
        beside these fields (recipe, base_seed, replicate) are left out."""
        names = {f.name for f in fields(cls)}
        values: Mapping[str, Any] = config  # each value of the type its field declares (TrialConfig's keys)
        return cls(**{k: v for k, v in values.items() if k in names})

    def config(self) -> TrialConfig:
        """This trial's config, as a checkpoint keeps it: its fields, which TrialConfig names."""
        return cast(TrialConfig, asdict(self))


@dataclass(frozen=True, kw_only=True)
class SweepSpec(TrialSettings):
    """Architectures x optimizers x learning rates x batch sizes x weight decays x seeds for one task.

    `search="grid"` runs every combination (`num_samples` times); "random" and "optuna" draw
    `num_samples` trials from the same lists, with the learning rate log-uniform in `lr_range`
    when one is given.
    """

    archs: tuple[str, ...] = setting(
        ("mlp", "cnn_small"),
        trial="arch",
        group="what to train",
        path="arch",
        help="architectures: a registered one (see `harness archs`), timm:NAME, torchvision:NAME"
        " (`harness archs --source timm`) or FILE.py:FUNCTION, a function (in_shape, num_outputs) -> nn.Module",
    )
    optimizers: tuple[str, ...] = setting(
        ("momentum", "adam"),
        trial="optimizer",
        group="what to train",
        help="optimizers: sgd, momentum, nesterov, adam, adamw, rmsprop",
    )
    lrs: tuple[float, ...] = setting((0.003, 0.03), trial="lr", group="what to train", help="learning rates, > 0")
    batch_sizes: tuple[int, ...] = setting(
        (64,), trial="batch_size", group="what to train", help="batch sizes: images per optimizer step"
    )
    weight_decays: tuple[float, ...] = setting(
        (0.0,), trial="weight_decay", group="what to train", help="weight decays, >= 0"
    )
    seeds: tuple[int, ...] = setting(
        (0,), trial="seed", group="what to train", help="seeds for weights and shuffling; the split has its own"
    )
    plugins: tuple[str, ...] = setting(
        (),
        group="what to train",
        flag="--plugin",
        metavar="FILE_OR_MODULE",
        path="file_or_name",
        help="import this Python file or module first: its register_arch / register_task calls add"
        " networks and tasks (also $HARNESS_PLUGINS and installed `harness.plugins` entry points)",
    )
    search: str = setting("grid", group="how to search", help="grid (every combination), random or optuna")
    num_samples: int = setting(
        1, group="how to search", help="grid: repeats of the grid; random: trials drawn; optuna: configurations drawn"
    )
    repeats: int = setting(
        1,
        group="how to search",
        metavar="N",
        help="run every configuration (and seed) N times, with derived seeds; optuna is fed their mean; >= 1",
    )
    lr_range: tuple[float, float] | None = setting(
        None,
        group="how to search",
        metavar="LOW:HIGH",
        parse=_lr_range,
        help="random/optuna: learning rate log-uniform in it",
    )
    scheduler: str = setting(
        "fifo", group="how to search", help="fifo (every trial runs all epochs) or asha (stops weak trials early)"
    )
    max_concurrent: int | None = setting(
        None, group="how to search", help="at most this many trials at once", default_text="what the resources allow"
    )
    time_budget_s: float | None = setting(
        None,
        group="how to search",
        flag="--time-budget",
        metavar="SECONDS",
        help="stop the sweep after this many seconds",
    )
    cpus_per_trial: float | None = setting(
        None,
        group="where it runs",
        help="CPUs Ray reserves per trial",
        default_text="1 for CPU trials; for GPU trials, a GPU node's CPUs / the trials its GPUs hold",
    )
    gpus_per_trial: float | None = setting(
        None, group="where it runs", help="GPU share per trial", default_text="0.25 when the cluster has GPUs, else 0"
    )
    address: str | None = setting(
        None,
        group="where it runs",
        help="join an existing Ray cluster: auto, HOST:PORT or ray://HOST:PORT",
        default_text="start one",
    )
    storage: str | None = setting(
        None,
        group="where it runs",
        metavar="PATH|URI",
        path="storage",
        help="Ray's experiment storage, shared by all nodes",
        default_text="RESULTS/ray",
    )

    @property
    def seed(self) -> int:
        """The sweep's own seed (searchers draw from it): the first trial seed."""
        return self.seeds[0]

    def validate(self) -> SweepSpec:
        """Raise HarnessError naming the first bad value; return self when all is well."""
        from harness.architectures import check_fits, get_arch, load_user_code
        from harness.config.augments import get_augment_knobs
        from harness.config.frameworks import get_framework
        from harness.config.optimizers import get_optimizer
        from harness.datasets import get_task

        self._validate_integers()  # first: an image size of 2**70 must not reach a model builder
        load_user_code(self.archs, self.plugins)  # before any name is looked up
        task = get_task(self.task)
        request = task.request(self.variant, self.image_size)
        if self.data_dir is not None and not task.reads_data_dir:
            raise HarnessError(
                f"task {self.task!r} does not read --data-dir (its files are named by the task)",
                "drop --data-dir, or pass the folder as --task folder:PATH",
            )
        for arch in _non_empty("--arch", self.archs):
            spec = get_arch(arch)
            in_shape = task.shape(request.image_size)
            check_fits(arch, in_shape=in_shape, heads=task.heads, num_outputs=task.num_outputs(spec.head))
            if self.pretrained and not spec.pretrainable:
                raise HarnessError(
                    f"--pretrained: architecture {arch!r} has no published weights",
                    "use it with timm:NAME or torchvision:NAME networks only",
                )
        self._validate_init()
        if self.augment is not None:
            get_augment_knobs(self.augment)
        task.pixel_stats(self.pixels)
        get_framework(self.framework)
        self._validate_techniques()
        if self.train_limit is not None and self.train_limit < 1:
            raise HarnessError(f"train limit {self.train_limit} is below 1", "pass --train-limit >= 1")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise HarnessError(f"eval limit {self.eval_limit} is below 1", "pass --eval-limit >= 1")
        for name in _non_empty("--optimizer", self.optimizers):
            get_optimizer(name)
        for lr in _non_empty("--lr", self.lrs):
            if not 0 < lr < math.inf:  # also catches NaN
                raise HarnessError(
                    f"learning rate {lr} is not a positive finite number", "pass --lr > 0, e.g. --lr 0.01"
                )
        for bs in _non_empty("--batch-size", self.batch_sizes):
            if bs < 1:
                raise HarnessError(f"batch size {bs} is below 1", "pass --batch-size >= 1, e.g. 64")
        if self.epochs < 1:
            raise HarnessError(f"epochs {self.epochs} is below 1", "pass --epochs >= 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise HarnessError(
                f"steps per epoch {self.steps_per_epoch} is below 1", "pass --steps-per-epoch >= 1, or leave it out"
            )
        self._validate_seeds()
        for wd in _non_empty("--weight-decay", self.weight_decays):
            if not 0 <= wd < math.inf:
                raise HarnessError(
                    f"weight decay {wd} is not a finite number >= 0", "pass --weight-decay >= 0, e.g. 0.0005"
                )
        self._validate_search()
        if self.cpus_per_trial is not None and not 0 < self.cpus_per_trial < math.inf:
            raise HarnessError(
                f"--cpus-per-trial {self.cpus_per_trial} is not a positive number of CPUs",
                "pass --cpus-per-trial > 0, e.g. 1 (fractions such as 0.5 share a core)",
            )
        if self.gpus_per_trial is not None and not 0 <= self.gpus_per_trial < math.inf:
            raise HarnessError(
                f"--gpus-per-trial {self.gpus_per_trial} is not a GPU share >= 0",
                "pass --gpus-per-trial 0 (CPU only), a share such as 0.25, or whole GPUs",
            )
        self._validate_precision()
        return self

    def _validate_init(self) -> None:
        """A file must be there and be weights; a trial id is looked up on the driver (plan.resolved)."""
        if self.init is None or not self.init.startswith("/"):
            return
        from harness.paths import existing_file

        existing_file(self.init, what="--init file", hint="pass a .pt, .pth or .safetensors file, or a trial id")
        if not self.init.endswith((".pt", ".pth", ".safetensors")):
            raise HarnessError(
                f"--init file {self.init!r} is not .pt, .pth or .safetensors", "pass weights saved by torch"
            )

    def _validate_techniques(self) -> None:
        from harness.architectures import get_arch
        from harness.config.techniques import get_averaging, get_schedule, get_tta
        from harness.heads import Head

        get_schedule(self.lr_schedule)
        get_averaging(self.averaging)
        get_tta(self.tta)
        if not 0 <= self.label_smoothing < 1:  # also catches NaN
            raise HarnessError(
                f"label smoothing {self.label_smoothing} is not in [0, 1)", "pass --label-smoothing 0.2, or 0 for none"
            )
        if self.label_smoothing:
            for arch in self.archs:
                if get_arch(arch).head != Head.LOGITS:
                    raise HarnessError(
                        f"--label-smoothing: architecture {arch!r} has a {str(get_arch(arch).head)!r} head,"
                        " with no classes to smooth over",
                        "pass --label-smoothing 0 for it (smoothing needs a logits head)",
                    )

    def _validate_precision(self) -> None:
        lookup("precision", dict.fromkeys(PRECISIONS), self.precision)
        # Reduced precision the CPU lacks is refused, not emulated: with no GPU asked for, every
        # trial would fail, so say it now. With the default share, or on a cluster (whose nodes
        # may differ from this one), a trial that cannot have it refuses it itself
        # (harness/engine/device.py).
        if self.gpus_per_trial != 0:
            return
        if self.precision == "fp16":
            raise HarnessError(
                "--precision fp16 needs a GPU, but --gpus-per-trial is 0",
                "pass --precision bf16 (on CPUs with AVX512-BF16 or AMX), auto or fp32 for CPU trials",
            )
        if self.precision == "bf16" and self.address is None and not {"amx_bf16", "avx512_bf16"} & cpu_flags():
            raise HarnessError(
                f"--precision bf16 needs a CPU with AVX512-BF16 or AMX, but this one ({cpu_model()}) has neither",
                "pass --precision auto or fp32 for CPU trials, or give trials a GPU share",
            )

    def _validate_integers(self) -> None:
        """Every integer setting fits in 64 bits (a sweep file's or a flag's): past that, SQLite,
        torch and Ray overflow after the sweep has started."""
        for d in declared(type(self)):
            value = getattr(self, d.name)
            if d.item is int and value is not None:
                for v in value if isinstance(value, tuple) else (value,):
                    if problem := number_problem(v, integer=True):
                        raise HarnessError(f"{d.flag} {v} {problem}", f"pass {d.flag} within -2**63..2**63-1")

    def _validate_seeds(self) -> None:
        """Seeds are 0..2**63-1 less what --repeats adds: every derived seed fits torch's int64."""
        top = max_base_seed(max(self.repeats, 1))
        if top < 0:
            raise HarnessError(
                f"repeats {self.repeats} derives seeds past 2**63-1",
                f"pass --repeats <= {SEED_MAX // SEED_STEP + 1:,}",
            )
        for seed in _non_empty("--seed", self.seeds):
            if seed < 0:
                raise HarnessError(f"seed {seed} is negative", "pass --seed >= 0")
            if seed > top:
                with_repeats = f" with --repeats {self.repeats}" if self.repeats > 1 else ""
                raise HarnessError(
                    f"seed {seed} is above {top}, the largest seed{with_repeats}",
                    f"seeds are 0..2**63-1, less {SEED_STEP:,} per repeat after the first",
                )

    def _validate_search(self) -> None:
        lookup("search", dict.fromkeys(SEARCHES), self.search)
        lookup("scheduler", dict.fromkeys(SCHEDULERS), self.scheduler)
        if self.num_samples < 1:
            raise HarnessError(f"num_samples {self.num_samples} is below 1", "pass --num-samples >= 1")
        if self.repeats < 1:
            raise HarnessError(f"repeats {self.repeats} is below 1", "pass --repeats >= 1")
        # Ray Tune's Repeater feeds Optuna the mean of a configuration's replicates when the last
        # one ends; ASHA would stop some early and the mean would set short runs beside full ones.
        if self.search == "optuna" and self.scheduler == "asha" and self.replicates > 1:
            raise HarnessError(
                f"--search optuna ranks the mean over each configuration's {self.replicates} seeds,"
                " which --scheduler asha would cut short",
                "pass --scheduler fifo, or a single --seed without --repeats",
            )
        if self.lr_range is not None:
            low, high = self.lr_range
            if not 0 < low < high < math.inf:
                raise HarnessError(
                    f"learning-rate range {low}:{high} is not 0 < low < high", "e.g. --lr-range 1e-4:1e-1"
                )
            if self.search == "grid":
                raise HarnessError("--lr-range needs a search that samples", "add --search random or --search optuna")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise HarnessError(f"max concurrent trials {self.max_concurrent} is below 1", "pass --max-concurrent >= 1")
        if self.time_budget_s is not None and not math.isfinite(self.time_budget_s):  # 1e400 in a file is inf
            raise HarnessError(
                f"time budget {self.time_budget_s} s is not a finite number", "pass --time-budget > 0 seconds"
            )
        if self.time_budget_s is not None and not 0 < self.time_budget_s:
            raise HarnessError(f"time budget {self.time_budget_s} s is not positive", "pass --time-budget > 0 seconds")

    @property
    def replicates(self) -> int:
        """Trials per configuration: each seed (a grid's or Optuna's; a random draw picks one)
        times `repeats`. Optuna never tunes the seed: it sees a configuration's replicates as one."""
        return self.repeats * (1 if self.search == "random" else len(self.seeds))

    @property
    def num_trials(self) -> int:
        """Trials the sweep will run: the grid's size times num_samples, or num_samples draws,
        each configuration `replicates` times."""
        if self.search == "grid":
            configurations = math.prod(len(v) for k, v in self.searched().items() if k != "seed") * self.num_samples
        else:
            configurations = self.num_samples
        return configurations * self.replicates

    def searched(self) -> dict[str, tuple[Any, ...]]:
        """The lists trials are drawn from, by trial key: {"arch": self.archs, "lr": self.lrs, ...}."""
        return {d.setting.trial: getattr(self, d.name) for d in declared(SweepSpec) if d.setting.trial}

    def shared(self) -> SharedSettings:
        """The settings every trial gets as they are (TrialSettings' fields, which SharedSettings names)."""
        return cast(SharedSettings, {f.name: getattr(self, f.name) for f in fields(TrialSettings)})

    @classmethod
    def from_toml(cls, path: str, overrides: dict[str, Any]) -> SweepSpec:
        """A spec from a TOML file (keys: this class's fields), with command-line values on top.
        Relative paths in the file (data_dir, storage, a [task]'s path) are relative to its folder."""
        from harness.config.sweep_file import read_sweep_file

        merged = read_sweep_file(path, declared(cls), overrides)
        try:
            return cls(**merged)
        except TypeError as exc:
            raise HarnessError(f"sweep file {path!r}: {exc}", "see the README's sweep file example") from None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SweepSpec:
        """The spec a sweep recorded (lists back to tuples); keys it did not know get defaults."""
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}
        return cls(**{k: v for k, v in values.items() if k in names})


def reproduce_settings() -> tuple[str, ...]:
    """The settings `harness reproduce` takes, overriding every recipe (quick checks; marked)."""
    return tuple(d.name for d in declared(SweepSpec) if d.setting.reproduce)


def _non_empty(flag: str, values: tuple) -> tuple:
    if not values:
        raise HarnessError(f"{flag} was given no values", f"pass at least one value to {flag}")
    return values
