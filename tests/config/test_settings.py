"""Every sweep setting is declared once (config.py) and reaches the command line, sweep files,
docs/commands.md and the trials from that declaration alone."""

from __future__ import annotations

import contextlib
import io
import os
import re
import typing
from dataclasses import fields
from pathlib import Path

import pytest
from realfiles import ROOT

from harness.cli.main import build_parser
from harness.config.settings import Declared, declared, given
from harness.config.spec import SweepSpec, TrialSettings, TrialSpec, reproduce_settings
from harness.config.trial_config import SharedSettings, TrialConfig

COMMANDS_DOC = ROOT / "docs" / "commands.md"  # the sweep-file key table
SETTINGS = list(declared(SweepSpec))


def _help(command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    return out.getvalue()


SWEEP_HELP = _help("sweep")
SAMPLES = {int: ("3", "7"), float: ("0.5", "0.25"), str: ("alpha", "beta")}  # two values of each type
# Each kind of path setting: what a user writes, and the same made absolute against BASE.
PATH_SAMPLES = {
    "dir": ("some/dir", "{base}/some/dir"),
    "storage": ("some/dir", "{base}/some/dir"),
    "task": ("folder:some/dir", "folder:{base}/some/dir"),
    "arch": ("some/net.py:build", "{base}/some/net.py:build"),
    "file_or_name": ("some/plugin.py", "{base}/some/plugin.py"),
}


def _path_sample(d: Declared, base: str) -> tuple[str, object]:
    """A path setting's text and its value, made absolute against `base` (a tuple for a list)."""
    text, value = PATH_SAMPLES[str(d.setting.path)]
    absolute = value.format(base=base)
    return text, (absolute,) if d.is_list else absolute


def _sample(d: Declared) -> tuple[list[str], object, str]:
    """Command-line words for `d`, the value they mean, and the same value as a TOML line."""
    if d.setting.parse is not None:  # lr_range: LOW:HIGH
        return [d.flag, "0.001:0.1"], (0.001, 0.1), f"{d.name} = [0.001, 0.1]"
    if d.item is bool:  # a switch
        return [d.flag], True, f"{d.name} = true"
    one, two = SAMPLES[d.item]
    if d.setting.path:
        text, value = _path_sample(d, os.getcwd())
        return [d.flag, text], value, ""  # files: see below
    if d.is_list:
        values = tuple(d.item(v) for v in (one, two))
        toml = ", ".join(f'"{v}"' if d.item is str else str(v) for v in values)
        return [d.flag, f"{one},{two}"], values, f"{d.name} = [{toml}]"
    value = d.item(one)
    return [d.flag, one], value, f'{d.name} = "{value}"' if d.item is str else f"{d.name} = {value}"


def test_every_field_is_a_declared_setting():
    assert [d.name for d in SETTINGS] == [f.name for f in fields(SweepSpec)]


@pytest.mark.parametrize("d", SETTINGS, ids=lambda d: d.name)
def test_each_setting_is_a_flag_that_maps_to_its_field(d: Declared):
    words, value, _ = _sample(d)
    args = build_parser().parse_args(["sweep", *words])
    assert given(args, SweepSpec) == {d.name: value}
    assert f"  {d.flag} " in SWEEP_HELP


@pytest.mark.parametrize("d", [d for d in SETTINGS if not d.setting.path], ids=lambda d: d.name)
def test_each_setting_is_a_sweep_file_key(tmp_path: Path, d: Declared):
    _, value, line = _sample(d)
    file = tmp_path / "sweep.toml"
    file.write_text(line + "\n")
    assert getattr(SweepSpec.from_toml(str(file), {}), d.name) == value


@pytest.mark.parametrize("d", [d for d in SETTINGS if d.setting.path], ids=lambda d: d.name)
def test_a_path_in_a_sweep_file_is_relative_to_the_file(tmp_path: Path, d: Declared):
    file = tmp_path / "sweep.toml"
    text, value = _path_sample(d, str(tmp_path))
    file.write_text(f'{d.name} = "{text}"\n')
    assert getattr(SweepSpec.from_toml(str(file), {}), d.name) == value


def test_the_docs_list_every_sweep_file_key_with_its_flag():
    text = COMMANDS_DOC.read_text()
    table = text[text.index("<!-- settings -->") : text.index("<!-- /settings -->")]
    rows = dict(re.findall(r"^\| `(\w+)` \| `(--[\w-]+)` \|", table, flags=re.M))
    assert rows == {d.name: d.flag for d in SETTINGS}


def test_trials_get_every_shared_setting_and_one_value_of_each_searched_list():
    spec = SweepSpec()
    trial_fields = typing.get_type_hints(TrialSpec)
    assert set(spec.shared()) == {f.name for f in fields(TrialSettings)}
    for d in SETTINGS:
        if d.setting.trial:  # a searched list: the trial's field holds one value of the list's type
            assert d.is_list and trial_fields[d.setting.trial] is d.item, d.name
    assert set(spec.shared()) | set(spec.searched()) == set(trial_fields)


def test_the_trial_config_names_every_field_with_its_type():
    """TrialConfig (the config as a dict) declares TrialSpec's fields again: they stay equal."""
    assert typing.get_type_hints(SharedSettings) == typing.get_type_hints(TrialSettings)
    hints = typing.get_type_hints(TrialConfig)
    assert {k: v for k, v in hints.items() if k in TrialConfig.__required_keys__} == typing.get_type_hints(TrialSpec)
    assert TrialConfig.__optional_keys__ == {"recipe", "base_seed", "replicate"}
    assert set(SweepSpec().shared()) == set(SharedSettings.__annotations__)


def test_reproduce_takes_the_settings_marked_for_it():
    assert set(reproduce_settings()) == {"epochs", "train_limit", "eval_limit", "data_dir", "precision"}
    args = build_parser().parse_args(["reproduce", "uni2022-catsdogs", "--epochs", "2", "--train-limit", "50"])
    assert given(args, SweepSpec) == {"epochs": 2, "train_limit": 50}
