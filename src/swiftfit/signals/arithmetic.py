"""Arithmetic and comparison operators for signals.

Signal-with-signal operations broadcast the navigation and the signal
shapes separately (array order, numpy rules), so a navigation-only signal
times a single spectrum gives a spectrum at every navigation position.
Operations with scalars or arrays follow plain numpy broadcasting against
the data and must keep the data shape.
"""

from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from .axes import InvalidInputError

__all__ = ["ArithmeticMixin"]


def _is_signal(obj: Any) -> bool:
    from .base import BaseSignal

    return isinstance(obj, BaseSignal)


def _split_shapes(sig: Any) -> tuple:
    am = sig.axes_manager
    return am._navigation_shape_in_array, am._signal_shape_in_array


def _expanded(sig: Any, n_nav: int, n_sig: int) -> np.ndarray:
    nav, sg = _split_shapes(sig)
    shape = (1,) * (n_nav - len(nav)) + nav + (1,) * (n_sig - len(sg)) + sg
    return sig.data.reshape(shape)


def _pick_axes(left_axes: list, right_axes: list, sizes: tuple, navigate: bool) -> list:
    """Axes for a broadcast group, right-aligned; prefer the left operand."""
    out = []
    n = len(sizes)
    la = [None] * (n - len(left_axes)) + list(left_axes)
    ra = [None] * (n - len(right_axes)) + list(right_axes)
    for size, lax, rax in zip(sizes, la, ra):
        src = lax if lax is not None and lax.size == size else rax
        if src is None or src.size != size:
            src = lax
        axis = src.copy()
        axis._navigate = navigate
        out.append(axis)
    return out


def _signal_signal(left: Any, right: Any, op: Callable) -> Any:
    """Apply ``op(left.data, right.data)`` with HyperSpy's split broadcasting."""
    ln, ls = _split_shapes(left)
    rn, rs = _split_shapes(right)
    owner = right if len(rs) > len(ls) else left
    if ln == rn and ls == rs:
        return _wrap(owner, op(left.data, right.data), same_shape=True)
    try:
        nav = np.broadcast_shapes(ln, rn)
        sig = np.broadcast_shapes(ls, rs)
    except ValueError:
        raise InvalidInputError(
            f"cannot broadcast signal shapes {left.axes_manager._dims_string()} and "
            f"{right.axes_manager._dims_string()}"
        ) from None
    data = op(_expanded(left, len(nav), len(sig)), _expanded(right, len(nav), len(sig)))
    lam, ram = left.axes_manager, right.axes_manager
    nav_axes = _pick_axes([a for a in lam._axes if a.navigate],
                          [a for a in ram._axes if a.navigate], nav, True)
    sig_axes = _pick_axes([a for a in lam._axes if not a.navigate],
                          [a for a in ram._axes if not a.navigate], sig, False)
    return _wrap(owner, data, axes=nav_axes + sig_axes,
                 same_shape=data.shape == owner.data.shape)


def _wrap(owner: Any, data: Any, axes: list | None = None, same_shape: bool = True) -> Any:
    """Build the result: ``owner``'s class and metadata with new data.

    The noise variance is kept only when the data shape is unchanged.
    """
    data = np.asarray(data)
    if axes is None:
        axes = [ax.copy() for ax in owner.axes_manager._axes]
    array_fn = (lambda v: v) if same_shape else None
    return owner._derive(data, axes, cls=type(owner), array_fn=array_fn)


def _binary(self: Any, other: Any, op: Callable, reflected: bool = False) -> Any:
    if _is_signal(other):
        return _signal_signal(other, self, op) if reflected else _signal_signal(self, other, op)
    other = np.asarray(other) if not np.isscalar(other) else other
    data = op(other, self.data) if reflected else op(self.data, other)
    data = np.asarray(data)
    if data.shape != self.data.shape:
        raise InvalidInputError(
            f"operand of shape {np.shape(other)} would change the signal data shape "
            f"{self.data.shape} to {data.shape}; use a signal to broadcast"
        )
    return _wrap(self, data)


def _inplace(self: Any, other: Any, op: Callable) -> Any:
    if _is_signal(other):
        ln, ls = _split_shapes(self)
        try:
            if (np.broadcast_shapes(ln, _split_shapes(other)[0]) != ln
                    or np.broadcast_shapes(ls, _split_shapes(other)[1]) != ls):
                raise ValueError
        except ValueError:
            raise InvalidInputError(
                f"in-place operation cannot broadcast {other.axes_manager._dims_string()} "
                f"into {self.axes_manager._dims_string()}"
            ) from None
        other = _expanded(other, len(ln), len(ls))
    self.data = op(self.data, other)
    return self


def _make(op: Callable, reflected: bool = False) -> Callable:
    def method(self: Any, other: Any) -> Any:
        return _binary(self, other, op, reflected)

    method.__name__ = f"__{'r' if reflected else ''}{op.__name__.strip('_')}__"
    return method


def _make_inplace(op: Callable) -> Callable:
    def method(self: Any, other: Any) -> Any:
        return _inplace(self, other, op)

    method.__name__ = f"__{op.__name__.strip('_')}__"
    return method


def _make_unary(op: Callable) -> Callable:
    def method(self: Any) -> Any:
        return _wrap(self, op(self.data))

    method.__name__ = f"__{op.__name__.strip('_')}__"
    return method


class ArithmeticMixin:
    """Operators for :class:`~swiftfit.signals.BaseSignal`.

    Examples
    --------
    >>> import numpy as np
    >>> from swiftfit.signals import Signal1D, Signal2D
    >>> spectrum = Signal1D(np.ones(8))
    >>> nav = Signal2D(np.ones((3, 4))).T
    >>> spectrum * nav
    <Signal1D, title: , dimensions: (4, 3|8)>
    """

    __add__, __radd__ = _make(operator.add), _make(operator.add, True)
    __sub__, __rsub__ = _make(operator.sub), _make(operator.sub, True)
    __mul__, __rmul__ = _make(operator.mul), _make(operator.mul, True)
    __truediv__, __rtruediv__ = _make(operator.truediv), _make(operator.truediv, True)
    __floordiv__, __rfloordiv__ = _make(operator.floordiv), _make(operator.floordiv, True)
    __pow__, __rpow__ = _make(operator.pow), _make(operator.pow, True)
    __mod__, __rmod__ = _make(operator.mod), _make(operator.mod, True)
    __matmul__ = None  # not supported

    __lt__, __le__ = _make(operator.lt), _make(operator.le)
    __gt__, __ge__ = _make(operator.gt), _make(operator.ge)
    __eq__, __ne__ = _make(operator.eq), _make(operator.ne)

    __iadd__, __isub__ = _make_inplace(operator.iadd), _make_inplace(operator.isub)
    __imul__, __itruediv__ = _make_inplace(operator.imul), _make_inplace(operator.itruediv)
    __ifloordiv__, __ipow__ = _make_inplace(operator.ifloordiv), _make_inplace(operator.ipow)
    __imod__ = _make_inplace(operator.imod)

    __neg__, __pos__ = _make_unary(operator.neg), _make_unary(operator.pos)
    __abs__, __invert__ = _make_unary(operator.abs), _make_unary(operator.invert)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """Let numpy ufuncs return signals: ``np.exp(s)``, ``array * s``."""
        if method != "__call__" or "out" in kwargs or ufunc.nout != 1:
            raw = [x.data if _is_signal(x) else x for x in inputs]
            return getattr(ufunc, method)(*raw, **kwargs)
        if ufunc.nin == 1:
            return _wrap(self, ufunc(self.data, **kwargs))
        if ufunc.nin == 2:
            a, b = inputs
            op = (lambda x, y: ufunc(x, y, **kwargs))
            if _is_signal(a):
                return _binary(a, b, op)
            return _binary(b, a, op, reflected=True)
        raw = [x.data if _is_signal(x) else x for x in inputs]
        return ufunc(*raw, **kwargs)
