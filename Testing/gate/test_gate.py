"""The anatomy gate: its statistic, its fit on a slice set, its place in the model folder, and coin segment
skipping slices outside the training anatomy (small data made in code; the real CT in test_gate_real_ct)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from coin_testkit import make_tiny_model, one_torch_thread  # noqa: F401 (an autouse fixture)

from coin_core.cli.main import main
from coin_core.errors import CoinError
from coin_core.gate.stats import fit_gate, ledoit_wolf, mahalanobis

WINDOW = (-200.0, 400.0)  # coin_testkit's tiny model window
N_BODY = 12  # phantom slices; the volume to segment adds foreign slices above them


def test_ledoit_wolf_matches_the_formula_written_out():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 6)) @ rng.standard_normal((6, 6))
    mean, cov, shrink = ledoit_wolf(x)
    y = x - x.mean(0)
    s = y.T @ y / len(x)
    mu = np.trace(s) / 6
    delta = np.sum((s - mu * np.eye(6)) ** 2)
    beta = min(sum(np.sum((np.outer(v, v) - s) ** 2) for v in y) / len(x) ** 2, delta)
    assert shrink == pytest.approx(beta / delta)
    np.testing.assert_allclose(cov, (1 - shrink) * s + shrink * mu * np.eye(6), rtol=1e-10)
    np.testing.assert_allclose(mean, x.mean(0))
    assert 0.0 < shrink < 1.0


def test_fit_takes_the_threshold_from_val_and_rejects_far_samples():
    rng = np.random.default_rng(0)
    train = [rng.standard_normal((200, 8)), rng.standard_normal((200, 4)) + 3.0]
    val = [rng.standard_normal((50, 8)), rng.standard_normal((50, 4)) + 3.0]
    gate, val_scores = fit_gate(train, val, ("a", "b"), quantile=0.9, margin=1.2)
    assert gate.threshold == pytest.approx(1.2 * np.quantile(val_scores, 0.9))
    # each stage's unit is its median val distance, so the median val score is close to 1
    assert np.median(val_scores) == pytest.approx(1.0, abs=0.15)
    mu, prec = gate.means[0], gate.precisions[0]
    np.testing.assert_allclose(
        mahalanobis(val[0], mu, prec) / gate.scales[0] / 2
        + mahalanobis(val[1], gate.means[1], gate.precisions[1]) / gate.scales[1] / 2,
        val_scores,
    )
    assert gate.passes(val_scores).mean() >= 0.9
    far = [rng.standard_normal((20, 8)) + 6.0, rng.standard_normal((20, 4)) - 3.0]
    assert not gate.passes(gate.scores(far)).any()


@pytest.mark.parametrize(("quantile", "margin"), [(0.0, 1.5), (1.2, 1.5), (0.99, 0.9)])
def test_a_bad_threshold_rule_is_refused(quantile, margin):
    f = [np.zeros((4, 2)) + np.arange(4)[:, None]]
    with pytest.raises(CoinError):
        fit_gate(f, f, ("a",), quantile=quantile, margin=margin)


# ---- a slice set and a volume made in code -------------------------------------------------------


def _phantom(seed: int):  # noqa: ANN202
    from coin_core.data.phantom import make_phantom

    image, _, _ = make_phantom(shape=(N_BODY, 64, 64), spacing=(4.0, 4.0, 5.0), seed=seed, noise_hu=10.0)
    return image


def _slices(seed: int, size: int = 32):  # noqa: ANN202
    """Phantom body slices as the model sees them (window, resize), one draw per seed."""
    import torch

    from coin_core.data.slices import plan_slice, to_model
    from coin_core.data.window import IntensityWindow

    hu = torch.from_numpy(_phantom(seed).array.astype(np.float32))
    x = to_model(IntensityWindow(*WINDOW).normalize(hu), plan_slice((64, 64), size), "image")
    return x.numpy()


@pytest.fixture(scope="module")
def body_bench(tmp_path_factory):  # noqa: ANN001, ANN201
    """A BENCH of phantom body slices (train: 4 noise draws, val: 2 others), kidney host, the tiny window."""
    from coin_core.data.benchmark import SliceArrays, save_split, write_benchmark_json

    root = tmp_path_factory.mktemp("gate") / "bench"
    for split, seeds in (("train", range(4)), ("val", range(10, 12)), ("test", range(20, 21))):
        image = np.concatenate([_slices(s) for s in seeds])
        n = len(image)
        label = (np.arange(n) % 3 == 0).astype(np.uint8)
        zeros = np.zeros_like(image, dtype=np.uint8)
        arrays = SliceArrays(
            image, label, zeros, np.ones(n), zeros, np.zeros(n), np.arange(n) % N_BODY, np.zeros(n)
        )
        save_split(root, split, arrays)
    meta = {"format": "coin-slices/1", "input_size": 32, "window": {"lo": WINDOW[0], "hi": WINDOW[1]}}
    meta.update(host="kidney", host_labels=[1], cases=[], splits={}, seed=0)
    write_benchmark_json(root, meta)
    return root


@pytest.fixture(scope="module")
def gated_model(tmp_path_factory, body_bench):  # noqa: ANN001, ANN201
    """A tiny model folder without a gate, then `coin model fit-gate` on body_bench."""
    folder = make_tiny_model(tmp_path_factory.mktemp("gate") / "model", gate=False)
    proc = coin("model", "fit-gate", "--model", str(folder), "--data", str(body_bench), "--progress", "none")
    assert proc.returncode == 0, proc.stderr
    assert "val normal" in proc.stdout
    return folder


@pytest.fixture(scope="module")
def volume_file(tmp_path_factory):  # noqa: ANN001, ANN201
    """A phantom (a new noise draw) with 6 slices of foreign anatomy above it: bone rings on air."""
    from coin_core.io import Volume, write_volume

    body = _phantom(seed=99)
    yy, xx = np.mgrid[:64, :64]
    ring = np.where(np.abs(np.hypot(yy - 32, xx - 32) - 20) < 4, 900.0, -1000.0)
    foreign = np.stack([ring + 30 * k for k in range(6)]).astype(np.float32)
    arr = np.concatenate([body.array.astype(np.float32), foreign])
    path = tmp_path_factory.mktemp("gate") / "ct.nii.gz"
    write_volume(Volume(arr, spacing=body.spacing, origin=body.origin, direction=body.direction), path)
    return path


def coin(*args: str) -> SimpleNamespace:
    """Run the ``coin`` CLI in this process (no second torch import): returncode, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "ct_slices.csv", newline="") as f:
        return list(csv.DictReader(f))


# ---- fit-gate and the model folder ------------------------------------------------------------------


def test_fit_gate_writes_the_card_section_and_the_statistics(gated_model, body_bench):
    card = json.loads((gated_model / "model.json").read_text())
    gate = card["anatomy_gate"]
    assert gate["host"] == "kidney" and gate["data"] == str(body_bench.resolve())
    assert gate["layers"] == ["layer2", "layer3", "layer4"] and gate["margin"] == 1.5
    assert gate["train_samples"] == 4 * N_BODY and gate["val_samples"] == 2 * N_BODY
    check = gate["check"]
    assert check["normal_passed"] == check["normal"] > 0 and check["abnormal_passed"] == check["abnormal"] > 0
    assert gate["threshold"] == pytest.approx(1.5 * gate["val_quantile_score"])
    assert (gated_model / "gate.safetensors").is_file()
    from coin_core.modelfile import load_model

    assert load_model(gated_model, device="cpu").gate.threshold == gate["threshold"]


def test_fit_gate_refuses_to_replace_a_gate_without_overwrite(gated_model, body_bench):
    before = (gated_model / "model.json").read_bytes()
    proc = coin("model", "fit-gate", "--model", str(gated_model), "--data", str(body_bench))
    assert (
        proc.returncode == 2
        and "already holds an anatomy gate" in proc.stderr
        and "--overwrite" in proc.stderr
    )
    assert (gated_model / "model.json").read_bytes() == before


def test_fit_gate_refuses_a_slice_set_with_another_window(tmp_path, gated_model, body_bench):
    import shutil

    other = tmp_path / "bench"
    shutil.copytree(body_bench, other)
    meta = json.loads((other / "benchmark.json").read_text())
    meta["window"] = {"lo": -1000.0, "hi": 1000.0}
    (other / "benchmark.json").write_text(json.dumps(meta))
    model = tmp_path / "model"
    shutil.copytree(gated_model, model)
    proc = coin("model", "fit-gate", "--model", str(model), "--data", str(other), "--overwrite")
    assert proc.returncode == 2 and "intensity window" in proc.stderr and "Traceback" not in proc.stderr


def test_a_gate_file_from_another_fit_is_refused(tmp_path, gated_model):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(gated_model, model)
    data = bytearray((model / "gate.safetensors").read_bytes())
    data[-1] ^= 1
    (model / "gate.safetensors").write_bytes(bytes(data))
    from coin_core.modelfile import load_model

    with pytest.raises(CoinError, match="does not belong to the anatomy gate"):
        load_model(model, device="cpu")


# ---- coin segment ----------------------------------------------------------------------------------


def test_segment_skips_the_foreign_slices_and_lists_them(tmp_path, gated_model, volume_file):
    out = tmp_path / "out"
    proc = coin("segment", "--model", str(gated_model), "--input", str(volume_file), "--output-dir", str(out),
                "--all-slices", "--progress", "text")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = _rows(out)
    note = "outside the model's training anatomy"
    outside = [int(r["slice"]) for r in rows if r["note"] == note]
    assert outside == list(range(N_BODY, N_BODY + 6))  # every foreign slice, no body slice
    assert all(r["counterfactual"] == ("0" if int(r["slice"]) in outside else "1") for r in rows)
    threshold = json.loads((gated_model / "model.json").read_text())["anatomy_gate"]["threshold"]
    assert all((float(r["anatomy_score"]) > threshold) == (int(r["slice"]) in outside) for r in rows)
    assert (
        "6 slices outside the model's training anatomy, skipped (slice index k, inferior first): 12-17."
        in (proc.stderr)
    )


def test_jsonl_done_event_lists_the_skipped_slices(tmp_path, gated_model, volume_file):
    proc = coin("segment", "--model", str(gated_model), "--input", str(volume_file), "--output-dir",
                str(tmp_path), "--all-slices", "--progress", "jsonl")  # fmt: skip
    done = json.loads(proc.stdout.strip().splitlines()[-1])
    assert done["stage"] == "done" and done["metrics"]["outside_anatomy"] == list(range(N_BODY, N_BODY + 6))
    assert done["metrics"]["slice_selection"] == "anatomy gate"


def test_a_model_without_a_gate_is_refused_before_the_ct_is_read(tmp_path, volume_file):
    model = make_tiny_model(tmp_path / "model", gate=False)
    out = tmp_path / "out"
    proc = coin("segment", "--model", str(model), "--input", str(tmp_path / "missing.nii.gz"),
                "--output-dir", str(out))  # fmt: skip
    assert (
        proc.returncode == 2 and "has no anatomy gate" in proc.stderr and "coin model fit-gate" in proc.stderr
    )
    assert "--no-gate" in proc.stderr and "Traceback" not in proc.stderr and not out.exists()
    # the override processes every slice, and says nothing is gated
    proc = coin("segment", "--model", str(model), "--input", str(volume_file), "--output-dir", str(out),
                "--all-slices", "--no-gate", "--progress", "none")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = _rows(out)
    assert all(r["counterfactual"] == "1" and r["note"] == "" and r["anatomy_score"] == "" for r in rows)


def test_a_host_mask_decides_instead_of_the_gate(tmp_path, gated_model, volume_file):
    from coin_core.io import read_volume, write_volume

    ct = read_volume(volume_file)
    labels = np.zeros(ct.array.shape, np.uint8)
    labels[N_BODY + 1, 10:30, 10:30] = 1  # "host organ" on one foreign slice only
    write_volume(ct.with_array(labels), tmp_path / "labels.nii.gz")
    proc = coin("segment", "--model", str(gated_model), "--input", str(volume_file), "--output-dir",
                str(tmp_path / "out"), "--all-slices", "--host-mask", str(tmp_path / "labels.nii.gz"),
                "--progress", "none")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = _rows(tmp_path / "out")
    assert [int(r["slice"]) for r in rows if r["counterfactual"] == "1"] == [N_BODY + 1]
    assert all(r["note"] == "" and r["anatomy_score"] != "" for r in rows)  # scores kept, nothing gated


def test_segment_volume_refuses_without_gate_and_host_filter(tmp_path, volume_file):
    from coin_core.infer import segment_volume
    from coin_core.io import read_volume
    from coin_core.modelfile import load_model

    model = load_model(make_tiny_model(tmp_path / "m", gate=False), device="cpu")
    with pytest.raises(CoinError, match="no anatomy gate"):
        segment_volume(read_volume(volume_file), model)
    result = segment_volume(read_volume(volume_file), model, anatomy_gate=False, screening=None)
    assert result.counterfactual_made.all() and result.info["slice_selection"] == "off"
    assert np.isnan(result.gate_score).all() and not result.outside_anatomy.any()
