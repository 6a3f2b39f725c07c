"""Numbers as a person reads them, for tables and markdown. JSON and CSV keep full precision.

Accuracies are percentages with two decimals (72.90%), seconds and other measured figures
have three significant figures (0.204 s, 1,530 img/s), counts get thousands separators.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "-"


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals: 0.4548 -> "45.48%"."""
    return DASH if value is None else f"{100 * value:.2f}%"


def pp(value: float | None) -> str:
    """A difference of fractions in percentage points: -0.0312 -> "-3.12 pp"."""
    return DASH if value is None else f"{100 * value:+.2f} pp"


def sig3(value: float | None) -> str:
    """Three significant figures, thousands separated: 0.20412 -> "0.204", 1528.7 -> "1,530"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH if value is None else str(value)
    if value == 0:
        return "0"
    digits = 3 - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, digits)
    return f"{rounded:,.{max(digits, 0)}f}"


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def lr(value: float | None) -> str:
    return DASH if value is None else f"{value:g}"


def plural(n: float, word: str) -> str:
    """ "1 epoch", "2 epochs" (a mean over seeds: "2.5 epochs")."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def metric(value: float | None, name: str) -> str:
    """A task metric: accuracies as percentages, anything else (PSNR, loss) with 3 significant figures."""
    return pct(value) if name.endswith("acc") else sig3(value)


def cell(value: Any) -> str:
    """A value of unknown kind, for generic tables."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return sig3(value)
    if isinstance(value, int):
        return count(value)
    return str(value)
