"""``CoinWebApp``: the trame application of the review page (started by ``coin web``)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

# must precede the first VTK import: render slice views offscreen with Mesa EGL (no X display)
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

from trame.app import TrameApp  # noqa: E402
from trame_slicer import module as trame_slicer_module  # noqa: E402
from trame_slicer.core import LayoutManager, SlicerApp  # noqa: E402
from trame_slicer.rca_view import register_rca_factories  # noqa: E402
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition  # noqa: E402

from coin_slicer.model_catalog import listModels  # noqa: E402

from .data_root import DataRoot  # noqa: E402
from .logic import PageLogic  # noqa: E402
from .ui import PageUI  # noqa: E402

LAYOUT_ID = "COIN slices"


@dataclass
class WebOptions:
    """What ``coin web`` passes: the data root, extra model folders, a CT / model to start with."""

    data_root: Path
    model_folders: list[str] = field(default_factory=list)
    volume: str | None = None
    model: str | None = None
    device: str = "auto"


def slice_layout() -> Layout:
    """Axial on the left, coronal over sagittal on the right; no 3D view (slow on CPU)."""
    return Layout(
        LayoutDirection.Horizontal,
        [
            ViewLayoutDefinition.axial_view(),
            Layout(
                LayoutDirection.Vertical,
                [ViewLayoutDefinition.coronal_view(), ViewLayoutDefinition.sagittal_view()],
            ),
        ],
    )


def model_choices(options: WebOptions) -> list[tuple[str, str]]:
    """(title, folder) of every listed model: ``--model`` first, then COINSegmentation's catalog."""
    extra = [str(Path(f).expanduser().resolve()) for f in ([options.model] if options.model else [])]
    extra += [str(Path(f).expanduser().resolve()) for f in options.model_folders]
    entries = listModels(extraFolders=extra)
    first = [e for e in entries if extra and e.folder == extra[0]]
    return [(e.name, e.folder) for e in first + [e for e in entries if e not in first]]


class CoinWebApp(TrameApp):
    """The review page on one trame server: a SlicerApp scene, its slice views, and ``PageLogic``."""

    def __init__(self, options: WebOptions, server=None) -> None:  # noqa: ANN001
        super().__init__(server)
        self.options = options
        self.server.enable_module(trame_slicer_module)
        self.slicer_app = SlicerApp()
        register_rca_factories(self.slicer_app.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer_app.scene, self.slicer_app.view_manager, self.server)
        self.layout_manager.register_layout(LAYOUT_ID, slice_layout())
        self.logic = PageLogic(
            self.server,
            self.slicer_app,
            DataRoot(options.data_root),
            model_choices(options),
            options.device,
        )
        self.page = PageUI(self.server, self.layout_manager)
        self.logic.set_ui(self.page)
        self.layout_manager.set_layout(LAYOUT_ID)
        self.server.controller.on_server_ready.add(self._on_ready)

    @property
    def ui(self):  # noqa: ANN201
        return self.page.layout

    def _on_ready(self, **_kwargs) -> None:
        if self.options.volume:
            relative = self.logic.files.data_root.relative(self.options.volume)
            asyncio.get_event_loop().create_task(self.logic.files.open(relative))
