"""kill -9 every swiftfit writer at random moments; the file must always load
as its previous or its new content.

For each writer a child process (forked from this one, swiftfit already
imported) rewrites one file again and again, generation after generation
(generation ``g`` stores the value ``g``), and reports each completed
generation on a pipe. The parent kills it with SIGKILL after a random delay,
runs the next-run clean-up (:func:`swiftfit.io.safety.clean_stale`), reads the
file back and checks that it holds generation ``last`` or ``last + 1`` (the
one in flight), and that no temporary file is left.

Usage::

    python benchmarks/kill_writers.py [--runs 20] [--seed 0] [--writers a,b]

The table printed is the one in the README's "Reliability" section.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import sys
import tempfile
import time

import numpy as np

import swiftfit as sf
from swiftfit.components.components1d import Offset
from swiftfit.io.safety import TMP_TAG, clean_stale
from swiftfit.signals import Signal1D

SHAPE = (64, 256)  # 128 KiB of data: a write takes a few milliseconds


def _signal(g: int) -> Signal1D:
    s = Signal1D(np.full(SHAPE, float(g)))
    s.set_noise_variance(np.full(SHAPE, 1.0 + g))
    return s


def _model(g: int, s: Signal1D | None = None):
    s = _signal(0) if s is None else s
    m = s.create_model()
    m.append(Offset())
    m[0].offset.map["values"] = float(g)
    m[0].offset.map["is_set"] = True
    return m


def write(writer: str, path: str, g: int) -> None:
    """Write generation ``g`` of ``writer``'s file to ``path``."""
    if writer == "save_signal":
        sf.io.save_signal(_signal(g), path)
    elif writer == "signal_save":
        _signal(g).save(path)
    elif writer == "lazy_save_h5":
        _signal(g).as_lazy(chunks=(8, SHAPE[1])).save(path)
    elif writer == "lazy_save_zarr":
        _signal(g).as_lazy(chunks=(8, SHAPE[1])).save(path)
    elif writer == "eager_save_zarr":
        _signal(g).save(path)
    elif writer == "model_save":
        _model(g).save(path, name="a")
    elif writer == "save_model":
        sf.io.save_model(_model(g), path, name="a")
    elif writer == "autosave":
        from swiftfit.model.autosave import Autosave

        m = _model(g)
        save = Autosave(m, path)
        save.begin()
        save.write(np.ones(m._nav_shape, dtype=bool))
    elif writer == "export_csv":
        from swiftfit.io.export import export_results

        m = _model(g)
        export_results(m, path, format="csv")
    elif writer == "save_parameters":
        from swiftfit.io.parameter_files import save_parameters

        save_parameters(_model(g), path)
    else:
        raise ValueError(writer)


def read(writer: str, path: str) -> float:
    """The generation stored at ``path`` (raises when the file does not load)."""
    if writer in ("save_signal", "signal_save", "lazy_save_h5"):
        s = sf.load(path)
        values = np.unique(s.data)
        var = np.unique(s.metadata.Signal.Noise_properties.variance.data)
    elif writer in ("lazy_save_zarr", "eager_save_zarr"):
        s = sf.load(path, lazy=True).compute()
        values = np.unique(s.data)
        var = np.unique(s.metadata.Signal.Noise_properties.variance.data)
    elif writer in ("model_save", "save_model"):
        m = sf.load(path).models_stored["a"]()
        values = np.unique(m[0].offset.map["values"])
        var = values + 1.0
    elif writer == "autosave":
        from swiftfit.model.autosave import Autosave

        m = _model(-1)
        Autosave(m, path).load()
        values = np.unique(m[0].offset.map["values"])
        var = values + 1.0
    elif writer == "export_csv":
        with open(os.path.join(path, "results.csv"), newline="") as fh:
            rows = list(csv.reader(fh))
        values = np.unique([float(r[1]) for r in rows[1:]])
        assert len(rows) == 1 + SHAPE[0]
        var = values + 1.0
    elif writer == "save_parameters":
        from swiftfit.io.parameter_files import load_parameters

        m = _model(-1)
        load_parameters(m, path)
        values = np.unique(m[0].offset.map["values"])
        var = values + 1.0
    else:
        raise ValueError(writer)
    if values.size != 1 or var.size != 1 or var[0] != values[0] + 1.0:
        raise AssertionError(f"{writer}: mixed content {values} / {var}")
    return float(values[0])


WRITERS = {
    "save_signal": "x.h5", "signal_save": "x.h5", "lazy_save_h5": "x.h5", "lazy_save_zarr": "x.zarr",
    "eager_save_zarr": "x.zarr", "model_save": "x.h5", "save_model": "x.h5", "autosave": "x.npz",
    "export_csv": "out", "save_parameters": "x.npz",
}


def _target(writer: str, folder: str) -> str:
    path = os.path.join(folder, WRITERS[writer])
    return os.path.join(path, "results.csv") if writer == "export_csv" else path


def _child(writer: str, path: str, fd: int) -> None:
    # the parent's dask thread pool did not survive the fork: give the child its own
    from multiprocessing.pool import ThreadPool

    import dask

    dask.config.set(pool=ThreadPool(2))
    os.write(fd, b"r\n")  # ready: the parent's random delay starts now, so kills land in the writes
    g = 1
    while True:
        write(writer, path, g)
        os.write(fd, f"{g}\n".encode())
        g += 1


def kill_once(writer: str, folder: str, rng: random.Random) -> dict:
    """One run: generation 0 written, a child rewriting, SIGKILL after a random
    delay of up to four write times, check. A dict of what happened."""
    path = os.path.join(folder, WRITERS[writer])
    write(writer, path, 0)  # warm (imports, caches)
    start = time.perf_counter()
    write(writer, path, 0)
    max_delay = 4 * (time.perf_counter() - start) + 0.005
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        os.close(r)
        try:
            _child(writer, path, w)
        finally:
            os._exit(1)
    os.close(w)
    ready = os.read(r, 2)  # the child's start-up (fork, its thread pool) is not part of the delay
    time.sleep(rng.uniform(0.0, max_delay))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    text = ready[1:] if ready.startswith(b"r") else ready
    while chunk := os.read(r, 65536):
        text += chunk
    os.close(r)
    done = [int(x) for x in text.split()]
    last = done[-1] if done else 0
    leftovers_before = [n for n in os.listdir(os.path.dirname(_target(writer, folder)))
                        if n.endswith(TMP_TAG) or n.endswith(".swiftfit-old")]
    clean_stale(_target(writer, folder))  # what the next run does
    leftovers = [n for n in os.listdir(os.path.dirname(_target(writer, folder)))
                 if n.endswith(TMP_TAG) or n.endswith(".swiftfit-old")]
    loaded = read(writer, path)
    ok = loaded in (last, last + 1) and not leftovers
    return {"ok": ok, "loaded": loaded, "last": last, "temp_left": len(leftovers_before),
            "generations": len(done)}


def run(writers, runs: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for writer in writers:
        results = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as folder:
                try:
                    results.append(kill_once(writer, folder, rng))
                except Exception as exc:  # a file that does not load: a failure, reported
                    results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}", "temp_left": 0,
                                    "generations": 0, "loaded": None, "last": None})
        rows.append({
            "writer": writer, "runs": runs, "ok": sum(r["ok"] for r in results),
            "new": sum(r.get("loaded") is not None and r["loaded"] == r["last"] + 1 for r in results),
            "temps_cleaned": sum(r["temp_left"] for r in results),
            "writes": sum(r["generations"] for r in results),
            "errors": [r["error"] for r in results if "error" in r][:2],
        })
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--writers", default=",".join(WRITERS))
    args = parser.parse_args(argv)
    rows = run(args.writers.split(","), args.runs, args.seed)
    print("| writer | kills | loads as previous or new | new content (renamed, not yet reported) | temporaries left by the kill, "
          "removed by the next run | completed writes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['writer']} | {r['runs']} | {r['ok']} | {r['new']} | {r['temps_cleaned']} | {r['writes']} |")
        for e in r["errors"]:
            print(f"  error: {e}", file=sys.stderr)
    return 0 if all(r["ok"] == r["runs"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
