"""Print the contract battery's optimizer × door table as Markdown.

Usage: ``PYTHONPATH=src python tests/contract/table.py [optimizer,...]``
(every registered optimizer by default; the global ones take minutes).

Each cell summarises the eight problems of ``battery.py`` for that optimizer
and door on the NumPy engine: ``✓n`` passed the contract (the verdict of
``m.fit``, at the truth, standard errors = sqrt(diag(F⁻¹))), ``Rn`` refused
with an error naming the optimizer or argument at fault, ``xn`` a known,
stated disagreement (``battery.KNOWN``), ``FAILn`` a broken contract; ``–``
the door cannot ask for it (see ``battery._applies``). The engines row
repeats ``lm`` on the numba kernel and on JAX (``m.fit``/``m.multifit``).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from battery import DOORS, KNOWN, contract, make_cases  # noqa: E402

from swiftfit.optimizers import registry  # noqa: E402

_MARK = {"pass": "✓", "refused": "R", "xfail": "x", "FAIL": "FAIL"}


def cell(counts: Counter) -> str:
    parts = [f"{_MARK[k]}{counts[k]}" for k in ("pass", "refused", "xfail", "FAIL") if counts.get(k)]
    return " ".join(parts) if parts else "–"


def table(optimizers, engines=("numpy",)) -> tuple[str, list]:
    cases = make_cases()
    lines = ["| optimizer | " + " | ".join(DOORS) + " |", "|---" * (len(DOORS) + 1) + "|"]
    failures = []
    rows = [(o, "numpy") for o in optimizers] + [("lm", e) for e in engines if e != "numpy"]
    for opt, engine in rows:
        counts = {door: Counter() for door in DOORS}
        for case in cases.values():
            for door, (verdict, detail) in contract(case, opt, engine).items():
                if verdict != "n/a":
                    counts[door][verdict] += 1
                if verdict == "FAIL":
                    failures.append((opt, engine, case.name, door, detail))
        label = opt if engine == "numpy" else f"lm ({engine})"
        lines.append(f"| {label} | " + " | ".join(cell(counts[d]) for d in DOORS) + " |")
    return "\n".join(lines), failures


def main(argv) -> int:
    optimizers = argv[0].split(",") if argv else registry.available()
    engines = [e for e in ("numpy", "numba", "jax") if _has(e)]
    start = time.perf_counter()
    text, failures = table(optimizers, engines if not argv else ("numpy",))
    print(text)
    print(f"\n({len(optimizers)} optimizers, 8 problems, {time.perf_counter() - start:.0f} s)")
    for key, reason in KNOWN.items():
        print(f"- x {key}: {reason}")
    for f in failures:
        print("- FAIL", f)
    return 1 if failures else 0


def _has(engine: str) -> bool:
    if engine == "numpy":
        return True
    try:
        __import__(engine)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
