"""The Gammapy-style front door: ``Datasets``, ``Fit`` and ``FitResult``.

Examples
--------
>>> from swiftfit.gammapy_api import Fit
>>> Fit().backend
'swiftfit'
"""

from .fit import CovarianceResult, Datasets, Fit, FitResult, OptimizeResult

__all__ = ["CovarianceResult", "Datasets", "Fit", "FitResult", "OptimizeResult"]
