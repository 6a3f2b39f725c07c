"""The fixed vocabularies (statuses, modes, head kinds): how they print, store and compare; one
`better`; the head registry that predict, the datasets and the architectures share. Fast, no Ray."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text

from harness.errors import HarnessError
from harness.heads import HEADS, Head, get_head
from harness.kinds import ENDED, FAILED, USABLE, Mode, Status, SweepStatus, best_of, better, rank_key, sql_aggregate

MEMBERS = [*Status, *SweepStatus, *Mode, *Head]


@pytest.mark.parametrize("member", MEMBERS, ids=repr)
def test_a_member_prints_stores_and_encodes_as_its_plain_value(member):
    value = member.value
    assert str(member) == value and f"{member}" == value and format(member) == value
    assert f"{member:>12}" == f"{value:>12}" and "%s" % member == value  # noqa: UP031 (the old ways too)
    assert "{}".format(member) == value  # noqa: UP032
    assert json.dumps(member) == json.dumps(value) and json.dumps({member: 1}) == json.dumps({value: 1})
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (s TEXT)")
    conn.execute("INSERT INTO t VALUES (?)", (member,))
    assert conn.execute("SELECT s, typeof(s) FROM t").fetchone() == (value, "text")
    assert conn.execute("SELECT COUNT(*) FROM t WHERE s = ?", (value,)).fetchone() == (1,)
    # rich markup built from a member shows the value, never "Status.FINISHED"
    assert Text.from_markup(f"[green]{member}[/]").plain == value
    # a plain string read back from the store is the member: equal, same hash, found in sets
    assert member == value and hash(member) == hash(value) and type(member)(value) is member


def test_statuses_are_every_value_the_store_holds():
    assert [s.value for s in Status] == ["running", "finished", "stopped", "diverged", "error", "interrupted"]
    assert [s.value for s in SweepStatus] == ["running", "finished", "failed", "interrupted"]
    assert ENDED == {Status.FINISHED, Status.STOPPED, Status.DIVERGED, Status.ERROR}  # stopped: ASHA's
    assert USABLE == {"finished", "stopped"} and FAILED == {"diverged", "error"}
    assert not USABLE & FAILED and USABLE | FAILED <= ENDED


def test_the_schema_comment_lists_every_trial_status():
    from harness.store.schema import SCHEMA

    trials = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS trials") :]
    comment = trials[trials.index("status TEXT") : trials.index("error TEXT")]
    assert all(s.value in comment for s in Status)


@pytest.mark.parametrize("mode", ["max", Mode.MAX])
def test_better_under_max(mode):
    assert better(0.9, 0.8, mode) and not better(0.8, 0.9, mode)
    assert not better(0.8, 0.8, mode)  # a tie keeps what was first
    assert not better(math.nan, 0.8, mode) and not better(0.8, math.nan, mode)
    assert better(0.1, -math.inf, mode)
    assert best_of([0.2, 0.9, 0.5], mode) == 0.9
    assert sorted([0.2, 0.9, 0.5], key=lambda v: rank_key(v, mode)) == [0.9, 0.5, 0.2]
    assert sql_aggregate(mode) == "MAX"


@pytest.mark.parametrize("mode", ["min", Mode.MIN])
def test_better_under_min(mode):
    assert better(0.1, 0.2, mode) and not better(0.2, 0.1, mode) and not better(0.1, 0.1, mode)
    assert best_of([0.2, 0.9, 0.05], mode) == 0.05
    assert sorted([0.2, 0.9, 0.05], key=lambda v: rank_key(v, mode)) == [0.05, 0.2, 0.9]
    assert sql_aggregate(mode) == "MIN"


def test_a_mode_that_is_neither_is_refused():
    with pytest.raises(ValueError):
        better(1.0, 0.0, "maximum")  # type: ignore[arg-type]


def test_the_head_registry_covers_every_kind_in_order():
    assert list(HEADS) == ["logits", "single_logit", "image"] == [h.value for h in Head]
    assert all(get_head(h).kind is h for h in Head) and get_head("single_logit").kind is Head.SINGLE_LOGIT
    with pytest.raises(HarnessError, match=r"unknown head 'sigmoid' \(choose from: image, logits, single_logit\)"):
        get_head("sigmoid")


def test_each_head_counts_and_shapes_its_outputs():
    counts = {h: get_head(h).num_outputs(classes=10, channels=3) for h in Head}
    assert counts == {Head.LOGITS: 10, Head.SINGLE_LOGIT: 1, Head.IMAGE: 3}
    assert get_head(Head.LOGITS).output_shape(in_shape=(3, 32, 32), num_outputs=10) == (10,)
    assert get_head(Head.IMAGE).output_shape(in_shape=(1, 7, 7), num_outputs=1, upscale=4) == (1, 28, 28)
    assert [h for h in Head if get_head(h).classifier] == [Head.LOGITS, Head.SINGLE_LOGIT]


def test_heads_turn_outputs_into_class_probabilities():
    from harness.runtimes.predict import class_probabilities

    logits = np.array([[0.0, 0.0], [10.0, -10.0]], dtype=np.float32)
    np.testing.assert_allclose(class_probabilities(logits, "logits"), [[0.5, 0.5], [1.0, 0.0]], atol=1e-6)
    one = np.array([[0.0], [20.0]], dtype=np.float32)
    np.testing.assert_allclose(class_probabilities(one, "single_logit"), [[0.5, 0.5], [0.0, 1.0]], atol=1e-6)
    with pytest.raises(HarnessError, match="no class probabilities"):
        class_probabilities(np.zeros((1, 1, 2, 2), dtype=np.float32), "image")


def test_every_head_is_trained_verified_and_checked_against_datasets_and_archs():
    from harness.architectures import get_arch, list_archs
    from harness.datasets import get_task, list_tasks
    from harness.engine.train import OBJECTIVES
    from harness.export.verify import GATES

    assert set(OBJECTIVES) == set(Head) and set(Head) <= set(GATES)
    assert all(isinstance(get_arch(a).head, Head) for a in list_archs())
    assert all(isinstance(h, Head) for t in list_tasks() for h in get_task(t).heads)
    assert get_task("cats_vs_dogs").num_outputs(Head.SINGLE_LOGIT) == 1 and get_task("cats_vs_dogs").num_outputs() == 2
    assert get_task("mnist_upsample").num_outputs() == 1  # the target image's channels


def test_an_arch_with_an_unknown_head_is_refused_naming_the_kinds():
    from harness.architectures import register_arch

    with pytest.raises(HarnessError, match="unknown head 'softmax'.*choose from: image, logits, single_logit"):
        register_arch("bad_head_test", input_shape=(1, 8, 8), num_outputs=10, head="softmax")


def test_the_vocabularies_import_nothing_heavy():
    code = (
        "import sys\n"
        "for name in ('torch', 'onnxruntime', 'ray', 'rich'): sys.modules[name] = None\n"
        "import harness.heads, harness.kinds\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_status_cell_renders_as_its_value():
    from harness.views.console import STATUS_STYLE

    out = Console(width=80, record=True, color_system=None)
    out.print(f"[{STATUS_STYLE[Status.STOPPED]}]{Status.STOPPED}[/] {Mode.MAX} {Head.SINGLE_LOGIT}")
    assert out.export_text().strip() == "stopped max single_logit"
