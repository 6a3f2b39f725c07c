"""Every architecture in the registry: the reports' exact parameter counts, forward and backward
at the declared input, ONNX export with a dynamic batch under onnxruntime, and input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.architectures import (
    check_fits,
    count_macs,
    count_params,
    create_model,
    describe_archs,
    get_arch,
    list_archs,
)
from harness.cli.main import main
from harness.errors import HarnessError
from harness.export.onnx import export_onnx
from harness.runtimes.predict import open_session

# REPORTS.md, Architectures table: the counts pin every padding, bias and width.
REPORT_COUNTS = {
    "vgg8_bn": 5_655_498,
    "vgg4_bn": 1_816_714,
    "keras_cnn2": 813_217,
    "keras_cnn3_drop": 831_585,
    "keras_cnn4_drop": 185_473,
    "keras_cnn3_drop09": 4_828_481,
    "upsample_a": 240_993,
    "upsample_b": 480_961,
    "upsample_c": 185_793,
    "cnn4_bn_mlp": 1_035_474,
}


def _native(name: str) -> torch.nn.Module:
    spec = get_arch(name)
    return create_model(name, in_shape=spec.input_shape, num_outputs=spec.num_outputs)


@pytest.mark.parametrize(("name", "expected"), sorted(REPORT_COUNTS.items()))
def test_report_parameter_counts_are_exact(name, expected):
    assert count_params(_native(name)) == expected
    assert get_arch(name).reference_params == expected


def test_every_report_network_is_registered_with_its_report():
    reports = {get_arch(n).report for n in list_archs()}
    assert reports >= {
        "uni2022-catsdogs",
        "uchile2020-cifar10",
        "itesm2022-catsdogs",
        "uni2022-pokemon",
        "itam2020-catsdogs-mnist",
    }
    assert set(REPORT_COUNTS) | {"cnn5_bn", "resnet4"} == {n for n in list_archs() if get_arch(n).report}
    assert {"resnet18", "resnet9", "espcn"} <= set(list_archs())


@pytest.mark.parametrize("name", list_archs())
def test_forward_backward_and_onnx_at_the_declared_input(name, tmp_path):
    spec = get_arch(name)
    torch.manual_seed(0)
    model = _native(name)
    expected = spec.output_shape(spec.input_shape, spec.num_outputs)

    # Train mode: batch of 2 so that BatchNorm1d has more than one value per channel.
    out = model.train()(torch.randn(2, *spec.input_shape))
    assert out.shape == (2, *expected)
    out.float().square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]  # frozen ones (airbench_cpu's whitening) get none
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    model.eval()
    path = tmp_path / f"{name}.onnx"
    export_onnx(model=model, example=torch.randn(2, *spec.input_shape), out_path=path, metadata={"architecture": name})
    session = open_session(path, cuda=False)
    input_name = session.get_inputs()[0].name
    for batch in (1, 5):
        x = torch.randn(batch, *spec.input_shape)
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {input_name: x.numpy()})[0]
        assert got.shape == (batch, *expected)
        assert np.abs(got - want).max() <= 1e-4


def test_macs_match_a_hand_count():
    # keras_cnn2 at 64 px: conv 62x62x32 outputs of 3x3x3, conv 29x29x32 of 3x3x32, dense 6272->128->1.
    hand = 62 * 62 * 32 * 27 + 29 * 29 * 32 * 288 + 6272 * 128 + 128
    assert count_macs("keras_cnn2", in_shape=(3, 64, 64), num_outputs=1) == hand


def test_fixed_inputs_are_refused_with_one_line_before_training():
    with pytest.raises(HarnessError, match=r"takes input 3x32x32 only") as exc:
        check_fits("vgg8_bn", in_shape=(1, 8, 8), heads=("logits",))
    assert "\n" not in str(exc.value) and "harness archs" in str(exc.value)
    with pytest.raises(HarnessError, match="at least 32 px"):
        check_fits("cnn5_bn", in_shape=(3, 16, 16), heads=("logits",))
    with pytest.raises(HarnessError, match="'single_logit' head"):
        check_fits("keras_cnn2", in_shape=(3, 64, 64), heads=("logits",))
    check_fits("keras_cnn2", in_shape=(3, 64, 64), heads=("logits", "single_logit"))  # cats vs dogs takes both
    with pytest.raises(HarnessError, match="takes input 3x128x128"):
        create_model("keras_cnn4_drop", in_shape=(3, 64, 64), num_outputs=1)


def test_adaptive_networks_build_for_other_sizes():
    for name, shape in (("cnn5_bn", (3, 64, 96)), ("resnet4", (1, 28, 28)), ("resnet9", (3, 8, 8))):
        model = create_model(name, in_shape=shape, num_outputs=7).eval()
        assert model(torch.zeros(1, *shape)).shape == (1, 7)
    assert get_arch("resnet18").adaptive and not get_arch("vgg8_bn").adaptive


def test_resnet18_stem_follows_the_image_size():
    small = create_model("resnet18", in_shape=(3, 32, 32), num_outputs=10)
    large = create_model("resnet18", in_shape=(3, 224, 224), num_outputs=10)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.stride == (2, 2)
    assert isinstance(large.maxpool, torch.nn.MaxPool2d)


def test_archs_lists_every_architecture_and_the_matched_counts(capsys):
    assert main(["archs", "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(list_archs())
    for name, count in REPORT_COUNTS.items():
        assert rows[name]["params"] == rows[name]["reference_params"] == count
        assert rows[name]["params_match"] is True
    assert rows["vgg8_bn"]["tasks"] == ["cats_vs_dogs@32px", "cifar10", "pokemon150@32px"]
    assert rows["keras_cnn2"]["tasks"] == ["cats_vs_dogs@64px"] and rows["keras_cnn4_drop"]["tasks"] == ["cats_vs_dogs"]
    assert rows["upsample_a"]["tasks"] == rows["espcn"]["tasks"] == ["mnist_upsample"]
    assert "digits" in rows["mlp"]["tasks"] and rows["vgg8_bn"]["macs"] > 0

    assert main(["archs"]) == 0
    table = capsys.readouterr().out
    for name in list_archs():
        assert name in table
    matched = [line for line in table.splitlines() if "✓ matched" in line]
    assert {name for name in REPORT_COUNTS if any(f" {name} " in line for line in matched)} == set(REPORT_COUNTS)


def test_archs_for_a_task_counts_at_its_input():
    rows = {r["name"]: r for r in describe_archs(in_shape=(1, 8, 8), num_outputs=lambda head: 10, heads=("logits",))}
    assert "vgg8_bn" not in rows and "keras_cnn2" not in rows
    assert rows["resnet9"]["counted_at"] == [1, 8, 8] and rows["resnet9"]["params_match"] is None
