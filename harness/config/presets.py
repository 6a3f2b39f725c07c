"""One preset per report: its published runs as trials (recipes), and a search space around them;
and speed presets (SPEEDRUNS), one trial each, that chase a report's figure in less training time.

A recipe is the report's own configuration (architecture, optimizer, learning rate, batch,
epochs, augmentation, split, image size, input scaling) with the figure it published. A preset
sweep starts with the recipe (the first value of every list is the report's) and surrounds
it with the other networks and modern baselines that fit, other optimizers and learning rates.
Where a report leaves a choice open, the value is REPORTS.md's **(chosen)** one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from harness.config.spec import SweepSpec
from harness.errors import lookup

REPORT_PRECISION = "fp32"  # what the reports trained in (Keras and PyTorch defaults on Colab GPUs)

# What a report measured -> the harness score that measures the same thing on our side.
SCORES = {
    "test accuracy": "test_acc",  # the best checkpoint on the test split
    "validation accuracy": "val_acc",
    "Keras binary accuracy (val_keras_acc)": "val_keras_acc",
}


@dataclass(frozen=True)
class Recipe:
    label: str  # how the report names the run
    spec: SweepSpec  # this one trial: every list holds one value
    published: float | None  # the figure the report printed, as a fraction (harness.report.published's headline)
    measure: str  # what that figure is: "test accuracy", "validation accuracy", ...
    notes: str = ""  # where the report measured differently from the harness (which always evaluates clean)
    published_about: bool = False  # the report gives `published` as approximate (uni2022-pokemon's "50%")

    @property
    def score(self) -> str:
        """Our score for what the report measured: "test_acc", "val_acc" or "val_keras_acc"."""
        return SCORES[self.measure]


@dataclass(frozen=True)
class Preset:
    report: str
    recipes: tuple[Recipe, ...]
    baselines: tuple[str, ...] = ()  # modern networks added to the search around the recipes
    optimizers: tuple[str, ...] = ("adam", "momentum")  # after the recipe's own
    lr_factors: tuple[float, ...] = (1 / 3, 3.0)  # learning rates around the recipe's


def _recipe(
    label: str,
    base: SweepSpec,
    arch: str,
    published: float | None,
    measure: str,
    notes: str = "",
    *,
    published_about: bool = False,
    **changes: Any,
) -> Recipe:
    return Recipe(label, replace(base, archs=(arch,), **changes), published, measure, notes, published_about)


UNI_CATS = SweepSpec(
    task="cats_vs_dogs",
    variant="A",
    image_size=128,
    optimizers=("sgd",),
    lrs=(0.1,),
    batch_sizes=(128,),
    epochs=20,
    augment="uni2022",
    pixels="unit",
)
UCHILE = SweepSpec(
    task="cifar10",
    variant="report",
    optimizers=("adam",),
    lrs=(0.001,),
    batch_sizes=(32,),
    epochs=20,
    augment="none",
    pixels="raw",
)
ITESM = SweepSpec(
    framework="keras",  # a Keras report: Keras's initialisers and Adam epsilon (harness/config/frameworks.py)
    task="cats_vs_dogs",
    optimizers=("adam",),
    lrs=(0.001,),
    batch_sizes=(32,),
    epochs=25,
    augment="itesm2022",
    pixels="unit",
)
POKEMON = SweepSpec(
    task="pokemon150",
    image_size=224,
    optimizers=("adam",),
    lrs=(0.001,),
    batch_sizes=(32,),
    epochs=20,
    augment="pokemon",
)
ITAM_CATS = SweepSpec(
    framework="keras",  # a Keras report: Keras's initialisers and Adam epsilon (harness/config/frameworks.py)
    task="cats_vs_dogs",
    variant="A",
    image_size=150,
    optimizers=("adam",),
    lrs=(0.001,),
    batch_sizes=(40,),
    epochs=40,
    augment="none",
    pixels="unit",
)
ITAM_MNIST = SweepSpec(
    task="mnist_upsample", optimizers=("adam",), lrs=(0.001,), epochs=10, augment="none", framework="keras"
)

PRESETS: dict[str, Preset] = {
    p.report: p
    for p in (
        Preset(
            "uni2022-catsdogs",
            (
                _recipe(
                    "CNN + MLP, epoch 20",
                    UNI_CATS,
                    "cnn4_bn_mlp",
                    0.8615,
                    "test accuracy",
                    "the report applied its random flip and rotation to the test set too",
                ),
            ),
            baselines=("resnet18",),
        ),
        Preset(
            "uchile2020-cifar10",
            (
                _recipe(
                    "Red Grande",
                    UCHILE,
                    "vgg8_bn",
                    0.729,
                    "test accuracy",
                    "the report validated with BatchNorm in train mode (net.eval() commented out)",
                ),
                _recipe(
                    "Red Pequena",
                    UCHILE,
                    "vgg4_bn",
                    0.6923,
                    "test accuracy",
                    "the report validated with BatchNorm in train mode (net.eval() commented out)",
                ),
            ),
            baselines=("resnet9", "resnet18"),
        ),
        Preset(
            "itesm2022-catsdogs",
            (
                _recipe(
                    "model 1 (64 px, split A)",
                    ITESM,
                    "keras_cnn2",
                    0.7745,
                    "test accuracy",
                    variant="A",
                    image_size=64,
                    steps_per_epoch=100,  # its fit(): 100 batches of 32 an epoch, 3,200 of split A's 8,000 photos
                ),
                _recipe(
                    "model 2 (split A)", ITESM, "keras_cnn3_drop", 0.8655, "test accuracy", variant="A", image_size=128
                ),
                _recipe(
                    "model 3 (split B)", ITESM, "keras_cnn3_drop", 0.8972, "test accuracy", variant="B", image_size=128
                ),
                _recipe(
                    "model 4 (split B)", ITESM, "keras_cnn4_drop", 0.9178, "test accuracy", variant="B", image_size=128
                ),
            ),
            baselines=("resnet18",),
        ),
        Preset(
            "uni2022-pokemon",
            (
                _recipe(
                    "CNN",
                    POKEMON,
                    "cnn5_bn",
                    0.5,
                    "test accuracy",
                    "about 50%, said of both networks trained with augmentation (and train about 98%);"
                    " the text prints no figure per network",
                    published_about=True,
                ),
                _recipe(
                    "ResNet",
                    POKEMON,
                    "resnet4",
                    0.5,
                    "test accuracy",
                    "about 50%, said of both networks trained with augmentation (and train about 98%);"
                    " the conclusion says the ResNet's test accuracy was the higher, without a figure",
                    published_about=True,
                ),
            ),
            baselines=("resnet18",),
        ),
        Preset(
            "itam2020-catsdogs-mnist",
            (
                _recipe("cats vs dogs, 150 px", ITAM_CATS, "keras_cnn3_drop09", 0.7967, "validation accuracy"),
                _recipe(
                    "upsampling model 1",
                    ITAM_MNIST,
                    "upsample_a",
                    0.81466,
                    "Keras binary accuracy (val_keras_acc)",
                    "capped near 0.8155 by grey target pixels; the harness ranks by pixel accuracy",
                    batch_sizes=(32,),
                ),
                _recipe(
                    "upsampling model 2",
                    ITAM_MNIST,
                    "upsample_b",
                    0.81488,
                    "Keras binary accuracy (val_keras_acc)",
                    "capped near 0.8155 by grey target pixels",
                    batch_sizes=(30,),
                ),
                _recipe(
                    "upsampling model 3",
                    ITAM_MNIST,
                    "upsample_c",
                    0.81472,
                    "Keras binary accuracy (val_keras_acc)",
                    "capped near 0.8155 by grey target pixels",
                    batch_sizes=(15,),
                ),
            ),
            baselines=("resnet18", "espcn"),
        ),
    )
}


# Speed presets: a recipe of today's techniques that targets a report's figure in less training
# time, on the machine it runs on. Not reports (`harness reproduce` and the report document know
# the five above only); `harness sweep --preset` runs them as they are: one trial, no space around.
SPEEDRUN_CIFAR10 = SweepSpec(
    task="cifar10",
    variant="report",  # uchile2020's split: data_batch_1 (10,000 images) trains, test_batch tests
    archs=("airbench_cpu",),
    optimizers=("nesterov",),
    lrs=(0.2,),
    batch_sizes=(256,),
    weight_decays=(0.0005,),
    epochs=12,
    augment="airbench",
    pixels="standard",
    label_smoothing=0.2,
    lr_schedule="triangle",
    averaging="lookahead",
    tta="flip",
    precision="bf16",  # autocast + channels_last: 1.6x float32 steps here (AVX512-BF16; refused on CPUs without)
    cpus_per_trial=2.0,  # the one trial gets both cores: torch's thread pool is sized to what Ray reserves
)
SPEEDRUNS: dict[str, Preset] = {
    p.report: p
    for p in (
        Preset(
            "speedrun-cifar10",
            (
                Recipe(
                    "airbench-style CPU speedrun",
                    SPEEDRUN_CIFAR10,
                    0.729,
                    "test accuracy",
                    "the target: uchile2020's Red Grande, 72.90% in 116.72 s summed training time on a Colab GPU"
                    " (Red Pequena: 69.23% in 60.31 s); ours is the final test accuracy with flip TTA against"
                    " the summed epoch_time_s",
                ),
            ),
            optimizers=(),
            lr_factors=(),
        ),
    )
}


def get_preset(report: str) -> Preset:
    return lookup("report", PRESETS, report)


def get_sweep_preset(name: str) -> Preset:
    """A report's preset or a speed preset: what `harness sweep --preset` takes."""
    return lookup("preset", {**PRESETS, **SPEEDRUNS}, name)


def recipe_spec(recipe: Recipe, overrides: dict[str, Any]) -> SweepSpec:
    """One trial: the report's configuration exactly, except what the user overrides (e.g. --epochs).
    `overrides`: SweepSpec field -> value, as `harness.config.settings.given` reads a command line
    (open: each field has its own type, which the SweepSpec it lands in checks). The precision is
    the reports' (fp32) unless overridden: a bf16 recipe is marked as chosen beside its result."""
    return replace(recipe.spec, **{"precision": REPORT_PRECISION, **_applicable(overrides)})


def preset_sweeps(report: str, overrides: dict[str, Any]) -> list[SweepSpec]:
    """One sweep per group of recipes that share task, split, size and recipe: the recipes'
    networks first, then the baselines that fit; the recipe's optimizer and learning rate first."""
    from harness.architectures import get_arch
    from harness.datasets import get_task

    preset = get_sweep_preset(report)
    groups: dict[SweepSpec, list[Recipe]] = {}
    for recipe in preset.recipes:
        groups.setdefault(replace(recipe.spec, archs=()), []).append(recipe)  # all but the network
    sweeps = []
    for recipes in groups.values():
        base = recipes[0].spec
        task = get_task(base.task)
        shape = task.shape(base.image_size)
        archs = [r.spec.archs[0] for r in recipes]
        archs += [
            a for a in preset.baselines if a not in archs and get_arch(a).fits(shape) and get_arch(a).head in task.heads
        ]
        lr = base.lrs[0]
        spec = replace(
            base,
            archs=tuple(dict.fromkeys(archs)),
            optimizers=tuple(dict.fromkeys([*base.optimizers, *preset.optimizers])),
            lrs=(lr, *(round(lr * f, 6) for f in preset.lr_factors)),
        )
        sweeps.append(replace(spec, **_applicable(overrides)))
    return sweeps


def _applicable(overrides: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(SweepSpec)}
    return {k: v for k, v in overrides.items() if k in names}
