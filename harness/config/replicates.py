"""Seed replicates (`--repeats N`): the seed each replicate of a configuration trains with, and
what its config records of it. Pure, and free of torch and Ray: the plan (harness/sweeps/plan.py) puts
it into Ray Tune's space or Optuna's Repeater, the leaderboard groups over it."""

from __future__ import annotations

# Replicate r of a configuration seeded s trains with seed s + r * SEED_STEP: replicate 0 keeps the
# seed itself, and a large odd (prime) step keeps derived seeds clear of the small seeds people type.
SEED_STEP = 1_000_003
SEED_MAX = 2**63 - 1  # torch's and SQLite's integers; numpy's generators take any non-negative int
# The config keys that tell a configuration's replicates apart: a board groups over them
REPLICATE_KEYS = ("seed", "base_seed", "replicate")


def replicate_seed(base: int, replicate: int) -> int:
    """The seed replicate `replicate` (0, 1, ...) of a configuration seeded `base` trains with."""
    return base + replicate * SEED_STEP


def max_base_seed(repeats: int) -> int:
    """The largest seed a configuration run `repeats` times may have: its last replicate's derived
    seed stays within SEED_MAX. Negative when `repeats` alone passes it."""
    return SEED_MAX - (repeats - 1) * SEED_STEP


def replicate_config(*, base: int, replicate: int, repeats: int) -> dict[str, int]:
    """What a trial's config says of its seed: with repeats, its base seed, its replicate index
    and the derived seed; without, the seed alone, as before repeats existed."""
    if repeats == 1:
        return {"seed": base}
    return {"base_seed": base, "replicate": replicate, "seed": replicate_seed(base, replicate)}
