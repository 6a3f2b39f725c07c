"""The speed preset's techniques, each on its own: the whitening init, label smoothing, the
learning-rate schedule, the lookahead average of the weights, flip TTA, and their settings."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.architectures import DataInit, create_model
from harness.architectures.speed import WhitenedNet
from harness.config.spec import SweepSpec
from harness.config.techniques import SCHEDULES, Lookahead, get_averaging
from harness.engine.fit import fit
from harness.engine.steps import LookaheadAverage, Steps
from harness.engine.train import OBJECTIVES, Normalizer, predict_outputs
from harness.errors import HarnessError
from harness.heads import Head


def _correlated_images(n: int = 512, side: int = 8) -> torch.Tensor:
    """Smooth images (neighbouring pixels and channels correlated), as natural images are."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, side + 1, side + 1, generator=g)
    x = (x[:, :, 1:, 1:] + x[:, :, :-1, :-1] + x[:, :, 1:, :-1]) / 3  # neighbours share noise
    return x + 0.5 * x.mean(1, keepdim=True)  # and channels too


def test_whitening_init_decorrelates_the_patches_it_saw():
    images = _correlated_images()
    net = WhitenedNet(in_channels=3, widths=(8, 8, 8), num_outputs=10)
    assert isinstance(net, DataInit)
    net.init_from_data(images)
    w = net.whiten.weight  # (24, 3, 2, 2): 12 filters and their negatives
    assert torch.equal(w[:12], -w[12:])
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 12)
    whitened = patches @ w[:12].reshape(12, 12).T
    covariance = whitened.T @ whitened / len(whitened)
    # eigenvalue / (eigenvalue + eps): the identity, up to eps's shrinking of the smallest directions
    assert torch.allclose(covariance, torch.eye(12), atol=0.05)
    assert not net.whiten.weight.requires_grad and not net.whiten.bias.requires_grad  # kept as initialised


def test_the_registered_network_takes_cifar_and_has_the_hook():
    model = create_model("airbench_cpu", in_shape=(3, 32, 32), num_outputs=10)
    assert isinstance(model, DataInit)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert not isinstance(create_model("vgg4_bn", in_shape=(3, 32, 32), num_outputs=10), DataInit)


def test_label_smoothing_is_the_training_loss_only():
    out, y = torch.randn(16, 10), torch.randint(0, 10, (16,))
    logits = OBJECTIVES[Head.LOGITS]
    assert logits.training_loss(0.0) is logits.loss
    smoothed = logits.training_loss(0.2)(out, y)
    assert torch.allclose(smoothed, F.cross_entropy(out, y, label_smoothing=0.2))
    # by hand: (1 - eps) x NLL of the label + eps x the mean NLL over the classes
    nll = -F.log_softmax(out, 1)
    by_hand = (0.8 * nll.gather(1, y[:, None]).squeeze(1) + 0.2 * nll.mean(1)).mean()
    assert torch.allclose(smoothed, by_hand)
    with pytest.raises(ValueError):
        OBJECTIVES[Head.SINGLE_LOGIT].training_loss(0.1)


def test_label_smoothing_is_refused_out_of_range_or_without_classes():
    base = SweepSpec(task="digits", archs=("cnn_small",))
    base.validate()
    replace(base, label_smoothing=0.2).validate()
    for bad in (-0.1, 1.0, math.nan):
        with pytest.raises(HarnessError, match="label smoothing"):
            replace(base, label_smoothing=bad).validate()
    with pytest.raises(HarnessError, match="no classes to smooth"):
        SweepSpec(task="mnist_upsample", archs=("espcn",), label_smoothing=0.1).validate()
    with pytest.raises(HarnessError, match="unknown"):
        replace(base, lr_schedule="cosine").validate()
    with pytest.raises(HarnessError, match="unknown"):
        replace(base, tta="five_crop").validate()


def test_the_triangle_schedule_is_airbenchs():
    triangle = SCHEDULES["triangle"]
    assert triangle.factor(0.0) == pytest.approx(0.2)
    assert triangle.factor(0.23) == pytest.approx(1.0)
    assert triangle.factor(1.0) == pytest.approx(0.07)
    assert triangle.factor(0.115) == pytest.approx(0.6)
    assert SCHEDULES["constant"].factor(0.7) == 1.0 and SCHEDULES["linear"].factor(0.25) == 0.75


def test_steps_set_each_steps_rate_and_a_resumed_run_goes_on_from_its_step():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    steps = Steps(optimizer=optimizer, model=model, total=10, schedule=SCHEDULES["linear"])
    rates = []
    for _ in range(10):
        steps.before()
        rates.append(optimizer.param_groups[0]["lr"])
        steps.after()
    assert rates == pytest.approx([1 - i / 10 for i in range(10)])
    # Resumed at step 6 from the saved optimizer state: its "lr" is the last scheduled one, the
    # base rate comes back with it.
    resumed = torch.optim.SGD(model.parameters(), lr=1.0)
    resumed.load_state_dict(optimizer.state_dict())
    again = Steps(optimizer=resumed, model=model, total=10, done=6, schedule=SCHEDULES["linear"])
    again.before()
    assert resumed.param_groups[0]["lr"] == pytest.approx(0.4)


def test_the_lookahead_average_is_an_ema_copied_back():
    model = nn.Linear(1, 1, bias=False)
    average = LookaheadAverage(model, Lookahead(every=1, base=0.5, power=1.0))
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(model, 0.5)  # the first update takes the weights as they are
    with torch.no_grad():
        model.weight.fill_(3.0)
    average.update(model, 0.5)  # 0.5 x 1 + 0.5 x 3
    assert model.weight.item() == pytest.approx(2.0)
    with torch.no_grad():
        model.weight.fill_(10.0)
    average.update(model, 1.0)  # decay 1: the average unchanged, copied back (an epoch's end)
    assert model.weight.item() == pytest.approx(2.0)
    assert average.decay(1.0) == pytest.approx(0.5) and average.decay(0.0) == 0.0


def test_steps_average_every_n_steps_with_a_decay_that_rises():
    model = nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    knobs = get_averaging("lookahead")
    assert knobs is not None and knobs.every == 5
    steps = Steps(optimizer=optimizer, model=model, total=100, averaging=knobs)
    for i in range(1, 11):
        with torch.no_grad():
            model.weight.fill_(float(i))
        steps.after()
    # step 5 took the weights (5.0); step 10 mixed in 10.0 with decay 0.95**5 x 0.1**3
    decay = 0.95**5 * 0.1**3
    assert model.weight.item() == pytest.approx(decay * 5.0 + (1 - decay) * 10.0)


def test_flip_tta_averages_the_logits_of_each_image_and_its_mirror():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    normalize = Normalizer((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), torch.device("cpu"))
    both = predict_outputs(model=model, images=images, batch_size=2, normalize=normalize, views=("identity", "hflip"))
    with torch.no_grad():
        x = normalize(images)
        expected = (model(x) + model(x.flip(3))) / 2
    assert torch.allclose(both, expected, atol=1e-6)


def test_fit_with_all_the_techniques_records_tta_on_the_test_scores():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    labels = torch.randint(0, 10, (64,))
    normalize = Normalizer((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), torch.device("cpu"))
    model = create_model("airbench_cpu", in_shape=(3, 32, 32), num_outputs=10)
    model.init_from_data(normalize(images))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    results = list(
        fit(
            model=model,
            objective=OBJECTIVES[Head.LOGITS],
            optimizer=optimizer,
            train=(images, labels),
            val=(images, labels),
            test=(images, labels),
            epochs=2,
            batch_size=16,
            normalize=normalize,
            generator=torch.Generator().manual_seed(0),
            metric="val_acc",
            mode="max",
            label_smoothing=0.2,
            schedule=SCHEDULES["triangle"],
            averaging=get_averaging("lookahead"),
            views=("identity", "hflip"),
        )
    )
    test = results[-1].test
    assert test is not None and test["tta"] == ["identity", "hflip"]
    assert 0.0 <= test["acc_without_tta"] <= 1.0
    # the last step ran at the triangle's end: 0.07 x the base rate, and the base is kept
    assert optimizer.param_groups[0]["initial_lr"] == 0.1
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * SCHEDULES["triangle"].factor(7 / 8))


def test_the_constant_schedule_leaves_the_optimizer_alone():
    assert SCHEDULES["constant"].constant and not SCHEDULES["triangle"].constant
    data = (torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8), torch.randint(0, 2, (8,)))
    flat = nn.Sequential(nn.Flatten(), nn.Linear(48, 2))
    optimizer = torch.optim.SGD(flat.parameters(), lr=0.5)
    normalize = Normalizer((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), torch.device("cpu"))
    kwargs = dict(train=data, val=data, test=data, epochs=1, batch_size=4, normalize=normalize)
    list(
        fit(
            model=flat,
            objective=OBJECTIVES[Head.LOGITS],
            optimizer=optimizer,
            generator=torch.Generator().manual_seed(0),
            metric="val_acc",
            mode="max",
            schedule=SCHEDULES["constant"],
            **kwargs,
        )
    )
    assert "initial_lr" not in optimizer.param_groups[0] and optimizer.param_groups[0]["lr"] == 0.5
