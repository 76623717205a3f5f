"""The segment editor on the COIN lesion segment: paint, erase, islands, undo / redo.

Uses trame-slicer's ``SegmentationEditor`` (the same editor logic as desktop Slicer's Segment
Editor) with its own undo stack; strokes are drawn in the slice views by the editor's pipelines.
"""

from __future__ import annotations

from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp
from trame_slicer.segmentation import (
    BrushDiameterMode,
    SegmentationEffectErase,
    SegmentationEffectIslands,
    SegmentationEffectNoTool,
    SegmentationEffectPaint,
)
from undo_stack import UndoStack

from ..session import Session
from ..state import EditorState, Effect
from .message_logic import MessageLogic

EFFECT_TYPES = {
    Effect.NONE: SegmentationEffectNoTool,
    Effect.PAINT: SegmentationEffectPaint,
    Effect.ERASE: SegmentationEffectErase,
    Effect.ISLANDS: SegmentationEffectIslands,
}
UNDO_LIMIT = 20


class EditorLogic(BaseLogic[EditorState]):
    """Activates the lesion segment for editing and applies the page's tool choices."""

    def __init__(
        self, server: Server, slicer_app: SlicerApp, session: Session, messages: MessageLogic
    ) -> None:
        super().__init__(server, slicer_app, EditorState)
        self.session, self.messages = session, messages
        self.undo_stack = UndoStack(undo_limit=UNDO_LIMIT)
        self.editor.set_undo_stack(self.undo_stack)
        for signal in self.undo_stack.signals():
            signal.connect(self._on_undo_changed)
        session.volume_changed.connect(self._on_volume_changed)
        session.result_changed.connect(self._on_result_changed)
        self.bind_changes({self.name.effect: self.set_effect, self.name.brush_diameter: self._apply_brush})

    @property
    def editor(self):  # noqa: ANN201
        return self._slicer_app.segmentation_editor

    def set_ui(self, ui) -> None:  # noqa: ANN001
        ui.undo_clicked.connect(self.undo)
        ui.redo_clicked.connect(self.redo)
        ui.keep_largest_clicked.connect(self.keep_largest_island)
        ui.remove_small_clicked.connect(self.remove_small_islands)

    def set_effect(self, effect: Effect | str) -> None:
        """Activate a tool on the lesion segment (paint and erase draw in the slice views)."""
        effect = Effect(effect)
        if self.editor.active_segmentation is None:
            if effect is not Effect.NONE:
                self.messages.error("Generate a counterfactual first; then the lesion segment can be edited.")
                with self.state:
                    self.data.effect = Effect.NONE
            return
        self.editor.set_active_effect_type(EFFECT_TYPES[effect])
        self._apply_brush(self.data.brush_diameter)

    def _apply_brush(self, diameter: float) -> None:
        effect = self.editor.active_effect
        if isinstance(effect, SegmentationEffectPaint | SegmentationEffectErase):
            effect.set_brush_diameter(float(diameter), BrushDiameterMode.ScreenRelative)

    def keep_largest_island(self) -> None:
        """Keep only the largest connected piece of the lesion segment (undoable)."""
        self._islands().keep_largest_island()

    def remove_small_islands(self) -> None:
        """Remove pieces smaller than ``min_island_size`` voxels (undoable)."""
        self._islands().remove_small_islands(int(self.data.min_island_size))

    def _islands(self) -> SegmentationEffectIslands:
        if not isinstance(self.editor.active_effect, SegmentationEffectIslands):
            self.set_effect(Effect.ISLANDS)
            with self.state:
                self.data.effect = Effect.ISLANDS
        return self.editor.active_effect

    def undo(self) -> None:
        """Undo the last edit."""
        self.undo_stack.undo()

    def redo(self) -> None:
        """Redo the last undone edit."""
        self.undo_stack.redo()

    def _on_undo_changed(self, *_args) -> None:
        with self.state:
            self.data.can_undo = self.undo_stack.can_undo()
            self.data.can_redo = self.undo_stack.can_redo()

    def _on_volume_changed(self, _node) -> None:  # noqa: ANN001
        self.editor.deactivate_effect()
        with self.state:
            self.data.effect = Effect.NONE

    def _on_result_changed(self, outputs) -> None:  # noqa: ANN001
        self.editor.set_active_segmentation(outputs.segmentation, self.session.volume_node)
        self.editor.set_active_segment_id(outputs.segmentId)
        with self.state:
            self.data.effect = Effect.NONE
        self._on_undo_changed()
