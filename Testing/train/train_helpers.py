"""Helpers of the training tests (a module with a unique name, so test files can import it)."""

from __future__ import annotations

TINY_SIZE = 32


def tiny_overrides(**extra):  # noqa: ANN003, ANN201
    """Config overrides for the smallest networks that still train (32x32, widths <= 16)."""
    over = {
        "model": {
            "input_size": TINY_SIZE,
            "classifier": {"base_width": 4},
            "encoder": {"widths": [4, 8, 8]},
            "generator": {"skips": [1, 2]},
            "discriminator": {"widths": [4, 8], "scales": [2, 2]},
        },
        "gan.batch_size": 4,
        "gan.epochs": 2,
        "gan.max_steps": None,
        "gan.gen_update_freq": 2,
        "gan.checkpoint_every": 3,
        "gan.keep_checkpoints": 20,
        "gan.log_every": 1,
        "gan.val_max_batches": 2,
        "classifier.batch_size": 8,
        "classifier.epochs": 1,
        "classifier.steps_per_epoch": 3,
        "classifier.val_max_batches": 2,
        "amp": False,
        "deterministic": True,
        "num_workers": 0,
    }
    over.update(extra)
    return over


def build_phantom_bench(
    root, size: int, n_cases: int = 1, draws: dict | None = None, shape=(16, 64, 64), lesion_size=None
):  # noqa: ANN001, ANN201
    """A real BENCH folder: phantom CTs in nnU-Net layout -> build_benchmark (kidney host)."""
    from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
    from coin_core.data.lesions import LesionParams
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(root / "raw", n_cases=n_cases, shape=shape)
    cfg = BenchmarkConfig(
        size=size,
        draws=draws or {"train": 6, "val": 4, "test": 2},
        lesion=LesionParams(size=lesion_size or max(6, size // 6)),
        min_host_pixels=20,
    )
    build_benchmark(root / "raw", root / "bench", cfg)
    return root / "bench"
