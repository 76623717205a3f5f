"""What one page works on: the loaded CT node and the nodes of the last COIN result.

The logics share one ``Session``; it emits ``volume_changed`` and ``result_changed`` so each logic
updates its part of the page. Scene-level work stays in COINSegmentation's ``SegmentationLogic``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from undo_stack import Signal


@dataclass
class Session:
    """The current CT (node and source path on disk) and the current COIN result (or None)."""

    volume_changed = Signal(object)
    result_changed = Signal(object)

    volume_node: Any = None
    source_path: Path | None = None
    outputs: Any = None  # coin_slicer.SegmentationOutputs
    busy: bool = False  # a model run is going on: the CT must not change under it

    def set_volume(self, node: Any, source_path: Path) -> None:
        """Make ``node`` (read from ``source_path``) the current CT; forgets the previous result."""
        self.volume_node, self.source_path, self.outputs = node, source_path, None
        self.volume_changed(node)

    def set_result(self, outputs: Any) -> None:
        """Make ``outputs`` (a ``SegmentationOutputs``) the current result."""
        self.outputs = outputs
        self.result_changed(outputs)

    @property
    def segmentation_node(self) -> Any:
        return self.outputs.segmentation if self.outputs is not None else None
