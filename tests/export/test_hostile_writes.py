"""Hostile input, class 2 (issue 26): no write follows a symbolic link planted at its name. For
each file a command writes (the .onnx, its INT8 twin, the card X.md, the web page's files, the
reproduction document, its rows, the README, the PNGs, a sweep's lock, the store's files), a
link is planted at that name pointing at a victim outside every folder the command names; the
real command is run. Each case: exit 2 with one line naming the link, the victim's bytes as
they were, no temporary file left behind. Names derived from data (a rows file's report name)
stay inside their folder. A hard link at an output name is the documented safe behaviour: the
command writes a new file and the other name keeps the old bytes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile import folder_state, refused
from realfiles import ROOT

from harness.cli.main import main
from harness.errors import HarnessError
from harness.safefile import TEMP_PREFIX

VICTIM_BYTES = b"the victim's own bytes: nothing the harness writes may reach them\n"


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file outside every folder a command is given: the target of each planted link."""
    path = tmp_path / "outside" / "victim.txt"
    path.parent.mkdir()
    path.write_bytes(VICTIM_BYTES)
    return path


def _plant(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def _untouched(victim: Path, *folders: Path) -> None:
    """The victim kept its bytes, and no temporary file is left in any folder."""
    assert victim.read_bytes() == VICTIM_BYTES
    leftovers = [p for folder in (victim.parent, *folders) for p in folder.rglob(f"{TEMP_PREFIX}*")]
    assert leftovers == []


def _refused_link(capsys, argv: list[str], link: Path) -> str:
    err = refused(capsys, argv)
    assert str(link) in err and "symbolic link" in err, err
    return err


def _model(results: Path) -> Path:
    (path,) = (results / "onnx").glob("*.onnx")
    return path


def _trial_id(model: Path) -> str:
    from harness.runtimes.predict import open_session, read_metadata

    return str(read_metadata(open_session(model), model)["trial_id"])


# ------------------------------------------------------------------ export, quantize, verify, card


@pytest.mark.parametrize("planted", ["m.onnx", "m.md", "m.int8.onnx", "m.int8.md"])
def test_export_refuses_a_link_at_any_file_it_writes(swept_copy, tmp_path, victim, capsys, planted):
    """The .onnx, its card, and with --quantize the INT8 file and its card: checked before the
    export starts, so nothing is written and the store records no export."""
    trial = _trial_id(_model(swept_copy))
    out = tmp_path / "out"
    link = _plant(out / planted, victim)
    before = folder_state(swept_copy)
    argv = ["export", "--trial", trial, "--out", str(out / "m.onnx"), "--results", str(swept_copy)]
    _refused_link(capsys, [*argv, "--quantize", "int8"], link)
    assert folder_state(swept_copy) == before
    assert sorted(p.name for p in out.iterdir()) == [planted]
    _untouched(victim, out, swept_copy)


def test_export_into_the_default_folder_refuses_a_link_at_the_derived_name(swept_copy, victim, capsys):
    """RESULTS/onnx/<task>-<arch>-<trial>.onnx, the name the harness derives itself."""
    model = _model(swept_copy)
    trial = _trial_id(model)
    model.unlink()
    link = _plant(model, victim)
    _refused_link(capsys, ["export", "--trial", trial, "--results", str(swept_copy)], link)
    _untouched(victim, swept_copy)


def test_a_linked_default_export_folder_is_refused(swept_copy, victim, capsys):
    """Own case: RESULTS/onnx, the folder the harness makes, replaced by a link to a folder outside."""
    import shutil

    trial = _trial_id(_model(swept_copy))
    shutil.rmtree(swept_copy / "onnx")
    link = _plant(swept_copy / "onnx", victim.parent)
    _refused_link(capsys, ["export", "--trial", trial, "--results", str(swept_copy)], link)
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
    _untouched(victim, swept_copy)


def test_verify_refuses_a_link_at_the_card_before_recording(swept_copy, victim, capsys):
    model = _model(swept_copy)
    card = model.with_suffix(".md")
    card.unlink(missing_ok=True)
    _plant(card, victim)
    before = folder_state(swept_copy)
    _refused_link(capsys, ["verify", str(model), "--results", str(swept_copy), "--runtime", "onnxruntime"], card)
    assert folder_state(swept_copy) == before  # the store holds no new verification
    _untouched(victim, swept_copy)


def test_a_hard_link_at_an_output_name_keeps_its_other_name(swept_copy, tmp_path, capsys):
    """Own case: a hard link (not a symlink) at the card's name. The card is written to a new
    file renamed over the name, so the other name of the old file keeps its bytes."""
    model = _model(swept_copy)
    card = model.with_suffix(".md")
    other = tmp_path / "other-name.md"
    other.write_bytes(VICTIM_BYTES)
    card.unlink(missing_ok=True)
    os.link(other, card)
    assert main(["verify", str(model), "--results", str(swept_copy), "--runtime", "onnxruntime"]) == 0
    assert other.read_bytes() == VICTIM_BYTES
    assert card.read_text().startswith("#") and not card.samefile(other)


# ------------------------------------------------------------------ the web page


@pytest.mark.parametrize("planted", ["index.html", "model.onnx", "ort-wasm-simd-threaded.wasm"])
def test_web_refuses_a_link_at_any_page_file_and_writes_none(digits_export, tmp_path, victim, capsys, planted):
    page = tmp_path / "page"
    link = _plant(page / planted, victim)
    _refused_link(capsys, ["web", str(digits_export), str(page)], link)
    assert [p.name for p in page.iterdir()] == [planted]  # checked before the first file is written
    _untouched(victim, page)


def test_web_refuses_the_models_own_folder(digits_export, tmp_path, capsys):
    folder = tmp_path / "page"
    folder.mkdir()
    model = folder / "model.onnx"
    model.write_bytes(digits_export.read_bytes())
    err = refused(capsys, ["web", str(model), str(folder)])
    assert "is the folder of the model" in err
    assert sorted(p.name for p in folder.iterdir()) == ["model.onnx"]
    assert model.read_bytes() == digits_export.read_bytes()


def test_export_web_refuses_a_linked_page_subfolder(swept_copy, tmp_path, victim, capsys):
    """Own case: with several files, `export --web DIR` makes a folder per file inside DIR; a
    link planted there (to a folder outside) is refused before anything is copied into it."""
    from harness.runtimes.webpage import web_dirs
    from harness.safefile import subfolder

    outside = victim.parent
    web = tmp_path / "web"
    link = _plant(web / "a", outside)
    models = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    with pytest.raises(HarnessError, match="symbolic link") as caught:
        web_dirs(models, web)
    assert str(link) in str(caught.value)
    with pytest.raises(HarnessError, match="symbolic link"):
        subfolder(web, "a")
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


# ------------------------------------------------------------------ the reproduction document


def _rows(tmp_path: Path, report_name: str) -> Path:
    """The committed rows, cut to one report with a learning curve and renamed as data may say."""
    doc = json.loads((ROOT / "docs" / "reproduction.json").read_text())
    (report,) = [r for r in doc["reports"] if r["report"] == "uni2022-catsdogs"]
    doc["reports"] = [{**report, "report": report_name}]
    path = tmp_path / "rows" / "hostile.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "name", ["../../../../tmp/harness-escape", "..", "/tmp/harness-abs", "a/../../b", ".hidden\n<x>|:*?", "$\\nosuch$"]
)
def test_report_png_names_from_rows_stay_in_the_folder(tmp_path, capsys, name):
    """`report --from ROWS.json --png`: a report name that is a path writes its PNG inside
    reproduction/ under a safe name, and the document links that very file."""
    out = tmp_path / "docs" / "doc.md"
    naive = Path(os.path.normpath(out.parent / "reproduction" / f"{name}-1.png"))  # where the raw name leads
    assert main(["report", "--from", str(_rows(tmp_path, name)), "--out", str(out), "--png"]) == 0
    (png,) = (out.parent / "reproduction").iterdir()
    assert png.suffix == ".png" and not png.name.startswith(".") and png.read_bytes().startswith(b"\x89PNG")
    assert f"](reproduction/{png.name})" in out.read_text()
    assert {p.name for p in tmp_path.rglob("*") if p.is_file()} == {"doc.md", "hostile.json", png.name}
    assert naive == png or not naive.exists()


def test_report_names_reduced_alike_keep_their_own_pngs(tmp_path, capsys):
    """`a/b` and `a_b` reduce to one safe name: each report still gets its own figure."""
    rows = _rows(tmp_path, "a/b")
    doc = json.loads(rows.read_text())
    doc["reports"].append({**doc["reports"][0], "report": "a_b"})
    rows.write_text(json.dumps(doc))
    out = tmp_path / "docs" / "doc.md"
    assert main(["report", "--from", str(rows), "--out", str(out), "--png"]) == 0
    pngs = sorted(p.name for p in (out.parent / "reproduction").iterdir())
    assert len(pngs) == 2 and all(f"](reproduction/{name})" in out.read_text() for name in pngs)


@pytest.mark.parametrize("planted", ["docs/doc.md", "docs/reproduction/uni2022-catsdogs-1.png"])
def test_report_refuses_a_link_at_any_file_it_writes(tmp_path, victim, capsys, planted):
    out = tmp_path / "docs" / "doc.md"
    link = _plant(tmp_path / planted, victim)
    argv = ["report", "--from", str(_rows(tmp_path, "uni2022-catsdogs")), "--out", str(out), "--png"]
    _refused_link(capsys, argv, link)
    assert sorted(p.name for p in out.parent.rglob("*")) == sorted({link.name, *link.relative_to(out.parent).parts})
    _untouched(victim, out.parent)


def test_report_refuses_a_linked_readme(tmp_path, capsys):
    """--readme is read, then replaced (not edited in place): a link there is refused too."""
    from harness.views.report import README_BEGIN, README_END

    target = tmp_path / "outside" / "README.md"
    target.parent.mkdir()
    target.write_text(f"kept\n{README_BEGIN}\n{README_END}\n")
    kept = target.read_bytes()
    link = _plant(tmp_path / "README.md", target)
    out = tmp_path / "docs" / "doc.md"
    argv = ["report", "--from", str(_rows(tmp_path, "r")), "--out", str(out), "--readme", str(link)]
    _refused_link(capsys, argv, link)
    assert target.read_bytes() == kept and not out.exists()


def test_report_refuses_a_linked_curves_folder(tmp_path, victim, capsys):
    """Own case: reproduction/ itself a link to a folder outside: nothing is drawn into it."""
    out = tmp_path / "docs" / "doc.md"
    link = _plant(out.parent / "reproduction", victim.parent)
    _refused_link(capsys, ["report", "--from", str(_rows(tmp_path, "r")), "--out", str(out), "--png"], link)
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
    _untouched(victim)


# ------------------------------------------------------------------ show and analyze --png


def test_show_png_refuses_a_link_at_a_figure(swept_copy, tmp_path, victim, capsys):
    trial = _trial_id(_model(swept_copy))
    figs = tmp_path / "figs"
    link = _plant(figs / f"{trial}_confusion.png", victim)
    _refused_link(capsys, ["show", trial, "--png", str(figs), "--results", str(swept_copy)], link)
    assert [p.name for p in figs.iterdir()] == [link.name]  # the curves, drawn first, were not written either
    _untouched(victim, figs)


def test_analyze_png_refuses_a_link_at_a_figure(swept_copy, tmp_path, victim, capsys):
    from harness.store.db import Store

    with Store.existing(swept_copy) as store:
        (sweep,) = [r["id"] for r in store._rows("SELECT id FROM sweeps")]
    figs = tmp_path / "figs"
    link = _plant(figs / f"{sweep}_digits_lr.png", victim)
    _refused_link(capsys, ["analyze", sweep, "--png", str(figs), "--results", str(swept_copy)], link)
    _untouched(victim, figs)


# ------------------------------------------------------------------ the sweep's lock and the store


def test_a_resumed_sweep_refuses_a_link_at_its_lock(swept_copy, victim, capsys):
    from harness.store.db import Store

    with Store.existing(swept_copy) as store:
        (sweep,) = [r["id"] for r in store._rows("SELECT id FROM sweeps")]
    lock = swept_copy / "locks" / f"{sweep}.lock"
    lock.unlink(missing_ok=True)
    _plant(lock, victim)
    _refused_link(capsys, ["sweep", "--resume", sweep, "--results", str(swept_copy), "--no-live"], lock)
    _untouched(victim, swept_copy)


@pytest.mark.parametrize("planted", ["harness.db", "harness.db-wal", "harness.db-journal"])
def test_the_store_is_never_opened_through_a_link(swept_copy, tmp_path, victim, capsys, planted):
    """SQLite writes its store and its -wal/-shm/-journal files through any link at those names."""
    link = swept_copy / planted
    if planted == "harness.db":  # a real store elsewhere, reached through the link
        real = tmp_path / "elsewhere.db"
        link.rename(real)
        victim = real
    else:
        link.unlink(missing_ok=True)
    _plant(link, victim)
    kept = victim.read_bytes()
    for argv in (["leaderboard"], ["export"]):
        _refused_link(capsys, [*argv, "--results", str(swept_copy)], link)
    assert victim.read_bytes() == kept


# ------------------------------------------------------------------ the writer itself (harness.safefile)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    from harness.safefile import write_bytes, writer

    target = write_bytes(tmp_path / "f.bin", b"old")
    with pytest.raises(RuntimeError), writer(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("the renderer failed half-way")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_written_file_has_the_umasks_mode_like_open(tmp_path):
    from harness.safefile import write_text

    old = os.umask(0o027)
    try:
        path = write_text(tmp_path / "card.md", "# card\n")
    finally:
        os.umask(old)
    assert path.read_text() == "# card\n" and (path.stat().st_mode & 0o777) == 0o640
    path.chmod(0o604)  # a file replaced keeps the mode it had
    write_text(path, "# card, again\n")
    assert path.read_text() == "# card, again\n" and (path.stat().st_mode & 0o777) == 0o604


def test_a_dangling_link_and_a_folder_at_the_name_are_refused(tmp_path):
    """Own case: a link to a file that does not exist yet (writing through it would create the
    file wherever it points), and a folder where the file goes."""
    from harness.safefile import write_bytes

    nowhere = tmp_path / "outside" / "created-through-the-link"
    link = _plant(tmp_path / "out" / "x.onnx", nowhere)
    with pytest.raises(HarnessError, match="symbolic link"):
        write_bytes(link, b"model")
    assert not nowhere.exists() and not nowhere.parent.exists()
    (tmp_path / "out" / "dir.onnx").mkdir()
    with pytest.raises(IsADirectoryError):  # an OSError, as open() gives: the card's warning still comes
        write_bytes(tmp_path / "out" / "dir.onnx", b"model")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dir.onnx", "x.onnx"]


def test_the_data_cache_lock_is_never_opened_through_a_link(tmp_path, victim, capsys, monkeypatch, shared_data):
    """FileLock opens its file with O_TRUNC: a link at `<cache>.lock` would empty its target."""
    import shutil

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["data", "prepare", "digits", "--data-dir", str(shared_data)]) == 0
    (folder,) = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    shutil.rmtree(folder)  # the next prepare decodes again, under the lock
    lock = folder.with_name(folder.name + ".lock")
    lock.unlink(missing_ok=True)
    _plant(lock, victim)
    _refused_link(capsys, ["data", "prepare", "digits", "--data-dir", str(shared_data)], lock)
    _untouched(victim, tmp_path / "cache")
