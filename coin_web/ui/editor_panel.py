"""Segment editor tools: none / paint / erase / islands, brush size, island actions, undo / redo."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VBtn, VBtnToggle, VSlider, VTextField
from trame_server.utils.typed_state import TypedState
from undo_stack import Signal

from ..state import EditorState, Effect, ReviewState


class EditorPanelUI(html.Div):
    """Emits ``undo_clicked``, ``redo_clicked``, ``keep_largest_clicked`` and ``remove_small_clicked``."""

    undo_clicked = Signal()
    redo_clicked = Signal()
    keep_largest_clicked = Signal()
    remove_small_clicked = Signal()

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="pa-2", **kwargs)
        name = TypedState(self.state, EditorState).name
        has_result = TypedState(self.state, ReviewState).name.has_result
        with self:
            html.Div("Edit the lesion", classes="text-subtitle-2")
            with VBtnToggle(
                v_model=(name.effect,), mandatory=True, density="compact", divided=True, id="effect"
            ):
                for effect in Effect:
                    VBtn(
                        effect.value,
                        value=effect.value,
                        size="small",
                        disabled=(f"!{has_result}",),
                        id=f"effect-{effect.value}",
                    )
            with html.Div(v_if=(f"['paint', 'erase'].includes({name.effect})",)):
                html.Div(f"Brush {{{{ {name.brush_diameter} }}}} % of the view", classes="text-caption")
                VSlider(v_model=(name.brush_diameter,), min=1, max=20, step=1, hide_details=True, id="brush")
            with html.Div(v_if=(f"{name.effect} === 'islands'",), classes="d-flex align-center mt-1"):
                VBtn("Keep largest", size="small", click=self.keep_largest_clicked, id="keep-largest")
                VBtn(
                    "Remove smaller than",
                    size="small",
                    click=self.remove_small_clicked,
                    classes="ml-1",
                    id="remove-small",
                )
                VTextField(
                    v_model_number=(name.min_island_size,),
                    type="number",
                    density="compact",
                    hide_details=True,
                    classes="ml-1",
                    style="max-width: 80px",
                )
            with html.Div(classes="d-flex mt-1"):
                VBtn(
                    "Undo",
                    size="small",
                    click=self.undo_clicked,
                    disabled=(f"!{name.can_undo}",),
                    prepend_icon="mdi-undo",
                    id="undo",
                )
                VBtn(
                    "Redo",
                    size="small",
                    click=self.redo_clicked,
                    disabled=(f"!{name.can_redo}",),
                    prepend_icon="mdi-redo",
                    classes="ml-1",
                    id="redo",
                )
