"""Likelihood-profile methods of models (``m.confidence``, ``m.stat_profile``, ...).

Each method delegates to :mod:`swiftfit.stats.profile` on the model at its
current navigation position, in the units of the last fit's objective. Scans
not given explicitly follow the parameter's Gammapy scan settings
(``scan_values``; else ``scan_min``..``scan_max`` with ``scan_n_values``;
else ``value ± scan_n_sigma·error``).

Examples
--------
>>> _ = m.fit(loss_function="ML-poisson")
>>> round(m.confidence("Gaussian.centre")["errp"], 3)
0.195
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
        >>> _ = m.fit()
        >>> r = m.confidence(m[0].A, sigma=2)
        >>> round(r["errn"], 1), round(r["errp"], 1), r["success"]
        (-74.9, 75.1, True)
        """
        from .profile import confidence

        return confidence(self, parameter, sigma=sigma, reoptimize=reoptimize, **kwargs)

    def stat_profile(self, parameter, values=None, reoptimize: bool = False, **kwargs) -> dict:
        """The objective along a scan of ``parameter`` (default: its scan settings).

        Examples
        --------
        >>> _ = m.fit()
        >>> m[0].A.scan_n_values = 21
        >>> p = m.stat_profile(m[0].A)
        >>> len(p["values"]), round(float(min(p["stat"]) - p["stat_min"]), 6)
        (21, 0.0)
        """
        from .profile import stat_profile

        return stat_profile(self, parameter, values=self._scan(parameter, values), reoptimize=reoptimize, **kwargs)

    def stat_contour(self, x, y, numpoints: int = 10, sigma: float = 1, **kwargs) -> dict:
        """The ``sigma`` contour of the (x, y) profile (see :func:`swiftfit.stats.stat_contour`).

        Examples
        --------
        >>> _ = m.fit()
        >>> c = m.stat_contour("Gaussian.centre", "Gaussian.sigma", numpoints=20)
        >>> len(c["Gaussian.centre"]), c["success"]
        (20, True)
        """
        from .profile import stat_contour

        return stat_contour(self, x, y, numpoints=numpoints, sigma=sigma, **kwargs)

    def stat_surface(self, x, y, x_values=None, y_values=None, reoptimize: bool = False, **kwargs) -> dict:
        """The objective on a grid of (x, y) (default: their scan settings).

        Examples
        --------
        >>> _ = m.fit()
        >>> r = m.stat_surface("Gaussian.centre", "Gaussian.sigma", reoptimize=False)
        >>> np.shape(r["stat"]) == (len(r["x_values"]), len(r["y_values"]))
        True
        """
        from .profile import _Context, stat_surface

        ctx = None if x_values is not None and y_values is not None else _Context(self)  # one for both scans
        xv = self._scan(x, x_values, ctx)
        yv = self._scan(y, y_values, ctx)
        return stat_surface(self, x, y, np.asarray(xv), np.asarray(yv), reoptimize=reoptimize, **kwargs)
