"""The file picker: browse the data root and open a CT (NIfTI, NRRD, MetaImage or DICOM folder).

Reading and checking the file runs in a worker thread (``coin_core.io.read_volume``, which also
reads DICOM series); only adding the node to the scene happens on the server's event loop.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

from ..data_root import DataRoot
from ..session import Session
from ..state import FileEntryState, FilesState
from .message_logic import MessageLogic


def read_as_nrrd(source: Path, folder: Path) -> Path:
    """Read ``source`` with coin_core's reader (checks included) and write it as NRRD into ``folder``."""
    from coin_core.io import read_volume, write_volume

    volume = read_volume(source)
    name = source.name.split(".")[0] or "CT"
    target = folder / f"{name}.nrrd"
    write_volume(volume, target)
    return target


class FilesLogic(BaseLogic[FilesState]):
    """Lists the data root's folders and volumes; ``open`` loads one as the current CT."""

    def __init__(
        self,
        server: Server,
        slicer_app: SlicerApp,
        session: Session,
        data_root: DataRoot,
        messages: MessageLogic,
    ) -> None:
        super().__init__(server, slicer_app, FilesState)
        self.session, self.data_root, self.messages = session, data_root, messages
        self._tmp = tempfile.TemporaryDirectory(prefix="coin-web-")
        self.browse("")

    def set_ui(self, ui) -> None:  # noqa: ANN001
        ui.folder_clicked.connect(self.browse)
        ui.up_clicked.connect(self.browse_up)
        ui.file_clicked.connect(self.open)

    def browse(self, folder: str) -> None:
        """Show the entries of ``folder`` (relative to the data root)."""
        try:
            entries = self.data_root.list(folder)
        except Exception as err:  # a vanished folder or a path outside the root: say so, keep going
            self.messages.error(str(err))
            return
        with self.state:
            self.data.folder = folder
            self.data.entries = [FileEntryState(e.name, e.path, e.kind) for e in entries]

    def browse_up(self) -> None:
        """Show the parent folder (never above the data root)."""
        parent = Path(self.data.folder).parent.as_posix() if self.data.folder else ""
        self.browse("" if parent == "." else parent)

    async def open(self, relative: str) -> bool:
        """Load ``relative`` as the current CT; errors go to the message banner. True on success."""
        if self.data.loading:
            return False
        if self.session.busy:
            self.messages.error("COIN is running on the current CT; cancel it before opening another.")
            return False
        with self.state:
            self.data.loading = True
        self.messages.show(f"Opening {relative} ...")
        try:
            source = self.data_root.resolve(relative)
            nrrd = await asyncio.to_thread(read_as_nrrd, source, Path(self._tmp.name))
            self._show(self._load_node(nrrd, source), source)
            self.messages.show(f"Opened {relative}", "success")
            return True
        except Exception as err:  # any unreadable input must end as a message, never kill the server
            self.messages.error(f"Could not open '{relative}': {err}")
            return False
        finally:
            with self.state:
                self.data.loading = False

    def _load_node(self, nrrd: Path, source: Path):  # noqa: ANN202
        self._remove_previous()
        nodes = self._slicer_app.io_manager.load_volumes([str(nrrd)])
        nrrd.unlink(missing_ok=True)
        if not nodes:
            raise RuntimeError("the converted volume could not be loaded into the scene")
        node = nodes[0]
        node.SetName(source.name.split(".")[0])
        return node

    def _show(self, node, source: Path) -> None:  # noqa: ANN001
        display = self._slicer_app.display_manager
        display.show_volume_in_slice_background(node)
        display.show_volume_in_slice_foreground(None)
        display.reset_views()
        with self.state:
            self.data.volume_path = self.data_root.relative(source)
        self.session.set_volume(node, source)

    def _remove_previous(self) -> None:
        scene = self.scene
        old = [self.session.volume_node]
        if self.session.outputs is not None:
            out = self.session.outputs
            old += [out.segmentation, out.counterfactual, out.difference]
        for node in old:
            if node is not None and scene.IsNodePresent(node):
                scene.RemoveNode(node)
