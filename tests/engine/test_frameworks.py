"""Framework defaults: Keras recipes train under Keras's initialisers and optimizer constants,
everything else under PyTorch's, and each network ported from a Keras report starts alive."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from harness.architectures import create_model, get_arch
from harness.config.frameworks import FRAMEWORKS, get_framework
from harness.config.presets import PRESETS
from harness.engine.optim import create_optimizer
from harness.errors import HarnessError

KERAS_REPORTS = ("itesm2022-catsdogs", "itam2020-catsdogs-mnist")  # REPORTS.md: "framework in the report"


def _built(arch: str) -> nn.Module:
    spec = get_arch(arch)
    return create_model(arch, in_shape=spec.input_shape, num_outputs=spec.num_outputs)


def test_keras_init_is_glorot_uniform_with_zero_biases() -> None:
    conv, dense = nn.Conv2d(3, 32, 3), nn.Linear(32 * 30 * 30, 64)
    torch.manual_seed(0)
    get_framework("keras").init(nn.Sequential(conv, nn.Flatten(), dense))
    for layer, fan_in, fan_out in ((conv, 3 * 9, 32 * 9), (dense, 32 * 30 * 30, 64)):
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.95 * bound  # uniform over the whole range, not a narrower one
        assert layer.bias is not None and torch.count_nonzero(layer.bias) == 0


def test_keras_batchnorm_constants() -> None:
    bn = nn.BatchNorm2d(8)
    get_framework("keras").init(nn.Sequential(bn))
    assert (bn.momentum, bn.eps) == (0.01, 1e-3)  # Keras momentum 0.99 counted PyTorch's way


def test_pytorch_framework_leaves_the_model_alone() -> None:
    torch.manual_seed(0)
    model = nn.Linear(10, 4)
    before = [p.clone() for p in model.parameters()]
    get_framework("pytorch").init(model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_keras_adam_epsilon_reaches_the_optimizer() -> None:
    params = list(nn.Linear(2, 2).parameters())
    extra = get_framework("keras").optimizer_defaults["adam"]
    assert create_optimizer("adam", params, lr=1e-3, **extra).defaults["eps"] == 1e-7
    assert create_optimizer("adam", params, lr=1e-3).defaults["eps"] == 1e-8  # PyTorch's stays PyTorch's


def test_unknown_framework_is_one_line_with_the_choices() -> None:
    with pytest.raises(HarnessError) as info:
        get_framework("tensorflow")
    assert "keras" in str(info.value) and "pytorch" in str(info.value)


def test_recipes_of_keras_reports_train_as_keras_and_the_others_as_pytorch() -> None:
    for report, preset in PRESETS.items():
        for recipe in preset.recipes:
            assert recipe.spec.framework == ("keras" if report in KERAS_REPORTS else "pytorch"), (report, recipe.label)


@pytest.mark.parametrize(
    "arch",
    sorted({r.spec.archs[0] for report in KERAS_REPORTS for r in PRESETS[report].recipes}),
)
def test_every_ported_keras_network_starts_alive_under_keras_init(arch: str) -> None:
    """The class of itam2020's dead network: outputs that do not depend on the input. Under
    Keras's init each ported network's outputs vary across inputs in [0, 1] (the recipes' scaling)."""
    torch.manual_seed(0)
    model = _built(arch)
    get_framework("keras").init(model)
    shape = get_arch(arch).input_shape
    out = model.eval()(torch.rand(16, *shape)).flatten(1)
    assert out.std(dim=0).mean() > 1e-4, f"{arch}: the same output for every input"


def test_every_framework_has_a_description() -> None:
    assert all(f.description for f in FRAMEWORKS.values())


def test_a_keras_checkpoint_rebuilds_with_keras_batchnorm_constants(tmp_path) -> None:
    """BatchNorm's epsilon is in no state_dict: a rebuilt Keras trial gets it from its framework,
    or eval-mode scores (export, probes) would divide by another epsilon than the one it trained with."""
    from dataclasses import replace

    from harness.config.spec import TrialSpec
    from harness.engine.checkpoint import load_checkpoint, save_checkpoint

    spec = TrialSpec(arch="cnn_small", optimizer="adam", lr=0.01, batch_size=32, seed=0)
    for framework, eps in (("keras", 1e-3), ("pytorch", 1e-5)):
        model = _built("cnn_small")
        get_framework(framework).init(model)
        folder = tmp_path / framework
        folder.mkdir()
        save_checkpoint(folder, model=model, spec=replace(spec, framework=framework), epoch=1, metrics={})
        rebuilt, _, _ = load_checkpoint(folder)
        assert {m.eps for m in rebuilt.modules() if isinstance(m, nn.BatchNorm2d)} == {eps}
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values()))
