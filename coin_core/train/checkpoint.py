"""Training checkpoints: safetensors for every tensor, JSON for everything else. No pickle.

A checkpoint is a folder ``RUN/checkpoints/step-00001234/`` holding

* ``state.safetensors``: module state dicts (``<module>/<key>``), optimiser state tensors
  (``<optim>/state/<param index>/<name>``), RNG states (``rng/...``);
* ``state.json``: format, step, epoch, the resolved config, optimiser ``param_groups`` and
  non-tensor state entries, RNG metadata, the latest metrics.

The folder is written under a temporary name and renamed in one step, so a checkpoint is whole or
absent; a crash during writing leaves the previous checkpoints untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from coin_core.config import load_config
from coin_core.errors import CoinError

FORMAT = "coin-checkpoint/1"
PREFIX = "step-"

# config keys that may change between a run and its resumption
RESUMABLE_CHANGES = {
    "gan.epochs",
    "gan.max_steps",
    "gan.checkpoint_every",
    "gan.keep_checkpoints",
    "gan.log_every",
    "gan.val_max_batches",
    "num_workers",
}


def optimizer_to_parts(
    name: str, opt: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten ``opt.state_dict()`` into safetensors-ready tensors and a JSON-ready dict."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{name}/state/{pid}/{key}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "plain_state": plain}


def optimizer_from_parts(
    name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Load an optimiser state written by :func:`optimizer_to_parts`."""
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}/state/"
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, sub = key[len(prefix) :].split("/", 1)
            state.setdefault(int(pid), {})[sub] = value
    for pid, entry in meta["plain_state"].items():
        state.setdefault(int(pid), {}).update(entry)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def module_tensors(name: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` as ``<name>/<key>`` CPU tensors."""
    return {f"{name}/{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def load_module(name: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load the ``<name>/...`` tensors into ``module`` (strict)."""
    prefix = f"{name}/"
    sd = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    module.load_state_dict(sd, strict=True)


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    step: int,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``RUN/checkpoints/step-<step>/`` atomically and prune all but the ``keep`` newest."""
    from safetensors.torch import save_file

    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{PREFIX}{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        save_file(tensors, str(tmp / "state.safetensors"))
        doc = {"format": FORMAT, "step": step, **meta}
        (tmp / "state.json").write_text(
            json.dumps(doc, indent=1, default=_json_default) + "\n", encoding="utf-8"
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    # prune the oldest, never the one just written (a folder of another run may sort after it)
    others = [p for p in list_checkpoints(run_dir) if p != target]
    for old in others[: max(len(others) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir()
        and p.name.startswith(PREFIX)
        and (p / "state.json").is_file()
        and (p / "state.safetensors").is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def load_latest_intact(
    run_dir: str | os.PathLike[str],
) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any], list[tuple[Path, str]]] | None:
    """The newest checkpoint that reads: (folder, tensors, json, skipped), or None when there is none.

    ``skipped`` lists (folder, reason) of newer checkpoints that could not be read (e.g. truncated
    by a full disk or a copy cut short). They are left on disk for the user to inspect.

    Raises:
        CoinError: checkpoints exist but none of them reads (named, with what to do).
    """
    skipped: list[tuple[Path, str]] = []
    for folder in reversed(list_checkpoints(run_dir)):
        try:
            tensors, meta = load_checkpoint(folder)
        except DamagedCheckpoint as err:
            skipped.append((folder, err.message.split(": ", 1)[-1]))
            continue
        return folder, tensors, meta, skipped
    if skipped:
        names = ", ".join(p.name for p, _ in skipped)
        raise CoinError(
            f"No checkpoint of {Path(run_dir)} can be read ({names}): {skipped[0][1]}",
            "start the run again without --resume (add --overwrite to replace this run folder).",
        )
    return None


class DamagedCheckpoint(CoinError):
    """A checkpoint folder whose files cannot be read (truncated, overwritten, not a checkpoint)."""


def load_checkpoint(folder: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint folder: (tensors, json).

    Raises:
        DamagedCheckpoint: a file is unreadable or truncated.
        CoinError: the checkpoint is of another format version.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "state.safetensors"))
        if not isinstance(meta, dict):
            raise ValueError("state.json does not hold a JSON object")
    except (OSError, ValueError, SafetensorError) as err:
        raise DamagedCheckpoint(
            f"Cannot read checkpoint {folder}: {err}",
            "delete this checkpoint folder to resume from the one before.",
        ) from None
    if meta.get("format") != FORMAT:
        raise CoinError(
            f"Checkpoint {folder} has format {meta.get('format')!r}; this version reads {FORMAT!r}.",
            "start a new run, or resume with the coin version that wrote it.",
        )
    return tensors, meta


def _json_default(obj: Any) -> Any:
    if torch.is_tensor(obj):
        return obj.item() if obj.numel() == 1 else obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return float(obj)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def check_compatible(now: dict[str, Any], then: dict[str, Any], folder: Path) -> None:
    """Raise a CoinError listing the config keys (other than schedule keys) that differ.

    ``then`` (a stored config) is read through the config loader first, so an optional key it
    predates (e.g. ``gan.augment_flip``) counts as its default, which is what that run used; a stored
    config that no longer loads is compared as it is (and the differing keys are named).
    """
    try:
        then = load_config(then).to_dict()
    except CoinError:
        pass
    a, b = _flatten(now), _flatten(then)
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in RESUMABLE_CHANGES)
    if diff:
        shown = ", ".join(f"{k}: {b.get(k)!r} -> {a.get(k)!r}" for k in diff[:6])
        raise CoinError(
            f"Cannot resume from {folder}: the config differs in {shown}.",
            "resume with the config the run was started with, or start a new run folder.",
        )
