"""Reading a JSON file with a CoinError that names the file when it does not parse."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coin_core.errors import CoinError


def read_json(path: str | os.PathLike[str], hint: str) -> Any:
    """Parse the UTF-8 JSON file at ``path``.

    Args:
        path: the file to read (the caller checks it exists).
        hint: what the user should do when the file is not valid JSON.

    Returns:
        The parsed value (any JSON type; the caller checks its shape).

    Raises:
        CoinError: the file is not valid UTF-8 JSON; the message names the path and the error.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CoinError(f"{path} is not valid JSON: {err}", hint) from None
