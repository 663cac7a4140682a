"""Build a Determination and its evidence from anchors alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter

from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.errors import ImrLlmError, InputError, UnsupportedFormatError
from imr_llm.letters.load import Letter
from imr_llm.letters.normalize import without_surrogates
from imr_llm.models import (
    HEADER_FIELDS,
    Determination,
    DisputedItem,
    ErrorInfo,
    Evidence,
    EvidenceStatus,
    Extraction,
    Guideline,
    SourceInfo,
    Status,
)

if TYPE_CHECKING:
    from imr_llm.letters.reader import LetterReader


class Analyse(Protocol):
    """Turns a letter's text into an output row (anchors only, or with an LLM)."""

    def __call__(
        self, text: str, *, path: str | None = ..., warnings: Sequence[str] = ...
    ) -> Extraction: ...


_EVIDENCE_LIST = TypeAdapter(list[Evidence])
_GUIDELINES = ("claims_administrator_guideline", "reviewer_guideline")


def _guideline(item: dict[str, Any], name: str) -> Guideline | None:
    if f"{name}.text" not in item:
        return None
    return Guideline(
        text=item[f"{name}.text"],
        mtus=item.get(f"{name}.mtus"),
        sources=item.get(f"{name}.sources", []),
        pages=item.get(f"{name}.pages", []),
        sections=item.get(f"{name}.sections", []),
    )


def _item(item: dict[str, Any]) -> DisputedItem:
    return DisputedItem(
        request=item["request"],
        decision=item["decision"],
        treatment=item.get("treatment"),
        generic_name=item.get("generic_name"),
        category=item.get("category"),
        subcategory=item.get("subcategory"),
        strength=item.get("strength"),
        quantity=item.get("quantity"),
        claims_administrator_guideline=_guideline(item, _GUIDELINES[0]),
        reviewer_guideline=_guideline(item, _GUIDELINES[1]),
        rationale=item.get("rationale"),
        reasons=item.get("reasons", []),
    )


def record_from_anchors(anchors: Anchors) -> Determination:
    """The record every anchored field supports; LLM-only fields stay empty."""
    values = anchors.values()
    letter = {k: values[k] for k in HEADER_FIELDS if k in values}
    return Determination(
        **letter,
        reviewer={
            "licensure_states": values.get("reviewer.licensure_states", []),
            "specialties": values.get("reviewer.specialties", []),
        },
        patient={"age": values.get("patient.age"), "sex": values.get("patient.sex")},
        items=[_item(i) for i in anchors.items()],
    )


def anchor_evidence(anchors: Anchors, status: EvidenceStatus = "anchor_only") -> list[Evidence]:
    """One evidence entry per anchor, in text order."""
    ordered = sorted(anchors.anchors, key=lambda a: (a.start, a.field))
    # Validating the whole list at once is several times faster than one object at a time.
    return _EVIDENCE_LIST.validate_python(
        [{"field": a.field, "start": a.start, "end": a.end, "status": status} for a in ordered]
    )


def source_info(text: str, path: str | None) -> SourceInfo:
    """Where a letter came from and a hash of its text (the key for resuming runs)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return SourceInfo(path=path, sha256=digest, chars=len(text))


def _status(anchors: Anchors) -> Status:
    if anchors.format == "not_imr":
        return "not_imr"
    return "needs_review" if anchors.problems else "ok"


def anchors_extraction(
    text: str, *, path: str | None = None, warnings: Sequence[str] = ()
) -> Extraction:
    """The output row for a letter from anchors alone (no LLM)."""
    text = without_surrogates(text)
    anchors = find_anchors(text)
    source = source_info(text, path)
    notes = [*warnings, *anchors.problems]
    if anchors.format == "not_imr":
        return Extraction(source=source, status="not_imr", record=None, warnings=notes)
    if anchors.format == "legacy" and not anchors.item_count:
        err = UnsupportedFormatError("older IMR letter layout that imr-llm cannot parse", path=path)
        return error_extraction(err, source=source, warnings=notes)
    return Extraction(
        source=source,
        status=_status(anchors),
        record=record_from_anchors(anchors),
        evidence=anchor_evidence(anchors),
        warnings=notes,
    )


def error_extraction(
    error: ImrLlmError, *, source: SourceInfo, warnings: Sequence[str] = ()
) -> Extraction:
    """A failed row that names the error instead of raising it."""
    return Extraction(
        source=source,
        status="failed",
        record=None,
        error=ErrorInfo(type=error.kind, message=str(error)),
        warnings=list(warnings),
    )


def row_for_letter(
    name: str, loaded: Letter | InputError, *, analyse: Analyse | None = None
) -> Extraction:
    """The row of input ``name`` (a path, or "-" for stdin) once read: a letter is analysed,
    an input that could not be read becomes a failed row."""
    if isinstance(loaded, InputError):
        return error_extraction(loaded, source=source_info("", None if name == "-" else name))
    return (analyse or anchors_extraction)(loaded.text, path=loaded.path, warnings=loaded.warnings)


@dataclass(frozen=True, slots=True)
class RowJson:
    """A row made in another process: its JSON, and what a writer reads of it.

    Several times cheaper to send than the model; and parsing the JSON back here would cost
    this process as much as all else it does for a row when PDF workers make the rows.
    """

    json: str
    status: Status
    source: SourceInfo
    error: ErrorInfo | None

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The row's JSON, as ``Extraction.model_dump_json`` writes it."""
        if indent is None:
            return self.json
        return Extraction.model_validate_json(self.json).model_dump_json(indent=indent)


def row_json(name: str, loaded: Letter | InputError) -> RowJson:
    """``row_for_letter`` (anchors only) as a ``RowJson``: what a PDF reader's worker sends
    back (``LetterReader.rows``)."""
    row = row_for_letter(name, loaded)
    return RowJson(row.model_dump_json(), row.status, row.source, row.error)


def anchored_rows(reader: LetterReader, names: Iterable[str]) -> Iterator[Extraction | RowJson]:
    """The anchors-only row of each input, in input order (``imr-llm anchors``).

    With several workers the rows are made in them too: made here, they would all wait on
    this one process. With one, this process makes each row while it reads the next PDF.
    """
    if reader.workers > 1:
        yield from reader.rows(names, row_json)
    else:
        yield from (row_for_letter(name, loaded) for name, loaded in reader.read(names))
