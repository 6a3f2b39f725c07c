"""The shapes of what an exported file says about itself: its metadata_props with their JSON values
decoded (`harness.runtimes.metadata.read_metadata`), the model card's facts among them
(`harness.export.card.card_facts`).

Plain dicts at runtime, as the file holds them; these TypedDicts only tell mypy and the reader which
keys there are. What export writes is all of them; a file is only sure to hold the keys
`checked_metadata` checks against its graph: a file exported before the model card lacks the card's
keys, and a foreign file may lack any other, so readers `.get` those. No torch, no onnxruntime.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = [
    "CardData",
    "CardEvaluation",
    "CardFacts",
    "CardTraining",
    "ModelMetadata",
    "Preprocessing",
    "PublishedFigure",
]


class _Normalisation(TypedDict):
    """What prediction applies: (pixel * scale - mean) / std, one mean and one std per channel."""

    scale: float  # 1 / 255
    mean: list[float]
    std: list[float]


class Preprocessing(_Normalisation, total=False):
    """How raw pixels become the model's input (`harness.export.onnx.preprocessing`); the rest is
    said for people and other runtimes, and may be missing from a file harness did not write."""

    resize: list[int]  # [height, width], pixels
    color: str  # "L" or "RGB"
    formula: str  # the normalisation in words


class CardData(TypedDict):
    """The data the trial trained on, and its split."""

    dataset: str  # the task's name
    description: str
    source: str  # where the data was found
    variant: str
    image_size: int  # pixels per side, as the model sees them
    splits: dict[str, int]  # split name -> images
    split_seeds: list[int]  # []: the files come split
    train_limit: int | None  # None: the whole training split


class CardTraining(TypedDict):
    """The recipe the trial ran."""

    optimizer: str
    lr: float
    batch_size: int
    epochs: int  # planned
    epochs_run: int
    weight_decay: float
    augment: str
    pixels: str  # the input scaling, "standard" unless the trial chose one
    seed: int
    precision: str  # what it trained in (fp32 | bf16 | fp16): the trial's training precision
    scheduler: str  # "asha" or "fifo"
    status: str  # the trial's: "stopped" when the scheduler or a time budget ended it early


class CardEvaluation(TypedDict):
    """The best checkpoint on the test split, with the test figure's 95% interval."""

    split: str  # "test"
    metric: str  # e.g. "test_acc"
    value: float | None  # None: stopped before its last epoch, never scored
    n: int  # test images
    best_epoch: int | None
    selected_by: str  # the validation metric that chose the checkpoint
    ci95_low: float | None  # None: no binomial form (image scores) or no count recorded
    ci95_high: float | None
    ci95_method: str | None


class PublishedFigure(TypedDict):
    """A published figure of the trial's task and network, with ours measured as the report measured."""

    report: str
    run: str  # the recipe's label
    measure: str
    score: str  # how the report measured it, e.g. "test_acc"
    published: float | None
    ours: float | None
    like_for_like: bool  # the same network, data and budget
    differs: str | None  # how this trial differs from the recipe, in words


class CardFacts(TypedDict):
    """What the model card adds to the metadata at export (`harness.export.card.CARD_KEYS`)."""

    data: CardData
    parameters: int
    training: CardTraining
    evaluation: CardEvaluation
    published: list[PublishedFigure]


class _Checked(TypedDict):
    """The keys `checked_metadata` requires and checks against the graph."""

    classes: list[str]  # [] for an image output
    input_shape: list[int]  # [channels, height, width]
    preprocessing: Preprocessing
    output: str  # the head kind (harness.heads)


class ModelMetadata(_Checked, total=False):
    """An exported file's metadata_props, the JSON values decoded (`harness.export.onnx.model_metadata`
    writes them; each is a string in the file)."""

    task: str
    input_dtype: str  # "float32"
    report_id: str  # "" for a baseline
    architecture: str
    trial_id: str
    metrics: dict[str, float]  # the checkpoint's epoch and validation metrics
    harness_version: str
    quantize: str  # "int8" in a quantized file; absent from a float32 one
    # the model card's facts (CardFacts), absent from files exported before it
    data: CardData
    parameters: int
    training: CardTraining
    evaluation: CardEvaluation
    published: list[PublishedFigure]
