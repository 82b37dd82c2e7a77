"""Two-dimensional signals (images): the last two array dimensions are signal axes."""

from __future__ import annotations

from typing import Any

from .base import BaseSignal

__all__ = ["Signal2D"]


class Signal2D(BaseSignal):
    """An image, or a stack/map of images.

    The last two array dimensions are the signal axes (``x`` is the last);
    every other dimension is a navigation axis.  See :class:`BaseSignal`.

    Examples
    --------
    >>> import numpy as np
    >>> im = Signal2D(np.zeros((30, 40)))
    >>> im, im.axes_manager.signal_shape
    (<Signal2D, title: , dimensions: (|40, 30)>, (40, 30))
    >>> im.T
    <BaseSignal, title: , dimensions: (40, 30|)>
    """

    _signal_dimension = 2

    def create_model(self, *args: Any, **kwargs: Any) -> Any:
        """Return a :class:`swiftfit.model.model2d.Model2D` for this signal.

        Examples
        --------
        >>> m = im.create_model()  # doctest: +SKIP
        """
        from swiftfit.model.model2d import Model2D

        return Model2D(self, *args, **kwargs)
