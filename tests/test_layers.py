"""The layer rule, read from the source: every import of a harness module (at the top, inside a
function or under TYPE_CHECKING alike) goes to its own package or to a lower layer; the module
graph has no loops; the torch-free modules reach no torch at import time; and the layout in
docs/development.md lists every module of the tree.

Layers, lowest first (DESIGN.md): the shared words at harness/'s top level, then the registries
of networks and tasks, config, the engine, the store, the sweeps, then results and the runtimes,
export, the reproduction report, views and the CLI on top.
"""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"

# Package -> layer. A module may import its own package or any package of a lower layer.
LAYERS = {
    "harness": 0,  # the shared words: errors, kinds, heads, paths, formats, stats, signals, ...
    "harness.architectures": 1,
    "harness.datasets": 1,
    "harness.config": 2,
    "harness.engine": 3,
    "harness.store": 4,
    "harness.sweeps": 5,
    "harness.results": 6,
    "harness.runtimes": 6,
    "harness.export": 7,
    "harness.report": 8,
    "harness.views": 9,
    "harness.cli": 10,
    "harness (public surface)": 11,  # harness/__init__.py: loads the extension surface lazily
}
# Modules that must import without torch (predict and its metadata, the card, --help).
TORCH_FREE = [
    "harness.heads",
    "harness.kinds",
    "harness.runtimes.predict",
    "harness.runtimes.metadata",
    "harness.export.card",
    "harness.views.card",
    "harness.cli.main",
]
TOP_LEVEL_MAX = 15


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def package_of(module: str) -> str:
    if module == "harness.__main__":  # `python -m harness`: the CLI's entry point
        return "harness.cli"
    if module == "harness":
        return "harness (public surface)"
    path = MODULES[module]
    name = module_name(path)
    return name if path.name == "__init__.py" and name != "harness" else name.rpartition(".")[0] or "harness"


def imports(module: str, *, top_only: bool = False) -> Iterator[tuple[str, int]]:
    """(imported name, line) for every import in the module: the names as written, resolved
    against the module's package for relative imports. With top_only, only the imports that run
    when the module is imported (not those inside functions or under TYPE_CHECKING)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes: list[ast.AST] = list(ast.walk(tree))
    if top_only:  # descend into try/if at the top, but not into TYPE_CHECKING or functions
        stack: list[ast.AST] = list(tree.body)
        nodes = []
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                stack.extend(node.orelse)
            elif isinstance(node, ast.If | ast.Try):
                stack.extend(ast.iter_child_nodes(node))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - node.level + 1]
                source = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source, node.lineno
            for alias in node.names:
                yield f"{source}.{alias.name}", node.lineno


def internal_edges(*, top_only: bool = False) -> dict[str, set[str]]:
    """module -> the harness modules it imports (a package's import counts as its __init__)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for name, _ in imports(module, top_only=top_only):
            if name in MODULES and name != module:
                edges[module].add(name)
    return edges


def test_every_module_sits_in_a_layer() -> None:
    unplaced = sorted({package_of(m) for m in MODULES} - set(LAYERS))
    assert not unplaced, f"packages without a layer in tests/test_layers.py: {unplaced}"


def test_imports_run_downward() -> None:
    wrong = []
    for module in MODULES:
        mine = package_of(module)
        for name, line in imports(module):
            if name not in MODULES or name == "harness":
                continue
            theirs = package_of(name)
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                where = f"{MODULES[module].relative_to(ROOT)}:{line}"
                wrong.append(f"{where} imports {name} (layer {LAYERS[theirs]} >= {LAYERS[mine]})")
    assert not wrong, "imports that climb:\n" + "\n".join(wrong)


def test_no_import_loops() -> None:
    edges = internal_edges()
    state: dict[str, int] = {}  # 1 on the path, 2 done
    loops: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if nxt.endswith("__init__"):
                continue
            if state.get(nxt) == 1:
                loops.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_modules_reach_no_torch(module: str) -> None:
    """What importing the module runs (its top-level imports, followed through the harness)
    never imports torch, torchvision or ray."""
    edges = internal_edges(top_only=True)
    seen, stack, heavy = set(), [module], []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parents = [".".join(current.split(".")[:i]) for i in range(2, len(current.split(".")))]
        stack.extend(p for p in parents if p in MODULES)
        for name, line in imports(current, top_only=True):
            if name.split(".")[0] in {"torch", "torchvision", "ray"}:
                heavy.append(f"{MODULES[current].relative_to(ROOT)}:{line} imports {name}")
        stack.extend(edges[current])
    assert not heavy, f"{module} reaches heavy imports:\n" + "\n".join(heavy)


def test_top_level_stays_small() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_LEVEL_MAX, f"{len(top)} modules at harness/'s top level: {top}"


def test_layout_in_docs_lists_every_module() -> None:
    """docs/development.md's layout names every module (as `path/name.py` or, for a package's
    members, `name.py` under its `path/` heading line) and no module that is gone."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    block = text.split("<!-- layout -->")[1].split("<!-- /layout -->")[0]
    listed: set[str] = set()
    folder = ""
    for line in block.splitlines():
        head = re.match(r"^(harness/[\w/]*)\s", line + " ")
        if head and head.group(1).endswith("/"):
            folder = head.group(1)
            continue
        for name in re.findall(r"\b([\w]+\.py)\b", line):
            listed.add(folder + name if line.startswith("  ") else name)
    actual = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")}
    missing = sorted(actual - listed)
    stale = sorted(listed - actual)
    assert not missing, f"modules missing from docs/development.md's layout: {missing}"
    assert not stale, f"docs/development.md's layout names modules that do not exist: {stale}"


def test_the_extension_surface_is_one_import_away_and_import_harness_stays_light() -> None:
    import harness
    from harness import ArchSpec, DatasetSpec, register_arch, register_task
    from harness.architectures import _registry as archs
    from harness.datasets import _registry as tasks

    assert (register_arch, ArchSpec, register_task, DatasetSpec) == (
        archs.register_arch,
        archs.ArchSpec,
        tasks.register_task,
        tasks.DatasetSpec,
    )
    keywords = [p.name for p in inspect.signature(register_arch).parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert keywords[:3] == ["input_shape", "num_outputs", "head"]
    with pytest.raises(AttributeError):
        _ = harness.not_there
    # a fresh interpreter where torch cannot be imported: `import harness` still works
    code = "import sys; sys.modules['torch'] = None; import harness; print(harness.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == harness.__version__
