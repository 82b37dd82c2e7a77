"""Hostile text (issue 19): expressions, twin functions, specs and functional
axes do bounded work and fail with a documented error; the CLI answers every
bad input with exit 2 and one line.

Each case here hung, crashed with an undocumented error or printed a
traceback before the bounded parser (the issue's "Hung" and "Unclear errors").
Time budgets are CPU seconds of this process (the CI machine is shared); a
SIGALRM guard turns a hang into a failure instead of a stuck suite.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import time

import numpy as np
import pytest

import swiftfit as hs
from swiftfit._expr import parse_expression
from swiftfit.cli import main
from swiftfit.cli_spec import SpecError, build_model, parse_spec
from swiftfit.components.expression import Expression
from swiftfit.errors import ExpressionError


@contextlib.contextmanager
def bounded(cpu_seconds: float, wall_seconds: int = 30):
    """Fail if the block takes more than ``cpu_seconds`` of CPU; abort it
    after ``wall_seconds`` (a hang on the code before this fix)."""

    def hung(signum, frame):
        raise TimeoutError(f"still running after {wall_seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(wall_seconds)
    start = time.process_time()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    used = time.process_time() - start
    assert used < cpu_seconds, f"took {used:.2f} s of CPU, budget {cpu_seconds} s"


# ------------------------------------------------------------- gamma(10**8)
def test_gamma_of_a_huge_integer_in_an_expression_is_refused_at_once():
    with bounded(2.0), pytest.raises(ExpressionError, match=r"gamma\(10\*\*8\).*64-bit float"):
        Expression("gamma(10**8)*a*x", "E")
    # the same through loggamma, which sympy also evaluates as a factorial,
    # gives the right finite number (log Gamma(1e5) by Stirling, 11 digits)
    with bounded(2.0):
        e = Expression("loggamma(100000)*a*x", "E", a=1.0)
    assert e.function(1.0) == pytest.approx(1051287.7089736568, rel=1e-10)


def test_gamma_of_a_huge_integer_in_a_twin_function_is_refused():
    g = hs.model.components1D.Gaussian()
    with bounded(2.0), pytest.raises(ExpressionError, match="gamma"):
        g.A.twin_function_expr = "gamma(10**8)*x"


def test_gamma_of_a_huge_integer_in_a_spec_is_refused(tmp_path, capsys):
    spec = parse_spec('{"components": [{"type": "Expression", "expression": "gamma(10**8)*a*x"}]}')
    with bounded(2.0), pytest.raises(SpecError, match=r"components\[0\]\.expression.*gamma"):
        build_model(_signal(), spec)
    data = _csv(tmp_path)
    path = tmp_path / "gamma.yaml"
    path.write_text('components:\n  - type: Expression\n    expression: "gamma(10**8)*a*x"\n')
    with bounded(5.0):
        code = main(["fit", str(data), "--model", str(path)])
    _one_line_exit_2(code, capsys, "gamma")


def test_gamma_in_a_functional_axis_of_an_hspy_file_is_refused(tmp_path):
    hyperspy = pytest.importorskip("hyperspy.api")
    h5py = pytest.importorskip("h5py")
    import warnings

    s = hyperspy.signals.Signal1D(np.arange(10.0))
    s.axes_manager[0].convert_to_functional_data_axis(expression="a * x ** 2", a=2.0)
    fn = tmp_path / "fa.hspy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.save(fn)
    with h5py.File(fn, "a") as f:
        f["Experiments/__unnamed__/axis-0"].attrs["expression"] = "gamma(10**8) + x"
    with bounded(2.0), pytest.raises(ExpressionError, match="gamma"):
        hs.load(fn)


def test_huge_exact_numbers_stay_bounded():
    with bounded(2.0):
        for text in ("10**10**10*x", "2**5000*x", "9**9**9*x"):
            with pytest.raises(ExpressionError, match="64-bit float"):
                parse_expression(text)
        with pytest.raises(ExpressionError, match="exact powers of symbols are limited to 1000"):
            parse_expression("(a + x)**100000")
        assert parse_expression("x**(1/2)*2**-1") == parse_expression("sqrt(x)/2")


# ----------------------------------------------------- linear-time constructor
def _sum_of_terms(n: int) -> str:
    return " + ".join(f"a{i}*x**{i % 7}" for i in range(n))


def _cpu(fn) -> float:
    """CPU seconds of ``fn()`` alone: the garbage collector emptied first and
    off while it runs (a collection's cost grows with everything the test
    session keeps alive, not with what ``fn`` does)."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        fn()
        return time.process_time() - start
    finally:
        gc.enable()


def test_expression_constructor_is_linear_in_length():
    x = np.linspace(0.5, 1.5, 5)
    with bounded(2.0):
        e = Expression(_sum_of_terms(400), "Long")
    assert len(e.parameters) == 400 and all(p._linear for p in e.parameters)
    # value and gradients against the closed form at a_i = i / 100
    values = [np.full((1, 1), int(p.name[1:]) / 100) for p in e.parameters]
    f = e._function_nd([x], values)[0]
    expected = sum(int(p.name[1:]) / 100 * x ** (int(p.name[1:]) % 7) for p in e.parameters)
    np.testing.assert_allclose(f, expected, rtol=1e-12)
    grads = e._gradients_nd([x], values)
    for p, g in zip(e.parameters, grads):
        np.testing.assert_allclose(g[0], x ** (int(p.name[1:]) % 7), rtol=1e-12)
    # four times the length costs at most twice linear's 4x, half of
    # quadratic's 16x: a factor of 4 apart from each side, so a shared
    # machine's noise cannot decide it. Best of three runs each. Measured
    # quietly (collector off, _cpu): 3.7-3.9x since long sums print in the
    # tree's order; 4.2-4.6x while sympy sorted their terms as monomials over
    # every symbol (and CI then saw 3.2x for twice the length, against 3)
    t200 = min(_cpu(lambda: Expression(_sum_of_terms(200), "L")) for _ in range(3))
    t800 = min(_cpu(lambda: Expression(_sum_of_terms(800), "L")) for _ in range(3))
    assert t800 < 8 * t200, (t200, t800)


def test_a_4990_term_sum_simply_works():
    text = "a*(" + "+".join(["x"] * 4990) + ")"
    with bounded(2.0):
        e = Expression(text, "Sum", a=2.0)
    assert e.function(3.0) == pytest.approx(2.0 * 4990 * 3.0, rel=1e-14)
    with bounded(2.0):
        assert parse_expression("+".join(f"b{i}" for i in range(1800))).is_Add


# ------------------------------------------------------------ unclear errors
@pytest.mark.parametrize(
    "text, match",
    [
        ("x % 0", r"'x % 0' divides by zero"),
        ("a/0 + x", r"'a/0' is undefined"),
        ("log(0)*x", r"'log\(0\)' is undefined"),
        ("0*oo + x", r"'0\*oo' is undefined"),
        ("**".join(["x"] * 3000), r"nested deeper than 20 levels"),
        ("(" * 3000 + "x" + ")" * 3000, r"nested deeper than 20 levels"),
        ("sin(" * 25 + "x" + ")" * 25, r"nested deeper than 20 levels"),
        ("atan2(x)", r"wrong number of arguments \(1\) for 'atan2'"),
        ("1" * 5000 + "*x", r"4300 digits"),
    ],
)
def test_bad_expressions_raise_a_clear_expression_error(text, match):
    with bounded(2.0), pytest.raises(ExpressionError, match=match):
        Expression(text, "Bad")


def test_long_unary_runs_and_substitution_chains_are_bounded():
    with bounded(2.0):
        assert Expression("-" * 4000 + "a*x", "E", a=3.0).function(2.0) == pytest.approx(6.0)
        chain = "y0 ; " + " ; ".join(f"y{i} = exp(y{i + 1})" for i in range(100)) + " ; y100 = a*x"
        with pytest.raises(ExpressionError, match="counting substitutions"):
            Expression(chain, "E")


# ----------------------------------------------------------------- the CLI
def _signal():
    return hs.signals.Signal1D(np.exp(-((np.arange(50.0) - 25) ** 2) / 20))


def _csv(tmp_path):
    path = tmp_path / "s.csv"
    x = np.arange(50.0)
    np.savetxt(path, np.c_[x, np.exp(-((x - 25) ** 2) / 20)], delimiter=",")
    return path


def _one_line_exit_2(code, capsys, match):
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 32 levels"),
        ("deepmap.yaml", "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n",
         "nested deeper than 32 levels"),
        ("deep.json", '{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 32 levels"),
        ("big.json", '{"components": [{"type": "Polynomial", "order": ' + "1" * 5000 + "}]}",
         "has 5000 digits, more than 100"),
        ("big.yaml", "components:\n  - type: Polynomial\n    order: " + "1" * 5000 + "\n",
         "has 5000 digits, more than 100"),
        ("div.yaml", 'components:\n  - type: Expression\n    expression: "a/0 + x"\n', "undefined"),
        ("log.yaml", 'components:\n  - type: Expression\n    expression: "log(0)*x"\n', "undefined"),
        ("mod.json", '{"components": [{"type": "Expression", "expression": "x % 0"}]}', "divides by zero"),
        ("pow.json", '{"components": [{"type": "Expression", "expression": "'
         + "**".join(["x"] * 3000) + '"}]}', "nested deeper"),
        ("lambda.yaml", "components:\n  - type: Expression\n    expression: \"(lambda: 1)() * x\"\n",
         "not allowed"),
    ],
)
def test_cli_bad_spec_is_one_line_exit_2(tmp_path, capsys, name, text, match):
    spec = tmp_path / name
    spec.write_text(text)
    with bounded(5.0):
        code = main(["fit", str(_csv(tmp_path)), "--model", str(spec)])
    _one_line_exit_2(code, capsys, match)


@pytest.mark.parametrize("order", [10**7, 101])
def test_polynomial_order_from_a_spec_is_capped(tmp_path, capsys, order):
    spec = tmp_path / "poly.yaml"
    spec.write_text(f"components:\n  - type: Polynomial\n    order: {order}\n")
    with bounded(5.0):
        code = main(["fit", str(_csv(tmp_path)), "--model", str(spec)])
    _one_line_exit_2(code, capsys, "between 0 and 100")
    from swiftfit.components.two_d import Polynomial2D

    with pytest.raises(ValueError, match="between 0 and 20"):
        Polynomial2D(order=21)


def test_twin_automatic_inverse_is_bounded():
    """sympy.solve ran for minutes on some twin functions; it is now asked
    only where x occurs once or in a polynomial of degree <= 4."""
    src = hs.model.components1D.Gaussian()
    for text in ("sin(x)**5 + cos(x)**3 + x", "(x + 1)**1000 - x", "x**999 + x"):
        g = hs.model.components1D.Gaussian()
        with bounded(2.0):
            g.A.twin_function_expr = text
            g.A.twin = src.A
        assert g.A._twin_inverse_function is None
    g = hs.model.components1D.Gaussian()
    g.A.twin_function_expr = "2*x + 1"
    g.A.twin = src.A
    g.A.value = 7.0  # sets the twin through the inverse, (7 - 1) / 2
    assert src.A.value == pytest.approx(3.0, rel=1e-14)
