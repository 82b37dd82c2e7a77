"""HyperSpy's ``hs.utils`` namespace: :func:`stack` and :mod:`.model_selection`."""

from __future__ import annotations

from . import model_selection
from .stack import stack

__all__ = ["model_selection", "stack"]
