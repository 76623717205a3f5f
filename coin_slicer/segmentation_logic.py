"""Run COIN on a volume node in a child process and bring the results back as MRML nodes.

Usage without any GUI (scripts, tests, ``Slicer --python-script``)::

    logic = SegmentationLogic(scene)
    outcome = logic.process(ctNode, SegmentationParameters(modelFolder="~/COINModels/demo"),
                            waitForCompletion=True)
    outcome.outputs.segmentation     # vtkMRMLSegmentationNode "COIN lesion", segment "lesion"
    # a model that looks at a box around the host organ needs the organ (docs/recipes.md "Host-organ box");
    # for other models it is optional and replaces the anatomy gate (slices without the organ are skipped)
    logic.process(ctNode, parameters, hostSegmentation=organs, hostSegmentIds=["kidney_left", "kidney_right"])
    logic.rethreshold(outcome.outputs.segmentation, 0.4)   # no network run, the run's margin
    logic.rethreshold(outcome.outputs.segmentation, 0.4, marginMm=0)   # the paper's mask (no margin)

The GUI calls ``process(...)`` without waiting, calls ``processEvents()`` from a timer and listens
to the signals. The logic never shows dialogs: failures arrive through ``errorOccurred`` (and are
raised in blocking mode). The input volume is never modified; a failed or cancelled run leaves
the scene exactly as it was, because nodes are created only after every output file was read.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coin_core.errors import CoinError
from coin_core.infer.postprocess import DEFAULT_MARGIN_MM, DEFAULT_POSTPROCESS, check_margin

from .locations import coinCoreSearchPath
from .node_io import (
    arrayFromNode,
    checkSameGeometry,
    readVolumeFile,
    segmentArray,
    volumeFromNode,
    writeLabelFile,
    writeVolumeFile,
)
from .process_runner import ProcessResult, ProcessRunner, pythonExecutable, workerEnvironment
from .scene_helpers import placeNextTo, removeNodesNotIn, setSegmentMask, showDifference, showLikeInput
from .signals import Signal
from .state import State

SEGMENTATION_NAME = "COIN lesion"
SEGMENT_NAME = "lesion"
REF_INPUT, REF_COUNTERFACTUAL, REF_DIFFERENCE = "COIN.input", "COIN.counterfactual", "COIN.difference"
ATTR_SEGMENT_ID, ATTR_THRESHOLD, ATTR_POSTPROCESS = "COIN.segmentId", "COIN.threshold", "COIN.postprocess"
# the mask margin (mm) the segment was grown by; segmentations made before margins have none: 0
ATTR_MARGIN = "COIN.marginMm"
# the model that made the segment; "1" once edited by hand; "1" while COIN itself writes the segment
ATTR_MODEL, ATTR_EDITED, ATTR_UPDATING = "COIN.modelFolder", "COIN.edited", "COIN.updating"
HOST_MASK_FILE = "host_organ.nrrd"  # the chosen host-organ segments, written next to the input for the worker
HOST_MASK_LABEL = 1
SELECT_HOST = (
    "Choose the host organ under 'Host organ': a segmentation of this CT and the segment(s) of the organ "
    "the model was trained on (e.g. both kidneys; TotalSegmentator makes them)."
)


@dataclass
class SegmentationParameters:
    """What the worker needs besides the input (see ``coin segment --help``)."""

    modelFolder: str
    device: str = "auto"
    screening: bool = True
    threshold: float | None = None
    postprocess: str = DEFAULT_POSTPROCESS
    marginMm: float | None = None  # grow the mask by this many mm (``--margin-mm``); None: the card's
    hostMask: str | None = None  # a label map file on the CT's grid (``coin segment --host-mask``)
    hostLabels: str | None = None  # its host-organ label ids, e.g. "2,3" (``--host-labels``; default 1)

    def asArgList(self) -> list[str]:
        args = ["--model", str(Path(self.modelFolder).expanduser()), "--device", self.device]
        args += ["--postprocess", self.postprocess]
        if self.threshold is not None:
            args += ["--threshold", f"{self.threshold:g}"]
        if self.marginMm is not None:
            args += ["--margin-mm", repr(float(self.marginMm))]
        if not self.screening:
            args.append("--all-slices")
        if self.hostMask:
            args += ["--host-mask", str(Path(self.hostMask).expanduser())]
            if self.hostLabels:
                args += ["--host-labels", str(self.hostLabels)]
        return args


@dataclass
class SegmentationOutputs:
    """The nodes of one finished run."""

    segmentation: Any
    counterfactual: Any
    difference: Any
    segmentId: str
    threshold: float
    postprocess: str
    marginMm: float = DEFAULT_MARGIN_MM


@dataclass
class RunOutcome:
    """How ``process`` ended; ``outputs`` is set only on success."""

    succeeded: bool
    cancelled: bool = False
    errorMessage: str = ""
    outputs: SegmentationOutputs | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    inputVolume: Any
    parameters: SegmentationParameters
    outputSegmentation: Any
    workDir: Path
    runner: ProcessRunner
    outcome: RunOutcome | None = None


def modelThreshold(modelFolder: str | Path) -> float:
    """The model card's default threshold (see :func:`modelDefaults`; raises ``ValueError`` likewise)."""
    return modelDefaults(modelFolder)[0]


def modelDefaults(modelFolder: str | Path) -> tuple[float, float]:
    """The model card's default threshold and mask margin in mm, as ``coin segment`` uses them (tuned
    on val together; cards written without them hold ``coin_core.infer.postprocess.DEFAULT_THRESHOLD``
    and ``DEFAULT_MARGIN_MM``, 0 = the paper's masks).

    Raises:
        ValueError: the folder has no valid model card (the message says what is wrong and what to do).
    """
    from coin_core.modelfile import read_card

    try:
        card = read_card(Path(modelFolder).expanduser())
    except CoinError as err:
        raise ValueError(str(err)) from None
    return float(card.threshold), float(card.margin_mm)


def storedMarginMm(segmentationNode) -> float:
    """The mask margin (mm) stored on a COIN segmentation; 0 for one made before margins existed.

    Raises:
        ValueError: the stored value is not a plausible margin (the message says what to do).
    """
    text = segmentationNode.GetAttribute(ATTR_MARGIN) if segmentationNode is not None else None
    if text is None or text == "":
        return DEFAULT_MARGIN_MM
    try:
        return check_margin(text)
    except CoinError as err:
        raise ValueError(f"The segmentation's {ATTR_MARGIN} attribute is not usable: {err}") from None


def hostOrganRequirement(modelFolder: str | Path) -> str:
    """Why the model cannot run without a host organ, or "" when it can.

    A model whose card has ``input_crop`` looks at a box around the host organ (docs/recipes.md,
    "Host-organ box") and needs its mask; the sentence is ``coin segment``'s refusal
    (``coin_core.infer.segment.no_host_error``). A folder without a readable card gives "" (the run
    reports what is wrong with it).
    """
    from coin_core.infer.segment import no_host_error
    from coin_core.modelfile import read_card

    try:
        card = read_card(Path(modelFolder).expanduser())
    except CoinError:
        return ""
    return "" if card.input_crop is None else no_host_error(card.input_crop).message


class SegmentationLogic:
    """COIN inference for Slicer: volume node in, counterfactual, difference and segmentation nodes out.

    Signals: ``stateChanged(State)``, ``progressInfo(event: dict)`` (one worker protocol line),
    ``errorOccurred(message: str)``, ``finished(RunOutcome)``, ``segmentUpdated(segmentationNode)``
    (after a run's import and after ``rethreshold``: the lesion table follows it, ``lesion_results``).
    """

    def __init__(self, scene, python: str | None = None) -> None:
        self.scene = scene
        self.python = python or pythonExecutable()
        self.state = State.Idle
        self.stateChanged = Signal("state")
        self.progressInfo = Signal("event")
        self.errorOccurred = Signal("message")
        self.finished = Signal("outcome")
        self.segmentUpdated = Signal("segmentation")
        self._run: _Run | None = None

    def isRunning(self) -> bool:
        return self._run is not None

    def process(
        self,
        inputVolume,
        parameters: SegmentationParameters,
        outputSegmentation=None,
        waitForCompletion: bool = False,
        timeout: float | None = None,
        hostSegmentation=None,
        hostSegmentIds: list[str] | None = None,
    ) -> RunOutcome | None:
        """Start COIN on ``inputVolume``; with ``waitForCompletion`` block and return the outcome.

        The host organ, optional unless the model's card has ``input_crop``, is either
        ``hostSegmentation`` (a segmentation node) with the IDs of its host-organ segments, exported
        onto the input's grid, or a label map file in ``parameters.hostMask``. Only slices holding
        it get a counterfactual (it replaces the model's anatomy gate).

        Raises:
            ValueError: invalid input volume, model folder or host organ (nothing was started).
            RuntimeError: in blocking mode, the run failed; the message is the worker's.
        """
        if self._run is not None:
            raise RuntimeError("A COIN run is already going on; cancel it or wait for it to finish.")
        self._validate(inputVolume, parameters)
        hostMask = self._hostOrganMask(inputVolume, parameters, hostSegmentation, hostSegmentIds)
        self._setState(State.Starting)
        workDir = Path(tempfile.mkdtemp(prefix="coin-slicer-"))
        try:
            inputPath = writeVolumeFile(inputVolume, workDir / "input.nrrd")
            if hostMask is not None:
                hostPath = writeLabelFile(hostMask, inputVolume, workDir / HOST_MASK_FILE)
                parameters = dataclasses.replace(
                    parameters, hostMask=str(hostPath), hostLabels=str(HOST_MASK_LABEL)
                )
            args = [self.python, "-m", "coin_core", "segment", "--input", str(inputPath)]
            args += ["--output-dir", str(workDir / "out"), "--overwrite", "--progress", "jsonl"]
            runner = ProcessRunner(
                args + parameters.asArgList(), env=workerEnvironment([coinCoreSearchPath()])
            )
            runner.progress.connect(self.progressInfo.emit)
            runner.finished.connect(self._onWorkerFinished)
            self._run = _Run(inputVolume, parameters, outputSegmentation, workDir, runner)
            runner.start()
        except Exception:
            self._run = None
            shutil.rmtree(workDir, ignore_errors=True)
            self._setState(State.Failed)
            raise
        self._setState(State.Running)
        if not waitForCompletion:
            return None
        run = self._run
        try:
            runner.wait(timeout=timeout)
        except TimeoutError:
            self.cancel()
            runner.wait()
            raise
        if not run.outcome.succeeded and not run.outcome.cancelled:
            raise RuntimeError(run.outcome.errorMessage)
        return run.outcome

    def processEvents(self) -> bool:
        """Forward the worker's progress; the GUI calls this from a timer. True while running."""
        return self._run is not None and self._run.runner.processEvents()

    def cancel(self) -> None:
        """Stop the worker and its children; ``finished`` follows with ``cancelled=True``."""
        if self._run is not None and self._run.runner.isRunning():
            self._setState(State.Cancelling)
            self._run.runner.cancel()

    def _validate(self, inputVolume, parameters: SegmentationParameters) -> None:
        if (
            inputVolume is None
            or not inputVolume.IsA("vtkMRMLScalarVolumeNode")
            or not inputVolume.GetImageData()
        ):
            raise ValueError("Select a CT volume with voxels as input.")
        if inputVolume.IsA("vtkMRMLLabelMapVolumeNode"):
            raise ValueError(f"'{inputVolume.GetName()}' is a label map; select the CT volume as input.")
        if inputVolume.GetScene() is not self.scene:
            raise ValueError(f"The volume '{inputVolume.GetName()}' is not in this logic's scene.")
        if not Path(parameters.modelFolder).expanduser().is_dir():
            raise ValueError(
                f"The model folder '{parameters.modelFolder}' does not exist; choose a model or add one."
            )

    def _hostOrganMask(self, inputVolume, parameters: SegmentationParameters, segmentation, segmentIds):
        """The chosen host-organ segments as one (k, j, i) mask on the input's grid, or None.

        Raises ``ValueError`` (what to select) when the model needs a host organ and none was given,
        or when the choice cannot be used.
        """
        if segmentation is None:
            if segmentIds:
                raise ValueError("Host-organ segments were given without their segmentation; choose it too.")
            required = hostOrganRequirement(parameters.modelFolder)
            if required and not parameters.hostMask:
                raise ValueError(f"{required} {SELECT_HOST}")
            return None
        if parameters.hostMask:
            raise ValueError("Give the host organ once: as a segmentation or as a label map file, not both.")
        if not segmentation.IsA("vtkMRMLSegmentationNode") or segmentation.GetScene() is not self.scene:
            raise ValueError("The host organ must be a segmentation node of this scene.")
        name = segmentation.GetName()
        if not segmentIds:
            raise ValueError(f"Check the host organ's segment(s) of '{name}' under 'Host organ'.")
        missing = [s for s in segmentIds if segmentation.GetSegmentation().GetSegment(s) is None]
        if missing:
            raise ValueError(
                f"The segmentation '{name}' has no segment {', '.join(repr(s) for s in missing)} (any more); "
                "choose the host organ's segments again."
            )
        if segmentation.GetTransformNodeID() != inputVolume.GetTransformNodeID():
            raise ValueError(
                f"The host-organ segmentation '{name}' and the CT '{inputVolume.GetName()}' are under "
                "different transforms; harden the transforms (Data module) or put both under the same one."
            )
        mask = np.zeros(inputVolume.GetImageData().GetDimensions()[::-1], dtype=bool)
        for segmentId in segmentIds:
            mask |= segmentArray(segmentation, segmentId, inputVolume) > 0
        names = ", ".join(repr(segmentation.GetSegmentation().GetSegment(s).GetName()) for s in segmentIds)
        from coin_core.cli.segment_cmd import DEFAULT_MIN_HOST_PIXELS
        from coin_core.infer.segment import host_slice_filter

        ct = volumeFromNode(inputVolume)
        if not host_slice_filter(
            ct, ct.with_array(mask.astype(np.uint8)), [1], DEFAULT_MIN_HOST_PIXELS
        ).any():
            raise ValueError(
                f"The host organ ({names} of '{name}') covers no axial slice of '{inputVolume.GetName()}' "
                f"with more than {DEFAULT_MIN_HOST_PIXELS} voxels, so no slice would be processed; choose "
                "the segmentation made for this CT and the organ's segments."
            )
        return mask

    def _setState(self, state: State) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def _onWorkerFinished(self, result: ProcessResult) -> None:
        run = self._run
        outcome = RunOutcome(False, result.cancelled, result.errorMessage, None, result.events)
        try:
            if result.succeeded:
                self._setState(State.Importing)
                files = result.lastEvent.get("metrics", {}).get("outputs")
                if result.lastEvent.get("stage") != "done" or not files:
                    raise RuntimeError("The worker ended without listing its output files; see the log.")
                used = result.lastEvent.get("metrics", {})
                if "threshold" not in used or "postprocess" not in used or "margin_mm" not in used:
                    raise RuntimeError(
                        "The worker did not report the threshold, clean-up and margin it used; "
                        "reinstall the COIN extension so that coin_core and this module match."
                    )
                outcome.outputs = self.importOutputs(
                    run.inputVolume,
                    files,
                    float(used["threshold"]),
                    str(used["postprocess"]),
                    run.outputSegmentation,
                    modelFolder=run.parameters.modelFolder,
                    marginMm=float(used["margin_mm"]),
                )
                outcome.succeeded = True
        except Exception as err:  # any import failure must reach the user, the scene is rolled back
            outcome.errorMessage = f"Could not import the results: {err}"
        finally:
            shutil.rmtree(run.workDir, ignore_errors=True)
        run.outcome = outcome
        self._run = None
        self._setState(State.Idle if outcome.succeeded or outcome.cancelled else State.Failed)
        if not outcome.succeeded and not outcome.cancelled:
            self.errorOccurred.emit(outcome.errorMessage)
        if outcome.succeeded:
            self.segmentUpdated.emit(outcome.outputs.segmentation)
        self.finished.emit(outcome)

    def importOutputs(
        self,
        inputVolume,
        files: dict[str, str],
        threshold: float,
        postprocess: str,
        outputSegmentation=None,
        modelFolder: str | None = None,
        marginMm: float = DEFAULT_MARGIN_MM,
    ) -> SegmentationOutputs:
        """Turn the worker's files into nodes on exactly ``inputVolume``'s grid (all-or-nothing).

        ``threshold``, ``postprocess`` and ``marginMm`` are what made the worker's mask (its ``done``
        line says); they are stored on the segmentation, and ``rethreshold`` re-applies them.
        """
        marginMm = check_margin(marginMm)
        counterfactual = readVolumeFile(files["counterfactual"])
        difference = readVolumeFile(files["difference"])
        mask = readVolumeFile(files["segmentation"], labelmap=True)
        for node, what in (
            (counterfactual, "counterfactual"),
            (difference, "difference map"),
            (mask, "mask"),
        ):
            checkSameGeometry(node, inputVolume, what)
        before = {self.scene.GetNthNode(i).GetID() for i in range(self.scene.GetNumberOfNodes())}
        try:
            outputs = self._createNodes(
                inputVolume,
                counterfactual,
                difference,
                mask,
                (threshold, postprocess, marginMm),
                outputSegmentation,
            )
        except Exception:
            removeNodesNotIn(self.scene, before)
            raise
        outputs.segmentation.SetAttribute(
            ATTR_MODEL, str(Path(modelFolder).expanduser()) if modelFolder else ""
        )
        outputs.segmentation.SetAttribute(ATTR_EDITED, "0")
        return outputs

    def _createNodes(self, inputVolume, counterfactual, difference, mask, settings, segNode):
        threshold, postprocess, marginMm = settings
        name = inputVolume.GetName()
        created = []
        if segNode is None:
            segNode = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", SEGMENTATION_NAME)
            segNode.CreateDefaultDisplayNodes()
            created.append(segNode)
        outputs = []
        for role, source, suffix in (
            (REF_COUNTERFACTUAL, counterfactual, "counterfactual"),
            (REF_DIFFERENCE, difference, "difference"),
        ):
            node = segNode.GetNodeReference(role)
            if node is None:
                node = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", f"{name} COIN {suffix}")
                created.append(node)
            node.CopyOrientation(inputVolume)
            node.SetAndObserveImageData(source.GetImageData())
            node.SetAndObserveTransformNodeID(inputVolume.GetTransformNodeID())
            segNode.SetNodeReferenceID(role, node.GetID())
            outputs.append(node)
        cfNode, diffNode = outputs
        showLikeInput(cfNode, inputVolume)
        showDifference(self.scene, diffNode, threshold)
        segNode.SetReferenceImageGeometryParameterFromVolumeNode(inputVolume)
        segNode.SetAndObserveTransformNodeID(inputVolume.GetTransformNodeID())
        segNode.SetNodeReferenceID(REF_INPUT, inputVolume.GetID())
        segmentId = self._lesionSegment(segNode)
        segNode.SetAttribute(ATTR_UPDATING, "1")  # COIN's own write, not an edit by hand
        try:
            setSegmentMask(segNode, segmentId, arrayFromNode(mask) > 0, inputVolume)
        finally:
            segNode.SetAttribute(ATTR_UPDATING, "0")
        segNode.SetAttribute(ATTR_SEGMENT_ID, segmentId)
        segNode.SetAttribute(ATTR_THRESHOLD, f"{threshold:g}")
        segNode.SetAttribute(ATTR_POSTPROCESS, postprocess)
        segNode.SetAttribute(ATTR_MARGIN, repr(marginMm))  # exact: the same voxels on re-threshold
        placeNextTo(self.scene, inputVolume, created)
        return SegmentationOutputs(segNode, cfNode, diffNode, segmentId, threshold, postprocess, marginMm)

    @staticmethod
    def _lesionSegment(segNode) -> str:
        from coin_core.infer.segnrrd import SEGMENT_COLOR, TERMINOLOGY  # same look as `coin segment` files

        segmentation = segNode.GetSegmentation()
        segmentId = segNode.GetAttribute(ATTR_SEGMENT_ID) or segmentation.GetSegmentIdBySegmentName(
            SEGMENT_NAME
        )
        if not segmentId or segmentation.GetSegment(segmentId) is None:
            segmentId = segmentation.AddEmptySegment("", SEGMENT_NAME, list(SEGMENT_COLOR))
        segment = segmentation.GetSegment(segmentId)
        segment.SetName(SEGMENT_NAME)
        segment.SetColor(*SEGMENT_COLOR)
        segment.SetNameAutoGenerated(False)
        segment.SetColorAutoGenerated(False)
        segment.SetTag(segment.GetTerminologyEntryTagName(), TERMINOLOGY)
        return segmentId

    def rethreshold(
        self,
        segmentationNode,
        threshold: float,
        postprocess: str | None = None,
        marginMm: float | None = None,
    ) -> int:
        """Re-threshold the stored difference map into the lesion segment; returns the voxel count.

        Runs ``coin_core.infer.threshold_difference`` in this process, no network, with the clean-up
        and mask margin stored on the segmentation (the run's) unless ``postprocess`` / ``marginMm``
        override them; the ones used are stored. Raises ``ValueError`` when the segmentation was not
        made by this module, ``CoinError`` for a threshold or margin out of range (the segment is kept).
        """
        diffNode = segmentationNode.GetNodeReference(REF_DIFFERENCE) if segmentationNode else None
        segmentId = segmentationNode.GetAttribute(ATTR_SEGMENT_ID) if segmentationNode else None
        if diffNode is None or not segmentId:
            raise ValueError(
                "This segmentation has no COIN difference map; run 'Generate counterfactual' first."
            )
        from coin_core.infer import threshold_difference

        postprocess = postprocess or segmentationNode.GetAttribute(ATTR_POSTPROCESS) or DEFAULT_POSTPROCESS
        margin = storedMarginMm(segmentationNode) if marginMm is None else check_margin(marginMm)
        mask = threshold_difference(volumeFromNode(diffNode), float(threshold), postprocess, margin_mm=margin)
        maskArray = getattr(mask, "array", mask) > 0
        segmentationNode.SetAttribute(ATTR_UPDATING, "1")  # COIN's own write, not an edit by hand
        try:
            setSegmentMask(segmentationNode, segmentId, maskArray, diffNode)
        finally:
            segmentationNode.SetAttribute(ATTR_UPDATING, "0")
        segmentationNode.SetAttribute(ATTR_EDITED, "0")  # the threshold replaces any edit
        segmentationNode.SetAttribute(ATTR_THRESHOLD, f"{float(threshold):g}")
        segmentationNode.SetAttribute(ATTR_POSTPROCESS, postprocess)
        segmentationNode.SetAttribute(ATTR_MARGIN, repr(margin))
        showDifference(self.scene, diffNode, float(threshold))
        self.segmentUpdated.emit(segmentationNode)
        return int(maskArray.sum())

    @staticmethod
    def showIn3D(segmentationNode, show: bool = True) -> None:
        """Build (or drop) the closed-surface representation that the 3D view displays."""
        if show:
            segmentationNode.CreateClosedSurfaceRepresentation()
        else:
            segmentationNode.RemoveClosedSurfaceRepresentation()
