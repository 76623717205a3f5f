"""Headless COIN batch: every CT in a folder -> .seg.nrrd, counterfactual, difference map, lesion table.

Runs the COINSegmentation logic blocking, exactly as the panel does (worker process, import onto
the input's grid), then saves the nodes with Slicer's storage nodes. Two ways to run it::

    Slicer --no-splash --no-main-window --python-script scripts/coin_batch.py \\
        --model ~/.coin/models/demo --input scans/ --output results/
    PYTHONPATH=. python scripts/coin_batch.py --model Resources/DemoModel --input scans/ --output results/

For each input NAME.nii.gz / .nii / .nrrd / .mha, and each DICOM series folder NAME/ in --input, it
writes NAME.seg.nrrd (coded segment "lesion"), NAME_counterfactual.nrrd, NAME_difference.nrrd and
NAME_lesions.csv (one row per connected lesion, docs/outputs.md) into --output; with --dicom-seg also
NAME_lesion_seg.dcm, a DICOM SEG referencing the series (DICOM inputs only: any other scan fails with a
message). A scan's files appear all together or not at all. A scan that fails is reported and skipped;
the exit code is 1 when any scan failed. Each scan's line names the threshold, clean-up and mask margin
that made its mask (--threshold and --margin-mm default to the model card's, as in ``coin segment``).

With --host-mask each scan gets its host organ's label map (e.g. TotalSegmentator's, on the scan's grid):
a folder holding NAME.nii.gz (or .nii / .nrrd / .mha; for an nnU-Net image NAME_0000 also NAME), or a
pattern such as labels/{name}_organs.nii.gz. Only slices holding the organ (--host-labels, default 1)
get a counterfactual. A model that looks at a box around the host organ (its card has input_crop,
docs/recipes.md) needs it: without --host-mask the batch refuses to start (exit code 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def parseArgs(argv: list[str]) -> argparse.Namespace:
    """The command line; option choices and defaults come from coin_core (call ``importLogic`` first)."""
    from coin_core.infer.postprocess import DEFAULT_POSTPROCESS, MAX_MARGIN_MM, POSTPROCESS_MODES

    parser = argparse.ArgumentParser(prog="coin_batch.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="COIN model folder (model.json + *.safetensors)")
    parser.add_argument("--input", required=True, help="folder of CT volumes (or one file)")
    parser.add_argument("--output", required=True, help="folder for the results (created if missing)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--threshold", type=float, default=None, help="difference threshold (model card's)")
    parser.add_argument("--postprocess", default=DEFAULT_POSTPROCESS, choices=POSTPROCESS_MODES)
    parser.add_argument(
        "--margin-mm",
        type=float,
        default=None,
        metavar="MM",
        help=f"grow the cleaned mask in-plane by MM mm, 0 to {MAX_MARGIN_MM:g} (model card's; 0 = paper)",
    )
    parser.add_argument(
        "--all-slices", action="store_true", help="no screening: every slice gets a counterfactual"
    )
    parser.add_argument(
        "--dicom-seg", action="store_true", help="also write NAME_lesion_seg.dcm for DICOM series inputs"
    )
    parser.add_argument(
        "--host-mask",
        default=None,
        metavar="FOLDER|PATTERN",
        help="host-organ label map of each scan: a folder with NAME.nii.gz (.nii/.nrrd/.mha), or a pattern "
        "with {name} (e.g. labels/{name}_organs.nii.gz); needed by host-organ-box models",
    )
    parser.add_argument(
        "--host-labels", default=None, metavar="IDS", help="host organ label ids in --host-mask (1; e.g. 2,3)"
    )
    return parser.parse_args(argv)


def hostOptionsError(args: argparse.Namespace, files: list[Path]) -> str:
    """Why the host options cannot work for this batch ("" when they can): what is wrong and what to do."""
    from coin_slicer.segmentation_logic import hostOrganRequirement

    required = hostOrganRequirement(args.model)
    if required and not args.host_mask:
        return (
            f"{required} What to do: pass --host-mask with each scan's host-organ label map (a folder with "
            "NAME.nii.gz, or a pattern such as labels/{name}.nii.gz), or use a whole-slice model."
        )
    if args.host_labels and not args.host_mask:
        return "--host-labels only works with --host-mask. What to do: add --host-mask, or leave it out."
    spec = args.host_mask
    if spec and "{name}" not in spec and not Path(spec).expanduser().is_dir() and len(files) > 1:
        return (
            f"--host-mask {spec} is neither a folder nor a pattern with {{name}}, and --input holds "
            f"{len(files)} scans. What to do: give the folder of the label maps, or a pattern with {{name}}."
        )
    return ""


def marginError(args: argparse.Namespace) -> str:
    """Why --margin-mm cannot work ("" when it can, or when the model card's margin is used)."""
    from coin_core.errors import CoinError
    from coin_core.infer.postprocess import check_margin

    try:
        if args.margin_mm is not None:
            check_margin(args.margin_mm)
    except CoinError as err:
        return f"--margin-mm: {err.message} What to do: {err.hint}"
    return ""


def hostMaskFor(spec: str, scan: Path) -> Path:
    """The label map ``--host-mask`` names for ``scan`` (RuntimeError naming the paths tried when none)."""
    name = stem(scan)
    if "{name}" in spec:
        tried = [Path(spec.replace("{name}", name)).expanduser()]
    elif Path(spec).expanduser().is_dir():
        names = [name, *([re.sub(r"_\d{4}$", "", name)] if re.search(r"_\d{4}$", name) else [])]
        tried = [Path(spec).expanduser() / f"{n}{suffix}" for n in names for suffix in SUFFIXES]
    else:
        tried = [Path(spec).expanduser()]
    for path in tried:
        if path.is_file() and path.resolve() != scan.resolve():
            return path
    raise RuntimeError(
        f"--host-mask: no host-organ label map for this scan (looked for {', '.join(str(p) for p in tried)})"
    )


def importLogic():
    """``SegmentationLogic`` and ``SegmentationParameters`` from the ``coin_slicer`` package.

    Inside Slicer the COIN extension ships the package; elsewhere ``pip install`` the project or put
    the repository root on PYTHONPATH. Exits with a message (code 2) when it is not importable.
    """
    try:
        from coin_slicer import SegmentationLogic, SegmentationParameters
    except ImportError as err:
        print(
            f"coin_batch: error: the coin_slicer package is not importable ({err}). What to do: run it in "
            "Slicer with the COIN extension installed, 'pip install' the project, or set PYTHONPATH to "
            "the repository root.",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    return SegmentationLogic, SegmentationParameters


def sceneAndVolumesLogic():
    """Desktop Slicer's scene and volumes logic, or a hand-built slicer-core scene (docs/internals.md)."""
    import slicer

    if hasattr(slicer, "app") and getattr(slicer, "mrmlScene", None) is not None:
        return slicer.mrmlScene, slicer.modules.volumes.logic(), None
    scene = slicer.vtkMRMLScene()
    appLogic = slicer.vtkSlicerApplicationLogic()
    appLogic.SetMRMLScene(scene)
    appLogic.GetColorLogic().SetMRMLScene(scene)
    appLogic.GetColorLogic().AddDefaultColorNodes()
    appLogic.SetModuleLogic("Colors", appLogic.GetColorLogic())
    keep = [appLogic]
    logics = {}
    for name, cls in (
        ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
        ("Volumes", slicer.vtkSlicerVolumesLogic),
    ):
        logic = cls()
        logic.SetMRMLApplicationLogic(appLogic)
        logic.SetMRMLScene(scene)
        appLogic.SetModuleLogic(name, logic)
        logics[name] = logic
        keep.append(logic)
    return scene, logics["Volumes"], keep


def isDicomFolder(path: Path) -> bool:
    from coin_core.io.dicom import is_dicom_file

    return path.is_dir() and any(is_dicom_file(p) for p in path.iterdir() if p.is_file())


def inputFiles(path: Path) -> list[Path]:
    """Volume files and DICOM series folders in ``path`` (or ``path`` itself)."""
    if path.is_file() or isDicomFolder(path):
        return [path]
    entries = sorted(path.iterdir())
    return [p for p in entries if (p.is_file() and p.name.lower().endswith(SUFFIXES)) or isDicomFolder(p)]


def stem(path: Path) -> str:
    if path.is_dir():
        return path.name
    name = path.name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def writeNode(node, path: Path, segmentation: bool = False) -> None:
    import slicer

    storage = (
        slicer.vtkMRMLSegmentationStorageNode()
        if segmentation
        else slicer.vtkMRMLVolumeArchetypeStorageNode()
    )
    storage.SetFileName(str(path))
    if not storage.WriteData(node):
        raise RuntimeError(f"could not write {path}")


def processOne(
    scene,
    volumesLogic,
    logic,
    parameters,
    path: Path,
    output: Path,
    dicomSeg: bool = False,
    hostMask: Path | None = None,
    hostLabels: str | None = None,
) -> str:
    """Segment one scan and write its files (all or none); the scene is left as it was.

    ``hostMask``: the scan's host-organ label map (``coin segment --host-mask``), ``hostLabels`` its ids.
    Returns what made the mask: "threshold T, post-processing 'P', margin M mm: N lesion voxels".
    """
    from coin_core.fileutil import OutputSet
    from coin_core.infer.lesion_table import write_lesions_csv
    from coin_slicer.lesion_results import LesionResults

    if dicomSeg and not isDicomFolder(path):
        raise RuntimeError(
            "--dicom-seg: this scan is not a DICOM series folder, so no DICOM SEG can reference it"
        )
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        # a DICOM series loads through the archetype reader from one of its files
        archetype = sorted(p for p in path.iterdir() if p.is_file())[0] if path.is_dir() else path
        volume = volumesLogic.AddArchetypeVolume(str(archetype), stem(path), 0)
        if volume is None:
            raise RuntimeError(f"Slicer could not read {path} as a volume")
        if hostMask is not None:
            parameters = dataclasses.replace(parameters, hostMask=str(hostMask), hostLabels=hostLabels)
        outputs = logic.process(volume, parameters, waitForCompletion=True).outputs
        name = stem(path)
        results = LesionResults(scene)
        files = {
            "segmentation": output / f"{name}.seg.nrrd",
            "counterfactual": output / f"{name}_counterfactual.nrrd",
            "difference": output / f"{name}_difference.nrrd",
            "lesions": output / f"{name}_lesions.csv",
        }
        if dicomSeg:
            files["dicom_seg"] = output / f"{name}_lesion_seg.dcm"
        with OutputSet(list(files.values()), overwrite=True) as out:
            if dicomSeg:  # first: an empty mask or another grid fails before anything is written
                results.saveDicomSeg(
                    outputs.segmentation, out.tmp(files["dicom_seg"]), path, parameters.modelFolder
                )
            writeNode(outputs.segmentation, out.tmp(files["segmentation"]), segmentation=True)
            writeNode(outputs.counterfactual, out.tmp(files["counterfactual"]))
            writeNode(outputs.difference, out.tmp(files["difference"]))
            lesions = results.measure(outputs.segmentation)
            write_lesions_csv(lesions, out.tmp(files["lesions"]))
        return (
            f"threshold {outputs.threshold:g}, post-processing '{outputs.postprocess}', margin "
            f"{outputs.marginMm:g} mm: {sum(les.voxels for les in lesions)} lesion voxels"
        )
    finally:
        from coin_slicer.scene_helpers import removeNodesNotIn

        removeNodesNotIn(scene, before)  # keep memory flat over many scans


def main(argv: list[str]) -> int:
    SegmentationLogic, SegmentationParameters = importLogic()
    args = parseArgs(argv)
    files = inputFiles(Path(args.input).expanduser())
    if not files:
        print(f"coin_batch: no {', '.join(SUFFIXES)} files or DICOM folders in {args.input}", file=sys.stderr)
        return 2
    refusal = marginError(args) or hostOptionsError(args, files)
    if refusal:  # before any scan is read or any folder is made
        print(f"coin_batch: error: {refusal}", file=sys.stderr)
        return 2
    scene, volumesLogic, _keepAlive = sceneAndVolumesLogic()
    parameters = SegmentationParameters(
        args.model, args.device, not args.all_slices, args.threshold, args.postprocess, args.margin_mm
    )
    logic = SegmentationLogic(scene)
    output = Path(args.output).expanduser()
    output.mkdir(parents=True, exist_ok=True)
    failed = 0
    for index, path in enumerate(files, 1):
        start = time.monotonic()
        try:
            hostMask = hostMaskFor(args.host_mask, path) if args.host_mask else None
            used = processOne(
                scene,
                volumesLogic,
                logic,
                parameters,
                path,
                output,
                args.dicom_seg,
                hostMask,
                args.host_labels,
            )
        except Exception as err:  # one bad scan must not stop the batch; it is reported and counted
            failed += 1
            print(f"[{index}/{len(files)}] {path.name}: FAILED: {err}", file=sys.stderr, flush=True)
            continue
        seconds = time.monotonic() - start
        print(f"[{index}/{len(files)}] {path.name}: done in {seconds:.1f} s ({used})", flush=True)
    print(f"coin_batch: {len(files) - failed} of {len(files)} scans written to {output}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    import slicer

    if hasattr(slicer, "app"):
        slicer.util.exit(code)
    else:
        sys.exit(code)
