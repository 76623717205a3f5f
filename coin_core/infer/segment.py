"""Volume inference: a CT volume and a COIN model in, counterfactual, difference map and mask out.

Steps (docs/method.md §8.1, per axial slice, in batches):

1. ``to_canonical`` (axes permuted / flipped only, no resampling), so axial slices are ``array[k]``;
2. the model's intensity window maps HU to [-1, 1]; each slice goes to the model's square input;
3. ``P(abnormal)`` for every slice (``probability_before``) and, in the same classifier pass, the
   anatomy gate's score (docs/anatomy_gate.md): slices outside the model's training anatomy get no
   counterfactual (a host-organ slice filter, when given, decides instead);
4. a counterfactual for the remaining slices with ``probability_before >= screening`` (every one when
   ``screening`` is None), and its probability (``probability_after``; equal to the first where
   no counterfactual was made, since the image is then unchanged);
5. the change ``x_cf - x`` goes back to the native slice size (bilinear); the difference map is
   its absolute value / 2, i.e. ``|x - x_cf|`` with both images in [0, 1] units, as the paper's
   threshold 0.25 expects;
6. threshold and clean-up (:func:`coin_core.infer.postprocess.threshold_difference`), then
   ``from_canonical`` back to the input's grid.

The counterfactual volume is in HU: the input plus the model's change, where the input lies
inside the model's intensity window; outside the window (air, bone, metal beyond ``lo`` / ``hi``)
the window saturates, the model cannot see the voxel, and the counterfactual keeps the input HU.
Where no counterfactual was made, it is the input exactly.

Memory: the input, the three outputs (counterfactual in the input's dtype, difference float32,
mask uint8, plus the mask's canonical copy) and one batch of slices; the input and the outputs are
read and written through canonical *views* (:mod:`coin_core.infer.views`), never copied whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.infer.overview import PreviewSlice, pick_slices
from coin_core.infer.postprocess import check_margin, check_postprocess, threshold_array
from coin_core.infer.precision import autocast, inference_model, resolve_precision, use_channels_last
from coin_core.infer.views import axial_geometry, canonical_view
from coin_core.progress import (
    EtaEstimator,
    ProgressCallback,
    ProgressEvent,
    StopCallback,
    check_stop,
    report,
)

if TYPE_CHECKING:
    from coin_core.io import Volume

MIN_INPLANE = 16
"""Smallest in-plane size (pixels) accepted: anything thinner is not an axial CT slice."""


@dataclass
class SegmentationResult:
    """Outputs of :func:`segment_volume`; volumes share the input's native geometry.

    Attributes:
        probability_before: (K,) P(abnormal) of each axial slice, canonical order (inferior first).
        probability_after: (K,) P(abnormal) of the counterfactual (= before where none was made).
        counterfactual_made: (K,) True where a counterfactual was computed.
        slice_z_mm: (K,) superior (LPS z) coordinate of each axial slice, in mm.
        lesion_voxels: (K,) mask voxels in each axial slice.
        counterfactual: HU volume, the input with the model's change applied.
        difference: |x - x_cf| in [0, 1] units, float32.
        mask: uint8 lesion mask (1 = lesion) after threshold and post-processing.
        threshold: the threshold used ([0, 1] units).
        postprocess: the post-processing mode used.
        margin_mm: the mask margin used (mm; the cleaned mask grown in-plane by it; 0 = none).
        preview: the most abnormal slices (canonical orientation) for the overview picture.
        preview_pixel_mm: (row, column) pixel size of the preview slices.
        window: the model's intensity window (lo, hi) in HU.
        gate_score: (K,) the anatomy gate's score per slice (NaN where the model has no gate).
        outside_anatomy: (K,) True where the gate placed the slice outside the model's training
            anatomy (no counterfactual was made there).
        info: device, precision, batch size, timings.
    """

    probability_before: np.ndarray
    probability_after: np.ndarray
    counterfactual_made: np.ndarray
    slice_z_mm: np.ndarray
    lesion_voxels: np.ndarray
    counterfactual: Volume
    difference: Volume
    mask: Volume
    threshold: float
    postprocess: str
    margin_mm: float = 0.0
    preview: list[PreviewSlice] = field(default_factory=list)
    preview_pixel_mm: tuple[float, float] = (1.0, 1.0)
    window: tuple[float, float] = (-1000.0, 1000.0)
    gate_score: np.ndarray | None = None
    outside_anatomy: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_volume(volume: Volume) -> None:
    """Raise :class:`CoinError` unless ``volume`` is a 3D scalar image."""
    arr = np.asarray(volume.array)
    if arr.ndim != 3:
        raise CoinError(
            f"The input image has {arr.ndim} dimensions (shape {arr.shape}); COIN needs a 3D CT volume.",
            "give a 3D CT (NIfTI, NRRD, MHA or a DICOM series folder), not a 2D picture or a multi-"
            "component image.",
        )
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise CoinError(
            f"The input image has voxel type {arr.dtype}; a scalar CT in HU is needed.",
            "convert it to a single-channel integer or float image.",
        )


def _model_device(model: Any):  # noqa: ANN202
    return next(model.classifier.parameters()).device


def _prepare_model(model: Any, device: str | None) -> Any:
    """Move the networks to the requested device (``auto``: stay where they are); channels_last."""
    import torch

    from coin_core.device import pick_device

    dev = _model_device(model) if device in (None, "auto") else pick_device(device)
    fmt = torch.channels_last if use_channels_last(dev) else torch.contiguous_format
    for name in ("classifier", "encoder", "generator"):
        getattr(model, name).to(device=dev, memory_format=fmt).eval()
    return dev


def default_batch_size(device, input_size: int) -> int:  # noqa: ANN001
    """8 slices per call, except 2 on CPU for 256-pixel (paper-size) inputs.

    Measured with ``benchmarks/segment_speed.py``-style runs on the 2-core CPU here (one thread, bf16):
    the paper preset ran 2.45 slices/s at batch 1-2 and 1.88 at batch 8 (activations of a batch of
    8 overflow the caches); with the sub-pixel generator, 4.77 at batch 2, 4.24 at 4, 4.01 at 1.
    The small preset (128 pixels) is fastest at 4-8.
    """
    import torch

    if torch.device(device).type == "cpu" and input_size >= 256:
        return 2
    return 8


def host_slice_filter(
    volume: Volume, host_labels: Volume, label_ids: list[int], min_pixels: int = 32
) -> np.ndarray:
    """Slices (canonical axial order) with more than ``min_pixels`` host-organ voxels.

    Args:
        volume: the CT, to check that the label map is on the same grid.
        host_labels: a label map on the CT's grid (e.g. TotalSegmentator's output).
        label_ids: the host organ's label ids.
        min_pixels: the training data's slice filter (benchmark.json ``min_host_pixels``).
    """
    from coin_core.data.labels import filter_slices

    lab = _canonical_labels(volume, host_labels)
    keep = np.zeros(lab.shape[0], dtype=bool)
    keep[filter_slices(lab, label_ids, min_pixels)] = True
    return keep


def host_mask(volume: Volume, host_labels: Volume, label_ids: list[int]) -> np.ndarray:
    """bool (K, H, W): the host organ in canonical axial order, for a model's host-organ box."""
    return np.isin(_canonical_labels(volume, host_labels), list(label_ids))


def _canonical_labels(volume: Volume, host_labels: Volume) -> np.ndarray:
    if host_labels.array.shape != volume.array.shape:
        raise CoinError(
            f"The host label map has shape {host_labels.array.shape}; the CT has {volume.array.shape}.",
            "give a label map on the CT's own voxel grid.",
        )
    return canonical_view(host_labels.array, host_labels.direction)


def segment_volume(
    volume: Volume,
    model: Any,
    *,
    threshold: float | None = None,
    screening: float | None = 0.5,
    postprocess: str = "paper",
    margin_mm: float | None = None,
    batch_size: int | None = None,
    device: str | None = "auto",
    precision: str = "auto",
    preview_slices: int = 4,
    slice_filter: np.ndarray | None = None,
    anatomy_gate: bool = True,
    host: np.ndarray | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> SegmentationResult:
    """Segment lesions in a CT volume with a COIN model.

    Args:
        volume: the CT (HU) in any orientation.
        model: a loaded model (:func:`coin_core.modelfile.load_model`).
        threshold: difference threshold in [0, 1] units; None = the model card's (paper: 0.25).
        screening: counterfactuals only for slices with P(abnormal) >= this; None = every slice.
        postprocess: "paper", "3d" or "none" (:mod:`coin_core.infer.postprocess`).
        margin_mm: grow the cleaned mask in-plane by this many mm; None = the model card's (tuned
            on val with its threshold; 0 = none, the paper).
        batch_size: slices per network call; memory grows with it, not with the volume. None picks
            one (:func:`default_batch_size`).
        device: "auto" keeps the model where it is; a name ("cpu", "cuda", ...) moves it there.
        precision: "auto", "fp32", "bf16" or "fp16" (:mod:`coin_core.infer.precision`).
        preview_slices: how many of the most abnormal slices to keep for the overview picture.
        slice_filter: optional boolean per canonical axial slice (inferior first); slices marked False
            get no counterfactual. The classifier was trained on host-organ slices only, so on other
            anatomy its answer means nothing: :func:`host_slice_filter` builds this from a label map.
            When given, it replaces the anatomy gate.
        anatomy_gate: without ``slice_filter``, skip the slices the model's anatomy gate places
            outside its training anatomy (docs/anatomy_gate.md); a model without a gate is refused.
            False processes every slice the screening passes.
        host: bool (K, H, W), the host organ in canonical axial order (:func:`host_mask`). A model
            with a host-organ box (``card.input_crop``, docs/recipes.md) needs it: the box of each
            slice is centred on it, and slices without host pixels get no counterfactual.
        progress: receives a ``"segment"`` event before the first batch and after each batch (with
            ``eta_s`` and ``slices_per_s``), then ``"postprocess"`` events.
        should_stop: checked before every batch; True raises :class:`CoinCancelled`.

    Returns:
        A :class:`SegmentationResult` in the input's native geometry.
    """
    thr = _check_request(volume, model, threshold, screening, postprocess, batch_size)
    margin = check_margin(model.card.margin_mm if margin_mm is None else margin_mm)
    hu = canonical_view(volume.array, volume.direction)  # a view: the input is not copied
    _check_inplane(hu.shape)
    slice_filter = _check_slice_filter(slice_filter, hu.shape[0])
    boxes = _host_boxes(model, host, hu.shape, axial_geometry(volume)[1])
    if boxes is not None:
        has_box = np.array([b is not None for b in boxes])
        slice_filter = has_box if slice_filter is None else slice_filter & has_box
    gate_mode = _gate_mode(model, slice_filter, anatomy_gate)
    runner = _Runner.start(model, device, precision, batch_size, hu.shape, boxes)
    slices = _SliceRecord.empty(hu.shape[0])
    maps = _OutputMaps.like(volume)
    runner.run(hu, slices, maps, screening, slice_filter, gate_mode, progress, should_stop)
    what = f"threshold {thr:g}, post-processing '{postprocess}', margin {margin:g} mm"
    report(progress, ProgressEvent("postprocess", 0, 1, what))
    pixel_mm = axial_geometry(volume)[1]
    mask_canon = threshold_array(maps.diff_canon, thr, postprocess, margin, pixel_mm)
    report(progress, ProgressEvent("postprocess", 1, 1, f"{int(mask_canon.sum())} lesion voxels"))
    settings = {
        "threshold": thr,
        "postprocess": postprocess,
        "margin_mm": margin,
        "screening": screening,
        "gate_mode": gate_mode,
    }
    return _result(volume, model, hu, slices, maps, mask_canon, settings, preview_slices, runner)


def _check_request(
    volume: Volume,
    model: Any,
    threshold: float | None,
    screening: float | None,
    postprocess: str,
    batch_size: int | None,
) -> float:
    """Check the arguments before any slow work; returns the threshold to use."""
    check_volume(volume)
    check_postprocess(postprocess)
    if batch_size is not None and batch_size < 1:
        raise CoinError(f"Batch size {batch_size} is too small.", "use a batch size of 1 or more.")
    if screening is not None and not 0.0 <= screening <= 1.0:
        raise CoinError(f"Screening probability {screening} is outside [0, 1].", "use e.g. 0.5.")
    thr = float(model.card.threshold if threshold is None else threshold)
    if not 0.0 <= thr <= 1.0:
        raise CoinError(
            f"Threshold {thr} is outside [0, 1].", "the difference map is in [0, 1] units; use e.g. 0.25."
        )
    return thr


def _check_inplane(shape: tuple[int, ...]) -> None:
    rows, cols = shape[1:]
    if min(rows, cols) < MIN_INPLANE:
        raise CoinError(
            f"The axial slices of the input are {rows} x {cols} pixels; that is not an axial CT.",
            "give a 3D CT volume with at least 16 x 16 pixels per axial slice.",
        )


def _check_slice_filter(slice_filter: np.ndarray | None, n_slices: int) -> np.ndarray | None:
    if slice_filter is None:
        return None
    slice_filter = np.asarray(slice_filter, dtype=bool)
    if slice_filter.shape != (n_slices,):
        raise CoinError(
            f"The slice filter has shape {slice_filter.shape}; the volume has {n_slices} axial slices.",
            "give one True/False per axial slice (see host_slice_filter).",
        )
    return slice_filter


def _host_boxes(
    model: Any, host: np.ndarray | None, shape: tuple[int, ...], pixel_mm: tuple[float, float]
) -> list | None:
    """The host-organ box of every slice for a model that has one (None for a whole-slice model)."""
    crop = getattr(model.card, "input_crop", None)
    if crop is None:
        return None
    if host is None:
        raise no_host_error(crop)
    host = np.asarray(host, dtype=bool)
    if host.shape != tuple(shape):
        raise CoinError(
            f"The host mask has shape {host.shape}; the CT's canonical shape is {tuple(shape)}.",
            "build it with coin_core.infer.segment.host_mask from a label map on the CT's grid.",
        )
    return crop.boxes(host, pixel_mm)


def no_host_error(crop: Any) -> CoinError:
    """The refusal for a host-box model when no host-organ mask is given."""
    return CoinError(
        f"This model looks at a {crop.size_mm[0]:g} x {crop.size_mm[1]:g} mm box around the host organ, "
        "so it needs the host organ's mask, which was not given.",
        "give a host-organ label map on the CT's grid (coin segment --host-mask LABELMAP; in Slicer "
        "and on the web page: the host-organ segmentation), or use a whole-slice model.",
    )


def _gate_mode(model: Any, slice_filter: np.ndarray | None, anatomy_gate: bool) -> str:
    """Which rule picks the slices a counterfactual may be made on: "host mask", "anatomy gate" or "off"."""
    if slice_filter is not None:
        return "host mask"
    if not anatomy_gate:
        return "off"
    if getattr(model, "gate", None) is None:
        raise no_gate_error()
    return "anatomy gate"


def no_gate_error() -> CoinError:
    """The refusal for a model without an anatomy gate, when no host mask decides instead."""
    return CoinError(
        "This model has no anatomy gate, so coin cannot tell which slices show the anatomy it was "
        "trained on; on other anatomy (e.g. shoulders for a kidney model) it reports lesions that do "
        "not exist.",
        "fit one on the slice set the model was trained on (coin model fit-gate --model MODEL --data "
        "BENCH), or give a host-organ label map (--host-mask), or pass --no-gate to process every "
        "slice anyway.",
    )


@dataclass
class _SliceRecord:
    """Per canonical axial slice: what the classifier and the gate said, and what was made."""

    p_before: np.ndarray
    p_after: np.ndarray
    made: np.ndarray
    gate_score: np.ndarray
    outside: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _SliceRecord:
        return cls(
            p_before=np.zeros(n, dtype=np.float32),
            p_after=np.zeros(n, dtype=np.float32),
            made=np.zeros(n, dtype=bool),
            gate_score=np.full(n, np.nan, dtype=np.float64),
            outside=np.zeros(n, dtype=bool),
        )


@dataclass
class _OutputMaps:
    """The counterfactual (input dtype) and difference (float32) volumes, native order + canonical views."""

    cf_native: np.ndarray
    diff_native: np.ndarray
    cf_canon: np.ndarray
    diff_canon: np.ndarray

    @classmethod
    def like(cls, volume: Volume) -> _OutputMaps:
        cf_native = np.array(volume.array, copy=True)  # the input where no change is made
        diff_native = np.zeros(volume.array.shape, dtype=np.float32)
        return cls(
            cf_native,
            diff_native,
            canonical_view(cf_native, volume.direction),
            canonical_view(diff_native, volume.direction),
        )


@dataclass
class _Runner:
    """The networks on their device and precision, and the slice geometry, for the batch loop."""

    net: Any
    card: Any
    dev: Any
    prec: str
    fmt: Any
    geom: Any
    batch_size: int
    boxes: list | None = None
    seconds: float = 0.0
    _middle: Any = None  # the box of the slices without host pixels (set once, on first use)

    @classmethod
    def start(
        cls,
        model: Any,
        device: str | None,
        precision: str,
        batch_size: int | None,
        shape: tuple[int, ...],
        boxes: list | None = None,
    ) -> _Runner:
        import torch

        from coin_core.data.slices import plan_slice

        card = model.card
        dev = _prepare_model(model, device)
        prec = resolve_precision(precision, dev)
        return cls(
            net=inference_model(model, prec, dev),
            card=card,
            dev=dev,
            prec=prec,
            fmt=torch.channels_last if use_channels_last(dev) else torch.contiguous_format,
            geom=plan_slice(tuple(shape[1:]), int(card.input_size)),
            batch_size=batch_size or default_batch_size(dev, int(card.input_size)),
            boxes=boxes,
        )

    def run(
        self,
        hu: np.ndarray,
        slices: _SliceRecord,
        maps: _OutputMaps,
        screening: float | None,
        slice_filter: np.ndarray | None,
        gate_mode: str,
        progress: ProgressCallback | None,
        should_stop: StopCallback | None,
    ) -> None:
        """Classify every slice, gate and screen, and make the counterfactuals of the chosen ones."""
        import torch

        n_slices = hu.shape[0]
        report(progress, ProgressEvent("segment", 0, n_slices, f"slices 0/{n_slices}", {"eta_s": None}))
        eta = EtaEstimator(n_slices)
        start = time.monotonic()
        with torch.inference_mode():
            for k0 in range(0, n_slices, self.batch_size):
                check_stop(should_stop)
                k1 = min(n_slices, k0 + self.batch_size)
                x = self._model_input(hu[k0:k1], k0)
                self._classify(x, k0, slices, gate_mode)
                sel = self._select(k0, k1, slices, screening, slice_filter)
                if sel.any():
                    self._counterfactuals(x, hu, k0 + np.flatnonzero(sel), sel, slices, maps)
                rate = k1 / max(time.monotonic() - start, 1e-9)
                report(
                    progress,
                    ProgressEvent(
                        "segment",
                        k1,
                        n_slices,
                        f"slices {k1}/{n_slices}",
                        {"eta_s": eta.eta_s(k1), "slices_per_s": round(rate, 3)},
                    ),
                )
        self.seconds = time.monotonic() - start

    def _model_input(self, hu_batch: np.ndarray, k0: int) -> Any:
        """HU slices -> [B, 1, S, S] in [-1, 1] at the model's input size (or host boxes), on the device."""
        import torch

        from coin_core.data.crop import crop_slices
        from coin_core.data.slices import to_model

        hu_b = torch.from_numpy(np.ascontiguousarray(hu_batch, dtype=np.float32)).to(self.dev)
        norm = self.card.window.normalize(hu_b)
        if self.boxes is None:
            x = to_model(norm, self.geom, "image")[:, None]
        else:
            x = crop_slices(norm, self._boxes(k0, k0 + hu_batch.shape[0]), self.geom.size, "image")[:, None]
        return x.contiguous(memory_format=self.fmt)

    def _boxes(self, k0: int, k1: int) -> list:
        """The boxes of slices k0..k1; a slice without host pixels gets the middle of the slice
        (classified only: the slice filter keeps it from getting a counterfactual)."""
        from coin_core.data.crop import Box

        if self._middle is None:
            rows, cols = self.geom.native_shape
            ref = next((b for b in self.boxes if b is not None), Box(0, 0, rows, cols))
            self._middle = Box((rows - ref.h) // 2, (cols - ref.w) // 2, ref.h, ref.w)
        return [self._middle if self.boxes[k] is None else self.boxes[k] for k in range(k0, k1)]

    def _classify(self, x: Any, k0: int, slices: _SliceRecord, gate_mode: str) -> None:
        """P(abnormal) and, when the model has a gate, its score; marks slices outside the gate."""
        k1 = k0 + x.shape[0]
        with autocast(self.prec, self.dev):
            p, scores = self.net.probability_and_gate_score(x)
        slices.p_before[k0:k1] = p.float().reshape(-1).cpu().numpy()
        slices.p_after[k0:k1] = slices.p_before[k0:k1]
        if scores is not None:
            slices.gate_score[k0:k1] = scores
            if gate_mode == "anatomy gate":
                slices.outside[k0:k1] = ~self.net.gate.passes(scores)

    @staticmethod
    def _select(
        k0: int, k1: int, slices: _SliceRecord, screening: float | None, slice_filter: np.ndarray | None
    ) -> np.ndarray:
        """Slices of the batch that get a counterfactual: screened, on the host organ or inside the gate."""
        sel = np.ones(k1 - k0, dtype=bool) if screening is None else slices.p_before[k0:k1] >= screening
        if slice_filter is not None:
            sel &= slice_filter[k0:k1]
        return sel & ~slices.outside[k0:k1]

    def _counterfactuals(
        self, x: Any, hu: np.ndarray, ks: np.ndarray, sel: np.ndarray, slices: _SliceRecord, maps: _OutputMaps
    ) -> None:
        """Counterfactuals of the selected slices; difference and HU change written at native size."""
        import torch

        from coin_core.data.slices import to_native
        from coin_core.models.conditioning import difference_from_change

        xs = x.index_select(0, torch.from_numpy(np.flatnonzero(sel)).to(self.dev))
        with autocast(self.prec, self.dev):
            x_cf = self.net.counterfactual(xs).float()
            pa = self.net.probability(x_cf.contiguous(memory_format=self.fmt)).float().reshape(-1)
        change = (x_cf - xs.float())[:, 0]
        if self.boxes is None:
            delta = to_native(change, self.geom, "image")  # one resize serves both outputs
        else:
            from coin_core.data.crop import paste_slices

            delta = paste_slices(change, [self.boxes[int(k)] for k in ks], self.geom.native_shape)
        window = self.card.window
        half_range = float(np.float32((window.hi - window.lo) / 2.0))
        slices.made[ks] = True
        slices.p_after[ks] = pa.cpu().numpy()
        maps.diff_canon[ks] = difference_from_change(delta).cpu().numpy()
        change = (delta * half_range).cpu().numpy()
        maps.cf_canon[ks] = _apply_change(hu[ks], change, window, maps.cf_canon.dtype)


def _result(
    volume: Volume,
    model: Any,
    hu: np.ndarray,
    slices: _SliceRecord,
    maps: _OutputMaps,
    mask_canon: np.ndarray,
    settings: dict[str, Any],
    preview_slices: int,
    runner: _Runner,
) -> SegmentationResult:
    """Assemble the result: preview slices, volumes in the input's geometry, counts and timings."""
    from coin_core.io import from_canonical

    n_slices = hu.shape[0]
    ranking = np.where(slices.made, slices.p_before, slices.p_before - 2.0)
    preview = [
        PreviewSlice(
            k,
            float(slices.p_before[k]),
            float(slices.p_after[k]),
            hu[k].copy(),
            maps.cf_canon[k].copy(),
            maps.diff_canon[k].copy(),
            mask_canon[k].copy(),
        )
        for k in pick_slices(ranking, mask_canon, n=preview_slices)
    ]
    slice_z, pixel_mm = axial_geometry(volume)
    window = model.card.window
    seconds = runner.seconds
    return SegmentationResult(
        probability_before=slices.p_before,
        probability_after=slices.p_after,
        counterfactual_made=slices.made,
        slice_z_mm=slice_z,
        lesion_voxels=mask_canon.reshape(n_slices, -1).sum(axis=1, dtype=np.int64),
        counterfactual=volume.with_array(maps.cf_native),
        difference=volume.with_array(maps.diff_native),
        mask=volume.with_array(np.ascontiguousarray(from_canonical(mask_canon, volume), dtype=np.uint8)),
        threshold=settings["threshold"],
        postprocess=settings["postprocess"],
        margin_mm=settings["margin_mm"],
        preview=preview,
        preview_pixel_mm=pixel_mm,
        window=(float(window.lo), float(window.hi)),
        gate_score=slices.gate_score,
        outside_anatomy=slices.outside,
        info={
            "device": str(runner.dev),
            "precision": runner.prec,
            "batch_size": runner.batch_size,
            "screening": settings["screening"],
            "slices": n_slices,
            "counterfactual_slices": int(slices.made.sum()),
            "slice_selection": settings["gate_mode"],
            "outside_anatomy_slices": int(slices.outside.sum()),
            "network_seconds": round(seconds, 3),
            "slices_per_s": round(n_slices / max(seconds, 1e-9), 3),
        },
    )


def _apply_change(hu: np.ndarray, change_hu: np.ndarray, window: Any, dtype: Any) -> np.ndarray:
    """Input HU plus the model's change, inside the window only; outside, the input is kept."""
    lo, hi = np.float32(window.lo), np.float32(window.hi)
    src = hu.astype(np.float32)
    inside = (src >= lo) & (src <= hi)
    out = np.where(inside, np.clip(src + change_hu, lo, hi), src)
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(dtype)
