"""The fastest deployment within the gate, from matrix rows as the store keeps them: failed,
errored and missing rows never count, informational rows do when their gate passed, and an
INT8 file's speed-up is against onnxruntime on the float32 file."""

from __future__ import annotations

from typing import Any

import pytest

from harness.store.rows import fastest_deployment, fastest_of
from harness.views.runtimes import fastest_label


def _row(
    runtime: str, ms: float | None, *, passed: bool | None = True, precision: str = "f32", metric: float = 0.9
) -> Any:
    return {
        "runtime": runtime,
        "precision": precision,
        "b1_p50_ms": ms,
        "gate_passed": passed,
        "metric": None if ms is None else metric,
        "torch_metric": None if ms is None else 0.9002,
    }


FLOAT = [
    _row("onnxruntime", 1.0),
    _row("openvino", 1.2),
    _row("openvino-default", 0.2, precision="bf16", metric=0.9),
    _row("opencv", 0.1, passed=False),  # failed its gate: however fast, not a deployment
    _row("tract", None, passed=None),  # not installed
]


def test_the_fastest_passing_row_with_its_speed_up_and_metric_change():
    fastest = fastest_deployment(FLOAT)
    assert fastest is not None
    assert (fastest["runtime"], fastest["precision"]) == ("openvino-default", "bf16")
    assert fastest["speedup"] == pytest.approx(5.0) and fastest["metric_change"] == pytest.approx(-0.0002)
    assert fastest_label(fastest) == "openvino-default bf16, 5.0x, -0.02 pp"


def test_an_int8_file_is_timed_against_onnxruntime_on_the_float32_file():
    int8 = [_row("onnxruntime", 0.4, precision="int8+f32", metric=0.895), _row("openvino", None, passed=None)]
    fastest = fastest_deployment(int8, baseline=FLOAT)
    assert fastest is not None and fastest["speedup"] == pytest.approx(2.5) and fastest["precision"] == "int8+f32"
    assert fastest_of(fastest_deployment(FLOAT), fastest) == fastest_deployment(FLOAT)  # 0.2 ms beats 0.4
    assert fastest_deployment(int8, baseline=[])["speedup"] is None  # type: ignore[index]


def test_no_passing_row_is_none():
    assert fastest_deployment([_row("onnxruntime", 1.0, passed=False)]) is None
    assert fastest_label(None) == "none within the gate" and fastest_of(None, None) is None
