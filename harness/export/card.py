"""The model card: what an exported file says about itself, and what the store says of it.

At export the file's metadata gets what is known then (`card_facts`): the data and its split,
the parameter count, the training recipe, the test metric and the published figure it relates
to. The file is never rewritten after it is verified (its sha256 is the store's key for it), so
what is learnt later, the verifications, lives in the store and in `X.md` beside `X.onnx`,
rewritten after each verification. `harness card X.onnx` prints the same card.

No torch here (as in harness.runtimes.predict): reading a card needs onnxruntime and the store only.
`harness.views.card` renders a card as a table or as the markdown of `X.md`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.config.spec import TrialSpec
    from harness.datasets import DatasetSpec, TaskData
    from harness.export.documents import CardVerification, ModelCard
    from harness.runtimes.documents import CardFacts, ModelMetadata, PublishedFigure
    from harness.store.db import Store
    from harness.store.rows import EpochRow, Latency, TrialRow

# The metadata keys the card adds at export (JSON values; harness.runtimes.metadata decodes them). Files
# exported before the card lack them, and still read.
CARD_KEYS = ("data", "parameters", "training", "evaluation", "published")


def file_sha256(path: str | Path) -> str:
    """The file's bytes as the store keys them (`exports.sha256`)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def card_path(onnx_path: str | Path) -> Path:
    """`X.onnx` -> `X.md`, `X.int8.onnx` -> `X.int8.md`: one card per file (several files share a
    folder, so one fixed MODEL.md would be overwritten by the next)."""
    return Path(onnx_path).with_suffix(".md")


# -- at export: the facts known then ----------------------------------------------------------


def card_facts(
    store: Store, *, trial_id: str, spec: TrialSpec, task: DatasetSpec, data: TaskData, params: int
) -> CardFacts:
    """The card's metadata (CARD_KEYS -> plain data) for a stored trial exported now: `data` as
    the export loaded it (the trial's split), `params` counted on the exported model."""
    from harness.results.matching import data_notes
    from harness.results.ranking import score, test_score

    trial = store.trial(trial_id)
    epochs = store.epochs(trial_id)
    request = task.request(spec.variant, spec.image_size)
    test_metric = test_score(task.metric)  # "val_acc" selects the checkpoint, "test_acc" scores it
    test = json.loads(trial["test_json"] or "{}")
    return {
        "data": {
            "dataset": task.name,
            "description": task.description,
            "source": data.source,
            "variant": request.variant,
            "image_size": task.shape(request.image_size)[1],  # pixels per side, as the model sees them
            "splits": {name: len(split) for name, split in data.splits().items()},
            "split_seeds": list(task.seeds_of(request.variant)),  # []: the files come split
            "train_limit": spec.train_limit,  # None: the whole training split
        },
        "parameters": params,
        "training": {
            "optimizer": spec.optimizer,
            "lr": spec.lr,
            "batch_size": spec.batch_size,
            "epochs": spec.epochs,  # planned
            "epochs_run": len(epochs),
            "weight_decay": spec.weight_decay,
            "augment": spec.augment or task.augment,
            "pixels": spec.pixels or "standard",
            "seed": spec.seed,
            "precision": trial["precision"] or spec.precision,  # what it trained in; the setting before schema 6
            "scheduler": _scheduler(store, trial["sweep_id"]),
            "status": trial["status"],  # "stopped": the scheduler or a time budget ended it early
        },
        "evaluation": {
            "split": "test",
            "metric": test_metric,
            "value": score(trial, epochs, test_metric),  # None: stopped before its last epoch, never scored
            "n": len(data.test),
            "best_epoch": test.get("epoch") or trial["best_epoch"],
            "selected_by": task.metric,
            # the test figure's 95% interval over the test images (harness.results.intervals); None: no
            # binomial form (image scores) or no count recorded
            **_test_interval(trial, epochs, metric=task.metric, classification=task.kind == "classification"),
        },
        "published": published_figures(
            trial, epochs, task=task.name, arch=spec.arch, notes=data_notes(store, [trial])[trial["id"]]
        ),
    }


class _TestInterval(TypedDict):
    """The test figure's part of a trial's Intervals: the card's evaluation holds it."""

    ci95_low: float | None
    ci95_high: float | None
    ci95_method: str | None


def _test_interval(trial: TrialRow, epochs: list[EpochRow], *, metric: str, classification: bool) -> _TestInterval:
    from harness.results.intervals import trial_intervals

    found = trial_intervals(trial, epochs, metric=metric, classification=classification)
    return {"ci95_low": found["ci95_low"], "ci95_high": found["ci95_high"], "ci95_method": found["ci95_method"]}


def _scheduler(store: Store, sweep_id: str) -> str:
    """The sweep's trial scheduler: "asha" stops weak trials early, "fifo" runs every epoch; a
    reproduction runs each recipe to its end."""
    recorded = json.loads(store.sweep(sweep_id)["spec_json"])
    return "fifo" if "reproduce" in recorded else str(recorded.get("scheduler") or "fifo")


def published_figures(
    trial: Any, epochs: list[Any], *, task: str, arch: str, notes: list[str] | None = None
) -> list[PublishedFigure]:
    """The published figures of this task and network, each with ours measured as the report
    measured and whether this trial ran the report's recipe (`harness compare`'s matching)."""
    from harness.results.leaderboard import published
    from harness.results.matching import config_of, differences, recipe_terms, trial_terms
    from harness.results.ranking import score

    have = trial_terms(config_of(trial), len(epochs), notes)
    out: list[PublishedFigure] = []
    for report, recipe in published(task):
        want = recipe_terms(recipe.spec)
        if want["arch"] != arch:
            continue
        differs = differences(have, want)
        out.append(
            {
                "report": report,
                "run": recipe.label,
                "measure": recipe.measure,
                "score": recipe.score,
                "published": recipe.published,
                "ours": score(trial, epochs, recipe.score),
                "like_for_like": not differs,  # the same network, data and budget
                "differs": "; ".join(differs) or None,
            }
        )
    return out


# -- later: the card of a file, with the store's verifications of it -------------------------


class _Recorded(TypedDict, total=False):
    """What the card reads of a stored verification's details_json (harness.export.documents.
    VerificationDetails): {} while the file was never verified."""

    n: int
    task: str
    rule: str
    latency: Latency | None
    float_ops: dict[str, int] | None


def verifications(store: Store, *, meta: ModelMetadata, path: Path, digest: str) -> list[CardVerification]:
    """The store's verifications of this file: its trial's exports with the file's sha256
    (exports older than the checksums: by path), oldest first."""
    trial_id = meta.get("trial_id")
    if not trial_id:
        return []
    try:
        trial_id = store.trial(trial_id)["id"]  # an old short id resolves where it is unambiguous
    except HarnessError:
        return []  # a trial this store does not hold: the file is unknown to it
    rows: list[CardVerification] = []
    for x in store.exports(trial_id):
        if x["sha256"] != digest and not (x["sha256"] is None and x["path"] == str(path)):
            continue
        details: _Recorded = json.loads(x["details_json"] or "{}")
        latency = details.get("latency")
        rows.append(
            {
                "export_id": x["id"],
                "when": x["created_at"],
                "runtime": "onnxruntime",
                "provider": x["provider"],
                "max_abs_diff": x["max_abs_diff"],
                "top1_agreement": x["top1_agreement"],
                "metric": x["ort_metric"],
                "torch_metric": x["torch_metric"],
                "n": details.get("n"),
                "task": details.get("task"),
                "rule": details.get("rule"),
                "latency_p50_ms": latency.get("onnxruntime_b1_p50_ms") if latency else None,
                "float_ops": details.get("float_ops"),
                "status": x["status"],  # exported (never verified) | verified | failed
            }
        )
    return rows


def build_card(
    path: Path,
    *,
    meta: ModelMetadata,
    store: Store | None,
    store_path: Path | None = None,
) -> ModelCard:
    """The card as data (`--format json`): the file's metadata, and, when a store is given, its
    verifications of the file (`store_path`: where none was found) and the cross-runtime matrix
    of the latest verification that ran one (harness.export.matrix; rows as the store keeps them)."""
    from harness.store.rows import fastest_deployment

    digest = file_sha256(path)
    found = verifications(store, meta=meta, path=path, digest=digest) if store else []
    matrices = [store.runtime_checks(v["export_id"]) for v in reversed(found)] if store else []
    matrix = next((rows for rows in matrices if rows), [])
    # an INT8 file's speed-up is against onnxruntime on its trial's float32 file
    baseline = store.latest_matrix(meta["trial_id"]) if store and meta.get("quantize") else None
    return {
        "path": str(path),
        "sha256": digest,
        "metadata": meta,
        "store": str(store.path if store else store_path),
        "store_found": store is not None,
        "verifications": found,
        "runtime_checks": matrix,
        "fastest": fastest_deployment(matrix, baseline=baseline) if matrix else None,
    }


def read_card(path: Path, *, results_dir: Path) -> ModelCard:
    """`harness card`: the file's checked metadata (a missing or corrupt file, metadata that
    contradicts the graph or holds a key of another type, is one line) and the verifications
    of the store in `results_dir`, if there is one."""
    from harness.runtimes.metadata import typed_metadata
    from harness.runtimes.predict import checked_metadata, open_session
    from harness.store.db import DB_NAME, Store

    meta = typed_metadata(checked_metadata(open_session(path), path), path)  # the card renders every key
    if not (results_dir / DB_NAME).is_file():
        return build_card(path, meta=meta, store=None, store_path=results_dir / DB_NAME)
    with Store.existing(results_dir) as store:
        return build_card(path, meta=meta, store=store)
