"""The ``swiftfit`` command.

``swiftfit demo [--out DIR]`` runs the demo (generated spectrum image, fit,
table, plots and result files). Fitting files from the command line
(``swiftfit fit``/``report``) belongs to a later release.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``swiftfit`` command.

    Examples
    --------
    >>> main(["--help"])   # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="swiftfit", description="Fast, batched model fitting.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="fit a generated spectrum image and write demo_output/ "
                   "(options: --out DIR, --size N, --channels N)", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from . import demo as _demo

        return _demo.main(rest)
    return 2  # pragma: no cover - argparse refuses unknown commands


if __name__ == "__main__":
    sys.exit(main())
