"""Time nearest-up-sampling + 3x3 conv in the reference form and in sub-pixel form, per G block.

The five up blocks of the ``paper`` generator (input channels incl. skips, output channels, input
side), batch 2, bf16 weights under autocast, channels_last, one thread by default: the shapes
``segment_volume`` runs on CPU. Prints milliseconds per call for ``conv(Up(v))`` and for
:func:`coin_core.models.subpixel.upsample_nearest_conv3x3`, and which one the generator uses
(``SUBPIXEL_MIN_PIXELS``).

``--train PRESET``: instead, time one training-style step of the whole E + G of a preset (forward,
a loss, backward; fp32, train mode, channels_last, batch ``--batch``) with the
generator's sub-pixel path off and on, interleaved twice.

Run: ``.venv/bin/python benchmarks/subpixel_layers.py [--threads N] [--fp32]`` (about 30 s);
``.venv/bin/python benchmarks/subpixel_layers.py --train paper --batch 2`` (about 1 minute).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from coin_core.models.generator import SUBPIXEL_MIN_PIXELS
from coin_core.models.subpixel import upsample_nearest_conv3x3

BLOCKS = [(1024, 1024, 8), (1536, 512, 16), (768, 256, 32), (384, 128, 64), (192, 64, 128)]


def _ms(fn, bf16: bool, n: int = 5) -> float:  # noqa: ANN001
    ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), ctx:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
    return (time.perf_counter() - t) / n * 1e3


def train_step_ab(preset: str, batch: int) -> None:
    """E + G forward + backward per step, sub-pixel off / on, interleaved."""
    from coin_core.models import build_networks, network_preset

    cfg = network_preset(preset)
    nets = build_networks(cfg, seed=0, parts=("encoder", "generator"))
    enc = nets.encoder.train().to(memory_format=torch.channels_last)
    gen = nets.generator.train().to(memory_format=torch.channels_last)
    s = cfg.input_size
    x = (torch.rand(batch, 1, s, s) * 2 - 1).to(memory_format=torch.channels_last)

    def step() -> None:
        gen(enc(x), 0, x).square().mean().backward()

    print(f"{preset} E+G, batch {batch}, {s}x{s}, fp32, fwd + bwd")
    for flag in (False, True, False, True):
        for block in gen.blocks:
            block.use_subpixel = flag
        step()
        t = time.perf_counter()
        for _ in range(3):
            step()
        ms = (time.perf_counter() - t) / 3 * 1e3
        print(f"  {'sub-pixel' if flag else 'conv(Up(v))':12s} {ms:8.1f} ms per step")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fp32", action="store_true", help="float32 instead of bf16")
    p.add_argument("--train", metavar="PRESET", help="time E+G training steps of this preset instead")
    p.add_argument("--batch", type=int, default=2, help="batch for --train (2)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.train:
        train_step_ab(args.train, args.batch)
        return
    dtype = torch.float32 if args.fp32 else torch.bfloat16
    print(f"torch {torch.__version__}, {args.threads} thread(s), {'fp32' if args.fp32 else 'bf16'}, batch 2")
    print("block (cin->cout @ input side)   conv(Up(v)) ms   sub-pixel ms   generator uses")
    for cin, cout, side in BLOCKS:
        conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False).to(dtype).to(memory_format=torch.channels_last)
        v = torch.randn(2, cin, side, side).to(memory_format=torch.channels_last)
        ref = _ms(
            lambda conv=conv, v=v: conv(F.interpolate(v, scale_factor=2, mode="nearest")), not args.fp32
        )
        sub = _ms(lambda conv=conv, v=v: upsample_nearest_conv3x3(v, conv), not args.fp32)
        used = "sub-pixel" if side * side >= SUBPIXEL_MIN_PIXELS else "conv(Up(v))"
        print(f"{cin:5d}->{cout:<5d} @ {side:3d}            {ref:8.1f}        {sub:8.1f}      {used}")


if __name__ == "__main__":
    main()
