"""``coin segment``: counterfactual, difference map and lesion segmentation for one CT volume.

With ``--progress jsonl`` this is the worker of the Slicer module and the web page: it follows the
worker protocol of docs/internals.md (one JSON object per line on stdout, a last line with
``"stage": "done"`` and the output paths, or one ``"stage": "error"`` line and a non-zero exit
code; 130 after a cancel). SIGTERM is treated like Ctrl-C: the run stops, no output is kept.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from coin_core.cli.progress_bar import Reporter, add_progress_option
from coin_core.errors import CoinError
from coin_core.infer.postprocess import (
    DEFAULT_MARGIN_MM,
    DEFAULT_POSTPROCESS,
    DEFAULT_THRESHOLD,
    MAX_MARGIN_MM,
    POSTPROCESS_MODES,
    check_margin,
)

EPILOG = """\
outputs (for an input named NAME, e.g. NAME.nii.gz or a DICOM folder NAME/):
  NAME_counterfactual.nii.gz   counterfactual CT in HU, on the input's grid
  NAME_difference.nii.gz       |x - x_cf| in [0, 1] units (threshold this to re-segment)
  NAME_lesion.seg.nrrd         3D Slicer segmentation, one coded segment "lesion"
  NAME_slices.csv              per axial slice: P(abnormal) before / after the counterfactual
  NAME_overview.png            the most abnormal slices: image, counterfactual, difference, mask
  NAME_lesions.csv             per connected lesion: volume, longest axial diameter, HU, centre
  NAME_lesion_seg.dcm          with --dicom-seg (DICOM series input): DICOM SEG referencing the series
All are written into --output-dir (default: the current directory), all together or not at
all; existing files are refused unless --overwrite is given.

which slices get a counterfactual: with --host-mask, the slices holding the host organ; without it,
the slices the model's anatomy gate places inside its training anatomy (the others are listed as
"outside the model's training anatomy" in the CSV and the summary). A model without a gate is
refused unless --host-mask or --no-gate is given (coin model fit-gate adds one).

example:
  coin segment --model Resources/DemoModel --input ct.nii.gz --output-dir results/
  coin segment --model M --input dicom/CT_SERIES/ --output-dir results/ --dicom-seg
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment`` sub-command."""
    p = subparsers.add_parser(
        "segment",
        help="segment lesions in a CT volume with a COIN model",
        description="Segment lesions in one CT volume: a counterfactual ('the same scan without the "
        "lesion') for the abnormal slices, its difference to the input, and the thresholded mask.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, metavar="M", help="model folder (model.json + *.safetensors)")
    p.add_argument(
        "--input", required=True, metavar="CT", help="CT volume: .nii/.nii.gz/.nrrd/.mha file or DICOM folder"
    )
    p.add_argument(
        "--output-dir",
        default=".",
        metavar="D",
        help="folder for the five output files (default: the current directory; created if missing)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help="difference threshold in [0, 1] units (default: the model card's; cards without one: "
        f"{DEFAULT_THRESHOLD:g}, as in the paper)",
    )
    p.add_argument(
        "--margin-mm",
        type=float,
        default=None,
        metavar="MM",
        help="grow the cleaned mask in-plane by MM millimetres, 0 to "
        f"{MAX_MARGIN_MM:g} (default: the model card's, tuned on val with its threshold; cards without "
        f"one: {DEFAULT_MARGIN_MM:g}; 0 = the paper's masks)",
    )
    p.add_argument("--device", default="auto", metavar="D", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="auto (default): bf16 on CPUs with native bf16 and on recent GPUs, fp16 on older GPUs, "
        "else fp32",
    )
    p.add_argument(
        "--all-slices", action="store_true", help="make a counterfactual for every slice (no screening)"
    )
    p.add_argument(
        "--screening",
        type=float,
        default=0.5,
        metavar="P",
        help="counterfactuals only for slices with P(abnormal) >= P (default 0.5)",
    )
    p.add_argument(
        "--postprocess",
        default=DEFAULT_POSTPROCESS,
        choices=POSTPROCESS_MODES,
        help="paper (default): per-slice opening, closing, largest component; "
        "3d: per-slice opening and closing, then the largest 3D component; none: raw threshold",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="slices per network call (default: 8; 2 on CPU for 256-pixel models, which is faster there)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch (default: torch's choice); 1 is often fastest on a shared CPU",
    )
    p.add_argument(
        "--series-uid", default=None, metavar="UID", help="DICOM folder with several series: which one"
    )
    p.add_argument(
        "--host-mask",
        default=None,
        metavar="LABELS",
        help="label map on the CT's grid (e.g. TotalSegmentator's): counterfactuals only on slices holding "
        "the host organ, the slices the classifier was trained on",
    )
    p.add_argument(
        "--host-labels",
        default=None,
        metavar="IDS",
        help=f"host organ label ids in --host-mask ({DEFAULT_HOST_LABELS}; e.g. 2,3)",
    )
    p.add_argument(
        "--min-host-pixels",
        type=int,
        default=None,
        metavar="N",
        help=f"with --host-mask: host slices have more than N host pixels ({DEFAULT_MIN_HOST_PIXELS})",
    )
    p.add_argument(
        "--allow-unusual-hu",
        action="store_true",
        help="run even when the input does not look like a CT in HU (no air near -1000 HU, or many voxels "
        "far above bone and metal); by default such inputs are refused before the network runs",
    )
    p.add_argument(
        "--dicom-seg",
        action="store_true",
        help="also write NAME_lesion_seg.dcm, a DICOM SEG referencing the input series (DICOM folder input)",
    )
    p.add_argument(
        "--no-gate",
        action="store_true",
        help="do not skip slices outside the model's training anatomy (the model card's anatomy gate, "
        "docs/anatomy_gate.md); needed for a model without a gate when no --host-mask is given. "
        "Lesions reported on anatomy the model never saw are meaningless",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_progress_option(p)
    p.set_defaults(func=run)


DEFAULT_HOST_LABELS = "1"
DEFAULT_MIN_HOST_PIXELS = 32


def _raise_interrupt(signum, frame) -> None:  # noqa: ANN001
    raise KeyboardInterrupt


def _load_model(folder: str, device: str):  # noqa: ANN202
    from coin_core.modelfile import load_model

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise CoinError(
            f"Model folder '{folder}' does not exist or is not a folder.",
            "pass the folder holding model.json and the .safetensors files (e.g. Resources/DemoModel).",
        )
    try:
        return load_model(path, device=device)
    except CoinError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise CoinError(
            f"Could not load the model in '{folder}': {type(err).__name__}: {str(err)[:300]}",
            "the folder is damaged or not a COIN model; re-copy it or train a new one with `coin train`.",
        ) from None


def run(args: argparse.Namespace) -> int:
    """Run ``coin segment``; returns the exit code (errors propagate as CoinError to main)."""
    # SIGTERM and SIGINT both stop the run (exit 130, nothing kept). SIGINT is installed explicitly:
    # a process started with SIGINT ignored (a background job of a shell script) would otherwise
    # ignore Ctrl-C / kill -INT and finish the run, post-processing and writing included.
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[signum] = signal.signal(signum, _raise_interrupt)
        except ValueError:  # not the main thread (an embedding application): leave signals alone
            break
    try:
        # the reporter closes its bar and, in jsonl mode, writes the error line on any failure
        with Reporter(args.progress, bars={"segment": "slice"}, quiet=("done",)) as reporter:
            return _run(args, reporter)
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)


def _check_host_options(args: argparse.Namespace) -> list[int] | None:
    """The host label ids, or None without --host-mask; host options without a mask are refused."""
    if not args.host_mask:
        options = (("--host-labels", args.host_labels), ("--min-host-pixels", args.min_host_pixels))
        given = [flag for flag, value in options if value is not None]
        if given:
            raise CoinError(
                f"{' and '.join(given)} only work with --host-mask, which was not given.",
                "add --host-mask LABELMAP (the host organ's label map on the CT's grid), or leave out "
                f"{' and '.join(given)}.",
            )
        return None
    if not Path(args.host_mask).expanduser().exists():
        raise CoinError(
            f"--host-mask {args.host_mask} does not exist.",
            "give the host organ's label map on the CT's grid (NIfTI, NRRD or MHA file, or a DICOM folder).",
        )
    text = DEFAULT_HOST_LABELS if args.host_labels is None else str(args.host_labels)
    try:
        ids = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        ids = []
    if not ids:
        raise CoinError(f"--host-labels {text!r} is not a list of label ids.", "use e.g. --host-labels 2,3.")
    if args.min_host_pixels is not None and args.min_host_pixels < 0:
        raise CoinError(
            f"--min-host-pixels {args.min_host_pixels} is negative.", "use 0 or more (default 32)."
        )
    return ids


def _host_filter(args: argparse.Namespace, volume, ids: list[int] | None):  # noqa: ANN001, ANN202
    """The --host-mask slice filter and the host organ (canonical, for host-box models), or (None, None)."""
    if ids is None:
        return None, None
    from coin_core.infer.input_checks import check_host_mask, check_host_slices
    from coin_core.infer.segment import host_mask, host_slice_filter
    from coin_core.io import read_volume

    mask = read_volume(args.host_mask)
    check_host_mask(volume, mask, ids)
    min_pixels = DEFAULT_MIN_HOST_PIXELS if args.min_host_pixels is None else args.min_host_pixels
    keep = host_slice_filter(volume, mask, ids, min_pixels)
    check_host_slices(keep, ids, min_pixels)
    return keep, host_mask(volume, mask, ids)


def _check_gate_early(args: argparse.Namespace) -> None:
    """Refuse a model without an anatomy gate before reading the CT (segment_volume checks it too)."""
    if not (Path(args.model).expanduser() / "model.json").is_file():
        return  # a missing or damaged folder gets its own message from the loader
    from coin_core.infer.segment import no_gate_error, no_host_error
    from coin_core.modelfile import read_card

    try:
        card = read_card(Path(args.model).expanduser())
    except CoinError:
        return
    if card.input_crop is not None and not args.host_mask:
        raise no_host_error(card.input_crop)
    if not args.host_mask and not args.no_gate and not card.anatomy_gate:
        raise no_gate_error()


def outside_slices(result) -> list[int]:  # noqa: ANN001
    """Canonical indices of the slices the anatomy gate skipped."""
    if result.outside_anatomy is None:
        return []
    return [int(k) for k in result.outside_anatomy.nonzero()[0]]


def format_ranges(ks: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    runs: list[list[int]] = []
    for k in ks:
        if runs and k == runs[-1][1] + 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def _run(args: argparse.Namespace, reporter: Reporter) -> int:
    from coin_core.infer import input_stem, output_paths, segment_volume, write_outputs
    from coin_core.infer.coding import coding_for_model
    from coin_core.infer.lesion_table import format_lesion_table, measure_lesions
    from coin_core.infer.segment import check_volume
    from coin_core.io import read_volume
    from coin_core.progress import ProgressEvent

    if args.batch_size is not None and args.batch_size < 1:
        raise CoinError(f"--batch-size {args.batch_size} is too small.", "use 1 or more.")
    if args.margin_mm is not None:
        check_margin(args.margin_mm)  # before the CT is read
    if args.threads is not None:
        if args.threads < 1:
            raise CoinError(f"--threads {args.threads} is too small.", "use 1 or more.")
        import torch

        torch.set_num_threads(args.threads)
    host_ids = _check_host_options(args)
    paths = output_paths(args.output_dir, input_stem(args.input), dicom_seg=args.dicom_seg)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not args.overwrite:  # fail before the slow part
        raise CoinError(
            "These output files already exist: " + ", ".join(existing),
            "choose another --output-dir, delete them, or pass --overwrite.",
        )
    if args.dicom_seg:
        from coin_core.io.dicom_seg import check_dicom_source

        check_dicom_source(args.input, args.series_uid)
    _check_gate_early(args)
    from coin_core.fileutil import remove_stale_parts

    stale = remove_stale_parts(args.output_dir)  # a killed run's temporary files (only this tool's)
    if stale:
        names = ", ".join(p.name for p in stale[:3]) + (", ..." if len(stale) > 3 else "")
        reporter(
            ProgressEvent(
                "load", message=f"removed {len(stale)} temporary file(s) of an interrupted run: {names}"
            )
        )
    reporter(ProgressEvent("load", 0, 2, f"reading {args.input}"))
    volume = read_volume(args.input, series_uid=args.series_uid)
    from coin_core.infer.input_checks import check_ct_intensities

    check_volume(volume)
    check_ct_intensities(volume, allow_unusual=args.allow_unusual_hu, source=args.input)  # before the network
    slice_filter, host = _host_filter(args, volume, host_ids)
    reporter(ProgressEvent("load", 1, 2, f"loading model {args.model}"))
    model = _load_model(args.model, args.device)
    reporter(ProgressEvent("load", 2, 2, "ready"))
    result = segment_volume(
        volume,
        model,
        threshold=args.threshold,
        margin_mm=args.margin_mm,
        screening=None if args.all_slices else args.screening,
        postprocess=args.postprocess,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
        slice_filter=slice_filter,
        anatomy_gate=not args.no_gate,
        host=host,
        progress=reporter,
    )
    lesions = measure_lesions(result.mask, volume)
    del volume
    reporter(ProgressEvent("write", 0, 1, f"writing outputs to {Path(args.output_dir).resolve()}"))
    try:
        written = write_outputs(
            result,
            args.output_dir,
            input_stem(args.input),
            overwrite=args.overwrite,
            coding=coding_for_model(model.card, args.model),
            dicom_source=args.input if args.dicom_seg else None,
            series_uid=args.series_uid,
            lesions=lesions,
        )
    except OSError as err:
        raise CoinError(
            f"Could not write the outputs into '{args.output_dir}': {err.strerror or err}.",
            "choose a writable --output-dir (a folder, with free disk space).",
        ) from None
    outputs = {key: str(path.resolve()) for key, path in written.items()}
    lesion_voxels = int(result.lesion_voxels.sum())
    outside = outside_slices(result)
    metrics = {
        "outputs": outputs,
        "lesion_voxels": lesion_voxels,
        "lesions": [lesion.to_dict() for lesion in lesions],
        "threshold": result.threshold,
        "postprocess": result.postprocess,
        "margin_mm": result.margin_mm,
        **result.info,
        "outside_anatomy": outside,
    }
    reporter(ProgressEvent("done", 1, 1, "finished", metrics))
    if reporter.mode == "jsonl":
        return 0
    reporter.close()
    if reporter.mode in ("bar", "text"):
        info = result.info
        print(
            f"{info['slices']} slices ({info['counterfactual_slices']} with a counterfactual) in "
            f"{info['network_seconds']:.1f} s on {info['device']} ({info['precision']}); "
            f"{lesion_voxels} lesion voxels at threshold {result.threshold:g}, "
            f"margin {result.margin_mm:g} mm (post-processing '{result.postprocess}').",
            file=sys.stderr,
        )
        if outside:
            print(
                f"{len(outside)} slices outside the model's training anatomy, skipped (slice index k, "
                f"inferior first): {format_ranges(outside)}.",
                file=sys.stderr,
            )
        print(format_lesion_table(lesions), file=sys.stderr)
    for path in outputs.values():
        print(path)
    return 0
