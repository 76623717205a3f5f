"""A tiny signal class: custom ``qt.Signal`` objects crash PythonQt, so the logics use this instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """Call every connected slot with the emitted arguments, in connection order.

    Example::

        results = []
        finished = Signal("result")
        finished.connect(results.append)
        finished.emit(42)  # results == [42]
    """

    def __init__(self, *argNames: str) -> None:
        self.argNames = argNames
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> None:
        """Call ``slot`` on every later ``emit``."""
        if slot not in self._slots:
            self._slots.append(slot)

    def disconnect(self, slot: Callable[..., Any]) -> None:
        """Stop calling ``slot``; unknown slots are ignored."""
        if slot in self._slots:
            self._slots.remove(slot)

    def disconnectAll(self) -> None:
        """Forget every slot."""
        self._slots.clear()

    def emit(self, *args: Any) -> None:
        """Call the connected slots with ``args``."""
        for slot in list(self._slots):
            slot(*args)
