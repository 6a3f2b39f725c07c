"""The augmentation presets a sweep names (`--augment`): their knobs, torch-free, so a sweep's
settings are checked without the engine. harness.engine.augment applies them to whole batches."""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import lookup


@dataclass(frozen=True)
class AugmentKnobs:
    """A batch augmentation's knobs, as the reports' recipes set them. All zero/False = identity.
    harness.engine.augment.Augment applies them to a batch."""

    hflip: float = 0.0  # probability of a horizontal flip per image
    vflip: float = 0.0  # probability of a vertical flip per image
    rotate_deg: float = 0.0  # uniform rotation in [-rotate_deg, rotate_deg] deg (torchvision RandomRotation, fill 0)
    shear_deg: float = 0.0  # Keras ImageDataGenerator shear_range: shear angle uniform in [-s, s] degrees
    zoom: float = 0.0  # Keras zoom_range: zoom factors uniform in [1 - zoom, 1 + zoom], independently for x and y
    crop_pad: int = 0  # random crop of the original size after zero padding by crop_pad pixels (CIFAR)
    fill: str = (
        "zeros"  # what rotation/shear/zoom read outside the image: "zeros" (torchvision) or "border" (Keras "nearest")
    )
    # How rotation/shear/zoom sample: "bilinear" (Keras' order=1), or "nearest" (torchvision's
    # RandomRotation default), done as one integer gather on the uint8 batch: about 3x cheaper.
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if not (0.0 <= self.hflip <= 1.0 and 0.0 <= self.vflip <= 1.0):
            raise ValueError(f"flip probabilities must lie in [0, 1], got hflip={self.hflip}, vflip={self.vflip}")
        if min(self.rotate_deg, self.shear_deg, self.zoom, self.crop_pad) < 0:
            raise ValueError(f"augmentation ranges must be >= 0: {self}")
        if self.fill not in ("zeros", "border"):
            raise ValueError(f"fill must be 'zeros' or 'border', got {self.fill!r}")
        if self.interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {self.interpolation!r}")
        if self.zoom >= 1.0:
            raise ValueError(f"zoom must be < 1 so that every zoom factor stays positive, got {self.zoom}")

    @property
    def identity(self) -> bool:
        return not (self.hflip or self.vflip or self.rotate_deg or self.shear_deg or self.zoom or self.crop_pad)

    @property
    def geometric(self) -> bool:
        """Whether a resampling (affine_grid + grid_sample) pass is needed."""
        return bool(self.rotate_deg or self.shear_deg or self.zoom)


KNOBS: dict[str, AugmentKnobs] = {
    "none": AugmentKnobs(),
    # uni2022-catsdogs: RandomHorizontalFlip + RandomRotation(10), torchvision's nearest interpolation
    "uni2022": AugmentKnobs(hflip=0.5, rotate_deg=10, interpolation="nearest"),
    # Keras ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True), with Keras' default
    # fill_mode "nearest" (edge pixels repeated), which the report did not change.
    "itesm2022": AugmentKnobs(hflip=0.5, shear_deg=0.2, zoom=0.2, fill="border"),
    # uni2022-pokemon: RandomRotation (15 deg chosen, nearest as torchvision) + horizontal and vertical flips
    "pokemon": AugmentKnobs(hflip=0.5, vflip=0.5, rotate_deg=15, interpolation="nearest"),
    "cifar": AugmentKnobs(hflip=0.5, crop_pad=4),  # the standard CIFAR crop + flip
    # airbench94's: a flip and a shift of at most 2 pixels (airbench pads by reflection, this by zeros)
    "airbench": AugmentKnobs(hflip=0.5, crop_pad=2),
    # users' own images (folder:, hf:): a horizontal flip and a small shift, the least that
    # helps almost any photo set and changes no label (no vertical flip, no rotation)
    "flip_crop": AugmentKnobs(hflip=0.5, crop_pad=4),
}


def get_augment_knobs(name: str) -> AugmentKnobs:
    return lookup("augmentation", KNOBS, name)
