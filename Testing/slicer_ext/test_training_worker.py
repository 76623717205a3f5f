"""TrainingLogic end to end with the real `coin data synth-lesions` and `coin train` processes."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")

from coin_slicer.model_catalog import listModels  # noqa: E402
from coin_slicer.segmentation_logic import State  # noqa: E402
from coin_slicer.training_logic import TrainingLogic, TrainingParameters  # noqa: E402

TINY_YAML = """\
base: small
model:
  input_size: 32
  classifier: {base_width: 4}
  encoder: {widths: [4, 8, 8]}
  generator: {skips: [1, 2]}
  discriminator: {widths: [4, 8], scales: [2, 2]}
gan: {batch_size: 4, epochs: %(epochs)d, max_steps: %(steps)d, gen_update_freq: 2, checkpoint_every: 2,
      log_every: 1, val_max_batches: 1}
classifier: {batch_size: 8, epochs: 1, steps_per_epoch: 3, val_max_batches: 1}
amp: false
num_workers: 0
"""


# a small slice set (32 px, few lesion draws) keeps both training tests short
PREPARE = ["--size", "32", "--draws-train", "4", "--draws-val", "2", "--draws-test", "1"]


@pytest.fixture(autouse=True)
def one_thread_per_worker(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the workers inherit it; the machine is shared


@pytest.fixture
def a_phantom_dataset(tmp_path):
    """A one-case CT phantom in the nnU-Net layout (kidney label present)."""
    from coin_core.data.phantom import write_phantom_dataset

    write_phantom_dataset(tmp_path / "raw", n_cases=1, shape=(16, 64, 64))
    return tmp_path / "raw"


def _tiny_config(tmp_path, steps: int, epochs: int = 1):
    path = tmp_path / f"tiny{steps}.yaml"
    path.write_text(TINY_YAML % {"steps": steps, "epochs": epochs})
    return str(path)


@pytest.mark.slow
def test_training_from_an_nnunet_folder_plots_curves_and_registers_the_model(
    a_scene, a_phantom_dataset, tmp_path
):
    models = tmp_path / "models"
    logic = TrainingLogic(a_scene.scene, modelsFolder=str(models))
    config = _tiny_config(tmp_path, 4)
    params = TrainingParameters(
        str(a_phantom_dataset), str(tmp_path / "run1"), config, host="kidney", device="cpu",
        extraTrainArgs=["--no-progress"], extraPrepareArgs=PREPARE,
    )  # fmt: skip
    outcome = logic.start(params, waitForCompletion=True, timeout=400)
    assert outcome.succeeded and logic.state == State.Idle, outcome.errorMessage
    assert [m.name for m in listModels(models) if not m.name.startswith("demo: ")] == ["run1"]
    assert outcome.registeredModel == str(models / "run1")
    names = logic.plot.seriesNames()
    assert any(n.startswith("classifier Loss/") for n in names) and any(n.startswith("gan ") for n in names)
    assert logic.plot.lossChart.GetNumberOfPlotSeriesNodes() >= 2
    assert outcome.validation, "no validation metrics were plotted"


@pytest.mark.slow
def test_a_stopped_run_resumes_from_its_checkpoint(a_scene, a_phantom_dataset, tmp_path):
    run = tmp_path / "run"
    config = _tiny_config(tmp_path, 30, epochs=2)  # long enough to be stopped midway
    params = TrainingParameters(str(a_phantom_dataset), str(run), config, device="cpu",
                                extraTrainArgs=["--no-progress"], extraPrepareArgs=PREPARE)  # fmt: skip
    logic = TrainingLogic(a_scene.scene, modelsFolder=str(tmp_path / "models"))
    logic.start(params)
    deadline = time.monotonic() + 400
    while logic.processEvents() and time.monotonic() < deadline:
        if any(s.startswith("gan ") for s in logic.plot.seriesNames()):
            break  # the GAN phase runs; Stop interrupts it and the trainer saves a checkpoint
        time.sleep(0.2)
    assert logic.isRunning(), f"the run ended before it could be stopped: {logic.outcome}"
    logic.stop()
    while logic.processEvents():
        time.sleep(0.1)
    assert logic.outcome.stopped and not logic.outcome.succeeded
    later = TrainingLogic(a_scene.scene, modelsFolder=str(tmp_path / "models"))  # e.g. after a restart
    assert "--resume" in later.commands(params)[-1]
    outcome = later.start(params, waitForCompletion=True, timeout=400)
    assert outcome.succeeded, outcome.errorMessage
    steps = later.plot.column("gan", "step")  # both processes' events, read from the one events file
    assert steps.count(1.0) == 1, "the second process started again from step 1 instead of resuming"
    assert steps[-1] == max(steps) > steps[0]
