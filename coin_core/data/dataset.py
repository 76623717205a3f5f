"""Torch datasets of prepared slices, and the classifier's augmentation.

:class:`SliceDataset` wraps the :class:`coin_core.data.benchmark.SliceArrays` of one split. The
arrays stay as they are stored (images float16, masks uint8: 2 + 1 + 1 bytes per pixel, 256 KiB
per 256 x 256 slice); each item is converted to float32 when it is read.

:class:`ClassifierAugment` is the paper's classifier augmentation (docs/method.md §3.6): horizontal
flip p=0.5, vertical flip p=0.1, shift-scale-rotate (shift ±7 %, scale ±10 %, rotate ±10°) p=0.5,
with one fix: the area uncovered by the affine transform is filled with -1 (air) instead of the
paper's 0 (mid-grey). The lesion mask gets the same geometric transform (nearest, fill 0). It is
seeded through its own ``torch.Generator``; inside DataLoader workers each copy reseeds from
``seed`` and the worker's seed (which differs per worker and per epoch and follows the loader's
generator), so workers and epochs do not repeat each other's draws and a seeded loader is
reproducible. GAN training uses no augmentation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from coin_core.errors import CoinError

_FIELDS = ("image", "label", "lesion")


class SliceDataset(Dataset):
    """``torch.utils.data.Dataset`` over one split's arrays.

    Items: ``{"image": [1,S,S] float32, "label": float32 scalar, "lesion": [1,S,S] float32,
    "index": int}`` (index = row in the arrays). ``transform`` (optional) maps an item to an item.
    """

    def __init__(self, arrays: Any, transform: Any | None = None) -> None:
        for name in _FIELDS:
            if not hasattr(arrays, name):
                raise CoinError(f"SliceDataset: the slice arrays lack the field {name!r}.")
        image = np.asarray(arrays.image)
        if image.ndim != 3 or image.shape[1] != image.shape[2]:
            raise CoinError(f"SliceDataset: image must be (N, S, S), got shape {image.shape}.")
        n = image.shape[0]
        if len(arrays.label) != n or np.asarray(arrays.lesion).shape != image.shape:
            raise CoinError(
                f"SliceDataset: inconsistent arrays: image {image.shape}, label {np.shape(arrays.label)}, "
                f"lesion {np.shape(arrays.lesion)}."
            )
        self.arrays = arrays
        self.transform = transform

    def __len__(self) -> int:
        return int(np.asarray(self.arrays.image).shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"slice index {i} out of range for {n} slices")
        i = int(i) % n
        a = self.arrays
        item = {
            "image": torch.from_numpy(np.asarray(a.image[i], dtype=np.float32)[None].copy()),
            "label": torch.tensor(float(a.label[i]), dtype=torch.float32),
            "lesion": torch.from_numpy(np.asarray(a.lesion[i], dtype=np.float32)[None].copy()),
            "index": i,
        }
        return self.transform(item) if self.transform is not None else item

    @property
    def labels(self) -> np.ndarray:
        """Slice labels (N,) as int64, e.g. for a class-balanced sampler."""
        return np.asarray(self.arrays.label).astype(np.int64)


class ClassifierAugment:
    """Flip and shift-scale-rotate of ``item["image"]`` (and ``item["lesion"]``), AIR fill.

    Args:
        hflip_p, vflip_p: flip probabilities (0.5, 0.1 in the paper).
        ssr_p: probability of the affine shift-scale-rotate (0.5).
        shift: max shift as a fraction of the side (0.07).
        scale: max relative zoom (0.1 -> [0.9, 1.1]).
        rotate_deg: max rotation in degrees (10).
        fill: image value outside the transformed slice (-1.0 = air after the window).
        seed: seed of the transform's torch.Generator.
        intensity: intensity jitter, not in the paper (0: off): the image becomes
            ``image * (1 + u1) + u2`` with u1, u2 uniform in [-intensity, intensity], clipped to [-1, 1].
        noise_std: standard deviation of added Gaussian noise, not in the paper (0: off); the
            result is clipped to [-1, 1].

    With ``intensity`` and ``noise_std`` at 0 the transform draws exactly the paper's random numbers.
    """

    def __init__(
        self,
        hflip_p: float = 0.5,
        vflip_p: float = 0.1,
        ssr_p: float = 0.5,
        shift: float = 0.07,
        scale: float = 0.1,
        rotate_deg: float = 10.0,
        fill: float = -1.0,
        seed: int = 0,
        intensity: float = 0.0,
        noise_std: float = 0.0,
    ) -> None:
        for name, p in (("hflip_p", hflip_p), ("vflip_p", vflip_p), ("ssr_p", ssr_p)):
            if not 0.0 <= p <= 1.0:
                raise CoinError(f"ClassifierAugment: {name} must be in [0, 1], got {p}.")
        self.hflip_p, self.vflip_p, self.ssr_p = hflip_p, vflip_p, ssr_p
        for name, v in (("intensity", intensity), ("noise_std", noise_std)):
            if not v >= 0.0:
                raise CoinError(f"ClassifierAugment: {name} must be >= 0, got {v}.")
        self.shift, self.scale, self.rotate_deg, self.fill = shift, scale, rotate_deg, fill
        self.intensity, self.noise_std = float(intensity), float(noise_std)
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self._worker: tuple[int, int] | None = None

    def _rand(self) -> float:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker != (info.id, info.seed):
            # a DataLoader worker holds a copy of this transform: reseed it from the worker seed,
            # which differs per worker and per epoch and follows the loader's own generator
            self._worker = (info.id, info.seed)
            self.generator.manual_seed((self.seed * 1_000_003 + info.seed) % (2**63))
        return float(torch.rand((), generator=self.generator))

    def _uniform(self, lim: float) -> float:
        return (2.0 * self._rand() - 1.0) * lim

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        import torch.nn.functional as F

        item = dict(item)
        image, lesion = item["image"], item.get("lesion")
        if self._rand() < self.hflip_p:
            image = image.flip(-1)
            lesion = lesion.flip(-1) if lesion is not None else None
        if self._rand() < self.vflip_p:
            image = image.flip(-2)
            lesion = lesion.flip(-2) if lesion is not None else None
        if self._rand() < self.ssr_p:
            angle = math.radians(self._uniform(self.rotate_deg))
            zoom = 1.0 + self._uniform(self.scale)
            tx, ty = 2.0 * self._uniform(self.shift), 2.0 * self._uniform(self.shift)
            c, s = math.cos(angle) / zoom, math.sin(angle) / zoom
            # output -> input sampling grid in normalised [-1, 1] coordinates
            theta = torch.tensor([[c, -s, -tx], [s, c, -ty]], dtype=torch.float32)[None]
            grid = F.affine_grid(theta, [1, 1, *image.shape[-2:]], align_corners=False)
            shifted = (image - self.fill)[None]
            image = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            image = image[0] + self.fill
            if lesion is not None:
                lesion = F.grid_sample(lesion[None], grid, mode="nearest", align_corners=False)[0]
        if self.intensity > 0.0 or self.noise_std > 0.0:
            image = self._jitter(image)
        item["image"] = image.contiguous()
        if lesion is not None:
            item["lesion"] = lesion.contiguous()
        return item

    def _jitter(self, image: torch.Tensor) -> torch.Tensor:
        if self.intensity > 0.0:
            image = image * (1.0 + self._uniform(self.intensity)) + self._uniform(self.intensity)
        if self.noise_std > 0.0:
            noise = torch.randn(image.shape, generator=self.generator, dtype=image.dtype)
            image = image + self.noise_std * noise
        return image.clamp(-1.0, 1.0)
