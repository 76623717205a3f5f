"""classifier.bn_recalibrate: BatchNorm running statistics recomputed from the training slices."""

from __future__ import annotations

import numpy as np
import torch

from coin_core.config import load_config
from coin_core.models import build_networks
from coin_core.train.classifier import recalibrate_batchnorm


def test_running_stats_become_the_average_batch_statistics(tiny_config):
    clf = build_networks(tiny_config.model, seed=0, parts=("classifier",)).classifier
    images = np.random.default_rng(0).uniform(-1, 1, (10, 32, 32)).astype(np.float16)
    clf.bn1.running_mean.fill_(5.0)  # stale values that must disappear
    before = {
        k: v.clone() for k, v in clf.state_dict().items() if "running" not in k and "num_batches" not in k
    }
    seen = []
    hook = clf.bn1.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    clf.eval()
    recalibrate_batchnorm(clf, images, batch_size=4, dev=torch.device("cpu"))
    hook.remove()
    # 10 slices in batches of about 4 -> 3 batches (4, 3, 3), none of size one
    assert [len(x) for x in seen] == [4, 3, 3]
    # shuffled batches: not the stored order
    first = torch.from_numpy(images.astype(np.float32))[:4, None]
    assert not torch.equal(seen[0], clf.conv1(first))
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen]).mean(0)
    assert torch.allclose(clf.bn1.running_mean, expected, atol=1e-5)
    assert not clf.training and clf.bn1.momentum == 0.1  # mode and momentum restored
    after = clf.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # weights untouched


def test_the_key_is_off_by_default_and_on_it_changes_the_fit(tiny_bench, tiny_config, tmp_path):
    from coin_core.train.classifier import fit_classifier
    from coin_core.train.pipeline import load_bench

    assert load_config("small").classifier.bn_recalibrate is False
    _, train, val = load_bench(tiny_bench, tiny_config.model.input_size)
    models = []
    for on in (False, True):
        cfg = load_config(tiny_config.to_dict(), {"classifier.bn_recalibrate": on})
        models.append(fit_classifier(cfg, train, val, tmp_path / f"cls{on}", device="cpu").classifier)
    off, on = models
    assert not torch.allclose(off.bn1.running_mean, on.bn1.running_mean)
    # the same weights (one epoch, so the same kept epoch); only the statistics were recomputed
    recalibrate_batchnorm(off, train.image, tiny_config.classifier.batch_size, torch.device("cpu"))
    assert torch.allclose(off.bn1.running_mean, on.bn1.running_mean, atol=1e-6)
    assert torch.allclose(off.layer4[-1].bn2.running_var, on.layer4[-1].bn2.running_var, atol=1e-6)
