"""Autosave and resume for :meth:`~swiftfit.model.multifit.MultifitMixin.multifit`.

The progress of a multifit is written to one ``.npz`` file (``np.savez``,
read back with ``allow_pickle=False``: plain arrays and one JSON string, so
loading a file never executes anything). It holds

- ``fingerprint``: JSON naming the model class, its components with their
  parameter names, the navigation and signal shapes and a checksum
  (BLAKE2b) of the data and the noise variance; a file whose fingerprint
  differs from the model's is refused with a ``ValueError``
  (:class:`~swiftfit.errors.InvalidInputError`), so ``resume=True`` never
  mixes the results of another dataset of the same shape;
- ``done``: navigation-shaped bool, the pixels whose fit is finished;
- ``p{i}_values``, ``p{i}_std``, ``p{i}_is_set``: the maps of the i-th
  parameter (model order: components, then their parameters);
- ``_status``, ``_nfev``, ``_chisq``, ``_dof``, ``_lnl``, ``_nfree``: the
  model's per-pixel goodness-of-fit arrays;
- ``meta``: JSON with what a resumed run needs to repeat the interrupted one
  exactly (the chunk size and, for ``fetch_only_fixed``, the starting values).
- ``run``: JSON naming the run that wrote the file (a random id, the process).

Each save writes a temporary sibling unique to the process and renames it
(:func:`swiftfit.io.safety.atomic_target`): two multifits sharing a file name
never write into each other's temporary, and ``kill -9`` leaves the previous
save. A crafted file raises :class:`~swiftfit.errors.FileFormatError`.

Pixels that are not done are saved with the values they had when the multifit
started, not whatever a half-finished chunk left in the maps, so a resumed run
starts them exactly where the uninterrupted run would have.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InvalidInputError

__all__ = ["DEFAULT_AUTOSAVE_FILE", "PIXEL_ARRAYS", "Autosave", "check_autosave_every"]

DEFAULT_AUTOSAVE_FILE = "swiftfit_multifit_autosave.npz"
PIXEL_ARRAYS = ("_status", "_nfev", "_chisq", "_dof", "_lnl", "_nfree")
_FIELDS = ("values", "std", "is_set")
_FORMAT = "swiftfit-multifit-autosave"
_VERSION = 2  # 2: the fingerprint holds the data checksum


def check_autosave_every(value) -> int:
    """``autosave_every`` as a positive int, or an InvalidInputError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(
            f"`autosave_every` must be a positive integer (pixels fitted between two saves), got {value!r}"
        )
    return int(value)


def data_checksum(model) -> str:
    """BLAKE2b of the model's data and noise variance (dtype, shape and bytes)."""
    from ..signals import BaseSignal
    from ..signals.base import _VARIANCE

    h = hashlib.blake2b(digest_size=16)
    signal = model.signal
    var = signal.metadata.get_item(_VARIANCE)
    parts = [("data", signal.data)]
    if isinstance(var, BaseSignal):
        parts.append(("variance", var.data))
    elif var is not None:
        parts.append(("variance", np.asarray(float(var))))
    for name, arr in parts:
        arr = np.ascontiguousarray(np.asarray(arr))
        h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(memoryview(arr.reshape(-1)).cast("B"))
    return h.hexdigest()


def fingerprint(model, checksum: str | None = None) -> dict:
    """What must match between a model and an autosave file for a resume."""
    return {
        "format": _FORMAT,
        "version": _VERSION,
        "model": type(model).__name__,
        "components": [[c.name, [p.name for p in c.parameters]] for c in model._components],
        "navigation_shape": list(model._nav_shape),
        "signal_shape": list(model._signal_shape_in_array),
        "data_checksum": data_checksum(model) if checksum is None else checksum,
    }


class Autosave:
    """The autosave file of one multifit call.

    Parameters
    ----------
    model : BaseModel
    path : str or os.PathLike
        The file; written as given (no suffix is added).
    """

    def __init__(self, model, path) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"`autosave_file` must be a path (str or os.PathLike), got {path!r}")
        self.model = model
        self.path = Path(path)
        self.meta: dict = {}
        # after the last chunk the file is a consistent snapshot; a later
        # stage (the neighbour refit) must not overwrite it when interrupted
        self.frozen = False
        self._params = [p for c in model._components for p in c.parameters]
        self._initial_maps: list[np.ndarray] = []
        self._initial_arrays: dict[str, np.ndarray] = {}
        self._fingerprint = fingerprint(model)  # the data do not change during a multifit
        self.run = {"id": uuid.uuid4().hex, "pid": os.getpid()}

    def exists(self) -> bool:
        return self.path.is_file()

    def begin(self) -> None:
        """Remember the state of every pixel at the start (for the not-done ones)."""
        self._initial_maps = [np.array(p._map, copy=True) for p in self._params]
        self._initial_arrays = {name: np.array(getattr(self.model, name), copy=True) for name in PIXEL_ARRAYS}

    def write(self, done: np.ndarray) -> None:
        """Save the done pixels' results and the others' starting state, atomically."""
        if self.frozen:
            return
        arrays: dict[str, np.ndarray] = {
            "fingerprint": np.array(json.dumps(self._fingerprint)),
            "run": np.array(json.dumps(self.run)),
            "meta": np.array(json.dumps(self.meta)),
            "done": np.asarray(done, dtype=bool),
        }
        for i, (p, initial) in enumerate(zip(self._params, self._initial_maps)):
            for field in _FIELDS:
                arrays[f"p{i}_{field}"] = np.where(done, p._map[field], initial[field])
        for name in PIXEL_ARRAYS:
            current = getattr(self.model, name)
            arrays[name] = np.where(done, current, self._initial_arrays[name])
        # write a temporary file of this process and rename it: an interruption
        # leaves the previous save intact, and concurrent runs never collide
        from ..io.safety import atomic_target

        with atomic_target(self.path) as tmp, open(tmp, "xb") as f:
            np.savez(f, **arrays)

    def load(self) -> np.ndarray:
        """Put the file's maps and arrays into the model; return the ``done`` mask.

        Raises
        ------
        ValueError (InvalidInputError)
            The file is not a multifit autosave, or it was written for a
            different model.
        """
        where = f"`autosave_file` {str(self.path)!r}"
        expected = self._fingerprint
        arrays = self._read(where)
        saved, meta = arrays.pop("fingerprint"), arrays.pop("meta")
        if saved != expected:
            diff = [k for k in expected if saved.get(k) != expected[k]]
            raise InvalidInputError(
                f"`autosave_file` {str(self.path)!r} was written for a different model "
                f"(differs in {diff}: file {[saved.get(k) for k in diff]}, this model "
                f"{[expected[k] for k in diff]}); delete it or pass another `autosave_file`"
            )
        nav = tuple(expected["navigation_shape"])
        # every array checked before the model is touched
        wanted = {"done": (nav, "b")}
        for i, p in enumerate(self._params):
            for field in _FIELDS:
                wanted[f"p{i}_{field}"] = (tuple(p.map.shape), "b" if field == "is_set" else "biuf")
        for name in PIXEL_ARRAYS:
            target = getattr(self.model, name)
            wanted[name] = (tuple(target.shape), "biuf")
        for key, (shape, kinds) in wanted.items():
            arr = arrays.get(key)
            if arr is None:
                raise FileFormatError(f"{where} is corrupt: missing the array {key!r}")
            if arr.shape != shape or arr.dtype.kind not in kinds:
                raise FileFormatError(f"{where} is corrupt: {key!r} is {arr.dtype} of shape {arr.shape}, "
                                      f"expected shape {shape}")
        chunk = meta.get("chunk_size")
        if chunk is not None and (not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1):
            raise FileFormatError(f"{where} is corrupt: meta.chunk_size must be a positive integer, got {chunk!r}")
        start = meta.get("start_values")
        if start is not None and (not isinstance(start, list) or len(start) != len(self._params) or not all(
                v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in start)):
            raise FileFormatError(f"{where} is corrupt: meta.start_values must be {len(self._params)} numbers")
        done = arrays["done"].astype(bool)
        for i, p in enumerate(self._params):
            for field in _FIELDS:
                p._map[field] = arrays[f"p{i}_{field}"]
        for name in PIXEL_ARRAYS:
            target = getattr(self.model, name)
            target[...] = arrays[name]
        self.meta = meta
        return done

    def _read(self, where: str) -> dict:
        """The file's arrays with ``fingerprint`` and ``meta`` parsed (JSON dicts)."""
        import zipfile

        from ..io.safety import check_declared

        try:
            with np.load(self.path, allow_pickle=False) as npz:
                if not hasattr(npz, "files"):
                    raise FileFormatError(f"{where} is not a swiftfit multifit autosave file (a single array)")
                arrays = {}
                for k in npz.files:
                    info = npz.zip.getinfo(k + ".npy") if k + ".npy" in npz.zip.namelist() else None
                    if info is not None:  # a zip member declaring more than memory allows
                        check_declared((info.file_size,), 1, f"{where}, {k}")
                    arrays[k] = npz[k]
            fp, meta = arrays["fingerprint"], arrays["meta"]
            if fp.dtype.kind != "U" or meta.dtype.kind != "U" or fp.shape != () or meta.shape != ():
                raise FileFormatError(f"{where}: `fingerprint` and `meta` must be JSON strings")
            arrays["fingerprint"] = json.loads(str(fp))
            arrays["meta"] = json.loads(str(meta))
        except FileFormatError:
            raise
        except (OSError, ValueError, KeyError, TypeError, RecursionError, EOFError, zipfile.BadZipFile) as exc:
            raise FileFormatError(
                f"{where} is not a swiftfit multifit autosave file ({type(exc).__name__}: {exc})"
            ) from exc
        if not isinstance(arrays["fingerprint"], dict) or not isinstance(arrays["meta"], dict):
            raise FileFormatError(f"{where}: `fingerprint` and `meta` must be JSON objects")
        return arrays

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
