"""Plot methods of models, components and parameters (mixed into those classes).

Thin wrappers: the drawing lives in :mod:`.model_plots`, :mod:`.maps` and
:mod:`.widgets`, imported on first use (this module is imported by
``swiftfit.parameters`` at start-up, before matplotlib is needed).
"""

from __future__ import annotations


class ModelPlotMixin:
    """``plot``, ``plot_results``, ``plot_chisq``, ``gui`` of a model."""

    def plot(self, plot_components: bool = False, plot_residual: bool = True, ax=None, *,
             log_y: bool = False, residual: str = "difference", title: str | None = None, **kwargs):
        """Plot the fit at the current navigation position.

        Model1D: the data (points; channels outside the signal range faint),
        the model, optionally one dashed line per active component, and a
        residual panel (data − model) below, sharing the x axis, limited to
        the signal range. Model2D: data | model | residual images with colour
        bars (data and model on one colour scale), and a row of component
        images with ``plot_components``.

        Parameters
        ----------
        plot_components : bool
            Draw each active component.
        plot_residual : bool
            Add the residual panel. Default True (HyperSpy's is False).
        ax : matplotlib Axes, optional
            Model1D: draw into this Axes (the residual panel is appended below
            it). Model2D: a sequence of Axes, one per panel.
        log_y : bool
            Logarithmic intensity axis (Model1D).
        residual : {"difference", "pull"}
            ``data − model``, or ``(data − model) / σ`` with σ the square root
            of the signal's noise variance (needs one).
        title : str, optional
            Title; default the signal title and the navigation indices.
        **kwargs
            HyperSpy's ``Signal.plot`` keywords (``navigator``,
            ``axes_manager``, ``norm``, ...) are accepted and ignored, except
            ``navigator="slider"``, which also shows a navigation slider in
            Jupyter (needs ipywidgets).

        Returns
        -------
        matplotlib.figure.Figure
            Never ``plt.show()``-n: Jupyter's inline backend shows it; in a
            script call ``plt.show()`` or ``fig.savefig(...)``.

        Examples
        --------
        >>> fig = m.plot(plot_components=True)
        >>> fig.savefig("fit.png")
        """
        from .model_plots import plot_model

        return plot_model(self, plot_components, plot_residual, ax, log_y=log_y, residual=residual, title=title,
                          **kwargs)

    def plot_results(self, only_free: bool = True, only_active: bool = True, *, chisq: bool = True,
                     max_columns: int = 3, robust: bool = True):
        """Plot every component's parameter maps in one figure.

        2-D navigation: one image per parameter with a colour bar; 1-D: a line
        with std error bars; 0-D (a single spectrum): a table of values and
        std. Pixels never fitted (``is_set`` False while others are) and
        pixels where a component is switched off are grey (NaN).

        Parameters
        ----------
        only_free : bool
            Only free parameters (HyperSpy's default).
        only_active : bool
            Only active components.
        chisq : bool
            Add the reduced χ² map as the last panel, failed fits marked ×.
        max_columns : int
            Panels per row.
        robust : bool
            Clip colour scales to the 1st–99th percentiles (maps of 20 pixels
            or more; the colour bar's arrows show the clipping).

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> m.multifit()                              # doctest: +SKIP
        >>> fig = m.plot_results()                    # doctest: +SKIP
        """
        from .maps import plot_results

        return plot_results(self, only_free, only_active, chisq=chisq, max_columns=max_columns, robust=robust)

    def plot_chisq(self, reduced: bool = True, ax=None, *, robust: bool = True):
        """Plot the χ² (or reduced χ², the default) map with a colour bar.

        Failed fits (negative status) are marked ×; unfitted pixels are grey.
        1-D navigation gives a line, 0-D the value.

        Examples
        --------
        >>> _ = m.fit()
        >>> fig = m.plot_chisq(reduced=True)
        """
        from .maps import plot_chisq

        return plot_chisq(self, reduced, ax, robust=robust)

    def gui(self, display: bool = True, toolkit=None, **kwargs):
        """Jupyter controls: a slider per navigation axis and per free
        parameter (moving one redraws the fit), a "Fit here" button and the
        fit figure. Needs ipywidgets (``pip install ipywidgets``); ``toolkit``
        and other HyperSpy keywords are accepted and ignored.

        Returns
        -------
        ipywidgets.VBox

        Examples
        --------
        >>> m.gui()                                   # doctest: +SKIP
        """
        from .widgets import model_gui

        return model_gui(self, display=display)


class ComponentPlotMixin:
    """``plot`` of a component (its parameter maps)."""

    def plot(self, only_free: bool = True):
        """Plot the maps of this component's (free) parameters in one figure,
        as ``Model.plot_results`` does for every component.

        Examples
        --------
        >>> fig = m["Gaussian"].plot()
        """
        from .maps import plot_component

        return plot_component(self, only_free)


class ParameterPlotMixin:
    """``plot`` of a parameter (its map)."""

    def plot(self, ax=None, *, field: str = "values", vmin=None, vmax=None, cmap: str | None = None,
             robust: bool = True, **kwargs):
        """Plot this parameter's map.

        2-D navigation: an image with a colour bar; 1-D: a line with std
        error bars; 0-D: the value ± std.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Draw into this Axes.
        field : {"values", "std"}
            Which map.
        vmin, vmax : float, optional
            Colour limits (default: the data's, robustly clipped).
        cmap : str, optional
            A matplotlib colormap name.
        **kwargs
            HyperSpy's ``Signal.plot`` keywords, accepted and ignored.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> fig = m["Gaussian"].centre.plot()
        """
        from ._common import HYPERSPY_IGNORED_KWARGS, check_kwargs
        from .maps import plot_parameter

        check_kwargs(kwargs, HYPERSPY_IGNORED_KWARGS | {"navigator"}, "Parameter.plot")
        return plot_parameter(self, ax, field=field, vmin=vmin, vmax=vmax, cmap=cmap, robust=robust)
