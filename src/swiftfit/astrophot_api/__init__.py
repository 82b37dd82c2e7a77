"""The fitter family of AstroPhot's ``fit`` package (seed 002) for every swiftfit model.

Optimizers (:class:`LM`, :class:`Grad`, :class:`Iter`, :class:`IterParam`,
:class:`ScipyFit`, :class:`Slalom`) and samplers (:class:`MHMCMC`,
:class:`MALA`, :class:`HMC`) take a ``Model1D``, ``Model2D`` or
``JointModel`` and work at its current navigation position, on our analytic
gradients (no PyTorch). Each writes its result back into the model's
parameters (``value``, ``std``) as ``m.fit`` does.

Examples
--------
>>> from swiftfit.astrophot_api import LM, HMC                   # doctest: +SKIP
>>> LM(m, verbose=0).fit().message                         # doctest: +SKIP
>>> print(HMC(m, max_iter=500, progress_bar=False).fit().summary())   # doctest: +SKIP
"""

from .base import BaseOptimizer
from .grad import Grad
from .hmc import HMC
from .iterative import Iter, IterParam
from .lm import LM, LMConstraint
from .mala import MALA
from .mhmcmc import MHMCMC  # needs the `emcee` extra, imported when one is made
from .scipy_fit import ScipyFit
from .slalom import Slalom

__all__ = ["BaseOptimizer", "LM", "LMConstraint", "Grad", "Iter", "IterParam", "ScipyFit", "Slalom",
           "MHMCMC", "MALA", "HMC"]
