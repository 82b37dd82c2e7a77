"""HyperSpy 2.5.0's own model, component and SAMFire tests, run against swiftfit.

``make compat`` (or ``python tests_compat/run.py``) downloads HyperSpy's released
wheel with pip, extracts ``hyperspy/tests/{model,component,samfire}`` (with their
data files), rewrites only their import lines (``import hyperspy.api as hs`` ->
``import swiftfit as hs``, ...), runs them with pytest and a small conftest, and
prints per-file pass counts and the total.

The denominator is the public-API tests: the tests HyperSpy itself passes
(``hyperspy_baseline.txt``, made by ``--baseline`` with HyperSpy installed),
less those listed in ``internals.txt`` (tests that read HyperSpy internals,
each with its reason). This script is not collected by ``make test``: it needs
the download and runs ~1,200 foreign tests.

The suite runs twice: with swiftfit's defaults, and with HyperSpy's
conventions switched on (``SWIFTFIT_CONVENTIONS=hyperspy``, the environment
form of ``swiftfit.preferences.conventions = "hyperspy"``); the table has a pass
column for each and the two totals. Rows of ``differences.txt`` whose reason
starts with ``[switch]`` are differences the switch removes: such a test
failing in the second run is reported as a failure, not a difference.

Options: ``--baseline`` runs the unmodified tests against the installed
HyperSpy and rewrites ``hyperspy_baseline.txt``; ``--table`` prints the
per-file table as Markdown; ``-n N`` passes ``-n N`` to pytest-xdist;
``--conventions swiftfit|hyperspy|both`` picks the runs (default both);
``--failures FILE`` writes each failing public test with its first error line
(``FILE.hyperspy`` for the second run).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = "2.5.0"
FOLDERS = ("model", "component", "samfire")

# Module paths rewritten in import lines; the longest match wins.  Anything else
# under ``hyperspy.`` is a HyperSpy internal and resolves to ``_hs_internals``
# (every name there raises HyperSpyInternal when used, so such tests are
# recognisable by their failure and listed in internals.txt).
MODULES = {
    "hyperspy.api": "swiftfit",
    "hyperspy.components1d": "swiftfit.components.components1d",
    "hyperspy.components2d": "swiftfit.components.components2d",
    "hyperspy.signals": "swiftfit.signals",
    "hyperspy._signals.signal1d": "swiftfit.signals.signal1d",
    "hyperspy._signals.signal2d": "swiftfit.signals.signal2d",
    "hyperspy.component": "swiftfit.component",
    "hyperspy.utils": "swiftfit.utils",
    "hyperspy.utils.model_selection": "swiftfit.utils.model_selection",
    "hyperspy.models.model1d": "swiftfit.model.model1d",
    "hyperspy.models.model2d": "swiftfit.model.model2d",
    "hyperspy.samfire": "swiftfit.samfire",
    "hyperspy.exceptions": "swiftfit.errors",
    "hyperspy.decorators": "_hs_testing",
    "hyperspy.misc.utils": "_hs_testing",
    "hyperspy": "swiftfit",
}

# Names that public modules hold but that are HyperSpy machinery, not API: a
# ``from`` line importing only these goes to ``_hs_internals`` too.
INTERNAL_NAMES = {"hyperspy.models.model1d": {"ComponentFit"}, "hyperspy.component": {"_get_scaling_factor"}}

_IMPORT = re.compile(r"^(\s*)(from|import)\s+(hyperspy(?:\.[\w.]+)?)\b")


def rewrite_imports(source: str) -> str:
    """Rewrite the module paths of ``import``/``from`` lines only."""
    out = []
    for line in source.splitlines(keepends=True):
        match = _IMPORT.match(line)
        if match and match.group(2) == "from" and match.group(3) == "hyperspy":
            # from hyperspy import components1d -> import the mapped module under that name
            names = [n.strip() for n in line[match.end(3):].split("import", 1)[1].split("#")[0].split(",")]
            if all(f"hyperspy.{n}" in MODULES for n in names):
                out.append("".join(f"{match.group(1)}import {MODULES['hyperspy.' + n]} as {n}\n" for n in names))
                continue
        if match and match.group(2) == "from" and match.group(3) in INTERNAL_NAMES and "(" not in line:
            # a public module line that also imports internals: split it in two
            head, _, tail = line.partition(" import ")
            names = [n.strip() for n in tail.split("#")[0].split(",")]
            internal = [n for n in names if n.split(" as ")[0] in INTERNAL_NAMES[match.group(3)]]
            public = [n for n in names if n not in internal]
            if internal and public:
                out.append(f"{match.group(1)}from {MODULES[match.group(3)]} import {', '.join(public)}\n")
                out.append(f"{match.group(1)}from _hs_internals import {', '.join(internal)}\n")
                continue
        if match:
            module = match.group(3)
            names = set(re.findall(r"\w+", line[match.end(3):].split("#")[0])) - {"import", "as"}
            if names and names <= INTERNAL_NAMES.get(module, set()):
                new = "_hs_internals"
            elif module in MODULES:
                new = MODULES[module]
            elif module.startswith("hyperspy."):
                new = "_hs_internals"
            else:
                new = module
            start, end = match.span(3)
            line = line[:start] + new + line[end:]
            # "import _hs_internals" must still bind the name the test uses
            if match.group(2) == "import" and " as " not in line and new != module:
                line = line.rstrip("\n") + f" as {module.split('.')[0]}\n"
        out.append(line)
    return "".join(out)


def fetch_wheel(cache: Path) -> Path:
    wheels = sorted(cache.glob(f"hyperspy-{VERSION}-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        f"hyperspy=={VERSION}", "-d", str(cache)], check=True)
        wheels = sorted(cache.glob(f"hyperspy-{VERSION}-*.whl"))
    return wheels[0]


def extract(wheel: Path, dest: Path, rewrite: bool) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            parts = name.split("/")
            if len(parts) < 4 or parts[:2] != ["hyperspy", "tests"] or parts[2] not in FOLDERS:
                continue
            target = dest / "/".join(parts[2:])
            target.parent.mkdir(parents=True, exist_ok=True)
            data = z.read(name)
            if rewrite and name.endswith(".py"):
                data = rewrite_imports(data.decode()).encode()
            target.write_bytes(data)
    (dest / "pytest.ini").write_text("[pytest]\naddopts = -p no:randomly -p no:cacheprovider\n")
    if rewrite:
        for helper in ("conftest.py", "_hs_testing.py", "_hs_internals.py"):
            shutil.copy(HERE / "support" / helper, dest / helper)
        (dest / "baseline_ids.txt").write_text("\n".join(read_list(HERE / "hyperspy_baseline.txt")) + "\n")
    else:
        (dest / "conftest.py").write_text("from hyperspy.conftest import *  # noqa\n")


def run_pytest(dest: Path, xml: Path, workers: int, extra: list[str], src: Path,
               conventions: str = "swiftfit") -> None:
    cmd = [sys.executable, "-m", "pytest", "-q", "-c", str(dest / "pytest.ini"), "--rootdir", str(dest),
           f"--junitxml={xml}", "-o", "junit_family=xunit1", "--tb=line", "--continue-on-collection-errors", *extra]
    if workers > 1:
        cmd += ["-n", str(workers)]
    cmd += [str(dest / f) for f in FOLDERS]
    env = dict(__import__("os").environ, MPLBACKEND="Agg", PYTHONPATH=f"{src}:{dest}",
               SWIFTFIT_CONVENTIONS=conventions)
    subprocess.run(cmd, cwd=dest, env=env, stdout=subprocess.DEVNULL if "-v" not in extra else None)


def outcomes(xml: Path) -> dict[str, tuple[str, str]]:
    """``{test id: (outcome, first message line)}`` from a JUnit XML file."""
    result = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        cls = case.get("classname", "").split(".")
        name = case.get("name")
        # classname is "folder.module[.Class]"; the id is folder/module.py::[Class::]name
        module = "/".join(cls[:2]) + ".py"
        test_id = "::".join([module, *cls[2:], name])
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or node.text or "").strip().splitlines()[:1]
                message = message[0][:300] if message else ""
                break
        if outcome == "failed" or outcome == "error" or result.get(test_id, ("passed",))[0] == "passed":
            result[test_id] = (outcome, message)
        del file
    return result


def read_list(path: Path) -> dict[str, str]:
    entries = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                test_id, _, reason = line.partition("  # ")
                entries[test_id.strip()] = reason.strip()
    return entries


def summarise(result: dict, baseline: set, internals: dict, differences: dict, switched: bool) -> dict:
    """Per-file counts and totals of one run; ``switched``: HyperSpy's conventions were on,
    so a ``[switch]`` difference that fails is a failure.
    """
    rows = defaultdict(lambda: [0, 0, 0])  # passed, public, internal
    failures = []
    n_differ = 0
    for test_id in sorted(baseline):
        outcome, message = result.get(test_id, ("missing", "not collected"))
        row = rows[test_id.split("::")[0]]
        if test_id in internals:
            row[2] += 1
            continue
        row[1] += 1
        reason = differences.get(test_id)
        if outcome == "passed":
            row[0] += 1
        elif reason is not None and not (switched and reason.startswith("[switch]")):
            n_differ += 1
            failures.append(f"{test_id}  # documented difference: {reason}")
        else:
            failures.append(f"{test_id}  # {outcome}: {message}")
    passed = sum(r[0] for r in rows.values())
    public = sum(r[1] for r in rows.values())
    return {"rows": rows, "failures": failures, "passed": passed, "public": public,
            "internal": sum(r[2] for r in rows.values()), "differences": n_differ,
            "overall": sum(1 for t in baseline if result.get(t, ("missing",))[0] == "passed")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=HERE.parent / ".compat_cache")
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--failures", type=Path)
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--src", type=Path, default=HERE.parent / "src", help="the swiftfit sources to test")
    ap.add_argument("--out", default="swiftfit_run", help="folder name under the cache for this run")
    ap.add_argument("--conventions", choices=("swiftfit", "hyperspy", "both"), default="both",
                    help="run with swiftfit's defaults, HyperSpy's conventions switched on, or both")
    ap.add_argument("--report-only", action="store_true",
                    help="re-read the last run's JUnit file (after editing internals.txt) instead of running")
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args(argv)

    if args.baseline:
        xml = args.cache / "baseline.xml"
        if not args.report_only:
            extract(fetch_wheel(args.cache), args.cache / "hyperspy_run", rewrite=False)
            run_pytest(args.cache / "hyperspy_run", xml, args.n, args.pytest_args, args.src.resolve())
        result = outcomes(xml)
        passing = sorted(t for t, (o, _) in result.items() if o == "passed")
        (HERE / "hyperspy_baseline.txt").write_text(
            f"# the tests HyperSpy {VERSION} passes itself (run.py --baseline)\n" + "\n".join(passing) + "\n")
        print(f"HyperSpy {VERSION} passes {len(passing)} of {len(result)} tests")
        return 0

    runs = ["swiftfit", "hyperspy"] if args.conventions == "both" else [args.conventions]
    baseline = set(read_list(HERE / "hyperspy_baseline.txt"))
    internals = read_list(HERE / "internals.txt")
    differences = read_list(HERE / "differences.txt")
    summaries = {}
    for conventions in runs:
        out = args.out if conventions == "swiftfit" else f"{args.out}_hyperspy"
        xml = args.cache / f"{out}.xml"
        if not args.report_only:
            dest = args.cache / out
            extract(fetch_wheel(args.cache), dest, rewrite=True)
            run_pytest(dest, xml, args.n, args.pytest_args, args.src.resolve(), conventions)
        summ = summaries[conventions] = summarise(outcomes(xml), baseline, internals, differences,
                                                  conventions == "hyperspy")
        json.dump({k: summ[k] for k in ("passed", "public", "internal", "overall", "differences")},
                  open(args.cache / f"{out}.json", "w"))
        if args.failures:
            target = args.failures if conventions == "swiftfit" else Path(f"{args.failures}.hyperspy")
            target.write_text("\n".join(summ["failures"]) + "\n")

    first = summaries[runs[0]]
    files = sorted(first["rows"])
    heads = {"swiftfit": "pass", "hyperspy": "pass, HyperSpy conventions"}
    if args.table:
        print("| test file | " + " | ".join(heads[r] for r in runs) + " | public-API tests | internals (excluded) |")
        print("|---|" + "---:|" * (len(runs) + 2))
        for file in files:
            _, n, i = first["rows"][file]
            cells = " | ".join(str(summaries[r]["rows"][file][0]) for r in runs)
            print(f"| `{file}` | {cells} | {n} | {i} |")
        cells = " | ".join(f"**{summaries[r]['passed']}**" for r in runs)
        print(f"| **total** | {cells} | **{first['public']}** | **{first['internal']}** |")
    else:
        for file in files:
            _, n, i = first["rows"][file]
            cells = "  ".join(f"{summaries[r]['rows'][file][0]:4d}" for r in runs)
            print(f"{file:50s} {cells} / {n:4d}   (+{i} internal)")
    for r in runs:
        summ = summaries[r]
        passed, public = summ["passed"], summ["public"]
        label = "swiftfit defaults" if r == "swiftfit" else "HyperSpy conventions (SWIFTFIT_CONVENTIONS=hyperspy)"
        print(f"[{label}] HyperSpy {VERSION} model/component/samfire tests: {passed} of {public} public-API "
              f"tests pass ({100 * passed / max(public, 1):.1f} %); {summ['internal']} read HyperSpy internals; "
              f"{len(baseline)} tests HyperSpy passes itself, of which {summ['overall']} pass here "
              f"({100 * summ['overall'] / max(len(baseline), 1):.1f} %); of the {public - passed} public-API "
              f"failures, {summ['differences']} are documented differences (differences.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
