"""The cross-runtime matrix as a rich table and as markdown. Pure; rows are the JSON shape of
harness.export.matrix.RuntimeCheck (`as_json`), as the store keeps them, so a stored matrix and a
fresh one print alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

from harness.escape import markdown, markup, terminal
from harness.formats import DASH, pct, pp, sig3
from harness.runtimes.base import tally

if TYPE_CHECKING:
    from harness.store.rows import Fastest, RuntimeCheckRow

STYLE = {"passed": "green", "failed": "bold red", "error": "bold red", "info": "cyan", "not installed": "dim"}
HEADERS = (
    "runtime",
    "version",
    "provider",
    "precision",
    "max abs diff",
    "agreement",
    "task metric (vs torch)",
    "batch 1 ms (min-max)",
    "verdict",
)


def _agreement(row: RuntimeCheckRow) -> str:
    """Top-1 agreement for classifiers; for image outputs the PSNR gap to PyTorch (a row holds
    both PSNRs or neither: one objective scores both runtimes)."""
    psnr, torch_psnr = row["psnr"], row["torch_psnr"]
    if psnr is not None and torch_psnr is not None:
        return f"PSNR {psnr - torch_psnr:+.3f} dB"
    return pct(row["top1_agreement"])


def _figures(row: RuntimeCheckRow) -> list[str]:
    """The max abs diff, agreement and task metric cells: dashes for a runtime that did not run
    (a row that ran holds all of its figures)."""
    diff, value, torch_value = row["max_abs_diff"], row["metric"], row["torch_metric"]
    if diff is None or value is None or torch_value is None:
        return [DASH] * 3
    return [f"{diff:.2g}", _agreement(row), f"{pct(value)} ({pp(value - torch_value)})"]


def _latency(row: RuntimeCheckRow) -> str:
    spread = row.get("b1_spread_ms")
    median = row.get("b1_p50_ms")
    if median is None or not spread:
        return DASH
    return f"{sig3(median)} ({sig3(spread[0])}-{sig3(spread[1])})"


def cells(row: RuntimeCheckRow) -> list[str]:
    """One row's cells, plain text; "precision" is the runtime's inference precision."""
    return [
        row["runtime"],
        row["version"] or DASH,
        row["provider"] or DASH,
        row["precision"] or DASH,
        *_figures(row),
        _latency(row),
        verdict(row),
    ]


def verdict(row: RuntimeCheckRow) -> str:
    """The status; an informational row adds what the gate would have said of it."""
    if row["status"] == "info" and row.get("gate_passed") is not None:
        return f"info: {'within' if row['gate_passed'] else 'outside'} the gate"
    return str(row["status"])


def notes(rows: Sequence[RuntimeCheckRow]) -> list[str]:
    """The lines under the table: install hints, error lines, what informational rows show."""
    out = []
    for row in rows:
        if row["note"] and row["status"] == "not installed":
            out.append(f"{row['runtime']}: not installed ({row['note']})")
        elif row["note"]:
            out.append(
                f"{row['runtime']}: {row['note']}" if not row["note"].startswith(row["runtime"]) else row["note"]
            )
    return out


def title(rows: Sequence[RuntimeCheckRow]) -> str:
    passed, checked = tally(rows)
    first = next((r for r in rows if r["max_abs_diff"] is not None), None)
    where = f" on {first['n']:,} test images, PyTorch float32 {pct(first['torch_metric'])}" if first else ""
    return f"cross-runtime verification: {passed}/{checked} runtimes pass{where}"


def fastest_label(fastest: Fastest | None) -> str:
    """ "openvino-default bf16, 5.1x, -0.02 pp": the runtime, what it computed in, its batch-1
    speed-up over onnxruntime on the float32 file, its task metric against float32 PyTorch."""
    if fastest is None:
        return "none within the gate"
    speed = f", {fastest['speedup']:.1f}x" if fastest["speedup"] else ""
    return f"{fastest['runtime']} {fastest['precision']}{speed}, {pp(fastest['metric_change'])}"


def _fastest_note(fastest: Fastest | None) -> list[str]:
    if fastest is None:
        return []
    return [f"fastest: {fastest_label(fastest)} (batch-1 latency against onnxruntime float32, within the gate)"]


def render_matrix(rows: Sequence[RuntimeCheckRow], *, rule: str | None = None, fastest: Fastest | None = None) -> Group:
    table = Table(title=title(rows), title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in HEADERS[:4] or header == "verdict" else "right")
    for row in rows:
        *rest, verdict = cells(row)
        # a runtime's version, provider and error come from the checked runtime: text, never markup
        table.add_row(*map(markup, rest), f"[{STYLE.get(row['status'], '')}]{markup(verdict)}[/]")
    lines = [Text(terminal(line), style="dim") for line in notes(rows)]
    lines += [Text(terminal(line), style="bold") for line in _fastest_note(fastest)]
    if rule:
        passes = f"passes when: {rule} (against PyTorch float32, the whole test split)"
        lines.insert(0, Text(terminal(passes), style="dim"))
    return Group(table, *lines)


def matrix_markdown(rows: Sequence[RuntimeCheckRow], *, fastest: Fastest | None = None) -> str:
    out = [f"**{title(rows)}**", "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(markdown(c) for c in cells(row)) + " |" for row in rows]
    out += ["", *(f"- {markdown(line, starts_line=True)}" for line in [*notes(rows), *_fastest_note(fastest)])]
    return "\n".join(out) + "\n"
