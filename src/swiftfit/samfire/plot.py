"""Plots of SAMFire's strategy databases (matplotlib).

A local strategy's database is a navigation map: the marker (priority of the
pixels waiting to be fitted, fitted pixels apart) next to the goodness
statistic of the fitted pixels. A global strategy's is one histogram per
fitted parameter. Navigation spaces of more than two dimensions are summed
over the leading ones; one dimension is shown as a single row.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_global_database", "plot_local_database", "plot_samfire"]


def _pyplot():
    import matplotlib.pyplot as plt  # a core dependency, imported only to plot

    return plt


def _as_2d(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=float)
    if arr.ndim > 2:
        with np.errstate(all="ignore"):
            arr = np.nanmean(arr, axis=tuple(range(arr.ndim - 2)))
    return np.atleast_2d(arr)


def plot_local_database(strategy, ax=None):
    """The marker and goodness maps of a local strategy; returns the figure."""
    plt = _pyplot()
    samf = strategy.samf
    model = samf.model
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    else:
        axes = np.atleast_1d(ax)
        fig = axes[0].figure
    marker = np.asarray(samf.metadata.marker, dtype=float)
    todo = np.where(marker > 0, marker, np.nan)
    im = axes[0].imshow(_as_2d(todo), origin="upper", interpolation="nearest", cmap="viridis")
    done = _as_2d(np.where(marker < 0, 1.0, np.nan))
    axes[0].imshow(done, origin="upper", interpolation="nearest", cmap="Greys", vmin=0, vmax=2, alpha=0.6)
    axes[0].set_title(f"{strategy.name}: priority (fitted in grey)", fontsize=9)
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    if len(axes) > 1:
        test = samf.metadata.goodness_test
        idx = np.nonzero(samf._done)
        stat = np.full(model._nav_shape, np.nan)
        if idx[0].size:
            stat[idx] = test.statistic(model, idx)
        im2 = axes[1].imshow(_as_2d(stat), origin="upper", interpolation="nearest", cmap="magma")
        axes[1].set_title(f"{test.name} statistic", fontsize=9)
        fig.colorbar(im2, ax=axes[1], fraction=0.046)
    return fig


def plot_global_database(strategy, ax=None):
    """One histogram per parameter of a global strategy's database; returns the figure."""
    plt = _pyplot()
    db = strategy.database or {}
    n = max(len(db), 1)
    if ax is None:
        ncol = min(n, 4)
        fig, axes = plt.subplots(int(np.ceil(n / ncol)), ncol, figsize=(3 * ncol, 2.6 * np.ceil(n / ncol)),
                                 squeeze=False)
        axes = axes.ravel()
    else:
        axes = np.atleast_1d(ax).ravel()
        fig = axes[0].figure
    for a, ((comp, par), (hist, edges)) in zip(axes, db.items()):
        a.stairs(hist, edges, fill=True, color="#4C72B0")
        a.set_title(f"{comp}.{par}", fontsize=9)
    return fig


def plot_samfire(samf):
    """The active strategy's plot (see :meth:`~.samfire.Samfire.plot`)."""
    return samf.active_strategy.plot()
