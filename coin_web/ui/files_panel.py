"""The file picker: folders and CT files of the data root (the server's side, not an upload)."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.html import Template
from trame.widgets.vuetify3 import VBtn, VIcon, VList, VListItem, VProgressLinear
from trame_server.utils.typed_state import TypedState
from undo_stack import Signal

from ..state import FilesState

ICONS = "{ dir: 'mdi-folder', dicom: 'mdi-folder-image', volume: 'mdi-file-image' }"


class FilesPanelUI(html.Div):
    """Emits ``folder_clicked(path)``, ``up_clicked()``, ``file_clicked(path)``, ``host_clicked(path)``
    (relative to the root; the last: use the file as the open CT's host-organ label map)."""

    folder_clicked = Signal(str)
    up_clicked = Signal()
    file_clicked = Signal(str)
    host_clicked = Signal(str)

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="pa-2", **kwargs)
        name = TypedState(self.state, FilesState).name
        with self:
            with html.Div(classes="d-flex align-center"):
                html.Div("CT", classes="text-subtitle-2 mr-2")
                html.Div(f"/{{{{ {name.folder} }}}}", id="files-folder", classes="text-caption flex-grow-1")
                with VBtn(size="small", variant="text", icon=True, click=self.up_clicked, id="files-up"):
                    VIcon("mdi-arrow-up")
            with (
                VList(density="compact", id="file-list", style="max-height: 180px; overflow-y: auto;"),
                VListItem(
                    v_for=f"entry in {name.entries}",
                    key="entry.path",
                    title=("entry.name",),
                    prepend_icon=(f"({ICONS})[entry.kind]",),
                    active=(f"entry.path === {name.volume_path}",),
                    click=(self._on_entry, "[entry.path, entry.kind]"),
                    classes="file-entry",
                ),
                Template(v_slot_append=True),
            ):
                VBtn(
                    icon="mdi-stomach",
                    size="x-small",
                    variant="text",
                    v_if=(
                        f"entry.kind === 'volume' && {name.volume_path} && entry.path !== {name.volume_path}",
                    ),
                    v_on_click_stop=(self.host_clicked, "[entry.path]"),
                    title="Use as the open CT's host-organ label map",
                    classes="host-pick",
                )
            VProgressLinear(indeterminate=True, v_if=(name.loading,), id="files-loading")
            html.Div(f"Open: {{{{ {name.volume_path} || 'none' }}}}", id="files-open", classes="text-caption")

    def _on_entry(self, path: str, kind: str) -> None:
        if kind == "dir":
            self.folder_clicked(path)
        else:
            self.file_clicked(path)
