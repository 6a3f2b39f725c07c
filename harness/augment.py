"""Batch augmentation as tensor ops on the training device (the airbench way).

A whole batch (N, C, H, W) of float pixel values 0..255 (before normalisation) is augmented
at once: no per-sample Python and no PIL. Random crops are exact integer shifts (gather on
the zero-padded batch), flips are exact pixel flips (torch.where on a flipped copy), and
rotation, shear and zoom are one affine_grid + grid_sample per batch (bilinear, zero fill,
centred on the image centre). Random numbers are drawn on the CPU from the caller's
generator, one call per knob, so a seed gives the same augmentation on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from harness.errors import lookup


@dataclass(frozen=True)
class Augment:
    """A batch augmentation: knobs of the reports' recipes. All zero/False = identity."""

    hflip: float = 0.0  # probability of a horizontal flip per image
    vflip: float = 0.0  # probability of a vertical flip per image
    rotate_deg: float = 0.0  # uniform rotation in [-rotate_deg, rotate_deg] deg (torchvision RandomRotation, fill 0)
    shear_deg: float = 0.0  # Keras ImageDataGenerator shear_range: shear angle uniform in [-s, s] degrees
    zoom: float = 0.0  # Keras zoom_range: zoom factors uniform in [1 - zoom, 1 + zoom], independently for x and y
    crop_pad: int = 0  # random crop of the original size after zero padding by crop_pad pixels (CIFAR)
    fill: str = "zeros"  # what rotation/shear/zoom read outside the image: "zeros" (torchvision) or "border" (Keras "nearest")

    def __post_init__(self) -> None:
        if not (0.0 <= self.hflip <= 1.0 and 0.0 <= self.vflip <= 1.0):
            raise ValueError(f"flip probabilities must lie in [0, 1], got hflip={self.hflip}, vflip={self.vflip}")
        if min(self.rotate_deg, self.shear_deg, self.zoom, self.crop_pad) < 0:
            raise ValueError(f"augmentation ranges must be >= 0: {self}")
        if self.fill not in ("zeros", "border"):
            raise ValueError(f"fill must be 'zeros' or 'border', got {self.fill!r}")
        if self.zoom >= 1.0:
            raise ValueError(f"zoom must be < 1 so that every zoom factor stays positive, got {self.zoom}")

    @property
    def identity(self) -> bool:
        return not (self.hflip or self.vflip or self.rotate_deg or self.shear_deg or self.zoom or self.crop_pad)

    @property
    def geometric(self) -> bool:
        """Whether a resampling (affine_grid + grid_sample) pass is needed."""
        return bool(self.rotate_deg or self.shear_deg or self.zoom)

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        """A new augmented batch of the same shape, dtype and device; `images` is left untouched.

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
                zooms=None if not self.zoom else 1.0 + _symmetric(self.zoom, (2, n), generator),  # x, y independent
                height=height, width=width,
            )  # fmt: skip
            out = _warp(out, theta.to(device=images.device, dtype=images.dtype), fill=self.fill)
        if self.hflip:
            out = _flip_where(out, torch.rand(n, generator=generator) < self.hflip, dim=3)
        if self.vflip:
            out = _flip_where(out, torch.rand(n, generator=generator) < self.vflip, dim=2)
        return out


def _symmetric(half_width: float, shape: tuple[int, ...], generator: torch.Generator) -> Tensor | None:
    """Values uniform in [-half_width, half_width] (float64, on the CPU), or None when the knob is off."""
    if not half_width:
        return None
    return half_width * (2.0 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1.0)


def _affine_matrices(*, angles_deg: Tensor | None = None, shears_deg: Tensor | None = None,
                     zooms: Tensor | None = None, height: int, width: int) -> Tensor:  # fmt: skip
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
    the nearest edge pixel with fill="border"."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=fill, align_corners=False)


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


AUGMENTATIONS: dict[str, Augment] = {
    "none": Augment(),
    "uni2022": Augment(hflip=0.5, rotate_deg=10),  # uni2022-catsdogs: RandomHorizontalFlip + RandomRotation(10)
    # Keras ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True), with Keras' default
    # fill_mode "nearest" (edge pixels repeated), which the report did not change.
    "itesm2022": Augment(hflip=0.5, shear_deg=0.2, zoom=0.2, fill="border"),
    "pokemon": Augment(hflip=0.5, vflip=0.5, rotate_deg=15),  # uni2022-pokemon: RandomRotation + h/v flips (15 deg)
    "cifar": Augment(hflip=0.5, crop_pad=4),  # the standard CIFAR crop + flip
}


def get_augment(name: str) -> Augment:
    return lookup("augmentation", AUGMENTATIONS, name)
