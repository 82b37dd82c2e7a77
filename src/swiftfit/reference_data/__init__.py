"""Reference datasets shipped with swiftfit.

:func:`load_nist` reads the NIST StRD nonlinear regression problems (public
domain, U.S. government), stored verbatim under ``reference_data/nist_strd``; :func:`log_relative_error`
is NIST's measure of agreement with their certified values.
"""

from .nist import NIST_1D, NIST_DATASETS, NistProblem, load_nist, log_relative_error

__all__ = ["NIST_DATASETS", "NIST_1D", "NistProblem", "load_nist", "log_relative_error"]
