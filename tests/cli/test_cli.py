"""The command line itself: help, flag parsing, listing commands."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from harness.cli.main import build_parser, main
from harness.config.spec import SweepSpec
from harness.sweeps.plan import trial_resources

COMMANDS = (
    "sweep",
    "reproduce",
    "leaderboard",
    "show",
    "compare",
    "probe",
    "export",
    "verify",
    "predict",
    "archs",
    "data",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"harness {command}" in out and "--format" in out


def test_sweep_help_names_the_shared_flags(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--task",
        "--arch",
        "--optimizer",
        "--lr",
        "--epochs",
        "--batch-size",
        "--seed",
        "--data-dir",
        "--results",
    ):
        assert flag in out


def test_list_flags_are_repeatable_and_comma_separated():
    args = build_parser().parse_args(
        ["sweep", "--lr", "0.1,0.01", "--lr", "1e-3", "--arch", "mlp", "--arch", "cnn_small"]
    )
    assert args.lr == [0.1, 0.01, 0.001]
    assert args.arch == ["mlp", "cnn_small"]


def test_trial_resources_share_gpus_only_when_the_cluster_has_gpus():
    spec = SweepSpec()
    assert trial_resources(spec, nodes=[{"CPU": 2.0, "GPU": 0.0}]) == {"cpu": 1.0, "gpu": 0.0}
    assert trial_resources(spec, nodes=[{"CPU": 8.0, "GPU": 2.0}]) == {"cpu": 1.0, "gpu": 0.25}
    given = SweepSpec(cpus_per_trial=2, gpus_per_trial=0.5)
    assert trial_resources(given, nodes=[{"CPU": 2.0, "GPU": 1.0}]) == {"cpu": 2, "gpu": 0.5}


def test_archs_and_data_list_as_json(capsys):
    assert main(["archs", "--format", "json"]) == 0
    archs = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert {"mlp", "cnn_small"} <= set(archs)
    assert main(["archs", "--task", "digits", "--format", "json"]) == 0
    assert {r["name"]: r["params"] for r in json.loads(capsys.readouterr().out)}[
        "mlp"
    ] == 64 * 256 + 256 + 256 * 10 + 10
    assert main(["data", "prepare", "digits", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "cached" and row["counts"] == {"train": 1077, "val": 360, "test": 360}
    assert sum(row["per_class"]["test"].values()) == 360


def test_archs_and_data_tables(capsys):
    assert main(["archs"]) == 0 and "cnn_small" in capsys.readouterr().out
    assert main(["data"]) == 0 and "scikit-learn" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "sweep" in capsys.readouterr().out


def test_no_top_level_datasets_package():
    """`datasets/` installs as harness.datasets; a top-level `datasets` would shadow Hugging Face's."""
    import importlib.util

    import harness.datasets

    assert harness.datasets.__name__ == "harness.datasets"
    spec = importlib.util.find_spec("datasets")
    assert spec is None or "harness" not in str(spec.origin)


def test_verification_shows_a_silent_cuda_fallback():
    from rich.console import Console

    from harness.export.verify import Verification
    from harness.views.tables import render_verification

    v = Verification(
        path="m.onnx",
        task="digits",
        n=10,
        max_abs_diff=1e-6,
        top1_agreement=1.0,
        torch_metric=0.9,
        ort_metric=0.9,
        torch_psnr=None,
        ort_psnr=None,
        provider="CPUExecutionProvider",
        requested="CUDAExecutionProvider",
        gate="logits",
        rule="",
        passed=True,
        quantize=None,
        size_ratio=None,
        float_ops=None,
        latency=None,
    )
    out = Console(width=200, record=True)
    out.print(render_verification(v))
    assert "fell back" in out.export_text()
    out.print(render_verification(replace(v, requested="CPUExecutionProvider")))
    assert out.export_text().count("fell back") == 0


def test_data_command_mistakes_are_one_line(capsys):
    for argv, expected in (
        (["data", "prepare"], "needs a task"),
        (["data", "--variant", "full"], "apply to one task"),
        (["data", "cifar10", "mnist"], "takes one task"),
        (["data", "imagenet"], "unknown task 'imagenet'"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, (argv, err)
