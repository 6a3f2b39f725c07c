"""`harness report --keep ROWS.json`: a reproduction document made on several machines.

A recipe's full run takes minutes to hours, and the machines that run them need not share a
store: one runs the Pokemon networks, another the upsampling models, each with its own store.
Each machine renders the document from its own store, keeping the finished rows of the rows
file it was handed (the committed docs/reproduction.json) for the recipes its store has no
finished run of. A finished run in the store always wins: keeping never hides a newer result.
What belongs to a kept row comes with it: its data-size points, the report's other figures
measured on its run, and the best other sweep on its data where this store has none.
"""

from __future__ import annotations

from harness.report.document import Beyond, Document, OtherFigure, ReportSection, Row, SizeCurve, finished
from harness.report.published import NO_RUN


def keep_finished(doc: Document, kept: Document) -> tuple[Document, list[str]]:
    """`doc` with `kept`'s finished rows where `doc` has none for the recipe, and the labels kept
    ("report: recipe"). Reports and recipes are matched by name; one `kept` does not know is left out."""
    kept_by_report = {section["report"]: section for section in kept["reports"]}
    reports: list[ReportSection] = []
    labels: list[str] = []
    for section in doc["reports"]:
        old = kept_by_report.get(section["report"])
        taken = _taken_rows(section["rows"], old["rows"]) if old else {}
        if old and taken:
            section = _with_rows(section, old, taken)
            labels += [f"{section['report']}: {label}" for label in taken]
        reports.append(section)
    return {"format": doc["format"], "reports": reports}, labels


def _taken_rows(rows: list[Row], old_rows: list[Row]) -> dict[str, Row]:
    """The old finished rows of the recipes `rows` has no finished run of, by recipe label."""
    old = {row["recipe"]: row for row in old_rows if finished(row)}
    return {row["recipe"]: old[row["recipe"]] for row in rows if not finished(row) and row["recipe"] in old}


def _with_rows(section: ReportSection, old: ReportSection, taken: dict[str, Row]) -> ReportSection:
    rows = [taken.get(row["recipe"], row) for row in section["rows"]]
    return {
        **section,
        "rows": rows,
        "sizes": _sizes(section["sizes"], old["sizes"], taken, order=[row["recipe"] for row in rows]),
        "others": _others(section["others"], old["others"]),
        "beyond": [_beyond(b, old["beyond"]) for b in section["beyond"]],
    }


def _sizes(sizes: list[SizeCurve], old: list[SizeCurve], taken: dict[str, Row], *, order: list[str]) -> list[SizeCurve]:
    """The kept recipes' data-size points replace this store's (made around another run)."""
    by_recipe = {s["recipe"]: s for s in sizes if s["recipe"] not in taken}
    by_recipe |= {s["recipe"]: s for s in old if s["recipe"] in taken}
    return [by_recipe[label] for label in order if label in by_recipe]


def _others(others: list[OtherFigure], old: list[OtherFigure]) -> list[OtherFigure]:
    """A figure this store could not measure for want of the run takes the kept run's measure.
    Both lists are the report's figures in the text's order (other_figures), so they pair up."""
    if len(others) != len(old):
        return others
    return [
        o if o["why"] != NO_RUN or (k["what"], k["where"]) != (o["what"], o["where"]) or k["ours"] is None else k
        for o, k in zip(others, old, strict=True)
    ]


def _beyond(line: Beyond, old: list[Beyond]) -> Beyond:
    """A line "beyond the report" this store found nothing for keeps the kept one's on the same data."""
    if line["best"] is not None:
        return line
    same = [
        b
        for b in old
        if b["best"] is not None and (b["task"], b["data"], b["epochs"]) == (line["task"], line["data"], line["epochs"])
    ]
    return same[0] if same else line
