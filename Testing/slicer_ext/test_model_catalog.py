"""ModelCatalog: which models COINSegmentation lists, and registering a trained one."""

from __future__ import annotations

import json

import pytest
from coin_testkit import make_tiny_model

from coin_slicer.model_catalog import isModelFolder, listModels, modelDescription, registerModel
from coin_slicer.segmentation_logic import modelThreshold


def _model(folder, threshold=0.3):
    return make_tiny_model(folder, threshold=threshold)


def test_models_folder_subfolders_and_added_folders_are_listed_once(tmp_path):
    models = tmp_path / "models"
    _model(models / "b-liver", threshold=0.4)
    _model(models / "a-kidney")
    (models / "not-a-model").mkdir()
    extra = _model(tmp_path / "elsewhere" / "mine")
    entries = [
        e for e in listModels(models, [str(extra), str(models / "a-kidney")]) if not e.name.startswith("demo")
    ]
    assert [e.name for e in entries] == ["a-kidney", "b-liver", "mine"]
    assert entries[1].description == "COIN, 32 px input, threshold 0.4"  # from the card, via coin_core


def test_a_folder_with_a_bad_card_is_listed_with_the_reason_and_its_threshold_is_refused(tmp_path):
    bad = tmp_path / "models" / "old"
    bad.mkdir(parents=True)
    (bad / "model.json").write_text(json.dumps({"description": "hand-written", "threshold": 0.3}))
    (entry,) = [e for e in listModels(tmp_path / "models") if not e.name.startswith("demo")]
    assert entry.description.startswith("Not usable: ") and "model.json" in entry.description
    assert modelDescription(bad) == entry.description
    with pytest.raises(ValueError, match="model.json"):
        modelThreshold(bad)  # no silent 0.25: the same card check as the worker's
    assert modelThreshold(_model(tmp_path / "good", threshold=0.35)) == pytest.approx(0.35)


def test_registering_copies_the_model_and_refuses_a_taken_name(tmp_path):
    trained = _model(tmp_path / "run" / "model")
    models = tmp_path / "models"
    target = registerModel(trained, models, "kidney-v1")
    weights = (trained / "generator.safetensors").read_bytes()
    assert isModelFolder(target) and (target / "generator.safetensors").read_bytes() == weights
    assert [e.name for e in listModels(models) if not e.name.startswith("demo")] == ["kidney-v1"]
    with pytest.raises(ValueError, match="already exists"):
        registerModel(trained, models, "kidney-v1")
    with pytest.raises(ValueError, match="has no model.json"):
        registerModel(tmp_path / "run", models, "other")
    assert not list(models.glob(".*partial"))
