"""swiftfit: fast, batched fitting of parametric models, with errors you can trust.

The names follow HyperSpy's, so ``import swiftfit as hs`` runs HyperSpy model
fitting code::

    >>> import numpy as np, swiftfit as hs
    >>> s = hs.signals.Signal1D(np.arange(100, 300, dtype="float32"))
    >>> m = s.create_model()
    >>> m.append(hs.model.components1D.Polynomial(order=1))
    >>> result = m.fit()
"""

from __future__ import annotations

from . import (
    astrophot_api,
    data,
    engines,
    errors,
    fitters,
    gammapy_api,
    lmfit_api,
    model,
    optimizers,
    priors,
    roi,
    samfire,
    signals,
    stats,
    utils,
)
from .astrophot_api import HMC, LM, MALA, MHMCMC, Grad, Iter, IterParam, ScipyFit, Slalom
from .component import Component
from .engines import get_backend, set_backend
from .gammapy_api import Datasets, Fit, FitResult
from .io import load
from .lmfit_api import MinimizerResult, Parameters, fit_report, minimize, report_fit
from .model import JointModel, Model1D, Model2D
from .parameters import Parameter
from .preferences import preferences
from .signals import BaseSignal, LazySignal1D, LazySignal2D, Signal1D, Signal2D
from .utils import stack

__version__ = "0.1.0"

__all__ = [
    "BaseSignal",
    "Component",
    "Datasets",
    "Fit",
    "FitResult",
    "Grad",
    "HMC",
    "Iter",
    "IterParam",
    "LM",
    "MALA",
    "MHMCMC",
    "ScipyFit",
    "Slalom",
    "JointModel",
    "Model1D",
    "Model2D",
    "MinimizerResult",
    "Parameters",
    "fit_report",
    "minimize",
    "report_fit",
    "Parameter",
    "preferences",
    "Signal1D",
    "Signal2D",
    "LazySignal1D",
    "LazySignal2D",
    "astrophot_api",
    "data",
    "engines",
    "errors",
    "fitters",
    "gammapy_api",
    "lmfit_api",
    "get_backend",
    "set_backend",
    "samfire",
    "load",
    "model",
    "optimizers",
    "priors",
    "signals",
    "stats",
    "stack",
    "roi",
    "utils",
    "__version__",
]
