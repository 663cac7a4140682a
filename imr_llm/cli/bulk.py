"""``imr-llm bulk``: a resumable, rate-limited run over many letters into one JSON Lines file."""

from __future__ import annotations

import argparse
import contextlib
import glob
import itertools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from imr_llm.bulk.journal import Journal
from imr_llm.bulk.summary import Summary, price_table, render, speed
from imr_llm.cli.options import add_llm_options, cache_for, endpoint_options
from imr_llm.errors import UsageError
from imr_llm.letters.load import DEFAULT_MAX_CHARS, iter_paths
from imr_llm.letters.reader import TIMEOUT_ENV
from imr_llm.models import Extraction

if TYPE_CHECKING:
    from imr_llm.bulk.progress import Progress

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 1, 130
# Failures named one per line on stderr; beyond this the summary counts them.
MAX_NOTES = 20
_GLOB = re.compile(r"[*?[]")

_EPILOG = """resuming:
  Rows are appended as letters finish. After Ctrl-C or a crash, run the same command
  again: letters that already have a row (same path, same text) are skipped. With
  --retry-failed, rows whose status is failed are redone too, and the file is then
  compacted to the newest row per letter. The cache makes nothing be paid for twice.

exit status:
  0    every input has a row with status ok or needs_review
  1    at least one input failed or is not an IMR letter (its row is still written)
  2    the command was called wrongly
  130  interrupted: run the same command again to finish
"""


def add_command(commands: Commands) -> None:
    """Register ``imr-llm bulk``."""

    parser = commands.add_parser(
        "bulk",
        help="many letters at once: concurrent, rate-limited, resumable, with progress",
        description="Extract every letter into one JSON Lines file, several at a time, "
        "within request and token rate limits. Inputs are files, directories (searched for "
        ".txt and .pdf), glob patterns, or a --list file. The endpoint is chosen as for "
        "imr-llm extract.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="files, directories, globs")
    parser.add_argument("-o", "--output", required=True, help="JSON Lines file (appended to)")
    parser.add_argument("--list", metavar="FILE", help="more input paths, one a line (- stdin)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests at once (8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes (1; 0 = one per CPU) sharing --concurrency; each gets 1/N of --rpm, --tpm",
    )
    parser.add_argument("--rpm", type=float, help="at most this many requests a minute")
    parser.add_argument("--tpm", type=float, help="at most this many tokens a minute")
    parser.add_argument("--retry-failed", action="store_true", help="redo rows that failed")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true", default=None, help="force the bar")
    shown.add_argument("--no-progress", dest="progress", action="store_false", help="no bar")
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="letter limit")
    parser.add_argument(
        "--pdf-timeout",
        type=float,
        metavar="SECONDS",
        help=f"a PDF that takes longer to read fails its row (default: {TIMEOUT_ENV} or 30)",
    )
    parser.add_argument(
        "--price", action="append", default=[], metavar="MODEL=IN,OUT", help="$ per 1M tokens"
    )
    add_llm_options(parser)
    parser.set_defaults(run=_run)


def _check(args: argparse.Namespace) -> None:
    if not args.inputs and not args.list:
        raise UsageError("bulk needs INPUT paths or --list FILE")
    if "-" in args.inputs:
        raise UsageError("bulk reads files (it resumes by path); use imr-llm extract for stdin")
    if args.concurrency < 1 or args.max_chars < 1:
        raise UsageError("--concurrency and --max-chars must be positive")
    if args.workers < 0:
        raise UsageError("--workers must be 0 (one per CPU) or more")
    if args.pdf_timeout is not None and not args.pdf_timeout > 0:
        raise UsageError("--pdf-timeout must be a positive number of seconds")
    if any(limit is not None and limit <= 0 for limit in (args.rpm, args.tpm)):
        raise UsageError("--rpm and --tpm must be positive")


def _expand(name: str) -> list[str]:
    """A glob the shell left alone is expanded here; a pattern matching nothing stays as is."""
    if os.path.exists(name) or not _GLOB.search(name):
        return [name]
    return sorted(glob.glob(name, recursive=True)) or [name]


def _listed(path: str) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if (name := line.strip()) and not name.startswith("#"):
                    yield name
    except OSError as exc:
        raise UsageError(f"cannot read --list {path}: {exc.strerror or exc}") from None


def _sources(args: argparse.Namespace) -> Callable[[], Iterator[str]]:
    """A way to list the inputs again: once to count them, once to run them."""
    stdin = [n.strip() for n in sys.stdin if n.strip()] if args.list == "-" else None

    def names() -> Iterator[str]:
        expanded = itertools.chain.from_iterable(_expand(n) for n in args.inputs)
        listed = stdin if stdin is not None else _listed(args.list) if args.list else ()
        yield from iter_paths(itertools.chain(expanded, listed))

    return names


class _Run:
    """The state of one bulk command: output file, counts, progress."""

    progress: Progress  # set once the endpoint is up, so a bad endpoint leaves no bar behind

    def __init__(self, journal: Journal, summary: Summary) -> None:
        self.journal = journal
        self.summary = summary
        self.bad = False
        self.notes = 0

    def skipped(self, path: str | None, sha256: str) -> None:
        self.summary.skipped += 1
        self.bad |= self.journal.status(path, sha256) in ("failed", "not_imr")
        self.progress.skip()

    def row(self, row: Extraction) -> None:
        self.journal.write(row)
        self.summary.add(row)
        self.progress.advance(self.summary)
        if row.status in ("failed", "not_imr"):
            self.bad = True
            self._note(row)

    def _note(self, row: Extraction) -> None:
        self.notes += 1
        if self.notes <= MAX_NOTES:
            why = f"{row.error.type}: {row.error.message}" if row.error else "not an IMR letter"
            self.progress.note(f"imr-llm: {row.source.path}: {why}")
        elif self.notes == MAX_NOTES + 1:
            self.progress.note("imr-llm: more failures not shown; the summary counts them")


def _announce(journal: Journal) -> None:
    if journal.repaired:
        print(
            f"imr-llm: {journal.path}: removed a truncated last line ({journal.repaired} bytes) "
            "left by an interrupted run; that letter is redone",
            file=sys.stderr,
        )
    if journal.bad_lines:
        print(
            f"imr-llm: {journal.path}: {len(journal.bad_lines)} line(s) are not rows "
            f"(first: line {journal.bad_lines[0]}); ignored",
            file=sys.stderr,
        )


def _drive(args: argparse.Namespace, state: _Run, names: Iterator[str], total: int) -> bool:
    """Run every input through the engine; False when interrupted."""
    # The LLM stack takes most of a second to import: only the commands that call it pay.
    from imr_llm.bulk.plan import Plan, Skipped
    from imr_llm.bulk.progress import Progress
    from imr_llm.bulk.ratelimit import RateLimiter
    from imr_llm.bulk.runner import run
    from imr_llm.extraction.endpoint import open_client

    enabled = sys.stderr.isatty() if args.progress is None else args.progress
    with cache_for(args) as cache, open_client(endpoint_options(args)) as client:
        plan = Plan(
            client=client,
            cache=cache,
            concurrency=args.concurrency,
            limiter=RateLimiter(rpm=args.rpm, tpm=args.tpm),
            ordered=False,
            max_chars=args.max_chars,
            claim=state.journal.claim,
            workers=args.workers or os.cpu_count() or 1,
            pdf_timeout=args.pdf_timeout,
        )
        state.progress = Progress(total, enabled=enabled)
        with state.progress:
            try:
                # closing(): stop the engine at once if writing a row fails or Ctrl-C comes.
                with contextlib.closing(run(names, plan)) as outcomes:
                    for outcome in outcomes:
                        if isinstance(outcome, Skipped):
                            state.skipped(outcome.path, outcome.sha256)
                        else:
                            state.row(outcome)
            except KeyboardInterrupt:
                return False
    return True


def _run(args: argparse.Namespace) -> int:
    _check(args)
    names = _sources(args)
    total = sum(1 for _ in names())
    summary = Summary(prices=price_table(args.price))
    started = time.monotonic()
    with Journal(args.output, retry_failed=args.retry_failed) as journal:
        _announce(journal)
        state = _Run(journal, summary)
        finished = _drive(args, state, names(), total)
        dropped = journal.compact() if finished and journal.replaced else 0
    _report(args, summary, time.monotonic() - started, finished, dropped)
    if not finished:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if state.bad else EXIT_OK


def _report(
    args: argparse.Namespace, summary: Summary, elapsed: float, finished: bool, dropped: int
) -> None:
    rate = summary.letters / elapsed if elapsed > 0 else 0.0
    print(render(summary), file=sys.stderr)
    done = "finished" if finished else "interrupted; run the same command again to resume"
    print(
        f"\n{done}: {summary.letters:,} rows written to {args.output} in {elapsed:,.1f} s "
        f"({speed(rate).strip()})",
        file=sys.stderr,
    )
    if dropped:
        print(f"compacted {args.output}: {dropped:,} superseded row(s) removed", file=sys.stderr)
