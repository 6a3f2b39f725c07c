"""Every mistake a user can make on `harness sweep`: one line naming the bad value and the
choices, exit code 2, and nothing written to the store."""

from __future__ import annotations

import hashlib

import pytest

from harness.cli.main import main
from harness.store.db import Store


def _fingerprint(results):
    digest = hashlib.sha256((results / "harness.db").read_bytes()).hexdigest()
    with Store.existing(results) as store:
        counts = store.counts()
    return counts, digest, sorted(p.name for p in results.iterdir())


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--task", "imagenet"], ["'imagenet'", "digits"]),
        (["--arch", "resnet1000"], ["'resnet1000'", "cnn_small", "mlp"]),
        (["--arch", "mlp,resnet1000"], ["'resnet1000'", "cnn_small"]),
        (["--arch", "resnet"], ["did you mean 'resnet9'?"]),
        (["--arch", "vgg8_bn"], ["'vgg8_bn' takes input 3x32x32 only", "1x8x8"]),
        (["--arch", "keras_cnn2"], ["'single_logit' head", "needs 'logits'"]),
        (["--arch", "upsample_a"], ["'image' head"]),
        (["--optimizer", "lbfgs"], ["'lbfgs'", "adam", "sgd"]),
        (["--lr", "0"], ["0.0", "--lr"]),
        (["--lr", "-0.1"], ["-0.1", "--lr"]),
        (["--epochs", "0"], ["epochs 0", "--epochs"]),
        (["--task", "cifar10", "--arch", "mlp", "--variant", "huge"], ["variant of cifar10 'huge'", "full, report"]),
        (["--image-size", "64"], ["fixed image size of 8 px", "--image-size"]),
        (["--task", "cats_vs_dogs", "--arch", "mlp", "--image-size", "4"], ["image size 4 is out of range"]),
        (["--augment", "wild"], ["augmentation 'wild'", "cifar"]),
        (["--task", "pokemon150", "--arch", "cnn5_bn", "--data-dir", "/nonexistent"], ["not found", "PokemonData"]),
    ],
)
def test_bad_sweep_flags(flags, expected, swept_copy, capsys):
    before = _fingerprint(swept_copy)
    capsys.readouterr()
    assert main(["sweep", *flags, "--results", str(swept_copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    for text in expected:
        assert text in err
    assert _fingerprint(swept_copy) == before


def test_argparse_mistakes_exit_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--lr", "fast"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'fast'" in err and "--help" in err


def test_unwritable_results_folder(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "results"  # cannot exist, even for root
    assert main(["sweep", "--results", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err and "--results" in err
    assert not target.exists()


def test_reading_commands_never_create_a_store(tmp_path, capsys):
    assert main(["leaderboard", "--results", str(tmp_path / "none")]) == 2
    assert "harness sweep" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_a_file_that_is_not_a_store(tmp_path, capsys):
    (tmp_path / "harness.db").write_bytes(b"this is not sqlite" * 100)
    assert main(["leaderboard", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a harness results store" in err
