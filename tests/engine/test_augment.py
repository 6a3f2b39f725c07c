"""Batch augmentation: exact flips and crops, centred affine resampling, presets, speed."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from harness.engine.augment import AUGMENTATIONS, Augment, _affine_matrices, _shift, _warp, get_augment
from harness.errors import HarnessError


def _batch(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random pixel values 0..255: no image equals its own flip or shift."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 255


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_identity_preset_returns_the_batch_unchanged():
    x = _batch(4, 3, 8, 8)
    assert AUGMENTATIONS["none"].identity
    assert torch.equal(AUGMENTATIONS["none"](x, _gen()), x)
    assert not AUGMENTATIONS["cifar"].identity


@pytest.mark.parametrize(("aug", "dim"), [(Augment(hflip=1.0), 3), (Augment(vflip=1.0), 2)])
def test_certain_flips_are_exact_pixel_flips(aug, dim):
    x = _batch(5, 3, 9, 7)
    assert torch.equal(aug(x, _gen()), torch.flip(x, [dim]))


def test_half_the_batch_is_flipped_and_each_sample_exactly():
    x = _batch(1000, 1, 4, 4)
    out = Augment(hflip=0.5)(x, _gen())
    same = (out == x).flatten(1).all(1)
    flipped = (out == torch.flip(x, [3])).flatten(1).all(1)
    assert bool((same ^ flipped).all())  # each sample is exactly one of the two
    assert 400 <= int(flipped.sum()) <= 600


def test_rotation_keeps_a_centred_blob_centred():
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 12:20, 12:20] = 255.0  # centre of mass at (15.5, 15.5), the image centre
    out = Augment(rotate_deg=45)(x, _gen())
    assert not torch.equal(out, x)
    coords = torch.arange(32, dtype=torch.float32)
    mass = out.sum(dim=(1, 2, 3))
    row = (out.sum(dim=(1, 3)) * coords).sum(1) / mass
    col = (out.sum(dim=(1, 2)) * coords).sum(1) / mass
    assert torch.allclose(row, torch.full_like(row, 15.5), atol=0.05)
    assert torch.allclose(col, torch.full_like(col, 15.5), atol=0.05)
    # A rotation keeps the area; bilinear resampling blurs the edges a little.
    assert torch.allclose(mass, torch.full_like(mass, 64 * 255.0), rtol=0.05)


def test_seeded_augmentation_is_reproducible():
    x = _batch(8, 3, 16, 16)
    aug = Augment(hflip=0.5, vflip=0.5, rotate_deg=15, shear_deg=10, zoom=0.2, crop_pad=2)
    assert torch.equal(aug(x, _gen(7)), aug(x, _gen(7)))
    assert not torch.equal(aug(x, _gen(7)), aug(x, _gen(8)))


def test_rotation_by_90_degrees_matches_rot90():
    x = torch.rand(3, 2, 16, 16, generator=_gen())  # asymmetric; values 0..1 so 1e-4 is a float32-level bound
    theta = _affine_matrices(angles_deg=torch.full((3,), 90.0), height=16, width=16).float()
    out = _warp(x, theta)
    expected = torch.rot90(x, 1, dims=[2, 3])  # counter-clockwise, as torchvision's positive angles
    assert torch.allclose(out[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-4, rtol=0)


@pytest.mark.parametrize("angle", [10.0, -37.0])
def test_rotation_matches_torchvision_rotate_on_a_non_square_image(angle):
    import torchvision.transforms.functional as TF  # imported here: torchvision is slow to import
    from torchvision.transforms import InterpolationMode

    x = _batch(2, 3, 20, 30)
    theta = _affine_matrices(angles_deg=torch.full((2,), angle), height=20, width=30).float()
    expected = TF.rotate(x, angle, interpolation=InterpolationMode.BILINEAR)  # fill 0, centred
    assert torch.allclose(_warp(x, theta), expected, atol=1e-2, rtol=0)


def test_shear_and_zoom_follow_keras_matrices():
    theta = _affine_matrices(shears_deg=torch.tensor([10.0]), zooms=torch.tensor([[1.2], [0.9]]), height=8, width=8)
    s = math.radians(10.0)  # Keras: np.deg2rad(shear); [[1, -sin s], [0, cos s]] @ diag(zx, zy)
    expected = torch.tensor([[[1.2, -math.sin(s) * 0.9, 0.0], [0.0, math.cos(s) * 0.9, 0.0]]], dtype=torch.float64)
    assert torch.allclose(theta, expected)
    unit = _affine_matrices(zooms=torch.ones(2, 3), height=6, width=10).float()
    x = _batch(3, 2, 6, 10)
    assert torch.allclose(_warp(x, unit), x, atol=1e-3, rtol=0)  # samples exactly at pixel centres


def test_crop_is_an_integer_shift_of_the_zero_padded_batch():
    pad, x = 4, _batch(32, 3, 12, 10)
    out = Augment(crop_pad=pad)(x, _gen())
    assert out.shape == x.shape
    padded = F.pad(x, (pad,) * 4)
    shifts = set()
    for n in range(len(x)):
        found = [
            (dy, dx)
            for dy, dx in itertools.product(range(2 * pad + 1), repeat=2)
            if torch.equal(out[n], padded[n, :, dy : dy + 12, dx : dx + 10])
        ]
        assert len(found) == 1, f"sample {n} is not an integer shift"
        shifts.add(found[0])
    assert len(shifts) > 10  # offsets differ per sample


def test_shift_with_explicit_offsets_moves_pixels_exactly():
    x = _batch(2, 1, 5, 5)
    out = _shift(x, torch.tensor([[0, 4], [2, 2]]), pad=2)  # (row, col) offsets into the padded batch
    assert torch.equal(out[0, :, 2:, :], x[0, :, :3, :]) and torch.equal(out[0, :, :2, :], torch.zeros(1, 2, 5))
    assert torch.equal(out[1, :, :3, :], x[1, :, 2:, :]) and torch.equal(out[1, :, 3:, :], torch.zeros(1, 2, 5))


@pytest.mark.parametrize("aug", [Augment(zoom=0.2), Augment(shear_deg=20), AUGMENTATIONS["itesm2022"]])
def test_zoom_and_shear_keep_range_shape_dtype_device_and_input(aug):
    x = _batch(16, 3, 24, 20)
    before = x.clone()
    out = aug(x, _gen())
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    # Bilinear weights and zero fill give convex combinations: 0..255, up to float32 rounding (2 ulp at 255).
    assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0 + 1e-3
    assert torch.equal(x, before)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_presets_leave_their_input_alone_and_keep_float64(name):
    x = _batch(4, 3, 16, 16).double()
    before = x.clone()
    out = get_augment(name)(x, _gen())
    assert out.dtype == torch.float64 and torch.equal(x, before)


def test_unknown_augmentation_names_the_choices():
    with pytest.raises(HarnessError) as info:
        get_augment("nope")
    assert "choose from" in str(info.value) and "cifar" in str(info.value)


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError):
        Augment(hflip=1.5)
    with pytest.raises(ValueError):
        Augment(zoom=1.0)


@pytest.mark.parametrize("shape", [(8, 3, 32, 32), (4, 1, 28, 28)])
@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_every_preset_runs(name, shape):
    out = get_augment(name)(_batch(*shape), _gen())
    assert out.shape == shape and torch.isfinite(out).all()


@pytest.mark.benchmark(group="augment")
def test_benchmark_uni2022_batch(benchmark):
    x = _batch(128, 3, 128, 128)
    aug, gen = get_augment("uni2022"), _gen()
    out = benchmark.pedantic(lambda: aug(x, gen), rounds=5, iterations=1)
    assert out.shape == x.shape


def test_border_fill_repeats_edge_pixels_where_zeros_fill_reads_black():
    images = torch.full((4, 3, 16, 16), 100.0)
    theta = _affine_matrices(zooms=torch.full((2, 4), 1.5, dtype=torch.float64), height=16, width=16)
    zoomed_out = {fill: _warp(images, theta.float(), fill=fill) for fill in ("zeros", "border")}
    assert zoomed_out["zeros"].min() == 0  # the corners come from outside the image
    assert torch.allclose(zoomed_out["border"], images)  # a flat image stays flat with Keras' "nearest"
    assert AUGMENTATIONS["itesm2022"].fill == "border"


def test_nearest_gather_matches_grid_sample_nearest_and_keeps_uint8():
    from harness.engine.augment import _gather_warp

    images = _batch(16, 3, 24, 40).round().to(torch.uint8)
    theta = _affine_matrices(
        angles_deg=torch.linspace(-30, 30, 16, dtype=torch.float64),
        zooms=torch.full((2, 16), 1.1, dtype=torch.float64),
        height=24,
        width=40,
    ).float()
    ours = _gather_warp(images, theta)
    grid = F.affine_grid(theta, [16, 3, 24, 40], align_corners=False)
    reference = F.grid_sample(images.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    assert ours.dtype == torch.uint8
    assert (ours.float() == reference).float().mean() > 0.999  # only exact .5 ties may round apart
    augmented = AUGMENTATIONS["uni2022"](images, _gen())
    assert augmented.dtype == torch.uint8 and augmented.shape == images.shape


def test_flips_folded_into_the_nearest_gather_equal_flipping_afterwards():
    from harness.engine.augment import _gather_warp

    images = _batch(32, 3, 20, 28).round().to(torch.uint8)
    theta = _affine_matrices(angles_deg=torch.linspace(-10, 10, 32, dtype=torch.float64), height=20, width=28).float()
    h, v = torch.arange(32) % 2 == 0, torch.arange(32) % 3 == 0
    plain = _gather_warp(images, theta)
    expected = torch.where(
        v.view(-1, 1, 1, 1),
        torch.where(h.view(-1, 1, 1, 1), plain.flip(3), plain).flip(2),
        torch.where(h.view(-1, 1, 1, 1), plain.flip(3), plain),
    )
    folded = _gather_warp(images, theta, hflip=h, vflip=v)
    assert (folded == expected).float().mean() > 0.999  # exact up to float ties at .5
    border = _gather_warp(images, theta, fill="border")
    assert (border > 0).float().mean() > (plain > 0).float().mean()  # corners repeat edges instead of black
