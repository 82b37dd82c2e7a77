"""One LM (issue 15, item 7): the step logic of Levenberg–Marquardt is one set
of functions (:mod:`swiftfit.optimizers._lm_rules`), used by the NumPy LM, by
damped Newton and by the JAX engine (``xp=jax.numpy``); the numba kernel's
scalar copies are held to them piece by piece.

The truth for every piece is the NumPy function on the same inputs: seeded
random states (2000 per piece) plus the edge cases a fit meets — exact
thresholds (ρ = 1e-4, 0.25, 0.75, 2), a refused trial (ρ = actual = −∞), a
step of length 0, a cost of 0, ``λ = 0`` (Gauss–Newton), NaN ratios — must
give the same radius (exactly: the same operations), the same accept
decision and the same convergence verdicts.
"""

from __future__ import annotations

import numpy as np
import pytest

from swiftfit.optimizers import _lm_rules as rules
from swiftfit.optimizers import damped_newton, lm

M = 2000


def _states(seed=0):
    """Random states with the edge cases mixed in (1 in 4 entries)."""
    rng = np.random.default_rng(seed)

    def mix(values, edges):
        pick = rng.random(M) < 0.25
        return np.where(pick, rng.choice(np.asarray(edges, float), M), values)

    logn = lambda: np.exp(rng.normal(0, 3, M))  # noqa: E731 - scales over ~8 decades
    pred = mix(logn() * rng.choice([-1.0, 1.0], M, p=[0.1, 0.9]), [0.0, -0.0, 1e-300])
    rho = mix(rng.uniform(-2, 3, M), [1e-4, 0.25, 0.75, 2.0, -np.inf, np.nan, 0.0, 1.0])
    with np.errstate(invalid="ignore"):  # -inf·0: NaN, one more edge case
        actual = mix(rho * np.abs(pred), [-np.inf, 0.0, -1e-20, 1e-20])
    st = dict(
        rho=rho, pred=pred, actual=actual,
        delta=logn(), pn=mix(logn(), [0.0]), lam_step=mix(logn(), [0.0]),
        first=rng.random(M) < 0.3, finite=rng.random(M) < 0.9, polish=rng.random(M) < 0.4,
        noise=mix(logn() * 1e-12, [0.0]), cost=mix(logn(), [0.0]),
        zn=mix(logn() * 1e-8, [0.0, np.inf]), gain=mix(logn() * 1e-10, [0.0]), xn=mix(logn(), [0.0]),
        xnorm=mix(logn(), [0.0]), located=rng.integers(0, 6, M),
        zlast=mix(logn() * 1e-8, [np.inf]), ftol=mix(10.0 ** rng.uniform(-15, -2, M), [0.0, 1e-12]),
        xtol=mix(10.0 ** rng.uniform(-15, -2, M), [0.0, 1e-10]),
    )
    # ties of the tests: a step exactly at xtol·‖Dθ‖, a gain exactly at ftol·cost
    tie = rng.random(M) < 0.05
    st["pn"] = np.where(tie, st["xtol"] * np.maximum(st["xnorm"], st["xtol"]), st["pn"])
    st["zn"] = np.where(tie, st["xtol"] * np.maximum(st["xn"], st["xtol"]), st["zn"])
    st["gain"] = np.where(tie, st["ftol"] * st["cost"], st["gain"])
    return st


# ---------------------------------------------------------------- the NumPy rules themselves
def test_rules_by_hand():
    """MINPACK's rules on hand-made states (the truth written out)."""
    rho = rules.gain_ratio(np.array([1.0, 0.5, 1.0, -np.inf, 1.0]), np.array([2.0, 0.0, -1.0, 1.0, np.nan]))
    np.testing.assert_array_equal(rho, [0.5, -np.inf, -np.inf, -np.inf, -np.inf])
    # accepted: above 1e-4, or (polishing) not measurably worse
    acc = rules.accepted(np.array([2e-4, 1e-4, -1.0, -1.0, 5.0]), np.array([True, True, True, True, False]),
                         np.array([False, False, True, True, False]), np.array([0, 0, -1e-13, -1e-11, 0.0]),
                         np.full(5, 1e-12))
    np.testing.assert_array_equal(acc, [True, False, True, False, False])
    # radius: poor → half (≤ 5 pn); good or Gauss-Newton → ≥ 2 pn; first step ≤ pn
    rad = rules.trust_radius(np.array([4.0, 4.0, 4.0, 4.0, 4.0, 4.0]), np.array([1.0, 0.1, 3.0, 3.0, 1.0, 1.0]),
                             np.array([0.1, 0.1, 0.8, 0.5, 0.5, 0.5]), np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0]),
                             np.array([False, False, False, False, False, True]))
    np.testing.assert_array_equal(rad, [2.0, 0.5, 6.0, 4.0, 4.0, 1.0])
    lam, nu = rules.nielsen(np.array([1.0, 1.0]), np.array([2.0, 4.0]), np.array([1.0, -np.inf]),
                            np.array([True, False]))
    np.testing.assert_array_equal(lam, [1 / 3, 4.0])
    np.testing.assert_array_equal(nu, [2.0, 8.0])
    np.testing.assert_array_equal(rules.polish_code(np.array([True, True, False]), np.array([True, False, True])),
                                  [3, 1, 2])
    hit = rules.gradient_test(np.array([[3.0, 0.0], [3.0, 4.0]]), np.array([[1.0, 1.0], [5.0, 5.0]]),
                              np.array([9.0, 25.0]), np.zeros((2, 2), bool), 0.9)
    np.testing.assert_array_equal(hit, [False, True])  # cosines 1.0 and 0.8


def test_the_numpy_solvers_use_the_rules_not_copies():
    """lm.py and damped_newton.py keep no private copy of the step logic."""
    import inspect

    for module in (lm, damped_newton):
        src = inspect.getsource(module)
        assert "_lm_rules" in src
        for copy in ("rho > 1e-4", "rho < 0.25", "(2 * np.minimum(rho, 1.0) - 1) ** 3", "xtol * np.maximum("):
            assert copy not in src, (module.__name__, copy)


# ---------------------------------------------------------------- numba's scalar copies
lm_rules = pytest.importorskip("swiftfit.engines.numba.lm_rules")


def _scalar(fn, *cols):
    return np.array([fn(*(c[i].item() if hasattr(c[i], "item") else c[i] for c in cols)) for i in range(M)])


def test_numba_gain_ratio_and_accept_match():
    s = _states(1)
    want = rules.gain_ratio(s["actual"], s["pred"])
    got = _scalar(lm_rules._gain_ratio, s["actual"], s["pred"])
    np.testing.assert_array_equal(got, want)
    want = rules.accepted(s["rho"], s["finite"], s["polish"], s["actual"], s["noise"])
    got = _scalar(lm_rules._accept, s["finite"], s["rho"], s["polish"], s["actual"], s["noise"])
    np.testing.assert_array_equal(got, want)


def test_numba_radius_update_matches():
    s = _states(2)
    want = rules.trust_radius(s["delta"], s["pn"], s["rho"], s["lam_step"], s["first"])
    got = _scalar(lm_rules._radius_update, s["delta"], s["pn"], s["rho"], s["lam_step"], s["first"])
    np.testing.assert_array_equal(got, want)  # exactly: the same operations in the same order


def test_numba_convergence_verdicts_match():
    s = _states(3)
    x_ok, f_ok = rules.point_tests(s["zn"], s["gain"], s["xn"], s["cost"], s["noise"], s["ftol"], s["xtol"])
    got = _scalar(lm_rules._point_tests, s["zn"], s["gain"], s["xn"], s["cost"], s["noise"], s["ftol"], s["xtol"])
    np.testing.assert_array_equal(got, np.stack([x_ok, f_ok], -1))
    f2, x2 = rules.step_tests(s["actual"], s["pred"], s["rho"], s["cost"], s["noise"], s["pn"], s["xnorm"],
                              s["ftol"], s["xtol"])
    got = _scalar(lm_rules._step_tests, s["actual"], s["pred"], s["rho"], s["cost"], s["noise"], s["pn"],
                  s["xnorm"], s["ftol"], s["xtol"])
    np.testing.assert_array_equal(got, np.stack([f2, x2], -1))
    ends = rules.polish_ends(x_ok, s["gain"], s["cost"], s["ftol"], s["located"], s["zn"], s["zlast"])
    got = _scalar(lm_rules._polish_ends, x_ok, s["gain"], s["cost"], s["ftol"], s["located"], s["zn"], s["zlast"])
    np.testing.assert_array_equal(got, ends)
    np.testing.assert_array_equal(_scalar(lm_rules._polish_code, f_ok, x_ok), rules.polish_code(f_ok, x_ok))
    # the states are not degenerate: every verdict occurs both ways
    for v in (x_ok, f_ok, f2, x2, ends):
        assert 0.05 < v.mean() < 0.95


# ---------------------------------------------------------------- JAX: the same functions in jax.numpy
def test_jax_evaluates_the_rules_as_numpy():
    pytest.importorskip("jax")
    from swiftfit.engines import enable_jax

    enable_jax("float64")
    import jax
    import jax.numpy as jnp

    s = _states(4)

    @jax.jit
    def pieces(s):
        rho = rules.gain_ratio(s["actual"], s["pred"], xp=jnp)
        x_ok, f_ok = rules.point_tests(s["zn"], s["gain"], s["xn"], s["cost"], s["noise"], s["ftol"], s["xtol"],
                                       xp=jnp)
        f2, x2 = rules.step_tests(s["actual"], s["pred"], s["rho"], s["cost"], s["noise"], s["pn"], s["xnorm"],
                                  s["ftol"], s["xtol"], xp=jnp)
        return dict(
            rho=rho, accept=rules.accepted(s["rho"], s["finite"], s["polish"], s["actual"], s["noise"]),
            radius=rules.trust_radius(s["delta"], s["pn"], s["rho"], s["lam_step"], s["first"], xp=jnp),
            x_ok=x_ok, f_ok=f_ok, f2=f2, x2=x2, code=rules.polish_code(f_ok, x_ok, xp=jnp),
            ends=rules.polish_ends(x_ok, s["gain"], s["cost"], s["ftol"], s["located"], s["zn"], s["zlast"]),
        )

    got = {k: np.asarray(v) for k, v in pieces({k: jnp.asarray(v) for k, v in s.items()}).items()}
    rho = rules.gain_ratio(s["actual"], s["pred"])
    x_ok, f_ok = rules.point_tests(s["zn"], s["gain"], s["xn"], s["cost"], s["noise"], s["ftol"], s["xtol"])
    f2, x2 = rules.step_tests(s["actual"], s["pred"], s["rho"], s["cost"], s["noise"], s["pn"], s["xnorm"],
                              s["ftol"], s["xtol"])
    np.testing.assert_array_equal(got["rho"], rho)
    np.testing.assert_array_equal(got["accept"], rules.accepted(s["rho"], s["finite"], s["polish"], s["actual"],
                                                                s["noise"]))
    np.testing.assert_array_equal(got["radius"], rules.trust_radius(s["delta"], s["pn"], s["rho"], s["lam_step"],
                                                                    s["first"]))
    for k, v in dict(x_ok=x_ok, f_ok=f_ok, f2=f2, x2=x2, code=rules.polish_code(f_ok, x_ok),
                     ends=rules.polish_ends(x_ok, s["gain"], s["cost"], s["ftol"], s["located"], s["zn"],
                                            s["zlast"])).items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_jax_lm_calls_the_rules():
    pytest.importorskip("jax")
    import inspect

    from swiftfit.engines.jax import lm as jax_lm

    src = inspect.getsource(jax_lm)
    for name in ("gain_ratio", "accepted", "trust_radius", "point_tests", "step_tests", "polish_code",
                 "polish_ends", "gradient_test", "first_radius"):
        assert f"rules.{name}(" in src, name
    assert "rho < 0.25" not in src and "rho > 1e-4" not in src
