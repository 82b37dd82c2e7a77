"""Recording every objective evaluation of a fit (``Fit(store_trace=True)``).

A :class:`TracedLoss` wraps a loss and records, at each ``value`` call on the
full problem, the objective and the free parameters. The optimizers that
evaluate the objective through ``loss.value`` (MINUIT, scipy, sherpa, our
damped Newton for ML-poisson/huber) count exactly those calls as ``nfev``.
Least squares with ``"lm"`` evaluates residuals instead: :func:`trace_residuals`
hooks ``problem.residuals`` for the duration of the solve.

Examples
--------
>>> tracer = Tracer(["a", "b"])                  # doctest: +SKIP
>>> solution = spec.solve(problem, TracedLoss(loss, tracer))   # doctest: +SKIP
>>> tracer.table()["total_stat"]                 # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..stats.fit_tables import Table

__all__ = ["Tracer", "TracedLoss", "trace_residuals"]


class Tracer:
    """Rows of ``(total_stat, *free parameters)``, one per evaluation."""

    def __init__(self, names):
        self.names = list(names)
        self.rows: list = []

    def record(self, stat, theta) -> None:
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        stat = np.atleast_1d(np.asarray(stat, dtype=float))
        if theta.shape[1] != len(self.names):  # a sub-problem (e.g. a profile): not the fit's objective
            return
        for b in range(theta.shape[0]):
            self.rows.append((float(stat[b]), *theta[b]))

    def table(self) -> Table:
        data = np.array(self.rows, dtype=float).reshape(len(self.rows), len(self.names) + 1)
        cols = {"total_stat": data[:, 0]}
        for k, name in enumerate(self.names):
            cols[name] = data[:, k + 1]
        return Table(cols)


class TracedLoss:
    """A loss that records each ``value`` call in ``tracer``; everything else
    is delegated to the wrapped loss (name, errordef, gradient, ...).
    """

    def __init__(self, loss, tracer: Tracer):
        self._loss = loss
        self._tracer = tracer

    def __getattr__(self, name):
        return getattr(self._loss, name)

    def value(self, problem, theta):
        v = self._loss.value(problem, theta)
        self._tracer.record(v, theta)
        return v


@contextmanager
def trace_residuals(problem, tracer: Tracer):
    """Record χ² = Σ r² at every ``problem.residuals`` call while inside.

    The hook is an instance attribute, so ``problem.take`` (which copies the
    instance dict) keeps it; that is right here because a ``Fit`` problem
    has one pixel, so every sub-problem has the same data.
    """
    original = problem.residuals

    def residuals(theta):
        r = original(theta)
        with np.errstate(all="ignore"):
            tracer.record(np.einsum("bn,bn->b", r, r), theta)
        return r

    problem.residuals = residuals
    try:
        yield
    finally:
        del problem.residuals
