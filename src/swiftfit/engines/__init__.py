"""Computational backends: where the batched fits run.

``"numpy"`` (the default) is the reference: our NumPy batched
Levenberg–Marquardt (and its numba kernel). ``"jax"`` lowers a compiled
problem to a pure, jit-compiled JAX function and fits it with a batched
Levenberg–Marquardt written in JAX (:mod:`.jax_lm`), on a GPU where jax sees
one, else on the CPU. Choose per call (``m.fit(backend="jax")``,
``m.multifit(backend="jax", dtype="float32")``) or globally with
:func:`set_backend`.

Float64 on JAX needs ``jax.config.update("jax_enable_x64", True)``; swiftfit
sets it the first time the JAX backend is used (a process-wide JAX setting:
arrays created afterwards default to 64 bits). ``dtype="float32"`` runs the
fit in single precision (fast on GPUs; results to about 1e-4 relative).
"""

from __future__ import annotations

from ..errors import InvalidInputError

__all__ = ["set_backend", "get_backend", "BACKENDS", "DTYPES"]

BACKENDS = ("numpy", "jax")
DTYPES = ("float64", "float32")

_STATE = {"backend": "numpy", "dtype": "float64"}


def check_backend(backend) -> str:
    """``backend`` itself, or an error naming the allowed values."""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise InvalidInputError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    return backend


def check_dtype(dtype) -> str:
    """``dtype`` as one of :data:`DTYPES` (numpy dtypes accepted), or an error."""
    name = getattr(dtype, "__name__", None) or str(dtype)
    try:
        import numpy as np

        name = np.dtype(dtype).name
    except TypeError:
        pass
    if name not in DTYPES:
        raise InvalidInputError(f"`dtype` must be one of {DTYPES}, got {dtype!r}")
    return name


def set_backend(backend: str = "numpy", dtype: str = "float64") -> None:
    """Choose the backend (and the JAX precision) of every later fit.

    Parameters
    ----------
    backend : {"numpy", "jax"}
        ``"numpy"`` (default) restores the reference NumPy engine.
    dtype : {"float64", "float32"}
        Precision of the JAX fits (ignored by NumPy, which is float64).

    Examples
    --------
    >>> import swiftfit.engines as bk
    >>> bk.set_backend("jax", dtype="float64")     # doctest: +SKIP
    >>> bk.get_backend()                           # doctest: +SKIP
    ('jax', 'float64')
    >>> bk.set_backend("numpy")
    """
    backend = check_backend(backend)
    dtype = check_dtype(dtype)
    if backend == "jax":
        enable_jax(dtype)
    _STATE["backend"] = backend
    _STATE["dtype"] = dtype


def get_backend() -> tuple[str, str]:
    """The global ``(backend, dtype)``, ``("numpy", "float64")`` by default.

    Examples
    --------
    >>> from swiftfit.engines import get_backend
    >>> get_backend()[0] in ("numpy", "jax")
    True
    """
    return _STATE["backend"], _STATE["dtype"]


def enable_jax(dtype: str = "float64"):
    """Import jax (an error names the extra) and, for float64, enable x64.

    Returns the jax module.
    """
    from .._optional import require

    jax = require("jax", extra="jax")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    return jax
