"""The imr-llm command line: thin wrappers over the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TextIO

from . import __version__, bulk_cli, export, summary
from .batch_cli import add_command as add_batch_command
from .cache import Cache, NullCache, ResponseCache
from .errors import UsageError
from .load import DEFAULT_MAX_CHARS, iter_paths
from .models import Extraction
from .record import Analyse, row_for_input
from .reports_cli import add_commands
from .settings import MODE_NAMES

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
    _add_llm_options(extract)
    extract.set_defaults(run=_run_extract)
    bulk_cli.add_command(commands)
    summary.add_command(commands)
    export.add_command(commands)
    add_commands(commands)  # eval, review, report
    add_batch_command(commands)  # batch prepare, submit, status, collect
    return parser


def _add_llm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name (default: IMR_LLM_MODEL or gpt-4o-mini)")
    parser.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    parser.add_argument(
        "--mode", choices=MODE_NAMES, help="instructor mode (default: IMR_LLM_MODE or tools)"
    )
    parser.add_argument(
        "--json-object-schema",
        action="store_true",
        help="with --mode json: send response_format json_object with the schema (llama.cpp)",
    )
    parser.add_argument("--local", action="store_true", help="run the bundled SmolLM2 model")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--cache-dir", help="cache folder (default: IMR_LLM_CACHE_DIR or ~/.cache)")
    parser.add_argument("--max-reasks", type=int, default=2, help="re-asks on conflict (default 2)")
    parser.add_argument("--max-tokens", type=int, default=1500, help="answer budget (default 1500)")


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


def _rows(args: argparse.Namespace, analyse: Analyse | None = None) -> Iterator[Extraction]:
    for name in iter_paths(args.inputs):
        yield row_for_input(name, max_chars=args.max_chars, analyse=analyse)


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


def _emit(args: argparse.Namespace, rows: Iterator[Extraction]) -> int:
    if args.max_chars < 1:
        raise UsageError("--max-chars must be a positive number")
    if args.output:
        # Rows quote medical records: a new output file is readable by its owner only.
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as out:
            return _write(rows, out, pretty=args.pretty)
    return _write(rows, sys.stdout, pretty=args.pretty)


def _run_anchors(args: argparse.Namespace) -> int:
    return _emit(args, _rows(args))


def _cache_for(args: argparse.Namespace) -> ResponseCache:
    if args.no_cache:
        return NullCache()
    return Cache(Path(args.cache_dir) / "cache.sqlite" if args.cache_dir else None)


def _run_extract(args: argparse.Namespace) -> int:
    # The LLM stack takes most of a second to import: only this command pays for it.
    from .endpoint import EndpointOptions, open_client
    from .extract import extract

    options = EndpointOptions(
        model=args.model,
        base_url=args.base_url,
        mode=args.mode,
        json_object_schema=args.json_object_schema,
        local=args.local,
        max_reasks=args.max_reasks,
        max_tokens=args.max_tokens,
    )
    with _cache_for(args) as cache, open_client(options) as client:
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


if __name__ == "__main__":
    sys.exit(main())
