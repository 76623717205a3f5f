"""`coin train-classifier` and `coin train` end to end on a tiny phantom slice set."""

from __future__ import annotations

import json

import yaml
from train_helpers import tiny_overrides

from coin_core.cli.main import main
from coin_core.config import load_config
from coin_core.data.benchmark import load_split
from coin_core.modelfile import load_model


def _config_file(tmp_path, **extra):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(load_config("small", tiny_overrides(**extra)).to_dict()), encoding="utf-8")
    return str(path)


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "run"),
                "--config",
                "paper",
                "--dry-run",
            ]
        )
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == load_config("paper").to_dict()
    assert not (tmp_path / "run").exists()


def test_max_steps_overrides_the_config(tmp_path, capsys):
    argv = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--max-steps", "7", "--dry-run"]
    assert main(argv) == 0
    assert yaml.safe_load(capsys.readouterr().out)["gan"]["max_steps"] == 7
    assert main([*argv[:-2], "0", "--dry-run"]) == 2
    assert "'gan.max_steps' is 0" in capsys.readouterr().err


def test_a_bad_config_key_exits_2_naming_it(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("base: small\ngan: {gen_update_frq: 3}\n")
    argv = [
        "train",
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
        "--config",
        str(tmp_path / "bad.yaml"),
    ]
    assert main(argv) == 2
    assert "'gan.gen_update_frq'" in capsys.readouterr().err


def test_classifier_then_train_with_it_ends_with_a_loadable_model(tiny_bench, tmp_path, capsys):
    cfg = _config_file(tmp_path, **{"gan.max_steps": 40})
    cls = tmp_path / "cls"
    common = ["--data", str(tiny_bench), "--config", cfg, "--device", "cpu", "--no-progress"]
    assert main(["train-classifier", "--out", str(cls), *common]) == 0
    assert (cls / "classifier.json").is_file() and (cls / "classifier.safetensors").is_file()
    run = tmp_path / "run"
    events = tmp_path / "ev.jsonl"
    argv = [
        "train",
        "--out",
        str(run),
        "--classifier",
        str(cls),
        "--events-jsonl",
        str(events),
        "--max-steps",
        "4",
    ]
    assert main([*argv, *common]) == 0
    assert "model:" in capsys.readouterr().out
    assert not (run / "classifier").exists() and (run / "config.yaml").is_file()
    model = load_model(run / "model", device="cpu")
    card = json.loads((run / "model" / "model.json").read_text())
    assert model.card.method == "coin" and card["validation_metrics"]["gan_steps"] == 4
    # coin train ends by fitting the anatomy gate on the same train / val splits
    gate = card["anatomy_gate"]
    assert model.gate is not None and gate["host"] == "kidney" and gate["check"]["split"] == "val"
    assert gate["check"]["normal_passed"] == gate["check"]["normal"] > 0
    assert gate["check"]["abnormal_passed"] == gate["check"]["abnormal"] > 0
    assert gate["val_samples"] == len(load_split(tiny_bench, "val").label)
    # the card carries a threshold tuned on val by coin evaluate's routine, and says so
    from coin_core.evaluation.evaluate import tune_threshold

    src = card["threshold_source"]
    assert (
        src["method"] == "val-tuned micro IoU" and src["split"] == "val" and src["post_processing"] == "paper"
    )
    tuned = tune_threshold(model, tiny_bench)  # in coin evaluate's frame, margin included
    assert card["threshold"] == tuned["threshold"] and src["val_micro_iou"] == tuned["val_micro_iou"]
    assert card["margin_mm"] == tuned["margin_mm"] and src["margins_mm"] == tuned["sweep"]["margins_mm"]
    assert src["margins_mm"] == [0, 1, 2, 3, 4, 5, 6]  # the tiny bench records its pixel size
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["done"] for e in lines if e["stage"] == "gan"] == [1, 2, 3, 4]
    assert all("eta_s" in e["metrics"] for e in lines if e["stage"] == "gan")

    # --resume on a finished run keeps the model and does no further steps
    assert (
        main(["train", "--out", str(run), "--classifier", str(cls), "--resume", "--max-steps", "4", *common])
        == 0
    )
    assert json.loads((run / "model" / "model.json").read_text())["validation_metrics"]["gan_steps"] == 4


def test_without_pixel_ground_truth_in_val_the_card_keeps_the_paper_threshold_and_says_why(tmp_path):
    import numpy as np
    from coin_testkit import make_tiny_model

    from coin_core.data.benchmark import SliceArrays
    from coin_core.train.pipeline import with_tuned_threshold

    model = load_model(make_tiny_model(tmp_path / "m"), device="cpu")
    n = 4
    val = SliceArrays(image=np.zeros((n, 32, 32)), label=np.ones(n), lesion=np.zeros((n, 32, 32)),
                      has_mask=np.zeros(n), host=np.zeros((n, 32, 32)), case=np.zeros(n),
                      slice_index=np.arange(n), draw=np.zeros(n))  # fmt: skip
    events = []
    card = with_tuned_threshold(
        model.card, model.classifier, model.encoder, model.generator, val, events.append
    )
    assert card.threshold == 0.25 and card.threshold_source["split"] == "val"
    assert "no pixel ground truth" in card.threshold_source["method"]
    assert "no pixel ground truth" in events[-1].message


def test_max_minutes_stops_a_long_schedule_and_still_writes_the_model(tiny_bench, tmp_path, capsys):
    # 3 classifier epochs and 100000 GAN steps scheduled, 0.05 minutes (3 s) allowed
    cfg = _config_file(tmp_path, **{"gan.epochs": 100000, "classifier.epochs": 3})
    run, events = tmp_path / "run", tmp_path / "ev.jsonl"
    argv = ["train", "--data", str(tiny_bench), "--out", str(run), "--config", cfg, "--device", "cpu",
            "--progress", "none", "--events-jsonl", str(events), "--max-minutes", "0.05"]  # fmt: skip
    assert main(argv) == 0
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    limits = [e for e in lines if e["stage"] == "time_limit"]
    assert any("GAN step" in e["message"] for e in limits)
    steps = json.loads((run / "model" / "model.json").read_text())["validation_metrics"]["gan_steps"]
    gan = [e for e in lines if e["stage"] == "gan"]
    assert 0 < steps < 1000 and gan[-1]["done"] == steps and gan[-1]["total"] > 100000
    assert [e for e in lines if e["stage"] == "gan_validation"]  # the partial epoch was validated
    assert load_model(run / "model", device="cpu").gate is not None


def test_max_minutes_must_be_positive(tiny_bench, tmp_path, capsys):
    cfg = _config_file(tmp_path)
    out = str(tmp_path / "r")
    argv = ["train", "--data", str(tiny_bench), "--out", out, "--config", cfg, "--max-minutes", "0"]
    assert main(argv) == 2
    assert "--max-minutes 0" in capsys.readouterr().err
