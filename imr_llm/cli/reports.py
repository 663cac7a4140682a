"""The eval, review and report commands: reading output rows back for people and machines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imr_llm.bulk.journal import open_private
from imr_llm.bulk.pricing import PRICES, parse_price
from imr_llm.checking.evaluation import ALIGN_THRESHOLD, DEFINITIONS, evaluate
from imr_llm.checking.labels import read_labels
from imr_llm.checking.report import render_report
from imr_llm.checking.review import LetterView, load_views, render_review
from imr_llm.checking.rows import read_rows
from imr_llm.checking.scores import format_table
from imr_llm.errors import UsageError

EXIT_OK = 0
EXIT_SOME_FAILED = 1
if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def add_commands(commands: Commands) -> None:
    """Register ``eval``, ``review`` and ``report`` on the ``imr-llm`` sub-command parser."""
    _add_eval(commands)
    _add_review(commands)
    _add_report(commands)


def _rows_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rows", metavar="ROWS", help="imr-llm output (JSON Lines), or - for stdin")


def _add_eval(commands: Commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="score output rows against hand-checked labels",
        description="Align rows and their items with labelled letters and print per-field "
        "accuracy, decision accuracy, overturned recall and precision, grounding rate, the "
        "share needing review, and tokens and cost per letter.",
        epilog=f"{DEFINITIONS}\nexit status: 0 scored; 1 no row matched a label; 2 called wrongly",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _rows_argument(parser)
    parser.add_argument("--labels", required=True, help="labels file (corpus/*/labels.jsonl)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument("--misses", action="store_true", help="list every wrong value too")
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL=IN,OUT",
        help="dollars per million input and output tokens for a model (repeatable); "
        f"built in: {', '.join(PRICES)}",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=ALIGN_THRESHOLD,
        help="request-text similarity (0..1) two items need to be aligned (default %(default)s)",
    )
    parser.set_defaults(run=run_eval)


def _labels(path: str) -> dict[str, dict[str, Any]]:
    try:
        labels = read_labels(path)
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a labels file (not UTF-8 text)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a labels file ({type(exc).__name__}: {exc})") from None
    if not all(isinstance(label.get("items", []), list) for label in labels.values()):
        raise UsageError(f"{path}: not a labels file (items must be lists)")
    return labels


def run_eval(args: argparse.Namespace) -> int:
    """Print the scores of ``args.rows`` against ``args.labels``."""
    try:
        prices = {**PRICES, **dict(parse_price(p) for p in args.price)}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 0 < args.threshold <= 1:
        raise UsageError("--threshold must be above 0 and at most 1")
    rows, labels = read_rows(args.rows), _labels(args.labels)
    scores = evaluate(rows, labels, prices=prices, threshold=args.threshold)
    data = scores.as_dict()
    print(json.dumps(data, indent=2) if args.json else format_table(data, misses=args.misses))
    if not scores.matched:
        print("imr-llm: no row matches a label (by case number or file name)", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _add_review(commands: Commands) -> None:
    parser = commands.add_parser(
        "review",
        help="an HTML page to check each letter against its record",
        description="Write one self-contained HTML page: each letter's text with every "
        "extracted field highlighted at its span (coloured by evidence status), discrepancies "
        "first, the record beside the text, a filter for letters needing review, and j/k to "
        "move between letters. Letter text is read from each row's source path.",
        epilog="exit status: 0 written; 1 written, but some letter text could not be read; "
        "2 called wrongly",
    )
    _rows_argument(parser)
    parser.add_argument("-o", "--output", required=True, help="HTML file to write")
    parser.add_argument(
        "--letter",
        metavar="N",
        help="only this letter: its row number (from 1), case number or file name",
    )
    parser.set_defaults(run=run_review)


def _pick(views: list[LetterView], wanted: str) -> list[LetterView]:
    if wanted.isdigit() and 1 <= int(wanted) <= len(views):
        return [views[int(wanted) - 1]]
    for view in views:
        stem = Path(view.row.source.path).stem if view.row.source.path else None
        if wanted in (view.name, stem, view.row.source.path):
            return [view]
    raise UsageError(
        f"--letter {wanted}: no such letter (give 1-{len(views)}, a case number or a file name)"
    )


def run_review(args: argparse.Namespace) -> int:
    """Write the review page for ``args.rows``."""
    rows = read_rows(args.rows)
    base = None if args.rows == "-" else Path(args.rows).resolve().parent
    views = load_views(rows, base=base)
    if args.letter:
        views = _pick(views, args.letter)
    with open_private(args.output) as out:  # the page quotes the letters
        out.write(render_review(views))
    status = EXIT_OK
    for view in views:
        if view.text is None and view.row.status != "failed":
            print(f"imr-llm: {view.name}: {view.note}", file=sys.stderr)
            status = EXIT_SOME_FAILED
    return status


def _add_report(commands: Commands) -> None:
    parser = commands.add_parser(
        "report",
        help="an HTML overview: overturn rates by category, specialty, guideline",
        description="Write one self-contained HTML page for analysts: overturn rate by "
        "category, subcategory, reviewer specialty and guideline source, requests per "
        "category and items per letter, as charts with the numbers behind them.",
        epilog="exit status: 0 written; 2 called wrongly",
    )
    _rows_argument(parser)
    parser.add_argument("-o", "--output", required=True, help="HTML file to write")
    parser.add_argument("--title", default="imr-llm report", help="page title")
    parser.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Write the report page for ``args.rows``."""
    rows = read_rows(args.rows)
    with open_private(args.output) as out:
        out.write(render_report(rows, title=args.title))
    return EXIT_OK
