"""Trial checkpoints: the weights plus the trial's own config, so a checkpoint rebuilds alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import Tensor

from harness.architectures import create_model, get_arch
from harness.config.frameworks import get_framework
from harness.config.spec import TrialSpec
from harness.config.trial_config import TrialConfig
from harness.datasets import get_task
from harness.engine.reported import EpochReport
from harness.errors import HarnessError

CHECKPOINT_FILE = "model.pt"
# Beside a trial's best checkpoint when its last epoch was not the best: the weights it ended with.
LAST_FILE = "last.pt"


class Checkpoint(TypedDict):
    """What a checkpoint file holds (torch.save writes it; torch.load with weights_only reads it back)."""

    model_state: dict[str, Tensor]  # the weights
    trial: TrialConfig  # the trial's settings (TrialSpec's fields), so that the file rebuilds alone
    epoch: int  # the epoch it was saved after: the best so far
    metrics: EpochReport  # that epoch's report
    optimizer_state: dict[str, Any] | None  # torch's own state_dict, handed back to load_state_dict as it is
    generator_state: Tensor | None  # the shuffling and augmentation generator's


def save_checkpoint(
    directory: str | Path,
    *,
    model: torch.nn.Module,
    spec: TrialSpec,
    epoch: int,
    metrics: EpochReport,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> None:
    """Weights and config (what export needs), plus the optimizer and shuffling state, so that a
    resumed trial continues from here exactly as if it had never stopped."""
    checkpoint: Checkpoint = {
        "model_state": model.state_dict(),
        "trial": spec.config(),
        "epoch": epoch,
        "metrics": metrics,
        "optimizer_state": optimizer.state_dict() if optimizer else None,
        "generator_state": generator.get_state() if generator else None,
    }
    torch.save(checkpoint, Path(directory) / CHECKPOINT_FILE)


def save_last_weights(directory: str | Path, *, weights: dict[str, Tensor], epoch: int) -> None:
    """The weights a trial ended with, beside its best checkpoint (LAST_FILE)."""
    torch.save({"model_state": weights, "epoch": epoch}, Path(directory) / LAST_FILE)


def last_epoch_of(directory: str | Path) -> int | None:
    """The epoch of the last weights kept beside the checkpoint, or None: the last epoch was the best."""
    path = Path(directory) / LAST_FILE
    if not path.is_file():
        return None
    epoch = torch.load(path, map_location="cpu", weights_only=True).get("epoch")
    return epoch if isinstance(epoch, int) else None


def load_checkpoint(directory: str | Path, *, weights: str = "best") -> tuple[torch.nn.Module, TrialSpec, Checkpoint]:
    """Rebuild the trial's model on the CPU, in eval mode; also return its spec and the raw dict.
    `weights="last"`: the weights training ended with (LAST_FILE), which are the best ones where
    no such file is kept; the raw dict's "epoch" then says which epoch they are from."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise HarnessError(f"checkpoint {str(path)!r} is missing", "re-run the sweep that wrote it")
    ckpt: Checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    last = Path(directory) / LAST_FILE
    if weights == "last" and last.is_file():
        kept = torch.load(last, map_location="cpu", weights_only=True)
        ckpt = {**ckpt, "model_state": kept["model_state"], "epoch": kept["epoch"]}
    spec = TrialSpec.from_config(ckpt["trial"])
    task = get_task(spec.task)
    head = get_arch(spec.arch).head
    model = create_model(spec.arch, in_shape=task.shape(spec.image_size), num_outputs=task.num_outputs(head))
    # The framework's constants that no state_dict holds (Keras's BatchNorm epsilon 1e-3): its init
    # sets them, and the weights it draws are overwritten by the trained ones just below.
    get_framework(spec.framework).init(model)
    model.load_state_dict(ckpt["model_state"])
    return model.eval(), spec, ckpt


def checkpoint_damage(directory: str | Path, *, metric: str) -> str | None:
    """Why a trial cannot continue from this checkpoint (missing, truncated, not a checkpoint of
    ours), or None when it loads. A resume asks on the driver before Ray starts, so a damaged
    file costs its trial the epochs since its start instead of ending it as an error."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return f"{path} is missing"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a truncated or foreign file
        return f"{path} does not load ({type(exc).__name__})"
    if not isinstance(ckpt, dict) or not {"model_state", "epoch", "metrics", "optimizer_state"} <= set(ckpt):
        return f"{path} is not a harness checkpoint"
    if not isinstance(ckpt["epoch"], int) or not isinstance(ckpt["metrics"], dict) or metric not in ckpt["metrics"]:
        return f"{path} does not say which epoch it was saved after"
    return None
