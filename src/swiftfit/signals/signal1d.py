"""One-dimensional signals (spectra): the last array dimension is the signal axis."""

from __future__ import annotations

from typing import Any

from .base import BaseSignal

__all__ = ["Signal1D"]


class Signal1D(BaseSignal):
    """A spectrum, or a stack/map of spectra.

    The last array dimension is the signal axis; every other dimension is a
    navigation axis.  See :class:`BaseSignal` for the parameters.

    Examples
    --------
    >>> import numpy as np
    >>> s = Signal1D(np.zeros((3, 100)), axes=[{}, {"scale": 0.1, "units": "eV"}])
    >>> s
    <Signal1D, title: , dimensions: (3|100)>
    >>> s.axes_manager[-1].units
    'eV'
    """

    _signal_dimension = 1

    def create_model(self, *args: Any, **kwargs: Any) -> Any:
        """Return a :class:`swiftfit.model.model1d.Model1D` for this signal.

        Examples
        --------
        >>> m = s.create_model()  # doctest: +SKIP
        """
        from swiftfit.model.model1d import Model1D

        return Model1D(self, *args, **kwargs)
