"""The measurements of the probes (harness.results.probes): each scores a stored trial the way one report
measured, in float32 on the CPU, and says how in its detail. The refusals say why a probe does
not apply to a trial.

torch is imported inside the functions: the CLI builds `harness probe --help` from the registry
without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from harness.stats import Interval, wilson

if TYPE_CHECKING:
    from torch import Tensor, nn

    from harness.config.spec import TrialSpec
    from harness.datasets import DatasetSpec, TaskData
    from harness.engine.augment import Augment
    from harness.engine.train import Normalizer
    from harness.store.rows import EpochRow, TrialRow

ORDER_SEED = 0  # bn-train-mode: the seeded random order the test images are batched in
PASS_SEEDS = (0, 1, 2, 3, 4)  # augmented-test: one augmentation draw per pass over the test split
PASS_BATCH = 512  # augmented-test scores in eval mode: the batch size changes no prediction, only the draws


@dataclass(frozen=True)
class Subject:
    """A stored trial as a probe sees it: its row, its config, its task and its epochs."""

    row: TrialRow
    spec: TrialSpec
    task: DatasetSpec
    epochs: list[EpochRow]
    weights: str = "best"  # the checkpoint's weights a probe scores: "best", or "last" (harness.engine.checkpoint)

    def test_scores(self) -> dict[str, Any]:
        """The test scoring of the weights probed ({} when there is none: stopped before its last
        epoch): epoch, loss, acc, n and the task's own scores, whose names are the task's (open).
        The last weights' are the best ones' where the last epoch was the best."""
        scores: dict[str, Any] = json.loads(self.row["test_json"] or "{}")
        last = scores.pop("last", None)
        return (last or scores) if self.weights == "last" else scores

    def best_extra(self) -> dict[str, float]:
        """Its best epoch's task scores (extra_json), by name; {} when there is none."""
        best = [e for e in self.epochs if e["epoch"] == self.row["best_epoch"]]
        return json.loads(best[0]["extra_json"] or "{}") if best else {}

    def data(self) -> TaskData:
        """Its task's splits, as it trained on them: variant and image size from its config."""
        from harness.datasets import load_task

        return load_task(self.spec.task, self.spec.data_dir, variant=self.spec.variant, image_size=self.spec.image_size)


class _Measured(TypedDict):
    split: str  # the split measured: "test" or "val"
    interval: str  # the interval's method, or why there is none
    note: str  # printed under the figure


class ProbeDetail(_Measured, total=False):
    """How a probe measured: what every probe's detail says; each probe adds its own counts."""

    # which of the trial's weights it scored: "best epoch 16", "last epoch 20" (run_probe sets it for
    # the probes that read a checkpoint; older rows lack it)
    weights: str


class BnDetail(ProbeDetail):
    correct: int
    batch_size: int
    batches: int
    last_batch: int  # images in the last batch
    order_seed: int
    batchnorm_layers: int
    baseline_n: int | None  # the test images of the trial's own figure
    device: str


class AugmentDetail(ProbeDetail):
    augment: str
    passes: list[float]  # the accuracy of each pass
    pass_seeds: list[int]
    spread: list[float]  # [min, max] over the passes
    pooled_correct: int
    images: int
    batch_size: int
    device: str


class KerasTrainSplit(TypedDict):
    """keras-cap's ceiling on the images the trial trained on, beside its train_keras_acc."""

    images: int
    pixels: int
    exact_pixels: int
    ceiling: float
    train_limit: int | None
    keras_acc: float | None
    share_of_ceiling: float | None


class KerasDetail(ProbeDetail):
    images: int
    exact_pixels: int
    zero_share: float
    one_share: float
    best_epoch: int | None
    share_of_ceiling: float
    train: KerasTrainSplit


@dataclass(frozen=True)
class Finding:
    """What a probe measured."""

    value: float  # the figure, a proportion 0..1
    n: int  # what it counts over (Probe.unit)
    interval: Interval | None  # its 95% interval; None: an exact count on the split
    baseline: float | None  # the trial's own figure it is set beside; None where the store has none
    detail: ProbeDetail  # how it was measured (each probe's own subclass); the store keeps it as JSON


# -- shared pieces ---------------------------------------------------------------------------


def _classifier(subject: Subject) -> str | None:
    if subject.task.kind != "classification":
        return (
            f"{subject.task.name} is an image-output task, whose accuracy is a mean over pixels, not a count of images"
        )
    return None


def _normalizer(subject: Subject) -> Normalizer:
    """The trial's input scaling (its config's `pixels`: standard, unit or raw)."""
    import torch

    from harness.engine.train import Normalizer

    mean, std = subject.task.pixel_stats(subject.spec.pixels)
    return Normalizer(mean, std, torch.device("cpu"))


def _correct(
    model: nn.Module,
    subject: Subject,
    *,
    images: Tensor,
    labels: Tensor,
    batches: Sequence[Tensor],
    augment: Augment | None = None,
    seed: int = 0,
) -> int:
    """Images of `batches` (index tensors into the split) the model classifies right, in the mode
    the model is in; `augment` is drawn from a generator seeded with `seed`, batch after batch."""
    import torch

    from harness.architectures import get_arch
    from harness.engine.train import OBJECTIVES, batch_inputs

    objective = OBJECTIVES[get_arch(subject.spec.arch).head]
    normalize, generator = _normalizer(subject), torch.Generator().manual_seed(seed)
    correct = torch.zeros((), dtype=torch.long)
    with torch.no_grad():
        for idx in batches:
            x = batch_inputs(images, idx, normalize=normalize, augment=augment, generator=generator)
            correct += objective.scores(model(x).float(), labels[idx])["acc"]
    return int(correct)


def _test_split(subject: Subject) -> tuple[Tensor, Tensor]:
    import torch

    test = subject.data().test
    return torch.from_numpy(test.images), torch.from_numpy(test.labels)


def _points(value: float, baseline: float | None) -> str:
    return "" if baseline is None else f"{100 * (value - baseline):+.2f} points against the baseline; "


# -- bn-train-mode: uchile2020-cifar10 validated with `# net.eval()` commented out --------------


def _batchnorms(model: nn.Module) -> list[nn.Module]:
    from torch import nn

    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def bn_refusal(subject: Subject) -> str | None:
    from harness.architectures import create_model, get_arch

    task, spec = subject.task, subject.spec
    built = create_model(
        spec.arch, in_shape=task.shape(spec.image_size), num_outputs=task.num_outputs(get_arch(spec.arch).head)
    )
    if not _batchnorms(built):
        return f"{spec.arch} has no BatchNorm layer, so batch statistics change nothing"
    return _classifier(subject)


def train_mode_batches(order: Tensor, batch_size: int) -> list[Tensor]:
    """`order` cut into batches of `batch_size`; a last batch of one image joins the one before
    it (BatchNorm cannot take statistics over one value: PyTorch refuses such a batch in train mode)."""
    import torch

    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def bn_train_mode(subject: Subject, model: nn.Module | None) -> Finding:
    import copy

    import torch

    assert model is not None  # a checkpoint probe
    images, labels = _test_split(subject)
    # On a copy: BatchNorm in train mode normalises each batch with its own mean and variance; the
    # running statistics it also updates are the copy's, and nothing reads them. Dropout and every
    # other layer stay in eval mode: the probe measures what BatchNorm alone does.
    probed = copy.deepcopy(model).eval()
    for layer in _batchnorms(probed):
        layer.train()
    # A seeded random order: the stored test split may be sorted by class (CIFAR-10's offline copy
    # partly is), and one-class batches would give other statistics than the report's shuffled ones.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(ORDER_SEED))
    batch_size = subject.spec.batch_size
    batches = train_mode_batches(order, batch_size)
    correct = _correct(probed, subject, images=images, labels=labels, batches=batches)
    n, test = len(labels), subject.test_scores()
    value, baseline = correct / n, test.get("acc")
    return Finding(
        value=value,
        n=n,
        interval=wilson(correct, n),
        baseline=baseline,
        detail=BnDetail(
            {
                "split": "test",
                "correct": correct,
                "batch_size": batch_size,
                "batches": len(batches),
                "last_batch": len(batches[-1]),
                "order_seed": ORDER_SEED,
                "batchnorm_layers": len(_batchnorms(probed)),
                "baseline_n": test.get("n"),
                "device": "cpu, float32",
                "interval": "Wilson 95%",
                "note": f"{_points(value, baseline)}{len(batches)} batches of {batch_size} in a seeded order "
                f"(seed {ORDER_SEED}), dropout off",
            }
        ),
    )


# -- augmented-test: uni2022-catsdogs applied its random flip and rotation to the test set -----


def _augmentation(subject: Subject) -> tuple[str, Augment]:
    """The trial's training augmentation, as it trained (harness.engine.trial: its config's, else its task's)."""
    from harness.engine.augment import get_augment

    name = subject.spec.augment or subject.task.augment
    return name, get_augment(name)


def augment_refusal(subject: Subject) -> str | None:
    name, augment = _augmentation(subject)
    if augment.identity:
        return f"it trained without augmentation (augment {name!r}), so its test split would be scored clean"
    return _classifier(subject)


def augmented_test(subject: Subject, model: nn.Module | None) -> Finding:
    import torch

    assert model is not None  # a checkpoint probe
    images, labels = _test_split(subject)
    name, augment = _augmentation(subject)
    batches = list(torch.arange(len(labels)).split(PASS_BATCH))
    model.eval()
    correct = [
        _correct(model, subject, images=images, labels=labels, batches=batches, augment=augment, seed=seed)
        for seed in PASS_SEEDS
    ]
    images_n, passes = len(labels), [c / len(labels) for c in correct]
    pooled = sum(correct)
    value, baseline = pooled / (len(PASS_SEEDS) * images_n), subject.test_scores().get("acc")  # the mean over passes
    return Finding(
        value=value,
        n=images_n,
        # The passes share their images: the interval is over the images (the mean count of a
        # pass out of images_n), not over images x passes; the spread over passes is the
        # augmentation's own variation.
        interval=wilson(round(pooled / len(PASS_SEEDS)), images_n),
        baseline=baseline,
        detail=AugmentDetail(
            {
                "split": "test",
                "augment": name,
                "passes": passes,
                "pass_seeds": list(PASS_SEEDS),
                "spread": [min(passes), max(passes)],
                "pooled_correct": pooled,
                "images": images_n,
                "batch_size": PASS_BATCH,
                "device": "cpu, float32",
                "interval": "Wilson 95% over the images (the mean correct count of a pass)",
                "note": f"{_points(value, baseline)}spread {min(passes):.2%} to {max(passes):.2%} over "
                f"{len(PASS_SEEDS)} passes with augment {name!r}, eval mode",
            }
        ),
    )


# -- keras-cap: itam2020's Keras binary accuracy, round(prediction) == the raw target ------------


def exact_pixels(targets: Tensor) -> tuple[int, int]:
    """(pixels exactly 0 or 255, all pixels) of uint8 target images: the only target values that
    round(prediction), 0 or 1, can equal once the target is scaled to [0, 1]."""
    exact = (targets == 0) | (targets == 255)
    return int(exact.sum()), exact.numel()


def keras_refusal(subject: Subject) -> str | None:
    if subject.task.kind != "image_to_image":
        return f"{subject.task.name} is a classification task; the cap comes from grey pixels of image targets"
    if "val_keras_acc" not in subject.best_extra():
        return "its best epoch stores no val_keras_acc (the Keras-style metric)"
    return None


def keras_cap(subject: Subject, model: nn.Module | None) -> Finding:
    import torch

    from harness.engine.train import train_subset

    data = subject.data()
    val, train = torch.from_numpy(data.val.labels), torch.from_numpy(data.train.labels)
    limit = subject.spec.train_limit
    if limit:  # the training images it trained on, and on which its train_keras_acc was measured
        train = train[train_subset(len(train), limit)]
    exact, pixels = exact_pixels(val)
    train_exact, train_pixels = exact_pixels(train)
    ceiling, train_ceiling = exact / pixels, train_exact / train_pixels
    extra = subject.best_extra()
    ours, train_ours = extra["val_keras_acc"], extra.get("train_keras_acc")
    return Finding(
        value=ceiling,
        n=pixels,
        interval=None,  # exact: a count over the very split the Keras metric was computed on
        baseline=ours,
        detail=KerasDetail(
            {
                "split": "val",
                "images": len(val),
                "exact_pixels": exact,
                "zero_share": int((val == 0).sum()) / pixels,
                "one_share": int((val == 255).sum()) / pixels,
                "best_epoch": subject.row["best_epoch"],
                "share_of_ceiling": ours / ceiling,
                "train": {
                    "images": len(train),
                    "pixels": train_pixels,
                    "exact_pixels": train_exact,
                    "ceiling": train_ceiling,
                    "train_limit": limit,
                    "keras_acc": train_ours,
                    "share_of_ceiling": None if train_ours is None else train_ours / train_ceiling,
                },
                "interval": "exact: a count over the split's pixels",
                "note": f"ours is {ours / ceiling:.2%} of the ceiling; on the training split "
                f"({len(train):,} images) the ceiling is {train_ceiling:.2%}",
            }
        ),
    )
