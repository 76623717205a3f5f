"""The review page in a real browser: Debian chromium driven by playwright-core (review_page.mjs).

pytest starts ``coin web`` on a free 127.0.0.1 port with a phantom CT in a temporary data root
(conftest.py's ``a_web_server``), then opens the URL it printed (with its secret) in the Node
script, which uses the page like a user (open, cancel, generate, threshold, margin,
paint, undo / redo, save) and reports the numbers it saw; this test checks them and the files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "Testing" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
SCRIPT_TIMEOUT_S = 150

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return "Debian chromium is missing (/usr/bin/chromium); run scripts/setup_browser.sh"
    if shutil.which("node") is None:
        return "node is missing; run scripts/setup_browser.sh"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "Testing/web/node_modules/playwright-core is missing; run scripts/setup_browser.sh"
    return None


def view_regions_std(png: Path, views: list[dict]) -> list[float]:
    """Pixel standard deviation of each slice view's region of the screenshot."""
    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    out = []
    for v in views:
        x, y, w, h = (int(round(v[k])) for k in ("x", "y", "width", "height"))
        out.append(float(pixels[y : y + h, x : x + w].std()))
    return out


def seg_nrrd_voxels(path: Path) -> tuple[int, str]:
    """Voxels set in a .seg.nrrd and its header text (read with SimpleITK, not with the page's code)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    image = reader.Execute()
    header = {k: reader.GetMetaData(k) for k in reader.GetMetaDataKeys()}
    return int(np.count_nonzero(sitk.GetArrayFromImage(image))), json.dumps(header)


def test_review_page_generates_thresholds_edits_and_saves_in_chromium(a_web_server, a_data_root, tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    artifacts = tmp_path / "artifacts"
    proc = subprocess.run(
        ["node", str(HERE / "review_page.mjs"), a_web_server.url, "phantom.nii.gz", str(artifacts)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the browser script:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = [
        result.get("screenshot"),
        result.get("failure_screenshot"),
        *result.get("overlay_shots", {}).values(),
    ]
    for shot in shots:
        if shot and Path(shot).is_file():
            shutil.copy(shot, ARTIFACTS / Path(shot).name)
    assert result["ok"], f"{result.get('error')}\npage: {result.get('page_text')}"

    assert "broken.nii.gz" in result["bad_file_message"]
    # the box model: why it needs the host organ, the refusal on the page, the label map's labels
    assert "108 x 216 mm box around the host organ" in result["host_required"]
    assert "box around the host organ" in result["box_refused_message"]
    assert "organ button" in result["box_refused_message"]
    assert [label.split(" (")[0] for label in result["host_labels"]] == ["label 1", "label 2", "label 3"]
    assert result["cancelled_count"] == 0 and result["responsive_while_running"]
    assert result["count_generated"] > 0
    assert result["threshold_text"] == "Threshold 0.07"
    assert result["count_threshold"] > result["count_generated"]  # a lower threshold keeps more voxels
    # the margin slider: the run's margin (the tiny model's card has none), 4 mm grows the mask, 0 again
    assert result["margin_text_run"] == "Margin 0.0 mm" and result["margin_text"] == "Margin 4.0 mm"
    assert result["count_margin"] > result["count_threshold"] == result["count_margin_back"]
    assert result["table_margin"] == result["count_margin"]
    assert result["count_painted"] > result["count_threshold"]
    # the lesion table (one row per connected lesion) follows the run, the threshold and the edit
    assert result["table_rows"] >= 1
    assert result["table_generated"] == result["count_generated"]
    assert result["table_threshold"] == result["count_threshold"]
    assert result["table_painted"] == result["count_painted"]
    assert (result["count_undone"], result["count_redone"]) == (
        result["count_threshold"],
        result["count_painted"],
    )

    stds = view_regions_std(Path(result["screenshot"]), result["views"])
    assert len(stds) == 3 and min(stds) > 5.0, f"blank slice view(s): pixel std {stds}"

    shots = {
        k: np.asarray(Image.open(v).convert("RGB"), dtype=np.int16)
        for k, v in result["overlay_shots"].items()
    }
    v = {k: int(round(result["views"][0][k])) for k in ("x", "y", "width", "height")}
    first = np.asarray(Image.open(result["screenshot"]).convert("RGB"), dtype=np.int16)
    first = first[v["y"] : v["y"] + v["height"], v["x"] : v["x"] + v["width"]]
    back = np.abs(shots["image"] - first).mean()  # toggled back to "image": the same picture again
    assert back < 0.2, back
    for overlay in ("difference", "counterfactual"):  # each toggle changes what the axial view shows
        assert np.abs(shots[overlay] - shots["image"]).mean() > 0.5, overlay

    assert sorted(result["saved"]) == ["phantom_counterfactual.nii.gz", "phantom_lesion.seg.nrrd"]
    voxels, header = seg_nrrd_voxels(a_data_root / "phantom_lesion.seg.nrrd")
    assert voxels == result["count_saved"] == result["count_painted"]
    assert "lesion" in header
    assert result["second_save_asked"]
