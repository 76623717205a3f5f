"""Networks of COIN: classifier f, encoder E, generator G, discriminator D.

Importing this package does not import torch; the modules (``classifier``, ``encoder``,
``generator``, ``discriminator``, ``blocks``) and :func:`build_networks` do.
"""

from coin_core.models.build import Networks, build_networks
from coin_core.models.config import (
    FUSIONS,
    PRESETS,
    ClassifierConfig,
    DiscriminatorConfig,
    EncoderConfig,
    GeneratorConfig,
    NetworkConfig,
    network_preset,
)

__all__ = [
    "FUSIONS",
    "PRESETS",
    "ClassifierConfig",
    "DiscriminatorConfig",
    "EncoderConfig",
    "GeneratorConfig",
    "NetworkConfig",
    "Networks",
    "build_networks",
    "network_preset",
]
