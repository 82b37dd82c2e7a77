"""Coverage of swiftfit's 1σ intervals over simulated datasets (not a timed test).

"Errors you can trust": an interval that claims 1σ must contain the true value
in 68.3 % of repeated experiments. This script measures that directly.

Method
------
For each case below, ``--n`` datasets (default 2000) are drawn from a known
model with a seeded generator (``--seed``) and put on the navigation axis of
one ``Signal1D``, so a single batched ``m.multifit()`` fits them all (every
pixel from the same starting values, which are *not* the truth). Then, pixel
by pixel (``m.axes_manager.indices = (i,)``), for every parameter of interest:

* the **profile interval** is ``swiftfit.stats.confidence(m, p, sigma=1)``:
  MINOS-style, where the profile of the objective (the other free parameters
  re-optimised) rises by ``errordef`` above its minimum (0.5 for the Poisson
  −ln L, 1 for χ²). The loss is passed explicitly (``loss_function=``), see
  the note below;
* the **covariance interval** is ``value ± std`` from the fit (``p.std``): for
  ML-poisson the inverse Fisher matrix at the fit, for least squares with a
  known noise variance ``(JᵀWJ)⁻¹`` (no χ² rescaling).

Coverage is the fraction of datasets whose interval contains the truth; its
binomial standard error is ``sqrt(p(1−p)/N)`` (≈ 1.04 % for N = 2000, so the
68.3 ± 2 % target is about a 2σ band). Asymmetry is the median of
``errp/|errn|`` of the profile interval (1 for a parabolic objective).

Failures (a fit that did not converge, an exception in ``confidence``, or an
interval side not found — ``success`` False) are listed in their own column
and left out of *both* coverages' denominators, so the two columns are
computed on the same datasets (with few failures the difference from
counting them as misses is at most failures/N).

Cases
-----
``poisson-low``   Gaussian peak (area A = 25 counts, σ = 2, centre 14.6) on a
                  flat background of 1 count/channel, 30 channels, Poisson
                  counts, loss "ML-poisson"; A, σ, centre and the offset free.
                  The likelihood of A is visibly asymmetric.
``poisson-high``  The same ×100 (A = 2500, background 100/channel): the
                  near-Gaussian regime, where both intervals should agree.
``ls-exp``        ``A exp(−x/τ)`` (A = 10, τ = 2) on 40 points in [0, 10] with
                  Gaussian noise σ = 1 and that variance set on the signal
                  (``s.set_noise_variance(1.0)``), loss "ls"; non-linear in τ.

Note: ``m.multifit()`` leaves ``m.fit_output`` at None, and ``confidence``
then falls back to least squares (errordef 1, unweighted χ²) — for a Poisson
fit that silently profiles the wrong objective. Hence ``loss_function=``.

Run::

    python benchmarks/coverage.py                  # N = 2000, seed 0, all cases
    python benchmarks/coverage.py --n 500 --case poisson-low
"""

from __future__ import annotations

if __name__ == "coverage":
    # Another script of benchmarks/ runs with this folder first on sys.path,
    # so numba's ``import coverage`` (the package) finds this file instead:
    # refuse, and numba goes on without its coverage hooks.
    raise ImportError("benchmarks/coverage.py is a script, not the coverage package")

import argparse
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

# This file is named like the ``coverage`` package, which numba imports: run as
# a script, its folder must not shadow that package on sys.path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [q for q in sys.path if Path(q or ".").resolve() != _HERE]

import numpy as np

try:
    import swiftfit as hs
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import swiftfit as hs
from swiftfit import losses as _losses
from swiftfit.optimizers import registry as _registry
from swiftfit.stats import confidence

TARGET = 0.6827  # P(|z| < 1)
TOLERANCE = 0.02


def _gaussian(x, A, sigma, centre):
    return A / (sigma * np.sqrt(2 * np.pi)) * np.exp(-((x - centre) ** 2) / (2 * sigma**2))


# --------------------------------------------------------------- cases
def _peak_case(n, rng, scale):
    """Poisson counts of a Gaussian peak on a flat background (``scale``
    multiplies every count), loss ML-poisson."""
    x = np.arange(30.0)
    truth = {"A": 25.0 * scale, "sigma": 2.0, "centre": 14.6, "offset": 1.0 * scale}
    lam = _gaussian(x, truth["A"], truth["sigma"], truth["centre"]) + truth["offset"]
    s = hs.signals.Signal1D(rng.poisson(lam, size=(n, x.size)).astype(float))
    m = s.create_model()
    g = hs.model.components1D.Gaussian(A=0.8 * truth["A"], sigma=2.3, centre=14.0)
    o = hs.model.components1D.Offset(offset=1.2 * truth["offset"])
    m.extend([g, o])
    m.assign_current_values_to_all()
    return m, "ML-poisson", [("A", g.A, truth["A"]), ("centre", g.centre, truth["centre"])]


def _exp_case(n, rng):
    """Least squares with a known Gaussian noise of an exponential decay."""
    x = np.linspace(0.0, 10.0, 40)
    A, tau, noise = 10.0, 2.0, 1.0
    s = hs.signals.Signal1D(A * np.exp(-x / tau) + rng.normal(0.0, noise, size=(n, x.size)))
    s.axes_manager[-1].scale = x[1] - x[0]
    s.set_noise_variance(noise**2)
    m = s.create_model()
    e = hs.model.components1D.Exponential(A=8.0, tau=2.5)
    m.append(e)
    m.assign_current_values_to_all()
    return m, "ls", [("A", e.A, A), ("tau", e.tau, tau)]


CASES = {
    "poisson-low": lambda n, rng: _peak_case(n, rng, 1.0),
    "poisson-high": lambda n, rng: _peak_case(n, rng, 100.0),
    "ls-exp": _exp_case,
}


# ------------------------------------------- batched profile intervals
def batched_confidence(m, parameter, loss_function, sigma=1.0, xtol=1e-7, max_iter=60):
    """``confidence(m, parameter, sigma)`` at every navigation pixel at once.

    The same definition as :func:`swiftfit.stats.confidence` — where the
    profile (the other free parameters re-optimised with "lm", started from
    the best fit) rises by ``sigma²·errordef`` above the minimum, bracketed by
    doubling steps of the (unscaled) standard deviation — but each
    re-optimisation is one batched solve over all pixels still searching, and
    the root is refined by the Illinois regula falsi (to ``xtol`` standard
    deviations) instead of brentq. Parameters without bounds only.

    Returns ``(best, errp, errn)``, arrays over the pixels (NaN where a side
    was not found). Built on the same private layer as ``confidence``
    (``m._problem``, the Loss objects, the "lm" solver).
    """
    n = int(np.prod(m._nav_shape))
    pixels = [tuple(np.unravel_index(i, m._nav_shape)) for i in range(n)]
    params = [q for c in m._components for q in c.parameters]
    index = next(i for i, q in enumerate(params) if q is parameter)
    loss = _losses.get(loss_function, model=m)
    full = m._problem(pixels)
    column = full.plans[index].column
    best = np.array(full.p0, dtype=float)
    with np.errstate(all="ignore"):
        f0 = loss.value(full, best)
        std = np.sqrt(np.abs(np.diagonal(loss.covariance(full, best), axis1=1, axis2=2)[:, column]))
    std = np.where(np.isfinite(std) & (std > 0), std, np.maximum(np.abs(best[:, column]) * 1e-2, 1e-8))
    level = f0 + sigma**2 * loss.errordef
    free = parameter.free
    try:
        parameter.free = False
        held = m._problem(pixels)
    finally:
        parameter.free = free
    held.fixed = np.array(held.fixed, dtype=float, copy=True)
    keep = [c for c in range(best.shape[1]) if c != column]
    spec = _registry.get("lm")

    def g(rows, values):
        one = held.take(rows)
        one.fixed = one.fixed.copy()
        one.fixed[:, index] = values
        one.p0 = best[rows][:, keep].copy()
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if one.P == 0:
                f = loss.value(one, one.p0)
            else:
                f = loss.value(one, np.asarray(spec.solve(one, loss, bounded=False).theta, dtype=float))
            return f - level[rows]

    centre = best[:, column]
    out = {}
    for key, direction in (("errp", 1.0), ("errn", -1.0)):
        step = direction * sigma * std
        t_lo, g_lo = np.zeros(n), -np.full(n, sigma**2 * loss.errordef)
        t_hi, g_hi = np.full(n, np.nan), np.full(n, np.nan)
        t = np.ones(n)
        todo = np.arange(n)
        for _ in range(max_iter):  # bracket by doubling, as confidence does
            if todo.size == 0:
                break
            gt = g(todo, centre[todo] + t[todo] * step[todo])
            up = np.isfinite(gt) & (gt > 0)
            t_hi[todo[up]], g_hi[todo[up]] = t[todo[up]], gt[up]
            below = np.isfinite(gt) & ~up
            t_lo[todo[below]], g_lo[todo[below]] = t[todo[below]], gt[below]
            todo = todo[~up]
            t[todo] *= 2.0
        a, fa, b, fb = t_lo, g_lo, t_hi, g_hi
        todo = np.flatnonzero(np.isfinite(b))
        side = np.zeros(n)  # Illinois: halve the stale end's value
        root = np.where(np.isfinite(b), 0.5 * (a + b), np.nan)
        for _ in range(max_iter):
            if todo.size == 0:
                break
            c = b[todo] - fb[todo] * (b[todo] - a[todo]) / (fb[todo] - fa[todo])
            c = np.where(np.isfinite(c) & (c > a[todo]) & (c < b[todo]), c, 0.5 * (a[todo] + b[todo]))
            fc = g(todo, centre[todo] + c * step[todo])
            fc = np.where(np.isfinite(fc), fc, np.abs(fb[todo]))  # treat as above the level
            root[todo] = c
            pos = fc > 0
            i_pos, i_neg = todo[pos], todo[~pos]
            b[i_pos], fb[i_pos] = c[pos], fc[pos]
            fa[i_pos[side[i_pos] == 1]] *= 0.5
            side[i_pos] = 1
            a[i_neg], fa[i_neg] = c[~pos], fc[~pos]
            fb[i_neg[side[i_neg] == -1]] *= 0.5
            side[i_neg] = -1
            done = (b[todo] - a[todo] <= xtol * np.maximum(b[todo], 1.0)) | (fc == 0)
            todo = todo[~done]
        out[key] = root * step
    return centre, out["errp"], out["errn"]


# ------------------------------------------------------------ the core
def run_case(name, n=2000, seed=0, method="batched", check=10):
    """Simulate ``n`` datasets of case ``name``, fit them and measure coverage.

    ``method``: "batched" (:func:`batched_confidence`, all pixels at once;
    then ``confidence`` itself is run on the first ``check`` pixels and the
    largest difference of the interval ends, in units of the std, is
    reported) or "confidence" (``swiftfit.stats.confidence`` pixel by pixel:
    slow for ML-poisson, whose re-optimisations are damped-Newton solves).

    Returns a list of rows (one per parameter of interest), each a dict with
    ``case``, ``parameter``, ``N``, ``failures``, ``profile`` and
    ``covariance`` (coverage fractions over the non-failed datasets),
    ``profile_se`` (binomial standard error), ``asymmetry`` (median
    errp/|errn|), ``check`` (max |Δ end|/std against ``confidence``, NaN when
    not checked) and ``fit_s``/``interval_s`` (seconds for the case).
    """
    case_index = list(CASES).index(name)
    rng = np.random.default_rng([seed, case_index])
    m, loss, targets = CASES[name](n, rng)

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # refit_failed=False: neighbouring pixels are unrelated datasets
        m.multifit(loss_function=loss, refit_failed=False)
    fit_s = time.perf_counter() - t0
    fitted = np.asarray(m.multifit_output.success.data, dtype=bool).reshape(n)

    k = len(targets)
    best = np.stack([np.asarray(p.map["values"], dtype=float).reshape(n) for _, p, _ in targets], axis=1)
    std = np.stack([np.asarray(p.map["std"], dtype=float).reshape(n) for _, p, _ in targets], axis=1)
    errp = np.full((n, k), np.nan)
    errn = np.full((n, k), np.nan)
    check_dev = np.full(k, np.nan)

    def one(i, p):
        m.axes_manager.indices = (i,)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return confidence(m, p, sigma=1, loss_function=loss)

    t0 = time.perf_counter()
    if method == "batched":
        for j, (_, p, _) in enumerate(targets):
            _, errp[:, j], errn[:, j] = batched_confidence(m, p, loss, sigma=1.0)
        interval_s = time.perf_counter() - t0
        for j, (_, p, _) in enumerate(targets):
            dev = []
            for i in np.flatnonzero(fitted)[:check]:
                r = one(i, p)
                dev += [abs(r["errp"] - errp[i, j]) / std[i, j], abs(r["errn"] - errn[i, j]) / std[i, j]]
            if dev:
                check_dev[j] = np.nanmax(dev) if not np.isnan(dev).all() else np.nan
    elif method == "confidence":
        for i in np.flatnonzero(fitted):
            for j, (_, p, _) in enumerate(targets):
                try:
                    r = one(i, p)
                except Exception:  # noqa: BLE001, S112 - counted as a failure
                    continue
                errp[i, j], errn[i, j] = r["errp"], r["errn"]
        interval_s = time.perf_counter() - t0
    else:
        raise ValueError(f"method must be 'batched' or 'confidence', got {method!r}")

    rows = []
    for j, (label, _, truth) in enumerate(targets):
        good = fitted & np.isfinite(errp[:, j]) & np.isfinite(errn[:, j])
        n_ok = int(good.sum())
        b = best[good, j]
        prof = (b + errn[good, j] <= truth) & (truth <= b + errp[good, j])
        cov = np.abs(b - truth) <= std[good, j]  # NaN std: not covered
        p_prof = prof.mean() if n_ok else np.nan
        rows.append({
            "case": name, "parameter": label, "N": n, "failures": n - n_ok,
            "profile": float(p_prof),
            "profile_se": float(math.sqrt(p_prof * (1 - p_prof) / n_ok)) if n_ok else np.nan,
            "covariance": float(cov.mean()) if n_ok else np.nan,
            "asymmetry": float(np.median(errp[good, j] / np.abs(errn[good, j]))) if n_ok else np.nan,
            "check": float(check_dev[j]), "fit_s": fit_s, "interval_s": interval_s,
        })
    return rows


def run(n=2000, seed=0, cases=None, method="batched", check=10):
    """Rows of every case in ``cases`` (default all), see :func:`run_case`."""
    rows = []
    for name in cases or CASES:
        rows.extend(run_case(name, n=n, seed=seed, method=method, check=check))
    return rows


# -------------------------------------------------------------- output
def machine_line():
    import numpy

    return (f"machine: {platform.machine()} {platform.processor() or ''}".rstrip()
            + f", {os.cpu_count()} cores, {platform.system()}, python {platform.python_version()}, "
            f"numpy {numpy.__version__}, swiftfit {getattr(hs, '__version__', '?')}")


def format_table(rows):
    head = (f"{'case':<13} {'param':<7} {'N':>5}  {'profile cov. %':>15}  {'covar. cov. %':>13}  "
            f"{'asym errp/|errn|':>16}  {'failures':>8}  {'in 68.3±2':>9}  {'Δ vs confidence':>15}  {'time s':>7}")
    lines = [head, "-" * len(head)]
    seen = set()
    for r in rows:
        meets = abs(r["profile"] - TARGET) <= TOLERANCE
        t = "" if r["case"] in seen else f"{r['fit_s'] + r['interval_s']:7.1f}"
        seen.add(r["case"])
        lines.append(
            f"{r['case']:<13} {r['parameter']:<7} {r['N']:>5}  "
            f"{100 * r['profile']:>8.1f} ± {100 * r['profile_se']:3.1f}  {100 * r['covariance']:>13.1f}  "
            f"{r['asymmetry']:>16.2f}  {r['failures']:>8}  {'yes' if meets else 'NO':>9}  "
            f"{r['check']:>15.1e}  {t:>7}"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="datasets per case (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--case", action="append", choices=list(CASES),
                        help="run only this case (repeatable; default all)")
    parser.add_argument("--method", choices=("batched", "confidence"), default="batched",
                        help="batched profile intervals (default) or confidence() pixel by pixel (slow)")
    parser.add_argument("--check", type=int, default=10,
                        help="batched: pixels per case re-done with confidence() to compare (default 10)")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    print(machine_line())
    print(f"N = {args.n} datasets per case, seed {args.seed}, intervals: {args.method}; target: profile "
          f"coverage {100 * TARGET:.1f} ± {100 * TOLERANCE:.0f} %")
    t0 = time.perf_counter()
    rows = []
    for name in args.case or CASES:
        rows.extend(run_case(name, n=args.n, seed=args.seed, method=args.method, check=args.check))
        r = rows[-1]
        print(f"  {name}: multifit {r['fit_s']:.1f} s, intervals {r['interval_s']:.1f} s", flush=True)
    print()
    print(format_table(rows))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return rows


if __name__ == "__main__":
    main()
