"""Tasks, installed as `harness.datasets`: one module per task. Importing registers them all."""

# Importing a module registers its task(s).
from . import cats_vs_dogs, cifar10, digits, mnist, mnist_upsample, pokemon150  # noqa: F401
from ._cache import cache_root, describe_task, load_task, locate, open_cached, prepare
from ._registry import (
    SOURCES,
    DatasetSpec,
    MissingData,
    Request,
    Split,
    TaskData,
    adopt_task,
    get_task,
    list_tasks,
    mark_builtin,
    register_task,
    resolve_data_root,
    stored_task,
    user_tasks,
)
from .folder import folder_task
from .huggingface import hf_task

SOURCES.update(folder=folder_task, hf=hf_task)  # `--task folder:PATH`, `--task hf:PATH|NAME`
mark_builtin()

__all__ = [
    "DatasetSpec",
    "MissingData",
    "Request",
    "Split",
    "TaskData",
    "adopt_task",
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
    "stored_task",
    "user_tasks",
]
