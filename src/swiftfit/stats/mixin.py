"""Likelihood-profile methods of models (``m.confidence``, ``m.stat_profile``, ...).

Each method delegates to :mod:`swiftfit.stats.profile` on the model at its
current navigation position, in the units of the last fit's objective. Scans
not given explicitly follow the parameter's Gammapy scan settings
(``scan_values``; else ``scan_min``..``scan_max`` with ``scan_n_values``;
else ``value ± scan_n_sigma·error``).

Examples
--------
>>> m.fit(loss_function="ML-poisson")                     # doctest: +SKIP
>>> m.confidence("Gaussian.centre")["errp"]                # doctest: +SKIP
0.052
"""

from __future__ import annotations

import numpy as np


class StatsMixin:
    """One-line access to :mod:`swiftfit.stats` from a model."""

    def _scan(self, parameter, values, ctx=None):
        from .profile import _Context, scan_values

        if values is not None:
            return values
        ctx = _Context(self) if ctx is None else ctx
        index, column = ctx.resolve(parameter)
        return scan_values(ctx.params[index], float(ctx.best[column]), float(ctx.std[column]), ctx.name(index))

    def confidence(self, parameter, sigma: float = 1, reoptimize: bool = True, **kwargs) -> dict:
        """MINOS-like interval of ``parameter`` (see :func:`swiftfit.stats.confidence`).

        Examples
        --------
        >>> m.confidence(m[0].A, sigma=2)                  # doctest: +SKIP
        """
        from .profile import confidence

        return confidence(self, parameter, sigma=sigma, reoptimize=reoptimize, **kwargs)

    def stat_profile(self, parameter, values=None, reoptimize: bool = False, **kwargs) -> dict:
        """The objective along a scan of ``parameter`` (default: its scan settings).

        Examples
        --------
        >>> m[0].A.scan_n_values = 21; m.stat_profile(m[0].A)   # doctest: +SKIP
        """
        from .profile import stat_profile

        return stat_profile(self, parameter, values=self._scan(parameter, values), reoptimize=reoptimize, **kwargs)

    def stat_contour(self, x, y, numpoints: int = 10, sigma: float = 1, **kwargs) -> dict:
        """The ``sigma`` contour of the (x, y) profile (see :func:`swiftfit.stats.stat_contour`).

        Examples
        --------
        >>> m.stat_contour("Gaussian.centre", "Gaussian.sigma", numpoints=20)   # doctest: +SKIP
        """
        from .profile import stat_contour

        return stat_contour(self, x, y, numpoints=numpoints, sigma=sigma, **kwargs)

    def stat_surface(self, x, y, x_values=None, y_values=None, reoptimize: bool = False, **kwargs) -> dict:
        """The objective on a grid of (x, y) (default: their scan settings).

        Examples
        --------
        >>> m.stat_surface("Gaussian.centre", "Gaussian.sigma", reoptimize=True)   # doctest: +SKIP
        """
        from .profile import _Context, stat_surface

        ctx = None if x_values is not None and y_values is not None else _Context(self)  # one for both scans
        xv = self._scan(x, x_values, ctx)
        yv = self._scan(y, y_values, ctx)
        return stat_surface(self, x, y, np.asarray(xv), np.asarray(yv), reoptimize=reoptimize, **kwargs)
