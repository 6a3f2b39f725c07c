"""The architecture registry: a plain dict filled by a decorator (as timm and torchvision do).

Each entry says what the network expects and produces, so that the harness can refuse a
mismatched task before any training starts instead of failing inside a Ray worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from harness.errors import HarnessError, unknown_choice
from harness.heads import Head, get_head

# Builds a module from the task's input shape (C, H, W) and its number of outputs.
Builder = Callable[..., nn.Module]
Shape = tuple[int, int, int]


@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Builder
    input_shape: Shape  # native (C, H, W): the report's resolution, or where a baseline is shown
    num_outputs: int  # native outputs: classes, 1 for a single logit, channels for an image
    head: Head = Head.LOGITS
    report: str | None = None  # report id from REPORTS.md, None for baselines
    adaptive: bool = False  # builds for any channels and any H, W >= min_side (global pooling)
    min_side: int = 1  # smallest H or W an adaptive network accepts
    upscale: int = 1  # image heads: output side / input side
    reference_params: int | None = None  # the count REPORTS.md gives for this network
    params_published: bool = True  # False: the count is derived from the report's layers, not printed
    description: str = ""
    # From outside the registry (timm:, torchvision:, FILE.py:FUNCTION): the input it takes is
    # checked by a forward pass (harness.architectures._sources.check_forward), not declared.
    external: bool = False

    @property
    def pretrainable(self) -> bool:
        """Whether its builder takes `pretrained=True` (timm and torchvision networks)."""
        return self.name.partition(":")[0] in ("timm", "torchvision")

    def output_shape(self, in_shape: Shape, num_outputs: int) -> tuple[int, ...]:
        """Per-sample output shape for an input of `in_shape`."""
        return get_head(self.head).output_shape(in_shape=in_shape, num_outputs=num_outputs, upscale=self.upscale)

    def fits(self, in_shape: Shape) -> bool:
        if self.adaptive:
            return min(in_shape[1:]) >= self.min_side
        return tuple(in_shape) == tuple(self.input_shape)

    @property
    def input_label(self) -> str:
        native = "x".join(map(str, self.input_shape))
        return f"any >= {self.min_side} px ({native})" if self.adaptive else native


@runtime_checkable
class DataInit(Protocol):
    """A network whose initial weights depend on its training data (airbench's whitening layer,
    harness.architectures.speed): the trial calls `init_from_data` once, after the framework's
    init and before training, with a seeded sample of training images normalised as training
    sees them (N, C, H, W float32, on the training device). Any registered or user's network
    may define it; a trial fine-tuned from --init weights skips it."""

    def init_from_data(self, images: torch.Tensor) -> None: ...


_ARCHS: dict[str, ArchSpec] = {}
_RESOLVED: dict[str, ArchSpec] = {}  # timm:, torchvision: and FILE.py: networks met so far
_BUILTIN: set[str] = set()  # the harness's own networks (`mark_builtin`); every other is users' code


def register_arch(
    name: str,
    *,
    input_shape: Shape,
    num_outputs: int,
    head: str = Head.LOGITS,
    report: str | None = None,
    adaptive: bool = False,
    min_side: int = 1,
    upscale: int = 1,
    reference_params: int | None = None,
    params_published: bool = True,
) -> Callable[[Builder], Builder]:
    """Decorator: register `builder(in_shape=(C, H, W), num_outputs=N) -> nn.Module`."""
    kind = get_head(head).kind  # an unknown head is refused here, at import, naming the known ones

    def wrap(builder: Builder) -> Builder:
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} registered twice")
        doc = (builder.__doc__ or "").strip().splitlines()
        _ARCHS[name] = ArchSpec(
            name=name,
            builder=builder,
            input_shape=input_shape,
            num_outputs=num_outputs,
            head=kind,
            report=report,
            adaptive=adaptive,
            min_side=min_side,
            upscale=upscale,
            reference_params=reference_params,
            params_published=params_published,
            description=doc[0] if doc else "",
        )
        return builder

    return wrap


# name -> its spec, or None when the name is not the resolver's (harness.architectures._sources)
_RESOLVERS: list[Callable[[str], ArchSpec | None]] = []


def add_resolver(resolve: Callable[[str], ArchSpec | None]) -> None:
    _RESOLVERS.append(resolve)


def mark_builtin() -> None:
    """Called once harness.architectures has registered its own networks: any registered later
    (a plugin, a script, a FILE.py:FUNCTION) is users' code, which Ray workers must be given."""
    _BUILTIN.update(_ARCHS)


def adopt_arch(spec: ArchSpec, *, user: bool = False) -> ArchSpec:
    """Add a spec made elsewhere (a library's network, a user's as a Ray worker receives it); the
    one already known under its name wins, so adopting twice is harmless. `user`: it goes with
    the registered ones (shipped to workers), not with those any process resolves by name."""
    known = find_arch(spec.name)
    if known is not None:
        return known
    (_ARCHS if user else _RESOLVED)[spec.name] = spec
    return spec


def find_arch(name: str) -> ArchSpec | None:
    """The spec registered or resolved under `name`, or None; resolves nothing."""
    return _ARCHS.get(name) or _RESOLVED.get(name)


def user_archs(names: tuple[str, ...]) -> list[ArchSpec]:
    """The specs among `names` that users' code registered: what Ray workers must be given."""
    return [_ARCHS[n] for n in names if n in _ARCHS and n not in _BUILTIN]


def list_archs() -> list[str]:
    return sorted(_ARCHS)


def get_arch(name: str) -> ArchSpec:
    """A registered network, or one from a source (`timm:NAME`, `torchvision:NAME`)."""
    known = find_arch(name)
    if known is not None:
        return known
    for resolve in _RESOLVERS:
        resolved = resolve(name)
        if resolved is not None:
            return resolved
    if ".py:" in name:
        raise HarnessError(
            f"architecture {name!r} comes from a file not loaded", f"pass --plugin {name.rpartition(':')[0]}"
        )
    for module, prefix in (("torchvision.models.", "torchvision:"), ("timm.models.", "timm:"), ("timm.", "timm:")):
        if name.startswith(module):  # a library's Python path: the harness names it by prefix
            raise HarnessError(f"unknown architecture {name!r}", f"name it {prefix}{name.removeprefix(module)}")
    raise unknown_choice("architecture", name, [*_ARCHS, "timm:NAME", "torchvision:NAME", "FILE.py:FUNCTION"])


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


def check_input(name: str, in_shape: Shape) -> None:
    """Refuse an input the network cannot take: fixed flatten sizes take exactly one shape."""
    spec = get_arch(name)
    if spec.fits(in_shape):
        return
    if spec.adaptive:
        raise HarnessError(
            f"architecture {name!r} needs images of at least {spec.min_side} px, the task gives {_shape(in_shape)}",
            "pick a task with larger images or a smaller network (see `harness archs`)",
        )
    raise HarnessError(
        f"architecture {name!r} takes input {_shape(spec.input_shape)} only (a fixed flatten size), "
        f"the task gives {_shape(in_shape)}",
        f"run it on a task at {_shape(spec.input_shape)}, or pick one that adapts (`harness archs`)",
    )


def check_fits(name: str, *, in_shape: Shape, heads: tuple[str, ...], num_outputs: int | None = None) -> None:
    """Refuse, before training, an architecture whose input or head does not fit the task; one from
    outside the registry is run once on the meta device (`num_outputs` given)."""
    spec = get_arch(name)
    if spec.head not in heads:
        needs = " or ".join(repr(str(h)) for h in heads)  # the values: 'logits', not <Head.LOGITS: ...>
        raise HarnessError(
            f"architecture {name!r} has a {str(spec.head)!r} head, the task needs {needs}",
            "see `harness archs --task TASK` for the architectures that fit a task",
        )
    check_input(name, in_shape)
    if spec.external and num_outputs is not None:
        check_forward(spec, in_shape, num_outputs)


def check_forward(spec: ArchSpec, in_shape: Shape, num_outputs: int) -> None:
    """Build `spec` for `in_shape` on the meta device and run one image through it: a network from
    outside the registry says here, in one line, why it does not fit (not in a Ray worker)."""
    expected = spec.output_shape(in_shape, num_outputs)
    try:
        with torch.device("meta"):
            model = spec.builder(in_shape=in_shape, num_outputs=num_outputs).eval()
            with torch.no_grad():
                out = model(torch.zeros(1, *in_shape))
    except HarnessError:
        raise
    except Exception as exc:  # a library's or a user's network: any failure means it does not fit
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise HarnessError(
            f"architecture {spec.name!r} does not take a {'x'.join(map(str, in_shape))} input ({detail})",
            "pass another --image-size, or pick another network",
        ) from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape[1:]) != tuple(expected):
        got = list(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
        raise HarnessError(
            f"architecture {spec.name!r} outputs {got} per image, the task needs {list(expected)}",
            "return one tensor of (batch, num_outputs) logits",
        )


def create_model(name: str, *, in_shape: Shape, num_outputs: int, pretrained: bool = False) -> nn.Module:
    """`name` built for the task; `pretrained`: with its library's weights (timm, torchvision)."""
    check_input(name, in_shape)
    spec = get_arch(name)
    if not pretrained:
        return spec.builder(in_shape=tuple(in_shape), num_outputs=num_outputs)
    if not spec.pretrainable:
        raise HarnessError(
            f"architecture {name!r} has no published weights", "--pretrained takes timm: and torchvision: networks"
        )
    return spec.builder(in_shape=tuple(in_shape), num_outputs=num_outputs, pretrained=True)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(name: str, *, in_shape: Shape, num_outputs: int) -> int:
    """Multiply-accumulates for one image, from torch's FLOP counter (2 FLOPs per MAC).

    Built and run on the meta device: shapes only, no memory and no arithmetic, so listing
    every architecture at 224 px costs milliseconds. Counts convolutions and matmuls, the
    usual convention; BatchNorm, activations and pooling are not included.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = create_model(name, in_shape=in_shape, num_outputs=num_outputs).eval()
        x = torch.zeros(1, *in_shape)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


class TaskShape(Protocol):
    """What an architecture needs to know of a task (a DatasetSpec has these, read-only)."""

    @property
    def name(self) -> str: ...
    @property
    def heads(self) -> tuple[Head, ...]: ...
    @property
    def resizable(self) -> bool: ...

    def shape(self, image_size: int | None = None) -> Shape: ...


def _fit(spec: ArchSpec, task: TaskShape) -> str | None:
    """`task` when the network takes its default images, `task@Npx` when only at another size
    (photo sets are decoded at any --image-size), else None."""
    if spec.fits(task.shape()):
        return task.name
    side = spec.input_shape[1]
    if task.resizable and spec.fits(task.shape(side)):
        return f"{task.name}@{side}px"
    return None


def describe_archs(
    *,
    in_shape: Shape | None = None,
    num_outputs: Callable[[Head], int] | None = None,
    heads: tuple[str, ...] | None = None,
    tasks: Iterable[TaskShape] = (),
) -> list[dict]:
    """One row per architecture that fits (`in_shape`, `heads`) when given, else every one at its
    native input: parameters, the report's count and whether they match, MACs per image, and
    which of `tasks` it can train on (photo sets at the architecture's own input size)."""
    tasks = list(tasks)
    rows = []
    for name in list_archs():
        spec = get_arch(name)
        shape: Shape = in_shape or spec.input_shape
        outputs = num_outputs(spec.head) if num_outputs else spec.num_outputs
        if (heads is not None and spec.head not in heads) or not spec.fits(shape):
            continue
        with torch.device("meta"):  # parameter counts need shapes only
            params = count_params(create_model(name, in_shape=shape, num_outputs=outputs))
        native = shape == tuple(spec.input_shape) and outputs == spec.num_outputs
        rows.append(
            {
                "name": name,
                "report": spec.report,
                "input": spec.input_label,
                "head": spec.head,
                "outputs": list(spec.output_shape(shape, outputs)),
                "counted_at": list(shape),
                "params": params,
                "reference_params": spec.reference_params,
                "params_published": spec.params_published,
                "params_match": (params == spec.reference_params) if spec.reference_params and native else None,
                "macs": count_macs(name, in_shape=shape, num_outputs=outputs),
                "tasks": [fit for t in tasks if spec.head in t.heads and (fit := _fit(spec, t))],
                "description": spec.description,
            }
        )
    return rows
