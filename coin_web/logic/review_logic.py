"""Reviewing a result: the threshold and margin sliders, the image / counterfactual / difference toggle,
the size.

Re-thresholding is ``SegmentationLogic.rethreshold`` (COINSegmentation's logic, which calls
``coin_core.infer.threshold_difference`` on the stored difference map; no network run). It keeps the
run's mask margin (the model card's, ``coin segment --margin-mm``) until the margin slider moves. Every
value the browser sends is checked here; a bad one is answered with a message and the controls go back
to what the segment shows.
"""

from __future__ import annotations

import asyncio

import numpy as np
from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

from coin_core.errors import CoinError
from coin_core.infer.postprocess import check_margin

from ..session import Session
from ..state import LesionRowState, Overlay, ReviewState
from .message_logic import MessageLogic

DIFFERENCE_OPACITY = 0.6
COALESCE_SECONDS = 0.05


class ReviewLogic(BaseLogic[ReviewState]):
    """Keeps the lesion segment, the views and the voxel count in step with the page's controls."""

    def __init__(
        self,
        server: Server,
        slicer_app: SlicerApp,
        session: Session,
        messages: MessageLogic,
        segmentation_logic,
        lesion_results=None,
    ) -> None:  # noqa: ANN001
        super().__init__(server, slicer_app, ReviewState)
        self.session, self.messages, self.segmentation_logic = session, messages, segmentation_logic
        if lesion_results is not None:
            lesion_results.tableUpdated.connect(self._on_lesion_table)
        # what made the segment now: (threshold, margin in mm); None before a result
        self._applied: tuple[float, float] | None = None
        session.volume_changed.connect(self._on_volume_changed)
        session.result_changed.connect(self._on_result_changed)
        slicer_app.segmentation_editor.segmentation_modified.connect(self.update_count)
        self._pending: dict[str, object] = {}
        self.bind_changes(
            {
                self.name.threshold: lambda value: self._on_control_moved("threshold", value),
                self.name.margin_mm: lambda value: self._on_control_moved("margin_mm", value),
                self.name.overlay: self.set_overlay,
            }
        )

    def set_ui(self, ui) -> None:  # noqa: ANN001
        pass  # the controls are bound to the state; nothing to connect

    def _on_control_moved(self, key: str, value: object) -> None:
        # a dragged slider sends many values: apply only the latest ones, once per loop turn
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._apply({key: value})
            return
        if not self._pending:
            loop.call_later(COALESCE_SECONDS, self._apply_pending)
        self._pending[key] = value

    def _apply_pending(self) -> None:
        pending, self._pending = self._pending, {}
        if pending:
            self._apply(pending)

    def _apply(self, changes: dict[str, object]) -> None:
        if self._applied is not None:  # a control that did not move keeps the segment's value
            self._rethreshold(
                changes.get("threshold", self._applied[0]), changes.get("margin_mm", self._applied[1])
            )

    def set_threshold(self, threshold: object, margin_mm: object = None) -> int | None:
        """Re-threshold the difference map into the lesion segment; returns the new voxel count.

        ``margin_mm`` None keeps the margin the segment has (the run's, until it is changed). Values
        come from the browser: anything that is not a valid threshold or margin is refused with a
        message, the segment stays as it is and the controls show its values again.
        """
        if self._applied is None:
            return None
        return self._rethreshold(threshold, self._applied[1] if margin_mm is None else margin_mm)

    def set_margin(self, margin_mm: object) -> int | None:
        """Grow the mask by ``margin_mm`` (mm) at the current threshold; returns the new voxel count."""
        return self._rethreshold(self._applied[0], margin_mm) if self._applied is not None else None

    def _rethreshold(self, threshold: object, margin_mm: object) -> int | None:
        seg = self.session.segmentation_node
        if seg is None or self._applied is None:
            return None
        try:
            value, margin = float(threshold), check_margin(margin_mm)  # type: ignore[arg-type]
        except (TypeError, ValueError, CoinError) as err:
            return self._refuse(err)
        if (value, margin) == self._applied:
            return None
        try:
            count = self.segmentation_logic.rethreshold(seg, value, marginMm=margin)
        except Exception as err:  # a threshold out of range, a segmentation without difference map
            return self._refuse(err)
        self._applied = (value, margin)
        with self.state:  # the controls show what made the segment (also after a call from the server)
            self.data.threshold, self.data.margin_mm = self._applied
        self.update_count()
        return count

    def _refuse(self, err: Exception) -> None:
        self.messages.error(f"Could not re-threshold: {err}")
        if self._applied is not None:  # the controls show what the segment shows
            with self.state:
                self.data.threshold, self.data.margin_mm = self._applied
        return None

    def set_overlay(self, overlay: Overlay | str) -> None:
        """Show the CT, the counterfactual, or the CT with the difference map on top."""
        outputs, display = self.session.outputs, self._slicer_app.display_manager
        if self.session.volume_node is None:
            return
        overlay = Overlay(overlay)
        background, foreground = self.session.volume_node, None
        if outputs is not None and overlay is Overlay.COUNTERFACTUAL:
            background = outputs.counterfactual
        elif outputs is not None and overlay is Overlay.DIFFERENCE:
            foreground = outputs.difference
        display.show_volume_in_slice_background(background)
        display.show_volume_in_slice_foreground(foreground)
        for view in self._slicer_app.view_manager.get_slice_views():
            view.set_foreground_opacity(DIFFERENCE_OPACITY if foreground is not None else 0.0)

    def segment_voxel_count(self) -> int:
        """Voxels in the lesion segment right now (after any editing)."""
        outputs = self.session.outputs
        editor = self._slicer_app.segmentation_editor
        if outputs is None or editor.active_segmentation is None:
            return 0
        array = editor.get_segment_labelmap(outputs.segmentId, as_numpy_array=True)
        return int(np.count_nonzero(array)) if array is not None else 0

    def update_count(self, *_args) -> None:
        """Push the lesion's voxel count and volume (ml) to the page."""
        count = self.segment_voxel_count()
        volume = self.session.volume_node
        voxel_ml = float(np.prod(volume.GetSpacing())) / 1000.0 if volume is not None else 0.0
        with self.state:
            self.data.voxel_count = count
            self.data.volume_ml = round(count * voxel_ml, 3)

    def _on_lesion_table(self, segmentation_node, lesions) -> None:  # noqa: ANN001
        """Show the lesion table of the current result (coin_core.infer.lesion_table rows)."""
        if segmentation_node is not self.session.segmentation_node and self.session.outputs is not None:
            return
        rows = [
            LesionRowState(
                lesion=les.lesion,
                voxels=les.voxels,
                volume_ml=f"{les.volume_ml:.3f}",
                diameter_mm=f"{les.longest_axial_diameter_mm:.1f}",
                mean_hu=f"{les.mean_hu:.1f}",
                max_hu=f"{les.max_hu:.0f}",
                slices=f"{les.slice_first}-{les.slice_last}",
                center_ras=", ".join(f"{v:.1f}" for v in les.center_ras),
            )
            for les in lesions
        ]
        with self.state:
            self.data.lesions = rows

    def _on_volume_changed(self, _node) -> None:  # noqa: ANN001
        self._applied = None
        with self.state:
            self.data.lesions = []
            self.data.has_result, self.data.overlay, self.data.voxel_count, self.data.volume_ml = (
                False,
                Overlay.IMAGE,
                0,
                0.0,
            )

    def _on_result_changed(self, outputs) -> None:  # noqa: ANN001
        self._applied = (float(outputs.threshold), float(outputs.marginMm))  # the run's
        with self.state:
            self.data.has_result = True
            self.data.threshold, self.data.margin_mm = self._applied
            self.data.overlay = Overlay.IMAGE
        self.set_overlay(Overlay.IMAGE)
        self.update_count()
