"""Print the contract battery's optimizer × door table as Markdown.

Usage: ``PYTHONPATH=src python tests/contract/table.py [optimizer,...|all [engine,...]]``
(every registered optimizer and the numba and JAX rows by default; COBYLA,
COBYQA and the global optimizers take minutes, JAX compiles for each problem).

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
    """The Markdown table; each row is also printed to stderr as it is done."""
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
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines), failures


def main(argv) -> int:
    """``table.py [optimizers|all [engines]]``: e.g. ``table.py all numba,jax``."""
    optimizers = argv[0].split(",") if argv and argv[0] != "all" else _order(registry.available())
    wanted = argv[1].split(",") if len(argv) > 1 else ["numba", "jax"]
    engines = ["numpy"] + [e for e in wanted if e != "numpy" and _has(e)]
    start = time.perf_counter()
    text, failures = table(optimizers, engines)
    print(text)
    print(f"\n({len(optimizers)} optimizers, 8 problems, {time.perf_counter() - start:.0f} s)")
    for key, reason in KNOWN.items():
        print(f"- x {key}: {reason}")
    for f in failures:
        print("- FAIL", f)
    return 1 if failures else 0


def _order(names) -> list:
    """The quick optimizers first, the slow ones (COBYLA, COBYQA, the global ones) last."""
    slow = ("COBYLA", "COBYQA", "Basin Hopping", "Differential Evolution", "Dual Annealing", "SHGO")
    return [n for n in names if n not in slow] + [n for n in slow if n in names]


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
