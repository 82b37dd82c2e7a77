"""What every swiftfit reader and writer promises about files.

Reading: files read only what they are
--------------------------------------
* :func:`check_dataset` refuses an HDF5 dataset whose bytes live outside the
  file (external raw storage, a virtual dataset) and one whose declared size
  exceeds a limit, *before* anything is allocated or read.
* :class:`Budget` bounds one walk of a tree (HDF5 groups, zarr JSON): the
  number of nodes, the bytes of arrays and attributes, the depth; and it
  refuses a group reached twice through hard links (a "diamond" file whose
  walk grows exponentially with its depth fails at the first repeat).
* :func:`check_zarr_store` refuses symbolic links inside a zarr directory.

Soft and external HDF5 links are refused by :func:`swiftfit.io.hdf5.child`.

Writing: every write is atomic and owned
-----------------------------------------
:func:`atomic_target` gives a writer a fresh temporary sibling of its target
(``.<name>.<pid>.<random>.swiftfit-tmp``); the target is replaced by one
rename only when the writer finished, so an interrupted write (even
``kill -9``) leaves the previous content, and two writers never share a
temporary name. A directory (zarr store) is swapped by two renames; a crash
between them is repaired by the next write or read of that target.
:func:`clean_stale` removes the temporaries of dead processes.

The limits are attributes of :data:`limits` and may be raised by a user who
trusts a file:

>>> from swiftfit.io.safety import limits
>>> limits.max_tree_nodes
100000
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

from ..errors import (
    ExpressionError,
    FileFormatError,
    FileLimitError,
    InvalidInputError,
    InvalidTypeError,
    UnsafeFileError,
)

__all__ = ["Budget", "atomic_target", "check_dataset", "check_zarr_store", "clean_stale", "limits", "read_npy", "reading"]

TMP_TAG = ".swiftfit-tmp"
OLD_TAG = ".swiftfit-old"


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 * 2**30


class _Limits:
    """Bounds on the work a file may ask of a reader (see the module docstring)."""

    def __init__(self) -> None:
        #: nodes (groups, datasets, JSON containers) in one tree walk
        self.max_tree_nodes = 100_000
        #: bytes of arrays, strings and attributes read in one tree walk (metadata, models)
        self.max_tree_bytes = 256 * 2**20
        #: nesting depth of a tree
        self.max_depth = 32
        #: bytes of one array read into memory (signal data): half the physical memory
        self.max_array_bytes = _physical_memory() // 2
        #: files and folders inside one zarr store
        self.max_store_entries = 10_000_000


limits = _Limits()


def _declared_bytes(shape: tuple, itemsize: int) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n * int(itemsize)


def check_declared(shape: tuple, itemsize: int, where: str, limit: int | None = None) -> int:
    """The bytes an array of ``shape`` would take; :class:`FileLimitError` above ``limit``.

    Examples
    --------
    >>> check_declared((10**5, 10**5), 8, "x.npy", limit=2**30)
    Traceback (most recent call last):
    ...
    swiftfit.errors.FileLimitError: x.npy: declares an array of shape (100000, 100000) (80000000000 bytes); the limit is 1073741824 bytes (swiftfit.io.safety.limits.max_array_bytes)
    """
    nbytes = _declared_bytes(shape, itemsize)
    limit = limits.max_array_bytes if limit is None else limit
    if nbytes > limit:
        raise FileLimitError(f"{where}: declares an array of shape {tuple(int(s) for s in shape)} "
                             f"({nbytes} bytes); the limit is {limit} bytes "
                             "(swiftfit.io.safety.limits.max_array_bytes)")
    return nbytes


def check_dataset(ds: Any, where: str, limit: int | None = None) -> int:
    """Refuse an h5py dataset stored outside its file or declared too large; its bytes.

    ``limit`` defaults to ``limits.max_array_bytes``.
    """
    if ds.is_virtual:
        raise UnsafeFileError(f"{where}: is an HDF5 virtual dataset (its data live in other "
                              "files); swiftfit reads only the file it is given")
    if ds.id.get_create_plist().get_external_count() > 0:
        raise UnsafeFileError(f"{where}: uses HDF5 external raw storage (its bytes live in another "
                              "file); swiftfit reads only the file it is given")
    return check_declared(ds.shape or (), ds.dtype.itemsize, where, limit)


class Budget:
    """The work left to one walk of a file's tree (nodes, bytes, depth, no repeats).

    Examples
    --------
    >>> b = Budget("f.h5", max_nodes=2)
    >>> b.node("a"); b.node("b"); b.node("c")
    Traceback (most recent call last):
    ...
    swiftfit.errors.FileLimitError: f.h5, c: more than 2 nodes in one tree (swiftfit.io.safety.limits.max_tree_nodes)
    """

    def __init__(self, source: Any = "", max_nodes: int | None = None, max_bytes: int | None = None,
                 max_depth: int | None = None) -> None:
        self.source = str(source)
        self.max_nodes = limits.max_tree_nodes if max_nodes is None else max_nodes
        self.max_bytes = limits.max_tree_bytes if max_bytes is None else max_bytes
        self.max_depth = limits.max_depth if max_depth is None else max_depth
        self.nodes = 0
        self.bytes = 0
        self._seen: set = set()

    def _where(self, path: str) -> str:
        return f"{self.source}, {path}" if self.source else path

    def node(self, path: str, depth: int = 0, obj: Any = None) -> None:
        """Count one node; with an h5py object, refuse one already visited."""
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise FileLimitError(f"{self._where(path)}: more than {self.max_nodes} nodes in one tree "
                                 "(swiftfit.io.safety.limits.max_tree_nodes)")
        if depth > self.max_depth:
            raise FileLimitError(f"{self._where(path)}: nested deeper than {self.max_depth} levels")
        if obj is not None:
            key = hash(obj.id)  # h5py: file number and object address
            if key in self._seen:
                raise FileLimitError(f"{self._where(path)}: reached twice through hard links; swiftfit "
                                     "reads each group of a file once (a linked 'diamond' grows the "
                                     "walk exponentially)")
            self._seen.add(key)

    def take(self, nbytes: int, path: str) -> None:
        """Count ``nbytes`` read (arrays, attributes, strings)."""
        self.bytes += int(nbytes)
        if self.bytes > self.max_bytes:
            raise FileLimitError(f"{self._where(path)}: more than {self.max_bytes} bytes of metadata "
                                 "in one tree (swiftfit.io.safety.limits.max_tree_bytes)")

    def dataset(self, ds: Any, path: str) -> None:
        """Check an h5py dataset of the tree (:func:`check_dataset`) and count it."""
        self.node(path, 0, ds)
        self.take(check_dataset(ds, self._where(path), self.max_bytes), path)

    def attrs(self, attrs: Any, path: str) -> None:
        """Count the stored bytes of every attribute of an h5py object."""
        for key in attrs:
            try:
                size = attrs.get_id(key).get_storage_size()
            except RuntimeError:  # an empty (None) attribute has no storage
                size = 0
            self.take(size, f"{path}.{key}")


def check_zarr_store(path: str | os.PathLike) -> None:
    """Refuse a zarr directory holding symbolic links or too many entries."""
    root = os.fspath(path)
    if os.path.islink(root.rstrip("/\\")):
        raise UnsafeFileError(f"{root}: the zarr store is a symbolic link; swiftfit reads only the "
                              "store it is given")
    count = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            count += 1
            if os.path.islink(os.path.join(folder, name)):
                raise UnsafeFileError(f"{os.path.join(folder, name)}: symbolic link inside a zarr store; "
                                      "swiftfit reads only the bytes of the store it is given")
        if count > limits.max_store_entries:
            raise FileLimitError(f"{root}: more than {limits.max_store_entries} entries in the zarr store")


_OWN = (FileFormatError, ExpressionError)
_PASS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


@contextlib.contextmanager
def reading(source: Any) -> Iterator[None]:
    """Turn any error raised while reading ``source`` into a :class:`FileFormatError`
    naming it (swiftfit's file errors and ``ExpressionError`` pass unchanged,
    as do "no such file" and permission errors).
    """
    name = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    try:
        yield
    except _OWN as exc:
        if name in str(exc) or isinstance(exc, ExpressionError):  # callers name the file of an expression
            raise
        raise type(exc)(f"{name}: {exc}") from exc  # name the file
    except _PASS:
        raise
    except (InvalidInputError, InvalidTypeError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OSError, RecursionError, OverflowError, MemoryError, UnicodeError) as exc:
        raise FileFormatError(f"{name}: {type(exc).__name__}: {exc}") from exc


def read_npy(path: str | os.PathLike) -> Any:
    """``np.load(path, allow_pickle=False)`` after checking the ``.npy`` header:
    the declared array must fit in the file and under ``limits.max_array_bytes``
    (a 100-byte file declaring 10**10 elements is refused before allocation).

    Raises
    ------
    FileFormatError
        Object (pickled) dtypes, a truncated file, a malformed header.
    FileLimitError
        A declared size above the limit.
    """
    import numpy as np

    name = os.fspath(path)
    with open(name, "rb") as fh:
        if fh.read(6) == b"\x93NUMPY":
            fh.seek(0)
            try:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    shape, _, dtype = np.lib.format._read_array_header(fh, version)
            except (ValueError, TypeError, SyntaxError, OverflowError) as exc:
                raise FileFormatError(f"{name}: malformed .npy header ({exc})") from None
            if dtype.hasobject:
                raise FileFormatError(f"{name}: refused: the file holds pickled Python objects (dtype {dtype}); "
                                      "only plain numeric arrays are read (nothing is unpickled)")
            nbytes = check_declared(shape, dtype.itemsize, name)
            available = os.fstat(fh.fileno()).st_size - fh.tell()
            if nbytes > available:
                raise FileFormatError(f"{name}: the header declares shape {tuple(shape)} ({nbytes} bytes) but the "
                                      f"file holds {available} bytes of data")
    return np.load(name, allow_pickle=False)


# ------------------------------------------------------------------ writing
def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def clean_stale(target: str | os.PathLike) -> list[str]:
    """Remove what crashed writers of ``target`` left next to it; the removed paths.

    A temporary of a dead process is deleted; a set-aside old zarr store
    (left between the two renames of a directory swap) is put back when the
    target is missing, else deleted.
    """
    target = os.path.abspath(os.fspath(target))
    folder, base = os.path.split(target.rstrip("/\\"))
    prefix = f".{base}."
    removed = []
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix) or not name.endswith((TMP_TAG, OLD_TAG)):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        path = os.path.join(folder, name)
        if name.endswith(OLD_TAG) and not os.path.exists(target):
            os.rename(path, target)  # the new store never arrived: the old one is the content
            continue
        _remove(path)
        removed.append(path)
    return removed


def temp_sibling(target: str | os.PathLike, tag: str = TMP_TAG) -> str:
    """A fresh name next to ``target`` for this process (pid and a random part)."""
    target = os.path.abspath(os.fspath(target)).rstrip("/\\")
    folder, base = os.path.split(target)
    return os.path.join(folder, f".{base}.{os.getpid()}.{uuid.uuid4().hex[:16]}{tag}")


def _swap_dir(tmp: str, target: str) -> None:
    if not os.path.lexists(target):
        os.rename(tmp, target)
        return
    old = temp_sibling(target, OLD_TAG)
    os.rename(target, old)
    os.rename(tmp, target)
    _remove(old)


@contextlib.contextmanager
def atomic_target(target: str | os.PathLike, directory: bool = False) -> Iterator[str]:
    """Write to the yielded temporary path; on success it replaces ``target``.

    On an exception the temporary is removed and ``target`` is untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_target(p) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("new")
    >>> p.read_text()
    'new'
    """
    target = os.path.abspath(os.fspath(target)).rstrip("/\\")
    clean_stale(target)
    tmp = temp_sibling(target)
    try:
        yield tmp
        if directory:
            _swap_dir(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
