"""The sub-pixel form of nearest up-sampling + 3x3 conv equals the reference form."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from coin_core.models.config import GeneratorConfig
from coin_core.models.generator import SUBPIXEL_MIN_PIXELS, Generator
from coin_core.models.subpixel import supports_subpixel, upsample_nearest_conv3x3


def _reference(v: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    return conv(F.interpolate(v, scale_factor=2, mode="nearest"))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", [(2, 6, 5, 7), (1, 3, 1, 1), (3, 4, 8, 8)])
def test_matches_reference_float64(shape: tuple[int, ...], bias: bool) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(shape[1], 5, 3, padding=1, bias=bias).double()
    v = torch.randn(*shape, dtype=torch.float64)
    got = upsample_nearest_conv3x3(v, conv)
    assert got.shape == (shape[0], 5, 2 * shape[2], 2 * shape[3])
    torch.testing.assert_close(got, _reference(v, conv), rtol=0, atol=1e-12)


def test_channels_last_in_channels_last_out_and_cache_follows_weight_edits() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(8, 4, 3, padding=1, bias=False)
    v = torch.randn(2, 8, 6, 6).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        out = upsample_nearest_conv3x3(v, conv)
        assert out.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(out, _reference(v, conv), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        conv.weight.mul_(-2.0)  # in-place edit: the cached merged kernel must not be reused
    with torch.inference_mode():
        torch.testing.assert_close(
            upsample_nearest_conv3x3(v, conv), _reference(v, conv), rtol=1e-5, atol=1e-5
        )


def test_gradients_match_reference() -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 2, 3, padding=1).double()
    v = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    params = [v, conv.weight, conv.bias]
    g_ref = torch.autograd.grad(_reference(v, conv).sin().sum(), params)
    g_sub = torch.autograd.grad(upsample_nearest_conv3x3(v, conv).sin().sum(), params)
    for a, b in zip(g_ref, g_sub, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_supports_only_plain_3x3() -> None:
    assert supports_subpixel(nn.Conv2d(2, 2, 3, padding=1))
    assert not supports_subpixel(nn.Conv2d(2, 2, 3, padding=1, stride=2))
    assert not supports_subpixel(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"))
    assert not supports_subpixel(nn.Conv2d(2, 2, 1))


def test_generator_block_uses_the_same_map_as_the_reference_form() -> None:
    """A whole generator: sub-pixel forward vs the same weights through conv(Up(.))."""
    torch.manual_seed(3)
    gen = Generator(GeneratorConfig(skips=(1, 2)), encoder_widths=(4, 8, 16)).double().eval()
    # bottleneck 16 x 16: every block's input is at least SUBPIXEL_MIN_PIXELS, so all take the sub-pixel path
    assert 16 * 16 >= SUBPIXEL_MIN_PIXELS
    feats = [torch.randn(1, 4, 64, 64), torch.randn(1, 8, 32, 32), torch.randn(1, 16, 16, 16)]
    feats = [f.double() for f in feats]
    x = torch.rand(1, 1, 128, 128, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        got = gen(feats, 0, x)
        for block in gen.blocks:
            block.use_subpixel = False  # conv1(Up(.)), the reference form
        want = gen(feats, 0, x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
