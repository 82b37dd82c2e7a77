"""``m.inav`` / ``m.isig``: slice a model as its signal is sliced."""

from __future__ import annotations

import numpy as np


class ModelSlicer:
    """Index a model by navigation (``inav``) or signal (``isig``) position.

    The signal is sliced by the signal's own ``inav``/``isig``; to slice the
    parameter maps and the channel switches identically, the same slices are
    applied to a signal of positions (``arange``) with the same axes.
    """

    def __init__(self, model, isNavigation: bool):
        self.model = model
        self.isNavigation = isNavigation

    def __getitem__(self, slices):
        model = self.model
        signal = model.signal
        if self.isNavigation:
            new_signal = signal.inav[slices]
            positions = _position_signal(signal, navigation=True)
            nav_flat = np.asarray(positions.inav[slices].data)
            nav_flat = nav_flat.reshape(nav_flat.shape[: len(new_signal.axes_manager._navigation_shape_in_array)])
            return model._copy_onto(new_signal, nav_flat=nav_flat, channel_mask=model._channel_switches)
        new_signal = signal.isig[slices]
        positions = _position_signal(signal, navigation=False)
        channels = np.asarray(positions.isig[slices].data).ravel()
        mask = model._channel_switches.ravel()[channels].reshape(new_signal.axes_manager._signal_shape_in_array)
        nav = model._nav_shape
        nav_flat = np.arange(int(np.prod(nav))).reshape(nav) if nav else None
        new = model._copy_onto(new_signal, nav_flat=nav_flat, channel_mask=mask)
        if not nav:  # _copy_onto copies per-pixel arrays only with a navigation space
            from .autosave import PIXEL_ARRAYS

            for name in PIXEL_ARRAYS:
                setattr(new, name, np.array(getattr(model, name), copy=True))
        _refresh_goodness(new, model)
        return new


def _refresh_goodness(model, parent) -> None:
    """χ², dof and ln L of a signal slice, recomputed over its own channels at
    the fitted pixels (the parent's describe the parent's range), as HyperSpy does.
    """
    done = np.isfinite(model._chisq)
    if not done.any():
        return
    pixels = [tuple(int(i) for i in ix) for ix in np.argwhere(done)] if model._nav_shape else [()]
    problem = model._problem(pixels, check=False)
    with np.errstate(all="ignore"):
        resid = problem.residuals(problem.p0)
        chisq = np.einsum("bn,bn->b", resid, resid)
    idx = model._nav_index(pixels)
    model._chisq[idx] = chisq if model._nav_shape else chisq[0]
    dof = problem.N - model._nfree[idx]
    model._dof[idx] = dof
    from .. import losses

    last = getattr(parent, "_last_fit_setup", None) or {}
    if getattr(last.get("loss_function"), "name", last.get("loss_function")) in (None, "ls"):
        with np.errstate(all="ignore"):
            lnl = losses.get("ls").log_likelihood_from_chisq(problem, chisq)
        model._lnl[idx] = lnl if model._nav_shape else lnl[0]
    else:
        model._lnl[idx] = np.nan


def _axis_dict(ax) -> dict:
    d = {"name": ax.name, "units": ax.units, "is_binned": ax.is_binned}
    if ax.is_uniform:
        d.update(size=ax.size, scale=ax.scale, offset=ax.offset)
    else:
        d.update(axis=np.asarray(ax.axis))
    return d


def _position_signal(signal, navigation: bool):
    """A signal whose data are flat positions, with ``signal``'s navigation
    (or signal) axes and single-element axes for the rest.
    """
    am = signal.axes_manager
    nav_shape = tuple(am._navigation_shape_in_array)
    sig_shape = tuple(am._signal_shape_in_array)
    by_array = sorted(list(am.navigation_axes) + list(am.signal_axes), key=lambda a: a.index_in_array)
    axes = []
    if navigation:
        data = np.arange(int(np.prod(nav_shape))).reshape(nav_shape + (1,) * len(sig_shape))
        for ax in by_array:
            axes.append(_axis_dict(ax) if ax.navigate else {"size": 1})
    else:
        data = np.broadcast_to(np.arange(int(np.prod(sig_shape))).reshape((1,) * 0 + sig_shape), (1,) * len(nav_shape) + sig_shape).copy()
        for ax in by_array:
            axes.append({"size": 1} if ax.navigate else _axis_dict(ax))
    return type(signal)(data, axes=axes)
