"""The fault catalogue: what a careless or hostile user does, run through the real ``coin`` command.

Each line of ``CASES`` is one fault: the command line (placeholders are files of the ``world``
fixture), the exit code, a fragment the message must hold, and files that must not exist
afterwards. Every refusal must also come without a traceback and without an internal function
name. The cases that need a separate process (signals, a killed writer) follow the table.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coin_core.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("{name}_counterfactual.nii.gz", "{name}_difference.nii.gz", "{name}_lesion.seg.nrrd",
           "{name}_slices.csv", "{name}_overview.png")  # fmt: skip
INTERNAL = re.compile(
    r"\b(filter_slices|plan_slice|split_slice_blocks|compute_window|slice_labels_from_mask):"
)


def _outputs(name: str) -> list[str]:
    return [f"out/{p.format(name=name)}" for p in OUTPUTS]


def _write(array: np.ndarray, path: Path, like, **geometry) -> Path:  # noqa: ANN001, ANN003
    """``array`` on ``like``'s grid (geometry keys replaced), written to ``path``."""
    from coin_core.io import Volume, write_volume

    base = {"spacing": like.spacing, "origin": like.origin, "direction": like.direction, **geometry}
    write_volume(Volume(array=array, **base), path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:  # noqa: ANN001
    """Inputs of every case: a phantom CT and its label map, broken variants of both, a tiny model."""
    from coin_testkit import make_tiny_model

    from coin_core.data.phantom import make_phantom

    w = tmp_path_factory.mktemp("faults")
    ct, label_volume, _lesion = make_phantom(shape=(12, 48, 48), lesions=1, seed=2)
    image, labels = np.asarray(ct.array, dtype=np.float32), np.asarray(label_volume.array, dtype=np.uint8)
    _write(image, w / "ct.nii.gz", like=ct)
    _write(labels, w / "host.nii.gz", like=ct)
    _write(labels, w / "host_shifted.nii.gz", like=ct, origin=(0.0, 0.0, 20.0))
    _write(labels, w / "host_flipped.nii.gz", like=ct, direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    bad = image.copy()
    bad[3, 10, 11] = np.nan
    _write(bad, w / "nan.nrrd", like=ct)
    _write(bad, w / "nan.nii.gz", like=ct)  # ITK's NIfTI reader turns NaN into 0: the file is checked
    bad[3, 10, 11] = np.inf
    _write(bad, w / "inf.mha", like=ct)
    _write(((image + 1024.0) * 0.4).astype(np.float32), w / "mr.nii.gz", like=ct)  # 0..~1000, no air
    _write(image.astype(np.float64) * 1e6, w / "mega.nii.gz", like=ct)  # HU scaled by 10^6
    (w / "empty.nii").write_bytes(b"")
    (w / "three.nii.gz").write_bytes(b"\x1f\x8b\x08")
    (w / "empty_host.nii.gz").write_bytes(b"")
    shutil.copy(w / "ct.nii.gz", w / "gz_named.nrrd")
    (w / "nii_named.nrrd").write_bytes(gzip.decompress((w / "ct.nii.gz").read_bytes()))
    model = make_tiny_model(w / "model", seed=0)
    typo = w / "model_typo"
    shutil.copytree(model, typo)
    card = json.loads((typo / "model.json").read_text())
    card["lable_names"] = card.pop("label_names")
    (typo / "model.json").write_text(json.dumps(card))
    run = w / "run"  # an interrupted earlier run
    (run / "checkpoints" / "step-00000117").mkdir(parents=True)
    for name in ("state.json", "state.safetensors"):
        (run / "checkpoints" / "step-00000117" / name).write_text("{}")
    (run / "config.yaml").write_text("seed: 0\n")
    (w / "bench").mkdir()
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(w / "nnunet", n_cases=1, shape=(8, 32, 32))
    return w


SEG = "segment --model {w}/model --output-dir {w}/out --device cpu --progress none --threads 1"
# id: (command line, exit code, message fragment, files (relative to the world) that must not exist)
CASES = {
    "nan-voxels": (SEG + " --input {w}/nan.nrrd", 2, "not numbers (NaN or infinite)", _outputs("nan")),
    "nan-voxels-nifti": (SEG + " --input {w}/nan.nii.gz", 2, "would silently turn them into 0 HU",
                         _outputs("nan")),
    "inf-voxels": (SEG + " --input {w}/inf.mha", 2, "(i, j, k) = (11, 10, 3)", _outputs("inf")),
    "mr-like-no-air": (SEG + " --input {w}/mr.nii.gz", 2, "it holds no air", _outputs("mr")),
    "hu-times-1e6": (SEG + " --input {w}/mega.nii.gz", 2, "above 4000 HU", _outputs("mega")),
    "override-flag-named": (SEG + " --input {w}/mr.nii.gz", 2, "--allow-unusual-hu", _outputs("mr")),
    "nan-not-overridable": (SEG + " --input {w}/nan.nrrd --allow-unusual-hu", 2, "NaN", _outputs("nan")),
    "host-label-absent": (SEG + " --input {w}/ct.nii.gz --host-mask {w}/host.nii.gz --host-labels 7", 2,
                          "none of these labels is in --host-mask", _outputs("ct")),
    "host-mask-other-origin": (SEG + " --input {w}/ct.nii.gz --host-mask {w}/host_shifted.nii.gz", 2,
                               "another origin", _outputs("ct")),
    "host-mask-other-direction": (SEG + " --input {w}/ct.nii.gz --host-mask {w}/host_flipped.nii.gz", 2,
                                  "another direction", _outputs("ct")),
    "host-labels-without-mask": (SEG + " --input {w}/ct.nii.gz --host-labels 2,3", 2,
                                 "--host-labels only work with --host-mask", _outputs("ct")),
    "min-host-pixels-without-mask": (SEG + " --input {w}/ct.nii.gz --min-host-pixels 5", 2,
                                     "--min-host-pixels only work with --host-mask", _outputs("ct")),
    "host-slices-none-left": (SEG + " --input {w}/ct.nii.gz --host-mask {w}/host.nii.gz "
                              "--min-host-pixels 100000", 2, "No axial slice has more than 100000",
                              _outputs("ct")),
    "min-host-pixels-negative": (SEG + " --input {w}/ct.nii.gz --host-mask {w}/host.nii.gz "
                                 "--min-host-pixels -1", 2, "is negative", _outputs("ct")),
    "zero-byte-nii": (SEG + " --input {w}/empty.nii", 2, "is empty (0 bytes)", _outputs("empty")),
    "three-byte-nii-gz": (SEG + " --input {w}/three.nii.gz", 2, "only 3 bytes long", _outputs("three")),
    "zero-byte-host-mask": (SEG + " --input {w}/ct.nii.gz --host-mask {w}/empty_host.nii.gz", 2,
                            "is empty (0 bytes)", _outputs("ct")),
    "nii-gz-named-nrrd": (SEG + " --input {w}/gz_named.nrrd", 2, "content does not match the extension",
                          _outputs("gz_named")),
    "nii-named-nrrd": (SEG + " --input {w}/nii_named.nrrd", 2, "rename it to end with '.nii'",
                       _outputs("nii_named")),
    "model-json-misspelled-key": (SEG.replace("{w}/model ", "{w}/model_typo ") + " --input {w}/ct.nii.gz", 0,
                                  "unknown key 'lable_names' (did you mean 'label_names'?)", []),
    "train-threads-negative": ("train --data {w}/bench --out {w}/new_run --threads -2", 2, "--threads",
                               ["new_run"]),
    "classifier-threads-negative": ("train-classifier --data {w}/bench --out {w}/cls --threads -2", 2,
                                    "N >= 1", ["cls"]),
    "train-over-earlier-run": ("train --data {w}/bench --out {w}/run --device cpu", 2,
                               "already holds a training run (config.yaml, checkpoints/step-00000117)",
                               ["run/model", "run/classifier"]),
    "train-resume-and-overwrite": ("train --data {w}/bench --out {w}/run --resume --overwrite", 2,
                                   "contradict", ["run/model"]),
    "data-negative-min-host-pixels": ("data synth-lesions --data {w}/nnunet --host kidney --out {w}/b2 "
                                      "--min-host-pixels -1 --progress none", 2,
                                      "host-organ pixels per slice is -1; it cannot be negative",
                                      ["b2/benchmark.json"]),
}  # fmt: skip


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:  # noqa: ANN001
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    captured = capsys.readouterr()
    return int(code or 0), captured.out + captured.err


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_fault(case, world, capsys):  # noqa: ANN001
    line, code, fragment, absent = CASES[case]
    argv = line.format(w=world).split()
    got, text = _run_cli(argv, capsys)
    assert got == code, f"{case}: exit {got}, expected {code}\n{text}"
    assert fragment in text, f"{case}: {fragment!r} missing from\n{text}"
    assert "Traceback" not in text and not INTERNAL.search(text), text
    if code == 2:
        assert "What to do" in text or "usage:" in text, text
    for rel in absent:
        assert not (world / rel).exists(), f"{case}: {rel} exists"
    for part in (world / "out").glob(".*.part*") if (world / "out").is_dir() else []:
        raise AssertionError(f"{case}: temporary file left: {part}")
    if code == 0:  # the warning case ran: clear its outputs for the other lines
        shutil.rmtree(world / "out")


def test_the_override_flag_lets_an_unusual_input_run(world, capsys):
    argv = (SEG + " --input {w}/mr.nii.gz --allow-unusual-hu").format(w=world).split()
    argv[argv.index("--output-dir") + 1] = str(world / "override_out")
    got, text = _run_cli(argv, capsys)
    assert got == 0, text
    assert (world / "override_out" / "mr_lesion.seg.nrrd").is_file()


def test_a_busy_port_for_the_web_page(world, capsys):
    pytest.importorskip("trame_slicer", reason="trame-slicer is not installed (requirements/web.txt)")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        got, text = _run_cli(["web", "--data-root", str(world), "--port", str(port)], capsys)
    assert got == 2 and f"port {port} on 127.0.0.1 is already in use" in text and "Traceback" not in text


def _segment_process(world: Path, out: Path, **popen) -> subprocess.Popen:  # noqa: ANN003
    argv = [
        sys.executable,
        "-m",
        "coin_core",
        *SEG.format(w=world).split(),
        "--input",
        str(world / "ct.nii.gz"),
    ]
    argv[argv.index("--output-dir") + 1] = str(out)
    argv[argv.index("--progress") + 1] = "jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(argv + ["--all-slices"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)  # fmt: skip


def _ignore_sigint() -> None:  # a background job of a shell script starts like this
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
def test_ctrl_c_during_post_processing_stops_the_run_and_keeps_nothing(world, tmp_path):
    out = tmp_path / "out"
    proc = _segment_process(world, out, preexec_fn=_ignore_sigint)
    stages = []
    for line in proc.stdout:
        stages.append(json.loads(line)["stage"])
        if stages[-1] == "postprocess":
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=300)
    stages += [json.loads(line)["stage"] for line in rest[0].splitlines()]
    assert proc.returncode == 130, (stages, rest[1][-2000:])
    assert "done" not in stages and stages[-1] == "error"
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


@pytest.mark.slow
def test_a_killed_writers_part_files_are_removed_by_the_next_run_and_nothing_else(world, tmp_path):
    out = tmp_path / "out"
    proc = _segment_process(world, out)
    for line in proc.stdout:
        if json.loads(line)["stage"] == "write":
            break
    parts: list[Path] = []
    while proc.poll() is None and not parts:  # kill -9 once the first temporary file exists
        parts = list(out.glob(".*.part*"))
    proc.kill()
    proc.communicate(timeout=60)
    if not parts:
        pytest.skip("the run finished before a temporary file could be caught (machine too fast)")
    left = list(out.glob(".*.part*"))
    assert left, "kill -9 left no temporary file to clean up"
    mine = out / ".notes.txt.part"  # the user's own file with a similar name stays
    mine.write_text("keep")
    second = _segment_process(world, out)
    text = second.communicate(timeout=300)
    assert second.returncode == 0, text[1][-2000:]
    assert "temporary file(s) of an interrupted run" in text[0]
    assert not list(out.glob(".ct_*.part*")) and mine.read_text() == "keep"
    assert (out / "ct_lesion.seg.nrrd").is_file()


def test_every_key_a_model_card_writes_is_a_valid_key():
    # the bundled model carries every optional section (anatomy gate, threshold source): no warning
    import warnings

    from coin_core.errors import CoinWarning
    from coin_core.gate.store import CARD_KEY
    from coin_core.modelfile import CARD_KEYS, read_card

    with warnings.catch_warnings():
        warnings.simplefilter("error", CoinWarning)
        card = read_card(ROOT / "Resources" / "DemoModel")
    assert set(card.to_dict()) <= set(CARD_KEYS) and CARD_KEY in CARD_KEYS
