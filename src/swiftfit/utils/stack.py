"""``stack``: join signals of one shape along a new navigation axis (HyperSpy's ``hs.stack``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError

__all__ = ["stack"]


def stack(signal_list: Sequence, axis=None, new_axis_name: str = "stack_element", lazy=None,
          stack_metadata: bool = True, show_progressbar=None):
    """Stack signals of one shape along a new navigation axis (``axis=None``).

    The new axis is the last navigation axis in natural order (the first in
    array order), as in HyperSpy; the first signal gives class, axes and
    metadata.

    Parameters
    ----------
    signal_list : sequence of signals
        At least one, all of the same data shape.
    axis : None
        Only ``None`` (a new axis) is supported: joining along an existing
        axis is refused with a clear error.
    new_axis_name : str
        Name of the new axis.
    lazy : bool, optional
        True makes the result lazy (default: lazy when the first signal is).

    Examples
    --------
    >>> import numpy as np, swiftfit as hs
    >>> s = hs.signals.Signal1D(np.arange(5.0))
    >>> hs.stack([s, s, s])
    <Signal1D, title: , dimensions: (3|5)>
    """
    signals = list(signal_list)
    if not signals:
        raise InvalidInputError("`signal_list` must hold at least one signal, got none")
    if axis is not None:
        raise InvalidInputError(f"`axis` must be None (stack along a new axis), got {axis!r}")
    first = signals[0]
    for s in signals:
        if not hasattr(s, "axes_manager"):
            raise InvalidTypeError(f"`signal_list` must hold signals, got {type(s).__name__}")
        if s.data.shape != first.data.shape:
            raise InvalidInputError(
                f"every signal must have data shape {first.data.shape}, got {s.data.shape}"
            )
    data = np.stack([np.asarray(s.data) for s in signals], axis=0)
    new_axis = {"size": len(signals), "name": new_axis_name, "navigate": True, "scale": 1.0, "offset": 0.0}
    axes = [new_axis] + [ax.get_axis_dictionary() for ax in first.axes_manager._axes]
    out = type(first)._from_parts(data, _built_axes(type(first), data.shape, axes, first),
                                  first.metadata.deepcopy(), first.original_metadata.deepcopy())
    if lazy or (lazy is None and getattr(first, "_lazy", False)):
        out = out.as_lazy()
    return out


def _built_axes(cls, shape, axes, first):
    from ..signals.axes import DataAxis

    built = cls._build_axes(shape, axes)
    for new, old in zip(built[1:], first.axes_manager._axes):
        new._navigate = old.navigate
        if not old.is_uniform and new.is_uniform and new.size > 1:
            new.convert_to_non_uniform_axis()
    built[0]._navigate = True
    assert isinstance(built[0], DataAxis)
    return built
