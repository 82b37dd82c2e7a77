"""The function API (swiftfit.lmfit_api): Parameters, minimize, fit_report.

Truth: closed-form ordinary least squares, conditional least squares at a
bound, exact propagation through expressions, and lmfit (run here, when
installed) on an unbounded nonlinear fit.
"""

import math
import pickle

import numpy as np
import pytest

from swiftfit.errors import ExpressionError, OptimizerError
from swiftfit.lmfit_api import (
    MinimizerResult,
    Parameter,
    Parameters,
    fit_report,
    minimize,
)
from swiftfit.lmfit_api.minimizer import ResidualProblem
from swiftfit.lmfit_api.report import gformat


# ------------------------------------------------------------------ data
def line_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, n)
    y = 2.5 * x - 1 + rng.normal(scale=0.3, size=n)
    return x, y


def line_residual(p, x, y):
    return p["m"] * x + p["b"] - y


def ols(x, y):
    X = np.stack([x, np.ones_like(x)], 1)
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    r = y - X @ beta
    s2 = r @ r / (x.size - 2)
    return beta, np.linalg.inv(X.T @ X), s2, r @ r


def line_params(**bounds):
    p = Parameters()
    p.add("m", 1.0, **bounds.get("m", {}))
    p.add("b", 0.0, **bounds.get("b", {}))
    return p


def decay_data(seed=1):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 5, 60)
    y = 3.0 * np.exp(-t / 1.3) + 0.4 + rng.normal(scale=0.05, size=t.size)
    return t, y


def decay_residual(p, t, y):
    return p["amp"] * np.exp(-t / p["tau"]) + p["off"] - y


def decay_params():
    p = Parameters()
    p.add("amp", 1.0)
    p.add("tau", 0.5, min=0.01)
    p.add("off", 0.0)
    return p


# --------------------------------------------------------- closed form
def test_linear_regression_equals_ols():
    x, y = line_data()
    beta, xtx_inv, s2, rss = ols(x, y)
    out = minimize(line_residual, line_params(), args=(x, y))
    assert isinstance(out, MinimizerResult) and out.success
    values = [out.params["m"].value, out.params["b"].value]
    np.testing.assert_allclose(values, beta, rtol=1e-8)
    np.testing.assert_allclose([out.params["m"].stderr, out.params["b"].stderr],
                               np.sqrt(np.diag(s2 * xtx_inv)), rtol=1e-8)
    np.testing.assert_allclose(out.covar, s2 * xtx_inv, rtol=1e-8)
    c = xtx_inv[0, 1] / np.sqrt(xtx_inv[0, 0] * xtx_inv[1, 1])
    assert out.params["m"].correl == {"b": pytest.approx(c, abs=1e-10)}
    assert out.params["b"].correl == {"m": pytest.approx(c, abs=1e-10)}
    n, k = x.size, 2
    assert out.chisqr == pytest.approx(rss, rel=1e-12)
    assert out.redchi == pytest.approx(rss / (n - k), rel=1e-12)
    assert out.aic == pytest.approx(n * math.log(rss / n) + 2 * k, rel=1e-12)
    assert out.bic == pytest.approx(n * math.log(rss / n) + math.log(n) * k, rel=1e-12)
    assert (out.ndata, out.nvarys, out.nfree) == (n, k, n - k)
    assert out.errorbars and out.var_names == ["m", "b"] and out.init_vals == [1.0, 0.0]
    np.testing.assert_allclose(out.residual, line_residual(out.params, x, y))
    assert out.params["m"].init_value == 1.0


def test_scale_covar_false_gives_unscaled_covariance():
    x, y = line_data()
    _, xtx_inv, _, _ = ols(x, y)
    out = minimize(line_residual, line_params(), args=(x, y), scale_covar=False)
    np.testing.assert_allclose(out.covar, xtx_inv, rtol=1e-8)


@pytest.mark.parametrize("method", ["lstsq", "least_squares", "trf", "dogbox", "BFGS", "trust-exact"])
def test_linear_regression_other_methods(method):
    x, y = line_data()
    beta, xtx_inv, s2, _ = ols(x, y)
    out = minimize(line_residual, line_params(), args=(x, y), method=method)
    assert out.success, out.message
    np.testing.assert_allclose([out.params["m"].value, out.params["b"].value], beta, rtol=1e-7)
    np.testing.assert_allclose([out.params["m"].stderr, out.params["b"].stderr],
                               np.sqrt(np.diag(s2 * xtx_inv)), rtol=1e-7)


def test_bounded_fit_pegs_at_the_bound():
    x, y = line_data()  # the free slope is 2.5; cap it at 2
    for method in ("leastsq", "least_squares", "L-BFGS-B"):
        out = minimize(line_residual, line_params(m={"max": 2.0}), args=(x, y), method=method)
        assert out.success, (method, out.message)
        assert out.params["m"].value == pytest.approx(2.0, abs=1e-9), method
        # the intercept is the least-squares one given the slope
        assert out.params["b"].value == pytest.approx(np.mean(y - 2.0 * x), abs=1e-7), method
    out = minimize(line_residual, line_params(m={"max": 2.0}), args=(x, y))
    assert out.params["m"].value == 2.0  # projected: exactly on the bound
    assert "m" in fit_report(out)


def test_start_outside_bounds_is_clipped():
    x, y = line_data()
    p = line_params(m={"min": 0, "max": 2.0})
    p["m"].value = 7.0
    assert p["m"].value == 2.0
    out = minimize(line_residual, p, args=(x, y))
    assert out.init_vals[0] == 2.0


# ---------------------------------------------------------- expressions
def test_expr_with_function_and_propagated_error():
    rng = np.random.default_rng(4)
    x = np.linspace(0, 1, 50)
    y = 1.5 * x + rng.normal(scale=0.05, size=x.size)
    p = Parameters()
    p.add("a", 0.3)
    p.add("c", expr="2*sin(a)")
    assert p["c"].value == pytest.approx(2 * math.sin(0.3))
    assert not p["c"].vary
    out = minimize(lambda p, x, y: p["c"] * x - y, p, args=(x, y))
    assert out.success and out.var_names == ["a"]
    c_ols = float(x @ y / (x @ x))
    assert out.params["c"].value == pytest.approx(c_ols, rel=1e-9)
    assert out.params["a"].value == pytest.approx(math.asin(c_ols / 2), rel=1e-9)
    # stderr through the gradient of the expression: |dc/da| * stderr(a)
    a = out.params["a"]
    dc = abs(2 * math.cos(a.value))
    assert out.params["c"].stderr == pytest.approx(dc * a.stderr, rel=1e-9)
    s2 = out.chisqr / (x.size - 1)
    assert out.params["c"].stderr == pytest.approx(math.sqrt(s2 / (x @ x)), rel=1e-6)
    assert out.params["c"].correl == {"a": pytest.approx(1.0)}
    assert "== '2*sin(a)'" in fit_report(out)


def test_nested_expressions_in_dependency_order():
    p = Parameters()
    p.add_many(("u", 1.0), ("w", None, False, None, None, "v + 1"), ("v", None, False, None, None, "2*u"))
    assert p.valuesdict() == {"u": 1.0, "w": 3.0, "v": 2.0}
    p["u"].value = 5
    assert p["w"].value == 11.0
    x = np.arange(5.0)
    out = minimize(lambda p, x: p["w"] * x - 7 * x, p, args=(x,))
    assert out.params["u"].value == pytest.approx(3.0, rel=1e-10)
    assert out.params["w"].value == pytest.approx(7.0, rel=1e-10)


def test_expr_bounds_clip_the_value():
    p = Parameters()
    p.add("f", 1.0)
    p.add("g", expr="2*f", min=0, max=3)
    p["f"].value = 2.5
    assert p["g"].value == 3.0


# ------------------------------------------------------------ nan_policy
def test_nan_policy():
    x, y = line_data()
    y = y.copy()
    y[[3, 17]] = np.nan
    with pytest.raises(ValueError, match="non-finite residual.*nan_policy='omit'"):
        minimize(line_residual, line_params(), args=(x, y))
    out = minimize(line_residual, line_params(), args=(x, y), nan_policy="omit")
    keep = np.isfinite(y)
    beta, xtx_inv, s2, _ = ols(x[keep], y[keep])
    assert out.success and out.ndata == keep.sum()
    np.testing.assert_allclose([out.params["m"].value, out.params["b"].value], beta, rtol=1e-8)
    np.testing.assert_allclose(out.params["m"].stderr, np.sqrt(s2 * xtx_inv[0, 0]), rtol=1e-8)
    assert out.residual.shape == (keep.sum(),)
    out = minimize(line_residual, line_params(), args=(x, y), nan_policy="propagate")
    assert not out.success and "non-finite" in out.message
    assert not out.errorbars and out.params["m"].stderr is None


def test_nan_at_trial_points_is_a_rejected_step():
    x = np.linspace(0, 1, 30)
    y = 3 * x + 0.01 * np.sin(20 * x)
    hits = []

    def residual(p, x, y):
        if 1.9 < p["a"].value < 2.1:  # the first trial step lands where the user's model breaks
            hits.append(p["a"].value)
            return np.full(x.size, np.nan)
        return p["a"] * x - y

    p = Parameters()
    p.add("a", 1.0)
    for method in ("leastsq", "least_squares"):
        hits.clear()
        out = minimize(residual, p, args=(x, y), method=method)
        assert hits, method
        assert out.success, (method, out.message)
        assert out.params["a"].value == pytest.approx(float(x @ y / (x @ x)), rel=1e-9), method


# ------------------------------------------------------------ methods
def test_nelder_mead_and_least_squares_agree_with_leastsq():
    t, y = decay_data()
    ref = minimize(decay_residual, decay_params(), args=(t, y))
    assert ref.success
    for method, kws in (("Nelder-Mead", {"xatol": 1e-10, "fatol": 1e-14}), ("nelder", {"xatol": 1e-10, "fatol": 1e-14}),
                        ("least_squares", {}), ("L-BFGS-B", {"ftol": 1e-15, "gtol": 1e-12})):
        out = minimize(decay_residual, decay_params(), args=(t, y), method=method, **kws)
        assert out.success, (method, out.message)
        for name in ("amp", "tau", "off"):
            assert out.params[name].value == pytest.approx(ref.params[name].value, rel=1e-6), (method, name)
            assert out.params[name].stderr == pytest.approx(ref.params[name].stderr, rel=1e-5), (method, name)
        assert out.chisqr == pytest.approx(ref.chisqr, rel=1e-9)
        assert out.method == method


def test_differential_evolution_on_a_box():
    t, y = decay_data()
    p = Parameters()
    p.add("amp", 1.0, min=0, max=10)
    p.add("tau", 0.5, min=0.01, max=10)
    p.add("off", 0.0, min=-5, max=5)
    out = minimize(decay_residual, p, args=(t, y), method="differential_evolution", seed=2)
    ref = minimize(decay_residual, decay_params(), args=(t, y))
    assert out.success, out.message
    assert out.params["tau"].value == pytest.approx(ref.params["tau"].value, rel=1e-5)


def test_matches_lmfit_unbounded():
    lmfit = pytest.importorskip("lmfit")
    t, y = decay_data()
    out = minimize(decay_residual, decay_params(), args=(t, y))
    lp = lmfit.Parameters()
    lp.add("amp", 1.0)
    lp.add("tau", 0.5, min=0.01)
    lp.add("off", 0.0)
    ref = lmfit.minimize(decay_residual, lp, args=(t, y), xtol=1e-12, ftol=1e-12, epsfcn=1e-12)
    for name in ("amp", "tau", "off"):
        assert out.params[name].value == pytest.approx(ref.params[name].value, rel=1e-6)
        assert out.params[name].stderr == pytest.approx(ref.params[name].stderr, rel=1e-4)
    for attr in ("chisqr", "redchi", "aic", "bic"):
        assert getattr(out, attr) == pytest.approx(getattr(ref, attr), rel=1e-9), attr
    assert (out.nfree, out.ndata, out.nvarys) == (ref.nfree, ref.ndata, ref.nvarys)


def test_nfev_counts_calls_and_max_nfev_aborts():
    t, y = decay_data()
    calls = []

    def residual(p, t, y):
        calls.append(1)
        return decay_residual(p, t, y)

    out = minimize(residual, decay_params(), args=(t, y))
    assert out.nfev > 0
    # the starting evaluation and the final one (plus the covariance) are not the solver's
    assert out.nfev < len(calls)
    out = minimize(decay_residual, decay_params(), args=(t, y), max_nfev=5)
    assert out.aborted and not out.success and out.nfev == 5
    assert "max_nfev=5" in out.message and out.params["amp"].stderr is None
    assert np.isfinite(out.chisqr)


def test_kws_complex_and_shaped_residuals():
    x, y = line_data()

    def residual(p, x, *, y):
        r = line_residual(p, x, y)
        return (r[:20] + 1j * r[20:]).reshape(4, 5)

    out = minimize(residual, line_params(), args=(x,), kws={"y": y})
    beta, *_ = ols(x, y)
    np.testing.assert_allclose([out.params["m"].value, out.params["b"].value], beta, rtol=1e-8)
    assert out.ndata == 40


def test_fixed_only_parameters():
    x, y = line_data()
    p = line_params()
    p["m"].vary = False
    p["b"].vary = False
    out = minimize(line_residual, p, args=(x, y))
    assert out.success and out.nvarys == 0 and out.covar is None
    assert out.chisqr == pytest.approx(float(np.sum(line_residual(p, x, y) ** 2)))


def test_singular_problem_has_no_errorbars():
    x, y = line_data()
    p = Parameters()
    p.add("a", 1.0)
    p.add("b", 2.0)
    out = minimize(lambda p, x, y: (p["a"] + p["b"]) * x - y, p, args=(x, y))
    assert not out.errorbars and out.covar is None
    assert not out.success and out.status == -3 and "not determined" in out.message
    assert out.params["a"].stderr is None
    assert (out.params["a"].value + out.params["b"].value) == pytest.approx(float(x @ y / (x @ x)), rel=1e-8)
    assert "uncertainties could not be estimated" in fit_report(out)


# --------------------------------------------------------------- bad input
def test_bad_inputs_name_the_problem():
    p = Parameters()
    with pytest.raises(ValueError, match="'c'.*larger than max"):
        p.add("c", 1.0, min=3, max=2)
    with pytest.raises(ValueError, match="'d'.*finite"):
        p.add("d", np.nan)
    with pytest.raises(ValueError, match="'d'.*finite"):
        p.add("d", np.inf)
    p.add("a", 1.0)
    with pytest.raises(ValueError, match=r"unknown name\(s\) \['zz'\]"):
        p.add("q", expr="zz + a")
    assert "q" not in p
    p.add("f", expr="a * 2")
    with pytest.raises(ValueError, match="cycle: a -> f -> a"):
        p["a"].expr = "f"
    assert p["a"].expr is None and p["a"].vary
    with pytest.raises(ValueError, match="'1x'"):
        p.add("1x", 1.0)
    with pytest.raises(ValueError, match="'lambda'.*keyword"):
        p.add("lambda", 1.0)
    with pytest.raises(ValueError, match="'sin' is reserved"):
        p.add("sin", 1.0)
    with pytest.raises(ValueError, match="'pi' is reserved"):
        p.add("pi", 1.0)
    with pytest.raises(ValueError, match="'a.b'"):
        p.add("a.b", 1.0)
    with pytest.raises(ExpressionError, match="not allowed"):
        p.add("g", expr="__import__('os').system('true')")
    with pytest.raises(ValueError, match="does not parse"):
        p.add("g", expr="a +")
    with pytest.raises(ValueError, match="'h' needs a value"):
        p.add("h")
    with pytest.raises(ValueError, match="min == max"):
        p.add("k", 1.0, min=1, max=1)
    with pytest.raises(ValueError, match="cannot remove 'a'"):
        del p["a"]
    with pytest.raises(TypeError):
        p["z"] = 3.0
    with pytest.raises(TypeError, match="real number"):
        p.add("z", np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="real number"):
        p.add("z", "1.0")
    p["a"].min = 0
    with pytest.raises(ValueError, match="'a'.*larger than max"):
        p["a"].max = -1
    assert p["a"].max == np.inf


def test_minimize_bad_arguments():
    x, y = line_data()
    with pytest.raises(TypeError, match="callable"):
        minimize(None, line_params())
    with pytest.raises(TypeError, match="Parameters"):
        minimize(line_residual, {"m": 1.0})
    with pytest.raises(ValueError, match="nan_policy"):
        minimize(line_residual, line_params(), args=(x, y), nan_policy="ignore")
    with pytest.raises(ValueError, match="optimizer"):
        minimize(line_residual, line_params(), args=(x, y), method="no-such-method")
    with pytest.raises(OptimizerError, match="'brute' is not available"):
        minimize(line_residual, line_params(), args=(x, y), method="brute")
    with pytest.raises(ValueError, match="scalar"):
        minimize(lambda p: p["m"] ** 2, line_params())
    with pytest.raises(OptimizerError, match="does not support bounds.*'m'"):
        minimize(line_residual, line_params(m={"min": 0}), args=(x, y), method="BFGS")
    with pytest.raises(OptimizerError, match="finite min and max.*'b'"):
        minimize(line_residual, line_params(m={"min": 0, "max": 5}), args=(x, y), method="differential_evolution")
    with pytest.raises(ValueError, match="max_nfev"):
        minimize(line_residual, line_params(), args=(x, y), max_nfev=0)
    with pytest.raises(OptimizerError, match="odr"):
        minimize(line_residual, line_params(), args=(x, y), method="odr")
    sizes = iter([40, 40, 39] + [40] * 100)

    def changing(p, x, y):
        return line_residual(p, x, y)[: next(sizes)]

    with pytest.raises(ValueError, match="number of residuals must not change"):
        minimize(changing, line_params(), args=(x, y))


# -------------------------------------------------------------- Parameters
def test_parameter_is_a_number():
    p = Parameters()
    p.add("amp", 2.0)
    a = p["amp"]
    x = np.linspace(0, 1, 3)
    assert float(a) == 2.0 and int(a) == 2
    assert a * 3 == 6 and 3 * a == 6 and a + 1 == 3 and 1 + a == 3 and a - 1 == 1 and 1 - a == -1
    assert a / 4 == 0.5 and 4 / a == 2 and a**2 == 4 and 2**a == 4 and -a == -2 and abs(-a) == 2
    assert a // 3 == 0 and a % 3 == 2
    assert a > 1 and a >= 2 and a < 3 and a <= 2 and a == 2.0 and a != 3
    np.testing.assert_allclose(a * np.exp(-x), 2 * np.exp(-x))
    np.testing.assert_allclose(x - a, x - 2)
    np.testing.assert_allclose(np.exp(a), math.exp(2))
    assert isinstance(x * a, np.ndarray)


def test_parameters_dict_behaviour_copy_and_pickle():
    p = Parameters()
    p.add_many(("a", 1.0, True, 0, 10, None, None), ("b", 2.0, False), ("c", None, False, None, None, "a + b", 0.1))
    assert list(p) == ["a", "b", "c"] and isinstance(p, dict)
    assert p.valuesdict() == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert [n for n in p] == ["a", "b", "c"]
    assert p["c"].brute_step == 0.1 and p["a"].min == 0 and p["a"].max == 10 and not p["b"].vary
    q = p.copy()
    q["a"].value = 5
    assert p["c"].value == 3.0 and q["c"].value == 7.0
    r = pickle.loads(pickle.dumps(p))
    assert r == p and r["c"].value == 3.0
    r["a"].value = 2
    assert r["c"].value == 4.0
    p["a"].user_data = {"note": 1}
    assert p.copy()["a"].user_data == {"note": 1}
    p["a"].set(value=4, min=1, max=5)
    assert (p["a"].value, p["a"].min, p["a"].max) == (4, 1, 5)
    p["c"].vary = True  # varying removes the expression (lmfit's rule)
    assert p["c"].expr is None
    p["c"].set(expr="2*a")
    assert not p["c"].vary and p["c"].value == 8.0
    p["c"].set(expr="")
    assert p["c"].expr is None
    standalone = Parameter("s", 1.5, min=0)
    p.add(standalone)
    assert p["s"] is standalone and p["s"].value == 1.5
    assert repr(p["a"]) == "<Parameter 'a', value=4, bounds=[1:5]>"
    assert repr(p["b"]) == "<Parameter 'b', value=2 (fixed), bounds=[-inf:inf]>"


def test_pretty_table():
    p = Parameters()
    p.add("cen_1", 0.5, min=0, max=2)
    p.add("cen_2", 0.5, min=0, max=2, expr="cen_1")
    table = repr(p)
    lines = table.splitlines()
    assert lines[0].split() == ["Name", "Value", "Init", "value", "Min", "Max", "Vary", "Expr"]
    assert lines[1].split() == ["cen_1", "0.5", "0.5", "0", "2", "True"]
    assert lines[2].split() == ["cen_2", "0.5", "0.5", "0", "2", "False", "cen_1"]
    assert str(p) == table
    assert "<table>" in p._repr_html_()
    x = np.linspace(0, 1, 20)
    out = minimize(lambda p, x: p["cen_2"] * x - 0.7 * x + 0.01 * np.sin(40 * x), p, args=(x,))
    assert out.params.pretty_repr().splitlines()[0].split()[:3] == ["Name", "Value", "Stderr"]


# ---------------------------------------------------------------- report
def test_gformat():
    assert gformat(73.463189) == " 73.4631890"
    assert gformat(0.24902776) == " 0.24902776"
    assert gformat(-412.0994073) == "-412.099407"
    assert gformat(3.24217e-07) == " 3.2422e-07"
    assert gformat(1.9629e13) == " 1.9629e+13"
    assert gformat(1234567.8000027) == " 1234567.80"
    assert gformat(9.9999999999) == " 10.0000000"
    assert gformat(0.0) == " 0.00000000"
    assert gformat(float("nan")) == "nan"
    assert all(len(gformat(v)) == 11 for v in (1.0, -1.0, 123.456, 1e-9, -2.5e20))


def test_report_layout():
    x, y = line_data()
    p = line_params()
    p.add("twice", expr="2*m")
    p.add("fixed", 3.0, vary=False)
    out = minimize(line_residual, p, args=(x, y))
    text = fit_report(out)
    lines = text.splitlines()
    assert lines[:5] == [
        "[[Fit Statistics]]",
        "    # fitting method   = leastsq",
        f"    # function evals   = {out.nfev}",
        "    # data points      = 40",
        "    # variables        = 2",
    ]
    assert lines[5] == f"    chi-square         = {gformat(out.chisqr).strip()}"
    m = out.params["m"]
    assert lines[10] == (f"    m:     {gformat(m.value)} +/- {gformat(m.stderr).strip()} "
                         f"({abs(m.stderr / m.value) * 100:.2f}%) (init = 1)")
    assert lines[11].startswith("    b:     -")
    assert lines[12].startswith("    twice: ") and lines[12].endswith("== '2*m'")
    assert lines[13] == "    fixed:  3 (fixed)"
    c = m.correl["b"]
    assert lines[14:] == ["[[Correlations]] (unreported correlations are < 0.100)", f"    C(m, b) = {c:+.3f}"]
    assert "[[Correlations]]" not in fit_report(out, show_correl=False)
    assert "[[Correlations]]" not in fit_report(out, min_correl=0.99)
    only_params = fit_report(out.params)
    assert only_params.splitlines()[0] == "[[Variables]]"
    assert only_params == text[text.index("[[Variables]]"):]
    assert out.fit_report() == text
    with pytest.raises(TypeError):
        fit_report(42)


def test_residual_problem_interface():
    """The adapter honours the Problem contract the solvers rely on."""
    f = lambda t: np.array([t[0] ** 2 - 1.0, t[0] * t[1], np.sin(t[1])])
    prob = ResidualProblem(f, [0.5, 1.0], [-np.inf, 0.0], [np.inf, 1.0], ["u", "v"], 3)
    assert (prob.B, prob.N, prob.P) == (1, 3, 2) and prob.bounded
    theta = np.array([[0.5, 1.0]])  # v on its upper bound: one-sided differences
    np.testing.assert_allclose(prob.residuals(theta)[0], f(theta[0]))
    J = prob.jacobian(theta)[0]
    exact = -np.array([[1.0, 0.0], [1.0, 0.5], [0.0, math.cos(1.0)]])
    np.testing.assert_allclose(J, exact, rtol=1e-8, atol=1e-10)
    sub = prob.take([0, 0])
    assert sub.B == 2 and sub.residuals(np.repeat(theta, 2, 0)).shape == (2, 3)
    assert prob._relevance(theta).all()
