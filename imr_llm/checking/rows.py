"""Read imr-llm output (JSON Lines, or the indented objects of ``--pretty``) back into rows."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pydantic import ValidationError

from imr_llm.errors import UsageError
from imr_llm.models import Extraction

_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"\s*")


def read_rows(path: str | Path) -> list[Extraction]:
    """Every row of an output file ("-" reads stdin); anything else is a UsageError naming it."""
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not imr-llm output (not UTF-8 text)") from None
    return parse_rows(text, name="<stdin>" if name == "-" else name)


def parse_rows(text: str, *, name: str = "<rows>") -> list[Extraction]:
    """Rows from the text of an output file: one JSON object after another."""
    rows, at = [], 0
    while (at := _skip_space(text, at)) < len(text):
        line = text.count("\n", 0, at) + 1
        try:
            obj, at = _DECODER.raw_decode(text, at)
            rows.append(Extraction.model_validate(obj))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}:{line}: not imr-llm output (bad JSON: {exc.msg})") from None
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "row"
            raise UsageError(f"{name}:{line}: not an imr-llm row ({where}: invalid)") from None
    return rows


def _skip_space(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    return match.end() if match else at
