"""Text reports of the ``swiftfit`` command: fit results, multifit summaries,
and stored models read back from a results file.

Every function returns a string (the command prints it), so the reports are
easy to test and to reuse from Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .component import format_value

__all__ = ["multifit_summary", "parameter_table", "single_fit_summary", "stored_report"]


def _status_message(code: int) -> str:
    from .problem.solution import message

    return message(int(code))


def _role(p: Any) -> str:
    """How a parameter enters the fit: free, fixed, a twin or an expression."""
    if p.twin is not None:
        fexpr = p.twin_function_expr
        suffix = "" if fexpr in ("x", None) else f" via {fexpr}"
        return f"twin of {p.twin.component.name}.{p.twin.name}{suffix}"
    if p.expr is not None:
        return f"= {p.expr}"
    return "free" if p.free else "fixed"


def parameter_table(m: Any) -> str:
    """Every parameter at the model's current navigation position:
    ``component.parameter  value  std  role``.

    Examples
    --------
    >>> print(parameter_table(m))                  # doctest: +SKIP
    parameter          value         std  role
    peak1.A        1000.0213   10.123456  free
    """
    rows = [(f"{c.name}.{p.name}", format_value(p.value, 12), format_value(p.std, 12), _role(p))
            for c in m for p in c.parameters]
    width = max([len("parameter")] + [len(r[0]) for r in rows])
    lines = [f"{'parameter':<{width}}  {'value':>12}  {'std':>12}  role"]
    lines += [f"{n:<{width}}  {v:>12}  {s:>12}  {r}" for n, v, s, r in rows]
    return "\n".join(lines)


def single_fit_summary(m: Any, elapsed: float | None = None) -> str:
    """One line on the last ``m.fit()`` then lmfit's report (``m.fit_report()``).

    Examples
    --------
    >>> _ = m.fit(); print(single_fit_summary(m))      # doctest: +ELLIPSIS
    fit: success (converged: ...), reduced chi-square 1.10340491
    ...
    """
    out = m.fit_output
    when = "" if elapsed is None else f" in {elapsed * 1e3:.1f} ms"
    pixel = tuple(m.axes_manager.indices) if m._nav_shape else ()
    where = f" at navigation position {pixel}" if pixel else ""
    head = (f"fit{where}: {'success' if out.success else 'FAILED'} ({out.message}){when}, "
            f"reduced chi-square {format_value(out.red_chisq, 10).strip()}")
    return f"{head}\n{m.fit_report()}"


def _pixel_statistics(m: Any) -> list[str]:
    status = np.asarray(m.fit_results.status, dtype=int).ravel()
    chisq = np.asarray(m.fit_results.chisq, dtype=float).ravel()
    dof = np.asarray(m.fit_results.dof, dtype=float).ravel()
    fitted = status != 0
    n, nfit = status.size, int(fitted.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        red = chisq / dof
    red = red[fitted & np.isfinite(red)]
    converged = int((status > 0).sum())
    lines = [f"pixels: {n}, fitted: {nfit}, converged: {converged} ({converged / max(n, 1):.1%})"]
    if red.size:
        lo, med, hi = np.percentile(red, [16, 50, 84])
        lines.append(f"reduced chi-square: median {med:.4g} (16-84%: {lo:.4g} .. {hi:.4g})")
    codes, counts = np.unique(status, return_counts=True)
    for code, count in sorted(zip(codes, counts), key=lambda t: -t[1]):
        lines.append(f"  status {int(code):>3}: {int(count):>7} pixel(s)  {_status_message(code)}")
    return lines


def _map_table(m: Any) -> list[str]:
    """Median and 16-84 % range of every parameter map over the fitted pixels."""
    fitted = np.asarray(m.fit_results.status, dtype=int) != 0
    rows = []
    for c in m:
        for p in c.parameters:
            values = np.asarray(p._map["values"], dtype=float)
            std = np.asarray(p._map["std"], dtype=float)
            mask = fitted & np.isfinite(values) if fitted.any() else np.isfinite(values)
            if not mask.any():
                rows.append((f"{c.name}.{p.name}", "nan", "nan", "nan", "nan", _role(p)))
                continue
            lo, med, hi = np.percentile(values[mask], [16, 50, 84])
            good = std[mask][np.isfinite(std[mask])]
            mstd = float(np.median(good)) if good.size else None
            rows.append((f"{c.name}.{p.name}", format_value(med, 11), format_value(lo, 11),
                         format_value(hi, 11), format_value(mstd, 11), _role(p)))
    width = max([len("parameter")] + [len(r[0]) for r in rows])
    header = f"{'parameter':<{width}}  {'median':>11}  {'16%':>11}  {'84%':>11}  {'median std':>11}  role"
    lines = [header]
    lines += [f"{r[0]:<{width}}  {r[1]:>11}  {r[2]:>11}  {r[3]:>11}  {r[4]:>11}  {r[5]}" for r in rows]
    return lines


def multifit_summary(m: Any, elapsed: float | None = None) -> str:
    """Pixels, speed, success fraction, median reduced χ², status counts and
    the median of every parameter map after ``m.multifit()``.

    Examples
    --------
    >>> m.multifit(); print(multifit_summary(m, 1.2))   # doctest: +SKIP
    multifit: 4096 pixels in 1.20 s (3,413 fits/s)
    ...
    """
    n = int(np.prod(m._nav_shape)) if m._nav_shape else 1
    lines = []
    if elapsed is not None:
        lines.append(f"multifit: {n} pixels in {elapsed:.2f} s ({n / max(elapsed, 1e-9):,.0f} fits/s)")
    lines += _pixel_statistics(m)
    refitted = getattr(m, "_multifit_refitted", None)
    if refitted is not None and np.any(refitted):
        lines.append(f"refitted from converged neighbours: {int(np.sum(refitted))} pixel(s)")
    lines.append("")
    lines += _map_table(m)
    return "\n".join(lines)


def stored_report(m: Any, name: str) -> str:
    """Report of a model read back from a results file (no live fit output:
    the status, χ² and parameter maps stored with it).

    Examples
    --------
    >>> s = swiftfit.load("results.h5")                       # doctest: +SKIP
    >>> print(stored_report(s.models_stored["cli"](), "cli"))  # doctest: +SKIP
    """
    signal = m.signal
    shape = "x".join(str(n) for n in signal.data.shape)
    title = signal.metadata.General.title
    title = f" {title!r}" if title else ""
    components = ", ".join(f"{c.name} ({type(c).__name__})" for c in m)
    head = [f"model {name!r}: {type(m).__name__} on {type(signal).__name__}{title} (data {shape}), components: "
            + components]
    n = int(np.prod(m._nav_shape)) if m._nav_shape else 1
    if n == 1:
        status = int(np.asarray(m.fit_results.status).ravel()[0])
        chisq = float(np.asarray(m.fit_results.chisq).ravel()[0])
        dof = float(np.asarray(m.fit_results.dof).ravel()[0])
        red = chisq / dof if dof > 0 else float("nan")
        head.append(f"status {status}: {_status_message(status)}")
        head.append(f"chi-square {chisq:.6g}, degrees of freedom {dof:.0f}, reduced chi-square {red:.6g}")
        return "\n".join([*head, "", parameter_table(m)])
    pixel = tuple(m.axes_manager.indices)
    return "\n".join([*head, *_pixel_statistics(m), "", *_map_table(m), "",
                      f"at navigation position {pixel}:", parameter_table(m)])
