"""The imr-llm command line: thin wrappers over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from . import __version__
from .errors import UsageError
from .load import DEFAULT_MAX_CHARS, iter_paths
from .models import Extraction
from .record import row_for_input

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2

_EPILOG = """exit status:
  0  every input gave a row with status ok or needs_review
  1  at least one input failed or is not an IMR letter (its row is still written)
  2  the command was called wrongly
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imr-llm",
        description="Turn California IMR determination letters into typed, verified records.",
    )
    parser.add_argument("--version", action="version", version=f"imr-llm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    anchors = commands.add_parser(
        "anchors",
        help="deterministic fields only (no LLM), one JSON object per letter",
        description="Print the anchored record of each letter as JSON Lines; no LLM is used.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_inputs(anchors)
    anchors.set_defaults(run=_run_anchors)
    return parser


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="letter files (.txt, .pdf), directories, or -"
    )
    parser.add_argument("-o", "--output", help="write JSON Lines here instead of stdout")
    parser.add_argument("--pretty", action="store_true", help="indented JSON for reading")
    parser.add_argument(
        "--max-chars",
        type=int,
        default=DEFAULT_MAX_CHARS,
        help="refuse letters longer than this many characters (default: %(default)s)",
    )


def _rows(args: argparse.Namespace) -> Iterator[Extraction]:
    for name in iter_paths(args.inputs):
        yield row_for_input(name, max_chars=args.max_chars)


def _write(rows: Iterator[Extraction], out: TextIO, *, pretty: bool) -> int:
    status = EXIT_OK
    for row in rows:
        out.write(row.model_dump_json(indent=2 if pretty else None) + "\n")
        out.flush()
        if row.status in ("failed", "not_imr"):
            status = EXIT_SOME_FAILED
            _complain(row)
    return status


def _complain(row: Extraction) -> None:
    where = row.source.path or "<stdin>"
    why = f"{row.error.type}: {row.error.message}" if row.error else "not an IMR letter"
    print(f"imr-llm: {where}: {why}", file=sys.stderr)


def _run_anchors(args: argparse.Namespace) -> int:
    if args.max_chars < 1:
        raise UsageError("--max-chars must be a positive number")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            return _write(_rows(args), out, pretty=args.pretty)
    return _write(_rows(args), sys.stdout, pretty=args.pretty)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imr-llm`` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"imr-llm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"imr-llm: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_SOME_FAILED
    except KeyboardInterrupt:
        print("imr-llm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
