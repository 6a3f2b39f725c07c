"""Where and how a trial computes: the device, the precision, the memory format and where its data lives.

Decided once per trial, at run time, from what Ray assigned (the caller passes the GPU ids in;
this module knows nothing of Ray): no GPU means the CPU, even when CUDA devices are visible; a
GPU means exactly that GPU, and a trial whose process cannot use it fails with a clear error
rather than training on the CPU in silence. Convolutional networks use channels_last on both:
cuDNN's and oneDNN's fast convolution kernels want NHWC (measured here on the CPU: vgg4_bn,
batch 128, see the README).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from harness.engine.cpu_bf16 import AMX, MIN_GAIN, PROBE_BATCH, cached_gain, cpu_bf16, measure_gain
from harness.engine.reported import Where
from harness.environment import cpu_model
from harness.errors import HarnessError

FAKE_CUDA = "HARNESS_FAKE_CUDA"  # the test seam's environment variable (see fake_cuda)
NATIVE_BF16 = (8, 0)  # compute capability from which bf16 runs natively (Ampere); below, it is emulated
# Of the trial's share of GPU memory, the part kept free for the model, its activations and
# gradients, the optimizer state and the caching allocator's slack: the data goes to the GPU
# only when it fits in the other 75%. A round figure, not a measured one: the reports' models
# use a few hundred MB at batch 32-128, far below 25% of any share that holds their data.
HEADROOM = 0.25


def fake_cuda() -> bool:
    """The test seam: with HARNESS_FAKE_CUDA=1 a trial Ray gave a GPU records that GPU and
    trains on the CPU, marked as fake, so packing and assignment can be observed on machines
    without CUDA. Honoured only when set to 1; never set it for real results."""
    return os.environ.get(FAKE_CUDA) == "1"


@dataclass(frozen=True)
class Precision:
    name: str  # as reported and stored: fp32 | bf16 | fp16
    autocast_dtype: torch.dtype | None  # None: plain float32
    scaled: bool  # fp16 needs a GradScaler: its gradients underflow without loss scaling


PRECISIONS = {
    "fp32": Precision("fp32", None, scaled=False),
    "bf16": Precision("bf16", torch.bfloat16, scaled=False),
    "fp16": Precision("fp16", torch.float16, scaled=True),
}
FP32 = PRECISIONS["fp32"]


@dataclass(frozen=True)
class Placement:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain float32
    channels_last: bool
    name: str = "cpu"  # what the trial reports as its device: "cuda:0 NVIDIA H200", "cpu AMD EPYC ..."
    gpu_ids: tuple[str, ...] = ()  # the GPU ids Ray assigned, as strings; () on the CPU
    precision: str = "fp32"  # a PRECISIONS key: what the epochs train and validate in
    scaled: bool = False  # fp16: train_one_epoch scales the loss with a GradScaler

    def autocast(self) -> AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def model(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A new loss scaler for fp16, None otherwise (bf16 and fp32 need none)."""
        return torch.amp.GradScaler(self.device.type) if self.scaled else None

    def configure_backends(self) -> None:
        """TF32 matmuls and cuDNN's autotuner on the reduced-precision GPU paths, off for fp32.
        Set both ways: a reused Ray worker may have run another precision before."""
        if self.device.type != "cuda":
            return
        fast = self.precision != "fp32"
        torch.backends.cuda.matmul.allow_tf32 = fast
        torch.backends.cudnn.allow_tf32 = fast
        torch.backends.cudnn.benchmark = fast  # fixed batch shapes: the tuned kernels are reused every step

    def report(self) -> Where:
        """What every epoch's result says about where it ran."""
        return {"device": self.name, "gpu_ids": list(self.gpu_ids), "precision": self.precision}


@dataclass(frozen=True)
class Device:
    """The device a trial computes on, before the model is known."""

    device: torch.device
    name: str  # as Placement.name
    gpu_ids: tuple[str, ...]
    capability: tuple[int, int] | None = None  # CUDA compute capability; None on the CPU
    total_memory: int = 0  # bytes of GPU memory; 0 on the CPU


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def cuda_index(gpu_id: str, visible: str | None) -> int:
    """The torch device index of the physical GPU `gpu_id` in a process whose CUDA_VISIBLE_DEVICES
    is `visible`. Ray usually lists only the worker's GPUs there (so GPU 1 is cuda:0); with
    several trials on one GPU (fractional shares) they all see it as cuda:0."""
    if visible is None:  # every GPU visible: the physical id is the index
        if not gpu_id.isdigit():
            raise HarnessError(
                f"this trial was given GPU {gpu_id} by Ray, which is not a device index, and CUDA_VISIBLE_DEVICES"
                " is unset",
                "let Ray set CUDA_VISIBLE_DEVICES (unset RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES)",
            )
        return int(gpu_id)
    listed = [v.strip() for v in visible.split(",") if v.strip()]
    if gpu_id not in listed:
        raise HarnessError(
            f"this trial was given GPU {gpu_id} by Ray, but its CUDA_VISIBLE_DEVICES={visible!r} hides that GPU",
            "let Ray set CUDA_VISIBLE_DEVICES on that node (do not override it in the worker's environment)",
        )
    return listed.index(gpu_id)


def _cuda_broken(gpu_id: str, why: str) -> HarnessError:
    return HarnessError(
        f"this trial was given GPU {gpu_id} by Ray, but CUDA does not work in its process ({why})",
        "install a CUDA build of torch on that node, or pass --gpus-per-trial 0",
    )


def choose_device(gpu_ids: Sequence[str]) -> Device:
    """The device for a trial Ray gave `gpu_ids` (strings, [] for none): the CPU for none, the
    first assigned GPU otherwise (one trial trains on one device), or the seam's fake GPU."""
    ids = tuple(str(g) for g in gpu_ids)
    cpu = f"cpu {cpu_model()}"
    if not ids:
        return Device(torch.device("cpu"), cpu, ids)
    if fake_cuda():
        return Device(torch.device("cpu"), f"fake GPU {','.join(ids)} (trained on {cpu})", ids)
    if not torch.cuda.is_available():
        raise _cuda_broken(ids[0], "torch.cuda.is_available() is False")
    index = cuda_index(ids[0], os.environ.get("CUDA_VISIBLE_DEVICES"))
    count = torch.cuda.device_count()
    if index >= count:
        raise _cuda_broken(ids[0], f"it would be cuda:{index}, but torch sees {count} device(s)")
    try:  # opens the device: a broken driver or a GPU in exclusive use by another process fails here
        props = torch.cuda.get_device_properties(index)
        capability = torch.cuda.get_device_capability(index)
    except RuntimeError as exc:
        raise _cuda_broken(ids[0], f"cuda:{index} cannot be opened: {str(exc).splitlines()[0]}") from None
    return Device(torch.device("cuda", index), f"cuda:{index} {props.name}", ids, capability, props.total_memory)


def choose_precision(requested: str, device: Device, *, gain: Callable[[], float] = lambda: 0.0) -> Precision:
    """auto: bf16 where the GPU has it natively (compute capability >= 8.0), fp16 with loss
    scaling on older GPUs; on the CPU bf16 with AMX, bf16 with AVX512-BF16 alone where `gain`
    (bf16's measured training speed over float32, harness.engine.cpu_bf16) is at least
    MIN_GAIN, else fp32. An explicit choice is honoured or refused, never changed.
    `torch.cuda.is_bf16_supported()` is not asked: it says True for emulated bf16."""
    gpu = device.capability
    if gpu is None:
        return _cpu_precision(requested, device, gain)
    if requested == "auto":
        return PRECISIONS["bf16" if gpu >= NATIVE_BF16 else "fp16"]
    if requested == "bf16" and gpu < NATIVE_BF16:
        raise HarnessError(
            f"precision bf16 needs compute capability 8.0 or newer, but {device.name} has"
            f" {gpu[0]}.{gpu[1]} (bf16 would be emulated, slowly)",
            "pass --precision auto (fp16 with loss scaling there) or fp32",
        )
    return PRECISIONS[requested]


def _cpu_precision(requested: str, device: Device, gain: Callable[[], float]) -> Precision:
    native = cpu_bf16()
    if requested == "auto":
        return PRECISIONS["bf16"] if native == AMX or (native and gain() >= MIN_GAIN) else FP32
    if requested == "fp16":
        raise HarnessError(
            f"precision fp16 needs a CUDA GPU, but this trial trains on the CPU ({device.name})",
            "pass --precision bf16 (on CPUs with AVX512-BF16 or AMX), auto or fp32, or give trials a GPU",
        )
    if requested == "bf16" and native is None:
        raise HarnessError(
            f"precision bf16 needs a CPU with AVX512-BF16 or AMX, or a GPU, but this trial trains on"
            f" {device.name}, which has neither (or torch's oneDNN cannot use them)",
            "pass --precision auto or fp32, or give trials a GPU with --gpus-per-trial",
        )
    return PRECISIONS[requested]


def placement(
    model: nn.Module, *, device: Device, precision: str = "auto", probe: tuple[str, tuple[int, ...]] | None = None
) -> Placement:
    """The trial's placement for `model` on `device` (from choose_device) in `precision`
    (auto | fp32 | bf16 | fp16). `probe`: the network's name and the shape of its training
    batches, which auto measures bf16 on where the CPU has AVX512-BF16 alone (without it, fp32)."""
    channels_last = has_convolutions(model)

    def gain() -> float:
        if probe is None:
            return 0.0
        name, shape = probe
        shape = (min(shape[0], PROBE_BATCH), *shape[1:])
        return cached_gain(name, shape, lambda: measure_gain(model, shape, channels_last=channels_last))

    chosen = choose_precision(precision, device, gain=gain)
    return Placement(
        device=device.device,
        autocast_dtype=chosen.autocast_dtype,
        channels_last=channels_last,
        name=device.name,
        gpu_ids=device.gpu_ids,
        precision=chosen.name,
        scaled=chosen.scaled,
    )


def data_fits(*, data_bytes: int, total_memory: int, gpu_share: float, headroom: float = HEADROOM) -> bool:
    """Whether a trial's splits (`data_bytes`) fit in its share of the GPU's memory: the GPU's
    `total_memory` x the trial's GPU share (at most one whole GPU: a trial uses one device),
    less the headroom. Trials sharing a GPU each count only their own share."""
    return data_bytes <= total_memory * min(gpu_share, 1.0) * (1.0 - headroom)


def data_home(*, device: Device, data_bytes: int, gpu_share: float) -> str:
    """Where a trial keeps its splits, as reported (`data_on`): "gpu" when it computes on a GPU
    and they fit its share (data_fits), else "host" (batches stream from host memory)."""
    on_gpu = device.device.type == "cuda" and data_fits(
        data_bytes=data_bytes, total_memory=device.total_memory, gpu_share=gpu_share
    )
    return "gpu" if on_gpu else "host"


def gpu_seconds(*, wall_s: float, gpu_ids: Sequence[str], gpu_share: float) -> float | None:
    """What `wall_s` seconds of a trial cost in GPU-seconds: the wall time times the GPU share
    Ray reserved for it (a quarter of a GPU for 10 s: 2.5), since that share is held whether or
    not the kernels fill it. None for a trial that holds no GPU (it trains on the CPU); the
    fake-GPU seam counts as holding one, as Ray's bookkeeping does."""
    return wall_s * gpu_share if gpu_ids and gpu_share > 0 else None
