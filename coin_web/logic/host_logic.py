"""The host organ: a label map of the open CT (e.g. TotalSegmentator's) picked from the file list.

Only slices holding the chosen labels get a counterfactual (``coin segment --host-mask``; it replaces the
model's anatomy gate). Optional for whole-slice models; a model that looks at a box around the host organ
(card ``input_crop``, docs/recipes.md "Host-organ box") cannot run without it. The file and its labels
are the server's: the browser's choice of labels is resolved against the labels found in the file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from trame_server import Server
from trame_slicer.app.logic import BaseLogic
from trame_slicer.core import SlicerApp

from coin_core.errors import CoinError

from ..data_root import DataRoot
from ..session import Session
from ..state import HostLabelState, HostState
from .message_logic import MessageLogic

SELECT_HOST = (
    "Pick the CT's host-organ label map (e.g. TotalSegmentator's) with the organ button of its row in the "
    "file list, then the organ's label(s) under 'Host organ'."
)


def read_host_labels(source: Path, ct) -> list[tuple[int, int]]:  # noqa: ANN001
    """(label, voxels) of every non-zero label in ``source``, checked to lie on ``ct``'s grid."""
    from coin_core.infer.input_checks import check_host_mask, check_label_map
    from coin_core.io import read_volume

    labels = read_volume(source)
    check_label_map(labels, f"'{source.name}'")
    values, counts = np.unique(np.asarray(labels.array), return_counts=True)
    found = [(int(v), int(c)) for v, c in zip(values, counts, strict=True) if v != 0]
    if not found:
        raise CoinError(f"'{source.name}' holds no labels (every voxel is 0).", "pick the organ's label map.")
    check_host_mask(ct, labels, [v for v, _ in found], source=f"'{source.name}'")
    return found


class HostLogic(BaseLogic[HostState]):
    """Keeps the chosen host-organ label map (server side) and the browser's label choice."""

    def __init__(
        self,
        server: Server,
        slicer_app: SlicerApp,
        session: Session,
        data_root: DataRoot,
        messages: MessageLogic,
    ) -> None:
        super().__init__(server, slicer_app, HostState)
        self.session, self.data_root, self.messages = session, data_root, messages
        self._file: Path | None = None
        self._labels: tuple[int, ...] = ()
        session.volume_changed.connect(lambda _node: self.clear())  # a label map belongs to one CT

    def set_ui(self, files_ui, run_ui) -> None:  # noqa: ANN001
        files_ui.host_clicked.connect(self.pick)
        run_ui.host_clear_clicked.connect(self.clear)

    async def pick(self, relative: str) -> bool:
        """Use ``relative`` (a label map on the open CT's grid) as the host organ; errors become messages."""
        if self.session.busy:
            self.messages.error("COIN is running; cancel it before choosing another host organ.")
            return False
        if self.session.volume_node is None:
            self.messages.error("Open the CT first, then pick its host-organ label map.")
            return False
        from coin_slicer.node_io import volumeFromNode

        with self.state:
            self.data.loading = True
        try:
            source = self.data_root.resolve(relative)
            found = await asyncio.to_thread(
                read_host_labels, source, volumeFromNode(self.session.volume_node)
            )
        except Exception as err:  # a wrong file must end as a message, never kill the server
            self.messages.error(f"Could not use '{relative}' as the host organ: {err}")
            return False
        finally:
            with self.state:
                self.data.loading = False
        self._file, self._labels = source, tuple(v for v, _ in found)
        with self.state:
            self.data.path = self.data_root.relative(source)
            self.data.labels = [HostLabelState(f"label {v} ({c} voxels)", v) for v, c in found]
            self.data.selected = [found[0][0]] if len(found) == 1 else []
        what = "" if len(found) == 1 else "; choose the organ's label(s)"
        self.messages.show(f"Host organ: {self.data.path}{what}.", "success")
        return True

    def clear(self) -> None:
        """Forget the host organ (a new CT, or the clear button)."""
        self._file, self._labels = None, ()
        with self.state:
            self.data.path, self.data.labels, self.data.selected = "", [], []

    def choice(self) -> tuple[str, str] | None:
        """(label map file, "2,3") of the host organ, or None when none was picked.

        The labels are the browser's choice kept only where the file holds them; "" when none is left.
        """
        if self._file is None:
            return None
        raw = self.state[self.name.selected]  # the browser's value as sent: not decoded as list[int]
        chosen = {str(v) for v in raw} if isinstance(raw, (list, tuple)) else set()
        return str(self._file), ",".join(str(v) for v in self._labels if str(v) in chosen)

    def set_required(self, text: str) -> None:
        """Show why the chosen model needs a host organ ("" when it does not)."""
        with self.state:
            self.data.required = f"{text} {SELECT_HOST}" if text else ""
