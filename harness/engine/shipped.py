"""Users' networks and tasks, handed to every Ray worker with the trainable.

A worker resolves names through the registries, which hold what harness registers and what
`harness.datasets` / `harness.architectures` resolve from a name (folder:, hf:, timm:,
torchvision:). What users' code registered on the driver (a plugin, a script calling
`register_arch`) exists in no worker: the driver collects those specs (`collect`), Ray pickles
them with the trainable (`tune.with_parameters`; a plugin file's functions by value, see
harness.plugins), and each trial adopts them before it looks a name up (`adopt`). A trial on
another node of a cluster so runs exactly the code the driver imported, without a copy of the file.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

from ray import cloudpickle

from harness.architectures import ArchSpec
from harness.architectures._registry import adopt_arch, user_archs
from harness.datasets import DatasetSpec, adopt_task, user_tasks


@dataclass(frozen=True)
class Shipped:
    archs: tuple[ArchSpec, ...] = ()
    tasks: tuple[DatasetSpec, ...] = ()


def collect(archs: tuple[str, ...], tasks: tuple[str, ...]) -> Shipped:
    """The specs among `archs` and `tasks` that users' code registered in this process. The
    code of a module no worker could import by name (a script, a notebook, a test file) goes by
    value; an installed package's, by name, as it is installed on every node like the harness."""
    shipped = Shipped(tuple(user_archs(archs)), tuple(user_tasks(tasks)))
    functions = [a.builder for a in shipped.archs] + [f for t in shipped.tasks for f in (t.find, t.decode)]
    for function in functions:
        module = sys.modules.get(getattr(function, "__module__", "") or "")
        if module is not None and module.__name__ != "__main__" and not _installed(module):
            cloudpickle.register_pickle_by_value(module)
    return shipped


def _installed(module: types.ModuleType) -> bool:
    """Whether `module` comes from an installed package (site-packages), is built in, or is the harness's."""
    file = getattr(module, "__file__", None)
    return (
        file is None
        or module.__name__.split(".")[0] == "harness"
        or any(part in ("site-packages", "dist-packages") for part in Path(file).parts)
    )


def adopt(shipped: Shipped | None) -> None:
    """Register what the driver shipped, unless this process has it already (a second trial in
    the same worker, or a plugin installed on this node)."""
    if shipped is None:
        return
    for arch in shipped.archs:
        adopt_arch(arch, user=True)
    for task in shipped.tasks:
        adopt_task(task)
