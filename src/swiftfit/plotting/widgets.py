"""Jupyter widgets (ipywidgets, optional): a navigation slider and ``m.gui()``
parameter sliders that redraw the fit.

The figure is rendered to PNG and shown in an ``ipywidgets.Image``, so it
works with any matplotlib backend and keeps no pyplot state.
"""

from __future__ import annotations

import io

import numpy as np

INSTALL_HINT = "`pip install ipywidgets`"


def require_ipywidgets():
    """Import ipywidgets or raise ImportError saying how to install it."""
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(
            f"the navigation slider and m.gui() need ipywidgets (Jupyter widgets); install it with "
            f"{INSTALL_HINT}, then restart the kernel"
        ) from exc
    return ipywidgets


def _png(model, plot_components: bool) -> bytes:
    from .model_plots import plot_model

    fig = plot_model(model, plot_components=plot_components, managed=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _slider_range(p) -> tuple[float, float]:
    """Bounds when the parameter has them, else a window around the value."""
    value = float(p.value)
    width = max(abs(value), 1.0)
    lo = p.bmin if p.bmin is not None and np.isfinite(p.bmin) else value - width
    hi = p.bmax if p.bmax is not None and np.isfinite(p.bmax) else value + width
    return float(min(lo, value)), float(max(hi, value))


class _Gui:
    """Navigation sliders, parameter sliders, a Fit button and the figure."""

    def __init__(self, model, parameters: bool, plot_components: bool = True):
        w = require_ipywidgets()
        self.w = w
        self.model = model
        self.plot_components = plot_components
        self._busy = False  # set while sliders are moved by code, not by the user
        self.image = w.Image(format="png")
        self.status = w.Label("")
        am = model.axes_manager
        self.nav = []
        for k, axis in enumerate(am.navigation_axes):
            name = axis.name if axis.name and axis.name != "<undefined>" else f"axis {k}"
            s = w.IntSlider(value=int(axis.index), min=0, max=int(axis.size) - 1, description=name,
                            continuous_update=False)
            s.observe(self._on_navigate, names="value")
            self.nav.append(s)
        self.params = []
        if parameters:
            for comp in model:
                for p in comp.parameters:
                    if not p.free:
                        continue
                    lo, hi = _slider_range(p)
                    s = w.FloatSlider(value=float(p.value), min=lo, max=hi, step=(hi - lo) / 200 or 0.01,
                                      description=f"{comp.name}.{p.name}", continuous_update=False,
                                      readout_format=".4g", style={"description_width": "initial"})
                    s.observe(self._setter(p), names="value")
                    self.params.append((p, s))
        rows = list(self.nav) + [s for _, s in self.params]
        if parameters:
            button = w.Button(description="Fit here")
            button.on_click(self._fit)
            rows.append(w.HBox([button, self.status]))
        self.box = w.VBox(rows + [self.image])
        self.redraw()

    def redraw(self) -> None:
        self.image.value = _png(self.model, self.plot_components)

    def _sync(self) -> None:
        """Move the parameter sliders to the values at the current position."""
        self._busy = True
        try:
            for p, s in self.params:
                lo, hi = _slider_range(p)
                s.min, s.max = min(lo, s.min), max(hi, s.max)
                s.value = float(p.value)
        finally:
            self._busy = False

    def _on_navigate(self, _change) -> None:
        self.model.axes_manager.indices = tuple(s.value for s in self.nav)
        self._sync()
        self.redraw()

    def _setter(self, p):
        def on_change(change) -> None:
            if self._busy:
                return
            p.value = change["new"]
            self.redraw()

        return on_change

    def _fit(self, _button) -> None:
        try:
            out = self.model.fit()
            self.status.value = "" if out is None else str(out.message)
        except Exception as exc:  # shown in the widget: a notebook callback has nowhere else to report
            self.status.value = f"fit failed: {exc}"
        self._sync()
        self.redraw()


def _show(box, display: bool):
    if display:
        from IPython.display import display as ipy_display

        ipy_display(box)
    return box


def model_gui(model, display: bool = True):
    """Sliders for every navigation axis and free parameter, a Fit button and
    the fit figure; returns the ipywidgets container.
    """
    return _show(_Gui(model, parameters=True).box, display)


def navigation_widget(model, display: bool = True, plot_components: bool = True):
    """A slider per navigation axis that redraws the fit; returns the container."""
    return _show(_Gui(model, parameters=False, plot_components=plot_components).box, display)
