"""itesm2022-catsdogs (Keras): three small CNNs with one sigmoid output, 64 and 128 px.

Keras defaults throughout: 3x3 "valid" convolutions with bias, 2x2 max-pooling. The sigmoid
is in the loss (BCEWithLogitsLoss), so each module ends in one logit.
"""

from __future__ import annotations

from torch import nn

from ._layers import keras_binary_classifier
from ._registry import register_arch

REPORT = "itesm2022-catsdogs"


@register_arch(
    "keras_cnn2", report=REPORT, input_shape=(3, 64, 64), num_outputs=1, head="single_logit", reference_params=813_217
)
def keras_cnn2(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Model 1: Conv32-pool x2, Flatten(6272), Dense128, one logit; 64 px."""
    return keras_binary_classifier(in_shape, [32, 32], dense=128, dropout=None)


@register_arch(
    "keras_cnn3_drop",
    report=REPORT,
    input_shape=(3, 128, 128),
    num_outputs=1,
    head="single_logit",
    reference_params=831_585,
)
def keras_cnn3_drop(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Models 2 and 3: Conv32, 32, 64 (each pooled), Flatten(12544), Dense64, Dropout 0.5, one logit."""
    # The report does not print the dropout rate; 0.5 is REPORTS.md's choice.
    return keras_binary_classifier(in_shape, [32, 32, 64], dense=64, dropout=0.5)


@register_arch(
    "keras_cnn4_drop",
    report=REPORT,
    input_shape=(3, 128, 128),
    num_outputs=1,
    head="single_logit",
    reference_params=185_473,
)
def keras_cnn4_drop(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Model 4: Conv32, 32, 32, 64 (each pooled), Flatten(2304), Dense64, Dropout 0.5, one logit."""
    return keras_binary_classifier(in_shape, [32, 32, 32, 64], dense=64, dropout=0.5)
