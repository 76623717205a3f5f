"""Time one COIN generator step and one discriminator step (forward + backward) on CPU.

    .venv/bin/python benchmarks/models_step_time.py --preset small --batch 16 --repeat 3

The G step runs E+G on x, D and f on x_cf, E+G again for the cyclic term, all losses, backward.
The D step runs E+G without autograd, D on reals and fakes, backward. Optimiser updates are
included (Adam). Prints the fastest time (the machine is shared) of ``--repeat`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from coin_core import losses
from coin_core.models import build_networks, network_preset
from coin_core.models.blocks import count_parameters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--size", type=int, default=None, help="override input_size")
    ap.add_argument("--widths", default=None, help="override encoder widths, e.g. 16,32,64,128,256")
    ap.add_argument("--dwidths", default=None, help="override discriminator widths (scales 2..2,1)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contiguous", action="store_true", help="NCHW instead of channels_last")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = network_preset(args.preset)
    if args.size:
        cfg = dataclasses.replace(cfg, input_size=args.size)
    if args.widths:
        w = tuple(int(v) for v in args.widths.split(","))
        cfg = dataclasses.replace(cfg, encoder=dataclasses.replace(cfg.encoder, widths=w))
    if args.dwidths:
        w = tuple(int(v) for v in args.dwidths.split(","))
        d = dataclasses.replace(cfg.discriminator, widths=w, scales=(2,) * (len(w) - 1) + (1,))
        cfg = dataclasses.replace(cfg, discriminator=d)
    nets = build_networks(cfg, seed=0)
    f, enc, gen, disc = nets.classifier, nets.encoder, nets.generator, nets.discriminator
    f.eval().requires_grad_(False)
    opt_g = torch.optim.Adam(list(enc.parameters()) + list(gen.parameters()), lr=2e-4)
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4)
    s = cfg.input_size
    x = torch.rand(args.batch, 1, s, s) * 2 - 1
    fmt = torch.contiguous_format if args.contiguous else torch.channels_last
    for m in (f, enc, gen, disc):
        m.to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    zero = torch.zeros(args.batch, dtype=torch.long)

    def g_step() -> None:
        opt_g.zero_grad(set_to_none=True)
        x_cf = gen(enc(x), zero, x)
        x_cyc = gen(enc(x_cf), zero, x_cf)
        loss = (
            losses.adversarial_generator(disc(x_cf, zero), "bce")
            + 5 * losses.kl_consistency(torch.full((args.batch,), 1e-6), f(x_cf))
            + losses.coin_reconstruction(x, x_cf, x_cyc)
            + 3251.25 * losses.tv_loss(x, x_cf)
        )
        loss.backward()
        opt_g.step()

    def d_step() -> None:
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            x_cf = gen(enc(x), zero, x)
        loss = losses.adversarial_discriminator(disc(x, zero), disc(x_cf, zero), "bce")
        loss.backward()
        opt_d.step()

    def timed(fn) -> float:
        fn()
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        return min(runs)

    tg, td = timed(g_step), timed(d_step)
    print(
        f"preset={args.preset} size={s} E={list(cfg.encoder.widths)} D={list(cfg.discriminator.widths)} "
        f"batch={args.batch} threads={args.threads} {'NCHW' if args.contiguous else 'channels_last'}"
    )
    print(
        f"params E+G={count_parameters(enc) + count_parameters(gen)} D={count_parameters(disc)} "
        f"f={count_parameters(f)}"
    )
    print(f"G step {tg:.3f} s  D step {td:.3f} s  G+D {tg + td:.3f} s")
    print(f"COIN schedule (D every step, G every 5th): {td + tg / 5:.3f} s per step")


if __name__ == "__main__":
    main()
