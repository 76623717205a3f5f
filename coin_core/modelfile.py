"""Model folders: the trained f, E and G as safetensors plus a JSON model card (docs/internals.md).

::

    MODEL/
      model.json              the card (:class:`ModelCard`)
      classifier.safetensors  f
      encoder.safetensors     E
      generator.safetensors   G

No pickle is involved anywhere, so loading a downloaded model cannot run code. :func:`load_model`
validates the card and checks that the weights fit the architecture it states; every problem is a
:class:`CoinError` that says what to do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from coin_core import __version__
from coin_core.data.window import IntensityWindow
from coin_core.errors import CoinError
from coin_core.fileutil import OutputSet, atomic_path
from coin_core.infer.postprocess import DEFAULT_MARGIN_MM, DEFAULT_THRESHOLD, MAX_MARGIN_MM
from coin_core.models.config import NetworkConfig

FORMAT_VERSION = 1
CARD = "model.json"
PARTS = ("classifier", "encoder", "generator")
METHODS = ("coin", "singla")
_REQUIRED = ("format_version", "method", "architecture", "input_size", "window", "threshold")


@dataclass(frozen=True)
class ModelCard:
    """What a model folder says about itself.

    Attributes:
        method: "coin" (counterfactual towards normal, c = 0) or "singla" (c = bin(1 - p)).
        architecture: the networks' configuration.
        input_size: side of the square model input (= ``architecture.input_size``).
        window: the intensity window the model was trained with.
        threshold: default difference threshold in [0, 1] units (|x - x_cf| / 2 > threshold).
        threshold_source: where the threshold comes from (None: not recorded, cards written before
            thresholds were tuned; see :func:`threshold_source`), e.g. ``{"method": "val-tuned micro
            IoU", "split": "val", "post_processing": "paper", ...}``.
        margin_mm: default mask margin in mm, tuned on val with the threshold (the cleaned mask is
            grown in-plane by it; 0 = none, the paper; cards written before margins read as 0).
        label_names: names of class 0 and class 1.
        training_data: summary of the training set (source, slice counts, ...).
        validation_metrics: numbers measured on the validation split.
        software_version: the coin version that wrote the folder.
        created: ISO time stamp (UTC).
        format_version: version of this layout (1).
        anatomy_gate: the ``anatomy_gate`` section (empty when the model has none;
            :mod:`coin_core.gate.store`): which slices look like the training slices.
        input_crop: the host-organ box the networks see (:class:`coin_core.data.crop.HostCrop`;
            None: the whole slice). Such a model needs the host mask at inference.
    """

    method: str
    architecture: NetworkConfig
    input_size: int
    window: IntensityWindow
    threshold: float = DEFAULT_THRESHOLD
    threshold_source: dict[str, Any] | None = None
    margin_mm: float = DEFAULT_MARGIN_MM
    label_names: tuple[str, str] = ("normal", "abnormal")
    training_data: dict[str, Any] = field(default_factory=dict)
    validation_metrics: dict[str, Any] = field(default_factory=dict)
    software_version: str = __version__
    created: str = ""
    format_version: int = FORMAT_VERSION
    anatomy_gate: dict[str, Any] = field(default_factory=dict)
    input_crop: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form written to ``model.json``."""
        out = {
            "format_version": self.format_version,
            "method": self.method,
            "architecture": self.architecture.to_dict(),
            "input_size": self.input_size,
            "window": self.window.to_dict(),
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "margin_mm": self.margin_mm,
            "label_names": list(self.label_names),
            "training_data": self.training_data,
            "validation_metrics": self.validation_metrics,
            "software_version": self.software_version,
            "created": self.created,
            **_gate_entry(self.anatomy_gate),
        }
        if self.threshold_source is None:
            del out["threshold_source"]
        if self.input_crop is not None:
            out["input_crop"] = self.input_crop.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Any, source: str = CARD) -> ModelCard:
        """Validate and parse a card; problems raise :class:`CoinError` naming ``source`` and the field.

        Unknown top-level keys (a misspelled ``lable_names``, a key of a newer version) are ignored
        with a :class:`coin_core.errors.CoinWarning` that names them and the valid keys.
        """
        if not isinstance(d, dict):
            raise CoinError(f"{source}: expected a JSON object, got {type(d).__name__}.", _REEXPORT)
        _warn_unknown_keys(d, source)
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise CoinError(f"{source}: missing field(s) {missing}.", _REEXPORT)
        version = d["format_version"]
        if version != FORMAT_VERSION:
            raise CoinError(
                f"{source}: model format_version {version!r} is not supported (this coin {__version__} "
                f"reads version {FORMAT_VERSION}).",
                "update coin (pip install -U coin-slicer) or export the model again with this version.",
            )
        if d["method"] not in METHODS:
            raise CoinError(f"{source}: method {d['method']!r} is unknown.", f"use one of {list(METHODS)}.")
        arch = NetworkConfig.from_dict(d["architecture"], source=f"{source}: architecture")
        size = d["input_size"]
        if size != arch.input_size:
            raise CoinError(
                f"{source}: input_size {size!r} differs from architecture.input_size {arch.input_size}.",
                _REEXPORT,
            )
        window = IntensityWindow.from_dict(d["window"], source=f"{source}: window")
        threshold = d["threshold"]
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0.0 <= threshold <= 1.0
        ):
            raise CoinError(f"{source}: threshold must be a number in [0, 1], got {threshold!r}.", _REEXPORT)
        source_info = _threshold_source(d.get("threshold_source"), source)
        margin = d.get("margin_mm", DEFAULT_MARGIN_MM)
        if (
            isinstance(margin, bool)
            or not isinstance(margin, (int, float))
            or not 0.0 <= margin <= MAX_MARGIN_MM
        ):
            raise CoinError(
                f"{source}: margin_mm must be millimetres in [0, {MAX_MARGIN_MM:g}], got {margin!r}.",
                _REEXPORT,
            )
        names = d.get("label_names", ["normal", "abnormal"])
        if not (isinstance(names, list) and len(names) == 2 and all(isinstance(n, str) for n in names)):
            raise CoinError(f"{source}: label_names must be two strings, got {names!r}.", _REEXPORT)
        return cls(
            method=d["method"],
            architecture=arch,
            input_size=int(size),
            window=window,
            threshold=float(threshold),
            threshold_source=source_info,
            margin_mm=float(margin),
            label_names=(names[0], names[1]),
            training_data=dict(d.get("training_data") or {}),
            validation_metrics=dict(d.get("validation_metrics") or {}),
            software_version=str(d.get("software_version", "")),
            created=str(d.get("created", "")),
            format_version=int(version),
            anatomy_gate=_parse_gate(d, source),
            input_crop=_parse_crop(d, source),
        )


_REEXPORT = "the model folder is damaged or was edited by hand; copy or export it again."

#: every top-level key of model.json (what ``ModelCard.to_dict`` writes)
CARD_KEYS = (
    "format_version",
    "method",
    "architecture",
    "input_size",
    "window",
    "threshold",
    "threshold_source",
    "margin_mm",
    "label_names",
    "training_data",
    "validation_metrics",
    "software_version",
    "created",
    "anatomy_gate",  # coin_core.gate.store.CARD_KEY (a test checks they agree)
    "input_crop",  # coin_core.data.crop.CARD_KEY
)


def _parse_crop(d: dict[str, Any], source: str) -> Any:
    from coin_core.data.crop import CARD_KEY, HostCrop

    entry = d.get(CARD_KEY)
    return None if entry is None else HostCrop.from_dict(entry, f"{source}: {CARD_KEY}")


def _warn_unknown_keys(d: dict[str, Any], source: str) -> None:
    import difflib
    import warnings

    from coin_core.errors import CoinWarning

    for key in (k for k in d if k not in CARD_KEYS):
        close = difflib.get_close_matches(str(key), CARD_KEYS, n=1)
        guess = f" (did you mean '{close[0]}'?)" if close else ""
        warnings.warn(
            CoinWarning(
                f"{source}: unknown key '{key}'{guess} is ignored; the valid keys are {', '.join(CARD_KEYS)}."
            ),
            stacklevel=3,
        )


def _gate_entry(section: dict[str, Any]) -> dict[str, Any]:
    from coin_core.gate.store import CARD_KEY

    return {CARD_KEY: section} if section else {}


def _parse_gate(d: dict[str, Any], source: str) -> dict[str, Any]:
    from coin_core.gate.store import CARD_KEY, check_section

    return check_section(d[CARD_KEY], source) if d.get(CARD_KEY) is not None else {}


def _threshold_source(value: Any, source: str) -> dict[str, Any] | None:
    """Validate the optional ``threshold_source`` (absent in cards written before it existed)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("method"), str):
        raise CoinError(
            f"{source}: threshold_source must be an object with a 'method' text, got {value!r}.", _REEXPORT
        )
    return dict(value)


def threshold_source(
    split: str, post_processing: str, val_micro_iou: float | None, n_val_slices: int, **extra: Any
) -> dict[str, Any]:
    """The ``threshold_source`` of a threshold tuned on ``split`` by maximising the micro IoU."""
    return {
        "method": "val-tuned micro IoU",
        "split": split,
        "post_processing": post_processing,
        "val_micro_iou": val_micro_iou,
        "n_val_slices": int(n_val_slices),
        **extra,
    }


def write_threshold(
    folder: str | os.PathLike[str],
    threshold: float,
    source: dict[str, Any],
    margin_mm: float = DEFAULT_MARGIN_MM,
) -> Path:
    """Set ``threshold``, ``margin_mm`` and ``threshold_source`` in ``folder/model.json`` atomically.

    Returns the card's path.

    Every other field of the card is kept as it is (also sections this version does not know). The
    updated card is validated before it replaces the old one.
    """
    read_card(folder)  # a readable, valid card first
    path = Path(folder) / CARD
    data = json.loads(path.read_text(encoding="utf-8"))
    data["threshold"] = float(threshold)
    data["margin_mm"] = float(margin_mm)
    data["threshold_source"] = dict(source)
    ModelCard.from_dict(data, source=str(path))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=float) + "\n", encoding="utf-8")
    return path


def save_model(
    folder: str | os.PathLike[str], card: ModelCard, classifier: Any, encoder: Any, generator: Any
) -> Path:
    """Write a model folder (all four files appear together or not at all; existing files are replaced).

    Args:
        folder: the model folder.
        card: its :class:`ModelCard` (``created`` is filled in when empty).
        classifier, encoder, generator: the trained modules (DDP wrappers are unwrapped).

    Returns:
        The folder path.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    if not card.created:
        card = _replace(card, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    modules = dict(zip(PARTS, (classifier, encoder, generator), strict=True))
    targets = [folder / CARD] + [folder / f"{p}.safetensors" for p in PARTS]
    with OutputSet(targets, overwrite=True) as out:
        for name, module in modules.items():
            module = getattr(module, "module", module)
            sd = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
            save_file(sd, str(out.tmp(folder / f"{name}.safetensors")), metadata={"coin_part": name})
        text = json.dumps(card.to_dict(), indent=2, default=float) + "\n"
        out.tmp(folder / CARD).write_text(text, encoding="utf-8")
    return folder


def _replace(card: ModelCard, **changes: Any) -> ModelCard:
    import dataclasses

    return dataclasses.replace(card, **changes)


def read_card(folder: str | os.PathLike[str]) -> ModelCard:
    """Read and validate ``folder/model.json`` without loading weights."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CoinError(f"Model folder not found: {folder}", "pass the folder that holds model.json.")
    path = folder / CARD
    if not path.is_file():
        raise CoinError(f"Not a model folder: {path} is missing.", "pass the folder that holds model.json.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CoinError(f"{path} is not valid JSON: {err}", _REEXPORT) from None
    return ModelCard.from_dict(data, source=str(path))


def load_model(folder: str | os.PathLike[str], device: str = "auto") -> CoinModel:
    """Load a model folder.

    Args:
        folder: the model folder.
        device: "auto", "cpu", "cuda", ... (:func:`coin_core.device.pick_device`).

    Returns:
        A :class:`CoinModel` with its networks in eval mode.

    Raises:
        CoinError: missing folder or file, bad JSON, unknown format version, invalid card, or weights
            that do not match the architecture in the card.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from coin_core.device import pick_device
    from coin_core.models import build_networks

    folder = Path(folder)
    card = read_card(folder)
    nets = build_networks(card.architecture, parts=PARTS)
    for name in PARTS:
        path = folder / f"{name}.safetensors"
        if not path.is_file():
            raise CoinError(f"Model folder {folder} lacks {path.name}.", _REEXPORT)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise CoinError(f"Cannot read {path}: {err}", _REEXPORT) from None
        module = getattr(nets, name)
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise CoinError(
                f"The weights in {path} do not match the architecture in {folder / CARD} "
                f"({first[1].strip() if len(first) > 1 else first[0]}).",
                "use the model.json that was saved with these weights, or export the model again.",
            ) from None
    dev = pick_device(device)
    gate = _load_gate(folder, card)
    return CoinModel(card, nets.classifier.to(dev), nets.encoder.to(dev), nets.generator.to(dev), gate)


def _load_gate(folder: Path, card: ModelCard) -> Any:
    from coin_core.gate.store import read_gate

    return read_gate(folder, card.anatomy_gate) if card.anatomy_gate else None


class CoinModel:
    """A loaded model: probability and counterfactual of [B,1,S,S] slices in [-1, 1].

    Attributes:
        card: the :class:`ModelCard`.
        classifier, encoder, generator: the networks, in eval mode.
        gate: the :class:`coin_core.gate.AnatomyGate`, or None when the card has none.
    """

    def __init__(
        self, card: ModelCard, classifier: Any, encoder: Any, generator: Any, gate: Any = None
    ) -> None:
        self.card = card
        self.classifier = classifier.eval()
        self.encoder = encoder.eval()
        self.generator = generator.eval()
        self.gate = gate

    @property
    def device(self):  # -> torch.device
        """The device the networks live on."""
        return next(self.classifier.parameters()).device

    def _check(self, x: Any) -> None:
        s = self.card.input_size
        c = self.card.architecture.in_channels
        if x.ndim != 4 or x.shape[1] != c or tuple(x.shape[2:]) != (s, s):
            raise CoinError(
                f"Expected slices of shape [B, {c}, {s}, {s}], got {list(x.shape)}.",
                "resize slices to the model's input_size (coin_core.data.slices.to_model).",
            )

    def probability(self, x: Any) -> Any:
        """P(abnormal) per slice: x [B,1,S,S] in [-1, 1] -> [B] float32 on x's device."""
        import torch

        self._check(x)
        with torch.no_grad():
            logits = self.classifier(x.to(self.device, torch.float32)).float().flatten()
        return torch.sigmoid(logits).to(x.device)

    def probability_and_gate_score(self, x: Any) -> tuple[Any, Any]:
        """P(abnormal) [B] and the anatomy gate's scores [B] (numpy; None without a gate) in one pass."""
        import torch

        if self.gate is None:
            return self.probability(x), None
        self._check(x)
        with torch.no_grad():
            logits, pooled = self.classifier.pooled_layers(x.to(self.device, torch.float32), self.gate.layers)
            scores = self.gate.scores([f.double().cpu().numpy() for f in pooled])
        return torch.sigmoid(logits.float().flatten()).to(x.device), scores

    def counterfactual(self, x: Any) -> Any:
        """The counterfactual slices [B,1,S,S] in [-1, 1] on x's device.

        COIN conditions every slice on bin 0 ("normal"); Singla* on bin(1 - p).
        """
        import torch

        from coin_core.models.conditioning import target_bins

        self._check(x)
        xd = x.to(self.device, torch.float32)
        method = self.card.method
        with torch.no_grad():
            # COIN's bin is 0 whatever p is: the classifier runs for Singla* only
            if method == "coin":
                p = xd.new_zeros(xd.shape[0])
            else:
                p = torch.sigmoid(self.classifier(xd).float().flatten())
            c = target_bins(method, p, self.card.architecture.generator.num_bins)
            x_cf = self.generator(self.encoder(xd), c, xd)
        return x_cf.float().to(x.device)
