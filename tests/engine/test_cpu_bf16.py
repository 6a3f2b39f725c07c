"""bf16 on the CPU: allowed where the CPU has AVX512-BF16 or AMX, refused in one line elsewhere;
`auto` takes it on AMX, and on AVX512-BF16 alone where the probe of the network measures at
least 1.2x float32; the probe is real (a copy of the network, timed), cached per CPU and shape,
and leaves the trial's weights and random draws as they were. The CPU kind is the one seam:
its flags are set per test; everything else (torch's oneDNN, the probe, Ray, the store) is real."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from harness.architectures import create_model
from harness.cli.main import main
from harness.config.spec import SweepSpec
from harness.engine import cpu_bf16
from harness.engine.device import choose_device, choose_precision, placement
from harness.errors import HarnessError
from harness.store.db import Store

CONV = create_model("cnn_small", in_shape=(1, 8, 8), num_outputs=10)
NATIVE = cpu_bf16.cpu_bf16() is not None  # this machine's torch and CPU: the real bf16 runs need it


def _cpu(monkeypatch: pytest.MonkeyPatch, *flags: str) -> None:
    monkeypatch.setattr(cpu_bf16, "cpu_flags", lambda: frozenset({"avx512f", *flags}))
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)


def _never() -> float:
    raise AssertionError("auto probed where it had no need to")


def test_auto_takes_bf16_on_amx_without_a_probe(monkeypatch):
    _cpu(monkeypatch, "amx_bf16", "avx512_bf16")
    assert choose_precision("auto", choose_device([]), gain=_never).name == "bf16"


@pytest.mark.parametrize(("gain", "chosen"), [(1.19, "fp32"), (1.2, "bf16"), (2.15, "bf16")])
def test_auto_on_avx512_bf16_alone_takes_bf16_where_it_measures_faster(monkeypatch, gain, chosen):
    _cpu(monkeypatch, "avx512_bf16")
    assert choose_precision("auto", choose_device([]), gain=lambda: gain).name == chosen


def test_a_cpu_without_bf16_trains_fp32_and_refuses_bf16_in_one_line(monkeypatch):
    _cpu(monkeypatch)
    cpu = choose_device([])
    assert choose_precision("auto", cpu, gain=_never).name == "fp32"
    with pytest.raises(HarnessError, match="precision bf16 needs a CPU with AVX512-BF16 or AMX, or a GPU") as err:
        choose_precision("bf16", cpu)
    assert "\n" not in str(err.value) and "--precision auto or fp32" in err.value.hint
    _cpu(monkeypatch, "avx512_bf16")
    assert choose_precision("bf16", cpu).autocast_dtype == torch.bfloat16  # honoured where the CPU has it


def test_the_sweep_refuses_bf16_for_cpu_trials_before_anything_starts(monkeypatch):
    import harness.config.spec as spec_module

    monkeypatch.setattr(spec_module, "cpu_flags", lambda: frozenset({"avx2"}))
    with pytest.raises(HarnessError, match="--precision bf16 needs a CPU with AVX512-BF16 or AMX"):
        SweepSpec(precision="bf16", gpus_per_trial=0).validate()
    SweepSpec(precision="bf16", gpus_per_trial=0, address="10.0.0.1:6379").validate()  # the cluster's nodes decide
    with pytest.raises(HarnessError, match="--precision fp16 needs a GPU"):
        SweepSpec(precision="fp16", gpus_per_trial=0).validate()
    monkeypatch.setattr(spec_module, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    SweepSpec(precision="bf16", gpus_per_trial=0).validate()


def test_the_probe_measures_a_copy_and_leaves_weights_and_random_draws_alone():
    before = {k: v.clone() for k, v in CONV.state_dict().items()}
    CONV.eval()
    torch.manual_seed(7)
    gain = cpu_bf16.measure_gain(CONV, (8, 1, 8, 8), channels_last=True)
    after_probe = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after_probe, torch.rand(3))  # the trial's random stream is untouched
    assert math.isfinite(gain) and gain > 0
    assert all(torch.equal(before[k], v) for k, v in CONV.state_dict().items())
    assert not CONV.training  # the copy trained; the caller's network keeps its mode


def test_the_probe_is_cached_per_cpu_and_shape_and_survives_a_bad_cache(tmp_path):
    calls: list[int] = []

    def measure() -> float:
        calls.append(1)
        return 1.5

    assert cpu_bf16.cached_gain("cnn_small", (32, 1, 8, 8), measure, folder=tmp_path) == 1.5
    assert cpu_bf16.cached_gain("cnn_small", (32, 1, 8, 8), measure, folder=tmp_path) == 1.5
    assert len(calls) == 1
    assert cpu_bf16.cached_gain("cnn_small", (32, 3, 8, 8), measure, folder=tmp_path) == 1.5  # another shape
    assert len(calls) == 2
    (record,) = (k for k in json.loads((tmp_path / cpu_bf16.PROBE_FILE).read_text()) if "[32, 1, 8, 8]" in k)
    assert "torch" in record and "threads" in record
    (tmp_path / cpu_bf16.PROBE_FILE).write_text('{"a": [[[')  # torn or hand-edited: measured again
    assert cpu_bf16.cached_gain("cnn_small", (32, 1, 8, 8), measure, folder=tmp_path) == 1.5
    assert len(calls) == 3


def test_placement_probes_the_network_at_its_batch_shape(monkeypatch, tmp_path):
    _cpu(monkeypatch, "avx512_bf16")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    seen: list[tuple[int, ...]] = []
    import harness.engine.device as device_module

    monkeypatch.setattr(device_module, "measure_gain", lambda model, shape, channels_last: seen.append(shape) or 3.0)
    where = placement(CONV, device=choose_device([]), probe=("cnn_small", (512, 1, 8, 8)))
    assert where.precision == "bf16" and where.autocast_dtype == torch.bfloat16 and where.channels_last
    assert seen == [(cpu_bf16.PROBE_BATCH, 1, 8, 8)]  # capped: the ratio is measured, not the batch


@pytest.mark.skipif(not NATIVE, reason="this CPU or torch build has no native bf16")
def test_a_cpu_sweep_in_bf16_trains_and_the_store_says_so(ray_session, tmp_path):
    results = tmp_path / "results"
    flags = ["--arch", "cnn_small", "--optimizer", "adam", "--lr", "0.01", "--epochs", "2", "--no-export"]
    assert main(["sweep", *flags, "--precision", "bf16", "--gpus-per-trial", "0", "--results", str(results)]) == 0
    with Store.existing(results) as store:
        (trial,) = store._rows("SELECT id, precision, device FROM trials")
        accs = [e["val_acc"] for e in store._rows("SELECT val_acc FROM epochs ORDER BY epoch")]
    assert trial["precision"] == "bf16" and trial["device"].startswith("cpu ")
    assert len(accs) == 2 and accs[-1] > 0.8  # it learns: digits in 2 epochs


def test_the_reproduction_trains_in_fp32_unless_told():
    from harness.config.presets import get_preset, recipe_spec

    recipe = get_preset("uchile2020-cifar10").recipes[0]
    assert recipe_spec(recipe, {}).precision == "fp32"
    assert recipe_spec(recipe, {"precision": "bf16"}).precision == "bf16"


def test_the_bf16_probe_file_lives_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    cpu_bf16.cached_gain("mlp", (4, 1, 8, 8), lambda: 1.0)
    assert Path(tmp_path / cpu_bf16.PROBE_FILE).is_file()
