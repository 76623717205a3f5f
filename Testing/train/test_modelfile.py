"""Model folders: save then load is bit-identical; damaged folders give errors that say what to do."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from train_helpers import TINY_SIZE

from coin_core.data.window import IntensityWindow
from coin_core.errors import CoinError
from coin_core.modelfile import ModelCard, load_model, read_card, save_model
from coin_core.models import build_networks


@pytest.fixture
def trained_like(tiny_config):
    """Networks with non-default BN statistics (a few train-mode passes), as after training."""
    nets = build_networks(tiny_config.model, seed=3)
    x = torch.rand(4, 1, TINY_SIZE, TINY_SIZE) * 2 - 1
    with torch.no_grad():
        nets.classifier(x)
        nets.generator(nets.encoder(x), 0, x)
    return nets


def _card(cfg, method="coin"):
    window = IntensityWindow(-100.0, 300.0)
    metrics = {"gan": {"val/cv": 0.9}}
    return ModelCard(method, cfg.model, cfg.model.input_size, window, validation_metrics=metrics)


def _save(folder, cfg, nets, method="coin"):
    return save_model(folder, _card(cfg, method), nets.classifier, nets.encoder, nets.generator)


def test_save_then_load_gives_bit_identical_outputs(tmp_path, tiny_config, trained_like):
    nets = trained_like
    _save(tmp_path / "m", tiny_config, nets)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "classifier.safetensors", "encoder.safetensors", "generator.safetensors", "model.json"]  # fmt: skip
    model = load_model(tmp_path / "m", device="cpu")
    x = torch.rand(3, 1, TINY_SIZE, TINY_SIZE) * 2 - 1
    for m in (nets.classifier, nets.encoder, nets.generator):
        m.eval()
    with torch.no_grad():
        p_ref = torch.sigmoid(nets.classifier(x)).flatten()
        cf_ref = nets.generator(nets.encoder(x), torch.zeros(3, dtype=torch.long), x)
    assert torch.equal(model.probability(x), p_ref)
    assert torch.equal(model.counterfactual(x), cf_ref)
    assert torch.equal(model.counterfactual(x), model.counterfactual(x))  # eval: no state change


def test_the_card_round_trips(tmp_path, tiny_config, trained_like):
    _save(tmp_path / "m", tiny_config, trained_like)
    card = read_card(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["format_version"] == 1 and doc["threshold"] == 0.25
    assert doc["label_names"] == ["normal", "abnormal"] and doc["software_version"] and doc["created"]
    assert card.architecture == tiny_config.model and card.window == IntensityWindow(-100.0, 300.0)
    assert card.validation_metrics == {"gan": {"val/cv": 0.9}}


def test_singla_counterfactuals_are_conditioned_on_the_flipped_bin(tmp_path, tiny_config, trained_like):
    nets = trained_like
    _save(tmp_path / "m", tiny_config, nets, method="singla")
    model = load_model(tmp_path / "m", device="cpu")
    x = torch.rand(4, 1, TINY_SIZE, TINY_SIZE) * 2 - 1
    p = model.probability(x)
    c = ((1 - p) * 2).floor().clamp(0, 1).long()
    with torch.no_grad():
        expected = model.generator(model.encoder(x), c, x)
    assert torch.equal(model.counterfactual(x), expected)


def test_unknown_format_version_is_refused_with_advice(tmp_path, tiny_config, trained_like):
    _save(tmp_path / "m", tiny_config, trained_like)
    path = tmp_path / "m" / "model.json"
    doc = json.loads(path.read_text())
    doc["format_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(CoinError, match=r"format_version 99 is not supported.*\n.*What to do: update coin"):
        load_model(tmp_path / "m", device="cpu")


def test_missing_files_and_bad_json_are_reported(tmp_path, tiny_config, trained_like):
    with pytest.raises(CoinError, match="Model folder not found"):
        load_model(tmp_path / "absent")
    _save(tmp_path / "m", tiny_config, trained_like)
    shutil.copytree(tmp_path / "m", tmp_path / "n")
    (tmp_path / "m" / "generator.safetensors").unlink()
    with pytest.raises(CoinError, match="lacks generator.safetensors"):
        load_model(tmp_path / "m", device="cpu")
    (tmp_path / "n" / "model.json").write_text("{not json")
    with pytest.raises(CoinError, match="model.json is not valid JSON"):
        load_model(tmp_path / "n", device="cpu")


def test_weights_that_do_not_fit_the_card_are_refused(tmp_path, tiny_config, trained_like):
    _save(tmp_path / "m", tiny_config, trained_like)
    path = tmp_path / "m" / "model.json"
    doc = json.loads(path.read_text())
    doc["architecture"]["encoder"]["widths"] = [4, 8, 16]
    path.write_text(json.dumps(doc))
    with pytest.raises(CoinError, match=r"weights in .*encoder.safetensors do not match the architecture"):
        load_model(tmp_path / "m", device="cpu")


def test_an_invalid_card_field_is_named(tmp_path, tiny_config, trained_like):
    _save(tmp_path / "m", tiny_config, trained_like)
    path = tmp_path / "m" / "model.json"
    doc = json.loads(path.read_text())
    doc["threshold"] = 3
    path.write_text(json.dumps(doc))
    with pytest.raises(CoinError, match=r"threshold must be a number in \[0, 1\], got 3"):
        load_model(tmp_path / "m", device="cpu")


def test_a_tuned_threshold_and_its_source_are_written_in_place_keeping_every_other_field(
    tmp_path, tiny_config, trained_like
):
    from coin_core.modelfile import threshold_source, write_threshold

    _save(tmp_path / "m", tiny_config, trained_like)
    path = tmp_path / "m" / "model.json"
    doc = json.loads(path.read_text())
    assert "threshold_source" not in doc and read_card(tmp_path / "m").threshold_source is None  # old cards
    doc["a_later_section"] = {"kept": True}  # e.g. a section a newer coin adds
    path.write_text(json.dumps(doc))
    src = threshold_source("val", "paper", 0.4, 12, previous_threshold=0.25)
    write_threshold(tmp_path / "m", 0.12, src)
    new = json.loads(path.read_text())
    assert (
        new["threshold"] == 0.12
        and new["threshold_source"] == src
        and new["a_later_section"] == {"kept": True}
    )
    assert {k: v for k, v in new.items() if not k.startswith("threshold")} == {
        k: v for k, v in doc.items() if not k.startswith("threshold")
    }
    assert read_card(tmp_path / "m").threshold_source["method"] == "val-tuned micro IoU"
    # an invalid value is refused and the card stays as it was
    with pytest.raises(CoinError, match=r"threshold must be a number in \[0, 1\]"):
        write_threshold(tmp_path / "m", 1.5, src)
    assert json.loads(path.read_text()) == new
    new["threshold_source"] = "by hand"
    path.write_text(json.dumps(new))
    with pytest.raises(CoinError, match="threshold_source must be an object"):
        read_card(tmp_path / "m")


def test_the_mask_margin_is_written_with_the_threshold_and_old_cards_read_as_no_margin(
    tmp_path, tiny_config, trained_like
):
    from coin_core.modelfile import threshold_source, write_threshold

    _save(tmp_path / "m", tiny_config, trained_like)
    path = tmp_path / "m" / "model.json"
    doc = json.loads(path.read_text())
    del doc["margin_mm"]  # a card written before margins existed
    path.write_text(json.dumps(doc))
    assert read_card(tmp_path / "m").margin_mm == 0.0
    src = threshold_source("val", "paper", 0.45, 12, margins_mm=[0.0, 1.0, 2.0, 3.0])
    write_threshold(tmp_path / "m", 0.08, src, margin_mm=3.0)
    card = read_card(tmp_path / "m")
    assert (card.threshold, card.margin_mm, card.threshold_source["margins_mm"]) == (0.08, 3.0, [0, 1, 2, 3])
    assert load_model(tmp_path / "m", device="cpu").card.margin_mm == 3.0
    for bad in (-1, 50, "3 mm", True):
        doc = json.loads(path.read_text())
        doc["margin_mm"] = bad
        path.write_text(json.dumps(doc))
        with pytest.raises(CoinError, match=r"margin_mm must be millimetres in \[0, 20\]"):
            read_card(tmp_path / "m")
