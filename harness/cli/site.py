"""`harness site OUT/`: the store as a static site (harness.views.site), its arguments beside what
it does."""

from __future__ import annotations

import argparse

from harness.cli.shared import Command, add_ort_web, add_results, results_dir_of
from harness.escape import markup
from harness.paths import absolute
from harness.views.console import console, err_console

EXAMPLES = """examples:
  harness site site/                           every task's board, sweep, trial and exported file
  harness site site/ --sweep 1a2b3c4d          one sweep's (--sweep again for more)
  harness site /srv/www/bench --results runs/  another store; re-run to update the folder in place
  python -m http.server -d site/               only the model pages need HTTP; the rest opens from file://
"""


def site_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT", help="the site's folder: new, empty, or one `harness site` wrote")
    p.add_argument(
        "--sweep",
        metavar="ID",
        nargs="+",
        action="extend",
        help="only these sweeps (ids from `harness sweeps`; default: every sweep)",
    )
    add_results(p)
    add_ort_web(p)


def cmd_site(args: argparse.Namespace) -> int:
    from harness.store.db import Store
    from harness.views.site import build_site, check_out

    out = absolute(args.out)
    check_out(out)  # before the store is opened: a wrong OUT costs nothing
    with Store.existing(results_dir_of(args)) as store, err_console.status("building the site") as status:
        built = build_site(
            store,
            out,
            sweeps=args.sweep,
            progress=lambda line: status.update(f"site: {markup(line)}"),
            ort_web=absolute(args.ort_web) if args.ort_web else None,
        )
    counts = ", ".join(f"{n} {kind}" for kind, n in built.pages.items())
    console.print(
        f"wrote {markup(out / 'index.html')}: {counts}, {built.model_pages} model pages ({built.files} files)",
        highlight=False,
    )
    return 0


SITE = Command(
    help="the store as a static site: boards, trials, sweeps, exported files, the reproduction",
    description="Write a static site of the store into OUT: an index of tasks and sweeps; per task "
    "its leaderboard (sortable in the page); per trial its config, curves, confusion matrix and test "
    "figure; per sweep `harness analyze`'s tables and figures; per exported file its card, runtime "
    "matrix and model page; the reproduction document. No server and nothing fetched: it opens from "
    "file:// (the model pages alone need HTTP). Re-running updates OUT in place; pages are named by id.",
    arguments=site_arguments,
    run=cmd_site,
    epilog=EXAMPLES,
)
