"""The fused kernel's first compilation, out of the user's way.

On a fresh install numba's on-disk cache is empty and the fused
Levenberg–Marquardt (:func:`.kernels.fit_block`, which calls every component
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
1-D), so one background compile covers both.

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

__all__ = ["ready", "compile_now", "mode"]

_MODES = ("background", "inline")
_LOCK = threading.Lock()
_STATE = {"loaded": False, "proc": None, "failed": False}


def mode() -> str:
    """``SWIFTFIT_COMPILE``: ``"background"`` (default) or ``"inline"``.

    >>> mode() in ("background", "inline")
    True
    """
    value = os.environ.get("SWIFTFIT_COMPILE", "background")
    if value not in _MODES:
        raise ValueError(f"SWIFTFIT_COMPILE must be one of {_MODES}, got {value!r}")
    return value


def _marker() -> Path | None:
    """Where the background compile says it is done; None if it cannot be written."""
    from .lower import _cache_dir, _refresh_kernel_cache

    _refresh_kernel_cache()
    cache = _cache_dir()
    if not os.access(cache, os.W_OK):
        return None
    return cache / "swiftfit_fused.compiled"


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


def ready(wait: bool = False) -> bool:
    """True when the fused kernel can run now without a long compile here.

    ``wait=True`` (``kernel="numba"``) or ``SWIFTFIT_COMPILE=inline``: always
    True (the caller compiles or loads it). Otherwise True once this process
    has used the kernel, or numba's cache holds it; else starts the background
    compile (once per process) and answers False until it has finished.

    >>> isinstance(ready(), bool)
    True
    """
    if wait or _STATE["loaded"] or mode() == "inline":
        return True
    with _LOCK:
        if _STATE["failed"]:
            return True
        marker = _marker()
        if marker is None:  # nowhere to keep what a background process compiles
            return True
        if _cached(marker):
            return True
        proc = _STATE["proc"]
        if proc is None:
            _STATE["proc"] = _start()
            return _STATE["proc"] is None  # could not start one: compile here
        code = proc.poll()
        if code is None:
            return False
        if code != 0 or not _cached(marker):
            _STATE["failed"] = True  # compile here rather than fit on NumPy for ever
        return True


def loaded() -> None:
    """Note that this process now holds the compiled kernel (ready() is True from here on)."""
    _STATE["loaded"] = True


def _start():
    env = dict(os.environ)
    # the child must import this same swiftfit (an editable install or PYTHONPATH)
    src = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env["SWIFTFIT_COMPILE"] = "inline"
    env["NUMBA_NUM_THREADS"] = "1"
    try:
        return subprocess.Popen([sys.executable, "-c", "from swiftfit.engines.numba.warmup import compile_now; "
                                 "from swiftfit.problem.warmup import warmup_problem; "
                                 "compile_now(warmup_problem())"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def compile_now(problem: Problem) -> None:
    """Compile (or load) the fused kernel in this process and write the marker.

    What the background process runs, on
    :func:`swiftfit.problem.warmup.warmup_problem`.
    """
    import numpy as np

    from .lower import fused_lm, lower

    sol = fused_lm(problem, lower(problem), ftol=1e-12, xtol=1e-10, max_nfev=None, radius0=1.0)
    if not np.all(sol.status > 0):
        raise RuntimeError(f"the warm-up fit failed: status {sol.status}")
    # the write-back's verification of a kernel answer is compiled too (.verdict): once here
    from ... import losses
    from ...problem.verify import verify

    verify(problem, losses.get("ls"), sol.theta, sol.status, checks=sol.info.get("checks"))
    loaded()
    marker = _marker()
    if marker is not None:
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(_signature())
        os.replace(tmp, marker)
