"""`harness export-runs --to mlflow`: each trial as an MLflow run, through MLflow's own client.

One experiment per task, in a local tracking store only: an SQLite file (`sqlite:///PATH.db`) or
a folder, which gets `mlflow.db` (MLflow 3 keeps its file store in maintenance mode and refuses
to open one unless told to). The artifacts go beside the store, in `mlartifacts/<task>/` of the
store's folder, never into `./mlruns` of the working folder. A run is found again by its tag
`harness.trial_id`, and is complete once it carries `harness.export = complete` (written last):
a second export skips complete runs, and replaces a run an interrupted export left half-written.

mlflow is imported here, lazily (the `harness[mlflow]` extra): the CLI never imports it at start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.errors import HarnessError
from harness.export.runs import TRIAL_TAG, Progress, TrialRun, Written
from harness.kinds import USABLE
from harness.paths import absolute, safe_name, writable_dir
from harness.safefile import refuse_link
from harness.userfiles import file_kind

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

COMPLETE_TAG = "harness.export"  # "complete": set last, after the metrics, params and artifacts
DB_NAME = "mlflow.db"  # the store a folder given as the tracking URI gets
ARTIFACTS = "mlartifacts"  # beside the store: the artifacts of each experiment, in a folder per task
# MLflow's limits (mlflow.utils.validation), stated here so that the checks run before mlflow is imported
MAX_KEY = 250  # characters of a param, metric or tag name
MAX_PARAM = 6000  # characters of a param's value
MAX_TAG = 8000  # characters of a tag's value
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
URI_HINT = "pass --tracking-uri sqlite:///PATH/mlflow.db or a folder on this machine"
INSTALL_HINT = "pip install 'harness[mlflow]'"


@dataclass(frozen=True)
class Tracking:
    """A local tracking store: its URI for MLflow, its SQLite file, and the artifacts' folder."""

    uri: str
    db: Path
    artifacts: Path


def local_tracking(text: str) -> Tracking:
    """`--tracking-uri` checked before anything is written: `sqlite:///PATH`, `file:///FOLDER` or
    a plain folder on this machine. A server (http, databricks, a database URL), an in-memory
    SQLite, an SQLite file that is not MLflow's and an MLflow file store are refused in one line."""
    scheme = text.split(":", 1)[0].lower() if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", text) else ""
    if text.lower() in ("databricks", "databricks-uc", "uc"):  # MLflow's names for Databricks, not folders
        scheme = "databricks"
    if scheme == "sqlite":
        parts = urlsplit(text)
        path = text[len("sqlite:///") :] if text.lower().startswith("sqlite:///") else ""
        if parts.netloc or parts.query or not path or path == ":memory:":
            raise HarnessError(f"--tracking-uri {text!r} is not an SQLite file on this machine", URI_HINT)
        db = absolute(path)
        _check_db(db, text)
        return Tracking(uri=f"sqlite:///{db}", db=db, artifacts=db.parent / ARTIFACTS)
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or parts.query:
            raise HarnessError(f"--tracking-uri {text!r} is not a folder on this machine", URI_HINT)
        return _folder(absolute(parts.path), text)
    if scheme:
        why = "is a tracking server" if scheme in ("http", "https", "databricks") else "is not a local file"
        raise HarnessError(
            f"--tracking-uri {text!r} {why}: export-runs writes only to a local tracking store",
            f"{URI_HINT}, then serve or copy it with MLflow's own tools",
        )
    return _folder(absolute(text), text)


def _folder(folder: Path, text: str) -> Tracking:
    if folder.exists() and not folder.is_dir():
        raise HarnessError(
            f"--tracking-uri {text!r} is a file, not a folder", f"pass sqlite:///{folder} for an SQLite file"
        )
    if (folder / "0" / "meta.yaml").is_file() or (folder / ".trash").is_dir():
        raise HarnessError(
            f"--tracking-uri {text!r} holds an MLflow file store, which MLflow 3 no longer writes by default",
            f"migrate it with `mlflow migrate-filestore`, or pass another folder or sqlite:///{folder}/{DB_NAME}",
        )
    db = folder / DB_NAME
    _check_db(db, text)
    return Tracking(uri=f"sqlite:///{db}", db=db, artifacts=folder / ARTIFACTS)


def _check_db(db: Path, text: str) -> None:
    """A store that is there must be MLflow's: MLflow would add its tables to any SQLite file
    (the harness's own store included)."""
    refuse_link(db, what="MLflow tracking store")
    if db.is_dir():
        raise HarnessError(f"--tracking-uri {text!r} names a folder", f"pass the folder itself, or {URI_HINT}")
    if not db.exists():
        return
    if not db.is_file():  # a FIFO would block MLflow's first read
        raise HarnessError(
            f"{str(db)!r} is a {file_kind(db.stat().st_mode)}, not an SQLite file; nothing was written",
            "pass a new file or an MLflow store's file",
        )
    if db.stat().st_size == 0:
        return
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        tables = set()
    if not {"experiments", "runs", "alembic_version"} <= tables:
        raise HarnessError(
            f"{str(db)!r} is not an MLflow tracking store; nothing was written",
            "pass a new file or an MLflow store's file",
        )


def key(name: str) -> str:
    """A name as MLflow takes it: letters, digits, `_ - . ` and space; no `..`; at most 250 characters."""
    kept = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9_\-. ]", "_", name)).strip(". ")
    return kept[:MAX_KEY] or "_"


def param_value(value: Any) -> str:
    """A config value as MLflow stores a param: a string as it is, a list or table as JSON, else str()."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else str(value)


def params_of(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The config as params, and the names of those cut to MLflow's 6,000 characters (a tag lists them)."""
    params, cut = {}, []
    for name, value in config.items():
        text = param_value(value)
        if len(text) > MAX_PARAM:
            text = text[: MAX_PARAM - 1] + "…"
            cut.append(key(name))
        params[key(name)] = text
    return params, cut


def client_for(tracking: Tracking) -> MlflowClient:
    """MLflow's client on the store, its folder made; the missing extra is one line."""
    # Nothing leaves this machine: MLflow's usage telemetry stays off unless the user set it.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise HarnessError("MLflow is not installed", INSTALL_HINT) from None
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its "Creating initial MLflow database tables"
    writable_dir(tracking.db.parent, what="tracking store folder", hint="pass a tracking URI in a folder you can write")
    return MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.uri)


def export_mlflow(runs: list[TrialRun], tracking: Tracking, *, progress: Progress) -> Written:
    """Every run into the store (see the module's text); MLflow's own refusals as one line."""
    client = client_for(tracking)
    from mlflow.exceptions import MlflowException

    try:
        return _export(client, runs, tracking, progress=progress)
    except MlflowException as exc:
        first = str(exc.message).splitlines()[0] if str(exc.message) else type(exc).__name__
        raise HarnessError(
            f"MLflow refused the export ({first}); the runs written so far are complete",
            "run it again once the cause is fixed: it continues where it stopped",
        ) from None


def _export(client: MlflowClient, runs: list[TrialRun], tracking: Tracking, *, progress: Progress) -> Written:
    from mlflow.entities import ViewType

    tasks = sorted({r.task for r in runs})
    found = {task: client.get_experiment_by_name(task) for task in tasks}
    for task, experiment in found.items():  # every experiment checked before a run is written
        if experiment is None:
            continue
        if experiment.lifecycle_stage != "active":
            raise HarnessError(
                f"MLflow experiment {task!r} is deleted in {tracking.uri}",
                f"restore it (`mlflow experiments restore --experiment-id {experiment.experiment_id}`) "
                "or pass another tracking store",
            )
        if urlsplit(experiment.artifact_location).scheme not in ("", "file"):
            raise HarnessError(
                f"MLflow experiment {task!r} keeps its artifacts off this machine ({experiment.artifact_location!r})",
                "pass another tracking store",
            )
    ids = {
        task: experiment.experiment_id
        if experiment
        else client.create_experiment(
            task, artifact_location=str(tracking.artifacts / safe_name(task)), tags={"harness.task": task}
        )
        for task, experiment in found.items()
    }
    existing: dict[str, Any] = {}  # trial id -> its active run
    for experiment_id in ids.values():
        token = None
        while True:
            page = client.search_runs(
                [experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
            )
            existing.update({r.data.tags[TRIAL_TAG]: r for r in page if TRIAL_TAG in r.data.tags})
            token = page.token
            if not token:
                break
    written = skipped = replaced = 0
    for done, run in enumerate(runs):
        progress(done, len(runs), run.trial_id)
        before = existing.get(run.trial_id)
        if before is not None and before.data.tags.get(COMPLETE_TAG) == "complete":
            skipped += 1
            continue
        if before is not None:  # an interrupted export's run: written again from the start
            client.delete_run(before.info.run_id)
            replaced += 1
        _write_run(client, ids[run.task], run)
        written += 1
    progress(len(runs), len(runs), "")
    return Written(written=written - replaced, skipped=skipped, replaced=replaced)


def _write_run(client: MlflowClient, experiment_id: str, run: TrialRun) -> None:
    from mlflow.entities import Metric, Param, RunTag

    params, cut = params_of(run.config)
    tags = {key(k): v[:MAX_TAG] for k, v in run.tags.items()}
    if cut:
        tags["harness.truncated_params"] = ",".join(cut)[:MAX_TAG]
    metrics = [
        Metric(key(name), value, at, int(epoch["epoch"]))
        for epoch, at in zip(run.epochs, run.recorded_ms, strict=True)
        for name, value in epoch.items()
        if name != "epoch"
    ]
    created = client.create_run(
        experiment_id, start_time=run.started_ms, tags={TRIAL_TAG: run.trial_id}, run_name=run.trial_id
    )
    run_id = created.info.run_id
    try:
        items = list(params.items())
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=[Param(k, v) for k, v in items[i : i + MAX_PARAMS_PER_BATCH]])
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=metrics[i : i + MAX_METRICS_PER_BATCH])
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        for path in run.artifacts:
            client.log_artifact(run_id, str(path), artifact_path="onnx")
        status = "FINISHED" if run.status in USABLE else "FAILED"
        client.set_terminated(run_id, status=status, end_time=run.ended_ms)
        client.set_tag(run_id, COMPLETE_TAG, "complete")
    except BaseException:  # an error or Ctrl-C: no half-written run stays behind
        with contextlib.suppress(Exception):  # the error that stopped it is the one to report
            client.delete_run(run_id)
        raise
