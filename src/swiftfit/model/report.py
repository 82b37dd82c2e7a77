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

__all__ = ["model_fit_report"]


def _label(prefix, comp, p) -> str:
    base = f"{comp._attribute_name}_{p.name}"
    return f"{prefix}_{base}" if prefix else base


def model_fit_report(models, prefixes, show_correl: bool = True, min_correl: float = 0.1) -> str:
    """The lmfit-style report of the last fit of ``models`` (one, or a joint set).

    ``fit_output`` of the first model (or of the joint model) provides the
    statistics; parameter values and std are read at the current position.
    """
    out = models[0]._report_output
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
                entries.append((model, comp, p))
    names = list(out.parameter_names)
    x0 = dict(zip(names, np.atleast_1d(out.get("x0", np.full(len(names), np.nan)))))
    params = Parameters()
    by_fit_name = {}
    for model, comp, p in entries:
        lab = labels[id(p)]
        fit_name = f"{comp.name}.{p.name}"
        if len(models) > 1:
            fit_name = f"{prefixes[models.index(model)]}.{fit_name}"
        params.add(lab, value=p.value, vary=bool(p.free))
        params[lab].stderr = p.std
        params[lab].init_value = x0.get(fit_name, p.value) if p.free else None
        by_fit_name[fit_name] = lab
    for model, comp, p in entries:
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
        params=params,
    )
    lines = _stats_lines(result) + _variable_lines(params, False)
    if show_correl:
        lines += _correlation_lines(params, float(min_correl))
    return "\n".join(lines)


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
