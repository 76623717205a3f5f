"""classifier.select: which epoch's classifier weights are kept (AUC, loss or balanced accuracy)."""

from __future__ import annotations

import json
import math

import pytest

from coin_core.config import load_config
from coin_core.errors import CoinError
from coin_core.train.classifier import selection_score

# two epochs where the criteria disagree: A ranks perfectly but is overconfident, B is calibrated
EPOCH_A = {"val/auc": 1.0, "val/loss": 0.9, "val/balanced_accuracy": 0.5}
EPOCH_B = {"val/auc": 0.95, "val/loss": 0.3, "val/balanced_accuracy": 0.9}


def test_the_score_follows_the_key():
    assert selection_score(EPOCH_A, "auc") > selection_score(EPOCH_B, "auc")
    assert selection_score(EPOCH_B, "loss") > selection_score(EPOCH_A, "loss")
    assert selection_score(EPOCH_B, "balanced_accuracy") > selection_score(EPOCH_A, "balanced_accuracy")
    # AUC ties go to the lower loss; NaN ranks last
    assert selection_score({**EPOCH_A, "val/loss": 0.1}, "auc") > selection_score(EPOCH_A, "auc")
    assert selection_score({"val/auc": math.nan, "val/loss": 0.1}, "auc") < selection_score(EPOCH_B, "auc")
    with pytest.raises(CoinError, match="classifier.select"):
        selection_score(EPOCH_A, "f1")


def test_the_key_defaults_to_auc_and_is_checked(tmp_path):
    assert load_config("small").classifier.select == "auc"
    assert load_config("kidney").classifier.select in ("auc", "loss", "balanced_accuracy")
    assert load_config("small", {"classifier.select": "loss"}).classifier.select == "loss"
    with pytest.raises(CoinError, match=r"'classifier\.select'"):
        load_config("small", {"classifier.select": "accuracy"})


@pytest.mark.parametrize("select", ["auc", "loss"])
def test_the_kept_epoch_is_the_best_one_under_the_key(select, tiny_bench, tiny_config, tmp_path):
    from coin_core.train.classifier import fit_classifier, read_classifier_card
    from coin_core.train.pipeline import load_bench

    cfg = load_config(
        tiny_config.to_dict(),
        {"classifier.epochs": 4, "classifier.steps_per_epoch": 2, "classifier.select": select},
    )
    _, train, val = load_bench(tiny_bench, cfg.model.input_size)
    events = []
    res = fit_classifier(cfg, train, val, tmp_path / "cls", device="cpu", progress=events.append)
    per_epoch = [e.metrics for e in events if e.stage == "classifier_validation"]
    assert len(per_epoch) == 4
    scores = [selection_score(m, select) for m in per_epoch]
    best = scores.index(max(scores)) + 1  # the first best epoch, counted from 1
    card = read_classifier_card(tmp_path / "cls")
    assert res.metrics["epoch"] == best == card["metrics"]["epoch"]
    key = "val/auc" if select == "auc" else "val/loss"
    assert card["metrics"][key] == pytest.approx(per_epoch[best - 1][key])
    assert json.loads((tmp_path / "cls" / "classifier.json").read_text())["metrics"]["epoch"] == best
