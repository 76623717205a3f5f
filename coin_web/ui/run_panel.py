"""Model list, Generate counterfactual, progress bar and Cancel."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VBtn, VCheckbox, VProgressLinear, VSelect
from trame_server.utils.typed_state import TypedState
from undo_stack import Signal

from ..state import FilesState, HostState, RunState


class RunPanelUI(html.Div):
    """Emits ``generate_clicked()``, ``cancel_clicked()`` and ``host_clear_clicked()``."""

    generate_clicked = Signal()
    cancel_clicked = Signal()
    host_clear_clicked = Signal()

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="pa-2", **kwargs)
        name = TypedState(self.state, RunState).name
        files = TypedState(self.state, FilesState).name
        host = TypedState(self.state, HostState).name
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
                id="model-select",
            )
            self._host_organ(host, name)
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

    def _host_organ(self, host, run) -> None:  # noqa: ANN001
        """The host-organ label map, its labels, and why the model needs it (when it does)."""
        tip = "only slices holding the organ get a counterfactual; optional unless the model needs it"
        with html.Div(classes="d-flex align-center mt-1", title=tip):
            html.Div(
                f"Host organ: {{{{ {host.path} || 'none (organ button in the file list)' }}}}",
                id="host-path",
                classes="text-caption flex-grow-1",
            )
            VBtn(
                "Clear", size="x-small", variant="text", click=self.host_clear_clicked, id="host-clear",
                v_if=(host.path,), disabled=(run.running,),
            )  # fmt: skip
        VSelect(
            label="Host organ label(s)",
            items=(host.labels,),
            item_title="title",
            item_value="value",
            v_model=(host.selected,),
            multiple=True,
            chips=True,
            density="compact",
            hide_details=True,
            v_if=(host.path,),
            disabled=(run.running,),
            id="host-labels",
        )
        html.Div(f"{{{{ {host.required} }}}}", v_if=(host.required,), id="host-required",
                 classes="text-caption text-warning")  # fmt: skip
