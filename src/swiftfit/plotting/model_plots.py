"""The fit at the current navigation position: data, model, components and
residuals (Model1D: lines over the signal range; Model2D: images).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ._common import HYPERSPY_IGNORED_KWARGS, axis_label, check_kwargs, colormap, colour_limits, extent, new_figure

_ALLOWED = HYPERSPY_IGNORED_KWARGS | {"navigator"}
RESIDUALS = ("difference", "pull")


def _current_data(model) -> np.ndarray:
    idx = tuple(model.axes_manager._array_indices) if model._nav_shape else ()
    return np.asarray(model.signal.data[idx], dtype=float)


def _position_title(model, title: str | None) -> str:
    if title is not None:
        return title
    base = model.title or type(model).__name__
    if model._nav_shape:
        return f"{base} at {tuple(int(i) for i in model.axes_manager.indices)}"
    return base


def _red_chisq_here(model) -> float:
    """The reduced χ² stored for the current position (NaN when unfitted)."""
    idx = tuple(model.axes_manager._array_indices) if model._nav_shape else ()
    return float(np.asarray(model.fit_results.red_chisq)[idx])


def _components_to_draw(model) -> list:
    # inactive components are not part of the fit: HyperSpy draws no line for them
    return [c for c in model if c.active]


def _quantity(model) -> str:
    md = model.signal.metadata
    if md.has_item("Signal.quantity"):
        q = md.get_item("Signal.quantity")
        if q:
            return str(q)
    return "intensity"


def _residual_scale(model, residual: str) -> tuple[np.ndarray | float, str]:
    """Divisor of data − model in range and the panel's label."""
    if residual not in RESIDUALS:
        raise InvalidInputError(f"`residual` must be one of {RESIDUALS}, got {residual!r}")
    if residual == "difference":
        return 1.0, "data − model"
    pixel = tuple(model.axes_manager._array_indices) if model._nav_shape else ()
    variance = model._variance_rows([pixel])
    if variance is None:
        raise InvalidInputError(
            "residual='pull' divides by the noise standard deviation, but the signal has no noise "
            "variance; set one (s.estimate_poissonian_noise_variance() or s.set_noise_variance(...)) "
            "or use residual='difference'"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.asarray(variance, float)[0]), "(data − model) / σ"


def plot_model(model, plot_components: bool = False, plot_residual: bool = True, ax=None, *,
               log_y: bool = False, residual: str = "difference", title: str | None = None,
               managed: bool = True, **kwargs):
    """Plot the fit at the current position; see ``ModelPlotMixin.plot``."""
    check_kwargs(kwargs, _ALLOWED, f"{type(model).__name__}.plot")
    sigma, residual_label = _residual_scale(model, residual) if plot_residual else (1.0, "")
    for name, flag in (("plot_components", plot_components), ("plot_residual", plot_residual), ("log_y", log_y)):
        if not isinstance(flag, (bool, np.bool_)):
            raise InvalidTypeError(f"`{name}` must be True or False, got {flag!r}")
    if kwargs.get("navigator") == "slider":
        from .widgets import navigation_widget

        navigation_widget(model)
    if model._signal_dimension == 2:
        return _plot_2d(model, plot_components, plot_residual, ax, title, managed, sigma, residual_label)
    return _plot_1d(model, plot_components, plot_residual, ax, log_y, title, managed, sigma, residual_label)


# ---------------------------------------------------------------- 1-D
def _plot_1d(model, plot_components, plot_residual, ax, log_y, title, managed, sigma, residual_label):
    x = np.asarray(model.axis.axis, dtype=float)
    inside = np.asarray(model._channel_switches, bool).ravel()
    data = _current_data(model)

    def full(values: np.ndarray) -> np.ndarray:
        # NaN outside the signal range: the line breaks at removed sub-ranges
        out = np.full(x.shape, np.nan)
        out[inside] = values
        return out

    total = full(model(onlyactive=True))
    if ax is None:
        fig = new_figure((7.5, 5.2 if plot_residual else 4.0), managed)
        if plot_residual:
            ax, axr = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        else:
            ax, axr = fig.add_subplot(), None
    else:
        if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
            raise InvalidTypeError(f"`ax` must be a matplotlib Axes or None, got {type(ax).__name__}")
        fig, axr = ax.figure, None
        if plot_residual:
            from mpl_toolkits.axes_grid1 import make_axes_locatable

            axr = make_axes_locatable(ax).append_axes("bottom", size="33%", pad=0.1, sharex=ax)
            ax.tick_params(labelbottom=False)
    # the data outside the range were not fitted: drawn faint, behind
    ax.plot(x, data, color="0.6", lw=0.6, alpha=0.5, zorder=1)
    ax.plot(x, np.where(inside, data, np.nan), ".", color="0.3", ms=3, label="data", zorder=2)
    ax.plot(x, total, color="C0", lw=1.6, label="model", zorder=4)
    if plot_components:
        for k, comp in enumerate(_components_to_draw(model)):
            ax.plot(x, full(model(component_list=[comp])), lw=1.0, ls="--", color=f"C{(k + 1) % 10}",
                    label=comp.name, zorder=3)
    if log_y:
        ax.set_yscale("log")
        # components fall to 1e-300 far from their peaks: keep the data in view
        shown = data[inside]
        shown = shown[np.isfinite(shown) & (shown > 0)]
        if shown.size:
            ax.set_ylim(0.5 * float(np.percentile(shown, 1)), 2.0 * float(max(shown.max(), np.nanmax(total))))
    red = _red_chisq_here(model)
    ax.legend(fontsize=8, ncol=2 if plot_components and len(model) > 3 else 1,
              title=None if not np.isfinite(red) else f"reduced χ² = {red:.3g}", title_fontsize=8)
    ax.set_ylabel(_quantity(model))
    ax.set_title(_position_title(model, title), fontsize=10)
    xr = x[inside]
    lo, hi = float(xr.min()), float(xr.max())
    if hi > lo:  # the range of the fit, not the whole axis
        pad = 0.01 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)
    xlabel = axis_label(model.axis, "signal axis")
    if axr is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = (data - total) / full(np.broadcast_to(sigma, (int(inside.sum()),)))
        resid = np.where(np.isfinite(resid), resid, np.nan)  # σ = 0 channels: no pull
        axr.plot(x, resid, ".", color="C3", ms=3)
        axr.axhline(0.0, color="k", lw=0.8)
        axr.set_ylabel(residual_label, fontsize=8)
        axr.set_xlabel(xlabel)
        axr.grid(alpha=0.3)
    else:
        ax.set_xlabel(xlabel)
    return fig


# ---------------------------------------------------------------- 2-D
def _plot_2d(model, plot_components, plot_residual, ax, title, managed, sigma, residual_label):
    mask = np.asarray(model._channel_switches, bool)
    data = _current_data(model)

    def full(values: np.ndarray) -> np.ndarray:
        out = np.full(mask.shape, np.nan)
        out[mask] = values
        return out

    total = full(model(onlyactive=True))
    panels = [("data", np.where(mask, data, np.nan)), ("model", total)]
    if plot_residual:
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = (np.where(mask, data, np.nan) - total) / full(np.broadcast_to(sigma, (int(mask.sum()),)))
        resid = np.where(np.isfinite(resid), resid, np.nan)
        panels.append((residual_label, resid))
    comps = _components_to_draw(model) if plot_components else []
    panels += [(comp.name, full(model(component_list=[comp]))) for comp in comps]
    own_figure = ax is None
    if own_figure:
        ncols = 3 if plot_residual else 2
        nrows = 1 + -(-len(comps) // ncols)
        fig = new_figure((3.8 * ncols, 3.3 * nrows + 0.3), managed)
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
    else:
        axes = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(axes) < len(panels) or not all(hasattr(a, "imshow") for a in axes):
            raise InvalidInputError(
                f"`ax` for a Model2D plot must be {len(panels)} matplotlib Axes (data, model"
                f"{', residual' if plot_residual else ''}{', one per component' if comps else ''}), "
                f"got {len(axes)} item(s)"
            )
        fig = axes[0].figure
    box, xlabel, ylabel = extent(model.xaxis, model.yaxis, mask.shape)
    # data and model on one colour scale, so that they compare by eye
    lo, hi, extend = colour_limits(panels[0][1], robust=False)
    for k, (name, image) in enumerate(panels):
        a = axes[k]
        if plot_residual and k == 2:
            r = np.nanmax(np.abs(image)) if np.isfinite(image).any() else 1.0
            r = r if r > 0 else 1.0
            im = a.imshow(image, cmap=colormap("RdBu_r"), vmin=-r, vmax=r, extent=box, interpolation="nearest")
            cb_extend = "neither"
        elif k < 2:
            im = a.imshow(image, cmap=colormap("viridis"), vmin=lo, vmax=hi, extent=box, interpolation="nearest")
            cb_extend = extend
        else:
            clo, chi, cb_extend = colour_limits(image, robust=False)
            im = a.imshow(image, cmap=colormap("viridis"), vmin=clo, vmax=chi, extent=box, interpolation="nearest")
        cb = fig.colorbar(im, ax=a, extend=cb_extend, shrink=0.85)
        cb.ax.tick_params(labelsize=7)
        a.set_title(name, fontsize=9)
        a.set_xlabel(xlabel, fontsize=8)
        a.set_ylabel(ylabel, fontsize=8)
        a.tick_params(labelsize=7)
    for a in axes[len(panels):]:
        a.set_axis_off()
    if not own_figure:  # the caller's figure: its title is theirs
        return fig
    red = _red_chisq_here(model)
    head = _position_title(model, title)
    fig.suptitle(head if not np.isfinite(red) else f"{head} (reduced χ² = {red:.3g})", fontsize=10)
    return fig
