"""benchmarks/eg_runtimes.py: every CPU runtime that ``segment_speed.py --runtimes`` times computes the
same E + G as eager torch (the speed rows compare equal work), in both up-sampling forms, and the
caller's model is left untouched (spectral norm included)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("eg_runtimes", ROOT / "benchmarks" / "eg_runtimes.py")
eg_runtimes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eg_runtimes)

TOLERANCE = 1e-4
"""Largest |difference| from eager torch in [-1, 1] units (fp32; measured: about 3e-7)."""


@pytest.fixture(scope="module")
def nets():
    from coin_core.models import build_networks, network_preset

    torch.manual_seed(0)
    built = build_networks(network_preset("small"), seed=0, parts=("encoder", "generator"))
    return built.encoder.eval(), built.generator.eval()


@pytest.mark.parametrize("runtime", ["torchscript", "onnxruntime", "openvino"])
@pytest.mark.parametrize("subpixel", [True, False])
def test_runtime_matches_eager_torch(nets, runtime, subpixel, tmp_path):
    encoder, generator = nets
    x = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    pair = eg_runtimes.plain_pair(encoder, generator, subpixel)
    example = x[:2].contiguous(memory_format=torch.channels_last) if runtime == "torchscript" else x[:2]
    run = eg_runtimes.build_runner(runtime, pair, example, tmp_path)
    assert eg_runtimes.check_outputs(pair, run, x, 2) < TOLERANCE
    # the plain pair is the model's function: spectral norm's eval weight baked in, nothing else
    with torch.no_grad():
        want = generator(encoder(x), 0, x)
    assert float((run(x[2:]) - want[2:]).abs().max()) < TOLERANCE


def test_plain_pair_leaves_the_model_alone(nets):
    from torch.nn.utils import parametrize

    encoder, generator = nets
    before = sum(parametrize.is_parametrized(m) for m in generator.modules())
    eg_runtimes.plain_pair(encoder, generator, True)
    eg_runtimes.plain_pair(encoder, generator, False)
    assert before > 0
    assert sum(parametrize.is_parametrized(m) for m in generator.modules()) == before
    assert not any(
        parametrize.is_parametrized(m) for m in eg_runtimes.plain_pair(encoder, generator, True).modules()
    )


def test_shuffled_subpixel_is_the_reference_map():
    conv = torch.nn.Conv2d(6, 5, 3, padding=1, bias=True)
    v = torch.randn(2, 6, 9, 7)
    want = conv(torch.nn.functional.interpolate(v, scale_factor=2, mode="nearest"))
    assert torch.allclose(eg_runtimes.subpixel_shuffled(v, conv), want, atol=1e-5)


def test_missing_names_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "openvino" else real(name))
    assert "openvino" in eg_runtimes.missing("openvino")
    assert eg_runtimes.missing("torchscript") is None
    with pytest.raises(ValueError):
        eg_runtimes.missing("tensorrt")
