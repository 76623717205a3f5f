"""The message banner at the top of the panel (errors stay until closed)."""

from __future__ import annotations

from trame.widgets import html
from trame.widgets.vuetify3 import VAlert
from trame_server.utils.typed_state import TypedState
from undo_stack import Signal

from ..state import MessageState


class MessageBannerUI(html.Div):
    """Shows ``MessageState``; emits ``close_clicked``."""

    close_clicked = Signal()

    def __init__(self, **kwargs) -> None:
        super().__init__(classes="px-2", **kwargs)
        name = TypedState(self.state, MessageState).name
        with self:
            VAlert(
                text=(name.text,),
                type=(name.kind,),
                v_if=(name.text,),
                closable=True,
                density="compact",
                click_close=self.close_clicked,
                id="message",
                classes=(f"'message-' + {name.kind}",),
                style="white-space: pre-wrap;",
            )
