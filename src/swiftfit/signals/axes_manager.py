"""The :class:`AxesManager`: ordering and navigation state of a signal's axes.

Axes are stored in *array order* (one per data dimension).  Users index them
in *natural order*: navigation axes first, then signal axes, each group in
reversed array order (so ``x``, the fastest-varying array dimension, comes
first).
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, Iterator, Sequence

import numpy as np

from .axes import DataAxis, InvalidInputError, InvalidTypeError

__all__ = ["AxesManager", "AxesTuple"]


class AxesTuple(tuple):
    """A tuple of axes whose :meth:`set` sets attributes of every one (HyperSpy's ``TupleSA``).

    Examples
    --------
    >>> am = AxesManager([DataAxis(size=3, navigate=True), DataAxis(size=4), DataAxis(size=5)])
    >>> am.signal_axes.set(scale=0.5, units="nm")
    >>> [(ax.scale, ax.units) for ax in am.signal_axes]
    [(0.5, 'nm'), (0.5, 'nm')]
    """

    def set(self, **kwargs: Any) -> None:
        """Set each keyword as an attribute of every axis (checked by the axis setters)."""
        for ax in self:
            for name, value in kwargs.items():
                if not hasattr(ax, name):
                    raise InvalidInputError(f"axes have no attribute {name!r} to set")
                setattr(ax, name, value)


class AxesManager:
    """Ordered collection of the :class:`DataAxis` objects of a signal.

    Parameters
    ----------
    axes : list of DataAxis
        Axes in array order; navigation axes must precede signal axes.

    Examples
    --------
    >>> am = AxesManager([DataAxis(size=4, navigate=True),
    ...                   DataAxis(size=5, navigate=True),
    ...                   DataAxis(size=100)])
    >>> am.navigation_shape, am.signal_shape
    ((5, 4), (100,))
    >>> am[0].size
    5
    """

    def __init__(self, axes: Sequence[DataAxis]) -> None:
        self._axes = list(axes)
        for i, ax in enumerate(self._axes):
            ax._index_in_array = i

    # -- ordering ----------------------------------------------------------
    @property
    def navigation_axes(self) -> tuple:
        """Navigation axes in natural order."""
        return AxesTuple([ax for ax in reversed(self._axes) if ax._navigate])  # (a list: no generator frame)

    @property
    def signal_axes(self) -> tuple:
        """Signal axes in natural order."""
        return AxesTuple([ax for ax in reversed(self._axes) if not ax._navigate])

    def _get_axes_in_natural_order(self) -> list:
        return list(self.navigation_axes + self.signal_axes)

    def __getitem__(self, key: Any) -> DataAxis:
        if isinstance(key, str):
            for ax in self._get_axes_in_natural_order():
                if ax.name == key:
                    return ax
            names = [ax.name for ax in self._get_axes_in_natural_order()]
            raise InvalidInputError(f"There is no axis named {key!r}; axes are {names}")
        if isinstance(key, DataAxis):
            if any(key is ax for ax in self._axes):
                return key
            raise InvalidInputError(f"axis {key!r} does not belong to this signal")
        if isinstance(key, bool) or not isinstance(key, Integral):
            raise InvalidTypeError(
                f"axis key must be an int, a name or a DataAxis, got {key!r}"
            )
        natural = self._get_axes_in_natural_order()
        try:
            return natural[key]
        except IndexError:
            raise IndexError(
                f"axis index {key} out of range for {len(natural)} axes"
            ) from None

    def __len__(self) -> int:
        return len(self._axes)

    # -- shapes ------------------------------------------------------------
    @property
    def navigation_shape(self) -> tuple:
        # natural order: the navigation axes in reversed array order (no AxesTuple built)
        return tuple([ax.size for ax in reversed(self._axes) if ax.navigate])

    @property
    def signal_shape(self) -> tuple:
        return tuple(ax.size for ax in self.signal_axes)

    @property
    def shape(self) -> tuple:
        """Natural-order shape: navigation shape then signal shape."""
        return self.navigation_shape + self.signal_shape

    @property
    def _navigation_shape_in_array(self) -> tuple:
        # navigation_shape[::-1]: the navigation axes' sizes in array order (a model
        # reads it several times per multifit call)
        # (the attributes behind the read-only ``navigate`` and ``size`` properties)
        return tuple([ax._size for ax in self._axes if ax._navigate])

    @property
    def _signal_shape_in_array(self) -> tuple:
        return self.signal_shape[::-1]

    @property
    def navigation_dimension(self) -> int:
        return len(self.navigation_axes)

    @property
    def signal_dimension(self) -> int:
        return len(self.signal_axes)

    @property
    def navigation_size(self) -> int:
        """Number of navigation positions (0 when there are none)."""
        shape = self.navigation_shape
        return int(np.prod(shape)) if shape else 0

    @property
    def _navigation_size1(self) -> int:
        """Number of navigation positions, counting 1 when there are none."""
        return int(np.prod(self.navigation_shape))

    @property
    def signal_size(self) -> int:
        """Number of points per signal (0 when there are no signal axes)."""
        shape = self.signal_shape
        return int(np.prod(shape)) if shape else 0

    @property
    def navigation_indices_in_array(self) -> tuple:
        return tuple(ax.index_in_array for ax in self.navigation_axes)

    @property
    def signal_indices_in_array(self) -> tuple:
        return tuple(ax.index_in_array for ax in self.signal_axes)

    # -- navigation position -------------------------------------------
    @property
    def indices(self) -> tuple:
        """Current navigation indices in natural order."""
        return tuple(ax.index for ax in self.navigation_axes)

    @indices.setter
    def indices(self, value: Sequence[int]) -> None:
        try:
            value = tuple(value)
        except TypeError:
            raise InvalidTypeError(
                f"`indices` must be a sequence of ints, got {value!r}"
            ) from None
        shape = self.navigation_shape
        if len(value) != len(shape):
            raise InvalidInputError(
                f"`indices` must have {len(shape)} entries for navigation "
                f"shape {shape}, got {value!r}"
            )
        for v, n in zip(value, shape):
            if isinstance(v, bool) or not isinstance(v, Integral):
                raise InvalidTypeError(f"`indices` must contain ints, got {value!r}")
            if not 0 <= v < n:
                raise InvalidInputError(
                    f"`indices` {value!r} out of range for navigation shape {shape}"
                )
        for ax, v in zip(self.navigation_axes, value):
            ax.index = int(v)

    @property
    def _array_indices(self) -> tuple:
        """Current navigation indices in array order."""
        return self.indices[::-1]

    def __iter__(self) -> Iterator[tuple]:
        """Visit every navigation position (x fastest), updating ``indices``."""
        for array_index in np.ndindex(*self._navigation_shape_in_array):
            natural = tuple(int(i) for i in array_index[::-1])
            self.indices = natural
            yield natural

    # -- copies and display ------------------------------------------------
    def _get_axes_dicts(self) -> list:
        return [ax.get_axis_dictionary() for ax in self._axes]

    def deepcopy(self) -> "AxesManager":
        return AxesManager([ax.copy() for ax in self._axes])

    copy = deepcopy

    def _dims_string(self) -> str:
        nav = ", ".join(str(n) for n in self.navigation_shape)
        sig = ", ".join(str(n) for n in self.signal_shape)
        return f"({nav}|{sig})"

    def __repr__(self) -> str:
        def fmt(v: Any) -> str:
            return "non-uniform" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

        header = ("Name", "size", "index", "offset", "scale", "units")
        rows_nav = [(ax.name, ax.size, ax.index, fmt(ax.offset), fmt(ax.scale), ax.units)
                    for ax in self.navigation_axes]
        rows_sig = [(ax.name, ax.size, "", fmt(ax.offset), fmt(ax.scale), ax.units)
                    for ax in self.signal_axes]
        rows = [tuple(str(c) for c in r) for r in rows_nav + rows_sig]
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

        def line(cells: Sequence[str]) -> str:
            return " | ".join(c.rjust(w) for c, w in zip(cells, widths))

        out = [f"<Axes manager, axes: {self._dims_string()}>", line(header),
               line(["=" * w for w in widths])]
        out += [line(r) for r in rows[: len(rows_nav)]]
        out.append(line(["-" * w for w in widths]))
        out += [line(r) for r in rows[len(rows_nav):]]
        return "\n".join(out)
