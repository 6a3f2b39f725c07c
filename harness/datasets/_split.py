"""Seeded, stratified splits: the same files always land in the same split, class by class."""

from __future__ import annotations

import numpy as np

SPLIT_SEED = 0  # fixed: every trial, sweep and machine sees the same split
VAL_FRACTION = 0.1  # of the training files, held out to select models (the test split never is)


def stratified(labels: np.ndarray, fraction: float, *, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held_out): round(fraction * n) of each class's n samples held out, chosen at random."""
    rng = np.random.default_rng(seed)
    rest, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        held.append(idx[:k])
        rest.append(idx[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def per_class(labels: np.ndarray, counts: list[int], *, seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Consecutive random parts with `counts[i]` samples of each class.

    A class with fewer files than the counts ask for (corrupt files skipped, a smaller copy) is
    split in the same proportions, so no part is starved."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in counts]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        want = counts
        if len(idx) < sum(counts):
            want = [int(round(n * len(idx) / sum(counts))) for n in counts]
        start = 0
        for part, n in zip(parts, want):
            part.append(idx[start : start + n])
            start += n
    return [np.sort(np.concatenate(p)) for p in parts]


def parse_fractions(text: str) -> tuple[float, float, float]:
    """`"0.8,0.1,0.1"` -> train, val, test fractions: three numbers >= 0 summing to 1, train > 0."""
    from harness.errors import HarnessError

    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise HarnessError(
            f"split {text!r} is not three fractions train,val,test summing to 1",
            "pass e.g. --split 0.8,0.1,0.1",
        )
    return values[0], values[1], values[2]


def by_fractions(labels: np.ndarray, fractions: list[float], *, seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Indices of consecutive random parts of each class, the part sizes rounded from `fractions`
    (which sum to 1); the first part takes what rounding leaves."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        sizes = [int(round(f * len(idx))) for f in fractions[1:]]
        sizes.insert(0, len(idx) - sum(sizes))
        start = 0
        for part, n in zip(parts, sizes):
            part.append(idx[start : start + n])
            start += n
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in parts]
