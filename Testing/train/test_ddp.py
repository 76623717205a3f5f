"""Two-process DistributedDataParallel training on CPU (gloo): both ranks end with the same weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, bench: str, out: str) -> None:
    from safetensors.torch import save_file
    from train_helpers import TINY_SIZE, tiny_overrides

    from coin_core.config import load_config
    from coin_core.data.benchmark import load_split
    from coin_core.train import ddp
    from coin_core.train.classifier import fit_classifier
    from coin_core.train.gan import fit_gan

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    info = ddp.init_from_env(torch.device("cpu"))
    try:
        cfg = load_config(
            "small", tiny_overrides(**{"gan.max_steps": 4, "gan.batch_size": 2, "gan.checkpoint_every": 100})
        )
        train, val = load_split(bench, "train", TINY_SIZE), load_split(bench, "val", TINY_SIZE)
        cls = fit_classifier(cfg, train, val, f"{out}/run/classifier", device="cpu")
        res = fit_gan(cfg, train, val, cls.classifier, f"{out}/run", device="cpu")
        tensors = {}
        for name, module in (
            ("f", cls.classifier),
            ("E", res.encoder),
            ("G", res.generator),
            ("D", res.discriminator),
        ):
            for k, v in module.named_parameters():
                tensors[f"{name}/{k}"] = v.detach().contiguous()
        save_file(tensors, f"{out}/rank{info.rank}.safetensors")
    finally:
        ddp.shutdown(info)


def test_two_gloo_processes_train_to_identical_weights(tiny_bench, tmp_path):
    from safetensors.torch import load_file

    mp.spawn(_worker, args=(_free_port(), str(tiny_bench), str(tmp_path)), nprocs=WORLD, join=True)
    w0, w1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(WORLD))
    assert w0.keys() == w1.keys() and any(k.startswith("G/") for k in w0)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # only rank 0 wrote files: one checkpoint folder, the classifier folder
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-00000004"]
    assert (tmp_path / "run" / "classifier" / "classifier.json").is_file()


@pytest.mark.parametrize("rank", [0, 1])
def test_each_rank_sees_its_own_shard_of_an_epoch(rank):
    from coin_core.train.ddp import DistInfo
    from coin_core.train.loop import epoch_batches

    mine = epoch_batches(20, 3, seed=0, epoch=1, info=DistInfo(rank=rank, world_size=2))
    other = epoch_batches(20, 3, seed=0, epoch=1, info=DistInfo(rank=1 - rank, world_size=2))
    flat, flat_other = {i for b in mine for i in b}, {i for b in other for i in b}
    assert len(mine) == 3 and all(len(b) == 3 for b in mine)
    assert not flat & flat_other
