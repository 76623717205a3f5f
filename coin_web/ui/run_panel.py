"""Model list, Generate counterfactual, progress bar and Cancel."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VBtn, VCheckbox, VProgressLinear, VSelect
from trame_server.utils.typed_state import TypedState
from undo_stack import Signal

from ..state import FilesState, RunState


class RunPanelUI(html.Div):
    """Emits ``generate_clicked()`` and ``cancel_clicked()``."""

    generate_clicked = Signal()
    cancel_clicked = Signal()

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="pa-2", **kwargs)
        name = TypedState(self.state, RunState).name
        files = TypedState(self.state, FilesState).name
        with self:
            VSelect(
                label="Model",
                items=(name.models,),
                item_title="title",
                item_value="value",
                v_model=(name.model_folder,),
                density="compact",
                hide_details=True,
                disabled=(name.running,),
            )
            VCheckbox(
                label="Only slices the classifier calls abnormal",
                v_model=(name.screening,),
                density="compact",
                hide_details=True,
                disabled=(name.running,),
            )
            with html.Div(classes="d-flex"):
                VBtn(
                    "Generate counterfactual",
                    color="primary",
                    click=self.generate_clicked,
                    disabled=(f"{name.running} || !{files.volume_path}",),
                    id="generate",
                    classes="flex-grow-1 mr-2",
                )
                VBtn("Cancel", click=self.cancel_clicked, disabled=(f"!{name.running}",), id="cancel")
            VProgressLinear(model_value=(name.progress,), height=8, classes="mt-2", id="progress")
            html.Div(
                f"{{{{ {name.status} }}}}: {{{{ {name.progress_text} }}}}",
                id="run-status",
                classes="text-caption",
            )
