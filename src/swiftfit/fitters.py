"""The AstroPhot-style fitters under their short name (AstroPhot's ``astrophot.fit``).

Everything here is :mod:`swiftfit.astrophot_api`, the package that holds
them; this module keeps ``from swiftfit.fitters import LM`` working.

Examples
--------
>>> from swiftfit.fitters import LM
>>> LM.__module__
'swiftfit.astrophot_api.lm'
"""

from .astrophot_api import *  # noqa: F403 (the public names, listed in its __all__)
from .astrophot_api import __all__  # noqa: F401
