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
the exit code is 1 when any scan failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def parseArgs(argv: list[str]) -> argparse.Namespace:
    """The command line; option choices and defaults come from coin_core (call ``importLogic`` first)."""
    from coin_core.infer.postprocess import DEFAULT_POSTPROCESS, POSTPROCESS_MODES

    parser = argparse.ArgumentParser(prog="coin_batch.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="COIN model folder (model.json + *.safetensors)")
    parser.add_argument("--input", required=True, help="folder of CT volumes (or one file)")
    parser.add_argument("--output", required=True, help="folder for the results (created if missing)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    parser.add_argument("--threshold", type=float, default=None, help="difference threshold (model card's)")
    parser.add_argument("--postprocess", default=DEFAULT_POSTPROCESS, choices=POSTPROCESS_MODES)
    parser.add_argument(
        "--all-slices", action="store_true", help="no screening: every slice gets a counterfactual"
    )
    parser.add_argument(
        "--dicom-seg", action="store_true", help="also write NAME_lesion_seg.dcm for DICOM series inputs"
    )
    return parser.parse_args(argv)


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
    scene, volumesLogic, logic, parameters, path: Path, output: Path, dicomSeg: bool = False
) -> None:
    """Segment one scan and write its files (all or none); the scene is left as it was."""
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
            write_lesions_csv(results.measure(outputs.segmentation), out.tmp(files["lesions"]))
    finally:
        from coin_slicer.scene_helpers import removeNodesNotIn

        removeNodesNotIn(scene, before)  # keep memory flat over many scans


def main(argv: list[str]) -> int:
    SegmentationLogic, SegmentationParameters = importLogic()
    args = parseArgs(argv)
    scene, volumesLogic, _keepAlive = sceneAndVolumesLogic()
    parameters = SegmentationParameters(
        args.model, args.device, not args.all_slices, args.threshold, args.postprocess
    )
    logic = SegmentationLogic(scene)
    output = Path(args.output).expanduser()
    output.mkdir(parents=True, exist_ok=True)
    files = inputFiles(Path(args.input).expanduser())
    if not files:
        print(f"coin_batch: no {', '.join(SUFFIXES)} files or DICOM folders in {args.input}", file=sys.stderr)
        return 2
    failed = 0
    for index, path in enumerate(files, 1):
        start = time.monotonic()
        try:
            processOne(scene, volumesLogic, logic, parameters, path, output, args.dicom_seg)
        except Exception as err:  # one bad scan must not stop the batch; it is reported and counted
            failed += 1
            print(f"[{index}/{len(files)}] {path.name}: FAILED: {err}", file=sys.stderr, flush=True)
            continue
        print(f"[{index}/{len(files)}] {path.name}: done in {time.monotonic() - start:.1f} s", flush=True)
    print(f"coin_batch: {len(files) - failed} of {len(files)} scans written to {output}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    import slicer

    if hasattr(slicer, "app"):
        slicer.util.exit(code)
    else:
        sys.exit(code)
