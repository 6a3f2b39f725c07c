"""Tasks, installed as `harness.datasets`: one module per task. Importing registers them all."""

# Importing a module registers its task(s).
from . import cats_vs_dogs, cifar10, digits, mnist, mnist_upsample, pokemon150  # noqa: F401
from ._cache import cache_root, describe_task, load_task, locate, open_cached, prepare
from ._registry import (
    DatasetSpec,
    MissingData,
    Request,
    Split,
    TaskData,
    get_task,
    list_tasks,
    register_task,
    resolve_data_root,
)

__all__ = [
    "DatasetSpec",
    "MissingData",
    "Request",
    "Split",
    "TaskData",
    "cache_root",
    "describe_task",
    "get_task",
    "list_tasks",
    "load_task",
    "locate",
    "open_cached",
    "prepare",
    "register_task",
    "resolve_data_root",
]
