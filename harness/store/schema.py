"""The store's schema, its upgrades, and telling a harness store from any other file.

Nothing here writes to a file before it is known to be a harness store (by its SQLite
application id, or, for stores older than that id, by its version and tables) or a new one,
and an upgrade runs in one transaction: a store is at one version or the next, never between.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.errors import HarnessError
from harness.userfiles import open_regular

SCHEMA_VERSION = 10
APPLICATION_ID = 0x48524E53  # "HRNS" in the SQLite header (offset 68): this file is a harness store
HEADER = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,              -- running | finished | failed (no usable trial) | interrupted
    created_at TEXT NOT NULL,
    finished_at TEXT,
    seed INTEGER NOT NULL,
    command TEXT NOT NULL,             -- the command line that started it
    spec_json TEXT NOT NULL,           -- the validated SweepSpec
    environment_json TEXT NOT NULL     -- versions, CPU, GPU: what makes numbers comparable
);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,               -- <sweep id>.<Ray Tune's trial id>: unique across sweeps
    ray_id TEXT NOT NULL,              -- Ray Tune's own id (a 5-hex prefix and a counter): short, may repeat
    sweep_id TEXT NOT NULL REFERENCES sweeps(id),
    task TEXT NOT NULL,
    arch TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    lr REAL NOT NULL,
    batch_size INTEGER NOT NULL,
    epochs INTEGER NOT NULL,           -- planned; the epochs table holds those run
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,              -- running | finished | stopped (ASHA, time budget) | diverged | error
                                       -- | interrupted
    error TEXT,                        -- one line: the exception's type and message
    traceback TEXT,                    -- the whole error report Ray kept (`harness show` prints it)
    params INTEGER,
    node TEXT,                         -- the Ray node it ran on: IP/node-id prefix
    device TEXT,                       -- where it trained, from its first epoch: "cuda:0 NVIDIA H200",
                                       -- "cpu <CPU model>", "fake GPU 1 (trained on cpu ...)" (test seam)
    gpu_ids TEXT,                      -- the GPU ids Ray assigned it, as a JSON list of strings ("[]": none)
    precision TEXT,                    -- fp32 | bf16 | fp16: what its epochs trained and validated in
    checkpoint_path TEXT,              -- best checkpoint so far (directory)
    config_json TEXT,                  -- the whole trial config (weight decay, split, size, ...)
    best_epoch INTEGER,                -- the epoch of the best checkpoint
    test_json TEXT,                    -- that checkpoint on the test split: scores, confusion matrix
    notes TEXT,                        -- what the trial changed of its network: a head re-initialised
                                       -- for --init, a first convolution rebuilt for grey images
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    trial_id TEXT NOT NULL REFERENCES trials(id),
    epoch INTEGER NOT NULL,            -- 1-based
    train_loss REAL, train_acc REAL, val_loss REAL, val_acc REAL,
    epoch_time_s REAL,                 -- training only, seconds
    eval_time_s REAL,                  -- validation pass, seconds
    samples_per_s REAL,                -- training images per second
    cpu_s REAL,                        -- the trial process's CPU seconds over training + validation
    gpu_s REAL,                        -- (epoch_time_s + eval_time_s) x Ray's GPU share; NULL on the CPU
    extra_json TEXT,                   -- the task's own scores, e.g. {"val_psnr": ...} for upsampling
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, epoch)
);
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL REFERENCES trials(id),
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,              -- exported (not yet verified) | verified | failed
    quantize TEXT,                     -- NULL for the float32 file, "int8" for its quantized sibling
    sha256 TEXT,                       -- the file's bytes as written: `verify` touches only files it wrote
    opset INTEGER, ir_version INTEGER,
    provider TEXT,                     -- onnxruntime execution provider actually used
    max_abs_diff REAL, top1_agreement REAL,
    torch_metric REAL, ort_metric REAL,
    details_json TEXT
);
CREATE INDEX IF NOT EXISTS trials_by_ray_id ON trials(ray_id);
"""
# The cross-runtime matrix of each verification (harness.export.matrix): its own table, so that a store
# upgraded from 6 gets it as it is.
RUNTIME_CHECKS = """CREATE TABLE IF NOT EXISTS runtime_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    export_id INTEGER NOT NULL REFERENCES exports(id),
    runtime TEXT NOT NULL,             -- onnxruntime | openvino | openvino-default | opencv | tract | ...
    status TEXT NOT NULL,              -- passed | failed | error | info (never fails) | not installed
    version TEXT, provider TEXT,
    precision TEXT,                    -- what the runtime really used: f32 | bf16 | ...
    informational INTEGER NOT NULL,    -- 1: a speed/accuracy row that never fails verification
    max_abs_diff REAL, top1_agreement REAL, metric REAL,
    b1_p50_ms REAL,                    -- batch 1, the median of its rounds' medians
    details_json TEXT,                 -- every figure of the row (harness.export.matrix.RuntimeCheck)
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runtime_checks_by_export ON runtime_checks(export_id);
"""
SCHEMA += RUNTIME_CHECKS
# A stored trial measured a second way, as a report measured it (harness.results.probes): one row per trial
# and probe, replaced when the probe runs again.
PROBES = """CREATE TABLE IF NOT EXISTS probes (
    trial_id TEXT NOT NULL REFERENCES trials(id),
    probe TEXT NOT NULL,               -- harness.results.probes.PROBES: bn-train-mode | augmented-test | keras-cap
    value REAL NOT NULL,               -- the figure as the report measured it (a proportion, 0..1)
    n INTEGER NOT NULL,                -- what the figure counts over: images (x passes), or pixels
    ci95_low REAL, ci95_high REAL,     -- its 95% interval; NULL where it is an exact count
    baseline REAL,                     -- the trial's own figure it is set beside; NULL where none is stored
    detail_json TEXT NOT NULL,         -- how it was measured: split, batches, seeds, passes, counts
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, probe)
);
"""
SCHEMA += PROBES
# Upgrades of an older store, in order: MIGRATIONS[v] takes a version-v store to v + 1.
MIGRATIONS = {
    1: "ALTER TABLE epochs ADD COLUMN extra_json TEXT;",
    2: "ALTER TABLE trials ADD COLUMN config_json TEXT; ALTER TABLE trials ADD COLUMN best_epoch INTEGER;"
    " ALTER TABLE trials ADD COLUMN test_json TEXT;",
    3: "ALTER TABLE exports ADD COLUMN quantize TEXT;",
    # Trial ids qualified by their sweep (Ray's short ids repeat across sweeps), the whole error
    # report of a failed trial, the checksum of each exported file.
    4: """ALTER TABLE trials ADD COLUMN traceback TEXT;
          ALTER TABLE trials ADD COLUMN ray_id TEXT NOT NULL DEFAULT '';
          ALTER TABLE exports ADD COLUMN sha256 TEXT;
          UPDATE trials SET ray_id = id;
          UPDATE epochs SET trial_id = (SELECT t.sweep_id || '.' || t.id FROM trials t WHERE t.id = epochs.trial_id);
          UPDATE exports SET trial_id = (SELECT t.sweep_id || '.' || t.id FROM trials t WHERE t.id = exports.trial_id);
          UPDATE trials SET id = sweep_id || '.' || id;
          CREATE INDEX IF NOT EXISTS trials_by_ray_id ON trials(ray_id);""",
    # Where each trial ran (older trials: NULL, the sweep's environment has the driver's machine).
    5: """ALTER TABLE trials ADD COLUMN device TEXT;
          ALTER TABLE trials ADD COLUMN gpu_ids TEXT;
          ALTER TABLE trials ADD COLUMN precision TEXT;""",
    6: RUNTIME_CHECKS,
    # What each epoch cost (older epochs: NULL, shown as "-"): the cost columns of the leaderboard.
    7: "ALTER TABLE epochs ADD COLUMN cpu_s REAL; ALTER TABLE epochs ADD COLUMN gpu_s REAL;",
    # The probes of issue 18 (older stores have none).
    8: PROBES,
    # What a trial adapted of its network (--init, --pretrained, torchvision on grey images).
    9: "ALTER TABLE trials ADD COLUMN notes TEXT;",
}


def _header(path: Path) -> tuple[int, int] | None:
    """(user_version, application_id) from the file's SQLite header; None for an empty file."""
    with open_regular(path, what="results store") as f:  # a FIFO there would block an open()
        head = f.read(100)
    if not head:
        return None
    if len(head) < 100 or not head.startswith(HEADER):
        raise HarnessError(
            f"{str(path)!r} is not a harness results store (not an SQLite database)",
            "move it away or pass --results DIR for another folder",
        )
    return int.from_bytes(head[60:64], "big"), int.from_bytes(head[68:72], "big")


def identify(path: Path, *, writer: bool) -> int:
    """The schema version of the harness store at `path` (0: new or empty, only for a writer),
    read without writing a byte; anything else is refused in one line, untouched."""
    header = _header(path) if path.exists() else None
    if header is None:
        if path.exists() and not writer:
            raise HarnessError(
                f"{str(path)!r} is empty, not a harness results store",
                "run `harness sweep` to write one, or pass --results DIR where one was written",
            )
        return 0
    version, app = header
    if app == APPLICATION_ID or (app == 0 and 1 <= version and _has_harness_tables(path)):
        if version > SCHEMA_VERSION:
            raise HarnessError(
                f"results store {str(path)!r} has schema {version}, newer than this harness ({SCHEMA_VERSION})",
                "upgrade harness or pass --results DIR for another store",
            )
        return version
    raise HarnessError(
        f"{str(path)!r} is an SQLite database of another program (application id {app}, "
        f"version {version}), not a harness results store",
        "leave it alone: pass --results DIR for a folder of harness results",
    )


def _has_harness_tables(path: Path) -> bool:
    """A store from before the application id: its tables are the harness's (read-only look)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return {"sweeps", "trials", "epochs"} <= names


def _statements(script: str) -> list[str]:
    """A script's statements, one by one: split at each ';' that sqlite3 says ends a statement
    (a ';' in a comment or a string does not)."""
    out, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                out.append(buffer)
            buffer = ""
    return out


def upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store at `version` (0: a new file) to SCHEMA_VERSION in one transaction."""
    statements = [SCHEMA] if version == 0 else [MIGRATIONS[v] for v in range(version, SCHEMA_VERSION)]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("PRAGMA defer_foreign_keys = ON")  # ids change in children and parents within it
        for script in statements:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
