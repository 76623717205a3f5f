"""Fixtures for the Slicer-extension tests: slicer-core, no Qt.

See docs/internals.md, "Slicer code without desktop Slicer".
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the two module folders are what Slicer puts on sys.path ("additional module paths")
for folder in ("COINSegmentation", "COINTraining", ""):
    path = str(ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)

HERE = Path(__file__).resolve().parent


@pytest.fixture
def protocol_child() -> list[str]:
    """Command prefix of the real child process that speaks the worker protocol."""
    return [sys.executable, str(HERE / "protocol_child.py")]


class SlicerCoreScene:
    """A scene built by hand the way desktop Slicer builds it, without Qt (docs/internals.md)."""

    def __init__(self) -> None:
        import slicer

        self.scene = slicer.vtkMRMLScene()
        self.appLogic = slicer.vtkSlicerApplicationLogic()
        self.appLogic.SetMRMLScene(self.scene)
        colorLogic = self.appLogic.GetColorLogic()
        colorLogic.SetMRMLScene(self.scene)
        colorLogic.AddDefaultColorNodes()
        self.appLogic.SetModuleLogic("Colors", colorLogic)
        self.segmentationsLogic = self._register(slicer.vtkSlicerSegmentationsModuleLogic(), "Segmentations")
        self.volumesLogic = self._register(slicer.vtkSlicerVolumesLogic(), "Volumes")

    def _register(self, logic, name: str):  # noqa: ANN001, ANN202
        logic.SetMRMLApplicationLogic(self.appLogic)
        logic.SetMRMLScene(self.scene)
        self.appLogic.SetModuleLogic(name, logic)
        return logic

    def nodeIds(self) -> list[str]:
        return [self.scene.GetNthNode(i).GetID() for i in range(self.scene.GetNumberOfNodes())]

    def load(self, path, name: str = "CT"):  # noqa: ANN001, ANN201
        node = self.volumesLogic.AddArchetypeVolume(str(path), name, 0)
        assert node is not None, f"could not load {path}"
        return node

    def segmentArray(self, segmentationNode, segmentId: str, reference):  # noqa: ANN001, ANN201
        """The segment's voxels on ``reference``'s grid (a temporary labelmap node is removed again)."""
        import numpy as np
        import slicer
        import vtk

        ids = vtk.vtkStringArray()
        ids.InsertNextValue(segmentId)
        labelmap = self.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "readback")
        try:
            logic = slicer.vtkSlicerSegmentationsModuleLogic
            assert logic.ExportSegmentsToLabelmapNode(segmentationNode, ids, labelmap, reference)
            return np.array(slicer.util.arrayFromVolume(labelmap), copy=True)
        finally:
            if labelmap.GetDisplayNode():
                self.scene.RemoveNode(labelmap.GetDisplayNode())
            self.scene.RemoveNode(labelmap)


@pytest.fixture
def a_scene() -> SlicerCoreScene:
    """An empty MRML scene with the application, colour, volumes and segmentations logics."""
    pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
    return SlicerCoreScene()


def oblique_direction():  # noqa: ANN201
    """A right-handed, oblique rotation (about an axis that is not a coordinate axis)."""
    import numpy as np

    a, b = 0.35, 0.2
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


@pytest.fixture
def an_oblique_ct_file(tmp_path):  # noqa: ANN001, ANN201
    """A small oblique, anisotropic CT-like NRRD (16 x 40 x 48 voxels of 0.9 x 1.3 x 3.5 mm)."""
    import numpy as np

    from coin_core.io import Volume, write_volume

    k, j, i = np.mgrid[0:16, 0:40, 0:48]
    body = ((j - 20) / 17.0) ** 2 + ((i - 24) / 21.0) ** 2 < 1
    organ = ((j - 18) / 7.0) ** 2 + ((i - 28) / 8.0) ** 2 + ((k - 8) / 6.0) ** 2 < 1
    rng = np.random.default_rng(3)
    hu = np.where(body, 40.0, -1000.0) + np.where(organ, 120.0, 0.0) + rng.normal(0, 10, body.shape)
    volume = Volume(
        hu.astype(np.int16), (0.9, 1.3, 3.5), (12.5, -40.0, 33.0), tuple(oblique_direction().ravel())
    )
    path = tmp_path / "oblique_ct.nrrd"
    write_volume(volume, path)
    return path


@pytest.fixture
def recorded_argv(monkeypatch) -> list[list[str]]:  # noqa: ANN001
    """The argv of every worker the logic starts (the real ProcessRunner runs it)."""
    from coin_slicer import segmentation_logic

    argvs: list[list[str]] = []

    class RecordingRunner(segmentation_logic.ProcessRunner):
        def __init__(self, args, **kwargs) -> None:  # noqa: ANN001
            argvs.append(list(args))
            super().__init__(args, **kwargs)

    monkeypatch.setattr(segmentation_logic, "ProcessRunner", RecordingRunner)
    return argvs
