"""Users' own code: plugin files and modules that call `register_arch` / `register_task`.

Plugins are imported only from what the person running the harness names: `--plugin FILE_OR_MODULE`
(or the sweep file's `plugins` key), `HARNESS_PLUGINS` (paths or modules, separated by the
platform's path separator) and installed packages' entry points in the group `harness.plugins`.
A path read from the store or a results folder is never imported: a resumed sweep or an export
asks for `--plugin` again and compares the file's sha256 with the one the store recorded.

A file is imported under a name made of its stem and the start of its sha256, so importing the
same file twice is a no-op and an edited file is a different plugin. Its functions and classes
are pickled by value (`register_pickle_by_value`): Ray workers on any node receive the code the
driver imported, not a path they may not have (harness.sweeps.shipped).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import types
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.errors import HarnessError
from harness.paths import absolute

ENTRY_POINTS = "harness.plugins"
ENVIRONMENT = "HARNESS_PLUGINS"


@dataclass(frozen=True)
class Plugin:
    """One plugin as the store records it: a file's absolute path and sha256, or a module's name."""

    ref: str  # absolute file path, or an importable module name
    sha256: str | None  # a file's; None for a module (its package's version pins it)
    origin: str  # "--plugin", HARNESS_PLUGINS or "entry point"

    @property
    def is_file(self) -> bool:
        return self.sha256 is not None

    @property
    def module_name(self) -> str:
        if self.sha256 is None:
            return self.ref
        stem = "".join(c if c.isalnum() else "_" for c in Path(self.ref).stem)
        return f"harness_plugin_{stem}_{self.sha256[:12]}"

    def record(self) -> dict[str, str | None]:
        return {"ref": self.ref, "sha256": self.sha256, "origin": self.origin}


def _looks_like_file(ref: str) -> bool:
    return ref.endswith(".py") or os.sep in ref or "/" in ref


def identify(ref: str, origin: str = "--plugin") -> Plugin:
    """The plugin `ref` names (a .py file or a module name), without importing it."""
    if not _looks_like_file(ref):
        if not all(part.isidentifier() for part in ref.split(".")):
            raise HarnessError(f"plugin {ref!r} is neither a .py file nor a module name", "pass FILE.py or a.module")
        return Plugin(ref, None, origin)
    path = absolute(ref)
    if not path.is_file():
        raise HarnessError(f"plugin file {ref!r} does not exist", "pass the path of a .py file or a module name")
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise HarnessError(f"plugin file {ref!r} cannot be read ({exc.strerror})", "check its permissions") from None
    return Plugin(str(path), digest, origin)


def requested(refs: tuple[str, ...] = ()) -> list[Plugin]:
    """Every plugin this run names: `refs` (command line or sweep file), HARNESS_PLUGINS, then the
    installed entry points; each once."""
    named = [identify(r) for r in refs]
    named += [identify(r, ENVIRONMENT) for r in os.environ.get(ENVIRONMENT, "").split(os.pathsep) if r.strip()]
    named += [
        Plugin(ep.value.partition(":")[0], None, "entry point") for ep in metadata.entry_points(group=ENTRY_POINTS)
    ]
    unique: dict[str, Plugin] = {}
    for plugin in named:
        unique.setdefault(plugin.module_name, plugin)
    return list(unique.values())


def _import_file(plugin: Plugin) -> types.ModuleType:
    source = Path(plugin.ref).read_bytes()
    if hashlib.sha256(source).hexdigest() != plugin.sha256:
        raise HarnessError(f"plugin file {plugin.ref!r} changed while it was being read", "run the command again")
    module = types.ModuleType(plugin.module_name)
    module.__file__ = plugin.ref
    sys.modules[plugin.module_name] = module  # dataclasses and pickling look their module up here
    try:
        exec(compile(source, plugin.ref, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[plugin.module_name]
        raise
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)  # workers get its code, not its path
    return module


_LOADED: dict[str, Plugin] = {}  # module name -> plugin: what this process imported, as named


def loaded() -> list[Plugin]:
    """The plugins this process imported (the command that runs named them)."""
    return list(_LOADED.values())


def load(plugin: Plugin) -> types.ModuleType:
    """Import `plugin` once per process; any error it raises is one line naming it."""
    if plugin.module_name in sys.modules:
        _LOADED.setdefault(plugin.module_name, plugin)
        return sys.modules[plugin.module_name]
    try:
        module = _import_file(plugin) if plugin.is_file else importlib.import_module(plugin.ref)
        _LOADED[plugin.module_name] = plugin
        return module
    except HarnessError:
        raise
    except Exception as exc:  # the user's code: any error at all is theirs to fix
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise HarnessError(
            f"plugin {plugin.ref!r} failed to import: {type(exc).__name__}" + (f": {detail}" if detail else ""),
            "fix the plugin (run it with python to see the traceback)",
        ) from None


def load_all(refs: tuple[str, ...] = ()) -> list[Plugin]:
    """Import every requested plugin (`requested`); returns them, in order, for the record."""
    plugins = requested(refs)
    for plugin in plugins:
        load(plugin)
    return plugins


def check_same(recorded: list[dict[str, str | None]], given: list[Plugin], *, what: str) -> None:
    """Refuse to go on with `what` (a resumed sweep, an export) unless every plugin file the store
    recorded was named again and is unchanged: a path from the store is never imported."""
    by_ref = {p.ref: p for p in given}
    for entry in recorded:
        ref, sha = str(entry.get("ref")), entry.get("sha256")
        if sha is None:
            continue  # a module: importing it by name is what the environment already allows
        now = by_ref.get(ref)
        if now is None:
            raise HarnessError(
                f"{what} used plugin {ref!r}", f"pass --plugin {ref} again (never loaded from the store)"
            )
        if now.sha256 != sha:
            now_sha = now.sha256 or ""
            raise HarnessError(
                f"plugin {ref!r} changed since {what} used it (sha256 {sha[:12]} then, {now_sha[:12]} now)",
                "restore the file as it was, or start a new sweep",
            )
