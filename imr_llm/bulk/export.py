"""Flat tables from a bulk output: letters and items, as CSV or Parquet, for pandas or DuckDB.

``letters`` has one row per letter and ``items`` one row per disputed item; they join on
``source_sha256`` (always set) or ``case_number`` (when the letter states one). In CSV,
lists are joined with "; " and booleans are ``true``/``false``; Parquet keeps real lists.
Only the last row per letter is exported (see ``journal``).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from imr_llm.bulk.journal import read_latest
from imr_llm.bulk.summary import warn_bad_line
from imr_llm.errors import UsageError
from imr_llm.models import DisputedItem, Extraction, Guideline

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

Column = tuple[str, str]  # name, type: str int float bool list<str> list<int>
BATCH_ROWS = 5000
LIST_SEPARATOR = "; "

LETTER_COLUMNS: list[Column] = [
    ("case_number", "str"), ("source_sha256", "str"), ("source_path", "str"),
    ("source_chars", "int"), ("status", "str"), ("date_assigned", "str"),
    ("decision_date", "str"), ("ur_denial_date", "str"), ("date_of_injury", "str"),
    ("application_received", "str"), ("priority", "str"),
    ("reviewer_licensure_states", "list<str>"), ("reviewer_specialties", "list<str>"),
    ("patient_age", "int"), ("patient_sex", "str"), ("diagnoses", "list<str>"),
    ("items", "int"), ("items_upheld", "int"), ("items_overturned", "int"),
    ("model", "str"), ("prompt_version", "str"), ("attempts", "int"), ("cached", "bool"),
    ("prompt_tokens", "int"), ("completion_tokens", "int"), ("discrepancies", "int"),
    ("error_type", "str"), ("error_message", "str"), ("warnings", "list<str>"),
]  # fmt: skip
_RECORD_FIELDS = {
    "case_number", "date_assigned", "decision_date", "ur_denial_date", "date_of_injury",
    "application_received", "priority", "diagnoses",
}  # fmt: skip
_GUIDELINE_COLUMNS: list[Column] = [
    ("guideline", "str"), ("mtus", "bool"), ("sources", "list<str>"),
    ("pages", "list<int>"), ("sections", "list<str>"),
]  # fmt: skip
ITEM_COLUMNS: list[Column] = [
    ("case_number", "str"), ("source_sha256", "str"), ("item_index", "int"),
    ("request", "str"), ("decision", "str"), ("treatment", "str"), ("generic_name", "str"),
    ("category", "str"), ("subcategory", "str"), ("strength", "str"), ("quantity", "float"),
    *[(f"claims_administrator_{name}", kind) for name, kind in _GUIDELINE_COLUMNS],
    *[(f"reviewer_{name}", kind) for name, kind in _GUIDELINE_COLUMNS],
    ("rationale", "str"), ("reasons", "list<str>"), ("summary", "str"),
]  # fmt: skip


def letter_row(row: Extraction) -> dict[str, Any]:
    """One row of the letters table."""
    rec, llm, err = row.record, row.llm, row.error
    items = rec.items if rec else []
    out: dict[str, Any] = {
        "source_sha256": row.source.sha256,
        "source_path": row.source.path,
        "source_chars": row.source.chars,
        "status": row.status,
        "items": len(items),
        "items_upheld": sum(1 for i in items if i.decision == "upheld"),
        "items_overturned": sum(1 for i in items if i.decision == "overturned"),
        "discrepancies": len(row.discrepancies),
        "error_type": err.type if err else None,
        "error_message": err.message if err else None,
        "warnings": row.warnings,
    }
    if rec is not None:
        out.update(rec.model_dump(include=_RECORD_FIELDS))
        out["reviewer_licensure_states"] = rec.reviewer.licensure_states
        out["reviewer_specialties"] = rec.reviewer.specialties
        out["patient_age"], out["patient_sex"] = rec.patient.age, rec.patient.sex
    if llm is not None:
        out.update(model=llm.model, prompt_version=llm.prompt_version, attempts=llm.attempts)
        out.update(cached=llm.cached, **llm.usage.model_dump())
    return out


def _guideline(prefix: str, guideline: Guideline | None) -> dict[str, Any]:
    if guideline is None:
        return {}
    values = guideline.model_dump()
    values["guideline"] = values.pop("text")
    return {f"{prefix}_{k}": v for k, v in values.items()}


def item_rows(row: Extraction) -> Iterator[dict[str, Any]]:
    """The rows of the items table for one letter."""
    if row.record is None:
        return
    for index, item in enumerate(row.record.items):
        yield _item_row(row, index, item)


def _item_row(row: Extraction, index: int, item: DisputedItem) -> dict[str, Any]:
    assert row.record is not None
    out = item.model_dump(exclude={"claims_administrator_guideline", "reviewer_guideline"})
    out.update(case_number=row.record.case_number, source_sha256=row.source.sha256)
    out["item_index"] = index
    out.update(_guideline("claims_administrator", item.claims_administrator_guideline))
    out.update(_guideline("reviewer", item.reviewer_guideline))
    return out


class _Sink(Protocol):
    def add(self, values: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(_csv_cell(v)) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _CsvSink:
    def __init__(self, path: str, columns: list[Column]) -> None:
        self.names = [name for name, _ in columns]
        self.stream = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = csv.writer(self.stream)
        self.writer.writerow(self.names)

    def add(self, values: dict[str, Any]) -> None:
        self.writer.writerow([_csv_cell(values.get(name)) for name in self.names])

    def close(self) -> None:
        self.stream.close()


def _pyarrow() -> Any:
    try:
        return importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise UsageError(
            "Parquet export needs pyarrow: pip install 'imr-llm[parquet]' (or use --format csv)"
        ) from None


class _ParquetSink:
    def __init__(self, path: str, columns: list[Column]) -> None:
        pq = _pyarrow()
        self.pa = importlib.import_module("pyarrow")
        kinds = {"str": self.pa.string(), "int": self.pa.int64(), "float": self.pa.float64()}
        kinds |= {"bool": self.pa.bool_()}
        kinds |= {f"list<{k}>": self.pa.list_(v) for k, v in list(kinds.items())}
        self.schema = self.pa.schema([(name, kinds[kind]) for name, kind in columns])
        self.writer = pq.ParquetWriter(path, self.schema)
        self.batch: list[dict[str, Any]] = []

    def add(self, values: dict[str, Any]) -> None:
        self.batch.append(values)
        if len(self.batch) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        columns = {name: [r.get(name) for r in self.batch] for name in self.schema.names}
        self.writer.write_table(self.pa.Table.from_pydict(columns, schema=self.schema))
        self.batch = []

    def close(self) -> None:
        if self.batch:
            self._flush()
        self.writer.close()


SINKS: dict[str, Callable[[str, list[Column]], _Sink]] = {"csv": _CsvSink, "parquet": _ParquetSink}


@contextmanager
def _atomic(folder: str, name: str) -> Iterator[str]:
    """A temporary path that replaces ``folder/name`` only if the block succeeds."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield temp
        os.replace(temp, os.path.join(folder, name))
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def export(rows: Iterable[Extraction], folder: str, *, fmt: str = "csv") -> tuple[int, int]:
    """Write letters.<fmt> and items.<fmt> into ``folder``; the numbers of rows written."""
    if fmt not in SINKS:
        raise UsageError(f"unknown format {fmt!r}: use csv or parquet")
    if fmt == "parquet":
        _pyarrow()  # fail before creating anything
    os.makedirs(folder, exist_ok=True)
    counts = [0, 0]
    with ExitStack() as stack:
        paths = [stack.enter_context(_atomic(folder, f"{t}.{fmt}")) for t in ("letters", "items")]
        letters = SINKS[fmt](paths[0], LETTER_COLUMNS)
        stack.callback(letters.close)  # closed before the files are moved into place
        items = SINKS[fmt](paths[1], ITEM_COLUMNS)
        stack.callback(items.close)
        for row in rows:
            letters.add(letter_row(row))
            counts[0] += 1
            for item in item_rows(row):
                items.add(item)
                counts[1] += 1
    return counts[0], counts[1]


def add_command(commands: Commands) -> None:
    """Register ``imr-llm export``."""
    parser = commands.add_parser(
        "export",
        help="letters and items tables (CSV or Parquet) from a bulk output file",
        description="Write two flat tables into DIR: letters (one row per letter) and items "
        "(one row per disputed item), joined by source_sha256 or case_number. When a letter "
        "has several rows (after --retry-failed) the last one is exported.",
    )
    parser.add_argument("output", metavar="OUT.jsonl", help="a file written by imr-llm bulk")
    parser.add_argument("--format", choices=sorted(SINKS), default="csv", help="default: csv")
    parser.add_argument("-o", "--dir", required=True, metavar="DIR", help="folder for the tables")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.output):
        raise UsageError(f"no such file: {args.output}")
    rows = read_latest(args.output, warn_bad_line(args.output))
    letters, items = export(rows, args.dir, fmt=args.format)
    print(f"{letters:,} letters and {items:,} items written to {args.dir}/ ({args.format})")
    return 0
