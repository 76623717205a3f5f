"""The training configuration: a tree of frozen dataclasses, loaded from YAML by one function.

:func:`load_config` is the only way in. It reads a preset name (``small``, ``paper``, ``singla``,
files in ``coin_core/configs/``) or a YAML file, merges it over its ``base`` (a file may start
from a preset and change a few keys), applies dotted overrides, and builds :class:`TrainConfig`.
Unknown keys, wrong types and out-of-range values raise :class:`CoinError` naming the dotted key
(``loss.lambda_kl``). Choices are ``Literal`` types and are compared, never tested for truth
(docs/method.md §11.1). Every loss weight must be given explicitly: the loss section has no defaults.

The architecture section (``model``) is :class:`coin_core.models.config.NetworkConfig`; in YAML it
may name a network preset (``model: {preset: small, input_size: 64}``) and override fields.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from coin_core.errors import CoinError
from coin_core.models.config import NetworkConfig, network_preset

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_PRESET = "small"
"""The preset ``coin train``, COINTraining and :func:`load_config` use when none is named."""
METHODS = ("coin", "singla")


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, hi_open: bool = False):
    return {"range": (lo, hi, lo_open, hi_open)}


@dataclass(frozen=True)
class LossConfig:
    """Loss weights (docs/method.md §6). No defaults: every weight is stated in the config.

    Attributes:
        adv: adversarial loss kind: ``bce`` (what the paper ran), ``mse`` (least squares) or ``hinge``.
        lambda_adv: weight of the generator's adversarial term.
        lambda_kl: weight of the classifier-consistency KL term.
        lambda_rec: weight of the reconstruction term (COIN: L1(x, x_cf) [+ cyclic]; Singla*:
            self-reconstruction + cycle).
        cyclic: COIN only: add L1(x, G(E(x_cf), 0; x_cf)) to the reconstruction term.
        lambda_tv: weight of the TV term on the [0, 1]-unit difference image
            (``coin_core.losses.tv_loss``; a reference weight w maps to w * 255**2).
        lambda_minc: weight of the extra L1(x, x_cf) term (0 reproduces the paper, docs/method.md §11.2).
        lambda_mask: weight of the sparsity prior mean(m) on the inpainting mask of the "mask"
            fusion (0: off; the paper has no mask). Optional key, default 0.
    """

    adv: Literal["bce", "mse", "hinge"]
    lambda_adv: float = field(metadata=_range(0.0))
    lambda_kl: float = field(metadata=_range(0.0))
    lambda_rec: float = field(metadata=_range(0.0))
    cyclic: bool = field()
    lambda_tv: float = field(metadata=_range(0.0))
    lambda_minc: float = field(metadata=_range(0.0))
    lambda_mask: float = field(default=0.0, metadata=_range(0.0))


@dataclass(frozen=True)
class OptimConfig:
    """Adam for E+G and for D (two optimisers, same settings; docs/method.md §7)."""

    lr: float = field(metadata=_range(0.0, 1.0, lo_open=True))
    beta1: float = field(metadata=_range(0.0, 1.0, hi_open=True))
    beta2: float = field(metadata=_range(0.0, 1.0, hi_open=True))
    eps: float = field(metadata=_range(0.0, 1.0, lo_open=True))


@dataclass(frozen=True)
class GanConfig:
    """Schedule of the GAN fit.

    Attributes:
        batch_size: images per step (per process under DDP).
        epochs: passes over the training split.
        max_steps: stop after this many steps in total (None: run all epochs).
        gen_update_freq: E+G are updated on every k-th step, D on every step.
        checkpoint_every: steps between checkpoints (one is also written at the end).
        keep_checkpoints: how many recent checkpoints to keep.
        log_every: steps between JSON-lines loss events.
        val_max_batches: validation batches per epoch (None: the whole split).
        ema_decay: exponential moving average of the E+G weights (0: off, the paper). When on,
            validation and the saved model use the averaged weights (decay warmed up as
            min(decay, (1 + u) / (10 + u)) over the u-th E+G update). Optional key, default 0.
        augment_flip: mirror a seeded random half of every GAN batch left-right (off: the paper,
            which trains the GAN without augmentation; docs/recipes.md). Optional key.
    """

    batch_size: int = field(metadata=_range(1))
    epochs: int = field(metadata=_range(1))
    max_steps: int | None = field(metadata=_range(1))
    gen_update_freq: int = field(metadata=_range(1))
    checkpoint_every: int = field(metadata=_range(1))
    keep_checkpoints: int = field(metadata=_range(1))
    log_every: int = field(metadata=_range(1))
    val_max_batches: int | None = field(metadata=_range(1))
    ema_decay: float = field(default=0.0, metadata=_range(0.0, 1.0, hi_open=True))
    augment_flip: bool = False


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Schedule and optimiser of the classifier fit (docs/method.md §4: BCE, Adam 1e-3).

    Attributes:
        select: which epoch's weights are kept: ``auc`` (best validation ROC AUC, ties to the lower
            loss; the default), ``loss`` (lowest validation BCE, which also rewards calibration) or
            ``balanced_accuracy`` (best mean of sensitivity and specificity at p = 0.5, ties to the
            lower loss).
        bn_recalibrate: before each validation, recompute the BatchNorm running statistics as the
            average batch statistics over the (unaugmented) training split, so the kept weights
            see in eval mode the statistics they were trained under (off: PyTorch's running
            averages, which lag the weights; what the paper ran).
        augment_affine: multiplies the paper's shift, scale and rotation ranges (1: the paper; <= 5).
        augment_intensity: intensity jitter of the classifier augmentation (0: off, the paper).
        augment_noise: std of Gaussian noise added by the classifier augmentation (0: off, the
            paper); see :class:`coin_core.data.dataset.ClassifierAugment`.
    """

    lr: float = field(metadata=_range(0.0, 1.0, lo_open=True))
    beta1: float = field(metadata=_range(0.0, 1.0, hi_open=True))
    beta2: float = field(metadata=_range(0.0, 1.0, hi_open=True))
    weight_decay: float = field(metadata=_range(0.0))
    batch_size: int = field(metadata=_range(1))
    epochs: int = field(metadata=_range(1))
    steps_per_epoch: int | None = field(metadata=_range(1))
    augment: bool = field()
    val_max_batches: int | None = field(metadata=_range(1))
    select: Literal["auc", "loss", "balanced_accuracy"] = "auc"
    bn_recalibrate: bool = False
    augment_affine: float = field(default=1.0, metadata=_range(0.0, 5.0))
    augment_intensity: float = field(default=0.0, metadata=_range(0.0, 1.0))
    augment_noise: float = field(default=0.0, metadata=_range(0.0, 1.0))


@dataclass(frozen=True)
class CropConfig:
    """The host-organ box (docs/recipes.md, "Host-organ box"; :mod:`coin_core.data.crop`).

    Attributes:
        size_mm: (rows, columns) of the box in millimetres: rows = anterior-posterior extent,
            columns = right-left extent. The box is centred on the host organ of each slice and resized
            to the network input.
    """

    size_mm: tuple[float, ...]

    def __post_init__(self) -> None:
        from coin_core.data.crop import check_size_mm

        check_size_mm(self.size_mm, "crop.size_mm")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data.

    Attributes:
        method: ``coin`` (inpaint towards normal, c = 0) or ``singla`` (Singla et al.*, c = bin(1 - p)).
        model: the four networks' architecture.
        seed: seeds weights, data order and augmentation.
        amp: mixed precision on CUDA (ignored on CPU).
        amp_dtype: ``bf16`` or ``fp16`` (fp16 uses a gradient scaler).
        channels_last: NHWC memory format for the networks and batches.
        deterministic: ``torch.use_deterministic_algorithms`` (bit-exact reruns on CPU).
        num_workers: DataLoader worker processes.
        crop: the host-organ box the networks see instead of the whole slice (None: the whole slice,
            as in the paper). Optional key.
    """

    method: Literal["coin", "singla"]
    model: NetworkConfig
    loss: LossConfig
    optim: OptimConfig
    gan: GanConfig
    classifier: ClassifierTrainConfig
    seed: int = field(metadata=_range(0))
    amp: bool = field()
    amp_dtype: Literal["bf16", "fp16"] = field()
    channels_last: bool = field()
    deterministic: bool = field()
    num_workers: int = field(metadata=_range(0))
    crop: CropConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form; ``load_config(cfg.to_dict())`` gives back an equal config."""
        return _plain(dataclasses.asdict(self))


# --------------------------------------------------------------------------- loading


def load_config(
    source: str | os.PathLike[str] | dict[str, Any] = DEFAULT_PRESET,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Load and validate a training config.

    Args:
        source: a preset name (``small``, ``paper``, ``singla``), a YAML file path, or a mapping.
        overrides: values that replace keys after loading, as dotted keys
            (``{"gan.max_steps": 10}``) or nested mappings.

    Returns:
        The validated, frozen :class:`TrainConfig`.

    Raises:
        CoinError: unreadable file, unknown key, missing key, wrong type or out-of-range value;
            the message names the dotted key and the value found.
    """
    data = _resolve(source, seen=())
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    return _build(TrainConfig, data, "")


def preset_names() -> list[str]:
    """Names of the packaged config presets (every ``coin_core/configs/*.yaml``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def preset_summary(name: str) -> str:
    """The leading comment of a packaged preset's YAML file, as one line (for menus and tooltips).

    Raises:
        CoinError: ``name`` is not a packaged preset.
    """
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise CoinError(f"Unknown preset '{name}'.", f"use one of {preset_names()}.")
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def _resolve(source: Any, seen: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(source, dict):
        data, where = _deepcopy(source), Path.cwd()
    else:
        path = _source_path(source)
        if str(path) in seen:
            raise CoinError(f"Config {path}: 'base' chain loops back to itself.", "remove the loop.")
        data, where, seen = _read_yaml(path), path.parent, (*seen, str(path))
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise CoinError(f"Config key 'base' must be a preset name or a file path, got {base!r}.")
    base_src = base if (CONFIG_DIR / f"{base}.yaml").is_file() else str(where / base)
    return _merge(_resolve(base_src, seen), data)


def _source_path(source: Any) -> Path:
    text = str(source)
    if (CONFIG_DIR / f"{text}.yaml").is_file() and not text.endswith((".yaml", ".yml")):
        return CONFIG_DIR / f"{text}.yaml"
    path = Path(text)
    if not path.is_file():
        raise CoinError(
            f"Config not found: {text!r}.", f"use a preset ({', '.join(preset_names())}) or a YAML file path."
        )
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CoinError(f"Cannot read config {path}: {err}", "fix the YAML syntax.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CoinError(f"Config {path}: the top level must be a mapping, got {type(data).__name__}.")
    return data


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub, v in value.items():
            _set_dotted(data, f"{key}.{sub}", v)
        return
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_deepcopy(v) for v in d]
    return d


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _name(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "the config"
    if not isinstance(data, dict):
        raise CoinError(f"Config key '{where}' must be a mapping, got {data!r}.")
    if cls is NetworkConfig:
        data = _network_data(data, prefix)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        bad = ", ".join(repr(_name(prefix, k)) for k in unknown)
        raise CoinError(f"Unknown config key {bad}.", f"valid keys under '{where}': {', '.join(names)}.")
    kwargs = {}
    for f in fields(cls):
        key = _name(prefix, f.name)
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            raise CoinError(
                f"Config key '{key}' is missing.", "every value must be given; see the small preset."
            )
        value = _convert(hints[f.name], data[f.name], key)
        _check_range(f, value, key)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except CoinError as err:
        raise CoinError(f"Config section '{where}': {err.message}", err.hint) from None
    except (TypeError, ValueError) as err:
        raise CoinError(f"Config section '{where}': {err}") from None


def _network_data(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    data = dict(data)
    preset = data.pop("preset", None)
    if preset is None:
        return data
    try:
        base = network_preset(str(preset)).to_dict()
    except CoinError as err:
        raise CoinError(f"Config key '{_name(prefix, 'preset')}': {err.message}", err.hint) from None
    return _merge(base, data)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key) if len(inner) == 1 else value
    if origin is Literal:
        if value not in args:
            raise CoinError(
                f"Config key '{key}' is {value!r}, which is not a valid choice.",
                f"use one of: {', '.join(map(str, args))}.",
            )
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise CoinError(f"Config key '{key}' must be a list, got {value!r}.")
        elem = args[0] if args else Any
        return tuple(_convert(elem, v, f"{key}[{i}]") for i, v in enumerate(value))
    return _scalar(tp, value, key)


def _scalar(tp: Any, value: Any, key: str) -> Any:
    bad = CoinError(f"Config key '{key}' must be of type {_type_name(tp)}, got {value!r}.")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):  # YAML 1.1 reads "1e-6" as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    return value


def _check_range(f: dataclasses.Field, value: Any, key: str) -> None:
    spec = f.metadata.get("range")
    if spec is None or value is None:
        return
    lo, hi, lo_open, hi_open = spec
    ok = True
    if lo is not None:
        ok = value > lo if lo_open else value >= lo
    if hi is not None and ok:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        span = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
        raise CoinError(f"Config key '{key}' is {value!r}, outside the allowed range {span}.")
