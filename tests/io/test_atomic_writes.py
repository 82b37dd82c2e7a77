"""Issue 19, "Lost": every writer replaces its file atomically (temporary
sibling + rename), saving onto a lazy signal's own source works, autosaves
name their data, and kill -9 never leaves a file that does not load."""

from __future__ import annotations

import os
import random
import sys
import warnings

import numpy as np
import pytest

import swiftfit as sf
from swiftfit.components.components1d import Gaussian, Offset
from swiftfit.errors import FileFormatError, InvalidInputError
from swiftfit.io.safety import TMP_TAG, atomic_target, clean_stale
from swiftfit.model.autosave import Autosave
from swiftfit.signals import Signal1D

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import kill_writers  # noqa: E402

pytest.importorskip("dask")


def _signal(value=3.0, shape=(6, 32)):
    s = Signal1D(np.full(shape, value) + np.arange(shape[-1]))
    s.set_noise_variance(np.full(shape, 2.0))
    return s


# ------------------------------------------------------------ lazy self-save
@pytest.mark.parametrize("name", ["x.h5", "x.zarr"])
def test_lazy_signal_saved_onto_its_own_source_keeps_the_data(tmp_path, name):
    pytest.importorskip("zarr")
    path = tmp_path / name
    original = _signal()
    original.as_lazy(chunks=(2, 32)).save(path) if name.endswith(".zarr") else original.save(path)
    s = sf.load(path, lazy=True)
    s.save(path)
    back = sf.load(path, lazy=True).compute()
    np.testing.assert_array_equal(back.data, original.data)
    np.testing.assert_array_equal(back.metadata.Signal.Noise_properties.variance.data, 2.0)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(TMP_TAG)]


def test_eager_save_to_zarr_writes_a_zarr_store(tmp_path):
    pytest.importorskip("zarr")
    s = _signal()
    s.save(tmp_path / "x.zarr")
    assert (tmp_path / "x.zarr").is_dir() and (tmp_path / "x.zarr" / "zarr.json").is_file()
    back = sf.load(tmp_path / "x.zarr").compute()
    np.testing.assert_array_equal(back.data, s.data)


def test_eager_save_to_zarr_with_stored_models_is_refused_before_writing(tmp_path):
    s = _signal()
    m = s.create_model()
    m.append(Offset())
    m.store("a")
    with pytest.raises(InvalidInputError, match="holds no models"):
        s.save(tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists()


# ------------------------------------------------------------ interrupted writers
class Boom(Exception):
    pass


WRITER_PATCHES = {  # writer -> (module attribute that runs mid-write, path)
    "save_signal": ("swiftfit.io.hdf5.write_signal", "x.h5"),
    "signal_save": ("swiftfit.io.hdf5_model.write_signal", "x.h5"),
    "model_save": ("swiftfit.io.hdf5_model._write_model", "x.h5"),
    "save_model": ("swiftfit.io.hdf5_model._write_model", "x.h5"),
    "lazy_save_h5": ("swiftfit.io.hdf5.write_value", "x.h5"),
    "lazy_save_zarr": ("swiftfit.io.lazy_io._axes_json", "x.zarr"),
    "eager_save_zarr": ("swiftfit.io.lazy_io._axes_json", "x.zarr"),
    "autosave": ("numpy.savez", "x.npz"),
    "export_csv": ("csv.writer", "out"),
    "save_parameters": ("numpy.savez", "x.npz"),
}


@pytest.mark.parametrize("writer", sorted(WRITER_PATCHES))
def test_a_writer_interrupted_midway_leaves_the_previous_file(tmp_path, monkeypatch, writer):
    """An exception raised inside the write (as a full disk or Ctrl-C would)."""
    if "zarr" in writer:
        pytest.importorskip("zarr")
    target, name = WRITER_PATCHES[writer]
    path = str(tmp_path / name)
    kill_writers.write(writer, path, 5)
    module, _, attr = target.rpartition(".")
    original = getattr(sys.modules[module], attr)

    def boom(*args, **kwargs):
        original(*args, **kwargs)
        raise Boom

    monkeypatch.setattr(sys.modules[module], attr, boom)
    with pytest.raises(Boom):
        kill_writers.write(writer, path, 6)
    monkeypatch.undo()
    assert kill_writers.read(writer, path) == 5
    folder = os.path.dirname(kill_writers._target(writer, str(tmp_path)))
    assert not [n for n in os.listdir(folder) if n.endswith(TMP_TAG)]


@pytest.mark.parametrize("writer", sorted(kill_writers.WRITERS))
def test_kill_9_during_a_write_leaves_previous_or_new_content(tmp_path, writer):
    if "zarr" in writer:
        pytest.importorskip("zarr")
    result = kill_writers.kill_once(writer, str(tmp_path), random.Random(sorted(kill_writers.WRITERS).index(writer)))
    assert result["ok"], result


@pytest.mark.slow
@pytest.mark.parametrize("writer", sorted(kill_writers.WRITERS))
def test_kill_9_twenty_times_per_writer(tmp_path, writer):
    rows = kill_writers.run([writer], runs=20, seed=1)
    assert rows[0]["ok"] == 20, rows


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "x.h5"
    sf.io.save_signal(_signal(), target)
    dead = tmp_path / f".x.h5.{2**22 + 12345}.abc{TMP_TAG}"  # no such pid
    dead.write_bytes(b"half a file")
    mine = tmp_path / f".x.h5.{os.getpid()}.abc{TMP_TAG}"  # a live writer's: kept
    mine.write_bytes(b"in progress")
    sf.io.save_signal(_signal(), target)
    assert not dead.exists() and mine.exists()


def test_a_zarr_swap_cut_between_its_renames_is_repaired(tmp_path):
    pytest.importorskip("zarr")
    target = tmp_path / "x.zarr"
    _signal(1.0).save(target)
    old = tmp_path / f".x.zarr.{2**22 + 12345}.abc.swiftfit-old"
    os.rename(target, old)  # a crash after the first rename
    back = sf.load(target, lazy=True).compute()  # the next read puts it back
    assert back.data[0, 0] == 1.0 and not old.exists()


def test_atomic_target_failure_leaves_nothing(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(Boom), atomic_target(target) as tmp:
        open(tmp, "w").write("new")
        raise Boom
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["x.txt"]
    assert clean_stale(target) == []


# ------------------------------------------------------------ autosave
def _cube(seed, shape=(3, 4, 64)):
    rng = np.random.default_rng(seed)
    x = np.arange(shape[-1])
    data = 50 * np.exp(-0.5 * ((x - 30) / 4) ** 2) + 5 + rng.normal(0, 0.5, shape)
    return Signal1D(data)


def _model(s):
    m = s.create_model()
    m.extend([Gaussian(A=300, centre=30, sigma=4), Offset(offset=5)])
    return m


def test_two_autosaves_sharing_a_name_do_not_collide(tmp_path, monkeypatch):
    """Run B's whole save happens while run A is inside its own write."""
    path = tmp_path / "auto.npz"
    a, b = Autosave(_model(_cube(0)), path), Autosave(_model(_cube(1)), path)
    a.begin()
    b.begin()
    done = np.ones((3, 4), dtype=bool)
    real = np.savez
    calls = []

    def savez(*args, **kwargs):
        real(*args, **kwargs)
        if not calls:
            calls.append(1)
            b.write(done)  # the other run saves in the middle of this one

    monkeypatch.setattr(np, "savez", savez)
    a.write(done)
    monkeypatch.undo()
    assert Autosave(_model(_cube(0)), path).load().all()  # a's save is the last one


def test_resume_refuses_different_data_of_the_same_shape(tmp_path):
    path = tmp_path / "auto.npz"
    save = Autosave(_model(_cube(0)), path)
    save.begin()
    save.write(np.ones((3, 4), dtype=bool))
    other = _model(_cube(1))
    with pytest.raises(InvalidInputError, match="data_checksum"):
        other.multifit(autosave_file=path, resume=True)


def _crafted(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("case", ["not_json", "json_list", "missing_array", "wrong_shape", "bad_chunk",
                                  "not_zip", "single_array", "string_map"])
def test_crafted_autosave_files_give_documented_errors(tmp_path, case):
    import json

    path = tmp_path / "auto.npz"
    m = _model(_cube(0))
    save = Autosave(m, path)
    save.begin()
    save.write(np.ones((3, 4), dtype=bool))
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if case == "not_json":
        arrays["meta"] = np.array("{not json")
    elif case == "json_list":
        arrays["fingerprint"] = np.array("[1, 2]")
    elif case == "missing_array":
        del arrays["p0_values"]
    elif case == "wrong_shape":
        arrays["p1_std"] = np.zeros(7)
    elif case == "bad_chunk":
        arrays["meta"] = np.array(json.dumps({"chunk_size": "ten"}))
    elif case == "string_map":
        arrays["p0_values"] = np.full((3, 4), "x")
    if case == "not_zip":
        path.write_bytes(b"PK\x03\x04 garbage")
    elif case == "single_array":
        with open(path, "wb") as fh:
            np.save(fh, np.zeros(3))
    else:
        _crafted(path, **arrays)
    before = [np.array(p.map, copy=True) for c in m for p in c.parameters]
    with pytest.raises(FileFormatError, match="auto.npz"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.multifit(autosave_file=path, resume=True)
    after = [p.map for c in m for p in c.parameters]
    assert all(np.array_equal(a[f], b[f], equal_nan=f != "is_set")
               for a, b in zip(before, after) for f in ("values", "std", "is_set"))
