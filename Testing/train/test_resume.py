"""Checkpoints: resume is bit-exact, Ctrl-C leaves a resumable checkpoint, NaN stops cleanly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import TINY_SIZE, tiny_overrides

from coin_core.config import load_config
from coin_core.data.benchmark import load_split
from coin_core.errors import CoinCancelled, CoinError
from coin_core.models import build_networks
from coin_core.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from coin_core.train.gan import fit_gan


@pytest.fixture(scope="module")
def splits(tiny_bench):
    return load_split(tiny_bench, "train", TINY_SIZE), load_split(tiny_bench, "val", TINY_SIZE)


def _cfg(**extra):
    return load_config("small", tiny_overrides(**extra))


def _classifier(cfg):
    return build_networks(cfg.model, seed=1, parts=("classifier",)).classifier


def _weights(result) -> dict[str, torch.Tensor]:
    out = {}
    for name in ("encoder", "generator", "discriminator"):
        for k, v in getattr(result, name).state_dict().items():
            out[f"{name}/{k}"] = v.detach().clone()
    return out


def _assert_identical(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_half_run_plus_resume_gives_bit_identical_weights(splits, tmp_path):
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 8})
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    straight = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "a", device="cpu")
    assert straight.step == 8
    assert torch.are_deterministic_algorithms_enabled() == deterministic_before  # global flag restored
    half = _cfg(**{"gan.max_steps": 4})
    first = fit_gan(half, train, val, _classifier(cfg), tmp_path / "b", device="cpu")
    assert first.step == 4 and latest_checkpoint(tmp_path / "b").name == "step-00000004"
    resumed = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "b", resume=True, device="cpu")
    assert resumed.step == 8
    _assert_identical(_weights(straight), _weights(resumed))
    # and the optimiser state travels through the checkpoint too
    ta, _ = load_checkpoint(latest_checkpoint(tmp_path / "a"))
    tb, _ = load_checkpoint(latest_checkpoint(tmp_path / "b"))
    _assert_identical({k: v for k, v in ta.items() if k.startswith("optim")},
                      {k: v for k, v in tb.items() if k.startswith("optim")})  # fmt: skip


def test_a_different_seed_changes_the_weights(splits, tmp_path):
    # guards the test above against comparing two runs that could never differ
    train, val = splits
    a = fit_gan(_cfg(**{"gan.max_steps": 2}), train, val, _classifier(_cfg()), tmp_path / "a", device="cpu")
    b = fit_gan(
        _cfg(**{"gan.max_steps": 2, "seed": 5}), train, val, _classifier(_cfg()), tmp_path / "b", device="cpu"
    )
    wa, wb = _weights(a), _weights(b)
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)


def test_ctrl_c_from_a_progress_callback_saves_a_resumable_checkpoint(splits, tmp_path):
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 6, "gan.checkpoint_every": 100})

    def interrupt_at_step_5(event):
        if event.stage == "gan" and event.done == 5:
            raise KeyboardInterrupt

    with pytest.raises(CoinCancelled, match="interrupted at step 5.*--resume"):
        fit_gan(
            cfg, train, val, _classifier(cfg), tmp_path / "run", device="cpu", progress=interrupt_at_step_5
        )
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000005"]
    resumed = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "run", resume=True, device="cpu")
    straight = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "straight", device="cpu")
    assert resumed.step == 6
    _assert_identical(_weights(straight), _weights(resumed))


def test_should_stop_cancels_with_a_checkpoint(splits, tmp_path):
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 6, "gan.checkpoint_every": 100})
    calls = []
    with pytest.raises(CoinCancelled):
        fit_gan(cfg, train, val, _classifier(cfg), tmp_path, device="cpu",
                should_stop=lambda: calls.append(1) or len(calls) >= 2)  # fmt: skip
    assert latest_checkpoint(tmp_path).name == "step-00000002"


def test_a_nan_loss_stops_naming_step_and_term_and_keeps_the_last_good_checkpoint(splits, tmp_path):
    train, val = splits
    bad = train.subset(np.arange(len(train)))
    image = bad.image.copy()
    image[:] = np.float16(np.nan)
    bad.image = image
    cfg = _cfg(**{"gan.max_steps": 6, "gan.checkpoint_every": 2})

    # good data for 4 steps (checkpoints at 2 and 4), then NaN images from step 4 on
    fit_gan(_cfg(**{"gan.max_steps": 4, "gan.checkpoint_every": 2}), train, val, _classifier(cfg), tmp_path,
            device="cpu")  # fmt: skip
    before = load_checkpoint(latest_checkpoint(tmp_path))[0]
    with pytest.raises(CoinError, match=r"step 4: the loss term Loss/\w/\w+ is nan.*step-00000004") as err:
        fit_gan(cfg, bad, val, _classifier(cfg), tmp_path, resume=True, device="cpu")
    assert "--resume" in str(err.value)
    assert latest_checkpoint(tmp_path).name == "step-00000004"
    after = load_checkpoint(latest_checkpoint(tmp_path))[0]
    _assert_identical(before, after)


def test_resume_refuses_a_changed_loss_weight(splits, tmp_path):
    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 2})
    fit_gan(cfg, train, val, _classifier(cfg), tmp_path, device="cpu")
    changed = _cfg(**{"gan.max_steps": 4, "loss.lambda_kl": 1.0})
    with pytest.raises(CoinError, match=r"loss\.lambda_kl: 5\.0 -> 1\.0"):
        fit_gan(changed, train, val, _classifier(cfg), tmp_path, resume=True, device="cpu")


def test_a_checkpoint_older_than_an_optional_key_resumes_but_a_real_change_is_refused(splits, tmp_path):
    # a checkpoint written before gan.augment_flip / gan.ema_decay existed ran with their defaults
    import json

    train, val = splits
    cfg = _cfg(**{"gan.max_steps": 2})
    fit_gan(cfg, train, val, _classifier(cfg), tmp_path, device="cpu")
    state = latest_checkpoint(tmp_path) / "state.json"
    meta = json.loads(state.read_text())
    for key in ("augment_flip", "ema_decay"):
        del meta["config"]["gan"][key]
    state.write_text(json.dumps(meta))
    resumed = fit_gan(_cfg(**{"gan.max_steps": 4}), train, val, _classifier(cfg), tmp_path, resume=True,
                      device="cpu")  # fmt: skip
    assert resumed.step == 4
    flipped = _cfg(**{"gan.max_steps": 6, "gan.augment_flip": True})
    with pytest.raises(CoinError, match=r"gan\.augment_flip: False -> True"):
        fit_gan(flipped, train, val, _classifier(cfg), tmp_path, resume=True, device="cpu")


def test_channels_last_computes_the_same_losses(splits, tmp_path):
    # first-step losses (before any update) agree; later weights differ by Adam's ±lr on near-zero grads
    train, val = splits
    first = {}
    for layout in (False, True):
        events = []
        cfg = _cfg(**{"gan.max_steps": 1, "channels_last": layout})
        fit_gan(
            cfg, train, val, _classifier(_cfg()), tmp_path / str(layout), device="cpu", progress=events.append
        )
        first[layout] = next(e.metrics for e in events if e.stage == "gan")
    losses = [k for k in first[False] if k.startswith("Loss/")]
    assert len(losses) >= 7
    for k in losses:
        assert first[True][k] == pytest.approx(first[False][k], rel=1e-4, abs=1e-6), k


def test_singla_is_a_config_of_the_same_trainer(splits, tmp_path):
    train, val = splits
    cfg = load_config("singla", tiny_overrides(**{"gan.max_steps": 3}))
    events = []
    res = fit_gan(cfg, train, val, _classifier(cfg), tmp_path, device="cpu", progress=events.append)
    assert res.step == 3 and cfg.model.generator.fusion == "tanh"
    g_terms = {k for e in events if e.stage == "gan" for k in e.metrics if k.startswith("Loss/G/")}
    assert g_terms == {"Loss/G/adv", "Loss/G/kl", "Loss/G/rec", "Loss/G/total"}  # no TV for Singla*


MASK_EMA = {"model.generator.fusion": "mask", "model.generator.input_skip": True,
            "loss.lambda_mask": 1.0, "gan.ema_decay": 0.9}  # fmt: skip


def test_mask_recipe_with_ema_trains_saves_the_average_and_resumes_bit_exactly(splits, tmp_path):
    train, val = splits
    events = []
    cfg = _cfg(**{"gan.max_steps": 8, **MASK_EMA})
    straight = fit_gan(
        cfg, train, val, _classifier(cfg), tmp_path / "a", device="cpu", progress=events.append
    )
    g_terms = [e.metrics for e in events if e.stage == "gan" and "Loss/G/mask" in (e.metrics or {})]
    assert g_terms and all(0 < t["Loss/G/mask"] < 1 for t in g_terms)  # the sparsity prior is trained
    tensors, meta = load_checkpoint(latest_checkpoint(tmp_path / "a"))
    assert meta["ema_updates"] == 4  # k = 2: E+G updated on steps 0, 2, 4, 6
    ema_gen = {k[len("ema/generator.") :]: v for k, v in tensors.items() if k.startswith("ema/generator.")}
    trained_gen = {k[len("generator/") :]: v for k, v in tensors.items() if k.startswith("generator/")}
    assert ema_gen.keys() == trained_gen.keys()
    # the result (what the model file gets) is the average, which differs from the last weights
    result_gen = straight.generator.state_dict()
    assert all(torch.equal(result_gen[k].cpu(), ema_gen[k]) for k in ema_gen)
    assert any(not torch.equal(ema_gen[k], trained_gen[k]) for k in ema_gen if ema_gen[k].is_floating_point())
    half = _cfg(**{"gan.max_steps": 4, **MASK_EMA})
    fit_gan(half, train, val, _classifier(cfg), tmp_path / "b", device="cpu")
    resumed = fit_gan(cfg, train, val, _classifier(cfg), tmp_path / "b", resume=True, device="cpu")
    _assert_identical(_weights(straight), _weights(resumed))
