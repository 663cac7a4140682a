"""The imr-llm command line: thin wrappers over the library."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Generator, Iterator, Sequence
from functools import partial
from typing import TextIO

from imr_llm import __version__
from imr_llm.anchors.record import Analyse, RowJson, anchored_rows, row_for_letter
from imr_llm.bulk import export, summary
from imr_llm.bulk.journal import open_private
from imr_llm.cli import bulk as bulk_cli
from imr_llm.cli.batch import add_command as add_batch_command
from imr_llm.cli.options import add_llm_options, cache_for, endpoint_options
from imr_llm.cli.reports import add_commands
from imr_llm.errors import UsageError
from imr_llm.letters.load import DEFAULT_MAX_CHARS, iter_paths
from imr_llm.letters.reader import TIMEOUT_ENV, LetterReader, env_timeout
from imr_llm.models import Extraction

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
# Rows as written: made here, or in PDF workers (anchors --workers N)
Row = Extraction | RowJson

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
    anchors.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes reading PDFs in parallel (1; 0 = one per CPU); rows keep input order",
    )
    anchors.set_defaults(run=_run_anchors)
    extract = commands.add_parser(
        "extract",
        help="full extraction with an LLM, cross-checked against the anchors",
        description="Extract each letter with an LLM, verify it against the anchors, and "
        "print JSON Lines. The endpoint comes from --base-url/--model, else OPENAI_API_KEY, "
        "IMR_LLM_BASE_URL, IMR_LLM_MODEL, IMR_LLM_MODE, else the bundled local model.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_inputs(extract)
    add_llm_options(extract)
    extract.set_defaults(run=_run_extract)
    bulk_cli.add_command(commands)
    summary.add_command(commands)
    export.add_command(commands)
    add_commands(commands)  # eval, review, report
    add_batch_command(commands)  # batch prepare, submit, status, collect
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
    parser.add_argument(
        "--pdf-timeout",
        type=float,
        metavar="SECONDS",
        help="a PDF that takes longer to read fails its row, and the run goes on "
        f"(default: {TIMEOUT_ENV} or 30)",
    )


def _rows(args: argparse.Namespace, analyse: Analyse | None = None) -> Generator[Row, None, None]:
    # PDFs are parsed in worker processes: one that crashes or hangs the parser costs its row.
    workers = getattr(args, "workers", 1)
    timeout = env_timeout() if args.pdf_timeout is None else args.pdf_timeout
    reader = LetterReader(workers=workers, timeout=timeout, max_chars=args.max_chars)
    with reader:
        names = iter_paths(args.inputs)
        if analyse is None:
            yield from anchored_rows(reader, names)
            return
        for name, loaded in reader.read(names):
            yield row_for_letter(name, loaded, analyse=analyse)


def _write(rows: Iterator[Row], out: TextIO, *, pretty: bool) -> int:
    status = EXIT_OK
    for row in rows:
        out.write(row.model_dump_json(indent=2 if pretty else None) + "\n")
        out.flush()
        if row.status in ("failed", "not_imr"):
            status = EXIT_SOME_FAILED
            _complain(row)
    return status


def _complain(row: Row) -> None:
    where = row.source.path or "<stdin>"
    why = f"{row.error.type}: {row.error.message}" if row.error else "not an IMR letter"
    print(f"imr-llm: {where}: {why}", file=sys.stderr)


def _emit(args: argparse.Namespace, rows: Generator[Row, None, None]) -> int:
    if args.max_chars < 1:
        raise UsageError("--max-chars must be a positive number")
    if getattr(args, "workers", 1) < 0:
        raise UsageError("--workers must be 0 (one per CPU) or more")
    if args.pdf_timeout is not None and not args.pdf_timeout > 0:
        raise UsageError("--pdf-timeout must be a positive number of seconds")
    # closing(): the PDF workers stop at once if writing fails or Ctrl-C comes.
    with contextlib.closing(rows):
        if args.output:
            with open_private(args.output) as out:
                return _write(rows, out, pretty=args.pretty)
        return _write(rows, sys.stdout, pretty=args.pretty)


def _run_anchors(args: argparse.Namespace) -> int:
    return _emit(args, _rows(args))


def _run_extract(args: argparse.Namespace) -> int:
    # The LLM stack takes most of a second to import: only this command pays for it.
    from imr_llm.extraction.endpoint import open_client
    from imr_llm.extraction.pipeline import extract

    with cache_for(args) as cache, open_client(endpoint_options(args)) as client:
        analyse = partial(extract, client=client, cache=cache)
        return _emit(args, _rows(args, analyse))


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
