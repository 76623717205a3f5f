"""The run states of the COIN logics (segmentation and training); the panels show ``value``."""

from __future__ import annotations

import enum


class State(enum.Enum):
    """What a logic is doing; the widget shows ``value`` as its status."""

    Idle = "Idle"
    Starting = "Starting"
    Running = "Running"
    Importing = "Importing"
    Cancelling = "Cancelling"
    Failed = "Failed"
