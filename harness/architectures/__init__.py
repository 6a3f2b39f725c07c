"""Architectures, installed as `harness.architectures`: one module per report plus baselines.

Importing this package registers every architecture.
"""

# Importing a module registers its architectures: one module per report, plus baselines.
from harness.heads import HEADS

from . import (  # noqa: F401
    baselines,
    itam2020_catsdogs_mnist,
    itesm2022_catsdogs,
    modern,
    speed,
    uchile2020_cifar10,
    uni2022_catsdogs,
    uni2022_pokemon,
)
from ._registry import (
    ArchSpec,
    DataInit,
    check_fits,
    check_input,
    count_macs,
    count_params,
    create_model,
    describe_archs,
    get_arch,
    list_archs,
    mark_builtin,
    register_arch,
)
from ._sources import SOURCES, list_source, load_user_code

mark_builtin()

__all__ = [
    "HEADS",
    "SOURCES",
    "list_source",
    "load_user_code",
    "ArchSpec",
    "DataInit",
    "check_fits",
    "check_input",
    "count_macs",
    "count_params",
    "create_model",
    "describe_archs",
    "get_arch",
    "list_archs",
    "register_arch",
]
