"""ModelCatalog: which models COINSegmentation lists, and registering a trained one."""

from __future__ import annotations

import json

import pytest

from coin_slicer.model_catalog import isModelFolder, listModels, registerModel


def _model(folder, description=""):
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"description": description, "threshold": 0.3}))
    (folder / "generator.safetensors").write_bytes(b"weights")
    return folder


def test_models_folder_subfolders_and_added_folders_are_listed_once(tmp_path):
    models = tmp_path / "models"
    _model(models / "b-liver", "liver model")
    _model(models / "a-kidney")
    (models / "not-a-model").mkdir()
    extra = _model(tmp_path / "elsewhere" / "mine")
    entries = [
        e for e in listModels(models, [str(extra), str(models / "a-kidney")]) if not e.name.startswith("demo")
    ]
    assert [e.name for e in entries] == ["a-kidney", "b-liver", "mine"]
    assert entries[1].description == "liver model"


def test_registering_copies_the_model_and_refuses_a_taken_name(tmp_path):
    trained = _model(tmp_path / "run" / "model")
    models = tmp_path / "models"
    target = registerModel(trained, models, "kidney-v1")
    assert isModelFolder(target) and (target / "generator.safetensors").read_bytes() == b"weights"
    assert [e.name for e in listModels(models) if not e.name.startswith("demo")] == ["kidney-v1"]
    with pytest.raises(ValueError, match="already exists"):
        registerModel(trained, models, "kidney-v1")
    with pytest.raises(ValueError, match="has no model.json"):
        registerModel(tmp_path / "run", models, "other")
    assert not list(models.glob(".*partial"))
