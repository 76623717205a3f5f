"""Architecture configuration of the four networks (f, E, G, D); :mod:`coin_core.models.build` builds them.

The dataclasses are frozen and hold plain Python values only, so that they round-trip through the
model card (``to_dict`` / ``from_dict``) and a YAML training config. This module never imports torch
nor the network modules (they import it for their config types).

Two presets:

* ``paper``: the reference implementation's TSM layout (docs/method.md §5): 256² input, encoder widths
  [64, 128, 256, 512, 1024], skips [1, 2, 3, 4], nearest up-sampling, SN on the E/G 1x1 shortcuts,
  a 6-block SN projection D, ResNet-18 f with base width 64. E+G ≈ 53.1 M parameters, D ≈ 38.4 M,
  f ≈ 11.17 M.
* ``small``: the same design at 128² with widths [8, 16, 32, 64, 128] for E/G and a 5-block D
  [8, 16, 32, 64, 128], f with base width 16; sized for CPU training (measured step times:
  ``benchmarks/models_step_time.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from coin_core.errors import CoinError

FUSIONS = ("clamp_add", "tanh_add", "add_tanh", "tanh", "mask")
"""Perturbation fusions x_cf = fuse(x, r):

* ``clamp_add``: clamp(x + r, -1, 1). Default; r = 0 gives the identity.
* ``tanh_add``:  tanh(x + r). The paper's ``ptb_based`` fusion; cannot express the identity.
* ``add_tanh``:  clamp(x + tanh(r), -1, 1). Bounded perturbation; r = 0 gives the identity.
* ``tanh``:      tanh(r). Original Singla et al. generator (x is ignored).
* ``mask``:      x + m·(c - x) with m = σ(r_m) in [0, 1] and c = tanh(r_c): the generator opens a
  mask m where it inpaints the value c and is the identity elsewhere (two output channels;
  docs/recipes.md).
"""

UPSAMPLING = ("nearest", "bilinear")


@dataclass(frozen=True)
class ClassifierConfig:
    """ResNet-18 classifier f: ``NetworkConfig.in_channels`` inputs, one logit.

    Attributes:
        base_width: channels of the stem and layer1 (64 = torchvision ResNet-18); layers use
            [1, 2, 4, 8] times this.
    """

    base_width: int = 64


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder E: stem conv3x3 -> ReLU -> BN, then one pre-activation down block per width.

    Attributes:
        widths: output channels of the down blocks (each halves the resolution); the stem has
            ``widths[0]`` channels.
        sn_shortcut: spectral normalisation on the 1x1 shortcut convs.
    """

    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    sn_shortcut: bool = True


@dataclass(frozen=True)
class GeneratorConfig:
    """Decoder G with conditional batch norm; its block widths mirror the encoder's.

    Attributes:
        skips: skip indices; index j feeds encoder output h_{n-j} into up block j (1 = the
            deepest skip, n-1 = the shallowest), n = number of encoder blocks.
        upsample: "nearest" (TSM) or "bilinear" (align_corners=True, TUH).
        sn_shortcut: spectral normalisation on the 1x1 shortcut convs.
        num_bins: number of condition classes (rows of the CBN embeddings).
        fusion: one of :data:`FUSIONS`.
        input_skip: the head also sees the full-resolution input x (concatenated to the last
            block's features before the head conv); off in the paper, whose last up block and head
            see nothing finer than the half-resolution skip.
        mask_blur: "mask" fusion only: standard deviation (pixels) of a fixed Gaussian blur applied to
            the mask m and the fill c before fusion, so the change is smooth by construction and cannot
            be a pixel-level texture (0: off, the default). docs/recipes.md, "Smooth mask".
    """

    skips: tuple[int, ...] = (1, 2, 3, 4)
    upsample: str = "nearest"
    sn_shortcut: bool = True
    num_bins: int = 2
    fusion: str = "clamp_add"
    input_skip: bool = False
    mask_blur: float = 0.0


@dataclass(frozen=True)
class DiscriminatorConfig:
    """SN-ResNet projection discriminator D.

    Attributes:
        widths: output channels of the blocks.
        scales: down-sampling factor per block (2 = AvgPool(2), 1 = none); same length as widths.
        num_bins: rows of the projection embedding (must equal the generator's).
    """

    widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 1024)
    scales: tuple[int, ...] = (2, 2, 2, 2, 2, 1)
    num_bins: int = 2


@dataclass(frozen=True)
class NetworkConfig:
    """All four networks plus the input size and the image channel count (1 for CT)."""

    input_size: int = 256
    in_channels: int = 1
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def bottleneck_size(self) -> int:
        """Spatial size of the encoder's deepest feature map."""
        return self.input_size // 2 ** len(self.encoder.widths)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (tuples become lists)."""
        return _listify(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "architecture config") -> NetworkConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`CoinError` naming ``source``."""
        if not isinstance(data, dict):
            raise CoinError(f"{source}: expected a mapping, got {type(data).__name__}.")
        subs = {
            "classifier": ClassifierConfig,
            "encoder": EncoderConfig,
            "generator": GeneratorConfig,
            "discriminator": DiscriminatorConfig,
        }
        kwargs = _check_keys(cls, data, source)
        for key, sub_cls in subs.items():
            if key in kwargs:
                sub = kwargs[key]
                if not isinstance(sub, dict):
                    raise CoinError(f"{source}: '{key}' must be a mapping, got {sub!r}.")
                kwargs[key] = sub_cls(**_tuplify(_check_keys(sub_cls, sub, f"{source}.{key}")))
        return cls(**kwargs)


def _check_keys(cls: type, data: dict[str, Any], source: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CoinError(
            f"{source}: unknown key(s) {unknown}.",
            f"valid keys are {sorted(names)}.",
        )
    return dict(data)


def _tuplify(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _listify(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _listify(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_listify(v) for v in obj]
    return obj


def validate(cfg: NetworkConfig) -> None:
    """Raise :class:`CoinError` when ``cfg`` cannot be built."""
    n = len(cfg.encoder.widths)
    if n < 1 or any(int(w) < 1 for w in cfg.encoder.widths):
        raise CoinError(f"encoder.widths must be positive channel counts, got {cfg.encoder.widths}.")
    if cfg.input_size < 2**n or cfg.input_size % 2**n:
        raise CoinError(
            f"input_size {cfg.input_size} is not divisible by 2**{n} (encoder has {n} down blocks).",
            f"use a multiple of {2**n}, e.g. {max(1, cfg.input_size // 2**n) * 2**n}.",
        )
    g = cfg.generator
    bad = [s for s in g.skips if not 1 <= int(s) <= n - 1]
    if bad or len(set(g.skips)) != len(g.skips):
        raise CoinError(
            f"generator.skips {list(g.skips)} is invalid for a {n}-block encoder.",
            f"use distinct indices in 1..{n - 1} (1 = deepest skip).",
        )
    if g.upsample not in UPSAMPLING:
        raise CoinError(f"generator.upsample '{g.upsample}' is unknown.", f"use one of {list(UPSAMPLING)}.")
    check_fusion(g.fusion)
    if not 0.0 <= float(g.mask_blur) <= 8.0 or (g.mask_blur and g.fusion != "mask"):
        raise CoinError(
            f"generator.mask_blur {g.mask_blur} is invalid with fusion '{g.fusion}'.",
            "use 0 (off) or a blur of 0-8 pixels with fusion 'mask'.",
        )
    d = cfg.discriminator
    if len(d.widths) != len(d.scales) or not d.widths:
        raise CoinError(
            f"discriminator.widths {list(d.widths)} and scales {list(d.scales)} must have the same length.",
        )
    if any(s not in (1, 2) for s in d.scales):
        raise CoinError(f"discriminator.scales {list(d.scales)}: each scale must be 1 or 2.")
    down = 2 ** sum(1 for s in d.scales if s == 2)
    if cfg.input_size % down:
        raise CoinError(
            f"input_size {cfg.input_size} is not divisible by the discriminator's {down}x pooling."
        )
    if g.num_bins < 1 or d.num_bins != g.num_bins:
        raise CoinError(
            f"generator.num_bins ({g.num_bins}) and discriminator.num_bins ({d.num_bins}) "
            "must be equal and >= 1.",
        )
    if cfg.classifier.base_width < 1:
        raise CoinError(f"classifier.base_width must be >= 1, got {cfg.classifier.base_width}.")


def check_fusion(name: str) -> str:
    """Return ``name`` when it is a known fusion, else raise :class:`CoinError` listing them."""
    if name not in FUSIONS:
        raise CoinError(f"Unknown fusion '{name}'.", f"use one of {list(FUSIONS)}.")
    return name


def _paper() -> NetworkConfig:
    return NetworkConfig()


def _small() -> NetworkConfig:
    # 128² input and 8..128 channels: a COIN G step (E+G twice, D, f, backward, Adam) took 0.28 s
    # and a D step 0.11 s at batch 16, 2 threads, channels_last, on this project's shared 2-core
    # CPU container (`.venv/bin/python benchmarks/models_step_time.py`, fastest of 3). Widths
    # [16, ..., 256] took 0.69 s + 0.51 s under the same (noisy) load.
    return NetworkConfig(
        input_size=128,
        classifier=ClassifierConfig(base_width=16),
        encoder=EncoderConfig(widths=(8, 16, 32, 64, 128)),
        generator=GeneratorConfig(skips=(1, 2, 3, 4)),
        discriminator=DiscriminatorConfig(widths=(8, 16, 32, 64, 128), scales=(2, 2, 2, 2, 1)),
    )


PRESETS = {"paper": _paper, "small": _small}


def network_preset(name: str) -> NetworkConfig:
    """Return the named preset (``paper`` or ``small``)."""
    if name not in PRESETS:
        raise CoinError(f"Unknown network preset '{name}'.", f"use one of {sorted(PRESETS)}.")
    return PRESETS[name]()
