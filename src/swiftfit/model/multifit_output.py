"""``m.multifit_output``: per-pixel diagnostics of the fits, as signals.

A read-only snapshot of the model's one per-pixel results object,
``m.fit_results`` (:class:`~swiftfit.model.fit_results.FitResults`), taken
when read: the same fields as navigation signals, the form HyperSpy users
plot and save.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from ..problem.solution import STATUS_MESSAGES
from ..problem.solution import message as _message

__all__ = ["MultifitOutput"]

_ATTRIBUTES = ("success", "status", "nfev", "chisq", "red_chisq", "dof", "refitted", "slow_path",
               "goodness_failed", "varpro")


class MultifitOutput:
    """Per-pixel diagnostics of the fits of a model (read-only).

    A snapshot taken when ``m.multifit_output`` is read: every attribute is a
    signal over the model's navigation axes (array order, as the parameter
    maps). Pixels never fitted have status 0 ("not fitted").

    Attributes
    ----------
    success : BaseSignal of bool
        ``status > 0``: the solver verified convergence.
    status : BaseSignal of int
        The status code; :meth:`message` (or :attr:`messages`) says what it means.
    nfev : BaseSignal of int
        Model evaluations.
    chisq, red_chisq, dof : BaseSignal of float
        χ², χ²/dof and the degrees of freedom (NaN where not fitted).
    refitted : BaseSignal of bool
        Pixels whose failed fit was replaced by a refit from their converged
        neighbours in the last multifit (``refit_failed=True``).
    slow_path : BaseSignal of bool
        Fitted pixels whose last fit did not run wholly in a compiled kernel
        (the fused numba Levenberg–Marquardt): a model, loss, bound or
        optimizer that kernel does not take yet, ``kernel="numpy"``, or numba
        not installed. ``slow_path.data.sum()`` counts them.
    varpro : BaseSignal of bool
        Fitted pixels whose last fit was finished by variable projection
        (:mod:`swiftfit.optimizers.varpro`: the linear parameters solved, the
        others searched); an EELS model's ``multifit()`` uses it where it
        applies, and hands the other pixels to Levenberg–Marquardt.
    goodness_failed : BaseSignal of bool
        Pixels whose best fit failed SAMFire's goodness test: they keep that
        fit (never left unfitted) and are flagged here.
    time : float or None
        Seconds taken by the last multifit.
    messages : mapping
        Every status code and its message.

    Examples
    --------
    >>> m.multifit()                                   # doctest: +SKIP
    >>> out = m.multifit_output                        # doctest: +SKIP
    >>> out.success.data.mean()                        # doctest: +SKIP
    1.0
    >>> out.message(int(out.status.data.flat[0]))      # doctest: +SKIP
    'converged: relative reduction of the objective below ftol'
    """

    messages = MappingProxyType(dict(STATUS_MESSAGES))

    def __init__(self, model) -> None:
        results = model.fit_results  # the one per-pixel results object (a live view)
        status = np.array(results.status, dtype=int)
        chisq = np.array(results.chisq, dtype=float)
        dof = np.array(results.dof, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            red = chisq / dof
        flagged = results.goodness_failed
        refitted = results.refitted

        def signal(data, title):
            sig = model._nav_signal(data, title)
            # _nav_signal makes floats; keep bools and ints as they are
            sig.data = np.asarray(data).reshape(sig.data.shape).copy()
            return sig

        values = {
            "success": signal(status > 0, "success"),
            "status": signal(status, "status"),
            "nfev": signal(np.array(results.nfev, dtype=int), "nfev"),
            "chisq": signal(chisq, "chisq"),
            "red_chisq": signal(red, "red_chisq"),
            "dof": signal(dof, "dof"),
            "refitted": signal(np.array(refitted, dtype=bool), "refitted"),
            "slow_path": signal(np.array(results.slow_path, dtype=bool), "slow_path"),
            "goodness_failed": signal(np.array(flagged, dtype=bool), "goodness_failed"),
            "varpro": signal(np.array(results.varpro, dtype=bool), "varpro"),
        }
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "time", results.time)

    def __getattr__(self, name: str):
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"'MultifitOutput' has no attribute {name!r}; it has {list(_ATTRIBUTES)}")

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError("multifit_output is read-only; it describes the last fits of the model")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(_ATTRIBUTES))

    @staticmethod
    def message(code: int) -> str:
        """The message of a status code.

        Examples
        --------
        >>> MultifitOutput.message(-4)
        'failed: data or weights at this pixel are not finite'
        """
        return _message(code)

    def __repr__(self) -> str:
        status = self._values["status"].data
        n = status.size
        fitted = int((status != 0).sum())
        ok = int((status > 0).sum())
        lines = [f"<MultifitOutput: {n} pixels, {fitted} fitted, {ok} converged, {fitted - ok} failed>"]
        for name in _ATTRIBUTES:
            sig = self._values[name]
            lines.append(f"  {name:<9} {sig.data.dtype} signal, navigation shape {sig.data.shape}")
        codes, counts = np.unique(status, return_counts=True)
        for code, count in zip(codes, counts):
            lines.append(f"  status {int(code):>2}: {int(count):>6} × {self.message(code)}")
        if self.time is not None:
            lines.append(f"  time      {self.time:.3g} s")
        return "\n".join(lines)
