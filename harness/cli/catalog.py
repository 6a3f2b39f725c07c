"""The commands that list what the harness can train on: `harness archs` (the networks) and
`harness data` (each task's data and its cache), each one's arguments beside what it does."""

from __future__ import annotations

import argparse

from harness.cli.shared import Command, add_format, add_plugins, add_settings, load_plugins
from harness.config.settings import bounded_int
from harness.errors import HarnessError
from harness.escape import markup, terminal
from harness.views.console import console, err_console, print_json, print_warning


def archs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="only the architectures that fit TASK, counted at its input and classes")
    p.add_argument(
        "--image-size", type=bounded_int, metavar="PX", help="with --task: count at this image side (photo sets)"
    )
    p.add_argument(
        "--source",
        choices=("timm", "torchvision"),
        help="list a library's network names instead (use them as --arch SOURCE:NAME; fit is checked when used)",
    )
    p.add_argument(
        "--filter", metavar="PATTERN", help="with --source: names matching this shell pattern, e.g. '*resnet*'"
    )
    add_plugins(p)
    add_format(p)


def cmd_archs(args: argparse.Namespace) -> int:
    from harness.architectures import describe_archs
    from harness.datasets import get_task, list_tasks

    if args.filter and not args.source:
        raise HarnessError("--filter needs --source", "e.g. harness archs --source timm --filter '*resnet*'")
    if args.source:
        return _list_source(args.source, args.filter, args.format)
    load_plugins(args)
    tasks = [get_task(name) for name in list_tasks()]
    if args.image_size is not None and not args.task:
        raise HarnessError("--image-size needs --task", "e.g. harness archs --task cats_vs_dogs --image-size 64")
    if args.task:
        task = get_task(args.task)
        size = task.request(None, args.image_size).image_size  # a size the task cannot take is one line
        rows = describe_archs(in_shape=task.shape(size), num_outputs=task.num_outputs, heads=task.heads, tasks=tasks)
    else:
        rows = describe_archs(tasks=tasks)
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views.tables import render_archs

    title = f"architectures that fit {args.task}" if args.task else "architectures (at their native input)"
    console.print(render_archs(title, rows, width=console.width))
    return 0


def _list_source(source: str, pattern: str | None, fmt: str) -> int:
    from harness.architectures import list_source

    names = list_source(source, pattern)
    if fmt == "json":
        print_json(names)
    else:
        for name in names:
            print(terminal(name))  # a plugin may register any name
        err_console.print(f"{len(names)} network(s); use one as --arch NAME")
    return 0


ARCHS = Command(
    help="list the architectures",
    description="Every registered architecture: its report, input, outputs, parameters beside "
    "the report's own count, multiply-accumulates per image and the tasks it fits.",
    arguments=archs_arguments,
    run=cmd_archs,
)


def data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="[prepare] TASK", help="a task to show, or `prepare` and tasks")
    add_settings(p, names=("data_dir", "variant", "image_size", "plugins"))
    add_format(p)


def cmd_data(args: argparse.Namespace) -> int:
    from harness.datasets import describe_task, get_task, list_tasks, prepare

    load_plugins(args)
    words = list(args.words)
    if (args.variant or args.image_size) and len([w for w in words if w != "prepare"]) != 1:
        raise HarnessError(
            "--variant and --image-size apply to one task",
            "name exactly one task, e.g. harness data cifar10 --variant full",
        )
    if words[:1] == ["prepare"]:
        if len(words) == 1:
            raise HarnessError("`harness data prepare` needs a task", f"e.g. harness data prepare {list_tasks()[0]}")
        names = [get_task(name).name for name in words[1:]]
        for name in names:
            with err_console.status(f"preparing {markup(name)}: finding (or downloading) and decoding once"):
                meta = prepare(name, args.data_dir, variant=args.variant, image_size=args.image_size, verify=True)
            if meta.get("rebuilt"):
                print_warning(f"the decoded cache of {name} was rebuilt: {meta['rebuilt']}")
            if meta["skipped"]:
                print_warning(
                    f"{name}: skipped {len(meta['skipped'])} unreadable file(s), first: "
                    f"{', '.join(meta['skipped'][:3])}"
                )
    elif len(words) > 1:
        raise HarnessError(
            f"`harness data` takes one task, got {len(words)}", "use `harness data prepare T1 T2` to prepare several"
        )
    else:
        names = [get_task(words[0]).name] if words else list_tasks()
    rows = [describe_task(name, args.data_dir, variant=args.variant, image_size=args.image_size) for name in names]
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views.tables import render_data

    console.print(render_data(rows, width=console.width))
    return 0


DATA = Command(
    help="where each task's data is, its cache, and `data prepare TASK`",
    description="`harness data [TASK]`: where each task's data was found, images per split and "
    "class, skipped files, and the decode-once cache (never downloads or decodes). "
    "`harness data prepare TASK...`: find (or download, when online) and decode into the cache.",
    arguments=data_arguments,
    run=cmd_data,
)
