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

from . import errors, model, optimizers, priors, samfire, signals, stats
from . import engines as backends
from . import astrophot_api as fitters
from .engines import get_backend, set_backend
from .component import Component
from .gammapy_api.fit import Datasets, Fit, FitResult
from .astrophot_api import HMC, LM, MALA, MHMCMC, Grad, Iter, IterParam, ScipyFit, Slalom
from .io import load
from .lmfit_api import MinimizerResult, Parameters, fit_report, minimize, report_fit
from .model import JointModel, Model1D, Model2D
from .parameters import Parameter
from .signals import BaseSignal, LazySignal1D, LazySignal2D, Signal1D, Signal2D

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
    "Signal1D",
    "Signal2D",
    "LazySignal1D",
    "LazySignal2D",
    "backends",
    "errors",
    "fitters",
    "get_backend",
    "set_backend",
    "samfire",
    "load",
    "model",
    "optimizers",
    "priors",
    "signals",
    "stats",
    "__version__",
]
