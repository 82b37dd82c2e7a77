"""The Python around the compiled kernel, per ``multifit`` call, by stage (issue 16).

Times repeated ``multifit`` calls of a battery case (``benchmarks/battery.py``)
in CPU time of the calling thread (``time.thread_time``; run with
``NUMBA_NUM_THREADS=1`` so the kernel runs in that thread too, and
``SWIFTFIT_COMPILE=inline``) and splits each call into stages by wrapping the
functions that start them (each stage's own time, its sub-stages taken out).
Every call fits a fresh model from the case's starting values, as the battery
does (a second multifit of the same model would start at the answer):

==============  ==========================================================
``kernel``      the compiled fit (``driver.fit_block``)
``lowering``    Problem → kernel tables (``lower.lower``, cached per structure)
``driver``      ``levenberg_marquardt`` and ``fused_lm`` around the two above
``compile``     model → Problem (``FittableMixin.compile``)
``verify``      the verification (``problem.verify.verify``)
``write_back``  maps, std, status, χ² … (``_write_back`` less ``verify``)
``wrapper``     ``multifit`` less all of the above
``python``      the whole call less ``kernel``
==============  ==========================================================

    NUMBA_NUM_THREADS=1 SWIFTFIT_COMPILE=inline PYTHONPATH=src \\
        python benchmarks/pycall.py multiexp powerlaw_lor --pixels 128 --calls 60

Prints per case and stage the median (and min) over the calls, in ms
(``--per-fit``: µs per fit). ``--between`` runs something between the model's
build and the timed call: ``thrash`` touches a 32 MB array (the caches
evicted, as the SymPy build of the battery's ``multiexp`` leaves them),
``fit`` fits another (two-pixel) model of the case (the same code just run:
the call's cost when its code is in the caches); default nothing (in place). ``cpufit5x5`` is Cpufit's 5×5 problem
(``benchmarks/cpufit.py``'s model, ``tolerance=1e-4``), e.g. 20,000 fits in
one call::

    NUMBA_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pycall.py cpufit5x5 \\
        --pixels 20000 --calls 7 --per-fit
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STAGES = ("kernel", "lowering", "driver", "compile", "verify", "write_back", "wrapper", "python", "total")


class _Clock:
    """Own time per stage: a stack of open stages, each child's time taken out of its parent."""

    def __init__(self):
        self.own = dict.fromkeys(STAGES, 0.0)
        self.stack = []

    def wrap(self, stage, func):
        def timed(*args, **kwargs):
            t0 = time.thread_time()
            self.stack.append(0.0)
            try:
                return func(*args, **kwargs)
            finally:
                dt = time.thread_time() - t0
                children = self.stack.pop()
                self.own[stage] += dt - children
                if self.stack:
                    self.stack[-1] += dt
        timed.__wrapped__ = func
        return timed


def _patch(clock):
    from swiftfit.engines.numba import driver, lower
    from swiftfit.model import fit_mixin, fittable_model, write_back
    from swiftfit.optimizers import lm

    undo = []

    def put(owner, name, stage):
        old = getattr(owner, name)
        undo.append((owner, name, old))
        setattr(owner, name, clock.wrap(stage, old))

    put(driver, "fit_block", "kernel")
    put(lower, "lower", "lowering")
    put(lm, "levenberg_marquardt", "driver")
    put(fittable_model.FittableMixin, "compile", "compile")
    put(write_back, "_verify", "verify")
    put(fit_mixin.FittingMixin, "_write_back", "write_back")
    return lambda: [setattr(o, n, v) for o, n, v in reversed(undo)]


def _cpufit_case(pixels: int, seed: int):
    """Cpufit's 2-D Gaussian 5×5 (``benchmarks/cpufit.py``'s ``run_swiftfit_2d``
    model: Gaussian2D with σy twinned to σx, an Offset, per-pixel starts), fitted
    at ``tolerance=1e-4``: ``(build, options)``."""
    import cpufit

    data, _, start = cpufit.gauss2d_problem(pixels, 5, np.random.default_rng(seed))

    def build(sf, d=data):
        m = sf.signals.Signal2D(d).create_model()
        g = sf.model.components2D.Gaussian2D()
        off = sf.model.components2D.Offset()
        m.extend([g, off])
        g.sigma_y.twin = g.sigma_x
        n = d.shape[0]
        g.A.map["values"] = start[:n, 0] * 2 * np.pi * start[:n, 3] ** 2
        g.centre_x.map["values"] = start[:n, 1]
        g.centre_y.map["values"] = start[:n, 2]
        g.sigma_x.map["values"] = start[:n, 3]
        off.offset.map["values"] = start[:n, 4]
        for p in (g.A, g.centre_x, g.centre_y, g.sigma_x, off.offset):
            p.map["is_set"] = True
        return m

    return data, build, {"tolerance": 1e-4}


def measure(name: str, pixels: int, calls: int, seed: int = 0, between: str = "none") -> dict:
    """``{stage: array of ms per call}`` for ``calls`` multifit calls of case
    ``name`` (a battery case, or ``"cpufit5x5"``: see :func:`_cpufit_case`);
    ``between``: ``"none"``, ``"thrash"`` or ``"fit"`` (see the module docstring)."""
    import battery

    import swiftfit as sf

    if name == "cpufit5x5":
        data, build_model, options = _cpufit_case(pixels, seed)
        build = lambda sf, d: (build_model(sf, d), None)  # noqa: E731
        build(sf, data[:50])[0].multifit(**options)  # compile / warm
        for _ in range(2):
            build(sf, data)[0].multifit(**options)
    else:
        data, build, _, _ = battery.CASES[name](pixels, np.random.default_rng(seed))
        options = {}
        battery._fit(sf, data[:2], build, False)  # compile / warm
        for _ in range(3):
            battery._fit(sf, data, build, False)
    big = np.ones(4_000_000) if between == "thrash" else None
    other = None
    if between == "fit":
        other = build(sf, data[:2])[0]
        if name != "cpufit5x5":
            other.assign_current_values_to_all()
    clock = _Clock()
    restore = _patch(clock)
    rows = {s: [] for s in STAGES}
    try:
        multifit = clock.wrap("wrapper", type(build(sf, data[:1])[0]).multifit)
        for _ in range(calls):
            m, _ = build(sf, data)  # a fresh model, as the battery times (the maps hold the starts)
            if name != "cpufit5x5":
                m.assign_current_values_to_all()
            if big is not None:
                big += 1.0
            elif other is not None:
                multifit(other, **options)
            clock.own = dict.fromkeys(STAGES, 0.0)
            t0 = time.thread_time()
            multifit(m, **options)
            total = time.thread_time() - t0
            own = dict(clock.own)
            own["total"] = total
            own["python"] = total - own["kernel"]
            for s in STAGES:
                rows[s].append(own[s] * 1e3)
    finally:
        restore()
    return {s: np.array(v) for s, v in rows.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--pixels", type=int, default=128)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--between", choices=("none", "thrash", "fit"), default="none",
                        help="what runs between the model's build and the timed call (default: nothing)")
    parser.add_argument("--per-fit", action="store_true",
                        help="µs per fit (ms per call / pixels × 1000) instead of ms per call")
    args = parser.parse_args(argv)
    print("| case | " + " | ".join(STAGES) + " |")
    print("|---|" + "---|" * len(STAGES))
    for name in args.cases:
        t = measure(name, args.pixels, args.calls, between=args.between)
        scale = 1e3 / args.pixels if args.per_fit else 1.0
        cells = [f"{np.median(t[s]) * scale:.3f} ({t[s].min() * scale:.3f})" for s in STAGES]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
