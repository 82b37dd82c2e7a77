"""Gammapy-style entry: ``Datasets([...])`` and ``Fit().run(datasets)``.

A ``Datasets`` is a list of models (each with its own signal); ``Fit`` fits
them jointly through :class:`~swiftfit.model.joint.JointModel` and returns a
``FitResult`` with ``success``, ``optimize_result`` (backend, method,
success, message, nfev, total_stat) and ``covariance_result``. Backends
``"swiftfit"`` (our optimizers, default ``"lm"``) and ``"scipy"`` (a
``scipy.optimize.minimize`` method, default ``"L-BFGS-B"``) are available;
confidence intervals, profiles and the minuit/sherpa backends belong to the
errors-and-intervals work and are refused with a clear message here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidInputError, InvalidTypeError
from .model.base import BaseModel
from .model.joint import JointModel

__all__ = ["Datasets", "Fit", "FitResult", "OptimizeResult", "CovarianceResult"]

_BACKENDS = {"swiftfit": "lm", "scipy": "L-BFGS-B"}


class Datasets(list):
    """Models to be fitted together (Gammapy's ``Datasets``).

    Examples
    --------
    >>> datasets = Datasets([m1, m2])           # doctest: +SKIP
    >>> result = Fit().run(datasets)             # doctest: +SKIP
    """

    def __init__(self, models=()):
        models = list(models)
        for m in models:
            if not isinstance(m, BaseModel):
                raise InvalidTypeError(f"Datasets holds models (Model1D/Model2D), got {type(m).__name__}")
        super().__init__(models)


@dataclass
class OptimizeResult:
    backend: str
    method: str
    success: bool
    message: str
    nfev: int
    total_stat: float
    parameters: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return (f"OptimizeResult\n\n\tbackend    : {self.backend}\n\tmethod     : {self.method}\n"
                f"\tsuccess    : {self.success}\n\tmessage    : {self.message}\n"
                f"\tnfev       : {self.nfev}\n\ttotal stat : {self.total_stat:.2f}\n")


@dataclass
class CovarianceResult:
    success: bool
    matrix: np.ndarray | None
    names: list

    def __str__(self) -> str:
        return f"CovarianceResult\n\n\tsuccess    : {self.success}\n"


@dataclass
class FitResult:
    optimize_result: OptimizeResult
    covariance_result: CovarianceResult

    @property
    def success(self) -> bool:
        return self.optimize_result.success and self.covariance_result.success

    def __str__(self) -> str:
        return str(self.optimize_result) + "\n" + str(self.covariance_result)


class Fit:
    """Fit models (a ``Datasets``, a list, a JointModel or one model).

    Parameters
    ----------
    backend : {"swiftfit", "scipy"}
    loss_function : str or list of str
        One loss for all datasets or one per dataset.
    optimize_opts : dict, optional
        ``method`` (an optimizer name) and options passed to it.
    covariance_opts, confidence_opts : dict, optional
        Accepted for Gammapy compatibility (the covariance comes from the loss).
    store_trace : bool
        Not available yet (refused when True).
    """

    def __init__(self, backend: str = "swiftfit", loss_function="ls", optimize_opts=None,
                 covariance_opts=None, confidence_opts=None, store_trace: bool = False):
        if backend not in _BACKENDS:
            raise InvalidInputError(
                f"`backend` must be one of {tuple(_BACKENDS)} (minuit and sherpa are not available yet), got {backend!r}"
            )
        if store_trace:
            raise InvalidInputError("store_trace=True is not available yet")
        self.backend = backend
        self.loss_function = loss_function
        self.optimize_opts = dict(optimize_opts or {})
        self.covariance_opts = dict(covariance_opts or {})
        self.confidence_opts = dict(confidence_opts or {})
        self._last = None

    def _joint(self, datasets) -> JointModel:
        if isinstance(datasets, JointModel):
            return datasets
        if isinstance(datasets, BaseModel):
            datasets = [datasets]
        return JointModel(list(datasets))

    def optimize(self, datasets) -> OptimizeResult:
        """Fit and return the optimisation summary."""
        jm = self._joint(datasets)
        opts = dict(self.optimize_opts)
        method = opts.pop("method", _BACKENDS[self.backend])
        out = jm.fit(optimizer=method, loss_function=self.loss_function, **opts)
        params = {}
        for m, name in zip(jm.models, jm.names):
            for comp in m:
                for p in comp.parameters:
                    params[f"{name}.{comp.name}.{p.name}"] = p.value
        self._last = (jm, out)
        return OptimizeResult(self.backend, method, bool(out.success), out.message, int(out.nfev),
                              float(out.fun), params)

    def covariance(self, datasets) -> CovarianceResult:
        """The covariance of the free parameters at the last optimum (fitting first if needed)."""
        if self._last is None:
            self.optimize(datasets)
        _, out = self._last
        cov = out.covariance
        ok = cov is not None and np.isfinite(cov).all()
        return CovarianceResult(bool(ok), cov, list(out.parameter_names))

    def run(self, datasets) -> FitResult:
        """Optimise, then estimate the covariance (Gammapy's ``Fit.run``)."""
        opt = self.optimize(datasets)
        return FitResult(opt, self.covariance(datasets))
