"""Natural-order slicing of signals: ``s.inav[...]`` and ``s.isig[...]``.

Integers are indices (negative ones count from the end) and remove the
axis; floats are axis values converted with ``value2index``; slices may mix
both and may have a step (a float step is in axis units).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np

from .axes import DataAxis, InvalidInputError, InvalidTypeError

__all__ = ["SignalSlicer"]


def _is_int(x: Any) -> bool:
    return isinstance(x, Integral) and not isinstance(x, (bool, np.bool_))


def _is_float(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, Integral)


def _position(axis: DataAxis, key: Any, what: str) -> int | None:
    """Resolve a slice bound (int index, float value or None) to an index."""
    if key is None:
        return None
    if _is_int(key):
        return int(key)
    if _is_float(key):
        return axis.value2index(float(key))
    raise InvalidTypeError(
        f"slice {what} must be an int, a float or None, got {key!r} for axis "
        f"{axis.name!r}"
    )


def _resolve(axis: DataAxis, key: Any) -> int | slice:
    """Turn one user key into an integer index or a normalised slice."""
    if _is_int(key):
        index = int(key)
        if not -axis.size <= index < axis.size:
            raise IndexError(
                f"index {index} is out of range for axis {axis.name!r} of size {axis.size}"
            )
        return index % axis.size
    if _is_float(key):
        return axis.value2index(float(key))
    if isinstance(key, slice):
        step = key.step
        if step is not None:
            if _is_float(step):
                if not axis.is_uniform:
                    raise InvalidInputError(
                        f"a float slice step ({step}) needs a uniform axis; axis "
                        f"{axis.name!r} is non-uniform"
                    )
                step = int(round(step / axis.scale))
            elif not _is_int(step):
                raise InvalidTypeError(f"slice step must be an int or a float, got {step!r}")
            if step == 0:
                raise InvalidInputError(f"slice step must be non-zero, got {key.step!r}")
        start = _position(axis, key.start, "start")
        stop = _position(axis, key.stop, "stop")
        selected = range(*slice(start, stop, step).indices(axis.size))
        if len(selected) == 0:
            raise InvalidInputError(
                f"slice {key} selects no points of axis {axis.name!r} (size {axis.size})"
            )
        stop = selected.stop if selected.stop >= 0 else None  # None: run to index 0
        return slice(selected.start, stop, selected.step)
    raise InvalidTypeError(
        f"index must be an int, a float or a slice, got {key!r} for axis {axis.name!r}"
    )


def slice_signal(signal: Any, keys: dict) -> Any:
    """Return a new signal from per-array-axis ``keys`` (int or slice).

    Missing axes are kept whole.  The noise variance, if it is a signal, is
    sliced the same way.
    """
    am = signal.axes_manager
    array_key = []
    new_axes = []
    for ax in am._axes:
        key = keys.get(ax.index_in_array, slice(None))
        array_key.append(key)
        if isinstance(key, slice):
            new_axes.append(ax._sliced(key))
    array_key = tuple(array_key)
    return signal._derive(signal.data[array_key], new_axes,
                          array_fn=lambda v: v[array_key])


class SignalSlicer:
    """Indexer returned by ``signal.inav`` / ``signal.isig``.

    Examples
    --------
    >>> from swiftfit.signals import Signal1D
    >>> s = Signal1D(np.arange(100).reshape(10, 10))
    >>> s.inav[:3].isig[-5:]
    <Signal1D, title: , dimensions: (3|5)>
    """

    def __init__(self, signal: Any, navigation: bool) -> None:
        self._signal = signal
        self._navigation = navigation

    def __getitem__(self, keys: Any) -> Any:
        am = self._signal.axes_manager
        axes = am.navigation_axes if self._navigation else am.signal_axes
        group = "navigation" if self._navigation else "signal"
        if not isinstance(keys, tuple):
            keys = (keys,)
        n_ellipsis = sum(k is Ellipsis for k in keys)
        if n_ellipsis > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if n_ellipsis:
            i = next(j for j, k in enumerate(keys) if k is Ellipsis)
            fill = (slice(None),) * (len(axes) - len(keys) + 1)
            keys = keys[:i] + fill + keys[i + 1:]
        if len(keys) > len(axes):
            raise IndexError(
                f"too many indices ({len(keys)}) for {len(axes)} {group} axes "
                f"(shape {tuple(a.size for a in axes)})"
            )
        resolved = {ax.index_in_array: _resolve(ax, k) for ax, k in zip(axes, keys)}
        return slice_signal(self._signal, resolved)
