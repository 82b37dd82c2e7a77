"""The function API: fit your own residual function, lmfit-style.

``Parameters`` (named values, bounds, ``vary``, safe constraint expressions),
``minimize(fcn, params, method="leastsq", ...)`` with every swiftfit optimizer,
and ``fit_report`` in lmfit's layout::

    >>> import numpy as np
    >>> from swiftfit.lmfit_api import Parameters, minimize, fit_report
    >>> x = np.linspace(0, 1, 50)
    >>> params = Parameters()
    >>> params.add("slope", value=1.0)
    >>> params.add("offset", value=0.0)
    >>> def residual(p, x, y):
    ...     return p["slope"] * x + p["offset"] - y
    >>> result = minimize(residual, params, args=(x, 3 * x + 2))
    >>> round(result.params["slope"].value, 6)
    3.0
"""

from .minimizer import METHOD_NAMES, MinimizerResult, ResidualProblem, minimize
from .parameters import Parameter, Parameters
from .report import fit_report, gformat, report_fit

__all__ = [
    "METHOD_NAMES",
    "MinimizerResult",
    "Parameter",
    "Parameters",
    "ResidualProblem",
    "fit_report",
    "gformat",
    "minimize",
    "report_fit",
]
