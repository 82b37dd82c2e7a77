"""A model's goodness-of-fit maps as signals: χ², dof, reduced χ², ln L, AIC,
AICc and BIC (:class:`GoodnessMapsMixin`).
"""

from __future__ import annotations

import numpy as np

from ..preferences import preferences


class GoodnessMapsMixin:
    """The goodness-of-fit maps of the last fits (a base of
    :class:`~swiftfit.model.fit_mixin.FittingMixin`).
    """

    def _nav_signal(self, data, title):
        from ..signals import BaseSignal

        data = np.asarray(data, dtype=float)
        if data.ndim == 0:
            data = data.reshape(1)
            sig = BaseSignal(data)
        else:
            axes = [
                {"size": ax.size, "scale": ax.scale, "offset": ax.offset, "units": ax.units, "name": ax.name}
                for ax in sorted(self.axes_manager.navigation_axes, key=lambda a: a.index_in_array)
            ]
            sig = BaseSignal(data.copy(), axes=axes)
        sig.metadata.General.title = title
        return sig

    @property
    def chisq(self):
        """χ² map: Σ((data − model)²/variance), variance 1 when none is set."""
        return self._nav_signal(self._chisq, "chisq")

    @property
    def dof(self):
        """Degrees of freedom: points in the signal range minus free parameters.

        HyperSpy stores the number of free parameters here; we store what the
        statistics need (``red_chisq = chisq / dof``). With
        ``swiftfit.preferences.conventions = "hyperspy"``, HyperSpy's: the
        number of free parameters.
        """
        if preferences.hyperspy:
            return self._nav_signal(np.asarray(self._nfree, dtype=float), "dof")
        return self._nav_signal(self._dof, "dof")

    @property
    def red_chisq(self):
        """Reduced χ² map, ``chisq / dof`` (``chisq / (N − k − 1)`` with
        ``swiftfit.preferences.conventions = "hyperspy"``).
        """
        dof = self._dof - 1 if preferences.hyperspy else self._dof
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._nav_signal(self._chisq / dof, "red_chisq")

    @property
    def log_likelihood(self):
        """Ln L map of the last fits (Gaussian for ls — σ² profiled when no
        variance is set —, Poisson for ML-poisson; NaN for other losses).
        """
        return self._nav_signal(self._lnl, "log_likelihood")

    @property
    def aic(self):
        """Akaike information criterion map, 2k − 2 ln L (k free parameters)."""
        return self._nav_signal(2 * self._nfree - 2 * self._lnl, "AIC")

    @property
    def aicc(self):
        """AIC with the small-sample correction 2k(k+1)/(n − k − 1)."""
        n = self._dof + self._nfree
        with np.errstate(all="ignore"):
            corr = 2 * self._nfree * (self._nfree + 1) / (n - self._nfree - 1)
        return self._nav_signal(2 * self._nfree - 2 * self._lnl + corr, "AICc")

    @property
    def bic(self):
        """Bayesian information criterion map, k ln n − 2 ln L."""
        n = self._dof + self._nfree
        with np.errstate(all="ignore"):
            return self._nav_signal(self._nfree * np.log(n) - 2 * self._lnl, "BIC")
