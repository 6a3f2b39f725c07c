"""harness: a benchmark harness for small image models.

The public extension surface, importable from here: `register_arch` and `ArchSpec` (a network),
`register_task` and `DatasetSpec` (a task). They load on first use (PEP 562), so that
`import harness` stays cheap and torch-free: `harness predict` runs where only onnxruntime,
numpy and Pillow are installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ArchSpec", "DatasetSpec", "__version__", "register_arch", "register_task"]

# name -> the module that defines it
_PUBLIC = {
    "register_arch": "harness.architectures._registry",
    "ArchSpec": "harness.architectures._registry",
    "register_task": "harness.datasets._registry",
    "DatasetSpec": "harness.datasets._registry",
}

if TYPE_CHECKING:
    from harness.architectures._registry import ArchSpec, register_arch
    from harness.datasets._registry import DatasetSpec, register_task


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
