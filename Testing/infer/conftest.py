"""Fixtures for the inference tests: tiny random COIN models, an oracle model, phantom volumes."""

from __future__ import annotations

import numpy as np
import pytest

TINY_SIZE = 32
WINDOW = (-200.0, 400.0)


def tiny_config(input_size: int = TINY_SIZE):  # noqa: ANN201
    from coin_core.models import (
        ClassifierConfig,
        DiscriminatorConfig,
        EncoderConfig,
        GeneratorConfig,
        NetworkConfig,
    )

    return NetworkConfig(
        input_size=input_size,
        classifier=ClassifierConfig(base_width=4),
        encoder=EncoderConfig(widths=(4, 8, 8)),
        generator=GeneratorConfig(skips=(1, 2)),
        discriminator=DiscriminatorConfig(widths=(4, 8), scales=(2, 2)),
    )


def make_model_folder(folder, input_size: int = TINY_SIZE, seed: int = 0, gate: bool = True):  # noqa: ANN001, ANN201
    """A real model folder (model.json + safetensors) holding tiny random networks.

    With ``gate``, an anatomy gate that admits every slice (``coin_testkit.add_open_gate``)."""
    from coin_testkit import add_open_gate

    from coin_core.data.window import IntensityWindow
    from coin_core.modelfile import ModelCard, save_model
    from coin_core.models import build_networks

    cfg = tiny_config(input_size)
    nets = build_networks(cfg, seed=seed)
    card = ModelCard(
        method="coin",
        architecture=cfg,
        input_size=input_size,
        window=IntensityWindow(*WINDOW),
        threshold=0.25,
    )
    save_model(folder, card, nets.classifier, nets.encoder, nets.generator)
    return add_open_gate(folder) if gate else folder


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):  # noqa: ANN001, ANN201
    """Folder of a tiny random COIN model, written with ``save_model``."""
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny")


def _load(folder_fixture: str, request):  # noqa: ANN001, ANN202
    from coin_core.modelfile import load_model

    return load_model(request.getfixturevalue(folder_fixture), device="cpu")


@pytest.fixture
def tiny_model(request):  # noqa: ANN001, ANN201
    """A tiny random model loaded from a real model folder."""
    return _load("model_dir", request)


class OracleModel:
    """A loaded model whose counterfactual removes a known bright lesion, deterministically.

    The lesion (300 HU inside 150 HU kidney) sits at x ~ 0.67 after the (-200, 400) window; the
    oracle replaces values in (0.55, 0.9) by the kidney's 0.17 and calls a slice abnormal when it
    holds such values. Used to check geometry and plumbing independently of training.
    """

    def __init__(self, model) -> None:  # noqa: ANN001
        self._model = model
        self.card = model.card
        self.classifier, self.encoder, self.generator = model.classifier, model.encoder, model.generator

    @staticmethod
    def _bright(x):  # noqa: ANN001, ANN205
        return (x > 0.55) & (x < 0.9)

    def probability(self, x):  # noqa: ANN001, ANN201
        self._model.probability(x)  # run the real network too (device, dtype, layout)
        return self._bright(x).flatten(1).any(dim=1).float()

    @property
    def gate(self):  # noqa: ANN201
        return self._model.gate

    def probability_and_gate_score(self, x):  # noqa: ANN001, ANN201
        _, scores = self._model.probability_and_gate_score(x)  # the real network and gate
        return self.probability(x), scores

    def counterfactual(self, x):  # noqa: ANN001, ANN201
        self._model.counterfactual(x)
        kidney = 2 * (150.0 - WINDOW[0]) / (WINDOW[1] - WINDOW[0]) - 1
        return x.masked_fill(self._bright(x), kidney)


@pytest.fixture(scope="session")
def oracle_model_dir(tmp_path_factory):  # noqa: ANN001, ANN201
    return make_model_folder(tmp_path_factory.mktemp("oracle") / "tiny64", input_size=64)


@pytest.fixture
def oracle_model(request):  # noqa: ANN001, ANN201
    return OracleModel(_load("oracle_model_dir", request))


@pytest.fixture(scope="session")
def phantom():  # noqa: ANN201
    """(image, lesion) Volumes: 12 slices of 64 x 64, one hyperdense kidney lesion."""
    from coin_core.data.phantom import make_phantom

    lesion = {"center": (3, 40, 20), "radius_mm": (8.0, 12.0, 12.0), "hu": 300.0}
    image, _, mask = make_phantom(shape=(12, 64, 64), spacing=(1.8, 2.0, 4.0), lesions=[lesion], noise_hu=5.0)
    assert mask.array.sum() > 50
    return image, mask


def reorient(volume, order=(2, 0, 1), flips=(True, False, True)):  # noqa: ANN001, ANN201
    """The same physical image stored with permuted / flipped axes, oblique and anisotropic.

    Returns a Volume whose voxel (k', j', i') is the input voxel at the permuted / flipped index,
    with a direction and origin that keep every voxel's physical position (up to a small rotation).
    """
    from coin_core.io import Volume

    arr = volume.array
    # numpy axes of the new array, taken from the old numpy axes (k, j, i)
    new = arr.transpose(order)
    for axis, flip in enumerate(flips):
        if flip:
            new = np.flip(new, axis=axis)
    new = np.ascontiguousarray(new)
    # SimpleITK axis a' (i', j', k') = numpy axis (2 - a') of new = old numpy axis order[2 - a']
    old_d = np.asarray(volume.direction).reshape(3, 3)
    old_spacing = np.asarray(volume.spacing)
    shape_old_sitk = np.asarray(arr.shape[::-1])
    d = np.zeros((3, 3))
    spacing = np.zeros(3)
    origin = np.asarray(volume.origin, dtype=float).copy()
    for a_new in range(3):
        old_sitk_axis = 2 - order[2 - a_new]
        flip = flips[2 - a_new]
        d[:, a_new] = old_d[:, old_sitk_axis] * (-1 if flip else 1)
        spacing[a_new] = old_spacing[old_sitk_axis]
        if flip:
            origin += (
                old_d[:, old_sitk_axis] * old_spacing[old_sitk_axis] * (shape_old_sitk[old_sitk_axis] - 1)
            )
    angle = 0.12  # a small oblique tilt about the S axis; canonical axes stay the same
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    d = rot @ d
    origin = rot @ origin
    return Volume(new, spacing=tuple(spacing), origin=tuple(origin), direction=tuple(d.ravel()))


def import_slicer():  # noqa: ANN201
    """``import slicer`` (slicer-core), or skip.

    slicer-core's ``slicer`` meta-package imports every module of every folder named ``slicer`` on
    ``sys.path``; pytest puts ``Testing/`` there, so ``Testing/slicer_ext/*.py`` would be imported as
    ``slicer.*``. Import it with ``Testing/`` hidden from ``sys.path``.
    """
    import sys
    from pathlib import Path

    if "slicer" in sys.modules:
        return sys.modules["slicer"]
    testing = Path(__file__).resolve().parents[1]
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != testing]
    try:
        return pytest.importorskip("slicer")
    finally:
        sys.path[:] = saved


@pytest.fixture(scope="module")
def slicer_scene():  # noqa: ANN201
    """A slicer-core scene with the segmentations and volumes logics, as desktop Slicer builds it."""
    slicer = import_slicer()
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    seg_logic = slicer.vtkSlicerSegmentationsModuleLogic()
    seg_logic.SetMRMLApplicationLogic(app_logic)
    seg_logic.SetMRMLScene(scene)
    vol_logic = slicer.vtkSlicerVolumesLogic()
    vol_logic.SetMRMLApplicationLogic(app_logic)
    vol_logic.SetMRMLScene(scene)
    # app_logic must stay referenced while the logics are used, or VTK frees it under them
    yield slicer, scene, seg_logic, vol_logic
    del app_logic
