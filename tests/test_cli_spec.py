"""Model specs of the swiftfit command: parsing with line numbers, checking,
building, and refusing anything that is not plain data."""

import json
import sys
import textwrap

import numpy as np
import pytest

import swiftfit as hs
from swiftfit.cli_spec import SpecError, build_model, load_spec, parse_spec

YAML_SPEC = textwrap.dedent("""\
    signal_range: [100, 900]        # optional
    components:
      - type: Gaussian
        name: peak1
        parameters:
          A: {value: 1000, bmin: 0}
          sigma: {value: 5, free: true}
          centre: {value: 300, bmin: 290, bmax: 310}
      - type: Expression
        name: bg
        expression: "a * x + b"
        parameters: {a: 0.1, b: 3}
      - type: Gaussian
        name: peak2
        parameters:
          sigma: {twin: peak1.sigma}
          A: {expr: "0.5 * peak1.A"}
          centre: 1e3
    """)

JSON_SPEC = textwrap.dedent("""\
    {
      "components": [
        {"type": "Polynomial", "order": 1, "name": "bg",
         "parameters": {"a0": 3, "a1": {"value": 0.5, "free": false}}},
        {"type": "Lorentzian",
         "parameters": {"gamma": {"value": 2, "bmin": 0.1, "bmax": null},
                        "centre": {"twin": "bg.a0", "twin_function_expr": "100 * x"}}}
      ]
    }
    """)


@pytest.fixture
def spectrum():
    s = hs.signals.Signal1D(np.ones(1000))
    return s


@pytest.fixture
def yaml_available():
    pytest.importorskip("yaml")


def _error(text, signal, fmt=None, source="model.yaml"):
    with pytest.raises(SpecError) as info:
        build_model(signal, parse_spec(text, source, fmt))
    return str(info.value)


def test_yaml_spec_builds_the_model(spectrum, yaml_available):
    m = build_model(spectrum, parse_spec(YAML_SPEC, "model.yaml"))
    assert [c.name for c in m] == ["peak1", "bg", "peak2"]
    p1, bg, p2 = m
    assert (p1.centre.value, p1.centre.bmin, p1.centre.bmax) == (300, 290, 310)
    assert p1.sigma.free and p2.sigma.twin is p1.sigma and not p2.sigma.free
    assert p2.A.expr == "0.5 * peak1.A" and p2.A.value == 500
    assert p2.centre.value == 1000  # YAML 1.1 reads 1e3 as text: numeric text is accepted
    assert (bg.a.value, bg.b.value) == (0.1, 3)
    assert m._channel_switches.sum() == 801  # signal_range [100, 900] on axis 0..999


def test_json_spec_without_pyyaml(spectrum, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # JSON never needs PyYAML
    m = build_model(spectrum, parse_spec(JSON_SPEC, "model.json", "json"))
    bg, lor = m
    assert bg.a1.value == 0.5 and not bg.a1.free
    assert lor.name == "Lorentzian" and lor.gamma.bmin == 0.1 and lor.gamma.bmax is None
    assert lor.centre.twin is bg.a0 and lor.centre.value == pytest.approx(300)


def test_initial_values_reach_every_pixel():
    s = hs.signals.Signal1D(np.ones((2, 3, 50)))
    m = build_model(s, parse_spec('{"components": [{"type": "Offset", "parameters": {"offset": 4}}]}'))
    assert np.all(m[0].offset.map["values"] == 4)


def test_two_dimensional_components():
    s = hs.signals.Signal2D(np.ones((20, 30)))
    spec = parse_spec('{"components": [{"type": "Gaussian2D", "add_rotation": true,'
                      ' "parameters": {"centre_x": 10}}, {"type": "Polynomial2D", "order": 0}],'
                      ' "signal_range": [0, 20, 0, null]}', fmt="json")
    m = build_model(s, spec)
    assert m[0].centre_x.value == 10 and "rotation_angle" in [p.name for p in m[0].parameters]
    assert [p.name for p in m[1].parameters] == ["a00"]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_unknown_parameter_names_line_and_key(spectrum, fmt):
    if fmt == "yaml":
        pytest.importorskip("yaml")
        text = YAML_SPEC.replace("sigma: {value: 5", "sigm: {value: 5")
        expected = "model.yaml line 7: components[0].parameters.sigm: unknown parameter 'sigm' of Gaussian"
    else:
        text = JSON_SPEC.replace('"gamma"', '"gama"')
        expected = "model.yaml line 6: components[1].parameters.gama: unknown parameter 'gama' of Lorentzian"
    msg = _error(text, spectrum, fmt)
    assert msg.startswith(expected)
    assert "parameters are" in msg and "did you mean" in msg


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("name: peak1", "name: peak1\n    shape: 3",
     "line 5: components[0].shape: unknown key 'shape'"),
    ("type: Expression", "type: Expresion",
     "line 9: components[1].type: unknown component type 'Expresion' (did you mean 'Expression'?)"),
    ("type: Expression", "type: Gaussian2D", "line 9: components[1].type: Gaussian2D is a 2-D component"),
    ("{a: 0.1, b: 3}", "{a: abc, b: 3}", "line 12: components[1].parameters.a.value: expected a number, got 'abc'"),
    ("free: true", "free: 1", "line 7: components[0].parameters.sigma.free: expected true or false, got 1"),
    ("twin: peak1.sigma", "twin: peak9.sigma",
     "line 16: components[2].parameters.sigma.twin: 'peak9.sigma': unknown component 'peak9'"),
    ("twin: peak1.sigma", "twin: peak1.width",
     "line 16: components[2].parameters.sigma.twin: 'peak1.width': unknown parameter 'width' of peak1"),
    ("twin: peak1.sigma", "twin: sigma", "line 16: components[2].parameters.sigma.twin: expected 'component.parameter'"),
    ("name: peak2", "name: peak1", "line 14: components[2].name: duplicate component name 'peak1'"),
    ("value: 300", "value: 400", "line 8: components[0].parameters.centre.value: value 400 is outside the bounds"),
    ("bmin: 290, bmax: 310", "bmin: 310, bmax: 290", "line 8: components[0].parameters.centre.bmax: "),
    ("signal_range: [100, 900]", "signal_range: [100]", "line 1: signal_range: expected [x1, x2]"),
    ("signal_range:", "signal_rnge:", "line 1: signal_rnge: unknown key 'signal_rnge' (did you mean 'signal_range'?)"),
    ('expression: "a * x + b"', "expression: 3", "line 11: components[1].expression: expected a non-empty string"),
    ('    expression: "a * x + b"\n', "", "line 9: components[1]: missing key 'expression'"),
    ("A: {expr:", "A: {twin: peak1.A, expr:", "line 17: components[2].parameters.A.expr: a parameter takes either 'twin' or 'expr'"),
    ("sigma: {twin: peak1.sigma}", "sigma: {twin_function_expr: 2*x}",
     "line 16: components[2].parameters.sigma.twin_function_expr: 'twin_function_expr' needs 'twin'"),
    ("    parameters: {a: 0.1, b: 3}", "    parameters: [1, 2]",
     "line 12: components[1].parameters: expected a mapping of parameter names"),
    ("A: {expr: \"0.5 * peak1.A\"}", "A: {expr: \"0.5 * peak7.A\"}", "line 17: components[2].parameters.A.expr: "),
])
def test_bad_specs_name_line_and_key(spectrum, yaml_available, old, new, expected):
    assert old in YAML_SPEC
    msg = _error(YAML_SPEC.replace(old, new, 1), spectrum)
    assert msg.startswith("model.yaml " + expected), msg


@pytest.mark.parametrize("text", [
    "components:\n  - type: Expression\n    expression: \"__import__('os').system('touch PWNED')\"\n",
    "components:\n  - type: Expression\n    expression: \"x.__class__.__bases__\"\n",
    "components:\n  - type: Offset\n    parameters:\n      offset: {expr: \"exec('1')\"}\n",
    ("components:\n  - type: Offset\n  - type: Gaussian\n    parameters:\n"
     "      A: {twin: Offset.offset, twin_function_expr: \"open('/etc/passwd')\"}\n"),
])
def test_malicious_expressions_are_refused_and_not_run(spectrum, yaml_available, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = _error(text, spectrum)
    assert "not allowed" in msg and "line " in msg
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(("text", "expected"), [
    ("components: !!python/object/apply:os.system ['touch PWNED']\n",
     "line 1: components: YAML tag !!python/object/apply:os.system is not allowed"),
    ("signal_range: !!python/name:os.system\ncomponents: []\n", "line 1: signal_range: YAML tag !!python/name"),
    ("components:\n  - !!binary aGVsbG8=\n", "line 2: components[0]: YAML tag !!binary"),
    ("components:\n  - &c {type: Offset}\n  - *c\n", "components[1]: YAML aliases"),
    ("components: []\ncomponents: []\n", "line 2: components: duplicate key"),
    ("components:\n  - type: Offset\n    parameters: {offset: [1\n", "line 4: not valid YAML"),
    ("? [a, b]\n: 1\n", "line 1: keys must be plain strings"),
    ("# nothing\n", "the model spec is empty"),
])
def test_yaml_plain_data_only(spectrum, yaml_available, text, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert expected in _error(text, spectrum)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(("text", "expected"), [
    ('{\n  "components": [\n    {"type": "Offset",}\n  ]\n}', "line 3: not valid JSON: expected a key"),
    ('{"components": []}\n{"x": 1}', "line 2: not valid JSON: extra data"),
    ('{"components": [{"type": "Offset", "parameters": {"offset": NaN}}]}', "line 1: not valid JSON"),
    ('{"components": [], "components": []}', "line 1: components: duplicate key"),
    ('{\n"components": [{"type": "Offset", "parameters": {"offset": "abc"}}]}',
     "line 2: components[0].parameters.offset.value: expected a number"),
    ('{"components": {"type": "Offset"}}', "components: expected a non-empty list"),
    ('["components"]', "expected a mapping"),
    ("", "the model spec is empty"),
])
def test_json_errors(spectrum, text, expected):
    assert expected in _error(text, spectrum, "json")


def test_unsupported_and_bad_options(spectrum):
    spec = '{"components": [{"type": "ScalableFixedPattern"}]}'
    assert "cannot be used in a spec" in _error(spec, spectrum, "json")
    spec = '{"components": [{"type": "Polynomial", "order": 1.5}]}'
    assert "components[0].order: expected an integer" in _error(spec, spectrum, "json")
    spec = '{"components": [{"type": "Polynomial", "order": -1}]}'
    assert "components[0].type: Polynomial `order` must be >= 0, got -1" in _error(spec, spectrum, "json")
    spec = '{"components": [{"type": "Expression", "expression": "a*x", "position": "b"}]}'
    assert "components[0].expression: `position` 'b' is not a parameter" in _error(spec, spectrum, "json")


def test_yaml_needs_pyyaml(spectrum, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImportError, match="pip install pyyaml"):
        parse_spec("components: []\n", "model.yaml", "yaml")


def test_load_spec_files(tmp_path, spectrum):
    path = tmp_path / "model.json"
    path.write_text(JSON_SPEC)
    assert len(build_model(spectrum, load_spec(path))) == 2
    with pytest.raises(SpecError, match="model.txt line 1: not valid JSON"):
        (tmp_path / "model.txt").write_text("{oops}")
        load_spec(tmp_path / "model.txt")  # no known extension: JSON by its '{'
    with pytest.raises(SpecError, match="cannot read the model spec"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(tmp_path / "binary.json")
    assert json.loads(JSON_SPEC)  # the example is valid JSON for any reader
