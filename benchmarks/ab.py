"""A/B of two revisions: every benchmark's swiftfit side, maps and CPU time.

Issue 15 ("one engine behind every front door") must show that every
benchmark table re-runs with results identical to 1e-10 and no slower. This
script checks that against the tree before the refactor: for each of two
revisions (default ``be93721^``, the commit before "layout by role", and
``HEAD``) it makes a detached git worktree under ``/tmp``, then runs the
swiftfit side of each benchmark case at a small size in a subprocess with
that revision's ``src`` on ``PYTHONPATH``. The harness is the same for both
revisions (this file and the data generators / model builders of this
checkout's ``benchmarks/*.py``); it uses only API that both revisions have
(``m.multifit``, ``m.fit``, the parameter maps, ``m.multifit_output``).

Every fitted map (each parameter's values and std, the status and χ² maps;
for single fits the values and std; for the samplers the chains) is saved
to npz and compared: the worst relative difference per array
(:func:`rel_diff`; a NaN pattern that differs counts as ``inf``).
CPU time is ``time.process_time`` around the fit alone, after an untimed
warm-up fit in the same process, with ``NUMBA_NUM_THREADS=1`` and
``SWIFTFIT_COMPILE=inline``; the two revisions alternate, ``--runs`` runs
each, and the table gives the medians and their ratio (head / base) with the
run-to-run spread ((max - min) / median, the larger of the two revisions).

Covered: ``battery.py`` (8 cases), ``multifit.py`` (gauss3 on the compiled
path, on the NumPy path and on JAX), ``multifit_linear.py`` (fixed and
varying centres), ``model2d.py``, ``lazy.py`` (dask, threads), ``accuracy.py``
(the 27 NIST StRD problems from both starts, ``m.fit``), ``coverage.py``
(the three cases' multifit; the profile intervals use private model state
and are left out), ``samplers.py`` (MHMCMC, MALA, HMC chains; emcee is a
peer), ``cpufit.py`` (the swiftfit side of its 5x5 2-D and 25-point 1-D
problems). Left out: ``eels.py`` and ``eds.py`` (the EELS and EDS models did
not exist before the refactor), ``sherpa_backend.py`` (before the refactor
the sherpa backend ran only against a stand-in and its harness reads
``fit_output``, which is new), ``coldstart.py`` (times the background
compile, not a fit) and ``kill_writers.py`` (file robustness, no fit).

    python benchmarks/ab.py                       # be93721^ against HEAD
    python benchmarks/ab.py --runs 1 --only battery
    python benchmarks/ab.py BASE HEAD --keep      # keep the /tmp worktrees
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# benchmarks/coverage.py must not shadow the coverage package (numba imports it)
sys.path[:] = [q for q in sys.path if Path(q or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

TOL = 1e-10


# ------------------------------------------------------------ comparison
def rel_diff(a, b) -> float:
    """Worst relative difference of two arrays, elementwise.

    ``|a - b| / max(|a|, |b|)`` over the elements (0 where both are 0 or
    both are the same infinity); ``inf`` where the shapes differ, the NaN
    patterns differ or one side is infinite and the other not.

    Parameters
    ----------
    a, b : array_like
        The same map from the two revisions.

    Returns
    -------
    float
        0.0 for identical arrays.

    Examples
    --------
    >>> rel_diff([1.0, np.nan], [1.0 + 1e-12, np.nan]) < 2e-12
    True
    >>> rel_diff([1.0, np.nan], [1.0, 2.0])
    inf
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return float("inf")
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        return float("inf")
    keep = ~na
    a, b = a[keep], b[keep]
    if a.size == 0:
        return 0.0
    same = a == b  # equal values, equal infinities included
    if same.all():
        return 0.0
    a, b = a[~same], b[~same]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


def compare(base: dict, head: dict) -> dict:
    """Per-array :func:`rel_diff` of two ``{name: array}`` dicts.

    Parameters
    ----------
    base, head : dict
        The maps of one case from each revision.

    Returns
    -------
    dict
        ``{name: worst relative difference}``; a name on one side only
        gives ``inf``.

    Examples
    --------
    >>> compare({"x": [1.0]}, {"x": [1.0], "y": [2.0]})
    {'x': 0.0, 'y': inf}
    """
    return {k: (rel_diff(base[k], head[k]) if k in base and k in head else float("inf"))
            for k in sorted(set(base) | set(head))}


# --------------------------------------------------------- the child side
CASES: dict = {}


def _case(bench: str, name: str, scale: int = 1):
    """Register a case; ``scale`` multiplies ``--n`` (cheap cases get more pixels, for a CPU time above noise)."""
    def deco(func):
        CASES[f"{bench}/{name}"] = lambda n: func(n * scale)
        return func
    return deco


def _load(name: str):
    """A benchmark script of this checkout as a module (the same harness for both revisions)."""
    import importlib.util

    key = f"_ab_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, _HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


def _aliases() -> None:
    """Modules that item 1 renamed without changing code: the old name serves a script that imports the new one."""
    import importlib

    for new, old in (("swiftfit.reference_data", "swiftfit.datasets"), ("swiftfit.astrophot_api", "swiftfit.fitters")):
        try:
            importlib.import_module(new)
        except ImportError:
            sys.modules[new] = importlib.import_module(old)


def _maps(m) -> dict:
    out = {}
    for c in m:
        for p in c.parameters:
            for f in ("values", "std"):
                out[f"{c.name}.{p.name}.{f}"] = np.asarray(p.map[f], dtype=float)
    mo = m.multifit_output
    out["status"] = np.asarray(mo.status.data, dtype=float)
    out["chisq"] = np.asarray(mo.chisq.data, dtype=float)
    return out


def _timed(make, fit, data, warm):
    """Warm-up fit on ``warm`` (untimed), then the timed fit of ``data``: (maps, CPU s)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(make(warm))
        m = make(data)
        c0 = time.process_time()
        fit(m)
        cpu = time.process_time() - c0
    return _maps(m), cpu


def _sf():
    import swiftfit as sf

    return sf


# battery.py: every case, N pixels (gpufit5x5: 8 N)
def _battery(name):
    def run(n):
        bat = _load("battery")
        data, build, _, _ = bat.CASES[name](n, np.random.default_rng(0))

        def make(d):
            m, _ = build(_sf(), d)
            m.assign_current_values_to_all()
            return m
        return _timed(make, lambda m: m.multifit(), data, data[:2])
    return run


for _n, _s in (("broad3", 1), ("narrow", 16), ("powerlaw_lor", 4), ("voigt", 1), ("multiexp", 16), ("eds20", 1),
               ("spots2d", 1), ("gpufit5x5", 8)):
    _case("battery", _n, _s)(_battery(_n))


def _gauss3(**opts):
    def run(n):
        mf = _load("multifit")
        size = max(2, int(round(np.sqrt(n))))
        data, _ = mf.make_data(size)
        return _timed(lambda d: mf._model(_sf(), d, d.shape[-1])[0], lambda m: m.multifit(**opts), data, data[:1, :4])
    return run


_case("multifit", "gauss3", 16)(_gauss3())
_case("multifit", "gauss3 numpy")(_gauss3(kernel="numpy"))
_case("multifit", "gauss3 jax f64")(_gauss3(backend="jax", dtype="float64"))


def _linear(varying):
    def run(n):
        ml = _load("multifit_linear")
        size = max(2, int(round(np.sqrt(n))))
        data, _, cen = ml.make_data(size, 2048, varying)
        cen = cen if varying else None

        def make(d):
            return ml._setup(_sf(), d, None if cen is None else cen[: d.shape[0], : d.shape[1]], d.shape[-1])[0]
        return _timed(make, lambda m: m.multifit(optimizer="lstsq", calculate_errors=True), data, data[:1, :2])
    return run


_case("multifit_linear", "fixed", 16)(_linear(False))
_case("multifit_linear", "varying", 4)(_linear(True))


@_case("model2d", "10 spots", 4)
def _model2d(n):
    m2 = _load("model2d")
    frames = max(2, n // 16)
    data, truth = m2.make_stack(frames)
    start = m2._starts(truth)

    def make(d):
        sf = _sf()
        m = sf.signals.Signal2D(d).create_model()
        spots = [sf.model.components2D.Gaussian2D() for _ in range(m2.SPOTS)]
        m.extend(spots)
        m.append(sf.model.components2D.Offset(offset=5.0))
        for k, g in enumerate(spots):
            for i, name in enumerate(m2.NAMES):
                getattr(g, name).map["values"] = start[: d.shape[0], k, i]
        return m
    return _timed(make, lambda m: m.multifit(), data, data[:1])


@_case("lazy", "threads", 16)
def _lazy(n):
    import tempfile

    import dask

    lz = _load("lazy")
    sf = _sf()
    side = max(2, int(round(np.sqrt(n))))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lazy.zspy")
        lz.generate(path, side, side)
        warm = os.path.join(tmp, "warm.zspy")
        lz.generate(warm, 1, 2)

        def fit(m):
            with dask.config.set(scheduler="threads"):
                m.multifit()
        return _timed(lambda p: lz.model(sf.load(p, lazy=True)), fit, path, warm)


@_case("accuracy", "NIST x2 starts")
def _accuracy(n):
    """accuracy.py's ``run_swiftfit`` (an Expression, ``m.fit``) on the 27 problems from both starts."""
    import warnings

    _aliases()
    from swiftfit.reference_data import NIST_1D, load_nist

    sf = _sf()

    def fit(problem, start):
        x, y = problem.monotonic()
        m = sf.signals.Signal1D(y, axes=[{"axis": x}]).create_model()
        comp = sf.model.components1D.Expression(
            problem.expression, name=problem.name, **dict(zip(problem.parameter_names, start)))
        m.append(comp)
        out = m.fit()
        params = [getattr(comp, k) for k in problem.parameter_names]
        return [p.value for p in params], [p.std for p in params], bool(out.success)

    out, cpu = {}, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(load_nist("Misra1a"), load_nist("Misra1a").start1)  # warm-up
        for name in NIST_1D:
            prob = load_nist(name)
            for k, start in enumerate((prob.start1, prob.start2)):
                c0 = time.process_time()
                values, std, ok = fit(prob, start)
                cpu += time.process_time() - c0
                out[f"{name}.{k + 1}.values"] = np.asarray(values, dtype=float)
                out[f"{name}.{k + 1}.std"] = np.asarray(std, dtype=float)
                out[f"{name}.{k + 1}.success"] = np.asarray([float(ok)])
    return out, cpu


def _coverage(name):
    def run(n):
        cov = _load("coverage")
        index = list(cov.CASES).index(name)

        def make(k):
            return cov.CASES[name](k, np.random.default_rng([0, index]))[0]
        loss = cov.CASES[name](2, np.random.default_rng(0))[1]
        return _timed(make, lambda m: m.multifit(loss_function=loss, refit_failed=False), 4 * n, 2)
    return run


for _n, _s in (("poisson-low", 4), ("poisson-high", 8), ("ls-exp", 32)):
    _case("coverage", _n, _s)(_coverage(_n))


@_case("samplers", "MHMCMC/MALA/HMC")
def _samplers(n):
    _aliases()
    smp = _load("samplers")
    out, cpu = {}, 0.0
    for label, make in (("line", smp.make_line), ("peak", smp.make_peak)):
        m = make()[0]
        for name, cls, kw in (("MHMCMC", smp.MHMCMC, dict(max_iter=300, nwalkers=32, burn_in=50)),
                              ("MALA", smp.MALA, dict(chains=8, max_iter=150)),
                              ("HMC", smp.HMC, dict(chains=8, max_iter=60))):
            s = cls(m, progress_bar=False, seed=3, write_back=False, **kw)
            c0 = time.process_time()
            s.fit()
            cpu += time.process_time() - c0
            out[f"{label}.{name}.chain"] = np.asarray(s.chain, dtype=float)
    return out, cpu


def _cpufit(kind):
    def run(n):
        cf = _load("cpufit")
        rng = np.random.default_rng(0)
        if kind == "2d":
            data, _, start = cf.gauss2d_problem(8 * n, 5, rng)
        else:
            data, _, start = cf.gauss1d_problem(8 * n, 25, rng)

        def make(d):
            sf = _sf()
            k = d.shape[0]
            if kind == "2d":
                m = sf.signals.Signal2D(d).create_model()
                g, off = sf.model.components2D.Gaussian2D(), sf.model.components2D.Offset()
                m.extend([g, off])
                g.sigma_y.twin = g.sigma_x
                vals = {g.A: start[:k, 0] * 2 * np.pi * start[:k, 3] ** 2, g.centre_x: start[:k, 1],
                        g.centre_y: start[:k, 2], g.sigma_x: start[:k, 3], off.offset: start[:k, 4]}
            else:
                m = sf.signals.Signal1D(d).create_model()
                g, off = sf.model.components1D.Gaussian(), sf.model.components1D.Offset()
                m.extend([g, off])
                vals = {g.A: start[:k, 0] * np.sqrt(2 * np.pi) * start[:k, 2], g.centre: start[:k, 1],
                        g.sigma: start[:k, 2], off.offset: start[:k, 3]}
            for p, v in vals.items():
                p.map["values"] = v
                p.map["is_set"] = True
            return m
        return _timed(make, lambda m: m.multifit(), data, data[:2])
    return run


_case("cpufit", "GAUSS_2D 5x5", 8)(_cpufit("2d"))
_case("cpufit", "GAUSS_1D 25", 16)(_cpufit("1d"))


def child(out: str, cases: list[str], n: int) -> None:
    """Run ``cases`` with the swiftfit on ``sys.path``; maps to ``out``.npz, times and errors to ``out``.json."""
    import traceback

    sf = _sf()
    arrays, info = {}, {"swiftfit": sf.__file__, "cpu": {}, "error": {}}
    for name in cases:
        try:
            maps, cpu = CASES[name](n)
        except Exception:  # noqa: BLE001 - reported in the table
            info["error"][name] = traceback.format_exc().strip().splitlines()[-1]
            continue
        info["cpu"][name] = cpu
        arrays.update({f"{name}::{k}": v for k, v in maps.items()})
    np.savez(out + ".npz", **arrays)
    with open(out + ".json", "w") as fh:
        json.dump(info, fh)


# -------------------------------------------------------- the parent side
def _git(*args, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd or _HERE.parent, check=True, capture_output=True,
                          text=True).stdout.strip()


def worktree(rev: str) -> Path:
    """A detached worktree of ``rev`` under /tmp (reused when it is there: its numba cache survives)."""
    sha = _git("rev-parse", rev)
    path = Path(f"/tmp/ab-{sha[:12]}")
    if not (path / "src" / "swiftfit").is_dir():
        _git("worktree", "add", "--detach", str(path), sha)
    return path


def run_child(tree: Path, out: Path, cases, n) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), NUMBA_NUM_THREADS="1", SWIFTFIT_COMPILE="inline",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    cmd = ["nice", "-n", "10", sys.executable, __file__, "--child", str(out), "--n", str(n), "--cases", *cases]
    proc = subprocess.run(cmd, env=env, cwd="/tmp", capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"child on {tree} failed:\n{proc.stderr[-3000:]}")
    info = json.loads(Path(str(out) + ".json").read_text())
    if not Path(info["swiftfit"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"the child imported {info['swiftfit']}, not {tree}/src")
    return info


def _split(npz) -> dict:
    out: dict = {}
    with np.load(npz) as f:
        for key in f.files:
            case, name = key.split("::", 1)
            out.setdefault(case, {})[name] = f[key]
    return out


def table(names, maps, cpu, errors) -> list[dict]:
    """One row per case: arrays compared, the worst difference, the medians and their ratio."""
    rows = []
    for name in names:
        bench, case = name.split("/", 1)
        row = {"benchmark": bench, "case": case}
        err = [errors[r].get(name) for r in ("base", "head") if errors[r].get(name)]
        if err:
            row["error"] = err[0]
            rows.append(row)
            continue
        diffs = compare(maps["base"].get(name, {}), maps["head"].get(name, {}))
        worst = max(diffs, key=diffs.get) if diffs else None
        tb, th = np.array(cpu["base"][name]), np.array(cpu["head"][name])
        spread = max(np.ptp(tb) / np.median(tb), np.ptp(th) / np.median(th)) if np.median(tb) > 0 else np.nan
        row.update(arrays=len(diffs), worst=diffs.get(worst, 0.0), worst_array=worst,
                   over=[k for k, v in diffs.items() if v > TOL], base=float(np.median(tb)),
                   head=float(np.median(th)), ratio=float(np.median(th) / np.median(tb)), spread=float(spread),
                   repeat=maps.get("repeat", {}).get(name))
        rows.append(row)
    return rows


def markdown(rows, base_label, head_label) -> str:
    lines = [f"| benchmark | case | arrays | worst rel. diff (array) | CPU s {base_label} | CPU s {head_label} "
             "| ratio | spread |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['benchmark']} | {r['case']} | — | error: {r['error'][:80]} | | | | |")
            continue
        worst = "0 (bitwise)" if r["worst"] == 0 else f"{r['worst']:.1e} ({r['worst_array']})"
        lines.append(f"| {r['benchmark']} | {r['case']} | {r['arrays']} | {worst} | {r['base']:.3f} | "
                     f"{r['head']:.3f} | {r['ratio']:.2f} | {r['spread']:.0%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", nargs="?", default="be93721^")
    parser.add_argument("head", nargs="?", default="HEAD")
    parser.add_argument("--runs", type=int, default=3, help="runs per revision, alternating")
    parser.add_argument("--n", type=int, default=64, help="pixels per case (some cases scale it)")
    parser.add_argument("--only", nargs="*", help="cases whose name contains one of these")
    parser.add_argument("--out", default="/tmp/ab-out", help="folder for the npz/json of every run")
    parser.add_argument("--keep", action="store_true", help="keep the worktrees")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.cases, args.n)
        return 0
    names = [c for c in CASES if not args.only or any(o in c for o in args.only)]
    trees = {"base": worktree(args.base), "head": worktree(args.head)}
    labels = {r: _git("rev-parse", "--short", getattr(args, r)) for r in trees}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cpu = {r: {n: [] for n in names} for r in trees}
    errors = {r: {} for r in trees}
    maps: dict = {"repeat": {}}
    t0 = time.perf_counter()
    try:
        for i in range(args.runs):
            for r in (("base", "head") if i % 2 == 0 else ("head", "base")):
                info = run_child(trees[r], out / f"{r}-{i}", names, args.n)
                for n, t in info["cpu"].items():
                    cpu[r][n].append(t)
                errors[r].update(info["error"])
                print(f"run {i + 1} {r} ({labels[r]}): {sum(info['cpu'].values()):.1f} CPU s, "
                      f"{len(info['error'])} errors, {time.perf_counter() - t0:.0f} s so far", flush=True)
        for r in trees:
            maps[r] = _split(out / f"{r}-0.npz")
            if args.runs > 1:  # the same revision twice: is the fit deterministic?
                again = _split(out / f"{r}-1.npz")
                for n in names:
                    d = compare(maps[r].get(n, {}), again.get(n, {}))
                    maps["repeat"][n] = max([maps["repeat"].get(n) or 0.0, *d.values()])
    finally:
        if not args.keep:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=_HERE.parent, check=False)
    rows = table(names, maps, cpu, errors)
    print(f"\n{args.base} = {labels['base']}, {args.head} = {labels['head']}; {args.runs} runs each, alternating; "
          f"CPU s = median process_time of the fit; spread = (max - min) / median, the larger revision's\n")
    print(markdown(rows, labels["base"], labels["head"]))
    for r in rows:
        if r.get("over"):
            print(f"\n{r['benchmark']}/{r['case']}: > {TOL:g} in {', '.join(r['over'])}")
        if r.get("repeat"):
            print(f"\n{r['benchmark']}/{r['case']}: two runs of one revision differ by {r['repeat']:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
