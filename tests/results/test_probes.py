"""`harness probe` (issue 18): a stored trial measured as a report measured it, each probe's figure
checked against a computation of its own, the refusals, and the store's schema 9.

The trials are real and small: real data, networks, epochs (harness.engine.fit, the trial's own epoch
logic), checkpoints and store writes, as the sweep driver records them, without Ray's start-up
(seconds, not a minute); the last test probes a trial of the real default sweep through Ray.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from hostile import folder_state, refused
from torch import nn

from harness.architectures import create_model, get_arch
from harness.cli.main import main
from harness.config.frameworks import get_framework
from harness.config.spec import TrialSpec
from harness.datasets import get_task, load_task
from harness.engine.augment import get_augment
from harness.engine.checkpoint import load_checkpoint, save_checkpoint
from harness.engine.fit import fit
from harness.engine.optim import create_optimizer
from harness.engine.reported import EpochReport
from harness.engine.train import OBJECTIVES, Normalizer, train_subset
from harness.kinds import Status
from harness.results import probe_measures
from harness.results.probes import PROBES, load_subject
from harness.stats import wilson
from harness.store.db import Store
from harness.store.schema import PROBES as PROBES_TABLE
from harness.store.schema import SCHEMA, SCHEMA_VERSION

SWEEP = "probes"
AUGMENTED_BN = f"{SWEEP}.bn_00000"  # digits, cnn_small (BatchNorm), trained with uni2022's flip + rotation
PLAIN_MLP = f"{SWEEP}.mlp_00001"  # digits, mlp: no BatchNorm, no augmentation
UPSAMPLE = f"{SWEEP}.up_00002"  # mnist_upsample, espcn, 256 training images
NO_CHECKPOINT = f"{SWEEP}.err_00003"  # digits, cnn_small, failed before its first epoch


def _normalizer(task: str, pixels: str | None = None) -> Normalizer:
    mean, std = get_task(task).pixel_stats(pixels)
    return Normalizer(mean, std, torch.device("cpu"))


def _train(store: Store, root: Path, *, ray_id: str, **settings: Any) -> str:
    """Train one trial as harness.engine.trial does (framework init, the seeded subset, harness.engine.fit) on
    the CPU, and record it as the sweep driver does: every epoch, the best checkpoint, its end."""
    spec = TrialSpec(optimizer="adam", seed=0, **settings)
    trial = store.start_trial(trial_id=ray_id, sweep_id=SWEEP, config=spec.config())
    task, head = get_task(spec.task), get_arch(spec.arch).head
    torch.manual_seed(spec.seed)
    model = create_model(spec.arch, in_shape=task.shape(spec.image_size), num_outputs=task.num_outputs(head))
    get_framework(spec.framework).init(model)
    data = load_task(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)
    train = (torch.from_numpy(data.train.images), torch.from_numpy(data.train.labels))
    if spec.train_limit:
        keep = train_subset(len(train[1]), spec.train_limit)
        train = (train[0][keep], train[1][keep])
    optimizer = create_optimizer(spec.optimizer, model.parameters(), lr=spec.lr)
    augment = get_augment(spec.augment or task.augment)
    results = fit(
        model=model,
        objective=OBJECTIVES[head],
        optimizer=optimizer,
        train=train,
        val=(torch.from_numpy(data.val.images), torch.from_numpy(data.val.labels)),
        test=(torch.from_numpy(data.test.images), torch.from_numpy(data.test.labels)),
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        normalize=_normalizer(spec.task, spec.pixels),
        generator=torch.Generator().manual_seed(spec.seed),
        metric=task.metric,
        mode=task.mode,
        augment=None if augment.identity else augment,
        num_classes=len(task.classes) if task.kind == "classification" else None,
    )
    for result in results:
        metrics = cast(EpochReport, {"epoch": result.epoch, **result.metrics, "best_epoch": result.best_epoch})
        if result.test is not None:
            metrics["test_json"] = json.dumps({"epoch": result.best_epoch, **result.test})
        store.record_epoch(trial_id=trial, result=metrics)
        if result.improved:
            folder = root / "checkpoints" / f"{ray_id}-{result.epoch}"
            folder.mkdir(parents=True)
            save_checkpoint(folder, model=model, spec=spec, epoch=result.epoch, metrics=metrics, optimizer=optimizer)
            store.set_checkpoint(trial, str(folder))
    store.end_trial(trial, status=Status.FINISHED)
    return trial


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as a trial under Ray gets one CPU: on this shared 2-core machine two
    OpenMP threads waiting on each other made cnn_small's 2 digits epochs take 50 s (one: 1 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def probed(one_thread, tmp_path_factory, shared_data) -> Path:
    """A results folder with the four trials above (about 10 s here)."""
    results = tmp_path_factory.mktemp("probes")
    with Store.create(results) as store:
        store.create_sweep(sweep_id=SWEEP, task="digits", seed=0, command="test", spec_json="{}", environment={})
        digits: dict[str, Any] = {"task": "digits", "lr": 0.01, "batch_size": 32}
        _train(store, results, ray_id="bn_00000", arch="cnn_small", epochs=2, augment="uni2022", **digits)
        _train(store, results, ray_id="mlp_00001", arch="mlp", epochs=1, **digits)
        _train(
            store,
            results,
            ray_id="up_00002",
            task="mnist_upsample",
            arch="espcn",
            lr=0.01,
            batch_size=32,
            epochs=1,
            train_limit=256,
            data_dir=str(shared_data),
        )
        failed = store.start_trial(
            trial_id="err_00003",
            sweep_id=SWEEP,
            config=TrialSpec(arch="cnn_small", optimizer="adam", seed=0, **digits).config(),
        )
        store.end_trial(failed, status=Status.ERROR, error="RuntimeError: before its first epoch")
    return results


def _probe(capsys: Any, results: Path, trial: str, probe: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["probe", trial, probe, "--results", str(results), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _stored(results: Path, trial: str, probe: str) -> list[dict[str, Any]]:
    with Store.existing(results) as store:
        return [dict(p) for p in store.probes(trial) if p["probe"] == probe]


def _digits_test() -> tuple[torch.Tensor, torch.Tensor]:
    test = load_task("digits").test
    return _normalizer("digits")(torch.from_numpy(test.images)), torch.from_numpy(test.labels)


def test_bn_train_mode_is_the_whole_network_in_train_mode_on_shuffled_batches(probed, capsys):
    record = _probe(capsys, probed, AUGMENTED_BN, "bn-train-mode")
    # Independently: cnn_small has no dropout, so the whole network in train mode is BatchNorm on
    # batch statistics; the same seeded order, batches of the trial's 32.
    model, spec, _ = load_checkpoint(_stored_checkpoint(probed, AUGMENTED_BN))
    assert not any(isinstance(m, nn.Dropout) for m in model.modules()) and spec.batch_size == 32
    x, y = _digits_test()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    trained = copy.deepcopy(model).train()
    with torch.no_grad():
        correct = sum(int((trained(x[idx]).argmax(1) == y[idx]).sum()) for idx in order.split(32))
        eval_out, train_out = model.eval()(x), torch.cat([trained(x[idx]) for idx in order.split(32)])
    assert (record["n"], record["value"], record["detail"]["correct"]) == (360, correct / 360, correct)
    interval = wilson(correct, 360)
    assert (record["ci95_low"], record["ci95_high"]) == pytest.approx((interval.low, interval.high))
    # The baseline is the trial's own eval-mode test accuracy, which eval mode here reproduces.
    eval_acc = float((eval_out.argmax(1) == y).float().mean())
    with Store.existing(probed) as store:
        assert (
            record["baseline"] == json.loads(store.trial(AUGMENTED_BN)["test_json"])["acc"] == pytest.approx(eval_acc)
        )
    assert (train_out - eval_out[order]).abs().max() > 1e-3  # batch statistics are another network
    assert record["detail"]["batches"] == 12 and record["detail"]["last_batch"] == 360 - 11 * 32
    assert _stored(probed, AUGMENTED_BN, "bn-train-mode") == [{k: v for k, v in record.items() if k != "trial_id"}]


def _stored_checkpoint(results: Path, trial: str) -> str:
    with Store.existing(results) as store:
        path = store.trial(trial)["checkpoint_path"]
    assert path
    return path


def test_bn_train_mode_does_not_read_the_running_statistics(probed):
    model, _, _ = load_checkpoint(_stored_checkpoint(probed, AUGMENTED_BN))
    with Store.existing(probed) as store:
        subject = load_subject(store, store.trial(AUGMENTED_BN))
    scrambled = copy.deepcopy(model)
    for layer in scrambled.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.fill_(100.0)
            layer.running_var.fill_(1e-6)
    first, second = probe_measures.bn_train_mode(subject, model), probe_measures.bn_train_mode(subject, scrambled)
    assert first.value == second.value and first.detail == second.detail
    # and the model it was given is left as it was: eval mode, its running statistics unchanged
    assert not model.training and all(not m.training for m in model.modules())
    # A batch size that leaves one image over: it joins the batch before it (BatchNorm needs two).
    odd = probe_measures.bn_train_mode(replace(subject, spec=replace(subject.spec, batch_size=359)), model)
    assert (odd.detail["batches"], odd.detail["last_batch"]) == (1, 360)


def test_a_lone_last_image_joins_the_batch_before_it():
    sizes = [len(b) for b in probe_measures.train_mode_batches(torch.arange(65), 32)]
    assert sizes == [32, 33]
    assert [len(b) for b in probe_measures.train_mode_batches(torch.arange(66), 32)] == [32, 32, 2]
    assert [len(b) for b in probe_measures.train_mode_batches(torch.arange(1), 32)] == [1]


def test_augmented_test_is_seeded_and_pools_five_passes(probed, capsys):
    first = _probe(capsys, probed, AUGMENTED_BN, "augmented-test")
    again = _probe(capsys, probed, AUGMENTED_BN, "augmented-test")
    assert (first["value"], first["detail"]["passes"]) == (again["value"], again["detail"]["passes"])
    assert len(_stored(probed, AUGMENTED_BN, "augmented-test")) == 1  # a re-run replaces the row
    passes = first["detail"]["passes"]
    assert first["n"] == 360 and len(passes) == 5 and first["detail"]["augment"] == "uni2022"
    assert first["value"] == pytest.approx(sum(passes) / 5)
    assert first["detail"]["spread"] == [min(passes), max(passes)] and len(set(passes)) > 1  # the draws differ
    # the passes share their 360 images: the interval is over the images, not over 5 x 360 draws
    interval = wilson(round(first["detail"]["pooled_correct"] / 5), 360)
    assert (first["ci95_low"], first["ci95_high"]) == pytest.approx((interval.low, interval.high))
    # The first pass, independently: the whole split augmented by uni2022 in batches of 512, drawn
    # from a generator seeded 0, then normalised and scored in eval mode.
    model, _, _ = load_checkpoint(_stored_checkpoint(probed, AUGMENTED_BN))
    test = load_task("digits").test
    images, generator = torch.from_numpy(test.images), torch.Generator().manual_seed(0)
    augmented = torch.cat([get_augment("uni2022")(images[i : i + 512], generator) for i in range(0, 360, 512)])
    x = _normalizer("digits")(augmented)
    with torch.no_grad():
        correct = int((model(x).argmax(1) == torch.from_numpy(test.labels)).sum())
    assert passes[0] == correct / 360
    with Store.existing(probed) as store:
        assert first["baseline"] == json.loads(store.trial(AUGMENTED_BN)["test_json"])["acc"]


def test_keras_cap_is_the_share_of_target_pixels_exactly_0_or_1(probed, capsys, shared_data):
    record = _probe(capsys, probed, UPSAMPLE, "keras-cap")
    data = load_task("mnist_upsample", str(shared_data))
    val = np.asarray(data.val.labels)
    train = np.asarray(data.train.labels)[train_subset(len(data.train.labels), 256).numpy()]
    ceiling = float(np.isin(val, (0, 255)).mean())
    assert record["value"] == pytest.approx(ceiling, abs=1e-12) and record["n"] == val.size
    assert record["ci95_low"] is None and record["ci95_high"] is None  # a count on the very split: exact
    with Store.existing(probed) as store:
        trial = store.trial(UPSAMPLE)
        (best,) = [e for e in store.epochs(UPSAMPLE) if e["epoch"] == trial["best_epoch"]]
    keras_acc = json.loads(best["extra_json"] or "{}")["val_keras_acc"]
    assert record["baseline"] == keras_acc <= record["value"]  # the metric cannot pass its ceiling
    detail = record["detail"]
    assert detail["share_of_ceiling"] == pytest.approx(keras_acc / ceiling)
    assert detail["train"]["ceiling"] == pytest.approx(float(np.isin(train, (0, 255)).mean()), abs=1e-12)
    assert (detail["train"]["images"], detail["train"]["train_limit"]) == (256, 256)
    assert detail["zero_share"] + detail["one_share"] == pytest.approx(ceiling)


def test_exact_pixels_on_a_tiny_synthetic_split():
    rng = np.random.default_rng(0)
    targets = rng.choice(np.array([0, 1, 128, 254, 255], dtype=np.uint8), size=(6, 1, 28, 28))
    exact, pixels = probe_measures.exact_pixels(torch.from_numpy(targets))
    assert (exact, pixels) == (int(((targets == 0) | (targets == 255)).sum()), 6 * 28 * 28)
    assert probe_measures.exact_pixels(torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)) == (32, 32)
    assert probe_measures.exact_pixels(torch.full((2, 1, 4, 4), 200, dtype=torch.uint8)) == (0, 32)


def test_the_table_prints_the_figure_with_its_interval_and_the_baseline(probed, capsys):
    capsys.readouterr()
    assert main(["probe", AUGMENTED_BN, "bn-train-mode", "--results", str(probed)]) == 0
    lines = capsys.readouterr().out.splitlines()
    figure = next(line for line in lines if line.startswith("bn-train-mode"))
    assert "Wilson 95%" in figure and "n = 360 test images" in figure and "[" in figure
    assert next(line for line in lines if line.startswith("baseline")).split()[1].endswith("%:")
    assert main(["probe", UPSAMPLE, "keras-cap", "--results", str(probed)]) == 0
    figure = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("keras-cap"))
    assert "exact" in figure and "validation pixels" in figure


@pytest.mark.parametrize(
    ("trial", "probe", "expected"),
    [
        ("nope", "bn-train-mode", ["no trial 'nope'", "harness leaderboard"]),
        (AUGMENTED_BN, "bn-eval", ["unknown probe 'bn-eval'", "bn-train-mode", "keras-cap", "augmented-test"]),
        (PLAIN_MLP, "bn-train-mode", ["does not apply", "mlp has no BatchNorm", "classifiers with BatchNorm"]),
        (PLAIN_MLP, "augmented-test", ["does not apply", "without augmentation (augment 'none')"]),
        (PLAIN_MLP, "keras-cap", ["does not apply", "digits is a classification task"]),
        (UPSAMPLE, "augmented-test", ["does not apply", "without augmentation"]),
        (NO_CHECKPOINT, "bn-train-mode", ["has no checkpoint", "harness leaderboard"]),
    ],
)
def test_refusals_are_one_line_and_write_nothing(probed, capsys, trial, probe, expected):
    before = folder_state(probed)
    with Store.existing(probed) as store:
        counts = store.counts()
    err = refused(capsys, ["probe", trial, probe, "--results", str(probed)])
    assert all(text in err for text in expected), err
    assert folder_state(probed) == before
    with Store.existing(probed) as store:
        assert store.counts() == counts


def test_a_schema_8_store_gains_the_probes_table_and_keeps_its_rows(tmp_path):
    conn = sqlite3.connect(tmp_path / "harness.db")
    v8 = SCHEMA.removesuffix(PROBES_TABLE).splitlines()
    conn.executescript("\n".join(line for line in v8 if "notes" not in line))  # version 10's column
    conn.execute("INSERT INTO sweeps VALUES ('s1', 'digits', 'finished', 'then', NULL, 0, 'harness sweep', '{}', '{}')")
    conn.execute(
        "INSERT INTO trials (id, ray_id, sweep_id, task, arch, optimizer, lr, batch_size, epochs, seed, status,"
        " started_at) VALUES ('s1.t1', 't1', 's1', 'digits', 'mlp', 'adam', 0.01, 64, 2, 0, 'finished', 'then')"
    )
    conn.execute("INSERT INTO epochs (trial_id, epoch, val_acc, recorded_at) VALUES ('s1.t1', 1, 0.9, 'then')")
    conn.execute("PRAGMA user_version = 8")
    conn.commit()
    assert "probes" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    with Store.existing(tmp_path, writer=True) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
        assert store.counts() == {"sweeps": 1, "trials": 1, "epochs": 1, "exports": 0, "runtime_checks": 0, "probes": 0}
        fields = {"value": 0.5, "n": 10, "ci95_low": 0.2, "ci95_high": 0.8, "baseline": 0.9}
        store.record_probe(trial_id="s1.t1", probe="bn-train-mode", **fields, detail={"note": "first"})
        store.record_probe(trial_id="s1.t1", probe="bn-train-mode", **{**fields, "value": 0.6}, detail={"note": "x"})
        (row,) = store.probes("s1.t1")
        assert (row["value"], row["detail"], row["baseline"]) == (0.6, {"note": "x"}, 0.9)
        with pytest.raises(sqlite3.IntegrityError):  # a probe belongs to a stored trial
            store.record_probe(trial_id="s1.none", probe="keras-cap", **fields, detail={})


def test_help_lists_every_probe_without_the_heavy_imports():
    blocked = "".join(f"sys.modules[{name!r}] = None; " for name in ("torch", "ray", "onnx", "onnxruntime"))
    code = f"import sys; {blocked}from harness.cli.main import main; main(['probe', '--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout.split("probes:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed] == list(PROBES)
    assert all(PROBES[line.split()[0]].report in line for line in listed)


@pytest.mark.slow
def test_a_trial_of_the_real_default_sweep_is_probed(swept_copy, capsys):
    """Through Ray: the default digits sweep's cnn_small trials have BatchNorm, its mlp ones none."""
    with Store.existing(swept_copy) as store:
        trials = {t["arch"]: t["id"] for t in store._rows("SELECT id, arch FROM trials ORDER BY id")}
    record = _probe(capsys, swept_copy, trials["cnn_small"], "bn-train-mode")
    assert record["n"] == 360 and 0.0 <= record["ci95_low"] <= record["value"] <= record["ci95_high"] <= 1.0
    assert record["baseline"] is not None
    assert "mlp has no BatchNorm" in refused(
        capsys, ["probe", trials["mlp"], "bn-train-mode", "--results", str(swept_copy)]
    )
