"""Plots of models, parameters and results (matplotlib; safe with a non-interactive backend).

The methods live on the classes (``m.plot()``, ``m.plot_results()``,
``m.plot_chisq()``, ``m.gui()``, ``component.plot()``, ``parameter.plot()``);
this package also offers :func:`save_standard_plots` for batch jobs and the
uncertainty plots of :mod:`.errors` (:func:`plot_profile`,
:func:`plot_contours`, :func:`plot_correlation`, :func:`plot_butterfly`). Nothing
here calls ``plt.show()``: figures are returned, and pyplot-managed ones are
shown by Jupyter (inline) or by an interactive session.
"""

from __future__ import annotations

from .errors import plot_butterfly, plot_contours, plot_correlation, plot_profile
from .export import save_standard_plots

__all__ = ["save_standard_plots", "plot_profile", "plot_contours", "plot_correlation", "plot_butterfly"]
