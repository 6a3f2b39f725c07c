"""The architecture registry: a plain dict filled by a decorator (as timm and torchvision do).

Each entry says what the network expects and produces, so that the harness can refuse a
mismatched task before any training starts instead of failing inside a Ray worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from harness.errors import HarnessError, lookup

# Builds a module from the task's input shape (C, H, W) and its number of outputs.
Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Builder
    report: str | None = None  # report id from REPORTS.md, None for baselines
    input_shape: tuple[int, int, int] | None = None  # native (C, H, W); None: any size
    head: str = "logits"  # logits | single_logit | image
    published_params: int | None = None  # the report's own count, when it prints one
    description: str = ""

    @property
    def adaptive(self) -> bool:
        """True when the network builds for any input size (global pooling or sized layers)."""
        return self.input_shape is None


_ARCHS: dict[str, ArchSpec] = {}


def register_arch(
    name: str,
    *,
    report: str | None = None,
    input_shape: tuple[int, int, int] | None = None,
    head: str = "logits",
    published_params: int | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator: register `builder(in_shape=(C, H, W), num_outputs=N) -> nn.Module`."""

    def wrap(builder: Builder) -> Builder:
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} registered twice")
        doc = (builder.__doc__ or "").strip().splitlines()
        _ARCHS[name] = ArchSpec(
            name=name,
            builder=builder,
            report=report,
            input_shape=input_shape,
            head=head,
            published_params=published_params,
            description=doc[0] if doc else "",
        )
        return builder

    return wrap


def list_archs() -> list[str]:
    return sorted(_ARCHS)


def get_arch(name: str) -> ArchSpec:
    return lookup("architecture", _ARCHS, name)


def check_fits(name: str, *, in_shape: tuple[int, int, int], head: str) -> None:
    """Refuse, before training, an architecture whose input or head does not fit the task."""
    spec = get_arch(name)
    if spec.input_shape is not None and tuple(spec.input_shape) != tuple(in_shape):
        raise HarnessError(
            f"architecture {name!r} takes input {spec.input_shape}, the task gives {tuple(in_shape)}",
            "pick an architecture that adapts to any size (see `harness archs`)",
        )
    if spec.head != head:
        raise HarnessError(
            f"architecture {name!r} has a {spec.head!r} head, the task needs {head!r}",
            "see `harness archs` for the heads of each architecture",
        )


def create_model(name: str, *, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    return get_arch(name).builder(in_shape=tuple(in_shape), num_outputs=num_outputs)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Where an architecture adapts to any input, `harness archs` counts it at this shape.
DEFAULT_SHAPE = (3, 32, 32)
DEFAULT_OUTPUTS = 10


def describe_archs(*, in_shape: tuple[int, int, int] | None = None, num_outputs: int | None = None,
                   head: str | None = None) -> list[dict]:  # fmt: skip
    """One row per architecture (those with `head` only, when given): parameters counted at
    `in_shape` (else the native input, else DEFAULT_SHAPE)."""
    rows = []
    for name in list_archs():
        spec = get_arch(name)
        if head is not None and spec.head != head:
            continue
        shape = in_shape or spec.input_shape or DEFAULT_SHAPE
        outputs = num_outputs or (1 if spec.head == "single_logit" else DEFAULT_OUTPUTS)
        fits = spec.input_shape is None or tuple(spec.input_shape) == tuple(shape)
        params = count_params(spec.builder(in_shape=tuple(shape), num_outputs=outputs)) if fits else None
        rows.append({
            "name": name, "report": spec.report, "input": list(spec.input_shape) if spec.input_shape else "any",
            "head": spec.head, "params": params, "counted_at": list(shape),
            "published_params": spec.published_params, "description": spec.description,
        })  # fmt: skip
    return rows
