"""Save button and the "replace existing files?" dialog."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VBtn, VCard, VCardActions, VCardText, VCardTitle, VDialog, VSpacer
from trame_server.utils.typed_state import TypedState
from undo_stack import Signal

from ..state import ReviewState, SaveState


class SavePanelUI(html.Div):
    """Emits save_clicked, save_dicom_seg_clicked, overwrite_confirmed and overwrite_cancelled."""

    save_clicked = Signal()
    save_dicom_seg_clicked = Signal()
    overwrite_confirmed = Signal()
    overwrite_cancelled = Signal()

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="pa-2", **kwargs)
        name = TypedState(self.state, SaveState).name
        has_result = TypedState(self.state, ReviewState).name.has_result
        with self:
            VBtn(
                "Save",
                block=True,
                color="secondary",
                prepend_icon="mdi-content-save",
                click=self.save_clicked,
                disabled=(f"!{has_result}",),
                id="save",
            )
            VBtn(
                "Save as DICOM SEG",
                block=True,
                variant="tonal",
                classes="mt-1",
                prepend_icon="mdi-file-document-outline",
                click=self.save_dicom_seg_clicked,
                v_if=(name.dicom_available,),
                disabled=(f"!{has_result}",),
                id="save-dicom-seg",
            )
            html.Div(
                f"Saved: {{{{ {name.saved}.join(', ') }}}}",
                v_if=(f"{name.saved}.length",),
                classes="text-caption",
                id="saved",
            )
            with VDialog(v_model=(name.ask_overwrite,), max_width=480, persistent=True):
                with VCard(id="overwrite-dialog"):
                    VCardTitle("Replace existing files?")
                    with VCardText():
                        html.Div("{{ f }}", v_for=f"f in {name.existing}", key="f")
                    with VCardActions():
                        VSpacer()
                        VBtn("Keep existing", click=self.overwrite_cancelled, id="overwrite-no")
                        VBtn("Replace", color="error", click=self.overwrite_confirmed, id="overwrite-yes")
