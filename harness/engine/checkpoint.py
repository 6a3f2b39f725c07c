"""Trial checkpoints: the weights plus the trial's own config, so a checkpoint rebuilds alone."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from harness.architectures import create_model, get_arch
from harness.config.frameworks import get_framework
from harness.config.spec import TrialSpec
from harness.datasets import get_task
from harness.errors import HarnessError

CHECKPOINT_FILE = "model.pt"


def save_checkpoint(
    directory: str | Path,
    *,
    model: torch.nn.Module,
    spec: TrialSpec,
    epoch: int,
    metrics: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Weights and config (what export needs), plus the optimizer and shuffling state, so that a
    resumed trial continues from here exactly as if it had never stopped."""
    torch.save(
        {
            "model_state": model.state_dict(),
            "trial": asdict(spec),
            "epoch": epoch,
            "metrics": metrics,
            "optimizer_state": optimizer.state_dict() if optimizer else None,
            "generator_state": generator.get_state() if generator else None,
        },
        Path(directory) / CHECKPOINT_FILE,
    )


def load_checkpoint(directory: str | Path) -> tuple[torch.nn.Module, TrialSpec, dict[str, Any]]:
    """Rebuild the trial's model on the CPU, in eval mode; also return its spec and the raw dict."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise HarnessError(f"checkpoint {str(path)!r} is missing", "re-run the sweep that wrote it")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    spec = TrialSpec.from_config(ckpt["trial"])
    task = get_task(spec.task)
    head = get_arch(spec.arch).head
    model = create_model(spec.arch, in_shape=task.shape(spec.image_size), num_outputs=task.num_outputs(head))
    # The framework's constants that no state_dict holds (Keras's BatchNorm epsilon 1e-3): its init
    # sets them, and the weights it draws are overwritten by the trained ones just below.
    get_framework(spec.framework).init(model)
    model.load_state_dict(ckpt["model_state"])
    return model.eval(), spec, ckpt
