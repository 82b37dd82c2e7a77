"""2-D components (``hs.model.components2D``)."""

from .expression import Expression

__all__ = ["Expression"]
