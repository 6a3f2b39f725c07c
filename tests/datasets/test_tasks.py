"""Every task in the registry, as test_architectures.py does for every architecture: what a task
declares must name things that exist elsewhere (an epoch column to rank by, an augmentation
preset, an objective per head, a network that fits), so a new task that forgets one fails here
rather than inside a Ray worker. Declarations only: no data files are read."""

from __future__ import annotations

import pytest
import torch

from harness.architectures import check_fits, list_archs
from harness.datasets import get_task, list_tasks
from harness.engine.augment import get_augment
from harness.engine.train import OBJECTIVES
from harness.errors import HarnessError
from harness.store.db import EPOCH_COLUMNS

# README.md, "Every report's task ...": the registry holds these and no others.
README_TASKS = {"digits", "cifar10", "cats_vs_dogs", "pokemon150", "mnist", "fashion_mnist", "mnist_upsample"}


def test_the_registry_holds_the_readmes_tasks():
    # Also keeps the parametrised tests below from passing on an empty registry.
    assert set(list_tasks()) == README_TASKS
    assert all(get_task(name).name == name for name in list_tasks())


@pytest.mark.parametrize("name", list_tasks())
def test_the_metric_is_an_epoch_column_ranked_the_right_way(name):
    task = get_task(name)
    assert task.metric in EPOCH_COLUMNS  # the store has a column to rank by, not an extra_json key
    assert task.mode in ("max", "min")
    # A loss is minimised, a score (accuracy, PSNR) maximised.
    assert (task.mode == "min") == task.metric.endswith("loss")


@pytest.mark.parametrize("name", list_tasks())
def test_the_augmentation_preset_exists_and_keeps_the_task_shape(name):
    task = get_task(name)
    augment = get_augment(task.augment)
    pixels = torch.randint(0, 256, (2, *task.shape()), dtype=torch.uint8)
    out = augment(pixels, torch.Generator().manual_seed(0))
    assert out.shape == pixels.shape


@pytest.mark.parametrize("name", list_tasks())
def test_every_head_has_an_objective_and_outputs(name):
    task = get_task(name)
    assert task.heads and task.head == task.heads[0]
    for head in task.heads:
        assert head in OBJECTIVES, head
        assert task.num_outputs(head) >= 1
    if task.kind == "classification":
        assert len(task.classes) >= 2 and len(set(task.classes)) == len(task.classes)
    else:
        assert task.kind == "image_to_image" and task.classes == () and task.heads == ("image",)


@pytest.mark.parametrize("name", list_tasks())
def test_pixel_stats_have_one_value_per_channel(name):
    task = get_task(name)
    channels = task.input_shape[0]
    for pixels in ("standard", "unit", "raw"):
        mean, std = task.pixel_stats(pixels)
        assert len(mean) == len(std) == channels, pixels
        assert all(0.0 <= m <= 1.0 for m in mean) and all(s > 0.0 for s in std), pixels  # on [0, 1] pixels


@pytest.mark.parametrize("name", list_tasks())
def test_the_variants_and_default_request_are_valid(name):
    task = get_task(name)
    assert task.variants and len(set(task.variants)) == len(task.variants)
    request = task.request()
    assert request.variant == task.variants[0]
    assert task.shape(request.image_size) == task.input_shape  # the default size is the declared shape


@pytest.mark.parametrize("name", list_tasks())
def test_at_least_one_registered_architecture_fits(name):
    task = get_task(name)
    fitting = []
    for arch in list_archs():
        try:
            check_fits(arch, in_shape=task.shape(), heads=task.heads)
        except HarnessError:
            continue
        fitting.append(arch)
    assert fitting, f"no architecture takes {task.name}'s {task.shape()} with a {task.heads} head"
