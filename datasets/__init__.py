"""Tasks, installed as `harness.datasets`: one module per task. Importing registers them all."""

from ._registry import (
    DatasetSpec, Split, TaskData, describe_task, get_task, list_tasks, register_task, resolve_data_root,
)  # fmt: skip
from . import digits  # noqa: F401  (registers on import)

__all__ = [
    "DatasetSpec", "Split", "TaskData", "describe_task", "get_task", "list_tasks", "register_task",
    "resolve_data_root",
]  # fmt: skip
