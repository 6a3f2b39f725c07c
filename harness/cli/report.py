"""`harness report`: the reproduction document from a store (writing the rows beside it) or
from a JSON export of those rows (re-rendering it, byte for byte)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import cast

from harness.errors import HarnessError
from harness.report.document import Document
from harness.views.console import console, print_json


def rows_path(out: Path) -> Path:
    """The rows behind a document: docs/reproduction.md -> docs/reproduction.json."""
    return out.with_suffix(".json")


def read_rows(path: Path) -> Document:
    from harness.report.reproduction import FORMAT

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"no rows file at {str(path)!r}", "pass --from the JSON `harness report` wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(
            f"{str(path)!r} is not a JSON rows file ({exc})", "pass --from the JSON `harness report` wrote"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise HarnessError(
            f"{str(path)!r} is not a reproduction rows file (format {FORMAT!r})",
            "pass --from the JSON `harness report` wrote beside its document",
        )
    return cast("Document", doc)  # trusted as what `harness report` wrote once its format matches


def _readme(path: Path) -> str:
    from harness.views.report import README_BEGIN, README_END

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(
            f"cannot read --readme {str(path)!r} ({exc})", "pass --readme the project's README.md"
        ) from None
    if README_BEGIN not in text or README_END not in text:
        raise HarnessError(
            f"--readme {str(path)!r} has no summary block",
            f"put the two lines {README_BEGIN} and {README_END} where the table goes",
        )
    return text


def cmd_report(args: argparse.Namespace) -> int:
    from harness.cli.commands import results_dir_of
    from harness.views.report import render, with_summary, write_curves

    out = Path(args.out)
    if out.suffix != ".md":
        raise HarnessError(
            f"--out {args.out!r} does not end in .md", "pass --out a markdown file, e.g. docs/reproduction.md"
        )
    rows_file = rows_path(out)
    if args.from_rows:
        doc = read_rows(Path(args.from_rows))
    else:
        from harness.datasets import resolve_data_root
        from harness.report.reproduction import collect
        from harness.store.db import Store

        with Store.existing(results_dir_of(args)) as store:
            doc = collect(store, data_root=str(resolve_data_root(None)))
    source = (
        f"`{rows_file.name}` beside this file; re-render: `harness report --from {rows_file.name} --out {out.name}`"
    )
    text = render(doc, source=source)
    readme_text = _readme(Path(args.readme)) if args.readme else ""  # checked before anything is written
    pngs = write_curves(doc, out.parent) if args.png else []  # before the document: a failure leaves nothing new
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.from_rows:
        rows_file.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    out.write_text(text, encoding="utf-8")
    if args.readme:
        readme = Path(args.readme)
        readme.write_text(with_summary(readme_text, doc), encoding="utf-8")
    rows = [r for report in doc["reports"] for r in report["rows"]]
    if args.format == "json":
        print_json(doc)
        return 0
    ran = sum(r.get("ours") is not None and r["status"] == "finished" for r in rows)
    quick = sum(r["status"] == "quick check" for r in rows)
    console.print(
        f"wrote {out} ({len(rows)} recipes: {ran} reproduced, {quick} quick checks, {len(rows) - ran - quick} other)"
        + ("" if args.from_rows else f", its rows {rows_file}")
        + (f" and {len(pngs)} learning curves under {out.parent / 'reproduction'}" if pngs else ""),
        highlight=False,
    )
    return 0
