"""The one exception type that user-facing code catches.

Library code raises :class:`CoinError` for every mistake a user can make (missing file, wrong
image kind, bad config, wrong model version, ...). The message says what happened; ``hint``
says what to do next. The CLI prints both without a traceback; the Slicer panel and the web
page show them in a dialog.
"""

from __future__ import annotations


class CoinError(Exception):
    """A problem the user can fix. ``str(err)`` is the full message, hint included."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  What to do: {hint}")


class CoinCancelled(CoinError):
    """Raised when a long job stops because its ``should_stop`` callback returned True."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)


class CoinWarning(UserWarning):
    """Something the user should know that does not stop the job (e.g. an unknown key in a model card).

    Library code issues it with ``warnings.warn(CoinWarning(msg))``; the CLI prints it as
    ``coin: warning: msg`` on stderr (for the Slicer module and the web page: the worker's stderr).
    """
