"""The leaderboard of a large store: the table shows the top rows of each task and counts the
rest; --all shows every row, --top N as many as asked; JSON, CSV and markdown keep every row.
The store is built without Ray (`bigstore`), so these run in seconds."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from bigstore import build_store

from harness.cli.main import main
from harness.views.leaderboard import TABLE_ROWS

TRIALS = 300
RANK = re.compile(r"^│\s+(\d+) │")  # a trial row of a rich table starts with its rank


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    return build_store(tmp_path_factory.mktemp("big"), trials=TRIALS)


def _table(results: Path, capsys, *flags: str) -> tuple[list[int], str]:
    """The ranks of the board's rows as printed, and the whole output."""
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), *flags]) == 0
    out = capsys.readouterr().out
    return [int(m.group(1)) for line in out.splitlines() if (m := RANK.match(line))], out


def test_the_table_shows_the_top_rows_and_counts_the_rest(big, capsys):
    ranks, out = _table(big, capsys)
    assert TABLE_ROWS == 20 and ranks == list(range(1, 21))
    assert f"showing 20 of {TRIALS} trials (--top N, --all)" in out
    # the published references are still matched against every trial, shown or not
    assert "published (REPORTS.md)" in out and "vgg8_bn" in out


def test_all_shows_every_row_and_top_as_many_as_asked(big, capsys):
    ranks, out = _table(big, capsys, "--all")
    assert ranks == list(range(1, TRIALS + 1)) and "showing" not in out
    ranks, out = _table(big, capsys, "--top", "5")
    assert ranks == [1, 2, 3, 4, 5] and "showing" not in out  # --top as before: no count line


def test_the_count_line_counts_configurations_on_a_grouped_board(big, capsys):
    ranks, out = _table(big, capsys, "--group-seeds")
    assert ranks == list(range(1, 21)) and f"showing 20 of {TRIALS} configurations" in out


def test_machine_formats_keep_every_row_unless_top_cuts(big, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(big), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in board["rows"]] == list(range(1, TRIALS + 1))
    assert main(["leaderboard", "--results", str(big), "--format", "csv"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == TRIALS
    assert main(["leaderboard", "--results", str(big), "--format", "markdown"]) == 0
    assert len(re.findall(r"^\| \d+ \|", capsys.readouterr().out, flags=re.MULTILINE)) == TRIALS
    assert main(["leaderboard", "--results", str(big), "--format", "json", "--top", "7"]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["rows"]) == 7


def test_top_and_all_together_is_one_line(big, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--results", str(big), "--all", "--top", "3"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--top: not allowed with argument --all" in err


def test_a_small_board_has_no_count_line(tmp_path, capsys):
    ranks, out = _table(build_store(tmp_path, trials=TABLE_ROWS), capsys)
    assert ranks == list(range(1, TABLE_ROWS + 1)) and "showing" not in out
