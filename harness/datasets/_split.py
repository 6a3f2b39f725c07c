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
