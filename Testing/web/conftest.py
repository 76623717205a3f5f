"""Fixtures for the web page tests: a data root with a phantom CT and a tiny random model."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # coin_web is a top-level package of the checkout
    sys.path.insert(0, str(ROOT))


def _import_slicer_core() -> None:
    """Import slicer-core's ``slicer`` now, with ``Testing/`` hidden from ``sys.path``.

    That meta-package imports every module of every folder named ``slicer`` on ``sys.path``
    (``pkgutil.extend_path``); pytest puts ``Testing/`` there, so ``Testing/slicer_ext/*.py`` (other
    tests) would be imported as ``slicer.*`` by trame-slicer's first ``import slicer``.
    """
    if "slicer" in sys.modules:
        return
    testing = ROOT / "Testing"
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != testing]
    try:
        import slicer  # noqa: F401
    except ImportError:
        pass  # slicer-core missing: the tests that need it skip
    finally:
        sys.path[:] = saved


_import_slicer_core()

MODEL_THRESHOLD = 0.1  # the tiny random model's difference map gives a small, non-empty lesion here


def make_tiny_model(folder: Path, threshold: float = MODEL_THRESHOLD) -> Path:
    """The shared tiny random model (coin_testkit) with this page's threshold."""
    from coin_testkit import make_tiny_model as make

    return make(folder, seed=0, threshold=threshold)


@pytest.fixture(scope="session")
def a_tiny_model(tmp_path_factory) -> Path:  # noqa: ANN001
    """The tiny model folder (outside the data root, like a server's model catalog)."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def a_boxed_model(tmp_path_factory) -> Path:  # noqa: ANN001
    """The tiny model as a host-organ-box model (card ``input_crop``): it needs the host organ."""
    from coin_testkit import add_host_box

    return add_host_box(make_tiny_model(tmp_path_factory.mktemp("models") / "boxed"))


@pytest.fixture
def a_data_root(tmp_path) -> Path:  # noqa: ANN001
    """A data root with ``phantom.nii.gz`` (16 x 64 x 64), its organ label map ``phantom_organs.nii.gz``
    (1 kidney, 2 liver, 3 spleen), a corrupt ``broken.nii.gz`` and a folder ``other``."""
    from coin_core.data.phantom import make_phantom
    from coin_core.io import write_volume

    root = tmp_path / "data"
    (root / "other").mkdir(parents=True)
    image, label, _lesion = make_phantom(shape=(16, 64, 64), lesions=1, seed=1)
    write_volume(image, root / "phantom.nii.gz")
    write_volume(label, root / "phantom_organs.nii.gz")
    (root / "broken.nii.gz").write_bytes(b"this is not a NIfTI file")
    return root


SERVER_START_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WebServer:
    """A running ``coin web``: the URL it printed (secret included), its port, secret and log file."""

    url: str
    port: int
    secret: str
    log: Path


@pytest.fixture
def a_web_server(a_data_root, a_tiny_model, a_boxed_model, tmp_path):  # noqa: ANN001, ANN201
    """``coin web`` serving ``a_data_root`` on 127.0.0.1, started as a user starts it; stopped afterwards.

    Models: the tiny model first, then the catalog (``$COIN_MODELS_DIR``: a copy of the box model)."""
    import shutil

    shutil.copytree(a_boxed_model, tmp_path / "boxed")
    port = free_port()
    log_path = tmp_path / "server.log"
    log = log_path.open("w")
    env = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow", "COIN_MODELS_DIR": str(tmp_path)}
    args = [sys.executable, "-m", "coin_core", "web", "--data-root", str(a_data_root)]
    args += ["--model", str(a_tiny_model), "--port", str(port), "--device", "cpu"]
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + SERVER_START_S
        found = None
        while time.monotonic() < deadline and proc.poll() is None and found is None:
            found = re.search(r"open (http://127\.0\.0\.1:(\d+)/\?secret=(\S+))", log_path.read_text())
            time.sleep(0.3)
        if found is None:
            pytest.fail(f"coin web did not print its URL:\n{log_path.read_text()[-3000:]}")
        yield WebServer(found.group(1), int(found.group(2)), found.group(3), log_path)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
