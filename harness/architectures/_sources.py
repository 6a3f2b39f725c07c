"""Networks from outside the registry, by name: `timm:NAME`, `torchvision:NAME` and a builder in
a user's file, `FILE.py:FUNCTION`.

A source turns a name into an `ArchSpec` on first use (`resolve`); nothing is built to list
names (`list_source`: timm has about 1,300), and whether a network fits a task is checked when
it is used, by one forward pass on the meta device (`check_forward`). timm and torchvision are
imported here, lazily: `import harness` and `harness predict` stay torch-free.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

import harness.plugins as plugins
from harness.errors import HarnessError, lookup

from ._registry import ArchSpec, Builder, Shape, add_resolver, adopt_arch, find_arch

NATIVE = (3, 224, 224)  # what timm and torchvision networks are shown at (ImageNet's input)
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class Source:
    """Where `PREFIX:NAME` networks come from: the names it has and how it builds one."""

    names: Callable[[], list[str]]
    builder: Callable[[str], Builder]  # name -> builder(in_shape, num_outputs, pretrained=False)
    description: str


def _timm_names() -> list[str]:
    import timm

    return list(timm.list_models())


def _timm_builder(name: str) -> Builder:
    def build(*, in_shape: Shape, num_outputs: int, pretrained: bool = False) -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=pretrained, num_classes=num_outputs, in_chans=in_shape[0])

    return build


def _torchvision_names() -> list[str]:
    from torchvision import models

    return list(models.list_models(module=models))


def _torchvision_builder(name: str) -> Builder:
    def build(*, in_shape: Shape, num_outputs: int, pretrained: bool = False) -> nn.Module:
        from torchvision import models

        if not pretrained:
            model = models.get_model(name, weights=None, num_classes=num_outputs)
        else:
            model = models.get_model(name, weights="DEFAULT")
            _replace_last(model, nn.Linear, lambda old: nn.Linear(old.in_features, num_outputs))
        if in_shape[0] != 3:  # torchvision networks take no channel count: rebuild the first convolution
            _replace_first(model, nn.Conv2d, lambda old: _conv_for(old, in_shape[0]))
        return model

    return build


def _conv_for(old: nn.Conv2d, channels: int) -> nn.Conv2d:
    """`old` taking `channels` inputs; a grey copy of pretrained weights sums them over colour."""
    new = nn.Conv2d(
        channels,
        old.out_channels,
        old.kernel_size,  # type: ignore[arg-type]
        stride=old.stride,  # type: ignore[arg-type]
        padding=old.padding,  # type: ignore[arg-type]
        dilation=old.dilation,  # type: ignore[arg-type]
        groups=old.groups,
        bias=old.bias is not None,
    )
    with torch.no_grad():
        new.weight.copy_(old.weight.sum(dim=1, keepdim=True).expand_as(new.weight) / channels)
        if old.bias is not None and new.bias is not None:
            new.bias.copy_(old.bias)
    return new


def _replace(model: nn.Module, kind: type[nn.Module], make: Callable, *, last: bool) -> None:
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, kind)]
    if not found:
        raise HarnessError(f"found no {kind.__name__} to adapt in {type(model).__name__}", "pick another network")
    name, old = found[-1] if last else found[0]
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, make(old))


def _replace_first(model: nn.Module, kind: type[nn.Module], make: Callable) -> None:
    _replace(model, kind, make, last=False)


def _replace_last(model: nn.Module, kind: type[nn.Module], make: Callable) -> None:
    _replace(model, kind, make, last=True)


SOURCES: dict[str, Source] = {
    "timm": Source(_timm_names, _timm_builder, "timm's models (pip install timm; about 1,300)"),
    "torchvision": Source(_torchvision_names, _torchvision_builder, "torchvision.models' classification networks"),
}


def list_source(source: str, pattern: str | None = None) -> list[str]:
    """`source`'s network names (prefixed), those matching the shell-style `pattern` when given."""
    names = lookup("architecture source", SOURCES, source).names()
    return [f"{source}:{n}" for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def resolve(name: str) -> ArchSpec | None:
    """The spec of `PREFIX:NAME` from its source (cached), or None when `name` has no known prefix."""
    prefix, sep, rest = name.partition(":")
    if not sep or prefix not in SOURCES:
        return None
    source = SOURCES[prefix]
    if rest not in source.names():
        known = source.names()
        close = fnmatch.filter(known, f"*{rest}*")[:3]
        hint = f"did you mean {', '.join(f'{prefix}:{c}' for c in close)}? " if close else ""
        raise HarnessError(
            f"unknown architecture {name!r}: {prefix} has no network {rest!r}",
            f"{hint}list them with `harness archs --source {prefix} --filter PATTERN`",
        )
    return adopt_arch(
        ArchSpec(
            name=name,
            builder=source.builder(rest),
            input_shape=NATIVE,
            num_outputs=IMAGENET_CLASSES,
            adaptive=True,
            external=True,
            description=f"{prefix}'s {rest}",
        )
    )


def arch_files(archs: tuple[str, ...]) -> list[str]:
    """The files of the `FILE.py:FUNCTION` networks among `archs`."""
    return [name.rpartition(":")[0] for name in archs if _is_file_arch(name)]


def _is_file_arch(name: str) -> bool:
    file, sep, function = name.rpartition(":")
    return bool(sep) and file.endswith(".py") and function.isidentifier()


def register_file_archs(archs: tuple[str, ...], loaded: list[plugins.Plugin]) -> None:
    """Register each `/abs/FILE.py:FUNCTION` of `archs` from its plugin among `loaded` (adaptive:
    any input the function accepts; the forward check says when it does not)."""
    import sys

    by_file = {p.ref: p for p in loaded if p.is_file}
    for name in archs:
        if not _is_file_arch(name) or find_arch(name):
            continue
        file, _, function = name.rpartition(":")
        plugin = by_file.get(file)
        if plugin is None:
            raise HarnessError(f"architecture {name!r} comes from a file not loaded", f"pass --plugin {file}")
        builder = getattr(sys.modules[plugin.module_name], function, None)
        if not callable(builder):
            raise HarnessError(f"{file} has no function {function!r}", f"define {function}(in_shape, num_outputs)")
        adopt_arch(
            ArchSpec(
                name=name,
                builder=_positional(builder),
                input_shape=NATIVE,
                num_outputs=IMAGENET_CLASSES,
                adaptive=True,
                external=True,
                description=f"{function} in {file}",
            ),
            user=True,
        )


def load_user_code(
    archs: tuple[str, ...],
    refs: tuple[str, ...],
    *,
    recorded: list[dict[str, str | None]] | None = None,
    what: str = "",
) -> list[plugins.Plugin]:
    """Import the plugins `refs` names (with HARNESS_PLUGINS and entry points) and register the
    `FILE.py:FUNCTION` networks of `archs`; returns the plugins, for the store's record.

    A fresh sweep also imports the files its `archs` name. With `recorded` (the plugins the store
    says `what` used), `archs` were read from the store: their files are never imported from
    there; every recorded file must be named again in `refs`, unchanged."""
    if recorded is None:
        given = plugins.requested((*refs, *arch_files(archs)))
    else:  # named again now, or by this process's command already (a sweep's own export)
        given = list({p.module_name: p for p in [*plugins.loaded(), *plugins.requested(refs)]}.values())
        plugins.check_same(recorded, given, what=what)
    for plugin in given:
        plugins.load(plugin)
    register_file_archs(archs, given)
    return given


def _positional(function: Callable[..., nn.Module]) -> Builder:
    """A user's `function(in_shape, num_outputs)` as the registry calls builders (by keyword)."""

    def build(*, in_shape: Shape, num_outputs: int) -> nn.Module:
        return function(in_shape, num_outputs)

    return build


add_resolver(resolve)  # get_arch('timm:NAME') and get_arch('torchvision:NAME') find their networks here
