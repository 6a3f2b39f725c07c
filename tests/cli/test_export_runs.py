"""`harness export-runs`: the real default sweep (tests/conftest.py's `swept`, whose best trial is
exported to ONNX) written as MLflow and TensorBoard runs and read back with each tracker's own
reader (mlflow.search_runs and the client's metric history; TensorBoard's event reader), equal to
the store; a second export adds nothing; every refusal is one line, exit 2, nothing written."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.export.mlflow_runs import MAX_PARAM, params_of
from harness.kinds import ENDED
from harness.paths import safe_name
from harness.store.db import EPOCH_COLUMNS, Store

HOSTILE = "\x1b[31mred\x1b[0m\nlabel; DROP TABLE runs; -- ünï 🐍 $(rm -rf ~)"


def _store_epochs(results: Path) -> dict[str, dict]:
    """Per ended trial: its row, config and epochs as the store holds them."""
    with Store.existing(results) as store:
        trials = [t for t in store.trials() if t["status"] in ENDED]
        return {
            t["id"]: {
                "trial": t,
                "config": json.loads(t["config_json"] or "{}"),
                "epochs": store.epochs(t["id"]),
                "exports": [Path(e["path"]) for e in store.exports(t["id"])],
            }
            for t in trials
        }


def _metrics(epoch: dict) -> dict[str, float]:
    """An epoch's metrics as the export writes them: every column that is not NULL, then the scores."""
    extra = json.loads(epoch["extra_json"]) if epoch["extra_json"] else {}
    return {**{c: epoch[c] for c in EPOCH_COLUMNS if epoch[c] is not None}, **extra}


def _tree(folder: Path) -> dict[str, tuple[int, int] | None]:
    """Every file under `folder` with its size and modification time (ns), every folder by name:
    to prove nothing changed (a folder's own time changes as the store's -wal file comes and goes)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
        for p in folder.rglob("*")
    }


def _fingerprint(results: Path) -> tuple[dict, str]:
    digest = hashlib.sha256((results / "harness.db").read_bytes()).hexdigest()
    with Store.existing(results) as store:
        return store.counts(), digest


def _export(*argv: str) -> int:
    return main(["export-runs", *argv])


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """An empty working folder: nothing may appear in it (no ./mlruns, no ./mlflow.db)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_mlflow_runs_equal_the_store(swept_copy, tmp_path, cwd, monkeypatch, capsys):
    import mlflow
    from mlflow.tracking import MlflowClient

    db = tmp_path / "tracking" / "mlflow.db"
    uri = f"sqlite:///{db}"  # sqlite:////tmp/...: an absolute path
    assert _export("--to", "mlflow", "--tracking-uri", uri, "--results", str(swept_copy)) == 0
    stored = _store_epochs(swept_copy)
    assert f"{len(stored)} runs written" in capsys.readouterr().out
    assert list(cwd.iterdir()) == []  # artifacts beside the store, never ./mlruns here

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri)
    runs = mlflow.search_runs(experiment_names=["digits"], output_format="list")
    assert sorted(r.data.tags["harness.trial_id"] for r in runs) == sorted(stored)
    exported = 0
    for run in runs:
        want = stored[run.data.tags["harness.trial_id"]]
        trial = want["trial"]
        assert run.info.run_name == trial["id"]
        assert run.data.params == {k: v if isinstance(v, str) else str(v) for k, v in want["config"].items()}
        assert {k: v for k, v in run.data.tags.items() if k.startswith("harness.")} == {
            "harness.trial_id": trial["id"],
            "harness.sweep": trial["sweep_id"],
            "harness.status": trial["status"],
            "harness.device": trial["device"],
            "harness.precision": trial["precision"],
            "harness.export": "complete",
        }
        epochs = [_metrics(e) for e in want["epochs"]]
        assert set(run.data.metrics) == {k for e in epochs for k in e}
        for name in run.data.metrics:  # every epoch column, step = epoch, the store's value exactly
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, name))
            assert history == [(e["epoch"], float(m[name])) for e, m in zip(want["epochs"], epochs) if name in m]
        names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "onnx"))
        files = [p for x in want["exports"] for p in (x, x.with_suffix(".md"))]
        assert names == sorted(f"onnx/{p.name}" for p in set(files))
        for path in files:  # beside the tracking store, byte for byte
            copy = db.parent / "mlartifacts" / "digits" / run.info.run_id / "artifacts" / "onnx" / path.name
            assert copy.read_bytes() == path.read_bytes()
        exported += bool(files)
    assert exported >= 1  # the sweep exported its best trial

    # a second export, and one through the folder form of the same store, add nothing
    before = _tree(tmp_path / "tracking")
    for target in (uri, str(db.parent)):
        assert _export("--to", "mlflow", "--tracking-uri", target, "--results", str(swept_copy)) == 0
        assert f"0 runs written to {uri}, {len(stored)} already there" in capsys.readouterr().out
    assert len(mlflow.search_runs(experiment_names=["digits"], output_format="list")) == len(stored)
    assert {k: v for k, v in _tree(tmp_path / "tracking").items() if "mlartifacts" in k} == {
        k: v for k, v in before.items() if "mlartifacts" in k
    }
    assert list(cwd.iterdir()) == []


def test_mlflow_replaces_a_half_written_run(swept_copy, tmp_path, cwd, capsys):
    """An export killed inside a run leaves it without `harness.export = complete`: the next one
    writes it again, and no trial has two runs."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'ml' / 'mlflow.db'}"
    (tmp_path / "ml").mkdir()
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("digits", artifact_location=str(tmp_path / "ml" / "mlartifacts" / "digits"))
    trial_id = next(iter(_store_epochs(swept_copy)))
    client.create_run(experiment, tags={"harness.trial_id": trial_id})
    assert _export("--to", "mlflow", "--tracking-uri", uri, "--results", str(swept_copy)) == 0
    assert "1 half-written replaced" in capsys.readouterr().out
    runs = client.search_runs([experiment])
    assert sorted(r.data.tags["harness.trial_id"] for r in runs) == sorted(_store_epochs(swept_copy))
    assert all(r.data.tags["harness.export"] == "complete" for r in runs)


def test_mlflow_takes_untrusted_and_long_config_values_as_data(swept_copy, tmp_path, cwd):
    """A label with escapes and shell text goes in as it is; a value past MLflow's 6,000 characters
    is cut, and a tag names it: no crash, no refusal."""
    from mlflow.tracking import MlflowClient

    trial_id = next(iter(_store_epochs(swept_copy)))
    with sqlite3.connect(swept_copy / "harness.db") as conn:
        (config,) = conn.execute("SELECT config_json FROM trials WHERE id = ?", (trial_id,)).fetchone()
        config = {**json.loads(config), "recipe": HOSTILE, "init": "x" * 7000}
        conn.execute("UPDATE trials SET config_json = ? WHERE id = ?", (json.dumps(config), trial_id))
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    assert _export("--to", "mlflow", "--tracking-uri", uri, "--results", str(swept_copy)) == 0
    (run,) = MlflowClient(tracking_uri=uri).search_runs(
        [MlflowClient(tracking_uri=uri).get_experiment_by_name("digits").experiment_id],
        filter_string=f"tags.`harness.trial_id` = '{trial_id}'",
    )
    assert run.data.params["recipe"] == HOSTILE
    assert len(run.data.params["init"]) == MAX_PARAM and run.data.params["init"].startswith("x" * 5000)
    assert run.data.tags["harness.truncated_params"] == "init"
    assert params_of({"a": "y" * 6001})[1] == ["a"] and params_of({"a": "y" * 6000})[1] == []


def _hparams(run_dir: Path) -> tuple[dict, list[str]]:
    """The HParams plugin's summaries of a run: the session's hparams and the experiment's metric tags."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.plugins.hparams import plugin_data_pb2

    hparams: dict = {}
    metrics: list[str] = []
    for events in run_dir.glob("events.out.tfevents.*"):
        for event in event_file_loader.EventFileLoader(str(events)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "hparams":
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                if data.HasField("session_start_info"):
                    for name, v in data.session_start_info.hparams.items():
                        hparams[name] = getattr(v, v.WhichOneof("kind"))
                if data.HasField("experiment"):
                    metrics += [m.name.tag for m in data.experiment.metric_infos]
    return hparams, metrics


def test_tensorboard_runs_equal_the_store(swept_copy, tmp_path, cwd, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tmp_path / "tb"
    assert _export("--to", "tensorboard", str(logdir), "--results", str(swept_copy)) == 0
    stored = _store_epochs(swept_copy)
    assert f"{len(stored)} runs written" in capsys.readouterr().out
    assert sorted(p.name for p in logdir.iterdir()) == sorted(safe_name(t) for t in stored)
    for trial_id, want in stored.items():
        run_dir = logdir / safe_name(trial_id)
        acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
        epochs = [_metrics(e) for e in want["epochs"]]
        assert set(acc.Tags()["scalars"]) == {k for e in epochs for k in e}
        for name in acc.Tags()["scalars"]:  # step = epoch; float32 in the event file
            got = [(s.step, s.value) for s in acc.Scalars(name)]
            assert [s for s, _ in got] == [e["epoch"] for e, m in zip(want["epochs"], epochs) if name in m]
            assert [v for _, v in got] == pytest.approx([m[name] for m in epochs if name in m], rel=1e-6)
        hparams, metrics = _hparams(run_dir)
        expected = {
            k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in want["config"].items()
            if v is not None
        }
        assert hparams == expected
        assert set(metrics) == set(epochs[-1])  # the final metrics: each tag's last scalar

    before = _tree(logdir)
    assert _export("--to", "tensorboard", str(logdir), "--results", str(swept_copy)) == 0
    assert f"0 runs written to {logdir}, {len(stored)} already there" in capsys.readouterr().out
    assert _tree(logdir) == before  # not a byte, not an event file more
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--to", "mlflow"], "--to mlflow needs --tracking-uri"),
        (["--to", "mlflow", "DIR"], "--to mlflow takes --tracking-uri, not a folder"),
        (["--to", "tensorboard"], "--to tensorboard needs the log folder"),
        (["--to", "tensorboard", "DIR", "--tracking-uri", "x"], "--tracking-uri is for --to mlflow"),
        (["--to", "mlflow", "--tracking-uri", "http://127.0.0.1:5000"], "is a tracking server"),
        (["--to", "mlflow", "--tracking-uri", "databricks"], "is a tracking server"),  # MLflow's name, not a folder
        (["--to", "mlflow", "--tracking-uri", "postgresql://u@db/mlflow"], "is not a local file"),
        (["--to", "mlflow", "--tracking-uri", "sqlite:///:memory:"], "not an SQLite file on this machine"),
        (["--to", "mlflow", "--tracking-uri", "sqlite://remote/x.db"], "not an SQLite file on this machine"),
        (["--to", "mlflow", "--tracking-uri", "file://otherhost/x"], "not a folder on this machine"),
        (["--to", "mlflow", "--tracking-uri", "sqlite:///RESULTS/harness.db"], "is not an MLflow tracking store"),
        (["--to", "mlflow", "--tracking-uri", "FILESTORE"], "holds an MLflow file store"),
        (["--to", "mlflow", "--tracking-uri", "AFILE"], "is a file, not a folder"),
        (["--to", "mlflow", "--tracking-uri", "sqlite:///FIFO"], "is a FIFO, not an SQLite file"),
        (["--to", "tensorboard", "AFILE"], "is a file"),
        (["--to", "tensorboard", "DIR", "--sweep", "nope"], "no sweep 'nope'"),
        (["--to", "mlflow", "--tracking-uri", "DIR", "--sweep", "nope"], "no sweep 'nope'"),
        (["--to", "tensorboard", "DIR", "--results", "EMPTY"], "no results store"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(argv, expected, swept_copy, tmp_path, cwd, capfd):
    (tmp_path / "filestore" / "0").mkdir(parents=True)
    (tmp_path / "filestore" / "0" / "meta.yaml").write_text("name: Default\n")
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "fifo.db")  # opened, it would block the export
    words = {
        "FIFO": str(tmp_path / "fifo.db"),
        "DIR": str(tmp_path / "target"),
        "RESULTS": str(swept_copy),
        "FILESTORE": str(tmp_path / "filestore"),
        "AFILE": str(tmp_path / "afile"),
        "EMPTY": str(tmp_path / "empty"),
    }
    argv = [next((a.replace(w, v) for w, v in words.items() if w in a), a) for a in argv]
    if "--results" not in argv:
        argv += ["--results", str(swept_copy)]
    before, around = _fingerprint(swept_copy), _tree(tmp_path)
    capfd.readouterr()
    assert _export(*argv) == 2
    err = capfd.readouterr().err.strip()
    assert err.startswith("error:") and expected in err and "\n" not in err, err
    assert _fingerprint(swept_copy) == before
    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if "harness.db" not in k} == {
        k: v for k, v in around.items() if "harness.db" not in k
    }
    assert list(cwd.iterdir()) == []


def test_a_missing_mlflow_is_one_line(swept_copy, tmp_path, cwd, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    target = tmp_path / "ml"
    capfd.readouterr()
    assert _export("--to", "mlflow", "--tracking-uri", str(target), "--results", str(swept_copy)) == 2
    err = capfd.readouterr().err.strip()
    assert err == "error: MLflow is not installed (pip install 'harness[mlflow]')"
    assert not target.exists() and list(cwd.iterdir()) == []


def test_help_has_examples_and_the_cli_imports_no_tracker(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export-runs", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--tracking-uri" in out and "tensorboard --logdir" in out
    # a fresh interpreter is the point: this test session has imported mlflow already
    code = (
        "import sys, harness.cli.main; "
        "print([m for m in ('mlflow', 'tensorboardX', 'tensorboard') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
