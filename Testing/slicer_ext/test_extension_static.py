"""Static checks of the Slicer extension: what can be verified without desktop Slicer (no Qt here)."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("COINSegmentation", "COINTraining")
# the Slicer-free scene/worker layer: every file of coin_slicer (the logics of both modules)
LOGIC_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "coin_slicer").glob("*.py"))


def _module_files(module: str) -> list[Path]:
    folder = ROOT / module
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != "CMakeLists.txt"
    )


def _ui_names(module: str) -> set[str]:
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    return {w.get("name") for w in tree.iter() if w.tag in ("widget", "layout", "spacer") and w.get("name")}


@pytest.mark.parametrize("path", sorted(p for m in MODULES for p in (ROOT / m).rglob("*.py")), ids=str)
def test_every_module_python_file_compiles(path):
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("module", MODULES)
def test_the_ui_parses_with_unique_names_and_declares_its_custom_widgets(module):
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    names = [w.get("name") for w in tree.iter("widget")]
    assert len(names) == len(set(names)), "duplicate objectName in the .ui"
    used = {w.get("class") for w in tree.iter("widget")}
    declared = {c.findtext("class") for c in tree.iter("customwidget")}
    custom = {c for c in used if c.startswith(("qMRML", "ctk", "qSlicer"))}
    assert custom <= declared, f"undeclared custom widgets: {custom - declared}"


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_attribute_the_widget_uses_exists_in_the_ui(module):
    code = (ROOT / module / f"{module}Lib" / "Widget.py").read_text(encoding="utf-8")
    used = set(re.findall(r"self\.ui\.(\w+)", code))
    assert used, "the widget uses no ui attributes?"
    missing = used - _ui_names(module)
    assert not missing, f"Widget.py uses self.ui.{sorted(missing)} that {module}.ui does not define"


@pytest.mark.parametrize("module", MODULES)
def test_every_slicer_parameter_name_is_a_parameter_node_field(module):
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    bound = set()
    for widget in tree.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound.add(prop.findtext("string"))
    source = ast.parse((ROOT / module / f"{module}Lib" / "Parameters.py").read_text(encoding="utf-8"))
    fields = {
        node.target.id
        for cls in source.body
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, ast.AnnAssign)
    }
    assert bound and bound <= fields, f"unknown SlicerParameterName(s): {bound - fields}"


@pytest.mark.parametrize("module", MODULES)
def test_every_file_of_the_module_is_listed_in_its_cmakelists_and_every_listed_file_exists(module):
    cmake = (ROOT / module / "CMakeLists.txt").read_text(encoding="utf-8").replace("${MODULE_NAME}", module)
    listed = set(re.findall(r"^\s+([\w/.]+\.(?:py|png|ui|txt))\s*$", cmake, re.MULTILINE))
    present = {str(p.relative_to(ROOT / module)) for p in _module_files(module)}
    assert present - listed == set(), f"not listed in {module}/CMakeLists.txt (would not be packaged)"
    assert listed - present == set(), f"listed in {module}/CMakeLists.txt but missing"


@pytest.mark.parametrize("module", MODULES)
def test_entry_file_and_widget_stay_small(module):
    assert len((ROOT / module / f"{module}.py").read_text().splitlines()) <= 150
    assert len((ROOT / module / f"{module}Lib" / "Widget.py").read_text().splitlines()) <= 300


def test_the_scene_layer_has_the_logic_files():
    names = {Path(p).name for p in LOGIC_FILES}
    assert {"segmentation_logic.py", "training_logic.py", "node_io.py", "dataset_builder.py"} <= names


@pytest.mark.parametrize("path", LOGIC_FILES)
def test_logic_files_never_touch_widgets_dialogs_or_the_global_scene(path):
    code = (ROOT / path).read_text(encoding="utf-8")
    for banned in ("self.ui", "Display(", "slicer.app", "slicer.mrmlScene", "import qt", "print("):
        assert banned not in code, f"{path} uses {banned}"


@pytest.mark.parametrize("module", MODULES)
def test_the_in_slicer_self_test_runs_existing_pytest_files(module):
    code = (ROOT / module / f"{module}.py").read_text(encoding="utf-8")
    names = re.findall(r'"(test_\w+\.py)"', code)
    assert names and all((ROOT / "Testing" / "slicer_ext" / n).is_file() for n in names), names
    assert f"class {module}Test(ScriptedLoadableModuleTest)" in code


def test_the_extension_metadata_is_complete():
    cmake = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    for variable in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS"):
        assert f"set(EXTENSION_{variable} " in cmake
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in cmake
    assert all(f"add_subdirectory({m})" in cmake for m in MODULES)
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    entry = json.loads((ROOT / "SlicerCOIN.json").read_text(encoding="utf-8"))
    assert {"$schema", "category", "scm_url", "build_dependencies"} <= set(entry)
    assert entry["build_dependencies"] == ["PyTorch"]


def test_icons_are_128_pixel_pngs():
    from PIL import Image

    for module in MODULES:
        with Image.open(ROOT / module / "Resources" / "Icons" / f"{module}.png") as icon:
            assert icon.format == "PNG" and icon.size == (128, 128)


@pytest.mark.parametrize("module", MODULES)
def test_the_readme_mockup_draws_every_widget_of_the_ui(module):
    import xml.etree.ElementTree as ET

    from render_panel_mockup import render_panel

    image, drawn = render_panel(module)
    tree = ET.parse(ROOT / module / "Resources" / "UI" / f"{module}.ui")
    widgets = {w.get("name") for w in tree.iter("widget")} - {module}
    assert widgets <= set(drawn), f"not drawn: {widgets - set(drawn)}"
    assert image.width > 300 and image.height > 300
