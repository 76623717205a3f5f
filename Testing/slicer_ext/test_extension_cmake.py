"""Configure and install the extension's CMake project against a stub Slicer package.

The real Slicer SDK is not available here, so ``SlicerConfig.cmake`` below defines the variables
and ``slicerMacroBuildScriptedModule`` the way Slicer does (copy + install of SCRIPTS and
RESOURCES into qt-scripted-modules). This checks our CMake code itself: syntax, that every listed
file exists, and that coin_core, coin_slicer and the demo model land next to the modules so that
``import coin_core`` works from the installed folder without pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QT_DIR = "lib/Slicer-5.8/qt-scripted-modules"

STUB = """
set(Slicer_USE_FILE ${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake)
set(Slicer_EXTENSION_GENERATE_CONFIG ${CMAKE_CURRENT_LIST_DIR}/Empty.cmake)
set(Slicer_EXTENSION_CPACK ${CMAKE_CURRENT_LIST_DIR}/Empty.cmake)
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR %(qt)s)
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR %(qt)s)
macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY "WITH_GENERIC_TESTS" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  foreach(f ${MY_SCRIPTS} ${MY_RESOURCES})
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${f})
      message(FATAL_ERROR "listed but missing: ${f}")
    endif()
    get_filename_component(d ${f} DIRECTORY)
    install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/${f} DESTINATION %(qt)s/${d})
  endforeach()
endmacro()
"""


@pytest.fixture(scope="module")
def an_installed_extension(tmp_path_factory):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    tmp = tmp_path_factory.mktemp("cmake")
    stub = tmp / "stub"
    stub.mkdir()
    (stub / "SlicerConfig.cmake").write_text(STUB % {"qt": QT_DIR})
    (stub / "UseSlicer.cmake").write_text("")
    (stub / "Empty.cmake").write_text("")
    build, prefix = tmp / "build", tmp / "install"
    for cmd in (
        ["cmake", "-S", str(ROOT), "-B", str(build), f"-DSlicer_DIR={stub}"],
        ["cmake", "--install", str(build), "--prefix", str(prefix)],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return prefix / QT_DIR, build / QT_DIR


def test_modules_coin_core_and_configs_are_installed_side_by_side(an_installed_extension):
    installed, built = an_installed_extension
    expected = [
        "COINSegmentation.py",
        "COINSegmentationLib/Widget.py",
        "coin_slicer/segmentation_logic.py",
        "coin_slicer/training_logic.py",
        "COINTraining.py",
        "COINTrainingLib/Widget.py",
        "Resources/UI/COINSegmentation.ui",
        "coin_core/__init__.py",
        "coin_core/cli/segment_cmd.py",
        "coin_core/configs/small.yaml",
        "Resources/requirements.txt",
        "Resources/Icons/COINTraining.png",
    ]
    for relative in expected:
        assert (installed / relative).is_file(), relative
    shipped = {
        p.relative_to(ROOT)
        for package in ("coin_core", "coin_slicer")
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert all((installed / p).is_file() for p in shipped)
    assert (built / "coin_core" / "__init__.py").is_file(), "the build tree lacks coin_core"
    assert (built / "coin_slicer" / "__init__.py").is_file(), "the build tree lacks coin_slicer"


def test_the_installed_copy_of_coin_core_is_the_one_imported(an_installed_extension, tmp_path):
    installed, _ = an_installed_extension
    code = (
        "import coin_core, coin_slicer; from coin_slicer.locations import coinCoreSearchPath;"
        "print(coin_core.__file__); print(coin_slicer.__file__); print(coinCoreSearchPath())"
    )
    env = {**os.environ, "PYTHONPATH": str(installed)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    module_file, scene_file, search_path = proc.stdout.split()
    assert Path(module_file).is_relative_to(installed) and Path(search_path) == installed
    assert Path(scene_file).is_relative_to(installed)
