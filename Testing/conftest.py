"""Shared pytest fixtures. Fixtures are nouns; tests are claims."""

from __future__ import annotations

import os

# deterministic, quiet CPU runs
os.environ.setdefault("OMP_NUM_THREADS", "2")
