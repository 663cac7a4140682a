"""summary and export on a small hand-made output file with known numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from imr_llm.cli.app import EXIT_OK, EXIT_USAGE, main
from imr_llm.models import (
    Determination,
    DisputedItem,
    ErrorInfo,
    Extraction,
    Guideline,
    LlmInfo,
    SourceInfo,
    Status,
    Usage,
)


def _item(decision: str, category: str, **kw: Any) -> DisputedItem:
    return DisputedItem(request=f"{category} request", decision=decision, category=category, **kw)


def _row(
    name: str,
    status: Status,
    items: list[DisputedItem] | None = None,
    specialties: tuple[str, ...] = (),
    usage: tuple[str, int, int, bool] | None = None,
    error: str | None = None,
) -> Extraction:
    record = None
    if items is not None:
        reviewer = {"licensure_states": ["CA"], "specialties": list(specialties)}
        record = Determination(case_number=f"CM16-000000{name[0]}", reviewer=reviewer, items=items)
    llm = None
    if usage is not None:
        model, prompt, completion, cached = usage
        llm = LlmInfo(
            model=model,
            prompt_version="v1",
            attempts=1,
            cached=cached,
            usage=Usage(prompt_tokens=prompt, completion_tokens=completion),
        )
    return Extraction(
        source=SourceInfo(path=f"{name}.txt", sha256=name[0] * 64, chars=100),
        status=status,
        record=record,
        llm=llm,
        error=ErrorInfo(type=error, message="bad") if error else None,
    )


GUIDELINE = Guideline(text="MTUS p. 76-77", mtus=True, sources=["MTUS"], pages=[76, 77])
ROWS = [
    _row(
        "a",
        "ok",
        [
            _item("overturned", "Pharmaceuticals", quantity=60.0,
                  claims_administrator_guideline=GUIDELINE),
            _item("upheld", "Pharmaceuticals", reasons=["criteria_not_met", "other"]),
        ],
        ("Family Practice", "Internal Medicine"),
        ("gpt-4o-mini", 1000, 200, False),
    ),
    _row("b", "needs_review", [_item("overturned", "Surgery")], ("Orthopedic Surgery",),
         ("gpt-4o-mini", 2000, 300, True)),
    _row("c", "failed", None, (), ("unknown-model", 900, 0, False), "LlmUnavailableError"),
    _row("d", "not_imr"),
    _row("e", "failed", error="PdfError"),
    # c.txt again after --retry-failed: the last row for a letter is the one that counts
    _row("c", "ok", [_item("upheld", "Therapies")], ("Physical Medicine",),
         ("unknown-model", 500, 100, False)),
]  # fmt: skip


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out.jsonl"
    path.write_text("".join(row.model_dump_json() + "\n" for row in ROWS))
    return path


def test_summary_counts(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(out), "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["letters"] == 5
    assert data["statuses"] == {"ok": 2, "needs_review": 1, "failed": 1, "not_imr": 1}
    assert data["items"] == {"total": 4, "upheld": 2, "overturned": 2}
    assert data["overturn_rate"] == 0.5
    assert [(c["name"], c["items"], c["overturned"]) for c in data["by_category"]] == [
        ("Pharmaceuticals", 2, 1),
        ("Surgery", 1, 1),
        ("Therapies", 1, 0),
    ]
    specialties = {s["name"]: (s["items"], s["overturned"]) for s in data["by_specialty"]}
    assert specialties == {
        "Family Practice": (2, 1),
        "Internal Medicine": (2, 1),
        "Orthopedic Surgery": (1, 1),
        "Physical Medicine": (1, 0),
    }
    assert data["tokens"] == {"prompt": 1500, "completion": 300}  # cached row not counted
    assert data["cached_rows"] == 1
    assert data["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    assert data["unpriced_models"] == ["unknown-model"]
    assert data["errors"] == {"PdfError": 1}


def test_summary_text_and_price_override(
    out: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMR_LLM_PRICES", json.dumps({"unknown-model": [1.0, 2.0]}))
    assert main(["summary", str(out), "--price", "gpt-4o-mini=0,0"]) == EXIT_OK
    text = capsys.readouterr().out
    assert "overturn rate 50.0%" in text
    assert "$0.0007" in text  # 500 * $1/1M + 100 * $2/1M; gpt-4o-mini priced at 0
    assert "Pharmaceuticals" in text and "Orthopedic Surgery" in text


def test_bad_price_table_is_a_usage_error(
    out: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMR_LLM_PRICES", "gpt-4o-mini=1")
    assert main(["summary", str(out)]) == EXIT_USAGE
    assert "IMR_LLM_PRICES" in capsys.readouterr().err


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_export_csv_letters_and_items(out: Path, tmp_path: Path) -> None:
    assert main(["export", str(out), "-o", str(tmp_path / "tables")]) == EXIT_OK
    letters = _csv(tmp_path / "tables" / "letters.csv")
    items = _csv(tmp_path / "tables" / "items.csv")
    assert [r["source_path"] for r in letters] == ["a.txt", "b.txt", "d.txt", "e.txt", "c.txt"]
    a = letters[0]
    assert a["reviewer_specialties"] == "Family Practice; Internal Medicine"
    assert (a["items"], a["items_overturned"], a["cached"]) == ("2", "1", "false")
    assert letters[3]["error_type"] == "PdfError" and letters[3]["case_number"] == ""
    assert len(items) == 4
    first = items[0]
    assert (first["case_number"], first["source_sha256"]) == ("CM16-000000a", "a" * 64)
    assert first["quantity"] == "60"
    assert first["claims_administrator_pages"] == "76; 77"
    assert first["claims_administrator_mtus"] == "true"
    assert items[1]["reasons"] == "criteria_not_met; other"


def test_export_parquet_keeps_lists(out: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["export", str(out), "--format", "parquet", "-o", str(tmp_path)]) == EXIT_OK
    items = pq.read_table(tmp_path / "items.parquet").to_pylist()
    assert items[0]["claims_administrator_pages"] == [76, 77]
    assert items[0]["quantity"] == 60.0
    assert pq.read_table(tmp_path / "letters.parquet").num_rows == 5


def test_parquet_without_pyarrow_says_how_to_install(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr("imr_llm.bulk.export.importlib.import_module", missing)
    assert main(["export", str(out), "--format", "parquet", "-o", str(tmp_path / "t")]) == 2
    assert "pip install 'imr-llm[parquet]'" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_exported_tables_are_readable_by_their_owner_only(
    out: Path, tmp_path: Path, fmt: str
) -> None:
    folder = tmp_path / fmt
    assert main(["export", str(out), "--format", fmt, "-o", str(folder)]) == EXIT_OK
    written = sorted(folder.iterdir())
    assert [p.suffix for p in written] == [f".{fmt}"] * 2
    assert {p.stat().st_mode & 0o777 for p in written} == {0o600}
