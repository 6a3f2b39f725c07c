"""What a sweep ran on: recorded with every sweep so that numbers are comparable."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from importlib import metadata
from typing import TypedDict


class Environment(TypedDict):
    """What a sweep ran on (its `environment_json`; the driver adds its data and Ray's nodes)."""

    python: str
    platform: str
    harness: str | None  # None: not installed as a distribution
    torch: str
    ray: str | None
    onnx: str | None
    onnxruntime: str | None  # onnxruntime-gpu's, else onnxruntime's
    cpu: str  # the CPU's name
    cpu_count: int | None
    gpu: str | None  # the driver's first CUDA device; None without one
    seed: int
    command: str  # the command line, shell-quoted


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The flags of the first CPU in /proc/cpuinfo; empty where there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# The flags behind this machine's reduced-precision speed, as figures name them beside the CPU.
SPEED_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni")


def cpu_speed_flags() -> list[str]:
    """Which of SPEED_FLAGS this CPU has, e.g. ["avx512_bf16", "avx512_vnni"]."""
    flags = cpu_flags()
    return [f for f in SPEED_FLAGS if f in flags]


def collect_environment(*, seed: int, argv: list[str] | None = None) -> Environment:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "harness": _version("harness"),
        "torch": torch.__version__,
        "ray": _version("ray"),
        "onnx": _version("onnx"),
        "onnxruntime": _version("onnxruntime-gpu") or _version("onnxruntime"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": gpu,
        "seed": seed,
        "command": shlex.join(argv if argv is not None else sys.argv),
    }
