"""A short but real training run on phantom slices: f separates lesion slices, COIN removes lesions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from train_helpers import build_phantom_bench

from coin_core.cli.main import main
from coin_core.data.benchmark import load_split
from coin_core.modelfile import load_model
from coin_core.train.metrics import counterfactual_validity, roc_auc

SIZE = 64
# tiny widths at 64x64; G updated every step and a higher lr so that ~260 steps suffice on 2 CPU cores
CONFIG = {
    "base": "small",
    "model": {
        "input_size": SIZE,
        "classifier": {"base_width": 8},
        "encoder": {"widths": [8, 16, 32]},
        "generator": {"skips": [1, 2]},
        "discriminator": {"widths": [8, 16, 32], "scales": [2, 2, 2]},
    },
    "classifier": {"batch_size": 16, "epochs": 6, "steps_per_epoch": 25, "val_max_batches": None},
    "gan": {
        "batch_size": 8,
        "epochs": 100,
        "max_steps": 260,
        "gen_update_freq": 1,
        "checkpoint_every": 100,
        "val_max_batches": None,
        "log_every": 20,
    },  # fmt: skip
    "optim": {"lr": 5.0e-4},
}


@pytest.mark.slow
def test_short_training_separates_and_flips_lesion_slices(tmp_path, capsys):
    draws = {"train": 10, "val": 10, "test": 2}
    bench = build_phantom_bench(tmp_path, SIZE, draws=draws, shape=(40, 128, 128), lesion_size=14)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    run, cfg, ev = str(tmp_path / "run"), str(tmp_path / "cfg.yaml"), str(tmp_path / "ev.jsonl")
    argv = [
        "train",
        "--data",
        str(bench),
        "--out",
        run,
        "--config",
        cfg,
        "--device",
        "cpu",
        "--events-jsonl",
        ev,
    ]
    assert main(argv) == 0
    assert "model:" in capsys.readouterr().out

    model = load_model(tmp_path / "run" / "model", device="cpu")
    val = load_split(bench, "val")
    x = torch.from_numpy(val.image.astype(np.float32))[:, None]
    p = model.probability(x).numpy()
    p_cf = model.probability(model.counterfactual(x)).numpy()
    assert val.label.sum() >= 10 and (p > 0.8).sum() >= 8
    assert roc_auc(val.label, p) > 0.9
    assert counterfactual_validity(p, p_cf) > 0.8

    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    stages = {e["stage"] for e in events}
    assert {"classifier", "classifier_validation", "gan", "gan_validation", "checkpoint"} <= stages
    last = [e for e in events if e["stage"] == "gan"][-1]
    assert last["done"] == last["total"] == 260 and last["metrics"]["eta_s"] == 0
    assert {"Loss/G/adv", "Loss/G/kl", "Loss/G/rec", "Loss/G/tv", "Loss/D/real", "Loss/D/fake"} <= set(
        last["metrics"]
    )
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert card["validation_metrics"]["classifier"]["val/auc"] > 0.9
    assert card["training_data"]["train_slices"] == len(load_split(bench, "train"))
