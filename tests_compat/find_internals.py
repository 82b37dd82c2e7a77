"""List the HyperSpy tests that read HyperSpy internals (writes internals.txt).

A test reads internals when its body, its class's ``setup_method`` /
``setup_class``, a fixture it requests or a module-level helper it calls:

- uses a private attribute (``obj._name``, not ``self._name`` of the test
  class itself), e.g. ``m._low_loss``, ``p._number_of_elements``;
- uses a name imported from a HyperSpy module outside the public API
  (``hyperspy.misc.*``, ``hyperspy._components.*``, ``hyperspy.samfire_utils.*``,
  ``hyperspy.axes``, ``hyperspy.events``, ``hyperspy.model``, ...);
- patches a HyperSpy module path with ``mock.patch("hyperspy....")``.

A private name listed in ``SUPPORTED_PRIVATE`` is not an internal: swiftfit
implements it with HyperSpy's meaning (each entry says where and how), and a
test that touches only such names counts as public-API.

Run after ``run.py --baseline`` (it reads the unmodified tests it extracted):
``python tests_compat/find_internals.py``.  Entries added by hand (the reason
starting with "by hand:") are kept.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from run import HERE, MODULES, read_list

from run import INTERNAL_NAMES

# hyperspy.misc.utils / hyperspy.decorators are rewritten to the test helpers,
# but only their TEST_HELPERS are test utilities; the rest is HyperSpy machinery
PUBLIC = set(MODULES) - {"hyperspy", "hyperspy.misc.utils", "hyperspy.decorators"}
TEST_HELPERS = {"lazifyTestClass", "dummy_context_manager"}

# Private names swiftfit implements with HyperSpy's meaning (regression tests in
# tests/model/test_hyperspy_compat_private.py); a test reading only these is public.
SUPPORTED_PRIVATE = {
    "_axes_manager": "Component/Parameter: the axes manager the maps follow (the model's; before, the "
                     "signal's from estimate_parameters, or one set by hand)",
    "_create_array": "Parameter: size `map` to `_axes_manager`'s navigation shape",
    "_create_arrays": "Component: `_create_array` of every parameter (and the active array)",
    "_active_array": "Component: the per-position `active` booleans (array order) when active_is_multidimensional",
    "_id_name": "Component: its type name, settable",
    "_free_parameters": "Component: the free parameters sorted by name; model: those of the active components",
    "_constant_term": "Component: the constant part without free linear parameters (Offset, Polynomial, "
                      "Expression; 0 for the others)",
    "_linear": "Parameter: whether the component is linear in it",
    "_lazy": "signal: whether its data are a dask array",
    "_get_current_data": "signal: the data at the current position; model: m(...) at the current position",
    "_channel_switches": "model: the boolean mask of the channels in the signal range (array order)",
    "_load_dictionary": "Parameter/Component/Model: set from `as_dictionary()`'s output (HyperSpy's layout, "
                        "no pickle); returns the id the parameter/component was made from",
    "_get_component": "model: a component from itself, its index or its name (a list for several)",
}


def _internal_imports(tree: ast.AST) -> dict[str, str]:
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hyperspy"):
            for alias in node.names:
                if (node.module in PUBLIC and not alias.name.startswith("_")
                        and alias.name not in INTERNAL_NAMES.get(node.module, ())):
                    continue
                if f"{node.module}.{alias.name}" in PUBLIC:  # from hyperspy import components1d
                    continue
                if alias.name not in TEST_HELPERS:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hyperspy.") and alias.name not in PUBLIC:
                    names[alias.asname or alias.name] = alias.name
    return names


def _reasons(nodes, internal_names: dict[str, str]) -> set[str]:
    found = set()
    for root in nodes:
        for node in ast.walk(root):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not node.attr.startswith("_repr_")):  # IPython's display protocol is public
                if (not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                        and node.attr not in SUPPORTED_PRIVATE):
                    found.add(f"private attribute `{node.attr}`")
            elif isinstance(node, ast.Name) and node.id in internal_names:
                found.add(f"internal `{internal_names[node.id]}`")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.match(r"hyperspy\.\w", node.value):
                found.add(f"patches `{node.value}`")
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hyperspy"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    internal = node.module not in PUBLIC or alias.name in INTERNAL_NAMES.get(node.module, ())
                    if internal and full not in PUBLIC and alias.name not in TEST_HELPERS:
                        found.add(f"internal `{full}`")
    return found


def scan_file(path: Path, rel: str) -> dict[str, set[str]]:
    tree = ast.parse(path.read_text())
    internal_names = _internal_imports(tree)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    fixtures = {
        name: fn for name, fn in functions.items()
        if any("fixture" in ast.unparse(d) for d in fn.decorator_list)
    }

    def support(fn: ast.FunctionDef, extra_scope: dict) -> list[ast.AST]:
        nodes = [fn, *fn.decorator_list]
        for arg in fn.args.args:
            if arg.arg in fixtures:
                nodes.append(fixtures[arg.arg])
        called = {n.func.id for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        for name in called:
            if name in functions and not name.startswith("test"):
                nodes.append(functions[name])
            if name in extra_scope:
                nodes.append(extra_scope[name])
        return nodes

    result = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            result[f"{rel}::{node.name}"] = _reasons(support(node, {}), internal_names)
        elif isinstance(node, ast.ClassDef):
            methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
            setup = [methods[n] for n in ("setup_method", "setup_class", "setup") if n in methods]
            for name, fn in methods.items():
                if name.startswith("test"):
                    nodes = support(fn, {}) + setup
                    # helpers of the class called as self.helper(...)
                    for call in ast.walk(fn):
                        if (isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name)
                                and call.value.id == "self" and call.attr in methods
                                and not call.attr.startswith("test")):
                            nodes.append(methods[call.attr])
                    reasons = _reasons(nodes, internal_names)
                    result[f"{rel}::{node.name}::{name}"] = reasons
                    result[f"{rel}::{node.name}::test_lazy_{name[5:]}"] = reasons
    return result


def main() -> None:
    source = HERE.parent / ".compat_cache" / "hyperspy_run"
    found = {}
    for path in sorted(source.glob("*/test_*.py")):
        found.update(scan_file(path, str(path.relative_to(source))))
    baseline = read_list(HERE / "hyperspy_baseline.txt")
    old = read_list(HERE / "internals.txt")
    lines = ["# HyperSpy 2.5.0 tests that read HyperSpy internals: left out of the public-API count.",
             "# Made by find_internals.py (private attributes, internal modules, mock.patch of",
             "# HyperSpy paths); entries whose reason starts with 'by hand:' were added by hand."]
    for test_id in sorted(baseline):
        base = test_id.split("[")[0]
        reasons = found.get(base, set())
        if old.get(test_id, "").startswith("by hand:"):
            lines.append(f"{test_id}  # {old[test_id]}")
        elif reasons:
            lines.append(f"{test_id}  # reads {'; '.join(sorted(reasons))}")
    (HERE / "internals.txt").write_text("\n".join(lines) + "\n")
    print(f"{len(lines) - 3} of {len(baseline)} tests read HyperSpy internals")


if __name__ == "__main__":
    main()
