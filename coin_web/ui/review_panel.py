"""Threshold and margin sliders, image / counterfactual / difference toggle and the lesion's size."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VBtn, VBtnToggle, VSlider
from trame_server.utils.typed_state import TypedState

from coin_core.infer.postprocess import MAX_MARGIN_MM

from ..state import Overlay, ReviewState


class ReviewPanelUI(html.Div):
    """Bound to ``ReviewState``; has no signals (the logic reacts to state changes)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="pa-2", **kwargs)
        name = TypedState(self.state, ReviewState).name
        with self:
            html.Div(
                f"Threshold {{{{ Number({name.threshold}).toFixed(2) }}}}",
                classes="text-subtitle-2",
                id="threshold-value",
            )
            with html.Div(id="threshold"):
                VSlider(
                    v_model=(name.threshold,),
                    min=0.01,
                    max=1.0,
                    step=0.01,
                    disabled=(f"!{name.has_result}",),
                    hide_details=True,
                    density="compact",
                )
            html.Div(
                f"Margin {{{{ Number({name.margin_mm}).toFixed(1) }}}} mm",
                classes="text-subtitle-2",
                id="margin-value",
                title="The thresholded, cleaned mask grown in-plane by this distance (the model's tuned "
                "margin after a run; 0 = the paper's masks).",
            )
            with html.Div(id="margin"):
                VSlider(
                    v_model=(name.margin_mm,),
                    min=0.0,
                    max=MAX_MARGIN_MM,
                    step=0.5,
                    disabled=(f"!{name.has_result}",),
                    hide_details=True,
                    density="compact",
                )
            with VBtnToggle(
                v_model=(name.overlay,),
                mandatory=True,
                density="compact",
                divided=True,
                disabled=(f"!{name.has_result}",),
                id="overlay",
            ):
                for overlay in Overlay:
                    VBtn(overlay.value, value=overlay.value, size="small", id=f"overlay-{overlay.value}")
            html.Div(
                f"Lesion: <span id='voxel-count'>{{{{ {name.voxel_count} }}}}</span> voxels, "
                f"{{{{ {name.volume_ml} }}}} ml",
                classes="text-body-2 mt-1",
                id="lesion-size",
            )
            with html.Table(v_if=(f"{name.lesions}.length",), classes="text-caption mt-1", id="lesion-table"):
                with html.Tr():
                    for header in (
                        "#",
                        "mL",
                        "axial mm",
                        "mean HU",
                        "max HU",
                        "slices",
                        "centre RAS",
                        "voxels",
                    ):
                        html.Th(header)
                with html.Tr(v_for=f"row in {name.lesions}", key="row.lesion", classes="lesion-row"):
                    for cell in (
                        "lesion",
                        "volume_ml",
                        "diameter_mm",
                        "mean_hu",
                        "max_hu",
                        "slices",
                        "center_ras",
                    ):
                        html.Td(f"{{{{ row.{cell} }}}}")
                    html.Td("{{ row.voxels }}", classes="lesion-voxels")
