"""Model1D: a model of a Signal1D — the 1-D signal axis, its ranges and slicing."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .base import BaseModel

__all__ = ["Model1D"]


class Model1D(BaseModel):
    """A model of one-dimensional signals (spectra), at every navigation position.

    Parameters
    ----------
    signal1D : Signal1D
        The data; usually created by ``signal.create_model()``.

    Examples
    --------
    >>> import numpy as np, swiftfit as hs
    >>> s = hs.signals.Signal1D(np.arange(300.0).reshape(30, 10))
    >>> m = s.create_model()
    >>> m.append(hs.model.components1D.Gaussian())
    >>> m
    <Model1D, title: >
    """

    _signal_dimension = 1

    def __init__(self, signal1D, dictionary=None):
        super().__init__(signal1D)
        if dictionary is not None:  # HyperSpy's create_model(dictionary=m.as_dictionary())
            self._load_dictionary(dictionary)

    @property
    def axis(self):
        """The signal axis."""
        return self.axes_manager.signal_axes[0]

    @property
    def _is_binned(self) -> bool:
        return bool(self.axis.is_binned)

    def _coordinates(self) -> tuple[np.ndarray]:
        return (np.asarray(self.axis.axis, dtype=float)[self._channel_switches],)

    def _full_coordinates(self) -> tuple[np.ndarray]:
        return (np.asarray(self.axis.axis, dtype=float),)

    def _binscale(self):
        """Bin widths inside the range (1 for unbinned axes)."""
        if not self._is_binned:
            return 1.0
        if self.axis.is_uniform:
            return float(self.axis.scale)
        return np.gradient(np.asarray(self.axis.axis, dtype=float))[self._channel_switches]

    # ----------------------------------------------------- signal range
    def _indices(self, x1, x2) -> tuple[int, int]:
        ax = self.axis
        i1 = 0 if x1 is None else ax.value2index(x1)
        i2 = ax.size - 1 if x2 is None else ax.value2index(x2)
        if i1 > i2:
            raise InvalidInputError(f"empty signal range: x1={x1!r} lies after x2={x2!r}")
        return i1, i2


    def set_signal_range(self, x1=None, x2=None) -> None:
        """Fit only channels with ``x1 <= x <= x2`` (axis values; None = axis end)."""
        i1, i2 = self._indices(x1, x2)
        switches = np.zeros_like(self._channel_switches)
        switches[i1:i2 + 1] = True
        self._set_switches(switches)

    def add_signal_range(self, x1=None, x2=None) -> None:
        """Add channels ``x1 <= x <= x2`` to the range."""
        i1, i2 = self._indices(x1, x2)
        switches = self._channel_switches.copy()
        switches[i1:i2 + 1] = True
        self._set_switches(switches)

    def remove_signal_range(self, x1=None, x2=None) -> None:
        """Remove channels ``x1 <= x <= x2`` from the range."""
        i1, i2 = self._indices(x1, x2)
        switches = self._channel_switches.copy()
        switches[i1:i2 + 1] = False
        self._set_switches(switches)


