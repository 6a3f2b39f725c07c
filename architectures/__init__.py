"""Architectures, installed as `harness.architectures`: one module per report plus baselines.

Importing this package registers every architecture.
"""

from ._registry import (
    ArchSpec, check_fits, count_params, create_model, describe_archs, get_arch, list_archs, register_arch,
)  # fmt: skip
from . import baselines  # noqa: F401  (registers on import)

__all__ = [
    "ArchSpec", "check_fits", "count_params", "create_model", "describe_archs", "get_arch", "list_archs",
    "register_arch",
]  # fmt: skip
