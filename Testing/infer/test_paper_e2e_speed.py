"""benchmarks/paper_e2e_speed.py (no timing here): the model folder it writes is the paper preset and
loads; its reference-form process is ``coin segment`` with the generator swapped to the reference form,
and it computes the same counterfactuals as ours (the timed rows compare the same function); the host
mask leaves out the slice without the host organ."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4
"""Largest |difference| between the two forms' difference maps ([0, 1] units, fp32; the forms are the
same linear map, Testing/models/test_subpixel.py)."""


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports its sibling benchmark scripts
    try:
        spec = importlib.util.spec_from_file_location(
            "paper_e2e_speed", ROOT / "benchmarks" / "paper_e2e_speed.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


@pytest.fixture(scope="module")
def two_slices(tmp_path_factory):  # noqa: ANN201
    """A 2-slice phantom CT (int16 HU) and its label map: kidney (label 1) on the first slice only."""
    from coin_core.data.phantom import make_phantom
    from coin_core.io import write_volume

    image, labels, _ = make_phantom(shape=(8, 96, 96))
    folder = tmp_path_factory.mktemp("ct")
    paths = []
    for vol, name, dtype in ((image, "ct.nii.gz", np.int16), (labels, "labels.nii.gz", np.uint8)):
        arr = np.ascontiguousarray(np.rint(vol.array[4:6]).astype(dtype))
        write_volume(type(vol)(arr, vol.spacing, vol.origin, vol.direction), folder / name)
        paths.append(folder / name)
    assert (labels.array[4] == 1).sum() > 32 and (labels.array[5] == 1).sum() == 0
    return paths


@pytest.mark.slow  # a 256 MB paper-size model folder, three processes that load it (about 3 min under load)
def test_paper_model_folder_and_reference_form(bench, two_slices, tmp_path):
    from coin_core.io import read_volume
    from coin_core.modelfile import read_card
    from coin_core.models import network_preset

    model = bench.write_paper_model(tmp_path / "paper")
    assert read_card(model).architecture == network_preset("paper")
    ct, host = two_slices
    runs = {}
    for variant in bench.VARIANTS[:2]:  # reference (every slice), ours with the host mask
        out = tmp_path / variant[0].replace(" ", "_").replace(",", "")
        runs[variant[0]] = bench.run_variant(model, ct, host, variant, out)  # fails if no swap happened
        runs[variant[0]]["diff"] = read_volume(next(out.glob("*_difference.nii.gz"))).array
    ref, ours = runs["reference"], runs["ours, host mask"]
    assert (ref["slices"], ref["counterfactuals"]) == (2, 2)
    assert (ours["slices"], ours["counterfactuals"]) == (2, 1)
    assert ref["cpu_s"] > 0 and ours["cpu_s"] > 0
    # the same counterfactual on the host slice in both forms; nothing where ours made none
    assert ref["diff"][0].max() > 0.01  # random weights: the counterfactual differs from the input
    assert np.abs(ref["diff"][0] - ours["diff"][0]).max() < TOLERANCE
    assert ours["diff"][1].max() == 0
    ratio = bench.summary({"reference": [ref], "ours, host mask": [ours]})[-1]
    assert ratio.startswith("reference / ours with the host mask") and ratio.endswith("x less CPU time")
