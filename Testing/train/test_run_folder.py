"""A run folder is never silently replaced or mixed; damaged checkpoints are skipped by name;
messages never name a checkpoint that is not on disk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from train_helpers import TINY_SIZE, tiny_overrides

from coin_core.cli.main import main
from coin_core.config import load_config
from coin_core.data.benchmark import load_split
from coin_core.errors import CoinCancelled, CoinError
from coin_core.models import build_networks
from coin_core.train.checkpoint import list_checkpoints
from coin_core.train.gan import fit_gan
from coin_core.train.pipeline import prepare_run_folder


@pytest.fixture(scope="module")
def splits(tiny_bench):  # noqa: ANN001, ANN201
    return load_split(tiny_bench, "train", TINY_SIZE), load_split(tiny_bench, "val", TINY_SIZE)


def _cfg(**extra):  # noqa: ANN003, ANN202
    return load_config("small", tiny_overrides(**extra))


def _classifier(cfg):  # noqa: ANN001, ANN202
    return build_networks(cfg.model, seed=1, parts=("classifier",)).classifier


def _weights(result) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {f"{n}/{k}": v.detach().clone() for n in ("encoder", "generator") for k, v in
            getattr(result, n).state_dict().items()}  # fmt: skip


def _snapshot(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_an_earlier_run_is_refused_without_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "step-00000117").mkdir(parents=True)
    for name in ("state.json", "state.safetensors"):
        (run / "checkpoints" / "step-00000117" / name).write_text("x")
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "notes.txt").write_text("mine")
    before = _snapshot(run)
    wanted = r"already holds a training run \(config\.yaml, checkpoints/step-00000117\)"
    wanted += r"[\s\S]*--resume[\s\S]*--overwrite"
    with pytest.raises(CoinError, match=wanted):
        prepare_run_folder(run, resume=False, overwrite=False)
    assert _snapshot(run) == before
    with pytest.raises(CoinError, match="contradict"):
        prepare_run_folder(run, resume=True, overwrite=True)
    prepare_run_folder(run, resume=False, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # only the run's own entries went


def test_a_folder_with_only_other_files_is_not_an_earlier_run(tmp_path):
    (tmp_path / "bench").mkdir()  # what COINTraining keeps in a run folder before the first start
    (tmp_path / "slicer_run.json").write_text("{}")
    prepare_run_folder(tmp_path, resume=False, overwrite=False)


def test_resume_with_nothing_to_resume_says_it_starts_from_scratch(splits, tmp_path):
    train, val = splits
    events = []
    prepare_run_folder(tmp_path / "new", resume=True, overwrite=False, progress=events.append)
    cfg = _cfg(**{"gan.max_steps": 1})
    fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "new", resume=True, device="cpu",
            progress=events.append)  # fmt: skip
    said = [e.message for e in events if e.stage == "resume"]
    assert any("nothing to resume" in m and "from scratch" in m for m in said), said
    assert any("no checkpoint in" in m and "starts from scratch (step 0)" in m for m in said), said


def test_a_truncated_newest_checkpoint_is_skipped_by_name_and_the_run_continues_exactly(splits, tmp_path):
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 8, "gan.checkpoint_every": 3})
    straight = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "a", device="cpu")
    half = _cfg(**{"gan.max_steps": 7, "gan.checkpoint_every": 3})
    fit_gan(half, train, val, _classifier(cfg), tmp_path / "b", device="cpu")
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == [
        "step-00000003",
        "step-00000006",
        "step-00000007",
    ]
    newest = tmp_path / "b" / "checkpoints" / "step-00000007" / "state.safetensors"
    newest.write_bytes(newest.read_bytes()[:1000])  # a disk that filled up, a copy cut short
    events = []
    resumed = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "b", resume=True, device="cpu",
                      progress=events.append)  # fmt: skip
    said = " ".join(e.message for e in events if e.stage == "resume")
    assert "Skipped checkpoint step-00000007" in said and "using step-00000006" in said
    assert "Resumed from" in said and "step 6" in said
    assert resumed.step == 8
    a, b = _weights(straight), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_when_no_checkpoint_reads_resume_stops_with_one_message(splits, tmp_path):
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 3, "gan.checkpoint_every": 3})
    fit_gan(cfg, train, val, _classifier(cfg), tmp_path, device="cpu")
    (tmp_path / "checkpoints" / "step-00000003" / "state.safetensors").write_bytes(b"\0\0")
    with pytest.raises(
        CoinError, match=r"No checkpoint of .* can be read \(step-00000003\)[\s\S]*--overwrite"
    ):
        fit_gan(
            _cfg(**{"gan.max_steps": 6}), train, val, _classifier(cfg), tmp_path, resume=True, device="cpu"
        )


def test_the_interrupt_message_names_a_checkpoint_that_exists(splits, tmp_path):
    # a checkpoint of another run that sorts after this run's steps: pruning must not delete the new one
    stale = tmp_path / "checkpoints" / "step-00000117"
    stale.mkdir(parents=True)
    (stale / "state.json").write_text("{}")
    (stale / "state.safetensors").write_text("x")
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 6, "gan.checkpoint_every": 100, "gan.keep_checkpoints": 1})

    def interrupt_at_step_2(event):  # noqa: ANN001, ANN202
        if event.stage == "gan" and event.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(CoinCancelled) as err:
        fit_gan(cfg, train, val, _classifier(cfg), tmp_path, device="cpu", progress=interrupt_at_step_2)
    named = re.search(r"kept checkpoint (\S+)\.", str(err.value))
    assert named and Path(named.group(1)).is_dir() and Path(named.group(1)).name == "step-00000002"


@pytest.mark.parametrize("command", ["train", "train-classifier"])
@pytest.mark.parametrize("threads", ["-2", "two"])
def test_threads_must_be_zero_or_positive(command, threads, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--threads", threads])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--threads" in err and "N >= 1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
