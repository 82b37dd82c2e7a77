"""``fit_report``: the text report of a fit, in lmfit's layout.

::

    [[Fit Statistics]]
        # fitting method   = leastsq
        # function evals   = 37
        # data points      = 300
        # variables        = 5
        chi-square         = 73.4565291
        reduced chi-square = 0.24900518
        Akaike info crit   = -412.126605
        Bayesian info crit = -393.607693
    [[Variables]]
        const_1:  4.97696372 +/- 0.04419601 (0.89%) (init = 1)
        cen_2:    1.00069722 +/- 0.00134922 (0.13%) == 'cen_1'
    [[Correlations]] (unreported correlations are < 0.100)
        C(sigma_1, amp_1)   = -0.473

Numbers are written in 11 characters (a sign place and ten for the digits,
fixed-point while that keeps the leading digits, else exponent notation).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidTypeError
from .minimizer import MinimizerResult
from .parameters import Parameters

__all__ = ["fit_report", "gformat", "report_fit"]


def gformat(value, length: int = 11) -> str:
    """``value`` in ``length`` characters: a sign place (blank for ≥ 0) and the
    digits, fixed-point as long as at least one decimal fits, else ``d.dddde±XX``.

    Examples
    --------
    >>> gformat(73.463189), gformat(-412.0994073), gformat(3.24217e-07)
    (' 73.4631890', '-412.099407', ' 3.2422e-07')
    """
    if value is None:
        return "None"
    v = float(value)
    if not math.isfinite(v):
        return repr(v)
    sign = "-" if v < 0 else " "
    a = abs(v)
    width = length - 1
    if a == 0:
        return sign + f"{0:.{width - 2}f}"
    expon = math.floor(math.log10(a))
    if -4 <= expon < width - 2:
        dec = width - max(expon + 1, 1) - 1
        while dec >= 1:
            body = f"{a:.{dec}f}"
            if len(body) <= width:
                return sign + body
            dec -= 1  # rounding added a digit (9.99... -> 10.0...)
    prec = width - 6
    while True:
        body = f"{a:.{max(prec, 0)}e}"
        if len(body) <= width or prec <= 0:
            return sign + body
        prec -= 1


def _short(value) -> str:
    return f"{float(value):.7g}"


def _stats_lines(result: MinimizerResult) -> list[str]:
    lines = [
        "[[Fit Statistics]]",
        f"    # fitting method   = {result.method}",
        f"    # function evals   = {result.nfev}",
        f"    # data points      = {result.ndata}",
        f"    # variables        = {result.nvarys}",
        f"    chi-square         = {gformat(result.chisqr).strip()}",
        f"    reduced chi-square = {gformat(result.redchi).strip()}",
        f"    Akaike info crit   = {gformat(result.aic).strip()}",
        f"    Bayesian info crit = {gformat(result.bic).strip()}",
    ]
    rsquared = getattr(result, "rsquared", None)
    if rsquared is not None:  # lmfit prints it when the result has one (ModelResult)
        lines.append(f"    R-squared          = {gformat(rsquared).strip()}")
    if not result.success:
        lines.append(f"##  Warning: the fit did not succeed ({result.message})")
    if not result.errorbars and result.nvarys:
        lines.append("##  Warning: uncertainties could not be estimated:")
        for name in result.var_names:
            p = result.params[name]
            if p.init_value is not None and math.isclose(p.value, p.init_value, rel_tol=1e-13, abs_tol=0):
                lines.append(f"    {name}:  at initial value")
            if p.value <= p.min or p.value >= p.max:
                lines.append(f"    {name}:  at boundary")
    return lines


def _variable_lines(params: Parameters, sort_pars) -> list[str]:
    names = list(params)
    if sort_pars is True:
        names = sorted(names)
    elif callable(sort_pars):
        names = sorted(names, key=lambda n: sort_pars(params[n]))
    width = max((len(n) for n in names), default=0) + 1
    lines = ["[[Variables]]"]
    for name in names:
        p = params[name]
        head = f"    {(name + ':').ljust(width)} "
        if p.expr is None and not p.vary:
            value = _short(p.value)
            lines.append(f"{head}{'' if value.startswith('-') else ' '}{value} (fixed)")
            continue
        text = head + gformat(p.value)
        if p.stderr is not None and math.isfinite(p.stderr):
            text += f" +/- {gformat(p.stderr).strip()}"
            if p.value != 0:
                text += f" ({abs(p.stderr / p.value) * 100:.2f}%)"
        if p.expr is not None:
            text += f" == {p.expr!r}"
        elif p.init_value is not None:
            text += f" (init = {_short(p.init_value)})"
        lines.append(text)
    return lines


def _correlation_lines(params: Parameters, min_correl: float) -> list[str]:
    varied = [n for n, p in params.items() if p.vary and p.expr is None]
    pairs = []
    for i, a in enumerate(varied):
        correl = params[a].correl or {}
        for b in varied[i + 1:]:
            c = correl.get(b)
            if c is not None and np.isfinite(c) and abs(c) >= min_correl:
                pairs.append((f"C({a}, {b})", float(c)))
    if not pairs:
        return []
    pairs.sort(key=lambda item: -abs(item[1]))  # stable: ties keep the parameters' order
    width = max(len(label) for label, _ in pairs)
    lines = [f"[[Correlations]] (unreported correlations are < {min_correl:.3f})"]
    lines += [f"    {label.ljust(width)} = {c:+.3f}" for label, c in pairs]
    return lines


def fit_report(inpars, modelpars=None, show_correl: bool = True, min_correl: float = 0.1,
               sort_pars=False) -> str:
    """The report of a fit (a :class:`MinimizerResult`) or of a :class:`Parameters`.

    Parameters
    ----------
    inpars : MinimizerResult or Parameters
        A result gives the ``[[Fit Statistics]]`` section too.
    modelpars : Parameters, optional
        Known true values, printed as ``(model_value = ...)`` after each value.
    show_correl : bool
        Add the ``[[Correlations]]`` section (pairs of varied parameters with
        ``|C| ≥ min_correl``, largest first).
    min_correl : float
    sort_pars : bool or callable
        Order the variables by name (True) or by ``key(parameter)``.

    Returns
    -------
    str
    """
    if isinstance(inpars, MinimizerResult):
        result, params = inpars, inpars.params
    elif isinstance(inpars, Parameters):
        result, params = None, inpars
    else:
        raise InvalidTypeError(f"fit_report takes a MinimizerResult or Parameters, got {type(inpars).__name__}")
    lines = _stats_lines(result) if result is not None else []
    variables = _variable_lines(params, sort_pars)
    if modelpars is not None:
        for k, name in enumerate(list(params) if sort_pars is False else _order(params, sort_pars)):
            if name in modelpars:
                variables[k + 1] += f" (model_value = {gformat(modelpars[name].value).strip()})"
    lines += variables
    if show_correl:
        lines += _correlation_lines(params, float(min_correl))
    return "\n".join(lines)


def _order(params, sort_pars):
    names = list(params)
    if sort_pars is True:
        return sorted(names)
    return sorted(names, key=lambda n: sort_pars(params[n]))


def report_fit(inpars, **kwargs) -> None:
    """Print :func:`fit_report`."""
    print(fit_report(inpars, **kwargs))
