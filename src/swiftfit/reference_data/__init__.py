"""Reference datasets shipped with swiftfit.

:func:`load_nist` reads the NIST StRD nonlinear regression problems (public
domain, U.S. government), stored verbatim under ``datasets/nist_strd``.
"""

from .nist import NIST_1D, NIST_DATASETS, NistProblem, load_nist

__all__ = ["NIST_DATASETS", "NIST_1D", "NistProblem", "load_nist"]
