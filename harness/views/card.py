"""A model card (harness.export.card.build_card) as a person reads it: the markdown of `X.md`, or rich
tables for `harness card`. Both come from the same sections, so they never say different things.
No torch, no store: a card is plain data by now."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.escape import markdown, terminal
from harness.formats import DASH, count, lr, metric, pct
from harness.views.runtimes import matrix_markdown, render_matrix
from harness.views.tables import stayed_float

if TYPE_CHECKING:
    from harness.export.documents import CardVerification, ModelCard
    from harness.runtimes.documents import ModelMetadata
    from harness.store.db import Store

Section = tuple[str, list[tuple[str, str]]]  # (title, [(what, value)])
Column = tuple[str, str, Callable[[Any], str]]  # (row key, header, how a value is written)


def _small(value: float) -> str:
    """A difference near zero, as the verify table writes it: 2.38e-06."""
    return f"{value:.3g}"


# A table's columns: (row key, header, how a value is written).
VERIFICATION_COLUMNS: tuple[Column, ...] = (
    ("when", "when", str),
    ("runtime", "runtime", str),
    ("provider", "provider", str),
    ("max_abs_diff", "max abs diff", _small),
    ("top1_agreement", "top-1 agreement", pct),
    ("metric", "metric", pct),
    ("status", "verdict", str),
)


def title(card: ModelCard) -> str:
    meta = card["metadata"]
    kind = " (INT8)" if meta.get("quantize") else ""
    return f"{meta.get('task', '?')} · {meta.get('architecture', '?')}{kind} · trial {meta.get('trial_id', '?')}"


def _absent(meta: ModelMetadata) -> list[tuple[str, str]]:
    """What an old file says for a section it does not hold."""
    version = meta.get("harness_version")
    return [("not recorded", f"exported by harness {version or 'of an older release'}, before the model card")]


def _model(card: ModelCard) -> Section:
    from harness.heads import HEADS

    meta = card["metadata"]
    head = HEADS.get(meta.get("output", ""))
    rows = [
        ("file", Path(card["path"]).name),  # the card lies beside it
        ("sha256", card["sha256"]),
        ("architecture", meta.get("architecture") or DASH),
        ("parameters", count(meta["parameters"]) if "parameters" in meta else DASH),
        ("network's report", meta.get("report_id") or "none (a baseline)"),
        ("input", f"{'x'.join(map(str, meta['input_shape']))} {meta.get('input_dtype', 'float32')}, batch first"),
        ("output", f"{meta['output']}: {head.meaning}" if head else str(meta.get("output"))),
        ("harness", meta.get("harness_version") or DASH),
    ]
    if meta.get("quantize"):
        rows.append(("quantized", f"{meta['quantize']} (onnxruntime static quantization)"))
    return "Model", rows


def _data(meta: ModelMetadata) -> Section:
    data = meta.get("data")
    if not isinstance(data, dict):
        return "Data", _absent(meta)
    splits = data.get("splits") or {}
    seeds = data.get("split_seeds")
    limit = data.get("train_limit")
    return "Data", [
        ("dataset", f"{data.get('dataset')}: {data.get('description')}"),
        ("source", str(data.get("source"))),
        ("variant", str(data.get("variant"))),
        ("image size", f"{data.get('image_size')} px"),
        ("splits", ", ".join(f"{name} {count(n)}" for name, n in splits.items())),
        ("split seeds", ", ".join(map(str, seeds)) if seeds else "none: the files come split"),
        ("trained on", f"a seeded subset of {count(limit)} training images" if limit else "the whole train split"),
    ]


def _training(meta: ModelMetadata) -> Section:
    t = meta.get("training")
    if not isinstance(t, dict):
        return "Training", _absent(meta)
    return "Training", [
        ("optimizer", str(t.get("optimizer"))),
        ("learning rate", lr(t.get("lr"))),
        ("batch size", count(t.get("batch_size"))),
        ("epochs", f"{t.get('epochs_run')} run of {t.get('epochs')} planned"),
        ("weight decay", lr(t.get("weight_decay"))),
        ("augmentation", str(t.get("augment"))),
        ("input scaling", str(t.get("pixels"))),
        ("seed", str(t.get("seed"))),
        ("precision", str(t.get("precision"))),
        ("scheduler", str(t.get("scheduler"))),
        ("trial status", str(t.get("status"))),
    ]


def _evaluation(meta: ModelMetadata) -> Section:
    rows: list[tuple[str, str]] = []
    e = meta.get("evaluation")
    if isinstance(e, dict):
        name = str(e.get("metric"))
        interval = (
            f", 95% CI [{metric(e['ci95_low'], name)}, {metric(e['ci95_high'], name)}] ({e.get('ci95_method')})"
            if e.get("ci95_low") is not None
            else ""
        )
        scored = (
            f"{metric(e['value'], name)}{interval} on {count(e.get('n'))} test images (the checkpoint of epoch "
            f"{e.get('best_epoch')}, chosen by {e.get('selected_by')})"
            if e.get("value") is not None
            else "not scored (the trial stopped before its last epoch)"
        )
        rows.append((name, scored))
    else:
        rows += _absent(meta)
    val = meta.get("metrics")
    if isinstance(val, dict):
        rows += [(k, metric(v, k)) for k, v in val.items() if k.startswith("val_") and isinstance(v, float)]
    figures = meta.get("published")
    if isinstance(figures, list):
        for f in figures:
            ours = metric(f.get("ours"), str(f.get("score")))
            how = "the same recipe" if f.get("like_for_like") else f"differs: {f.get('differs')}"
            rows.append(
                (
                    f"published, {f.get('report')}",
                    f"{f.get('run')}: {metric(f.get('published'), str(f.get('score')))} {f.get('measure')}; "
                    f"this trial {ours} ({how})",
                )
            )
        if not figures:
            rows.append(("published", "no published figure for this task and network"))
    return "Evaluation", rows


def _preprocessing(meta: ModelMetadata) -> Section:
    p = meta["preprocessing"]
    classes = meta["classes"]
    return "Preprocessing", [
        ("formula", str(p.get("formula") or "(pixel * scale - mean) / std")),
        ("scale", f"{p['scale']:.10g}"),
        ("mean", ", ".join(f"{v:g}" for v in p["mean"])),
        ("std", ", ".join(f"{v:g}" for v in p["std"])),
        ("resize", "x".join(map(str, p.get("resize") or meta["input_shape"][1:]))),
        ("colour", str(p.get("color", DASH))),
        ("classes", f"{len(classes)}: {', '.join(classes)}" if classes else "none (image output)"),
    ]


def sections(card: ModelCard) -> list[Section]:
    meta = card["metadata"]
    return [_model(card), _data(meta), _training(meta), _evaluation(meta), _preprocessing(meta)]


def _cells(row: Mapping[str, object], columns: tuple[Column, ...]) -> list[str]:
    """A row's cells by its columns' keys (any row: read as a mapping)."""
    if row.get("informational"):  # a trade-off shown, never a failure of the file
        row = {**row, "status": f"{row.get('status')} (informational)"}
    out = []
    for key, _, write in columns:
        value = row.get(key)
        out.append(DASH if value is None else write(value))
    return out


def _none_recorded(card: ModelCard) -> str:
    where = f"in {card['store']}" if card["store_found"] else f"(no results store at {card['store']})"
    return f"no verification of this file is recorded {where}"


def _rules(card: ModelCard) -> list[str]:
    """What passing meant, once per distinct gate, under the verification table."""
    rules = dict.fromkeys(
        f"{v['rule']} ({count(v['n'])} {v['task']} test images)" for v in card["verifications"] if v.get("rule")
    )
    return [f"Passes when: {rule}." for rule in rules] + _float_ops(card)


def _float_ops(card: ModelCard) -> list[str]:
    """An INT8 file's latest recorded float ops, where it is slower than it could be, in one line."""
    ops = next((v["float_ops"] for v in reversed(card["verifications"]) if v.get("float_ops") is not None), None)
    if ops is None:
        return []
    return [f"INT8: {stayed_float(ops)}." if ops else "INT8: integer throughout (no op computed in float)."]


def card_markdown(card: ModelCard) -> str:
    """The card as `X.md`: a header, one section per part, the verifications, the runtimes."""
    lines = [f"# {markdown(title(card))}", ""]
    for name, rows in sections(card):
        lines += [f"## {name}", ""]
        lines += [f"- {markdown(what, starts_line=True)}: {markdown(value)}" for what, value in rows]
        lines.append("")
    lines += ["## Verification", ""]
    if card["verifications"]:
        lines += [
            *_md_table(card["verifications"], VERIFICATION_COLUMNS),
            *(markdown(rule, starts_line=True) for rule in _rules(card)),
            "",
        ]
    else:
        line = _none_recorded(card)
        lines += [markdown(f"{line[0].upper()}{line[1:]}.", starts_line=True), ""]
    if card["runtime_checks"]:
        lines += ["## Runtimes", "", matrix_markdown(card["runtime_checks"], fastest=card.get("fastest"))]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_table(rows: Sequence[CardVerification], columns: tuple[Column, ...]) -> list[str]:
    head = [c[1] for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(markdown(c) for c in _cells(row, columns)) + " |" for row in rows]
    return [*lines, ""]


def render_card(card: ModelCard) -> RenderableType:
    """The card for the terminal: a key-value table per section, then the verifications (a dim
    line when the store holds none) and the runtimes, when there are checks."""
    # Every string here came from the file's metadata or the store: Text, so it is never read as
    # markup, and terminal(), so a newline or an ESC in it is shown, not obeyed.
    parts: list[RenderableType] = [Text(terminal(title(card)), style="bold")]
    for name, rows in sections(card):
        table = Table(title=name, title_justify="left", show_header=False)
        table.add_column("what", style="bold")
        table.add_column("value", overflow="fold")
        for what, value in rows:
            table.add_row(Text(terminal(what)), Text(terminal(value)))
        parts.append(table)
    if card["verifications"]:
        parts.append(_table("Verification", card["verifications"], VERIFICATION_COLUMNS))
        parts += [Text(terminal(rule), style="dim") for rule in _rules(card)]
    else:
        parts.append(Text(terminal(_none_recorded(card)), style="dim"))
    if card["runtime_checks"]:
        parts.append(render_matrix(card["runtime_checks"], fastest=card.get("fastest")))
    return Group(*parts)


def _table(name: str, rows: Sequence[CardVerification], columns: tuple[Column, ...]) -> Table:
    table = Table(title=name, title_justify="left")
    for _, header, _ in columns:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*(Text(terminal(cell)) for cell in _cells(row, columns)))
    return table


def write_card(path: Path, store: Store) -> Path | None:
    """Write `X.md` beside `X.onnx` from its metadata and the store's verifications of it (the
    CLI calls it after each export and each `harness verify`). The .onnx file itself is only read.

    A folder that cannot be written (verifying someone else's read-only copy) gets no card and a
    warning: the verification is in the store by then, and `harness card` prints it."""
    from harness.export.card import build_card, card_path
    from harness.runtimes.predict import open_session, read_metadata
    from harness.safefile import write_text
    from harness.views.console import print_warning

    card = build_card(path, meta=read_metadata(open_session(path), path), store=store)
    out = card_path(path)
    try:
        write_text(out, card_markdown(card), what="model card")
    except OSError as exc:
        print_warning(f"no model card written beside {str(path)!r} ({exc.strerror}); `harness card` prints it")
        return None
    return out
