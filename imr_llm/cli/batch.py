"""`imr-llm batch prepare|submit|status|collect`: thin wrappers over the Batch path."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

from imr_llm.batch.files import MAX_BYTES, MAX_REQUESTS
from imr_llm.bulk.journal import open_private
from imr_llm.cli.options import add_cache_options, cache_for
from imr_llm.errors import LlmError, UsageError
from imr_llm.extraction.settings import DEFAULT_MODEL, MODE_NAMES, STRATEGY_NAMES
from imr_llm.letters.load import DEFAULT_MAX_CHARS
from imr_llm.letters.reader import TIMEOUT_ENV

if TYPE_CHECKING:
    from imr_llm.batch.collector import Collected
    from imr_llm.extraction.cache import ResponseCache
    from imr_llm.llm import BatchApi

_HOW = """how a run goes:
  imr-llm batch prepare letters/ -o run1        # round 1: each letter's first request(s)
  imr-llm batch submit run1                     # upload, start the batches (OPENAI_API_KEY)
  imr-llm batch status run1                     # until every batch is completed
  imr-llm batch collect run1 -o out.jsonl       # rows; failed validations -> round 2 re-asks
  then, while collect announces a next round: submit, status, collect again
With --strategy items, a letter whose anchors hold every item gets one request per item and
one for its diagnoses (the others one whole-letter request), and its row once all are done.
The endpoint is --base-url, else IMR_LLM_BASE_URL or OPENAI_BASE_URL, else OpenAI.
For `vllm run-batch`, skip submit: write DIR/round-N/output-0001.jsonl for
DIR/round-N/requests-0001.jsonl, then collect.
"""


def add_command(commands: Any) -> None:
    """Register `batch` and its steps on the CLI's subcommands."""
    batch = commands.add_parser(
        "batch",
        help="the OpenAI Batch API path: prepare, submit, status, collect",
        description="Extract many letters through the OpenAI Batch API (or vllm run-batch): "
        "the same requests, checks and rows as `extract`, at batch prices.",
        epilog=_HOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = batch.add_subparsers(dest="step", metavar="STEP", required=True)
    _add_prepare(steps)
    for name, run, text in (
        ("submit", _run_submit, "upload a round's request files and start its batches"),
        ("status", _run_status, "print each batch's status and request counts"),
        ("collect", _run_collect, "check the answers, write rows, prepare the re-ask round"),
    ):
        step = steps.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        step.add_argument("folder", metavar="DIR", help="the folder batch prepare wrote")
        step.add_argument("--round", type=int, help="round number (default: the latest)")
        step.add_argument("--base-url", help="OpenAI-compatible base URL with /v1/files, /batches")
        if name == "collect":
            step.add_argument("-o", "--output", help="write JSON Lines here instead of stdout")
            add_cache_options(step)
        step.set_defaults(run=run)


def _add_prepare(steps: Any) -> None:
    prepare = steps.add_parser(
        "prepare",
        help="write Batch API request files (also vllm run-batch input) and a manifest",
        description="Write the requests `extract` would send first, exactly: one per letter "
        "(strategy letter), or one per anchored item and one for the diagnoses (strategy items; "
        "a letter whose anchors miss items gets one whole-letter request, as online).",
    )
    prepare.add_argument("inputs", nargs="+", metavar="INPUT", help="letter files or directories")
    prepare.add_argument("-o", "--output", required=True, metavar="DIR", help="a new folder")
    prepare.add_argument("--model", help="model name (default: IMR_LLM_MODEL or gpt-4o-mini)")
    prepare.add_argument("--mode", choices=MODE_NAMES, help="instructor mode (default: tools)")
    prepare.add_argument("--json-object-schema", action="store_true", help="see extract")
    prepare.add_argument(
        "--strategy",
        choices=STRATEGY_NAMES,
        help="letter: one request per letter; items: one per item and one for the diagnoses "
        "(default: IMR_LLM_STRATEGY or letter)",
    )
    prepare.add_argument("--max-tokens", type=int, default=1500, help="answer budget (1500)")
    prepare.add_argument("--max-reasks", type=int, default=2, help="re-ask rounds (default 2)")
    prepare.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, help="input limit")
    prepare.add_argument("--max-requests", type=int, default=MAX_REQUESTS, help="per file")
    prepare.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="per file")
    prepare.add_argument(
        "--pdf-timeout",
        type=float,
        metavar="SECONDS",
        help=f"a PDF that takes longer to read fails its row (default: {TIMEOUT_ENV} or 30)",
    )
    add_cache_options(prepare)
    prepare.set_defaults(run=_run_prepare)


def _say(message: str) -> None:
    print(f"imr-llm batch: {message}", file=sys.stderr)


def _run_prepare(args: argparse.Namespace) -> int:
    from imr_llm.batch.jobs import prepare
    from imr_llm.extraction.settings import LlmSettings

    if args.pdf_timeout is not None and not args.pdf_timeout > 0:
        raise UsageError("--pdf-timeout must be a positive number of seconds")
    settings = LlmSettings(
        model=args.model or os.environ.get("IMR_LLM_MODEL") or DEFAULT_MODEL,
        mode=args.mode or os.environ.get("IMR_LLM_MODE") or "tools",
        json_object_schema=args.json_object_schema,
        max_tokens=args.max_tokens,
        max_reasks=args.max_reasks,
        strategy=args.strategy or os.environ.get("IMR_LLM_STRATEGY") or "letter",
    )
    limits = {"max_requests": args.max_requests, "max_bytes": args.max_bytes}
    with cache_for(args) as cache:
        done = prepare(
            args.inputs,
            args.output,
            settings=settings,
            max_chars=args.max_chars,
            cache=cache,
            pdf_timeout=args.pdf_timeout,
            **limits,
        )
    by_items = f", {done.by_items} of them item by item" if settings.strategy == "items" else ""
    _say(
        f"{done.letters} letters: {done.requests} requests for {done.asked} letters{by_items} "
        f"in {len(done.files)} file(s) under {args.output}/round-1; {done.without_request} need "
        f"no request ({done.cached} from the cache, the others unreadable or not an IMR letter: "
        "their rows come at collect)"
    )
    return 0


def _api(args: argparse.Namespace) -> BatchApi:
    from imr_llm.llm import batch_api

    env = os.environ.get
    base_url = args.base_url or env("IMR_LLM_BASE_URL") or env("OPENAI_BASE_URL")
    return batch_api(base_url=base_url, api_key=env("OPENAI_API_KEY"))


def _run_submit(args: argparse.Namespace) -> int:
    from imr_llm.batch.jobs import submit

    try:
        for entry in submit(args.folder, _api(args), round_=args.round):
            _say(f"{entry['file']} -> {entry['batch_id']}")
    except LlmError as exc:
        _say(str(exc))
        return 1
    return 0


def _run_status(args: argparse.Namespace) -> int:
    from imr_llm.batch.jobs import status

    try:
        round_, states = status(args.folder, _api(args), round_=args.round)
    except LlmError as exc:
        _say(str(exc))
        return 1
    for state in states:
        print(f"round {round_}  {state.describe()}")
    return 0


def _run_collect(args: argparse.Namespace) -> int:
    from imr_llm.batch.collector import collect

    try:
        with cache_for(args) as cache:
            if args.output:
                done = _collect_to_file(args, _api(args), cache)
            else:
                done = collect(
                    args.folder, sys.stdout, api=_api(args), round_=args.round, cache=cache
                )
    except LlmError as exc:
        _say(str(exc))
        return 1
    _report(done, args)
    return 1 if done.bad else 0


def _collect_to_file(args: argparse.Namespace, api: BatchApi, cache: ResponseCache) -> Collected:
    from imr_llm.batch.collector import collect

    # A collect called too early must not wipe the rows an earlier collect wrote; rows
    # quote medical records, so a new file is readable by its owner only.
    tmp = f"{args.output}.tmp"
    try:
        with open_private(tmp) as out:
            done = collect(args.folder, out, api=api, round_=args.round, cache=cache)
        if os.path.exists(args.output):
            shutil.copymode(args.output, tmp)
        os.replace(tmp, args.output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return done


def _report(done: Collected, args: argparse.Namespace) -> None:
    for row in done.bad:
        why = f"{row.error.type}: {row.error.message}" if row.error else "not an IMR letter"
        print(f"imr-llm: {row.source.path}: {why}", file=sys.stderr)
    for note in done.notes:
        _say(f"{note}: requests it did not answer got failed rows")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(done.statuses.items()))
    _say(
        f"round {done.round}: {counts or 'no rows'}; {done.written} of {done.letters} rows written"
    )
    if done.next_requests:
        _say(
            f"{done.next_requests} answer(s) failed validation; their re-asks are round "
            f"{done.round + 1}: run `imr-llm batch submit {args.folder}`, then collect again"
        )
    elif done.done:
        _say("every letter has its row")
