"""``coin export``: COIN results for other tools; ``coin export nnunet`` writes nnU-Net v2 pseudo-labels."""

from __future__ import annotations

import argparse
import sys

from coin_core.cli.progress_bar import Reporter, add_progress_option

EPILOG = """\
pairing: an image's case name is its file name without the suffix (a DICOM folder: its name); a
segmentation pairs with the case of the same name, or of its name without _lesion / _seg / _mask /
_label(s) (so `coin segment`'s ct_lesion.seg.nrrd pairs with ct.nii.gz).

example:
  coin export nnunet --images scans/ --segmentations reviewed/ --out nnUNet_raw/Dataset501_KidneyLesions
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` sub-command and its ``nnunet`` target."""
    p = subparsers.add_parser(
        "export",
        help="export COIN segmentations for other tools (nnU-Net v2 pseudo-labels)",
        description="Export COIN results for other tools.",
    )
    sub = p.add_subparsers(dest="target", metavar="TARGET")
    n = sub.add_parser(
        "nnunet",
        help="reviewed segmentations + their images -> an nnU-Net v2 raw dataset (imagesTr, labelsTr)",
        description="Turn reviewed segmentations (.seg.nrrd from 3D Slicer or the web page, or raw COIN "
        "masks, or label maps) and their CT images into an nnU-Net v2 raw dataset: imagesTr/, labelsTr/ and "
        "dataset.json with channel names, labels and file ending. Segmentations must lie on their image's "
        "grid; the dataset is written whole or not at all.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    n.add_argument(
        "--images",
        required=True,
        nargs="+",
        metavar="PATH",
        help="image files, DICOM folders, or folders of them",
    )
    n.add_argument(
        "--segmentations",
        required=True,
        nargs="+",
        metavar="PATH",
        help=".seg.nrrd files or label maps, or folders of them",
    )
    n.add_argument("--out", required=True, metavar="DatasetNNN_Name", help="the dataset folder to write")
    n.add_argument(
        "--labels",
        default=None,
        metavar="A,B",
        help="label names in id order (segment names of the .seg.nrrd files, or names for label values 1, 2, "
        "...); default: every segment name found, or 'lesion' for 0/1 masks",
    )
    n.add_argument("--channel-name", default="CT", metavar="NAME", help="name of channel 0 (default CT)")
    n.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    add_progress_option(n, jsonl=False)
    n.set_defaults(func=run_nnunet)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_nnunet(args: argparse.Namespace) -> int:
    """Run ``coin export nnunet``."""
    from coin_core.export.nnunet import dataset_summary, export_nnunet

    labels = [v for v in args.labels.split(",")] if args.labels else None
    with Reporter(args.progress, bars={"export": "case"}) as reporter:
        result = export_nnunet(
            args.images,
            args.segmentations,
            args.out,
            labels=labels,
            channel_name=args.channel_name,
            overwrite=args.overwrite,
            progress=reporter,
        )
    print(dataset_summary(result), file=sys.stderr)
    print(result.root.resolve())
    return 0
