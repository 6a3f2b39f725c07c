"""A trial's device, precision and data placement (harness.engine.device), without a GPU: the CUDA
queries and Ray's assignment are patched, and the fp16 loss-scaling path runs on the CPU."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import pytest
import torch

from harness.architectures import create_model
from harness.engine.device import (
    FAKE_CUDA,
    Placement,
    choose_device,
    choose_precision,
    cuda_index,
    data_fits,
    data_home,
    placement,
)
from harness.errors import HarnessError

CONV = create_model("cnn_small", in_shape=(1, 8, 8), num_outputs=10)
MLP = create_model("mlp", in_shape=(1, 8, 8), num_outputs=10)


def _cuda(
    monkeypatch: pytest.MonkeyPatch,
    *,
    available: bool = True,
    capability: tuple[int, int] = (9, 0),
    count: int = 1,
    visible: str | None = "1",
    opens: bool = True,
) -> None:
    """This process as Ray leaves a worker given GPU 1 on a node with CUDA (unless told otherwise)."""

    def properties(index: int) -> SimpleNamespace:
        if not opens:
            raise RuntimeError("CUDA error: all CUDA-capable devices are busy or unavailable\nmore")
        return SimpleNamespace(name="NVIDIA H200", total_memory=140 * 2**30)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    monkeypatch.delenv(FAKE_CUDA, raising=False)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)


def test_no_gpu_assigned_is_the_cpu_even_where_cuda_works(monkeypatch):
    _cuda(monkeypatch)
    device = choose_device([])
    assert device.device == torch.device("cpu") and device.gpu_ids == () and device.capability is None
    assert device.name.startswith("cpu ") and len(device.name) > 4  # the CPU's model name
    where = placement(CONV, device=device)
    assert where.report() == {"device": device.name, "gpu_ids": [], "precision": "fp32"}


def test_an_assigned_gpu_is_exactly_that_gpu(monkeypatch):
    _cuda(monkeypatch, visible="1")  # Ray lists only the worker's own GPU: physical 1 is cuda:0
    device = choose_device(["1"])
    assert device.device == torch.device("cuda", 0) and device.name == "cuda:0 NVIDIA H200"
    assert device.gpu_ids == ("1",) and device.total_memory == 140 * 2**30
    _cuda(monkeypatch, visible="0,1", count=2)  # both visible (e.g. a trial holding two): the listed position
    assert choose_device(["1"]).device == torch.device("cuda", 1)
    _cuda(monkeypatch, visible=None, count=2)  # Ray told not to set it: the physical id is the index
    assert choose_device(["1"]).device == torch.device("cuda", 1)


def test_the_device_index_follows_cuda_visible_devices():
    assert cuda_index("3", "3") == 0
    assert cuda_index("3", "2, 3") == 1
    assert cuda_index("GPU-7f3a", "GPU-1b2c,GPU-7f3a") == 1  # ids given as UUIDs
    assert cuda_index("2", None) == 2
    with pytest.raises(HarnessError, match="CUDA_VISIBLE_DEVICES='0' hides that GPU"):
        cuda_index("1", "0")
    with pytest.raises(HarnessError, match="not a device index"):
        cuda_index("GPU-7f3a", None)


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ({"available": False}, r"\(torch.cuda.is_available\(\) is False\)"),
        ({"visible": None, "count": 1}, r"it would be cuda:1, but torch sees 1 device"),
        ({"opens": False}, r"cuda:0 cannot be opened: CUDA error: all CUDA-capable devices are busy or unavailable\)"),
    ],
)
def test_a_gpu_that_does_not_work_fails_the_trial_never_the_cpu(monkeypatch, broken, why):
    _cuda(monkeypatch, **broken)
    with pytest.raises(HarnessError) as caught:
        choose_device(["1"])
    text = str(caught.value)
    assert text.startswith("this trial was given GPU 1 by Ray, but CUDA does not work in its process (")
    assert text.endswith("(install a CUDA build of torch on that node, or pass --gpus-per-trial 0)")
    assert "\n" not in text
    assert re.search(why, text)


def test_the_fake_cuda_seam_records_the_gpu_and_trains_on_the_cpu(monkeypatch):
    _cuda(monkeypatch, available=False)  # no CUDA here: without the seam this is the error above
    monkeypatch.setenv(FAKE_CUDA, "1")
    device = choose_device(["1"])
    assert device.device == torch.device("cpu") and device.gpu_ids == ("1",)
    assert device.name.startswith("fake GPU 1 (trained on cpu ") and device.name.endswith(")")
    where = placement(CONV, device=device)
    assert where.report() == {"device": device.name, "gpu_ids": ["1"], "precision": "fp32"}
    assert choose_device([]).name.startswith("cpu ")  # no GPU given: a plain CPU trial, seam or not
    monkeypatch.setenv(FAKE_CUDA, "0")  # honoured only when set to 1
    with pytest.raises(HarnessError, match="CUDA does not work"):
        choose_device(["1"])


def test_the_trial_reads_its_gpus_from_ray(monkeypatch):
    import ray

    from harness.engine.trial import assigned_gpus

    context = SimpleNamespace(get_accelerator_ids=lambda: {"GPU": ["1"], "TPU": []})
    monkeypatch.setattr(ray, "get_runtime_context", lambda: context)
    assert assigned_gpus() == ["1"]
    context = SimpleNamespace(get_accelerator_ids=lambda: {})
    monkeypatch.setattr(ray, "get_runtime_context", lambda: context)
    assert assigned_gpus() == []


@pytest.mark.parametrize(
    ("capability", "precision", "autocast", "scaled"),
    [
        ((9, 0), "bf16", torch.bfloat16, False),
        ((8, 0), "bf16", torch.bfloat16, False),
        ((7, 0), "fp16", torch.float16, True),
    ],
)
def test_auto_precision_is_native_bf16_else_fp16_with_a_scaler(monkeypatch, capability, precision, autocast, scaled):
    _cuda(monkeypatch, capability=capability)
    where = placement(CONV, device=choose_device(["1"]))
    assert (where.precision, where.autocast_dtype, where.scaled) == (precision, autocast, scaled)
    assert where.device.type == "cuda" and where.channels_last
    assert isinstance(where.grad_scaler(), torch.amp.GradScaler) if scaled else where.grad_scaler() is None


def test_explicit_precisions_are_honoured_or_refused(monkeypatch):
    _cuda(monkeypatch, capability=(7, 0))
    old = choose_device(["1"])
    with pytest.raises(HarnessError, match=r"precision bf16 needs compute capability 8.0 .* has 7.0"):
        choose_precision("bf16", old)
    assert choose_precision("fp16", old).scaled
    assert placement(CONV, device=old, precision="fp32").autocast_dtype is None  # float32, no loss scaling
    cpu = choose_device([])
    with pytest.raises(HarnessError, match="precision fp16 needs a CUDA GPU, but this trial trains on the CPU"):
        choose_precision("fp16", cpu)
    assert choose_precision("fp32", cpu).autocast_dtype is None  # bf16 on the CPU: tests/engine/test_cpu_bf16.py


def test_placement_is_decided_at_run_time_and_guards_cuda(monkeypatch):
    cpu = placement(CONV, device=choose_device([]))
    assert cpu.device.type == "cpu" and cpu.autocast_dtype is None and cpu.channels_last
    assert not placement(MLP, device=choose_device([])).channels_last  # nothing to gain without convolutions
    _cuda(monkeypatch)
    gpu = placement(CONV, device=choose_device(["1"]))  # built without touching a GPU: none is needed here
    assert gpu.device.type == "cuda" and gpu.autocast_dtype == torch.bfloat16 and gpu.channels_last
    x = cpu.inputs(torch.zeros(2, 1, 8, 8))
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_tf32_and_cudnn_benchmark_only_on_the_reduced_precision_gpu_paths(monkeypatch):
    for flag in ("allow_tf32", "benchmark"):
        monkeypatch.setattr(torch.backends.cudnn, flag, torch.backends.cudnn.__getattribute__(flag))
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", torch.backends.cuda.matmul.allow_tf32)
    _cuda(monkeypatch)
    device = choose_device(["1"])
    placement(CONV, device=device).configure_backends()
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.benchmark
    placement(CONV, device=device, precision="fp32").configure_backends()  # a reused worker's next trial
    assert not (
        torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32 or torch.backends.cudnn.benchmark
    )


def test_data_goes_to_the_gpu_only_when_it_fits_the_trials_share():
    gib = 2**30
    # 16 GiB GPU, a quarter share: 4 GiB, of which 75% (3 GiB) may hold data
    assert data_fits(data_bytes=3 * gib, total_memory=16 * gib, gpu_share=0.25)
    assert not data_fits(data_bytes=3 * gib + 1, total_memory=16 * gib, gpu_share=0.25)
    assert data_fits(data_bytes=12 * gib, total_memory=16 * gib, gpu_share=2.0)  # two GPUs: still one device's memory
    assert not data_fits(data_bytes=12 * gib + 1, total_memory=16 * gib, gpu_share=2.0)


def test_the_trial_reports_where_its_data_lives(monkeypatch):
    gib = 2**30
    assert data_home(device=choose_device([]), data_bytes=1, gpu_share=0) == "host"  # the CPU: memory maps
    _cuda(monkeypatch)  # 140 GiB: a quarter share holds 26.25 GiB of data
    gpu = choose_device(["1"])
    assert data_home(device=gpu, data_bytes=26 * gib, gpu_share=0.25) == "gpu"
    assert data_home(device=gpu, data_bytes=27 * gib, gpu_share=0.25) == "host"
    monkeypatch.setenv(FAKE_CUDA, "1")  # the seam trains on the CPU, so its data stays there
    assert data_home(device=choose_device(["1"]), data_bytes=1, gpu_share=0.25) == "host"


def test_every_epoch_result_says_where_it_ran(monkeypatch):
    from harness.engine.fit import EpochResult
    from harness.engine.trial import _reported

    monkeypatch.setenv(FAKE_CUDA, "1")
    where = placement(CONV, device=choose_device(["1"]))
    timed = {"val_acc": 0.5, "epoch_time_s": 3.0, "eval_time_s": 1.0}
    result = EpochResult(epoch=1, metrics=timed, diverged=False, improved=True, best_epoch=1)
    metrics = _reported(result, params=10, node="n", where=where, data_on="host", gpu_share=0.25)
    assert metrics["device"].startswith("fake GPU 1 (trained on cpu ") and metrics["gpu_ids"] == ["1"]
    assert (metrics["precision"], metrics["data_on"], metrics["val_acc"]) == ("fp32", "host", 0.5)
    assert metrics["gpu_s"] == pytest.approx(1.0)  # 4 s of a quarter GPU
    cpu = placement(CONV, device=choose_device([]))
    assert "gpu_s" not in _reported(result, params=10, node="n", where=cpu, data_on="host", gpu_share=0.0)


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ({"precision": "fp8"}, "unknown precision 'fp8' (choose from: auto, bf16, fp16, fp32)"),
        (
            {"precision": "fp16", "gpus_per_trial": 0},
            "--precision fp16 needs a GPU, but --gpus-per-trial is 0"
            " (pass --precision bf16 (on CPUs with AVX512-BF16 or AMX), auto or fp32 for CPU trials)",
        ),
    ],
)
def test_a_precision_the_sweep_cannot_use_is_refused_up_front(given, error):
    from harness.config.spec import SweepSpec

    with pytest.raises(HarnessError) as caught:
        SweepSpec(**given).validate()
    assert str(caught.value) == error
    SweepSpec(precision="bf16").validate()  # the default share: the cluster decides, a CPU trial refuses it
    SweepSpec(precision="fp32", gpus_per_trial=0).validate()


def test_an_fp16_epoch_runs_through_the_loss_scaler():
    """train_one_epoch's GradScaler path (scale, step, update) for real, with torch's CPU scaler
    and CPU fp16 autocast: the same calls a CUDA fp16 trial makes, on other kernels."""
    from harness.engine.fit import fit
    from harness.engine.train import OBJECTIVES, Normalizer

    where = Placement(torch.device("cpu"), torch.float16, True, precision="fp16", scaled=True)
    scaler = where.grad_scaler()
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    torch.manual_seed(0)
    images = torch.randint(0, 256, (256, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = (images[..., :4].float().mean((1, 2, 3)) > images[..., 4:].float().mean((1, 2, 3))).long()
    model = where.model(create_model("cnn_small", in_shape=(1, 8, 8), num_outputs=2))
    results = list(
        fit(
            model=model,
            objective=OBJECTIVES["logits"],
            optimizer=torch.optim.Adam(model.parameters(), lr=0.003),
            train=(images, labels),
            val=(images, labels),
            test=(images, labels),
            epochs=3,
            batch_size=32,
            normalize=Normalizer((0.5,), (0.25,), torch.device("cpu")),
            generator=torch.Generator().manual_seed(0),
            metric="val_acc",
            mode="max",
            placement=where,
        )
    )
    assert all(math.isfinite(r.metrics["train_loss"]) for r in results)
    assert results[-1].metrics["val_acc"] > 0.6  # it learned: the scaled steps were taken, not all skipped
