"""A resume re-planned from the store alone (harness.sweeps.resume): what is left of a grid, a
random search and an Optuna search, ASHA's rungs refilled from stored epochs, and checkpoints
checked before Ray starts. Real OptunaSearch, Tune's variant generator and ASHA; no trial runs
(the killed-driver tests in test_sweep_engine.py and test_repeats.py run the whole chain)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import torch
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import SearchGenerator

from harness.config.replicates import SEED_STEP
from harness.config.spec import SweepSpec, TrialSpec
from harness.config.trial_config import TrialConfig
from harness.engine.checkpoint import CHECKPOINT_FILE, save_checkpoint
from harness.engine.recorded import CONTINUES
from harness.store.rows import StoredTrial
from harness.sweeps.plan import Plan, asha_settings, param_space
from harness.sweeps.resume import canonical, replan
from harness.sweeps.resume_tune import StoredIdASHA, optuna_search, resumed_search


def stored(
    ray_id: str,
    config: dict[str, Any],
    *,
    status: str = "finished",
    values: tuple[float, ...] = (0.5,),
    checkpoint: str | None = None,
) -> StoredTrial:
    ended = status not in ("running", "interrupted")
    return {
        "id": f"s1.{ray_id}",
        "ray_id": ray_id,
        "status": status,
        "ended_at": "2026-12-05T00:00:00" if ended or status == "interrupted" else None,
        "checkpoint_path": checkpoint,
        "config_json": json.dumps(config, sort_keys=True),
        "epochs": [{"epoch": i + 1, "val_acc": v} for i, v in enumerate(values)],
    }


def config_of(spec: SweepSpec, **values: Any) -> dict[str, Any]:
    """A trial's config as the plan makes it: the shared settings, the first of each searched list."""
    first = {key: options[0] for key, options in spec.searched().items() if key != "seed"}
    return {**spec.shared(), **first, **values}


def grid_configs(plan: Plan) -> list[dict[str, Any]]:
    left = replan(plan, [], metric="val_acc", storage="/nowhere")
    return [{k: v for k, v in p.items() if k != CONTINUES} for p in left.points]


def a_checkpoint(folder: Path, config: dict[str, Any], *, epoch: int = 2) -> str:
    folder.mkdir(parents=True)
    spec = TrialSpec.from_config(cast(TrialConfig, config))
    model = torch.nn.Linear(64, 10)
    save_checkpoint(folder, model=model, spec=spec, epoch=epoch, metrics={"epoch": epoch, "val_acc": 0.5})
    return str(folder)


def test_a_grid_resumes_its_unfinished_trials_and_runs_the_points_never_started(tmp_path):
    plan = Plan(spec=SweepSpec(archs=("mlp",), optimizers=("adam", "sgd"), lrs=(0.01, 0.003), epochs=4))
    configs = grid_configs(plan)
    assert len(configs) == 4  # the whole grid when the store holds nothing
    good = a_checkpoint(tmp_path / "good", configs[2])
    trials = [
        stored("a_00000", configs[0]),
        stored("a_00001", configs[1], status="stopped"),  # ended: never runs again
        stored("a_00002", configs[2], status="running", values=(0.4, 0.5), checkpoint=good),
    ]
    left = replan(plan, trials, metric="val_acc", storage=str(tmp_path))
    assert [p[CONTINUES] for p in left.points] == ["a_00002", ""]
    assert canonical(left.points[0]) == canonical(configs[2])  # the unfinished one, as it was
    assert canonical(left.points[1]) == canonical(configs[3])  # the point never started
    assert left.restarted == {} and left.recorded.checkpoint("a_00002").path == good
    space, search, schedule, num_samples = resumed_search(plan, left, metric="val_acc")
    assert num_samples == 2 and schedule is None


def test_a_damaged_checkpoint_restarts_its_trial_and_says_why(tmp_path):
    plan = Plan(spec=SweepSpec(archs=("mlp",), optimizers=("adam", "sgd"), lrs=(0.01,), epochs=4))
    configs = grid_configs(plan)
    cut = a_checkpoint(tmp_path / "cut", configs[0])
    data = (Path(cut) / CHECKPOINT_FILE).read_bytes()
    (Path(cut) / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])  # a disk that filled mid-write
    trials = [
        stored("a_00000", configs[0], status="running", checkpoint=cut),
        stored("a_00001", configs[1], status="interrupted", checkpoint=str(tmp_path / "deleted")),
    ]
    left = replan(plan, trials, metric="val_acc", storage=str(tmp_path))
    assert set(left.restarted) == {"a_00000", "a_00001"}
    assert "does not load" in left.restarted["a_00000"] and "is missing" in left.restarted["a_00001"]
    assert left.recorded.checkpoint("a_00000") is None  # from epoch 1, not an error inside Ray
    assert [p[CONTINUES] for p in left.points] == ["a_00000", "a_00001"]


def test_a_random_search_runs_a_started_draws_missing_replicates_then_new_seeded_draws(tmp_path):
    spec = SweepSpec(
        archs=("mlp",), optimizers=("adam", "sgd"), lrs=(0.1, 0.01, 0.001), search="random", num_samples=3, repeats=2
    )
    plan = Plan(spec=spec)
    first = config_of(spec, optimizer="adam", lr=0.1, base_seed=0, replicate=0, seed=0)
    second = {**first, "optimizer": "sgd", "lr": 0.001}
    trials = [
        stored("a_00000", first),
        stored("a_00001", {**first, "replicate": 1, "seed": SEED_STEP}),
        stored("a_00002", second),  # its replicate 1 never started
    ]
    left = replan(plan, trials, metric="val_acc", storage=str(tmp_path))
    assert left.points[0] == {CONTINUES: "", **second, "replicate": 1, "seed": SEED_STEP}
    drawn = left.points[1:]
    assert len(drawn) == 2 and {p["replicate"] for p in drawn} == {0, 1}  # one new draw, both replicates
    assert len({(p["optimizer"], p["lr"]) for p in drawn}) == 1
    again = replan(plan, trials, metric="val_acc", storage=str(tmp_path))
    assert again.points == left.points  # seeded: a second resume of the same store draws the same


def optuna_spec() -> SweepSpec:
    return SweepSpec(
        archs=("mlp",), optimizers=("adam", "sgd"), lr_range=(1e-4, 1e-1), search="optuna", num_samples=3, repeats=2
    )


def test_optuna_starts_from_the_stores_means_and_is_told_a_resumed_groups_mean(tmp_path):
    """A finished configuration reaches Optuna as its replicates' mean; one whose second replicate
    was killed runs that replicate, and Optuna hears the mean of both when it ends; then it draws."""
    spec = optuna_spec()
    plan = Plan(spec=spec)
    done = config_of(spec, optimizer="adam", lr=0.01)
    half = config_of(spec, optimizer="sgd", lr=0.05)
    replicate = [{"base_seed": 0, "replicate": r, "seed": r * SEED_STEP} for r in (0, 1)]
    trials = [
        stored("a_00000", {**done, **replicate[0]}, values=(0.2, 0.6)),  # the last epoch counts
        stored("a_00001", {**done, **replicate[1]}, values=(0.8,)),
        stored("a_00002", {**half, **replicate[0]}, values=(0.25,)),
        stored("a_00003", {**half, **replicate[1]}, status="running", values=(0.5,)),
    ]
    left = replan(plan, trials, metric="val_acc", storage=str(tmp_path))
    assert left.draws == 1 and [p[CONTINUES] for p in left.points] == ["a_00003"]
    generator = SearchGenerator(optuna_search(plan, left, metric="val_acc"))
    generator.set_search_properties("val_acc", "max", param_space(spec))
    search = generator.searcher
    optuna = search.optuna
    resumed = search.suggest("t1")
    assert resumed[CONTINUES] == "a_00003" and resumed["seed"] == SEED_STEP
    search.on_trial_complete("t1", result={"val_acc": 0.75})
    told = {(t.params["optimizer"], t.params["lr"]): t.value for t in optuna._ot_study.trials}
    assert told == {("adam", 0.01): pytest.approx(0.7), ("sgd", 0.05): pytest.approx(0.5)}
    new = [search.suggest(f"t{i}") for i in (2, 3)]  # Optuna's next configuration, both replicates
    assert [c["seed"] for c in new] == [0, SEED_STEP] and CONTINUES not in new[0]
    assert (new[0]["optimizer"], new[0]["lr"]) == (new[1]["optimizer"], new[1]["lr"]) not in told
    search.on_trial_complete("t2", result={"val_acc": 0.1})
    search.on_trial_complete("t3", result={"val_acc": 0.3})
    values = sorted(t.value for t in optuna._ot_study.trials)
    assert values == pytest.approx(sorted([0.7, 0.5, statistics.fmean([0.1, 0.3])]))


def test_asha_keeps_the_cutoffs_the_stored_epochs_set(tmp_path):
    spec = SweepSpec(archs=("mlp",), optimizers=("adam",), lrs=(0.1, 0.01, 0.001, 0.0001), epochs=4, scheduler="asha")
    history = {"a_00000": [(1, 0.9), (2, 0.95)], "a_00001": [(1, 0.8), (2, 0.9)], "a_00002": [(1, 0.1)]}
    asha = StoredIdASHA(history=history, **asha_settings(spec))
    asha.set_search_properties("val_acc", "max")
    weak = SimpleNamespace(trial_id="b_00000", config={CONTINUES: ""})
    asha.on_trial_add(None, weak)
    # a new trial below the rung the stored trials filled is stopped at once, as before the kill
    assert asha.on_trial_result(None, weak, {"epoch": 1, "val_acc": 0.05}) == TrialScheduler.STOP
    strong = SimpleNamespace(trial_id="b_00001", config={CONTINUES: "a_00002"})  # continues a stored one
    asha.on_trial_add(None, strong)
    assert asha.on_trial_result(None, strong, {"epoch": 2, "val_acc": 0.99}) == TrialScheduler.CONTINUE


def test_optuna_takes_any_64_bit_seed_fresh_or_resumed(tmp_path):
    """Seeds run to 2**63-1 (less what --repeats adds); numpy seeds Optuna's sampler with 32 bits."""
    from harness.sweeps.plan import search_algorithm

    spec = SweepSpec(
        archs=("mlp",), optimizers=("adam", "sgd"), lr_range=(1e-4, 1e-1), search="optuna", seeds=(2**63 - 1,)
    )
    fresh = SearchGenerator(search_algorithm(spec))
    fresh.set_search_properties("val_acc", "max", param_space(spec))
    assert fresh.searcher.suggest("t1")["seed"] == 2**63 - 1
    left = replan(Plan(spec=spec), [], metric="val_acc", storage=str(tmp_path))
    resumed = SearchGenerator(optuna_search(Plan(spec=spec), left, metric="val_acc"))
    resumed.set_search_properties("val_acc", "max", param_space(spec))
    assert resumed.searcher.suggest("t1")["seed"] == 2**63 - 1


def test_a_resume_with_nothing_left_to_run_settles_the_sweep(tmp_path, capsys):
    """Every trial had ended (here: in errors) before the driver died: the resume runs nothing,
    starts no Tuner, and marks the sweep as its trials say (failed: none usable, exit 1)."""
    from harness.cli.main import main
    from harness.kinds import Status
    from harness.store.db import Store, trial_key

    plan = Plan(spec=SweepSpec(archs=("mlp",), optimizers=("adam", "sgd"), lrs=(0.01,), epochs=2)).resolved(tmp_path)
    with Store.create(tmp_path) as store:
        store.create_sweep(
            sweep_id="s1", task="digits", seed=0, command="harness sweep", spec_json=plan.to_json(), environment={}
        )
        for i, config in enumerate(grid_configs(plan)):
            ray_id = f"a_0000{i}"
            store.start_trial(trial_id=ray_id, sweep_id="s1", config=cast(TrialConfig, config))
            store.end_trial(trial_key("s1", ray_id), status=Status.ERROR, error="boom")
    capsys.readouterr()
    assert main(["sweep", "--resume", "--no-export", "--no-live", "--results", str(tmp_path)]) == 1
    assert "Traceback" not in capsys.readouterr().err
    with Store.existing(tmp_path) as store:
        assert store.sweep()["status"] == "failed"
        assert {t["status"] for t in store.sweep_record("s1")} == {"error"}
