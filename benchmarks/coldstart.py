"""The first multifit's wait on a fresh install: numba's cache empty, then warm.

Each measurement runs in a new Python process with ``NUMBA_CACHE_DIR`` pointing
at a fresh empty folder (cold: nothing compiled yet, as after ``pip install``)
or at the folder the cold run filled (warm: the second session). The child
times ``import swiftfit`` and the first ``multifit`` separately, on a small
problem (64 pixels); in the cold case that multifit fits on the NumPy path
while the kernel compiles in a background process (``engines/numba/warmup.py``);
the child then waits for that process (the time it took, from the first
multifit's start) and times a second multifit, which loads the kernel from the
cache the background process wrote, and compares its maps with the first's:

* ``1d``: ``Gaussian + Offset`` on 100 channels;
* ``2d``: a ``Model2D`` of ``Gaussian2D + Offset`` on 15×15 pixels;
* ``psf``: the same convolved with a 5×5 PSF (``set_psf``): the kernel's second
  signature (``engines/numba/psf.py``), which the background process compiles
  first when the first fit asks for it. "its signature cached after" is when
  the fit's own signature was cached (its marker written), "background compile
  done" when both signatures were;
* ``poisson``: the ``1d`` problem fitted with ``loss_function="ML-poisson"``:
  the damped-Newton kernel (``engines/numba/newton_loss.py``), a family of
  signatures compiled by a background process of its own when first asked for.

``--runs`` repetitions (cold and warm alternate); min / median / max seconds.
``SWIFTFIT_COMPILE=inline`` in the environment measures the old behaviour
(the first multifit compiles in the calling process).

    python benchmarks/coldstart.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import swiftfit as sf
t1 = time.perf_counter()
case = sys.argv[1]
rng = np.random.default_rng(0)
kw = {"loss_function": "ML-poisson"} if case == "poisson" else {}
if case in ("1d", "poisson"):
    x = np.arange(100.0)
    data = 500 * np.exp(-(x - 50 - rng.uniform(-2, 2, (64, 1))) ** 2 / 50) + 10
    m = sf.signals.Signal1D(rng.poisson(data).astype(float)).create_model()
    g = sf.model.components1D.Gaussian(A=500 * np.sqrt(2 * np.pi) * 5, sigma=5.5, centre=49.0)
    m.extend([g, sf.model.components1D.Offset(offset=9.0)])
else:
    yy, xx = np.mgrid[:15, :15].astype(float)
    c = 7 + rng.uniform(-0.5, 0.5, (64, 1, 1))
    data = 500 * np.exp(-((xx - c) ** 2 + (yy - c) ** 2) / 18) + 10
    m = sf.signals.Signal2D(rng.poisson(data).astype(float)).create_model()
    g = sf.model.components2D.Gaussian2D(A=500 * 2 * np.pi * 9, sigma_x=3.3, sigma_y=3.3, centre_x=7.2,
                                         centre_y=6.8)
    m.extend([g, sf.model.components2D.Offset(offset=9.0)])
    if case == "psf":
        a = np.exp(-0.5 * (np.arange(5.0) - 2) ** 2)
        m.set_psf(np.outer(a, a) / a.sum() ** 2)
from swiftfit.engines.numba import warmup
which = {"psf": "psf", "poisson": "newton"}.get(case, "plain")
start = [p.map["values"].copy() for c in m for p in c.parameters]
t2 = time.perf_counter()
m.multifit(**kw)
t3 = time.perf_counter()
slow = int(np.asarray(m.multifit_output.slow_path.data).sum())
first = np.array([p.map["values"].copy() for p in m[0].parameters])  # the peak's maps
proc = warmup._STATE["proc"].get("newton" if case == "poisson" else "lm")
own = None
if proc is not None:  # the background compile: wait for it (what a long session would not notice)
    marker = warmup._marker(which)
    while proc.poll() is None and not warmup._cached(marker):
        time.sleep(0.2)
    own = time.perf_counter() - t2
    proc.wait()
for p, v in zip([p for c in m for p in c.parameters], start):  # the same starts as the first multifit
    p.map["values"][:] = v
t4 = time.perf_counter()
m.multifit(**kw)
t5 = time.perf_counter()
again = np.array([p.map["values"] for p in m[0].parameters])
print(json.dumps({"import": t1 - t0, "multifit": t3 - t2, "slow": slow, "background": t4 - t2,
                  "own": t4 - t2 if own is None else own,
                  "second": t5 - t4, "slow2": int(np.asarray(m.multifit_output.slow_path.data).sum()),
                  "differ": float(np.max(np.abs(again - first) / np.abs(first))),
                  "mode": warmup.mode()}))
"""


def child(case: str, cache: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    res = subprocess.run([sys.executable, "-c", _CHILD, case], env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _mmm(v) -> str:
    return f"{np.min(v):.2f} / {np.median(v):.2f} / {np.max(v):.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--case", choices=("1d", "2d", "psf", "poisson", "both", "all"), default="all",
                        help="both: 1d and 2d; all: 1d, 2d, psf and poisson")
    args = parser.parse_args(argv)
    cases = {"all": ("1d", "2d", "psf", "poisson"), "both": ("1d", "2d")}.get(args.case, (args.case,))
    print("| case | import s | cold: first multifit s | cold: its signature cached after s | cold: background compile "
          "done after s | cold: next multifit (kernel loaded) s | warm (new process): first multifit s | slow-path "
          "pixels cold / next / warm | max rel. diff. NumPy-path vs kernel maps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="swiftfit-numba-") as cache:
                c = child(case, cache)
                w = child(case, cache)
            runs.append((c, w))
        col = lambda key, src=0: _mmm([r[src][key] for r in runs])  # noqa: E731
        slow = sorted({(c["slow"], c["slow2"], w["slow"]) for c, w in runs})
        differ = max(c["differ"] for c, _ in runs)
        print(f"| {case} | {col('import')} | {col('multifit')} | {col('own')} | {col('background')} | {col('second')} "
              f"| {col('multifit', 1)} | {slow} | {differ:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
