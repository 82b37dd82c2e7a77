"""The ``swiftfit`` command.

``swiftfit fit DATA --model MODEL.yaml [options]``
    Fit the data with the model spec (see :mod:`swiftfit.cli_spec`), print
    the report, optionally write the results (``--out results.h5``) and the
    standard plots (``--plots DIR``).
``swiftfit report results.h5 [--name NAME]``
    Print the stored model(s) of a results file: status, χ² and parameters
    (or, for a multifit, the per-pixel summary and parameter-map medians).
``swiftfit demo [--out DIR]``
    Fit a generated spectrum image and write ``demo_output/``.

Data files (``DATA``):

* ``.h5``/``.hdf5``/``.hspy``: read by :func:`swiftfit.load` (the signal and
  its axes, metadata and noise variance);
* ``.npy``: a plain numeric array read with ``allow_pickle=False`` (object
  arrays and pickles are refused); the last axis is the signal (the last two
  with ``--signal-dim 2``), calibrated with ``--offset``/``--scale``/``--units``;
* ``.csv`` (or ``.txt``): one spectrum, columns ``x,y`` or ``x,y,variance``,
  comma-separated, an optional header line and ``#`` comments; ``x`` is the
  axis (uniform or not; sorted increasing).

Exit status: 0 on success, 2 for bad input (a missing file, a bad model
spec, refused data...) with the message on stderr and no traceback.

Examples
--------
.. code-block:: console

    $ swiftfit fit spectrum.csv --model model.yaml --out results.h5 --plots plots
    $ swiftfit fit image.npy --model model.json --multifit --variance poisson
    $ swiftfit report results.h5
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

from . import errors
from .losses import LOSS_NAMES

__all__ = ["CLIError", "load_data", "main"]

_HDF5 = (".h5", ".hdf5", ".hspy")
_CSV = (".csv", ".txt")
# the library's errors for bad input (all ValueError/TypeError subclasses);
# anything else is a bug and keeps its traceback
_USER_ERRORS = (errors.InvalidInputError, errors.InvalidTypeError, errors.ExpressionError,
                errors.OptimizerError)


class CLIError(Exception):
    """Bad input for the command: printed without a traceback, exit status 2."""


# ------------------------------------------------------------------- data
def load_data(path: str | os.PathLike, signal_dim: int = 1, offset: float | None = None,
              scale: float | None = None, units: str | None = None) -> Any:
    """Read a data file as a Signal1D or Signal2D (see the module docstring
    for the formats).

    Raises
    ------
    CLIError
        For a missing, unreadable or refused file (never a traceback).

    Examples
    --------
    >>> s = load_data("spectrum.csv")                          # doctest: +SKIP
    >>> s = load_data("image.npy", offset=100.0, scale=0.5)    # doctest: +SKIP
    """
    from .signals import Signal1D, Signal2D

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise CLIError(f"{name}: no such file")
    ext = os.path.splitext(name)[1].lower()
    if ext in _HDF5:
        signal = _load_hdf5(name)
    elif ext == ".npy":
        signal = _load_npy(name, signal_dim)
    elif ext in _CSV:
        signal = _load_csv(name)
    else:
        raise CLIError(f"{name}: unknown data format {ext!r}; use .h5/.hdf5/.hspy, .npy or .csv")
    if not isinstance(signal, (Signal1D, Signal2D)):
        raise CLIError(f"{name}: holds a {type(signal).__name__}; fitting needs a Signal1D or Signal2D")
    if ext not in _HDF5:
        signal.metadata.General.title = os.path.basename(name)
    elif (offset, scale, units) == (None, None, None):
        return signal  # the file's own calibration
    for ax in signal.axes_manager.signal_axes:
        try:
            if offset is not None:
                ax.offset = offset
            if scale is not None:
                ax.scale = scale
        except (ValueError, TypeError) as exc:
            raise CLIError(f"{name}: cannot calibrate the signal axis: {exc}") from None
        if units is not None:
            ax.units = units
    return signal


def _load_hdf5(name: str) -> Any:
    from . import load

    try:
        return load(name)
    except ImportError as exc:
        raise CLIError(f"{name}: {exc}") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        # load() refuses anything but plain data (no pickles, no code) with ValueError
        raise CLIError(f"{name}: cannot read it as a swiftfit/HyperSpy HDF5 file: {exc}") from None


def _load_npy(name: str, signal_dim: int) -> Any:
    from .io.safety import read_npy
    from .signals import Signal1D, Signal2D

    try:
        data = read_npy(name)  # the header's declared size checked before allocation
    except ValueError as exc:
        if "pickle" in str(exc):
            raise CLIError(f"{name}: refused: the file holds pickled Python objects; only plain "
                           "numeric .npy arrays are read (nothing is unpickled)") from None
        raise CLIError(f"{name}: not a readable .npy array: {exc}") from None
    except OSError as exc:
        raise CLIError(f"{name}: cannot read it: {exc}") from None
    if not isinstance(data, np.ndarray):  # np.load gives an NpzFile for .npz content
        raise CLIError(f"{name}: not a single .npy array")
    if data.dtype.kind not in "biuf":
        raise CLIError(f"{name}: refused: dtype {data.dtype} is not a real numeric type")
    if data.ndim < signal_dim:
        raise CLIError(f"{name}: a {signal_dim}-D signal needs at least {signal_dim} dimension(s), "
                       f"got shape {data.shape}")
    cls = Signal1D if signal_dim == 1 else Signal2D
    return cls(data.astype(float, copy=False))


def _load_csv(name: str) -> Any:
    from .signals import Signal1D

    rows, header = [], None
    try:
        with open(name, newline="", encoding="utf-8-sig") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                cells = [c.strip() for c in row]
                if not any(cells) or cells[0].startswith("#"):
                    continue
                if len(cells) not in (2, 3):
                    raise CLIError(f"{name} line {lineno}: expected 2 columns (x,y) or 3 "
                                   f"(x,y,variance), got {len(cells)}")
                try:
                    rows.append([float(c) for c in cells])
                except ValueError:
                    if rows or header is not None:
                        raise CLIError(f"{name} line {lineno}: expected numbers, got {row!r}") from None
                    header = cells
                    continue
                if len(rows[-1]) != len(rows[0]):
                    raise CLIError(f"{name} line {lineno}: {len(cells)} columns; the first row has "
                                   f"{len(rows[0])}")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CLIError(f"{name}: cannot read it as CSV: {exc}") from None
    if len(rows) < 2:
        raise CLIError(f"{name}: needs at least two data rows (x,y)")
    table = np.asarray(rows)
    if not np.all(np.isfinite(table)):
        raise CLIError(f"{name}: values must be finite (no nan/inf)")
    table = table[np.argsort(table[:, 0], kind="stable")]
    if np.any(np.diff(table[:, 0]) == 0):
        raise CLIError(f"{name}: the x column has repeated values")
    axis = {"axis": table[:, 0]}
    if header is not None:
        axis["name"] = header[0]
    signal = Signal1D(table[:, 1], axes=[axis])
    if table.shape[1] == 3:
        if np.any(table[:, 2] < 0):
            raise CLIError(f"{name}: the variance column must be >= 0")
        signal.set_noise_variance(table[:, 2].copy())
    return signal


def _apply_variance(signal: Any, variance: str | None) -> None:
    """``--variance``: a number, ``poisson`` (the data, at least 1) or a .npy file."""
    if variance is None:
        return
    if variance == "poisson":
        if np.any(signal.data < 0):
            raise CLIError("--variance poisson: the data have negative values")
        signal.estimate_poissonian_noise_variance()
        var = signal.metadata.Signal.Noise_properties.variance
        var.data = np.maximum(var.data, 1.0)  # zero counts: variance 1, never 0
        return
    try:
        value: Any = float(variance)
    except ValueError:
        if not variance.endswith(".npy"):
            raise CLIError(f"--variance: expected a number, 'poisson' or a .npy file, got {variance!r}") from None
        if not os.path.isfile(variance):
            raise CLIError(f"--variance {variance}: no such file") from None
        from .io.safety import read_npy

        try:
            value = read_npy(variance)
        except ValueError as exc:
            raise CLIError(f"--variance {variance}: refused: {exc}") from None
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise CLIError(f"--variance {variance}: expected a real numeric array") from None
    try:
        signal.set_noise_variance(value)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"--variance: {exc}") from None


# -------------------------------------------------------------- commands
def _fit(args: argparse.Namespace) -> int:
    from .cli_report import multifit_summary, parameter_table, single_fit_summary
    from .cli_spec import build_model, load_spec

    save_plots = None
    if args.plots is not None:  # before the fit: a missing feature should not cost a long fit
        try:
            from .plotting import save_standard_plots as save_plots
        except ImportError as exc:
            raise CLIError(f"--plots needs swiftfit.plotting.save_standard_plots: {exc}") from None
    signal = load_data(args.data, args.signal_dim, args.offset, args.scale, args.units)
    _apply_variance(signal, args.variance)
    model = build_model(signal, load_spec(args.model))
    if args.pixel is not None:
        try:
            signal.axes_manager.indices = tuple(args.pixel)
        except (ValueError, TypeError, IndexError) as exc:
            raise CLIError(f"--pixel {' '.join(map(str, args.pixel))}: {exc}") from None
    nav = f", {int(np.prod(model._nav_shape))} pixels" if model._nav_shape else ""
    print(f"data: {args.data} {signal.data.shape}{nav}; model: {args.model}, "
          f"{len(model)} components")
    options = {"optimizer": args.optimizer, "loss_function": args.loss, "bounded": args.bounded}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        if args.multifit:
            model.multifit(**options)
            report = multifit_summary(model, time.perf_counter() - start)
        else:
            model.fit(**options)
            report = single_fit_summary(model, time.perf_counter() - start)
    _print_warnings(caught)
    print(report)
    if args.multifit and model._nav_shape:
        print(f"\nat navigation position {tuple(signal.axes_manager.indices)}:")
        print(parameter_table(model))
    if args.out is not None:
        try:
            name = model.save(args.out, name=args.name)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--out {args.out}: cannot write it: {exc}") from None
        print(f"\nwrote {args.out} (model {name!r}; read it back with `swiftfit report {args.out}`)")
    if save_plots is not None:
        written = save_plots(model, args.plots)
        names = ", ".join(os.fspath(p) for p in written or [])
        print(f"wrote {names or args.plots}")
    return 0


def _print_warnings(caught: list) -> None:
    seen = set()
    for w in caught:
        text = f"warning: {w.message}"
        if text not in seen:  # a multifit repeats the same warning per chunk
            seen.add(text)
            print(text, file=sys.stderr)


def _report(args: argparse.Namespace) -> int:
    from .cli_report import stored_report

    name = args.results
    if not os.path.isfile(name):
        raise CLIError(f"{name}: no such file")
    signal = _load_hdf5(name)
    stored = getattr(signal, "models_stored", None) or {}
    if not stored:
        raise CLIError(f"{name}: holds no stored model (write one with `swiftfit fit ... --out {name}`)")
    names = sorted(stored)
    if args.name is not None:
        if args.name not in stored:
            raise CLIError(f"{name}: no model named {args.name!r}; stored models are {', '.join(names)}")
        names = [args.name]
    for i, key in enumerate(names):
        entry = stored[key]
        restore = getattr(entry, "restore", entry)
        try:
            model = restore()
        except (ValueError, TypeError, KeyError, OSError) as exc:
            raise CLIError(f"{name}: cannot restore model {key!r}: {exc}") from None
        if args.pixel is not None:
            try:
                model.axes_manager.indices = tuple(args.pixel)
            except (ValueError, TypeError, IndexError) as exc:
                raise CLIError(f"--pixel {' '.join(map(str, args.pixel))}: {exc}") from None
        if i:
            print()
        print(stored_report(model, key))
    return 0


# ------------------------------------------------------------------ parser
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swiftfit", description="Fast, batched model fitting.",
        epilog="`swiftfit COMMAND --help` describes each command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser(
        "fit", help="fit a data file with a model spec",
        description="Fit DATA (.h5/.hdf5/.hspy, .npy, or .csv with columns x,y[,variance]) with "
                    "the model described in a YAML or JSON spec; print the report.",
        epilog="Model spec (YAML or JSON): 'components' (a list of {type, name, parameters, "
               "...}) and optionally 'signal_range'. A parameter is a number (its value) or a "
               "mapping with value, free, bmin, bmax, twin ('component.parameter'), "
               "twin_function_expr, expr. See the swiftfit.cli_spec module documentation.")
    fit.add_argument("data", metavar="DATA", help="data file (.h5, .hdf5, .hspy, .npy, .csv)")
    fit.add_argument("--model", "-m", required=True, metavar="SPEC",
                     help="model spec file (.yaml, .yml or .json)")
    fit.add_argument("--optimizer", default="lm", help="optimizer name (default lm)")
    fit.add_argument("--loss", default="ls", choices=LOSS_NAMES, help="loss function (default ls)")
    fit.add_argument("--bounded", action="store_true", help="respect bmin/bmax")
    fit.add_argument("--multifit", action="store_true",
                     help="fit every navigation position (default: one position)")
    fit.add_argument("--pixel", type=int, nargs="+", metavar="I",
                     help="navigation indices of the position to fit or show (default 0 ...)")
    fit.add_argument("--out", metavar="RESULTS.h5", help="write the data and fitted model here")
    fit.add_argument("--name", default="cli", help="model name in --out (default cli)")
    fit.add_argument("--plots", metavar="DIR", help="write fit.png and maps.png here")
    data = fit.add_argument_group("data options")
    data.add_argument("--signal-dim", type=int, choices=(1, 2), default=1,
                      help=".npy: signal dimensions, the last axes (default 1)")
    data.add_argument("--offset", type=float, help="signal axis offset (first value)")
    data.add_argument("--scale", type=float, help="signal axis scale (step)")
    data.add_argument("--units", help="signal axis units")
    data.add_argument("--variance", metavar="V",
                      help="noise variance: a number, 'poisson' (the data, at least 1) or a .npy "
                           "file of the data's shape")

    report = sub.add_parser(
        "report", help="print the models stored in a results file",
        description="Print the stored model(s) of a results file written by `swiftfit fit --out`: "
                    "status, chi-square and parameters, or the per-pixel summary of a multifit.")
    report.add_argument("results", metavar="RESULTS.h5")
    report.add_argument("--name", help="only this stored model (default: all)")
    report.add_argument("--pixel", type=int, nargs="+", metavar="I",
                        help="navigation indices of the position whose parameters are shown")

    sub.add_parser("demo", help="fit a generated spectrum image and write demo_output/ "
                   "(options: --out DIR, --size N, --channels N; see `swiftfit demo --help`)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``swiftfit`` command; returns the exit status.

    Examples
    --------
    >>> main(["fit", "spectrum.csv", "--model", "model.yaml"])   # doctest: +SKIP
    0
    >>> main(["report", "results.h5"])                           # doctest: +SKIP
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":  # demo parses its own options (and --help)
        from . import demo as _demo

        try:
            return _demo.main(argv[1:])
        except SystemExit as exc:
            return _exit_code(exc)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return _exit_code(exc)
    from .cli_spec import SpecError

    command = {"fit": _fit, "report": _report}[args.command]
    try:
        return command(args)
    except (CLIError, SpecError, ImportError, *_USER_ERRORS) as exc:
        print(f"swiftfit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RecursionError:  # last guard: every known deep input is refused before this
        print(f"swiftfit {args.command}: error: the input is nested too deeply to read",
              file=sys.stderr)
        return 2
    except BrokenPipeError:  # `swiftfit ... | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the exit flush does not fail again
        return 0


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    return code if isinstance(code, int) else (0 if code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
