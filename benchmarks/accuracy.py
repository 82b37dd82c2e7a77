"""Accuracy on the NIST StRD nonlinear regression problems, from both starts.

Run as ``python benchmarks/accuracy.py`` (``--quick`` skips the peers,
``--tight`` gives the peers tolerances of 1e-15 instead of their defaults,
``--variants`` compares the damping and acceleration options of swiftfit's
"lm" instead, ``--random`` compares them from 30 random far starts per
problem; names of problems restrict the table to them). For
each problem and each of NIST's two starting points the table gives the log
relative error (LRE, ``-log10(|fit - certified| / |certified|)``, capped at 11,
the digits NIST certifies; 0 when the fit failed or is off by 100 % or more)
of the fitted values and of their standard errors, the minimum over the
parameters, for

* ``swiftfit``: ``Signal1D`` + ``create_model()`` + ``Expression`` +
  ``m.fit()`` with every default (optimizer "lm"), exactly what a user writes;
* ``scipy lm`` / ``scipy trf``: ``scipy.optimize.least_squares`` with
  ``method="lm"`` / ``"trf"``, default tolerances and evaluation budgets,
  fed the same analytic Jacobian (sympy) as swiftfit;
* ``lmfit``: ``lmfit.minimize(method="leastsq")`` with its defaults
  (MINPACK with a finite-difference Jacobian), when lmfit is installed.

Standard errors are ``sqrt(diag((JᵀJ)⁻¹) · RSS / (N − P))`` for scipy (what
NIST certifies); swiftfit and lmfit rescale their covariance the same way by
default. The last lines count, per solver, the (problem, start) pairs fitted
to at least 6 digits in every value (and 3 in every standard error).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sympy

try:
    import swiftfit as hs
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import swiftfit as hs

from scipy.optimize import least_squares

from swiftfit._expr import parse_expression
from swiftfit.reference_data import NIST_1D, load_nist, log_relative_error

try:
    import lmfit
except ImportError:  # optional peer
    lmfit = None

CAP = 11.0


def lre(fitted, certified) -> float:
    """Minimum LRE over the parameters (NIST's measure of agreement)."""
    fitted = np.asarray(fitted, dtype=float)
    certified = np.asarray(certified, dtype=float)
    if fitted.shape != certified.shape or not np.isfinite(fitted).all():
        return 0.0
    return float(np.clip(log_relative_error(fitted, certified), 0.0, CAP).min())


def _numeric(problem):
    """Model and analytic Jacobian of ``problem`` as numpy functions of ``(x, b)``."""
    table: dict = {}
    expr = parse_expression(problem.expression, symbols=table)  # swiftfit's whitelist parser
    x = table["x"]
    symbols = [table[n] for n in problem.parameter_names]
    f = sympy.lambdify([x, *symbols], expr, "numpy")
    grads = [sympy.lambdify([x, *symbols], sympy.diff(expr, s), "numpy") for s in symbols]

    def model(xv, b):
        return np.broadcast_to(f(xv, *b), xv.shape)

    def jac(xv, b):
        return np.stack([np.broadcast_to(g(xv, *b), xv.shape) for g in grads], axis=1)

    return model, jac


def _std_from_jacobian(J, rss, n, p):
    with np.errstate(all="ignore"):
        try:
            _, s, vt = np.linalg.svd(J, full_matrices=False)
            cov = (vt.T / s**2) @ vt
        except np.linalg.LinAlgError:
            return np.full(p, np.nan)
        return np.sqrt(np.diag(cov) * rss / (n - p))


def run_swiftfit(problem, start, **options):
    x, y = problem.monotonic()  # a signal axis must be strictly increasing
    s = hs.signals.Signal1D(y, axes=[{"axis": x}])
    m = s.create_model()
    comp = hs.model.components1D.Expression(
        problem.expression, name=problem.name,
        **{n: v for n, v in zip(problem.parameter_names, start)},
    )
    m.append(comp)
    out = m.fit(**options)
    params = [getattr(comp, n) for n in problem.parameter_names]
    return [p.value for p in params], [p.std for p in params], bool(out.success), int(out.nfev)


def run_scipy(problem, start, method, tight=False):
    model, jac = _numeric(problem)
    x, y = problem.x, problem.y
    tols = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15} if tight else {}
    with np.errstate(all="ignore"):
        res = least_squares(lambda b: model(x, b) - y, np.array(start, float),
                            jac=lambda b: jac(x, b), method=method, **tols)
    rss = float(res.fun @ res.fun)
    std = _std_from_jacobian(res.jac, rss, x.size, len(start))
    return res.x, std, bool(res.success), int(res.nfev)


def run_lmfit(problem, start, tight=False):
    model, _ = _numeric(problem)
    x, y = problem.x, problem.y
    params = lmfit.Parameters()
    for n, v in zip(problem.parameter_names, start):
        params.add(n, value=v)
    names = problem.parameter_names

    def residual(p):
        return model(x, [p[n].value for n in names]) - y

    with np.errstate(all="ignore"):
        tols = {"ftol": 1e-15, "xtol": 1e-15, "gtol": 1e-15} if tight else {}
        out = lmfit.minimize(residual, params, method="leastsq", **tols)
    vals = [out.params[n].value for n in names]
    stds = [np.nan if out.params[n].stderr is None else out.params[n].stderr for n in names]
    return vals, stds, bool(out.success), int(out.nfev)


VARIANTS = {
    "trust": {},
    "trust+geodesic": {"geodesic": True},
    "nielsen": {"damping": "nielsen"},
    "nielsen+geodesic": {"damping": "nielsen", "geodesic": True},
    "delayed": {"damping": "delayed"},
    "delayed+geodesic": {"damping": "delayed", "geodesic": True},
}


def random_starts(problem, k=30, seed=1):
    """``k`` far starts: each parameter moved from its certified value towards
    NIST's Start 1 and beyond, ``c · (s₁/c)^t`` with ``t ~ U(0.3, 1.3)``
    (``c + t (s₁ − c)`` where the signs differ)."""
    rng = np.random.default_rng([seed, sum(map(ord, problem.name))])
    c, s1 = np.array(problem.certified_values), np.array(problem.start1)
    t = rng.uniform(0.3, 1.3, size=(k, c.size))
    ratio = s1 / c
    return np.where(ratio > 0, c * np.abs(ratio) ** t, c + t * (s1 - c))


def random_table(names, k=30) -> None:
    """From ``k`` random far starts per problem, one batched ``multifit``
    each: how often every "lm" variant reaches the certified minimum (RSS
    within 1e-8, 1e-2 for Lanczos1 whose RSS is at the rounding level)."""
    counts = {label: {} for label in VARIANTS}
    nfev = {label: 0 for label in VARIANTS}
    for name in names:
        problem = load_nist(name)
        x, y = problem.monotonic()
        starts = random_starts(problem, k)
        rtol = 1e-2 if name == "Lanczos1" else 1e-8
        for label, options in VARIANTS.items():
            s = hs.signals.Signal1D(np.tile(y, (k, 1)), axes=[{"size": k, "navigate": True}, {"axis": x}])
            m = s.create_model()
            comp = hs.model.components1D.Expression(problem.expression, name=name)
            m.append(comp)
            for pname, value in zip(problem.parameter_names, starts.T):
                getattr(comp, pname).map["values"][:] = value
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m.multifit(**options)
            ok = (np.abs(m.chisq.data - problem.certified_rss) <= rtol * problem.certified_rss) & (m._status > 0)
            counts[label][name] = int(ok.sum())
            nfev[label] += int(m._nfev.sum())
    width = max(len(v) for v in VARIANTS) + 2
    print(f"Certified minimum reached from {k} random far starts per problem (one batched multifit each)")
    head = f"{'problem':<10}" + "".join(f"{v:>{width}}" for v in VARIANTS)
    print(head)
    print("-" * len(head))
    for name in names:
        print(f"{name:<10}" + "".join(f"{counts[v][name]:>{width}d}" for v in VARIANTS))
    print("-" * len(head))
    print(f"{'total':<10}" + "".join(f"{sum(counts[v].values()):>{width - 4}d}/{k * len(names):<3d}" for v in VARIANTS))
    print(f"{'nfev':<10}" + "".join(f"{nfev[v]:>{width}d}" for v in VARIANTS))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = [a for a in argv if not a.startswith("--")] or list(NIST_1D)
    if "--random" in argv:
        random_table(names)
        return 0
    solvers = {"swiftfit": run_swiftfit}
    if "--variants" in argv:  # swiftfit's lm damping and acceleration options
        solvers = {k: (lambda p, s, o=o: run_swiftfit(p, s, **o)) for k, o in VARIANTS.items()}
    elif "--quick" not in argv:
        tight = "--tight" in argv
        solvers["scipy lm"] = lambda p, s: run_scipy(p, s, "lm", tight)
        solvers["scipy trf"] = lambda p, s: run_scipy(p, s, "trf", tight)
        if lmfit is not None:
            solvers["lmfit"] = lambda p, s: run_lmfit(p, s, tight)
    width = max(13, max(len(k) for k in solvers) + 1)
    head = f"{'problem':<9} {'level':<7} st " + "".join(f"{k:>{width}}" for k in solvers)
    print("LRE of the values / of the standard errors (min over parameters; 11 = all certified digits)")
    print(head)
    print("-" * len(head))
    good = {k: 0 for k in solvers}
    good_std = {k: 0 for k in solvers}
    seconds = {k: 0.0 for k in solvers}
    evaluations = {k: 0 for k in solvers}
    total = 0
    for name in names:
        problem = load_nist(name)
        for k_start, start in problem.starts().items():
            total += 1
            cells = []
            for label, run in solvers.items():
                t0 = time.perf_counter()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        vals, stds, _, nfev = run(problem, start)
                except Exception:  # a peer that raises counts as a failed fit
                    vals, stds, nfev = [np.nan], [np.nan], 0
                evaluations[label] += nfev
                seconds[label] += time.perf_counter() - t0
                lv, ls = lre(vals, problem.certified_values), lre(stds, problem.certified_std)
                good[label] += lv >= 6
                good_std[label] += lv >= 6 and ls >= 3
                cells.append(f"{lv:5.1f}{' ' if lv >= 6 else '*'}/ {ls:4.1f}".rjust(width))
            print(f"{name:<9} {problem.difficulty:<7} {k_start}  " + "".join(cells))
    print("-" * len(head))
    print("* fewer than 6 correct digits in some value")
    for label in solvers:
        print(f"{label:<{max(map(len, solvers))}}: {good[label]:2d}/{total} (problem, start) pairs with >= 6 digits in every value, "
              f"{good_std[label]:2d}/{total} also >= 3 in every std  "
              f"({evaluations[label]} model evaluations, {seconds[label]:.1f} s)")
    if lmfit is None:
        print("(lmfit is not installed: its column is left out)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
