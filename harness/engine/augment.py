"""Batch augmentation as tensor ops on the training device (the airbench way).

A whole batch (N, C, H, W) of pixel values 0..255 (uint8 or float, before normalisation) is
augmented at once: no per-sample Python and no PIL. Random crops are exact integer shifts
(gather on the zero-padded batch), flips are exact pixel flips (torch.where on a flipped
copy), and rotation, shear and zoom are one resampling per batch centred on the image centre:
affine_grid + bilinear grid_sample (float32 out), or for nearest-neighbour presets one integer
gather that keeps uint8 as uint8. Random numbers are drawn on the CPU from the caller's
generator, one call per knob, so a seed gives the same augmentation on any device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.config.augments import KNOBS, AugmentKnobs
from harness.errors import lookup


@dataclass(frozen=True)
class Augment(AugmentKnobs):
    """A batch augmentation: the knobs (harness.config.augments), applied to a whole batch."""

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """A new augmented batch of the same shape and device; `images` is left untouched. The dtype
        is kept, except that bilinear resampling turns integer pixels into float32.

        Order: crop, then rotation/shear/zoom, then flips (torchvision's CIFAR recipe crops
        before flipping; Keras flips after its affine transform). The presets never mix crop
        with resampling, and the random angles are symmetric, so the order only fixes a convention.
        """
        if self.identity:
            return images
        n, _, height, width = images.shape
        out = images
        if self.crop_pad:
            offsets = torch.randint(0, 2 * self.crop_pad + 1, (2, n), generator=generator)
            out = _shift(out, offsets.to(images.device), pad=self.crop_pad)
        if self.geometric:
            theta = _affine_matrices(
                angles_deg=_symmetric(self.rotate_deg, (n,), generator),
                shears_deg=_symmetric(self.shear_deg, (n,), generator),
                zooms=_zooms(self.zoom, n, generator),  # x, y independent
                height=height,
                width=width,
            )
            flips = [torch.rand(n, generator=generator) < p if p else None for p in (self.hflip, self.vflip)]
            if self.interpolation == "nearest":
                # Flips after a warp are themselves affine: folded into the one gather, for free.
                return _gather_warp(out, theta, hflip=flips[0], vflip=flips[1], fill=self.fill)
            out = _warp(out, theta.to(device=images.device, dtype=torch.float32), fill=self.fill)
        else:
            flips = [torch.rand(n, generator=generator) < p if p else None for p in (self.hflip, self.vflip)]
        if flips[0] is not None:
            out = _flip_where(out, flips[0], dim=3)
        if flips[1] is not None:
            out = _flip_where(out, flips[1], dim=2)
        return out


def _zooms(zoom: float, n: int, generator: torch.Generator) -> Tensor | None:
    """Scale factors 1 +- zoom for x and y, (2, n), or None when zoom is off."""
    offsets = _symmetric(zoom, (2, n), generator)
    return None if offsets is None else 1.0 + offsets


def _symmetric(half_width: float, shape: tuple[int, ...], generator: torch.Generator) -> Tensor | None:
    """Values uniform in [-half_width, half_width] (float64, on the CPU), or None when the knob is off."""
    if not half_width:
        return None
    return half_width * (2.0 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1.0)


def _affine_matrices(
    *,
    angles_deg: Tensor | None = None,
    shears_deg: Tensor | None = None,
    zooms: Tensor | None = None,
    height: int,
    width: int,
) -> Tensor:
    """Per-sample (N, 2, 3) `theta` for F.affine_grid: output -> input coordinates, centred.

    Built in centred pixel coordinates (x right, y down) as Keras' apply_affine_transform does,
    A = rotation @ shear @ zoom, then expressed in affine_grid's normalised coordinates
    (x / (W/2), y / (H/2)), so that rotations stay rotations on non-square images.
    A positive angle turns the content counter-clockwise, as torchvision's rotate does.
    Zoom factors multiply the sampled coordinates as in Keras: a factor > 1 zooms out.
    """
    n = next(t.shape[-1] for t in (angles_deg, shears_deg, zooms) if t is not None)
    ones, zeros = torch.ones(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    a = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    if angles_deg is not None:
        t = torch.deg2rad(angles_deg.double())
        cos, sin = torch.cos(t), torch.sin(t)
        a = torch.stack([torch.stack([cos, -sin]), torch.stack([sin, cos])]).permute(2, 0, 1) @ a
    if shears_deg is not None:
        # Keras apply_affine_transform (keras/src/legacy/preprocessing/image.py): np.deg2rad(shear); <= 2.1 radians
        s = torch.deg2rad(shears_deg.double())
        shear = torch.stack([torch.stack([ones, -torch.sin(s)]), torch.stack([zeros, torch.cos(s)])]).permute(2, 0, 1)
        a = a @ shear
    if zooms is not None:
        a = a @ torch.diag_embed(zooms.double().T)
    # Pixel -> normalised coordinates is diag(2/W, 2/H); conjugating by it rescales the off-diagonal terms.
    a[:, 0, 1] *= height / width
    a[:, 1, 0] *= width / height
    return torch.cat([a, torch.zeros(a.shape[0], 2, 1, dtype=a.dtype)], dim=2)


def _warp(images: Tensor, theta: Tensor, *, fill: str = "zeros") -> Tensor:
    """One bilinear resampling of the whole batch; points outside the image read 0 (black), or
    the nearest edge pixel with fill="border". Integer pixels come back as float32."""
    x = images if images.is_floating_point() else images.float()
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=fill, align_corners=False)


def _gather_warp(
    images: Tensor, theta: Tensor, *, hflip: Tensor | None = None, vflip: Tensor | None = None, fill: str = "zeros"
) -> Tensor:
    """Nearest-neighbour resampling, then optional flips, as one gather in the batch's own dtype
    (uint8 stays uint8): about 3x cheaper than affine_grid + grid_sample on a float copy.

    Same sampling points as grid_sample(mode="nearest", align_corners=False): output pixel (i, j)
    reads input pixel (round(d*j + e*i + f), round(a*j + b*i + c)), the affine map `theta`
    rewritten in pixel indices. A flip of the output only changes those six numbers. With zero
    fill, the batch gets a one-pixel zero border and every outside point is clamped onto it.
    """
    n, c, height, width = images.shape
    t = theta.double()
    # Pixel-index form of col = (W/2)(theta_x . (x_n, y_n, 1) + 1) - 1/2, x_n = (2j + 1)/W - 1, same for rows.
    x0, y0 = 1.0 / width - 1.0, 1.0 / height - 1.0
    a, b = t[:, 0, 0], t[:, 0, 1] * width / height
    c0 = width / 2 * (t[:, 0, 0] * x0 + t[:, 0, 1] * y0 + t[:, 0, 2] + 1) - 0.5
    d, e = t[:, 1, 0] * height / width, t[:, 1, 1]
    f0 = height / 2 * (t[:, 1, 0] * x0 + t[:, 1, 1] * y0 + t[:, 1, 2] + 1) - 0.5
    if hflip is not None:  # j -> W - 1 - j
        s = torch.where(hflip, -1.0, 1.0).double()
        c0, f0 = c0 + (1 - s) / 2 * a * (width - 1), f0 + (1 - s) / 2 * d * (width - 1)
        a, d = a * s, d * s
    if vflip is not None:  # i -> H - 1 - i
        s = torch.where(vflip, -1.0, 1.0).double()
        c0, f0 = c0 + (1 - s) / 2 * b * (height - 1), f0 + (1 - s) / 2 * e * (height - 1)
        b, e = b * s, e * s
    device = images.device
    coef = torch.stack([a, b, c0, d, e, f0], 1).float().to(device)
    j = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, width)
    i = torch.arange(height, device=device, dtype=torch.float32).view(1, height, 1)
    k = coef.view(n, 6, 1, 1)
    # In-place from here on: these are (N, H, W) maps, the largest temporaries of the batch.
    cols = torch.add(k[:, 0] * j, k[:, 1] * i + k[:, 2]).round_()
    rows = torch.add(k[:, 3] * j, k[:, 4] * i + k[:, 5]).round_()
    if fill == "zeros":
        source = F.pad(images, (1, 1, 1, 1))  # the zero ring every outside point is clamped onto
        rows.clamp_(-1, height).add_(1)
        cols.clamp_(-1, width).add_(1)
        w = width + 2
    else:
        source = images
        rows.clamp_(0, height - 1)
        cols.clamp_(0, width - 1)
        w = width
    index = rows.mul_(w).add_(cols).long().view(n, 1, -1).expand(n, c, -1)
    return source.flatten(2).gather(2, index).view(n, c, height, width)


def _shift(images: Tensor, offsets: Tensor, *, pad: int) -> Tensor:
    """Per-sample (H, W) crops of the zero-padded batch at (row, col) `offsets` (2, N) in [0, 2 * pad].

    Two gathers (rows, then columns) instead of a loop over samples: exact copies of pixels,
    so a crop is the input shifted by an integer offset in [-pad, pad] with zeros shifted in.
    """
    n, c, height, width = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    rows = offsets[0].view(n, 1) + torch.arange(height, device=images.device)
    padded = padded.gather(2, rows.view(n, 1, height, 1).expand(n, c, height, width + 2 * pad))
    cols = offsets[1].view(n, 1) + torch.arange(width, device=images.device)
    return padded.gather(3, cols.view(n, 1, 1, width).expand(n, c, height, width))


def _flip_where(images: Tensor, mask: Tensor, *, dim: int) -> Tensor:
    """Flip the samples selected by the boolean `mask` (N,) along `dim`: exact, no resampling."""
    mask = mask.to(images.device).view(-1, 1, 1, 1)
    return torch.where(mask, images.flip(dim), images)


AUGMENTATIONS: dict[str, Augment] = {name: Augment(**asdict(knobs)) for name, knobs in KNOBS.items()}


def get_augment(name: str) -> Augment:
    return lookup("augmentation", AUGMENTATIONS, name)
