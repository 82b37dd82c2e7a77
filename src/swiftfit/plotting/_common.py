"""Helpers shared by the plot modules: figures, axis labels, colour limits.

matplotlib is imported inside the functions: this package is imported by
``swiftfit.parameters`` at start-up, and most sessions never plot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInputError

UNDEFINED = "<undefined>"  # the axes' placeholder for "no name" / "no units"

# keyword arguments HyperSpy's ``plot`` methods accept that mean nothing for a
# static matplotlib figure: accepted (HyperSpy code runs unchanged) and ignored
HYPERSPY_IGNORED_KWARGS = frozenset({
    "axes_manager", "plot_markers", "autoscale", "norm", "axes_ticks", "navigator_kwds",
    "scalebar", "scalebar_color", "colorbar", "centre_colormap", "min_aspect", "saturated_pixels",
    "vmin", "vmax", "cmap", "gamma", "linthresh", "linscale", "axes_off", "auto_contrast",
})


def new_figure(figsize: tuple[float, float], managed: bool = True):
    """A constrained-layout figure.

    ``managed=True`` goes through pyplot, so the figure is shown by Jupyter's
    inline backend and by interactive sessions; ``managed=False`` makes a bare
    ``Figure`` that pyplot never sees (no global state: batch jobs, threads,
    ``save_standard_plots``). Neither calls ``plt.show()``.
    """
    if managed:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def axis_label(axis, fallback: str) -> str:
    """``"name (units)"`` of a data axis, ``fallback`` when it has no name."""
    name = getattr(axis, "name", None)
    units = getattr(axis, "units", None)
    text = name if name and name != UNDEFINED else fallback
    if units and units != UNDEFINED:
        text = f"{text} ({units})"
    return text


def navigation_axes(model) -> list:
    """The model's navigation axes in array order (rows first)."""
    am = model.axes_manager
    return sorted(am.navigation_axes, key=lambda a: a.index_in_array)


def extent(h_axis, v_axis, shape: tuple[int, int]) -> tuple[list[float], str, str]:
    """``imshow`` extent (pixel edges, y downwards as HyperSpy draws images) and
    the two axis labels. Non-uniform axes fall back to indices, which
    ``imshow`` can place exactly.
    """
    ny, nx = shape
    uniform = all(a is not None and getattr(a, "is_uniform", True) for a in (h_axis, v_axis))
    if uniform:
        hx = np.asarray(h_axis.axis, float)
        vy = np.asarray(v_axis.axis, float)
        hs, vs = float(h_axis.scale), float(v_axis.scale)
        box = [hx[0] - hs / 2, hx[-1] + hs / 2, vy[-1] + vs / 2, vy[0] - vs / 2]
        return box, axis_label(h_axis, "x"), axis_label(v_axis, "y")
    box = [-0.5, nx - 0.5, ny - 0.5, -0.5]
    return box, "x index", "y index"


def colour_limits(values: np.ndarray, vmin=None, vmax=None, robust: bool = True) -> tuple[float, float, str]:
    """Colour range and the colour bar's ``extend``.

    ``robust`` clips to the 1st–99th percentiles so that one failed pixel does
    not wash out a whole map; the colour bar's arrows then say so.
    """
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        lo, hi = 0.0, 1.0
    elif robust and finite.size >= 20:
        lo, hi = (float(v) for v in np.percentile(finite, [1, 99]))
    else:
        lo, hi = float(finite.min()), float(finite.max())
    lo = lo if vmin is None else float(vmin)
    hi = hi if vmax is None else float(vmax)
    if not hi > lo:  # a constant map: give it a visible, centred range
        pad = 0.5 * abs(lo) if lo else 0.5
        lo, hi = lo - pad, hi + pad
    below = finite.size and finite.min() < lo
    above = finite.size and finite.max() > hi
    extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get((bool(below), bool(above)), "neither")
    return lo, hi, extend


def colormap(name: str = "viridis"):
    """A copy of ``name`` that draws NaN (unfitted, masked) pixels light grey."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="0.85")


def value_text(value: float, std: float | None = None, units: str | None = None) -> str:
    """``"1.234 ± 0.005 eV"``; the std is left out when unknown."""
    text = f"{value:.6g}"
    if std is not None and np.isfinite(std):
        text += f" ± {std:.2g}"
    if units and units != UNDEFINED:
        text += f" {units}"
    return text


def check_kwargs(kwargs: dict[str, Any], allowed: frozenset, where: str) -> None:
    """Refuse keyword arguments that are neither ours nor HyperSpy's."""
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise InvalidInputError(
            f"{where} got unexpected keyword argument(s) {unknown}; it accepts its own "
            f"arguments and HyperSpy's {sorted(allowed)} (the latter are ignored)"
        )


def grid_shape(n: int, max_columns: int = 3) -> tuple[int, int]:
    """Rows and columns for ``n`` panels, at most ``max_columns`` wide."""
    ncols = max(1, min(n, max_columns))
    return -(-n // ncols), ncols
