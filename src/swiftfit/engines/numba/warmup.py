"""The fused kernel's first compilation, out of the user's way.

On a fresh install numba's on-disk cache is empty and the fused
Levenberg–Marquardt (:func:`.driver.fit_block`, which calls every component
kind's evaluation) takes tens of seconds to compile — 19 s on a quiet
2-core machine, ~60 s on a loaded one. Loading it from the cache afterwards
takes about a second. So the first time a process needs the kernel and the
cache does not hold it, :func:`ready` starts **one background process** that
compiles it (a tiny fit through the same :func:`.lower.fused_lm` call, so the
argument types — and so the cached signature — are the ones every fit uses)
and writes numba's cache, then a marker; until the marker is there
:func:`ready` answers False and ``"lm"`` fits on its NumPy code (the
reference the kernel is tested against: same minima to 1e-8). Each later
chunk of a multifit asks again, and once the marker is written the kernel is
loaded from the cache and used. Pixels fitted meanwhile are counted in
``multifit_output.slow_path``.

One signature serves 1-D and 2-D models (an empty ``xy`` and a zero raster in
1-D). A Model2D with a PSF, oversampling or masked pixels passes one more
table (:mod:`.psf`), and numba compiles the kernels again for it: a second
signature, ``"psf"`` (:func:`variant`). The background process compiles both,
the one the first fit asked for first, and writes one marker per signature as
each is cached (:data:`VARIANTS`); a fit asks :func:`ready` about its own, so
the first PSF fit after install fits on the NumPy path while its
specialisation compiles, as the first plain fit does.

The Poisson and Huber losses run another kernel (:mod:`.newton_loss`, the
damped Newton), a second family of signatures, ``"newton"`` and
``"newton_psf"`` (:data:`NEWTON_VARIANTS`). It is compiled the same way but
only when a fit first asks for it (most users never fit those losses, and
compiling it costs as much again): its own background process, the first
such fit and those after it on the NumPy ``damped_newton`` until it is cached.

``SWIFTFIT_COMPILE`` chooses: ``"background"`` (the default) as above;
``"inline"`` compiles in the calling process the first time (the old
behaviour; the test suite sets it, so tests that ask for the compiled path
get it). ``kernel="numba"`` always waits for the compiled kernel. Where the
cache cannot be written (a read-only install with no ``NUMBA_CACHE_DIR``) a
background compile cannot help, and the kernel is compiled inline.

Hook for new component kinds: a kind is only compiled if ``model.evaluate``'s
dispatch reaches it, so a new kind costs compile time in this one background
compile and nowhere else; nothing else needs registering.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...problem.problem import Problem

__all__ = ["ready", "compile_now", "mode", "variant", "VARIANTS", "NEWTON_VARIANTS"]

_MODES = ("background", "inline")
#: the kernel signatures the background process compiles, by :func:`variant`
VARIANTS = ("plain", "psf")
#: the same for the Poisson/Huber kernel (:mod:`.newton_loss`), compiled when first asked for
NEWTON_VARIANTS = ("newton", "newton_psf")
_FAMILIES = {"lm": VARIANTS, "newton": NEWTON_VARIANTS}
#: how many tables ``ex`` holds without a PSF (:func:`.lower.lower`; :mod:`.psf` adds one)
PLAIN_TABLES = 10
_LOCK = threading.Lock()
_STATE = {"loaded": set(), "proc": {}, "failed": False}  # proc: the background process per family


def variant(low: dict | None, family: str = "lm") -> str:
    """Which compiled signature a lowered problem (:func:`.lower.lower`) runs:
    ``"psf"`` when its tables carry a PSF operator (:mod:`.psf`), else
    ``"plain"`` (also for None); with ``family="newton"`` (the Poisson/Huber
    kernel) ``"newton_psf"`` or ``"newton"``.

    >>> variant({"ex": (0,) * PLAIN_TABLES}), variant({"ex": (0,) * (PLAIN_TABLES + 1)}), variant(None)
    ('plain', 'psf', 'plain')
    >>> variant(None, "newton")
    'newton'
    """
    if family not in _FAMILIES:
        raise ValueError(f"family must be one of {tuple(_FAMILIES)}, got {family!r}")
    psf = low is not None and len(low["ex"]) > PLAIN_TABLES
    return _FAMILIES[family][1 if psf else 0]


def mode() -> str:
    """``SWIFTFIT_COMPILE``: ``"background"`` (default) or ``"inline"``.

    >>> mode() in ("background", "inline")
    True
    """
    value = os.environ.get("SWIFTFIT_COMPILE", "background")
    if value not in _MODES:
        raise ValueError(f"SWIFTFIT_COMPILE must be one of {_MODES}, got {value!r}")
    return value


def _marker(which: str = "plain") -> Path | None:
    """Where the background compile says signature ``which`` is cached; None if it cannot be written."""
    from .lower import _cache_dir, _refresh_kernel_cache

    _refresh_kernel_cache()
    cache = _cache_dir()
    if not os.access(cache, os.W_OK):
        return None
    return cache / ("swiftfit_fused.compiled" if which == "plain" else f"swiftfit_fused_{which}.compiled")


def _signature() -> str:
    """What the marker must hold: the sources' stamp, numba's and Python's versions."""
    import numba

    from .lower import _cache_dir

    try:
        stamp = (_cache_dir() / "swiftfit_fused.stamp").read_text()
    except OSError:
        stamp = ""
    return f"{stamp} numba {numba.__version__} python {sys.version.split()[0]}"


def _cached(marker: Path) -> bool:
    try:
        return marker.read_text() == _signature()
    except OSError:
        return False


def ready(wait: bool = False, low: dict | None = None, family: str = "lm") -> bool:
    """True when the fused kernel can run ``low`` (:func:`.lower.lower`'s
    tables; None: a problem without a PSF) now without a long compile here;
    ``family``: ``"lm"`` (least squares, :func:`.lower.fused_lm`) or
    ``"newton"`` (Poisson/Huber, :func:`.lower.fused_newton`).

    ``wait=True`` (``kernel="numba"``) or ``SWIFTFIT_COMPILE=inline``: always
    True (the caller compiles or loads it). Otherwise True once this process
    has used the kernel's signature for ``low`` (:func:`variant`), or numba's
    cache holds it; else starts the background compile (once per process; it
    compiles every signature, this one first) and answers False until that
    signature is cached. Each family has its own background process.

    >>> isinstance(ready(), bool)
    True
    """
    which = variant(low, family)
    if wait or which in _STATE["loaded"] or mode() == "inline":
        return True
    with _LOCK:
        if _STATE["failed"]:
            return True
        marker = _marker(which)
        if marker is None:  # nowhere to keep what a background process compiles
            return True
        if _cached(marker):
            return True
        proc = _STATE["proc"].get(family)
        if proc is None:
            proc = _STATE["proc"][family] = _start(which)
            return proc is None  # could not start one: compile here
        code = proc.poll()
        if code is None:
            return False
        if code != 0 or not _cached(marker):
            _STATE["failed"] = True  # compile here rather than fit on NumPy for ever
        return True


def any_cached() -> bool:
    """True when this process has used a kernel signature, or numba's cache
    holds one, or compiling here is the rule (``SWIFTFIT_COMPILE=inline``, no
    writable cache): what the compiled verification (:mod:`.verdict`, compiled
    and cached with every warm-up fit) may be called on without a long compile.
    Starts nothing.

    >>> isinstance(any_cached(), bool)
    True
    """
    if _STATE["loaded"] or mode() == "inline":
        return True
    markers = [_marker(which) for which in ("plain", "psf")]
    return any(m is None or _cached(m) for m in markers)


def loaded(low: dict | None = None, family: str = "lm") -> None:
    """Note that this process now holds the compiled kernel for ``low``'s
    signature (:func:`variant`; ready() is True for it from here on).
    """
    _STATE["loaded"].add(variant(low, family))


def _start(first: str = "plain"):
    env = dict(os.environ)
    # the child must import this same swiftfit (an editable install or PYTHONPATH)
    src = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env["SWIFTFIT_COMPILE"] = "inline"
    env["NUMBA_NUM_THREADS"] = "1"
    family = next((f for f, names in _FAMILIES.items() if first in names), None)
    if family is None:
        raise ValueError(f"first must be one of {VARIANTS + NEWTON_VARIANTS}, got {first!r}")
    try:
        return subprocess.Popen([sys.executable, "-c", "from swiftfit.engines.numba.warmup import compile_now; "
                                 "from swiftfit.problem.warmup import warmup_problems; "
                                 f"compile_now(warmup_problems({family!r}), first={first!r})"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def compile_now(problems: Problem | dict[str, Problem], first: str = "plain") -> list[str]:
    """Compile (or load) the fused kernel in this process for each of
    ``problems`` (a Problem, or a dict of them by :func:`variant`; the one
    named ``first`` first) and write each signature's marker once it is
    cached. Returns the signatures compiled, in order. Keys of
    :data:`NEWTON_VARIANTS` are fitted with the Poisson loss through
    :func:`.lower.fused_newton` (Huber runs the same compiled signature).

    What the background process runs, on
    :func:`swiftfit.problem.warmup.warmup_problems`.
    """
    import numpy as np

    from ... import losses
    from ...problem.verify import verify
    from .lower import fused_lm, fused_newton, lower, why_not

    if not isinstance(problems, dict):
        problems = {"given": problems}
    order = sorted(problems, key=lambda k: k != first)
    done = []
    for key in order:
        problem = problems[key]
        family = "newton" if key in NEWTON_VARIANTS else "lm"
        loss = losses.get("ML-poisson") if family == "newton" else None
        low = lower(problem, loss)
        if low is None:
            raise RuntimeError(f"the warm-up problem {key!r} has no compiled path: {why_not(problem, loss)}")
        which = variant(low, family)
        if family == "newton":
            sol = fused_newton(problem, low, loss)
        else:
            sol = fused_lm(problem, low, ftol=1e-12, xtol=1e-10, max_nfev=None, radius0=1.0)
        if not np.all(sol.status > 0):
            raise RuntimeError(f"the warm-up fit {key!r} failed: status {sol.status}")
        if family == "lm":
            # the write-back's verification of a kernel answer is compiled too (.verdict): once here
            verify(problem, losses.get("ls"), sol.theta, sol.status, checks=sol.info.get("checks"))
        loaded(low, family)
        done.append(which)
        marker = _marker(which)
        if marker is not None:
            tmp = marker.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(_signature())
            os.replace(tmp, marker)
    return done
