"""The fitter family of AstroPhot's ``fit`` package (seed 002) for every swiftfit model."""

# samplers (MHMCMC needs the `emcee` extra, imported when one is made)
from .hmc import HMC  # noqa: E402
from .mala import MALA  # noqa: E402
from .mhmcmc import MHMCMC  # noqa: E402

# optimizers
from .base import BaseOptimizer  # noqa: E402
from .grad import Grad  # noqa: E402
from .iterative import Iter, IterParam  # noqa: E402
from .lm import LM, LMConstraint  # noqa: E402
from .scipy_fit import ScipyFit  # noqa: E402
from .slalom import Slalom  # noqa: E402
