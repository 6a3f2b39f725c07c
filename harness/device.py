"""Where and how a trial computes: the device, mixed precision and memory format.

Decided once per trial, at run time: CUDA when Ray gave the trial a GPU share (bf16 autocast
where the GPU supports it, which needs no loss scaling), else the CPU in float32. Convolutional
networks use channels_last on both: cuDNN's and oneDNN's fast convolution kernels want NHWC
(measured here on the CPU: vgg4_bn, batch 128, see the README).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Placement:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain float32
    channels_last: bool

    def autocast(self) -> AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def model(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def placement(model: nn.Module, *, cuda: bool | None = None, bf16: bool | None = None) -> Placement:
    """The trial's placement for `model`; `cuda` and `bf16` default to what this machine has
    (passed explicitly by tests, which must run without a GPU)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cuda:
        bf16 = torch.cuda.is_bf16_supported() if bf16 is None else bf16
        return Placement(torch.device("cuda"), torch.bfloat16 if bf16 else None, has_convolutions(model))
    return Placement(torch.device("cpu"), None, has_convolutions(model))
