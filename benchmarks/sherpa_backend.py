"""The table of ``Fit(backend="sherpa")`` against the real sherpa package.

Each sherpa method (``simplex``, ``levmar``, ``moncar``, ``gridsearch``) on
the problems of ``tests/api/test_sherpa_real.py``: a seeded Gaussian + offset
(least squares, Poisson likelihood, least squares with the minimum on a bound)
and NIST StRD problems from both of NIST's starts. Each cell: our verdict
(``yes``/``no``; ``no*`` where sherpa itself reported success; ``yes†``
a success more than 1e-3 relative above the minimum), ``|Δcost|``
against ``Fit(backend="swiftfit")`` on the same model (χ² or −ln L) and the
number of objective evaluations. The grid search gets a box (the Gaussian's
physical ranges; 0.5-1.5 × the certified values for NIST), 6 points per
parameter on the Gaussian and 8 on NIST, and is refined by sherpa's NelderMead
(``refine="neldermead"``) in the last column.

    python benchmarks/sherpa_backend.py         # prints the Markdown table
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "api"))

import sherpa  # noqa: E402
from test_sherpa_real import gaussian, nist, run  # noqa: E402

METHODS = [("simplex", {}), ("levmar", {}), ("moncar", {}), ("gridsearch", {}),
           ("gridsearch", {"refine": "neldermead"})]


def cases():
    yield "Gaussian+offset, ls", "ls", lambda box: gaussian(box=box)[0], 6
    yield "Gaussian+offset, ML-poisson", "ML-poisson", lambda box: gaussian(box=box)[0], 6

    def on_bound(box):
        m, pars = gaussian(box=box)
        pars[3].bmax = 4.5
        return m

    yield "Gaussian+offset, ls, offset ≤ 4.5 (on the bound)", "ls", on_bound, 6
    for name in ("Misra1a", "Chwirut2", "DanWood", "Eckerle4", "BoxBOD", "MGH09"):
        for start in (1, 2):
            yield f"NIST {name}, start {start}", "ls", (lambda box, n=name, s=start: nist(n, s, box)[0]), 8


def cell(make, loss, method, opts, num, ref):
    if method == "levmar" and loss != "ls":
        return "—"
    if method == "gridsearch":
        opts = {"num": num, **opts}
    m = make(method == "gridsearch")
    res = run(m, loss=loss, method=method, **opts)
    claimed = m.fit_output.optimizer_result.success
    delta = abs(res.optimize_result.total_stat - ref)
    verdict = "yes" if res.success else ("no*" if claimed else "no")
    if res.success and delta > 1e-3 * abs(ref):
        verdict = "yes†"  # a success away from the minimum
    return f"{verdict} · {delta:.1e} · {res.optimize_result.nfev}"


def main() -> None:
    logging.getLogger("sherpa").setLevel(logging.ERROR)  # its "fit failed" warnings
    head = ["problem", "swiftfit cost"] + [m if not o else f"{m}+{o['refine']}" for m, o in METHODS]
    print(f"sherpa {sherpa.__version__}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, loss, make, num in cases():
        row = [label]
        ref = run(make(False), "swiftfit", loss).optimize_result.total_stat  # the minimum lies inside every box
        row.append(f"{ref:.10g}")
        row += [cell(make, loss, m, o, num, ref) for m, o in METHODS]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
