"""Starting weights: `--init TRIAL_ID|FILE` (fine-tune from a harness checkpoint, a state_dict
`.pt` or a `.safetensors` file) and what a trial changed of its network to take them.

Files load with `weights_only=True`: a pickle in a weights file runs no code. Tensors whose
name and shape match the network are copied; a head of another shape (10 CIFAR-10 classes into
a 3-class folder task) keeps the fresh initialisation, and the trial's notes say which.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from harness.errors import HarnessError


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a harness checkpoint's `model_state`, a state_dict, or safetensors."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as exc:  # torch and safetensors refuse what they cannot read
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise HarnessError(
            f"cannot read weights from {str(path)!r} ({detail})", "pass a state_dict .pt or .safetensors"
        ) from None
    state = loaded.get("model_state", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HarnessError(
            f"{str(path)!r} holds no state_dict of tensors", "save one with torch.save(model.state_dict())"
        )
    return state


def load_init(model: nn.Module, path: str | Path) -> str:
    """Copy the matching tensors of `path` into `model`; returns the note the trial records."""
    state = read_state(path)
    own = model.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise HarnessError(
            f"no tensor of {str(path)!r} fits the network (names or shapes all differ)",
            "pass weights of the same architecture",
        )
    fresh = sorted(k for k in own if k not in matched and own[k].is_floating_point())
    model.load_state_dict(matched, strict=False)
    reset = [f"{name} ({type(model.get_submodule(name)).__name__})" for name in _modules_of(fresh)]
    note = f"init from {path}: {len(matched)} of {len(own)} tensors"
    return note + (f"; re-initialised {', '.join(reset)}: another shape or absent there" if reset else "")


def _modules_of(names: list[str]) -> list[str]:
    """`fc.weight`, `fc.bias` -> `fc`: the modules a list of tensors belongs to, in order."""
    return list(dict.fromkeys(n.rpartition(".")[0] for n in names))


def adaptation_notes(arch: str, *, channels: int, pretrained: bool) -> list[str]:
    """What building `arch` for this task changed of the library's network."""
    notes = []
    if pretrained:
        notes.append(f"{arch}: published weights, classifier re-initialised for the task's classes")
    if arch.startswith("torchvision:") and channels != 3:
        notes.append(f"{arch}: first convolution rebuilt for {channels} channel(s)")
    return notes
