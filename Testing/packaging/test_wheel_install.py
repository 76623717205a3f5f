"""The wheel holds every package ``coin`` needs: build it, install it into a fresh virtual environment
outside the checkout, and run ``coin web --help`` and the scene package from there.

Offline and quick: the wheel is built with the current interpreter's setuptools
(``--no-build-isolation``) from a copy of only the files a build reads; it is installed without
dependencies (``--no-deps``), and the new environment sees the current one's third-party packages
through a ``.pth`` line. A ``.pth`` line only appends a folder to ``sys.path`` (the ``.pth`` files in
that folder, such as an editable install of this project, are not run), and every project module is
checked to come from the new environment, so a package missing from the wheel fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("coin_core", "coin_slicer", "coin_web")
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", *PACKAGES)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def an_installed_wheel(tmp_path_factory) -> Path:
    """The ``bin`` folder of a fresh venv with the project's wheel installed (no editable link)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=ignore)
        else:
            shutil.copy2(src, source / name)
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)], tmp)
    (wheel,) = wheels.glob("coin_slicer-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp)
    python = venv / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)], tmp)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp)
    # third-party dependencies (torch, SimpleITK, slicer-core, trame...) from this interpreter's environment
    (Path(purelib.stdout.strip()) / "_coin_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH (which points at the checkout when the tests run)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def test_the_wheel_runs_coin_web_help_outside_the_checkout(an_installed_wheel, tmp_path):
    proc = _run([str(an_installed_wheel / "coin"), "web", "--help"], tmp_path, _clean_env())
    assert proc.stdout.startswith("usage: coin web") and "--data-root" in proc.stdout


def test_the_scene_package_and_the_web_page_import_from_the_installed_wheel(an_installed_wheel, tmp_path):
    code = (
        "import coin_core, coin_slicer, coin_web.app, coin_web.logic.run_logic as r;"
        "from coin_slicer import SegmentationLogic, TrainingLogic;"
        "from coin_slicer.locations import coinCoreSearchPath;"
        "print(coin_core.__file__); print(coin_slicer.__file__); print(coin_web.app.__file__);"
        "print(r.SegmentationLogic.__module__); print(coinCoreSearchPath())"
    )
    proc = _run([str(an_installed_wheel / "python"), "-c", code], tmp_path, _clean_env())
    core, scene, web, logic_module, search_path = proc.stdout.split()
    venv = an_installed_wheel.parent
    for module_file in (core, scene, web):
        assert Path(module_file).is_relative_to(venv), f"{module_file} is not the installed copy"
        assert not Path(module_file).is_relative_to(ROOT)
    assert logic_module == "coin_slicer.segmentation_logic"
    assert Path(search_path) == Path(core).parent.parent


def test_the_wheel_holds_every_python_file_of_the_three_packages(an_installed_wheel):
    venv = an_installed_wheel.parent
    (site,) = venv.glob("lib/python*/site-packages")
    for package in PACKAGES:
        expected = {
            p.relative_to(ROOT) for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts
        }
        missing = [p for p in expected if not (site / p).is_file()]
        assert not missing, f"not in the wheel: {missing}"
    assert (site / "coin_core" / "configs" / "kidney.yaml").is_file()
