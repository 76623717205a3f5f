"""Train a COIN model from Slicer in a child process, with live curves, Stop, resume and registration.

A run lives in one output folder (RUN)::

    RUN/slicer_run.json    what was asked for (data, preset, host, device): lets a later session resume
    RUN/events.jsonl       the trainer's events (``coin train --events-jsonl``), plotted live
    RUN/bench/             the prepared slice sets, when the data was an nnU-Net folder
    RUN/...                the trainer's checkpoints and its model folder (with model.json)

Steps: ``coin data prepare`` (real slice labels: the folder has slice_labels.csv, or was built from
scene segmentations holding a lesion segment) or else ``coin data synth-lesions`` (only for an nnU-Net
folder without a prepared RUN/bench), then
``coin train --data BENCH --out RUN --config PRESET --events-jsonl RUN/events.jsonl [--resume]``.
Stop ends the process tree (the trainer keeps its last checkpoint); Start on the same RUN resumes.
At the end the model folder is copied into the models folder, where COINSegmentation lists it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coin_core.config import DEFAULT_PRESET

from .events_plot import EventsFollower, TrainingPlot
from .locations import coinCoreSearchPath
from .model_catalog import defaultModelsFolder, registerModel
from .process_runner import ProcessResult, ProcessRunner, pythonExecutable, workerEnvironment
from .signals import Signal
from .state import State

RUN_FILE = "slicer_run.json"
EVENTS_FILE = "events.jsonl"
STOP_GRACE_SECONDS = 60.0  # the trainer writes a checkpoint when it is asked to stop


@dataclass
class TrainingParameters:
    """What to train on and how."""

    dataFolder: str
    runFolder: str
    preset: str = DEFAULT_PRESET
    host: str = "kidney"
    device: str = "auto"
    extraTrainArgs: list[str] = field(default_factory=list)
    # extra arguments of the prepare step (synth-lesions or prepare), e.g. ["--size", "128"]
    extraPrepareArgs: list[str] = field(default_factory=list)


@dataclass
class TrainingOutcome:
    """How a run ended; ``registeredModel`` is set when the model was added to the models folder."""

    succeeded: bool
    stopped: bool = False
    errorMessage: str = ""
    modelFolder: str = ""
    registeredModel: str = ""
    validation: dict[str, float] = field(default_factory=dict)


def isBenchFolder(folder: str | Path) -> bool:
    return (Path(folder) / "benchmark.json").is_file()


def isNnunetFolder(folder: str | Path) -> bool:
    return (Path(folder) / "dataset.json").is_file() and (Path(folder) / "imagesTr").is_dir()


def prepareCommand(dataFolder: str | Path, host: str) -> list[str]:
    """The ``coin data ...`` arguments that turn an nnU-Net folder into a slice set.

    Real labels win over synthetic lesions: a slice-label table (slice_labels.csv, written by
    ``buildDatasetFromScene``) gives ``coin data prepare --labels-csv``; a dataset built from the scene
    (dataset.json "slicer_cases") whose labels include a lesion-like segment (cyst, tumour, lesion, ...)
    gives ``coin data prepare`` with those masks; anything else gives ``coin data synth-lesions``.
    """
    from coin_core.data.benchmark_build import LESION_NAME

    folder = Path(dataFolder)
    csv = folder / "slice_labels.csv"
    if csv.is_file():
        return ["data", "prepare", "--data", str(folder), "--host", host, "--labels-csv", str(csv)]
    try:
        meta = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    labels = meta.get("labels", {}) if isinstance(meta, dict) else {}
    hosts = {h.strip() for h in host.split(",")}
    if "slicer_cases" in meta and any(LESION_NAME.search(str(n)) and n not in hosts for n in labels):
        return ["data", "prepare", "--data", str(folder), "--host", host]
    return ["data", "synth-lesions", "--data", str(folder), "--host", host]


def hostProblem(host: str, volumesWithoutSegmentation: list[str]) -> str:
    """Why ``host`` cannot work for scene volumes without a segmentation ("" when it can).

    Such volumes have no organ label, so the host must be computed from the CT: ``body`` or ``lung``
    (``coin data prepare --host body``, see coin_core.data.hosts).
    """
    from coin_core.data.hosts import COMPUTED_HOSTS

    if not volumesWithoutSegmentation or host.strip() in COMPUTED_HOSTS:
        return ""
    names = ", ".join(f"'{name}'" for name in volumesWithoutSegmentation[:3])
    verb = "has" if len(volumesWithoutSegmentation) == 1 else "have"
    return (
        f"{names} {verb} no segmentation: set Host organ to {' or '.join(COMPUTED_HOSTS)} "
        "(a mask computed from the CT)."
    )


def canResume(runFolder: str | Path) -> bool:
    """True when ``runFolder`` holds an earlier run started from Slicer (its settings are saved)."""
    return (Path(runFolder) / RUN_FILE).is_file()


def loadRunParameters(runFolder: str | Path) -> TrainingParameters:
    """The parameters an earlier run was started with (to resume it after restarting Slicer)."""
    data = json.loads((Path(runFolder) / RUN_FILE).read_text(encoding="utf-8"))
    data["runFolder"] = str(runFolder)
    return TrainingParameters(
        **{k: v for k, v in data.items() if k in TrainingParameters.__dataclass_fields__}
    )


def findModelFolder(runFolder: str | Path) -> Path | None:
    """The newest folder under ``runFolder`` that holds a model.json (the trained model)."""
    cards = sorted(Path(runFolder).rglob("model.json"), key=lambda p: p.stat().st_mtime)
    return cards[-1].parent if cards else None


class TrainingLogic:
    """Runs training steps one after the other.

    Signals: ``stateChanged(State)``, ``progressInfo(event)``, ``errorOccurred(message)``,
    ``finished(TrainingOutcome)``.
    """

    def __init__(self, scene, python: str | None = None, modelsFolder: str | None = None) -> None:
        self.scene = scene
        self.python = python or pythonExecutable()
        self.modelsFolder = modelsFolder
        self.state = State.Idle
        self.stateChanged = Signal("state")
        self.progressInfo = Signal("event")
        self.errorOccurred = Signal("message")
        self.finished = Signal("outcome")
        self.plot: TrainingPlot | None = None
        self.outcome: TrainingOutcome | None = None
        self._runner: ProcessRunner | None = None
        self._steps: list[list[str]] = []
        self._follower: EventsFollower | None = None
        self._params: TrainingParameters | None = None
        self._stopRequested = False

    def isRunning(self) -> bool:
        return self._runner is not None

    def commands(self, params: TrainingParameters) -> list[list[str]]:
        """The worker command lines of a run, in order (the prepare step only when needed)."""
        run = Path(params.runFolder).expanduser()
        coin = [self.python, "-m", "coin_core"]
        steps, bench = [], Path(params.dataFolder).expanduser()
        if not isBenchFolder(bench):
            if not isNnunetFolder(bench):
                raise ValueError(
                    f"'{params.dataFolder}' is neither a prepared slice set (benchmark.json) nor an nnU-Net "
                    "dataset (dataset.json + imagesTr/); build one from the scene or pick another folder."
                )
            bench = run / "bench"
            if not isBenchFolder(bench):
                prepare = prepareCommand(Path(params.dataFolder).expanduser(), params.host)
                steps.append([*coin, *prepare, "--out", str(bench), "--overwrite", *params.extraPrepareArgs])
        train = [*coin, "train", "--data", str(bench), "--out", str(run), "--config", params.preset]
        train += ["--events-jsonl", str(run / EVENTS_FILE), "--device", params.device, *params.extraTrainArgs]
        if canResume(run) and (run / EVENTS_FILE).is_file():
            train.append("--resume")
        steps.append(train)
        return steps

    def start(
        self, params: TrainingParameters, waitForCompletion: bool = False, timeout: float | None = None
    ):
        """Start (or resume) training; with ``waitForCompletion`` block and return the outcome."""
        if self.isRunning():
            raise RuntimeError("A training run is going on; stop it first.")
        steps = self.commands(params)
        run = Path(params.runFolder).expanduser()
        run.mkdir(parents=True, exist_ok=True)
        (run / RUN_FILE).write_text(json.dumps(asdict(params), indent=2) + "\n", encoding="utf-8")
        self._params, self._steps, self._stopRequested, self.outcome = params, steps, False, None
        self.plot = TrainingPlot(self.scene, f"COIN {run.name}")
        self._follower = EventsFollower(run / EVENTS_FILE)  # read from the start: curves survive a restart
        self._setState(State.Starting)
        self._startNextStep()
        if not waitForCompletion:
            return None
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.processEvents():
            if deadline is not None and time.monotonic() > deadline:
                self.stop()
            time.sleep(0.1)
        if not self.outcome.succeeded and not self.outcome.stopped:
            raise RuntimeError(self.outcome.errorMessage)
        return self.outcome

    def _startNextStep(self) -> None:
        self._runner = ProcessRunner(self._steps.pop(0), env=workerEnvironment([coinCoreSearchPath()]))
        self._runner.progress.connect(self.progressInfo.emit)
        self._runner.finished.connect(self._onStepFinished)
        try:
            self._runner.start()
        except RuntimeError as err:
            self._runner = None
            self._finish(TrainingOutcome(False, errorMessage=str(err)))
            return
        self._setState(State.Running)

    def processEvents(self) -> bool:
        """Forward progress and update the curves; the GUI calls this from a timer. True while running."""
        if self._follower is not None and self.plot is not None:
            events = self._follower.readNew()
            self.plot.addEvents(events)
            for event in events:
                self.progressInfo.emit(event)
        if self._runner is None:
            return False
        self._runner.processEvents()  # may finish this step and start the next one
        return self._runner is not None

    def stop(self) -> None:
        """Stop the run; the trainer keeps a checkpoint, so Start on the same folder resumes it."""
        if self._runner is not None and self._runner.isRunning():
            self._stopRequested = True
            self._setState(State.Cancelling)
            self._runner.cancel(gracePeriod=STOP_GRACE_SECONDS)

    def _onStepFinished(self, result: ProcessResult) -> None:
        self._runner = None
        if result.succeeded and self._steps and not self._stopRequested:
            self._startNextStep()
            return
        if not result.succeeded:
            stopped = result.cancelled or self._stopRequested
            self._finish(TrainingOutcome(False, stopped, "" if stopped else result.errorMessage))
            return
        self._finish(self._completedOutcome())

    def _completedOutcome(self) -> TrainingOutcome:
        if self._follower is not None and self.plot is not None:
            self.plot.addEvents(self._follower.readNew())
        validation = dict(self.plot.latestValidation) if self.plot else {}
        modelFolder = findModelFolder(self._params.runFolder)
        if modelFolder is None:
            return TrainingOutcome(
                False, errorMessage="Training ended without writing a model folder (model.json)."
            )
        outcome = TrainingOutcome(True, modelFolder=str(modelFolder), validation=validation)
        try:
            name = Path(self._params.runFolder).expanduser().name
            outcome.registeredModel = str(registerModel(modelFolder, self.modelsFolder, self._freeName(name)))
        except (OSError, ValueError) as err:
            outcome.errorMessage = f"The model is in {modelFolder} but could not be registered: {err}"
        return outcome

    def _freeName(self, name: str) -> str:
        root = Path(self.modelsFolder).expanduser() if self.modelsFolder else defaultModelsFolder()
        candidate, index = name, 2
        while (root / candidate).exists():
            candidate, index = f"{name}-{index}", index + 1
        return candidate

    def _finish(self, outcome: TrainingOutcome) -> None:
        self.outcome = outcome
        self._setState(State.Idle if outcome.succeeded or outcome.stopped else State.Failed)
        if not outcome.succeeded and not outcome.stopped:
            self.errorOccurred.emit(outcome.errorMessage)
        self.finished.emit(outcome)

    def _setState(self, state: State) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def summary(self) -> dict[str, Any]:
        """The latest validation metrics (for the panel's metrics line)."""
        return dict(self.plot.latestValidation) if self.plot else {}
