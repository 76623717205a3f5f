"""benchmarks/gpu_run.py --smoke: the GPU run's whole path (train with a wall-time limit, evaluate, time
coin segment, summary) on CPU with a tiny schedule, on a bundle made in code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import build_phantom_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_run_smoke_writes_model_events_table_and_timings(tmp_path):
    from coin_core.data.phantom import make_phantom
    from coin_core.io import write_volume

    bundle = tmp_path / "bundle"
    bench = build_phantom_bench(tmp_path / "data", 32)
    (bundle / "ct").mkdir(parents=True)
    (bench).rename(bundle / "bench")
    image, _, _ = make_phantom(shape=(12, 64, 64), spacing=(4.0, 4.0, 5.0))
    write_volume(image, bundle / "ct" / "phantom.nii.gz")
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "gpu_run.py"),
        str(out),
        "--bundle",
        str(bundle),
        "--smoke",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_step"] is None and summary["environment"]["device"] == "cpu"
    assert [s for s in summary["steps"]] == ["train", "evaluate", "segment"]
    assert all(s["rc"] == 0 and s["seconds"] > 0 for s in summary["steps"].values())
    assert 0 < summary["gan_steps"] <= 6 and summary["segment"]["slices"] == 12
    assert summary["segment"]["slice_selection"] == "anatomy gate"  # coin train fitted the gate
    card = json.loads((out / "run" / "model" / "model.json").read_text())
    assert card["anatomy_gate"]["check"]["split"] == "val"
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert {"classifier", "classifier_validation", "gan_validation", "checkpoint"} <= {
        e["stage"] for e in events
    }
    assert (out / "evaluation" / "results.md").is_file() and (out / "segment.jsonl").is_file()
    assert "coin evaluate" in (out / "summary.md").read_text()

    # an earlier run is never overwritten
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode != 0 and "exists" in again.stderr
