"""The published figures and the recipe marks against the reports' own texts (../shared/seeds,
beside the real datasets): every quote is found in its report's text, every printed figure in its
quote, every value agrees with what is printed; every recipe's published figure is its headline
figure's value; every recipe marks every setting, and every `report` mark quotes the text.
Nothing trains: the texts and the tables only."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from realfiles import SHARED_DATA

from harness.config.presets import PRESETS
from harness.report.figure import Figure
from harness.report.published import FIGURES, MEASURES, headline, other_figures
from harness.report.recipe_values import MARKS, SETTINGS, recipe_marks

SEEDS = SHARED_DATA.parent / "seeds"
SEED_OF = {
    "uni2022-catsdogs": "000",
    "uchile2020-cifar10": "001",
    "itesm2022-catsdogs": "002",
    "uni2022-pokemon": "003",
    "itam2020-catsdogs-mnist": "004",
}
LABELS = {report: {r.label for r in preset.recipes} for report, preset in PRESETS.items()}


@cache
def seed_text(report: str) -> str:
    # never skipped: a missing text fails here, in CI as anywhere (the texts travel with the data)
    found = sorted(SEEDS.glob(f"{SEED_OF[report]}_*.txt"))
    assert len(found) == 1, f"the text of {report} ({SEED_OF[report]}_*.txt) is missing from {SEEDS}"
    return Path(found[0]).read_text(encoding="utf-8")


def _id(figure: Figure) -> str:
    return f"{figure.report}: {figure.what}"


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


@pytest.mark.parametrize("figure", FIGURES, ids=_id)
def test_a_figure_is_quoted_from_its_report_and_its_value_is_what_it_printed(figure):
    assert figure.quote in seed_text(figure.report), figure.quote
    assert figure.printed in figure.quote
    assert figure.split in (None, "test", "validation", "train")
    assert set(figure.models) <= LABELS[figure.report], figure.models
    assert (figure.measure is None) != (not figure.why), "a measure, or why there is none"
    assert figure.measure is None or (figure.measure in MEASURES and figure.models)
    assert not figure.headline or figure.models
    if figure.value is None:
        return
    number = re.fullmatch(r"\d+(\.\d+)?( ?%)?", figure.printed)
    assert number, f"{figure.printed!r} is not a plain number or percentage"
    read = float(figure.printed.rstrip("% "))
    if figure.of is not None:
        assert figure.value == pytest.approx(read / figure.of)
        return
    read = read / 100 if figure.printed.endswith("%") else read
    # a value may round what is printed in full, never by more than its own last digit
    assert abs(figure.value - read) <= 0.5 * 10 ** -_decimals(figure.value) + 1e-12, (figure.value, read)


@pytest.mark.parametrize("report", PRESETS)
def test_every_recipe_publishes_its_headline_figures_value(report):
    for recipe in PRESETS[report].recipes:
        figure = headline(report, recipe.label)
        assert figure is not None, (report, recipe.label)
        assert recipe.published == figure.value, (recipe.label, recipe.published, figure.value)
        assert recipe.published_about == figure.about
        assert figure.split in ("test", "validation")


def test_the_corrected_figures():
    published = {(r, x.label): (x.published, x.published_about) for r, p in PRESETS.items() for x in p.recipes}
    itam = "itam2020-catsdogs-mnist"
    assert published[(itam, "upsampling model 1")] == (0.81466, False)
    assert published[(itam, "upsampling model 2")] == (0.81488, False)
    assert published[(itam, "upsampling model 3")] == (0.81472, False)
    assert published[("uni2022-pokemon", "CNN")] == published[("uni2022-pokemon", "ResNet")] == (0.5, True)
    assert headline(itam, "upsampling model 1").printed == "0.8146636921564738"  # type: ignore[union-attr]


def test_no_figure_is_listed_twice_and_the_document_keeps_the_last_epochs():
    keys = [(f.report, f.what, f.printed) for f in FIGURES]
    assert len(keys) == len(set(keys))
    others = other_figures("itesm2022-catsdogs", {})
    whats = [o["what"] for o in others]
    assert "model 1: train accuracy, epoch 25 (Keras's running mean over the epoch's batches, as ours)" in whats
    assert not any("epoch 22" in w for w in whats)  # a log point before the last: the curve's
    assert all(o["where"] and (o["measure"] or o["why"]) for r in PRESETS for o in other_figures(r, {}))


@pytest.mark.parametrize(("report", "label"), [(r, x.label) for r, p in PRESETS.items() for x in p.recipes])
def test_every_recipe_marks_every_setting_and_its_report_marks_quote_the_text(report, label):
    marks = recipe_marks(report, label)
    settings = [m.setting for m in marks]
    assert set(SETTINGS) <= set(settings), set(SETTINGS) - set(settings)
    assert len(settings) == len(set(settings))
    spec_arch = next(r for r in PRESETS[report].recipes if r.label == label).spec.archs[0]
    if report == "itesm2022-catsdogs":
        assert "steps_per_epoch" in settings and "dropout" in settings
    if spec_arch in ("keras_cnn3_drop", "keras_cnn4_drop", "keras_cnn3_drop09"):
        assert "dropout" in settings
    for mark in marks:
        assert mark.value is not None, mark.setting
        row = mark.row()
        assert set(row) == {"setting", "value", "source", "where"} and row["where"]
        if mark.source == "report":
            assert mark.mark.where and mark.mark.quote in seed_text(report), mark.mark.quote
        else:
            assert mark.source == "chosen" and mark.mark.why and not mark.mark.quote


def test_marks_carry_their_own_value_only_where_the_recipe_has_none():
    from harness.report.recipe_values import _FROM_SPEC

    for (report, label), marks in MARKS.items():
        spec = next(r for r in PRESETS[report].recipes if r.label == label).spec
        for setting, mark in marks.items():
            if setting in _FROM_SPEC and _FROM_SPEC[setting](spec) is not None:
                assert mark.value is None, (report, label, setting)


def test_itesm_model_1_trained_100_steps_per_epoch_as_its_text_says():
    marks = {m.setting: m for m in recipe_marks("itesm2022-catsdogs", "model 1 (64 px, split A)")}
    assert marks["steps_per_epoch"].value == 100 and marks["steps_per_epoch"].source == "report"
    assert "steps_per_epoch = 100," in seed_text("itesm2022-catsdogs")
