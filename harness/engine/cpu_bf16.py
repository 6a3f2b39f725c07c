"""bf16 on the CPU: whether this CPU and torch build have it, and whether it pays for a network.

Two kinds of CPU compute bf16 natively through oneDNN: those with AMX (amx_bf16: tile matrix
units, 2.0-2.3x float32 training for the reports' VGGs as measured on an Intel Xeon) and those
with AVX512-BF16 alone (bf16 dot products in the vector units, where the gain depends on the
network: measured 1.7-2.2x for vgg4_bn, vgg8_bn, cnn5_bn and cnn_small on the 2-core AMD EPYC, see the README).
`auto` therefore takes bf16 on AMX, and on AVX512-BF16 alone only where a short probe of the
trial's own network (forward and backward at its batch shape, paired rounds against float32)
measures at least MIN_GAIN; the probe's answer is cached per CPU, torch build and shape, so a
sweep's trials agree and pay for it once.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from harness.datasets import cache_root
from harness.environment import cpu_flags, cpu_model
from harness.errors import HarnessError
from harness.safefile import writer
from harness.userfiles import read_regular

AMX, AVX512 = "amx_bf16", "avx512_bf16"  # the /proc/cpuinfo flags, the faster first
MIN_GAIN = 1.2  # auto takes bf16 on AVX512-BF16 alone from this measured speed-up over float32
PROBE_ROUNDS = 5  # paired rounds, the order flipped each round; the ratio is their median
PROBE_STEPS = 1  # forward + backward steps per precision per round, at least ...
PROBE_ROUND_S = 0.05  # ... and this long: a small network's step is too short to time alone
PROBE_FILE = "cpu-bf16.json"
PROBE_BATCH = 16  # at most this many images per probe step: the ratio, not the batch, is measured


def cpu_bf16() -> str | None:
    """The flag that gives this CPU native bf16 (AMX or AVX512), or None: none of the two, or a
    torch build whose oneDNN cannot use them."""
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return None
    flags = cpu_flags()
    return next((flag for flag in (AMX, AVX512) if flag in flags), None)


def _step(model: nn.Module, x: torch.Tensor, dtype: torch.dtype | None) -> None:
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = model(x)
    out.float().sum().backward()  # any head: the backward pass costs what the loss's would


def measure_gain(model: nn.Module, shape: tuple[int, ...], *, channels_last: bool) -> float:
    """bf16 autocast's training-step speed over float32 for `model` on random batches of `shape`
    (in the memory format the trial uses): the median over paired rounds of float32's seconds
    over bf16's. A copy of the model runs, in train mode, under a forked random state, so the
    trial's weights, statistics and random draws are what they would have been without it."""
    fmt = torch.channels_last if channels_last and len(shape) == 4 else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):
        probe = copy.deepcopy(model).train().to(memory_format=fmt)
        x = torch.randn(shape).contiguous(memory_format=fmt)
        seconds: dict[torch.dtype | None, list[float]] = {None: [], torch.bfloat16: []}
        for dtype in seconds:  # warm-up: oneDNN picks and caches its kernels on the first calls
            for _ in range(PROBE_STEPS):
                _step(probe, x, dtype)
        for i in range(PROBE_ROUNDS):
            for dtype in list(seconds)[:: 1 if i % 2 == 0 else -1]:
                start, steps = time.perf_counter(), 0
                while steps < PROBE_STEPS or time.perf_counter() - start < PROBE_ROUND_S:
                    _step(probe, x, dtype)
                    steps += 1
                seconds[dtype].append((time.perf_counter() - start) / steps)
    return float(np.median(np.asarray(seconds[None]) / np.asarray(seconds[torch.bfloat16])))


def _probe_key(name: str, shape: tuple[int, ...]) -> str:
    return f"{cpu_model()} | torch {torch.__version__} | {torch.get_num_threads()} threads | {name} {list(shape)}"


def cached_gain(
    name: str, shape: tuple[int, ...], measure: Callable[[], float], *, folder: Path | None = None
) -> float:
    """The measured gain for network `name` on batches of `shape`, from the cache file when this
    CPU, torch build and thread count measured it before, else measured now and recorded. The file
    is the user's own cache; one that cannot be read or written only costs a new measurement."""
    path = (folder or cache_root()) / PROBE_FILE
    key = _probe_key(name, shape)
    try:
        known = json.loads(read_regular(path, what="bf16 probe cache", limit=1 << 20, hint=""))
    except (HarnessError, ValueError):  # absent, unreadable or not JSON: measure again
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), float):
        return float(known[key])
    gain = measure()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with writer(path, what="bf16 probe cache") as handle:  # a whole file, never a torn one
            handle.write(json.dumps({**known, key: gain}, indent=1).encode())
    except (OSError, HarnessError):  # a read-only cache, or a link planted at the file's name
        pass
    return gain
