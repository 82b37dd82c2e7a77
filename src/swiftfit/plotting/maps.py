"""Parameter and goodness-of-fit maps: images with colour bars (2-D
navigation), lines with std error bars (1-D), a value table (0-D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError, InvalidTypeError
from ._common import axis_label, colormap, colour_limits, extent, grid_shape, navigation_axes, new_figure, value_text

FIELDS = ("values", "std")


@dataclass
class MapEntry:
    """One panel: a map (navigation-shaped), its std (or None) and labels."""

    title: str
    values: np.ndarray
    std: np.ndarray | None
    units: str | None
    cmap: str = "viridis"
    failed: np.ndarray | None = None  # boolean map of failed fits, marked with ×


# ------------------------------------------------------------------ data
def parameter_entry(p, field: str = "values") -> MapEntry:
    """The map of ``p`` with NaN where it holds no fitted value.

    Pixels whose value was never set (``is_set`` False) are masked when any
    pixel is set: an unfitted pixel still holds the starting value, which a
    map would show as a result. A never-fitted parameter shows its values as
    they are. Pixels where a component with ``active_is_multidimensional`` is
    off are masked too.
    """
    if field not in FIELDS:
        raise InvalidInputError(f"`field` must be one of {FIELDS}, got {field!r}")
    values = np.array(p._map["values"], dtype=float)
    std = np.array(p._map["std"], dtype=float)
    mask = np.zeros(values.shape, bool)
    is_set = np.asarray(p._map["is_set"], bool)
    if is_set.any():
        mask |= ~is_set
    comp = p.component
    active = getattr(comp, "_active_array", None)
    if active is not None and np.shape(active) == values.shape:
        mask |= ~np.asarray(active, bool)
    values[mask] = np.nan
    std[mask] = np.nan
    name = f"{comp.name}.{p.name}" if comp is not None else p.name
    if field == "std":
        return MapEntry(f"{name} std", std, None, p.units, cmap="magma")
    return MapEntry(name, values, std, p.units)


def chisq_entry(model, reduced: bool = True) -> MapEntry:
    """The (reduced) χ² map, failed fits marked."""
    results = model.fit_results
    data = results.red_chisq if reduced else np.array(results.chisq, float)
    failed = np.asarray(results.status) < 0
    return MapEntry("reduced χ²" if reduced else "χ²", np.array(data, float), None, None,
                    cmap="cividis", failed=failed)


def selected_parameters(components, only_free: bool = True, only_active: bool = True) -> list:
    """HyperSpy's selection for ``plot_results``: free parameters of active components."""
    out = []
    for comp in components:
        if only_active and not comp.active:
            continue
        out.extend(p for p in comp.parameters if p.free or not only_free)
    return out


# ---------------------------------------------------------------- panels
def _two_d(values: np.ndarray, model) -> np.ndarray:
    """A 2-D slice: the last two array axes at the current position of the others."""
    if values.ndim <= 2:
        return values
    lead = tuple(model.axes_manager._array_indices)[: values.ndim - 2]
    return values[lead]


def draw_entry(ax, entry: MapEntry, model, *, vmin=None, vmax=None, robust: bool = True, cmap: str | None = None):
    """Draw one map into ``ax`` (image, line or annotation, by navigation
    dimension); returns the colour bar or None.
    """
    values = entry.values
    nav = navigation_axes(model) if model is not None else []
    title = entry.title if not entry.units or entry.units == "<undefined>" else f"{entry.title} ({entry.units})"
    ax.set_title(title, fontsize=9)
    if values.ndim == 0 or values.size == 1 and not nav:
        value = float(values.reshape(-1)[0])
        std = None if entry.std is None else float(entry.std.reshape(-1)[0])
        ax.text(0.5, 0.5, value_text(value, std, entry.units), ha="center", va="center",
                fontsize=12, transform=ax.transAxes)
        ax.set_axis_off()
        return None
    if values.ndim == 1:
        axis = nav[0] if nav else None
        x = np.asarray(axis.axis, float) if axis is not None else np.arange(values.size)
        yerr = None if entry.std is None or not np.isfinite(entry.std).any() else entry.std
        ax.errorbar(x, values, yerr=yerr, fmt="o-", ms=3, lw=1, capsize=2, color="C0")
        if entry.failed is not None and entry.failed.any():
            ax.plot(x[entry.failed], np.nan_to_num(values[entry.failed]), "x", color="C3", label="failed fit")
            ax.legend(fontsize=7)
        ax.set_xlabel(axis_label(axis, "navigation index") if axis is not None else "navigation index")
        ax.grid(alpha=0.3)
        return None
    image = _two_d(values, model)
    h_axis, v_axis = (nav[-1], nav[-2]) if len(nav) >= 2 else (None, None)
    box, xlabel, ylabel = extent(h_axis, v_axis, image.shape)
    lo, hi, extend = colour_limits(image, vmin, vmax, robust)
    im = ax.imshow(image, cmap=colormap(cmap or entry.cmap), vmin=lo, vmax=hi, extent=box,
                   interpolation="nearest", aspect="equal")
    failed = None if entry.failed is None else _two_d(np.asarray(entry.failed), model)
    if failed is not None and failed.any():
        rows, cols = np.nonzero(failed)
        xs = box[0] + (cols + 0.5) * (box[1] - box[0]) / image.shape[1]
        ys = box[3] + (rows + 0.5) * (box[2] - box[3]) / image.shape[0]
        ax.plot(xs, ys, "x", color="C3", ms=6, label="failed fit")
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    cbar = ax.figure.colorbar(im, ax=ax, extend=extend, shrink=0.9)
    cbar.ax.tick_params(labelsize=7)
    if entry.units and entry.units != "<undefined>":
        cbar.set_label(entry.units, fontsize=8)
    return cbar


def _table(ax, entries: list[MapEntry]) -> None:
    """0-D navigation: one table of every value (a single fit has no map)."""
    rows = []
    for e in entries:
        value = float(np.asarray(e.values).reshape(-1)[0])
        std = None if e.std is None else float(np.asarray(e.std).reshape(-1)[0])
        units = "" if not e.units or e.units == "<undefined>" else e.units
        rows.append([e.title, f"{value:.6g}", "" if std is None or not np.isfinite(std) else f"{std:.3g}", units])
    ax.set_axis_off()
    table = ax.table(cellText=rows, colLabels=["parameter", "value", "std", "units"], loc="center",
                     cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.4)


def plot_entries(entries: list[MapEntry], model, *, title: str | None = None, managed: bool = True,
                 max_columns: int = 3, robust: bool = True):
    """A figure with one panel per entry (or one table for 0-D navigation)."""
    if not entries:
        raise InvalidInputError("nothing to plot: no parameter matches the selection "
                                "(try only_free=False or only_active=False)")
    nav_dim = np.asarray(entries[0].values).ndim
    if nav_dim == 0:
        fig = new_figure((6.0, 0.8 + 0.32 * (len(entries) + 1)), managed)
        _table(fig.add_subplot(), entries)
    else:
        nrows, ncols = grid_shape(len(entries), max_columns)
        panel = (3.6, 3.0) if nav_dim >= 2 else (4.2, 2.6)
        fig = new_figure((panel[0] * ncols, panel[1] * nrows + (0.3 if title else 0)), managed)
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, entry in zip(axes.flat, entries):
            draw_entry(ax, entry, model, robust=robust)
        for ax in list(axes.flat)[len(entries):]:
            ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _single_axes(ax, ndim: int, managed: bool):
    """``ax``, checked, or the axes of a new figure sized for a map of ``ndim`` dimensions."""
    if ax is None:
        fig = new_figure((4.4, 3.4) if ndim >= 2 else (5.0, 2.8) if ndim == 1 else (3.5, 1.2), managed)
        return fig.add_subplot()
    if not hasattr(ax, "figure") or not hasattr(ax, "imshow"):
        raise InvalidTypeError(f"`ax` must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


# ------------------------------------------------------------ public API
def plot_parameter(p, ax=None, *, field: str = "values", vmin=None, vmax=None, cmap: str | None = None,
                   robust: bool = True, managed: bool = True):
    """Plot one parameter's map (see ``Parameter.plot``)."""
    entry = parameter_entry(p, field)
    model = None if p.component is None else p.component.model
    ax = _single_axes(ax, entry.values.ndim, managed)
    draw_entry(ax, entry, model, vmin=vmin, vmax=vmax, robust=robust, cmap=cmap)
    return ax.figure


def plot_component(comp, only_free: bool = True, *, managed: bool = True):
    """Plot every (free) parameter map of one component (see ``Component.plot``)."""
    params = [p for p in comp.parameters if p.free or not only_free]
    entries = [parameter_entry(p) for p in params]
    model = comp.model
    return plot_entries(entries, model, title=f"{comp.name} ({type(comp).__name__})", managed=managed,
                        max_columns=3)


def plot_results(model, only_free: bool = True, only_active: bool = True, *, chisq: bool = True,
                 max_columns: int = 3, robust: bool = True, managed: bool = True):
    """Every selected parameter map of ``model``, then the reduced χ² map."""
    for name, flag in (("only_free", only_free), ("only_active", only_active), ("chisq", chisq)):
        if not isinstance(flag, (bool, np.bool_)):
            raise InvalidTypeError(f"`{name}` must be True or False, got {flag!r}")
    entries = [parameter_entry(p) for p in selected_parameters(model, only_free, only_active)]
    if chisq:
        entries.append(chisq_entry(model, reduced=True))
    title = model.title or type(model).__name__
    return plot_entries(entries, model, title=f"{title}: fitted parameters", managed=managed,
                        max_columns=max_columns, robust=robust)


def plot_chisq(model, reduced: bool = True, ax=None, *, robust: bool = True, managed: bool = True):
    """The (reduced) χ² map of ``model``, failed fits marked with ×."""
    if not isinstance(reduced, (bool, np.bool_)):
        raise InvalidTypeError(f"`reduced` must be True or False, got {reduced!r}")
    entry = chisq_entry(model, reduced)
    ax = _single_axes(ax, entry.values.ndim, managed)
    draw_entry(ax, entry, model, robust=robust)
    return ax.figure
