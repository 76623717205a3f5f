"""Reviewing a result: the threshold slider, the image / counterfactual / difference toggle, the size.

Re-thresholding is ``SegmentationLogic.rethreshold`` (COINSegmentation's logic, which calls
``coin_core.infer.threshold_difference`` on the stored difference map; no network run).
"""

from __future__ import annotations

import asyncio

import numpy as np
from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

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
        self._applied_threshold: float | None = None
        session.volume_changed.connect(self._on_volume_changed)
        session.result_changed.connect(self._on_result_changed)
        slicer_app.segmentation_editor.segmentation_modified.connect(self.update_count)
        self._pending_threshold: float | None = None
        self.bind_changes(
            {self.name.threshold: self._on_threshold_moved, self.name.overlay: self.set_overlay}
        )

    def set_ui(self, ui) -> None:  # noqa: ANN001
        pass  # the controls are bound to the state; nothing to connect

    def _on_threshold_moved(self, threshold: float) -> None:
        # a dragged slider sends many values: apply only the latest one, once per loop turn
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.set_threshold(threshold)
            return
        if self._pending_threshold is None:
            loop.call_later(COALESCE_SECONDS, self._apply_pending_threshold)
        self._pending_threshold = float(threshold)

    def _apply_pending_threshold(self) -> None:
        threshold, self._pending_threshold = self._pending_threshold, None
        if threshold is not None:
            self.set_threshold(threshold)

    def set_threshold(self, threshold: float) -> int | None:
        """Re-threshold the difference map into the lesion segment; returns the new voxel count."""
        seg = self.session.segmentation_node
        if seg is None or self._applied_threshold == float(threshold):
            return None
        try:
            count = self.segmentation_logic.rethreshold(seg, float(threshold))
        except Exception as err:  # e.g. a segmentation without difference map: show, keep serving
            self.messages.error(f"Could not re-threshold: {err}")
            return None
        self._applied_threshold = float(threshold)
        self.update_count()
        return count

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
        self._applied_threshold = None
        with self.state:
            self.data.lesions = []
            self.data.has_result, self.data.overlay, self.data.voxel_count, self.data.volume_ml = (
                False,
                Overlay.IMAGE,
                0,
                0.0,
            )

    def _on_result_changed(self, outputs) -> None:  # noqa: ANN001
        self._applied_threshold = float(outputs.threshold)
        with self.state:
            self.data.has_result = True
            self.data.threshold = float(outputs.threshold)
            self.data.overlay = Overlay.IMAGE
        self.set_overlay(Overlay.IMAGE)
        self.update_count()
