"""A procedural abdominal CT phantom for fast, deterministic tests (docs/method.md §3.1).

One axial slice per ``array[k]`` in canonical orientation (identity direction = LPS): rows run
anterior -> posterior, columns patient right -> left, k inferior -> superior. Anatomy is drawn in
fractions of the in-plane field, so any shape works:

* air -1000 HU outside an elliptic body; a subcutaneous fat ring (-100 HU); soft tissue 40 HU;
* paraspinal and psoas muscles (55 HU); a vertebral body (cortex 700 HU, marrow 250 HU);
* two contrast-enhanced kidneys (150 HU, label 1), ellipsoids beside the spine, cut by the lower
  edge of the volume like the real CT's (docs/method.md §3.1);
* the liver (60 HU, label 2) on the patient's right in the upper two thirds;
* optionally the spleen (110 HU, label 3) on the patient's left;
* Gaussian noise (sigma ``noise_hu``), then lesions: ellipsoids of ``lesion_hu`` (hyper- or
  hypo-dense) inside a host organ, clipped to it, with the exact lesion mask.

It is not a substitute for the real CT (docs/method.md §3.1) in any reported figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError

LABELS = {"background": 0, "kidney": 1, "liver": 2, "spleen": 3}
HU = {"air": -1000.0, "fat": -100.0, "soft": 40.0, "muscle": 55.0, "cortex": 700.0, "marrow": 250.0,
      "kidney": 150.0, "liver": 60.0, "spleen": 110.0}  # fmt: skip


def _ellipse(yy, xx, cy, cx, ry, rx, scale=1.0):
    """Boolean ellipse mask; ``scale`` (broadcast over k) shrinks it (<=0 -> empty)."""
    scale = np.maximum(np.asarray(scale, dtype=np.float32), 1e-6)
    return ((yy - cy) / (ry * scale)) ** 2 + ((xx - cx) / (rx * scale)) ** 2 <= 1.0


def _z_profile(kk, k0, k1):
    """Ellipsoid cross-section scale along k for an organ spanning fractions [k0, k1] (0 outside)."""
    c, r = (k0 + k1) / 2, (k1 - k0) / 2
    return np.sqrt(np.clip(1.0 - ((kk - c) / r) ** 2, 0.0, None))


def make_phantom(
    shape: tuple[int, int, int] = (24, 96, 96),
    spacing: tuple[float, float, float] = (3.6, 3.6, 5.0),
    seed: int = 0,
    lesions: int | Sequence[dict[str, Any]] = 0,
    lesion_hu: float = 30.0,
    lesion_radius_mm: tuple[float, float] = (6.0, 12.0),
    lesion_host: int = 1,
    lesion_label: int | None = None,
    noise_hu: float = 15.0,
    spleen: bool = True,
):
    """Build a phantom CT, its organ label map and its lesion mask.

    Args:
        shape: (k, j, i) voxels.
        spacing: (i, j, k) mm (SimpleITK order); used for lesion sizes in mm.
        seed: everything (noise, lesion placement) is a function of the seed.
        lesions: a number of random lesions, or explicit ones as dicts with ``center`` (k, j, i)
            voxels, ``radius_mm`` (float or (r_k, r_j, r_i)) and optional ``hu``.
        lesion_hu: lesion intensity (e.g. 30 = hypodense in the 150 HU kidney, 300 = hyperdense).
        lesion_radius_mm: range of random lesion radii.
        lesion_host: label id that hosts random lesions; lesions are clipped to it.
        lesion_label: if given, lesion voxels get this id in the label map (else the host id stays).
        noise_hu: standard deviation of the Gaussian noise.
        spleen: draw the spleen (label 3).

    Returns:
        ``(image, label, lesion)`` Volumes with identity direction: float32 HU, uint8 labels
        (1 kidney, 2 liver, 3 spleen), uint8 lesion mask.
    """
    from coin_core.io import Volume

    K, H, W = (int(s) for s in shape)
    if min(K, H, W) < 4:
        raise CoinError(f"make_phantom: shape must be at least 4 voxels per axis, got {shape}.")
    rng = np.random.default_rng(seed)
    kk = ((np.arange(K, dtype=np.float32) + 0.5) / K)[:, None, None]
    yy = ((np.arange(H, dtype=np.float32) + 0.5) / H)[None, :, None]
    xx = ((np.arange(W, dtype=np.float32) + 0.5) / W)[None, None, :]
    full = (K, H, W)

    img = np.full(full, HU["air"], dtype=np.float32)
    lab = np.zeros(full, dtype=np.uint8)
    body = np.broadcast_to(_ellipse(yy, xx, 0.5, 0.5, 0.36, 0.45), full)
    inner = np.broadcast_to(_ellipse(yy, xx, 0.5, 0.5, 0.32, 0.41), full)
    img[body] = HU["fat"]
    img[inner] = HU["soft"]
    for cy, cx, r in ((0.78, 0.44, 0.05), (0.78, 0.56, 0.05), (0.64, 0.42, 0.035), (0.64, 0.58, 0.035)):
        img[np.broadcast_to(_ellipse(yy, xx, cy, cx, r, r), full)] = HU["muscle"]  # paraspinal, psoas
    img[np.broadcast_to(_ellipse(yy, xx, 0.68, 0.5, 0.055, 0.055), full)] = HU["cortex"]
    img[np.broadcast_to(_ellipse(yy, xx, 0.68, 0.5, 0.04, 0.04), full)] = HU["marrow"]

    organs = [("liver", 2, 0.40, 0.31, 0.17, 0.15, (0.30, 1.05))]
    if spleen:
        organs.append(("spleen", 3, 0.55, 0.76, 0.08, 0.06, (0.45, 0.95)))
    organs += [("kidney", 1, 0.63, cx, 0.075, 0.055, (-0.15, 0.6)) for cx in (0.32, 0.68)]
    for name, lid, cy, cx, ry, rx, (k0, k1) in organs:
        m = _ellipse(yy, xx, cy, cx, ry, rx, _z_profile(kk, k0, k1)) & (_z_profile(kk, k0, k1) > 0.05)
        m &= inner
        img[m] = HU[name]
        lab[m] = lid

    if noise_hu > 0:
        img += rng.normal(0.0, noise_hu, size=full).astype(np.float32)

    lesion = np.zeros(full, dtype=np.uint8)
    specs = _lesion_specs(lesions, lab, lesion_host, lesion_hu, lesion_radius_mm, rng)
    sk, sj, si = float(spacing[2]), float(spacing[1]), float(spacing[0])
    ks, js, is_ = (np.arange(n, dtype=np.float32) for n in full)
    for spec in specs:
        ck, cj, ci = (float(v) for v in spec["center"])
        r = spec["radius_mm"]
        rk, rj, ri = (float(r),) * 3 if np.isscalar(r) else (float(v) for v in r)
        d = (((ks - ck) * sk / rk) ** 2)[:, None, None] + (((js - cj) * sj / rj) ** 2)[None, :, None]
        m = (d + (((is_ - ci) * si / ri) ** 2)[None, None, :]) <= 1.0
        m &= (lab == lesion_host) if spec.get("clip", True) else body
        noise = rng.normal(0.0, noise_hu, size=int(m.sum())) if noise_hu > 0 else 0.0
        img[m] = float(spec.get("hu", lesion_hu)) + noise
        lesion[m] = 1
    if lesion_label is not None:
        lab[lesion > 0] = int(lesion_label)

    geometry = {"spacing": tuple(float(s) for s in spacing), "origin": (0.0, 0.0, 0.0),
                "direction": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)}  # fmt: skip
    return Volume(img, **geometry), Volume(lab, **geometry), Volume(lesion, **geometry)


def _lesion_specs(lesions, lab, host, hu, radius_mm, rng) -> list[dict[str, Any]]:
    if not isinstance(lesions, (int, np.integer)):
        return [dict(s) for s in lesions]
    if lesions < 0:
        raise CoinError(f"make_phantom: lesions must be >= 0, got {lesions}.")
    if lesions == 0:
        return []
    candidates = np.argwhere(lab == host)
    if len(candidates) == 0:
        raise CoinError(f"make_phantom: no voxel of host label {host} to place lesions in.")
    picks = candidates[rng.choice(len(candidates), size=int(lesions), replace=True)]
    radii = rng.uniform(radius_mm[0], radius_mm[1], size=int(lesions))
    return [
        {"center": tuple(int(v) for v in p), "radius_mm": float(r), "hu": hu}
        for p, r in zip(picks, radii, strict=True)
    ]


def write_phantom_dataset(
    root: str | os.PathLike[str],
    n_cases: int = 2,
    shape: tuple[int, int, int] = (24, 96, 96),
    seed: int = 0,
    prefix: str = "phantom",
    **phantom_kwargs: Any,
):
    """Write ``n_cases`` phantoms (seeds ``seed + c``) in the nnU-Net raw layout and read it back.

    ``phantom_kwargs`` go to :func:`make_phantom`. When ``lesion_label`` is given, the
    dataset.json lists it as "lesion". Returns the :class:`~coin_core.data.nnunet.NnunetDataset`.
    """
    from coin_core.data.nnunet import read_nnunet, write_dataset_json, write_nnunet_case

    if n_cases < 1:
        raise CoinError(f"write_phantom_dataset: n_cases must be >= 1, got {n_cases}.")
    root = Path(root)
    for c in range(n_cases):
        image, label, _ = make_phantom(shape=shape, seed=seed + c, **phantom_kwargs)
        write_nnunet_case(
            root, f"{prefix}_{c:03d}", image.with_array(image.array.round().astype(np.int16)), label
        )
    labels = dict(LABELS)
    if phantom_kwargs.get("lesion_label") is not None:
        labels["lesion"] = int(phantom_kwargs["lesion_label"])
    write_dataset_json(root, labels, num_training=n_cases, name="coin-phantom")
    return read_nnunet(root)
