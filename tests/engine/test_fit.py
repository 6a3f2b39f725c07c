"""The epoch logic of a trial (harness.engine.fit) on its own: a tiny model on small random tensors, CPU, no Ray."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from harness.engine.fit import EpochResult, Resume, fit
from harness.engine.train import OBJECTIVES, Normalizer, epoch_order, evaluate
from harness.kinds import Mode

TIMES = ("epoch_time_s", "eval_time_s", "cpu_s", "samples_per_s")  # measured, so never equal between two runs
NORMALIZE = Normalizer((0.5,), (0.25,), torch.device("cpu"))


def _split(n: int, *, seed: int, flipped: bool = False) -> tuple[Tensor, Tensor]:
    """n 1x4x4 uint8 images; the label says whether the left half is brighter (a learnable rule),
    or the opposite with `flipped`, so that learning the training split makes this one worse."""
    images = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    left = images[..., :2].float().mean((1, 2, 3)) > images[..., 2:].float().mean((1, 2, 3))
    return images, (left != flipped).long()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))


def _flip(x: Tensor, generator: torch.Generator) -> Tensor:
    """An augmentation that draws from the generator, so a resume must restore its state."""
    flip = torch.rand(len(x), generator=generator).view(-1, 1, 1, 1) < 0.5
    return torch.where(flip, x.flip(2), x)


def _fit(
    model: nn.Module,
    *,
    epochs: int = 3,
    metric: str = "val_acc",
    mode: str = "max",
    lr: float = 0.01,
    val_flipped: bool = False,
    resume: Resume | None = None,
    generator: torch.Generator | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    steps_per_epoch: int | None = None,
) -> Iterator[EpochResult]:
    return fit(
        model=model,
        objective=OBJECTIVES["logits"],
        optimizer=optimizer or torch.optim.Adam(model.parameters(), lr=lr),
        train=_split(300, seed=1),
        val=_split(100, seed=2, flipped=val_flipped),
        test=_split(100, seed=3),
        epochs=epochs,
        batch_size=32,
        normalize=NORMALIZE,
        generator=generator or torch.Generator().manual_seed(0),
        metric=metric,
        mode=Mode(mode),
        augment=_flip,
        num_classes=2,
        resume=resume,
        steps_per_epoch=steps_per_epoch,
    )


def _untimed(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures without their timings (the last epoch's test scores, nested, too)."""
    return {k: _untimed(v) if isinstance(v, dict) else v for k, v in metrics.items() if k not in (*TIMES, "time_s")}


def test_every_epoch_reports_the_trial_metrics_and_only_the_last_scores_the_test_split():
    results = list(_fit(_model(), epochs=3))
    assert [r.epoch for r in results] == [1, 2, 3]
    for r in results:
        # val_n: the images validated, behind the validation figure's interval
        assert set(r.metrics) == {"train_loss", "train_acc", "val_loss", "val_acc", "val_n", *TIMES}
        assert r.metrics["val_n"] == 100
        assert r.metrics["epoch_time_s"] > 0 and r.metrics["samples_per_s"] > 0 and r.metrics["eval_time_s"] > 0
        assert r.metrics["cpu_s"] > 0  # the process's CPU time over training and validation
        assert not r.diverged
    assert [r.test is None for r in results] == [True, True, False]
    test = results[-1].test
    assert test is not None and set(test) == {"loss", "acc", "n", "time_s", "cpu_s", "confusion", "last"}
    assert test["n"] == 100
    assert sum(map(sum, test["confusion"])) == 100  # every test image, once
    assert test["last"]["epoch"] == 3 and test["last"]["n"] == 100 and "confusion" not in test["last"]


def test_the_last_epochs_weights_are_scored_beside_the_best_ones():
    """A validation split that learning makes worse: the best epoch comes early, and the last
    weights (what a report that printed its final epoch measured) score on test as they stand."""
    results = list(_fit(_model(), epochs=4, val_flipped=True, lr=0.05))
    test = results[-1].test
    assert results[-1].best_epoch < 4 and test is not None
    images, labels = _split(100, seed=3)
    expected = evaluate(
        model=_weights_after(4),
        objective=OBJECTIVES["logits"],
        images=images,
        labels=labels,
        batch_size=512,
        normalize=NORMALIZE,
    )
    assert test["last"]["epoch"] == 4
    assert test["last"]["acc"] == expected["acc"] and test["last"]["loss"] == pytest.approx(expected["loss"])
    assert test["last"]["acc"] != test["acc"]  # the two checkpoints differ, and so do their figures


def _weights_after(epochs: int) -> nn.Module:
    """The model as the run above leaves it after `epochs` epochs (a longer run, stopped there:
    its first epochs draw and train alike, and no test scoring has loaded the best weights back)."""
    model = _model()
    for result in _fit(model, epochs=epochs + 1, val_flipped=True, lr=0.05):
        if result.epoch == epochs:
            break
    return model


def test_steps_per_epoch_draws_that_many_batches_from_passes_that_run_on():
    generator = torch.Generator().manual_seed(0)
    order = epoch_order(10, 4, 5, generator)  # 20 images from 10: two whole passes
    assert len(order) == 20 and sorted(order[:10].tolist()) == list(range(10)) == sorted(order[10:].tolist())
    assert len(epoch_order(10, 4, 2, generator)) == 8  # part of one pass; the rest is not carried over
    assert sorted(epoch_order(10, 4, None, generator).tolist()) == list(range(10))  # the default: one pass
    results = list(_fit(_model(), epochs=2, steps_per_epoch=3))
    assert results[-1].metrics["samples_per_s"] > 0 and results[-1].test is not None


@pytest.mark.parametrize(("metric", "mode"), [("val_acc", "max"), ("val_loss", "min"), ("val_loss", "max")])
@pytest.mark.parametrize("val_flipped", [False, True])
def test_the_best_flag_follows_the_validation_metric(metric, mode, val_flipped):
    results = list(_fit(_model(), epochs=4, metric=metric, mode=mode, val_flipped=val_flipped))
    sign = 1.0 if mode == "max" else -1.0
    best, best_epoch = -math.inf, 0
    for r in results:
        improved = sign * r.metrics[metric] > best  # strictly better: a tie keeps the earlier epoch
        if improved:
            best, best_epoch = sign * r.metrics[metric], r.epoch
        assert (r.improved, r.best_epoch) == (improved, best_epoch), r.epoch
    assert results[0].improved  # anything finite beats nothing


def test_max_and_min_modes_flag_opposite_epochs():
    """Learning the training rule makes a flipped validation split worse every epoch (its loss
    rises, its accuracy falls): a lower loss is better in min mode, a higher one in max mode."""
    flags = {
        (metric, mode): [r.improved for r in _fit(_model(), epochs=4, metric=metric, mode=mode, val_flipped=True)]
        for metric, mode in (("val_loss", "min"), ("val_loss", "max"), ("val_acc", "max"))
    }
    assert flags == {
        ("val_loss", "min"): [True, False, False, False],
        ("val_loss", "max"): [True, True, True, True],
        ("val_acc", "max"): [True, False, False, False],
    }
    # The same rule on the validation split: the loss falls every epoch, so min mode flags each.
    assert [r.improved for r in _fit(_model(), epochs=4, metric="val_loss", mode="min")] == [True] * 4


def test_the_test_scores_are_the_best_epochs_weights():
    model, kept = _model(), {}
    results = []
    for r in _fit(model, epochs=4, val_flipped=True):  # the best epoch is an early one
        if r.improved:
            kept = copy.deepcopy(model.state_dict())
        results.append(r)
    best_epoch = results[-1].best_epoch
    assert best_epoch < 4 and results[best_epoch - 1].improved
    for key, value in kept.items():  # the model is left holding them too (what the checkpoint saves)
        assert torch.equal(model.state_dict()[key], value), key
    best = _model()
    best.load_state_dict(kept)
    images, labels = _split(100, seed=3)
    expected = evaluate(
        model=best,
        objective=OBJECTIVES["logits"],
        images=images,
        labels=labels,
        batch_size=512,
        normalize=NORMALIZE,
        num_classes=2,
    )
    assert results[-1].test is not None
    assert _untimed(results[-1].test) == _untimed(expected) | {"last": _untimed(results[-1].test["last"])}


@pytest.mark.parametrize("k", [1, 2])
def test_resuming_after_epoch_k_continues_as_if_never_stopped(k):
    model, generator = _model(), torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    whole, saved = [], None
    for r in _fit(model, epochs=4, optimizer=optimizer, generator=generator):
        whole.append(r)
        if r.epoch == k:  # what trial.py's checkpoint holds: copies, since training goes on in place
            saved = {
                "epoch": r.epoch,
                "metrics": dict(r.metrics),
                "model_state": copy.deepcopy(model.state_dict()),
                "optimizer_state": copy.deepcopy(optimizer.state_dict()),
                "generator_state": generator.get_state(),
            }
    assert saved is not None
    # A fresh model with other initial weights and a generator at its seed: the resume state must win.
    torch.manual_seed(123)
    fresh = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    resumed = list(_fit(fresh, epochs=4, resume=Resume.from_checkpoint(saved, metric="val_acc")))
    assert [r.epoch for r in resumed] == list(range(k + 1, 5))
    for a, b in zip(whole[k:], resumed):
        assert _untimed(a.metrics) == _untimed(b.metrics), a.epoch
        assert (a.improved, a.best_epoch, a.diverged) == (b.improved, b.best_epoch, b.diverged), a.epoch
    assert whole[-1].test is not None and resumed[-1].test is not None
    assert _untimed(whole[-1].test) == _untimed(resumed[-1].test)


def test_resuming_after_the_last_epoch_yields_nothing():
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    state = Resume(
        epoch=2,
        best=0.5,
        model_state=model.state_dict(),
        optimizer_state=optimizer.state_dict(),
        generator_state=torch.Generator().get_state(),
    )
    assert list(_fit(model, epochs=2, optimizer=optimizer, resume=state)) == []


@pytest.mark.parametrize("epochs", [1, 3])
def test_a_nan_loss_stops_with_the_diverged_flag(epochs):
    model = _model()
    with torch.no_grad():
        model[1].weight[0, 0] = math.nan  # every output is NaN from the first batch on
    (result,) = _fit(model, epochs=epochs)  # one result, however many epochs were asked for
    assert result.diverged and not result.improved
    assert result.best_epoch == 0 and result.test is None  # nothing to score, not even on the last epoch
    assert math.isnan(result.metrics["train_loss"])


def test_a_huge_learning_rate_diverges_and_stops():
    model = _model()  # plain SGD: Adam's steps are bounded by its lr, so its weights stay finite longer
    results = list(_fit(model, epochs=5, optimizer=torch.optim.SGD(model.parameters(), lr=1e12)))
    assert results[-1].diverged and len(results) < 5
    assert not any(r.diverged for r in results[:-1])
    assert results[-1].test is None and not results[-1].improved
    assert not math.isfinite(results[-1].metrics["train_loss"]) or not math.isfinite(results[-1].metrics["val_loss"])


def test_extra_scores_are_named_by_split():
    """The image objective's extras (psnr, keras_acc) arrive as train_<name> and val_<name>."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Sigmoid())
    images = torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    (result,) = fit(
        model=model,
        objective=OBJECTIVES["image"],
        optimizer=torch.optim.Adam(model.parameters(), lr=0.01),
        train=(images, images),
        val=(images[:10], images[:10]),
        test=(images[:10], images[:10]),
        epochs=1,
        batch_size=8,
        normalize=NORMALIZE,
        generator=torch.Generator().manual_seed(0),
        metric="val_psnr",
        mode="max",
    )
    assert {"train_psnr", "val_psnr", "train_keras_acc", "val_keras_acc"} <= set(result.metrics)
    assert result.improved and result.test is not None and "psnr" in result.test and "confusion" not in result.test
