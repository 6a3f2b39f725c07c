"""`harness probe TRIAL_ID PROBE`: measure a stored trial as a report measured it, print the
figure beside the trial's own one, and record it (harness.results.probes). Its own module: commands.py
is at its 400 lines."""

from __future__ import annotations

import argparse

from rich.text import Text

from harness.cli.commands import results_dir_of
from harness.results.probes import Probe, ProbeRecord, get_probe
from harness.views.console import console, err_console, print_json


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def probe_lines(record: ProbeRecord, probe: Probe) -> list[str]:
    """The figure with its interval, the baseline, and the probe's note: one line each."""
    detail = record["detail"]
    interval = (
        f"[{record['ci95_low']:.2%}, {record['ci95_high']:.2%}] {detail['interval']}"
        if record["ci95_low"] is not None
        else detail["interval"]
    )
    baseline = (
        f"{_share(record['baseline'])}: {probe.baseline}"
        if record["baseline"] is not None
        else f"-: {probe.baseline} is not in the store (the trial stopped before its test scoring)"
    )
    width = max(len(record["probe"]), len("baseline"))
    return [
        f"{record['probe']:<{width}}  {_share(record['value'])} {interval}, n = {record['n']:,} {probe.unit}: "
        f"{probe.figure} ({probe.report})",
        f"{'baseline':<{width}}  {baseline}",
        f"{'':<{width}}  {detail['note']}",
    ]


def cmd_probe(args: argparse.Namespace) -> int:
    from harness.results.probes import run_probe
    from harness.store.db import Store

    probe = get_probe(args.probe)  # an unknown probe fails here, naming the choices, before the store opens
    with (
        Store.existing(results_dir_of(args), writer=True) as store,
        err_console.status(f"probing trial {args.trial}: {args.probe}"),
    ):
        record = run_probe(store, trial_id=args.trial, name=args.probe)
    if args.format == "json":
        print_json(record)
        return 0
    console.print(Text(f"trial {record['trial_id']}", style="bold"), soft_wrap=True)
    for line in probe_lines(record, probe):
        console.print(Text(line), soft_wrap=True)  # plain text: the intervals' brackets are no markup
    return 0
