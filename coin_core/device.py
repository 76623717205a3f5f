"""Device choice: CUDA when present, else Apple MPS, else CPU; an explicit name overrides."""

from __future__ import annotations

from coin_core.errors import CoinError


def pick_device(name: str | None = "auto"):  # -> torch.device
    """Return a ``torch.device`` for ``name`` ("auto", "cpu", "cuda", "cuda:1", "mps", "gpu")."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "gpu":
        name = "cuda"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CoinError(
            f"Device '{name}' was asked for, but this PyTorch build sees no CUDA GPU.",
            "use --device cpu (or auto), or install a CUDA build of PyTorch.",
        )
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CoinError("Device 'mps' was asked for, but Apple MPS is not available.", "use --device cpu.")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise CoinError(f"Unknown device '{name}'.", "use auto, cpu, cuda, cuda:N or mps.") from err
