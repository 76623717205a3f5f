"""``build_networks``: the four modules (f, E, G, D) from one :class:`NetworkConfig`.

Kept apart from :mod:`coin_core.models.config` because the network modules import their config
types from there; torch is imported when a network is built, not at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coin_core.errors import CoinError
from coin_core.models.config import NetworkConfig


@dataclass
class Networks:
    """The four modules built from one :class:`NetworkConfig`."""

    classifier: Any
    encoder: Any
    generator: Any
    discriminator: Any


def build_networks(
    cfg: NetworkConfig, seed: int | None = None, parts: tuple[str, ...] | None = None
) -> Networks:
    """Build f, E, G and D (on CPU, in train mode) from ``cfg``.

    Args:
        cfg: the architecture.
        seed: when given, initialisation draws from ``torch.manual_seed(seed)`` inside a forked
            RNG, so the global RNG state is untouched and the same seed gives the same weights.
        parts: subset of ("classifier", "encoder", "generator", "discriminator") to build; the
            others are None. Default: all four.

    Returns:
        A :class:`Networks` holding the modules.
    """
    import torch

    from coin_core.models.classifier import ResNet18Classifier
    from coin_core.models.discriminator import Discriminator
    from coin_core.models.encoder import Encoder
    from coin_core.models.generator import Generator

    all_parts = ("classifier", "encoder", "generator", "discriminator")
    parts = all_parts if parts is None else tuple(parts)
    unknown = [p for p in parts if p not in all_parts]
    if unknown:
        raise CoinError(f"build_networks: unknown part(s) {unknown}.", f"use any of {list(all_parts)}.")
    makers = {
        "classifier": lambda: ResNet18Classifier(cfg.classifier.base_width, cfg.in_channels),
        "encoder": lambda: Encoder(cfg.encoder, cfg.in_channels),
        "generator": lambda: Generator(cfg.generator, cfg.encoder.widths),
        "discriminator": lambda: Discriminator(cfg.discriminator, cfg.in_channels),
    }
    built: dict[str, Any] = {p: None for p in all_parts}
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for p in all_parts:
            if p in parts:
                built[p] = makers[p]()
    return Networks(**built)
