"""``fit_report`` of a model or a joint model, in lmfit's layout.

The model's parameters are shown under identifier names
(``Component_parameter``, prefixed by the model's name in a joint model);
twins and ``expr`` ties print as ``== 'expression'`` in those names, as lmfit
prints its constrained parameters.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import sympy

from .. import _expr
from ..errors import InvalidInputError
from ..lmfit_api.parameters import Parameters
from ..lmfit_api.report import _correlation_lines, _stats_lines, _variable_lines

__all__ = ["model_fit_report", "NamedMatrix"]


class NamedMatrix(np.ndarray):
    """A square matrix (an ndarray) with row/column ``names``: a covariance or
    correlation matrix that prints as a table and is indexed by name.

    Arithmetic and NumPy functions work as on any ndarray; results of the same
    shape keep the names, any slice or reduction drops them (a plain view).

    Parameters
    ----------
    data : array_like, shape (P, P)
    names : sequence of str, length P

    Examples
    --------
    >>> c = NamedMatrix([[4.0, 1.0], [1.0, 9.0]], ["Gaussian.A", "Gaussian.sigma"])
    >>> c["A", "sigma"], c.loc("Gaussian.A", "Gaussian.A")
    (1.0, 4.0)
    """

    def __new__(cls, data, names):
        obj = np.array(data, dtype=float).view(cls)
        names = [str(n) for n in names]
        if obj.ndim != 2 or obj.shape != (len(names), len(names)):
            raise InvalidInputError(
                f"NamedMatrix needs a square matrix with one name per row, got shape {obj.shape} "
                f"and {len(names)} names")
        obj.names = names
        return obj

    def __array_finalize__(self, obj) -> None:
        names = getattr(obj, "names", None)
        self.names = names if names is not None and self.shape == (len(names), len(names)) else None

    def __reduce__(self):
        fn, args, state = super().__reduce__()
        return fn, args, (state, self.names)

    def __setstate__(self, state) -> None:
        base, self.names = state
        super().__setstate__(base)

    def index(self, name: str) -> int:
        """The row of ``name``: an exact name, or the unique one ending in
        ``.name`` (``"sigma"`` for ``"Gaussian.sigma"``).
        """
        names = self.names or []
        if name in names:
            return names.index(name)
        hits = [i for i, n in enumerate(names) if n.endswith("." + name)]
        if len(hits) == 1:
            return hits[0]
        what = "is ambiguous" if hits else "is not a name"
        raise InvalidInputError(f"{name!r} {what} of this matrix; the names are {names}")

    def loc(self, row: str, column: str) -> float:
        """The entry of the parameters named ``row`` and ``column``."""
        return float(np.asarray(self)[self.index(row), self.index(column)])

    def __getitem__(self, key):
        if isinstance(key, str):
            return np.asarray(self)[self.index(key)].copy()
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
            return self.loc(*key)
        out = super().__getitem__(key)
        if isinstance(out, NamedMatrix):
            out.names = None  # a slice or a reordering: rows are no longer the names
        return out

    def to_dict(self) -> dict:
        """``{row: {column: value}}``."""
        a = np.asarray(self)
        return {r: {c: float(a[i, j]) for j, c in enumerate(self.names)} for i, r in enumerate(self.names)}

    def _table(self) -> str:
        a = np.asarray(self)
        width = max(11, *(len(n) for n in self.names)) if self.names else 11
        head = " " * width + " " + " ".join(n.rjust(11)[-max(11, len(n)):] for n in self.names)
        rows = [n.ljust(width) + " " + " ".join(f"{v:11.4g}".rjust(max(11, len(c)))
                                               for v, c in zip(a[i], self.names))
                for i, n in enumerate(self.names)]
        return "\n".join([head] + rows)

    def __repr__(self) -> str:
        if self.names is None or self.ndim != 2:
            return repr(np.asarray(self))
        return f"NamedMatrix({len(self.names)}x{len(self.names)}):\n{self._table()}"

    def __str__(self) -> str:
        if self.names is None or self.ndim != 2:
            return str(np.asarray(self))
        return self._table()


def _label(prefix, comp, p) -> str:
    base = f"{comp._attribute_name}_{p.name}"
    return f"{prefix}_{base}" if prefix else base


def model_fit_report(models, prefixes, show_correl: bool = True, min_correl: float = 0.1, output=None) -> str:
    """The lmfit-style report of the last fit of ``models`` (one, or a joint set).

    ``output`` (a joint model's ``fit_output``), else ``fit_output`` of the
    first model, provides the statistics; parameter values and std are read
    at the current position.
    """
    out = models[0]._report_output if output is None else output
    if out is None:
        raise InvalidInputError("there is no fit to report yet; call fit() first")
    labels = {}
    entries = []
    for model, prefix in zip(models, prefixes):
        for comp in model:
            if not comp.active:
                continue
            for p in comp.parameters:
                labels[id(p)] = _label(prefix, comp, p)
                # the parameter's name in the fit's output (prefixed in a joint fit)
                fit_name = f"{comp.name}.{p.name}" if len(models) == 1 else f"{prefix}.{comp.name}.{p.name}"
                entries.append((model, comp, p, fit_name))
    names = list(out.parameter_names)
    x0 = dict(zip(names, np.atleast_1d(out.get("x0", np.full(len(names), np.nan)))))
    params = Parameters()
    by_fit_name = {}
    for _model, _comp, p, fit_name in entries:
        lab = labels[id(p)]
        params.add(lab, value=p.value, vary=bool(p.free))
        params[lab].stderr = p.std
        params[lab].init_value = x0.get(fit_name, p.value) if p.free else None
        by_fit_name[fit_name] = lab
    for model, _comp, p, _name in entries:
        tie = _tie_text(p, labels, model)
        if tie is not None:
            params[labels[id(p)]].expr = tie
            params[labels[id(p)]].stderr = p.std
    cov = out.covariance
    if cov is not None and len(names):
        sd = np.sqrt(np.diag(cov))
        with np.errstate(all="ignore"):
            corr = cov / np.outer(sd, sd)
        for i, a in enumerate(names):
            params[by_fit_name[a]].correl = {by_fit_name[b]: float(corr[i, j]) for j, b in enumerate(names) if j != i}
    result = SimpleNamespace(
        method=out.optimizer, nfev=out.nfev, ndata=out.dof + len(names), nvarys=len(names),
        chisqr=out.chisq, redchi=out.red_chisq, aic=out.aic, bic=out.bic, success=out.success,
        message=out.message, errorbars=cov is not None and np.isfinite(cov).all(), var_names=[],
        params=params, rsquared=out.get("rsquared"),
    )
    lines = _stats_lines(result) + _variable_lines(params, False)
    lines += _warning_lines(out, entries, labels)
    if show_correl:
        lines += _correlation_lines(params, float(min_correl))
    return "\n".join(lines)


# a value "at its initial value": |value − init| ≤ _AT_INIT · max(1, |init|);
# "at a boundary": within _AT_BOUND · max(1, |bound|) of bmin or bmax
_AT_INIT = 1e-12
_AT_BOUND = 1e-8


def _warning_lines(out, entries, labels) -> list[str]:
    """``[[Warnings]]``: free parameters the fit left at their starting value
    (only when some other parameter moved, i.e. the solver did iterate) and,
    after a bounded fit, parameters at ``bmin``/``bmax``; lmfit's wording
    (``at initial value``, ``at boundary``), one line each, under the report's
    names. Empty when there is nothing to say.
    """
    x, x0 = np.atleast_1d(out.get("x", [])), np.atleast_1d(out.get("x0", []))
    names = list(out.parameter_names)
    if len(x) != len(names) or len(x0) != len(names):
        return []
    start = dict(zip(names, x0))
    moved = bool(np.any(np.abs(x - x0) > _AT_INIT * np.maximum(1.0, np.abs(x0))))
    found = []
    for _model, _comp, p, fit_name in entries:
        if fit_name not in start or not _finite(p.value):
            continue
        v, init = float(p.value), float(start[fit_name])
        if moved and abs(v - init) <= _AT_INIT * max(1.0, abs(init)):
            found.append((labels[id(p)], "at initial value"))
        if out.get("bounded"):
            for bound in (p.bmin, p.bmax):
                if bound is not None and _finite(bound) and abs(v - bound) <= _AT_BOUND * max(1.0, abs(bound)):
                    found.append((labels[id(p)], "at boundary"))
                    break
    if not found:
        return []
    width = max(len(n) for n, _ in found) + 1
    return ["[[Warnings]]"] + [f"    {(n + ':').ljust(width)}  {text}" for n, text in found]


def _tie_text(p, labels, model) -> str | None:
    if p.twin is not None:
        x = sympy.Symbol("x", real=True)
        expr = _expr.parse_expression(p.twin_function_expr).subs(x, sympy.Symbol(labels[id(p.twin)]))
        return str(expr)
    if p._expr_sympy is not None:
        subs = {sympy.Symbol(n, real=True): sympy.Symbol(labels[id(q)]) for n, q in p._expr_dependencies()}
        return str(p._expr_sympy.subs(subs))
    return None


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)
