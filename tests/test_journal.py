"""The bulk output file: whole lines only, resume keys, last row wins, compaction, one writer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imr_llm.bulk.journal import Journal, compact, peek, read_latest, row_key
from imr_llm.errors import UsageError
from imr_llm.models import ErrorInfo, Extraction, SourceInfo, Status


def _row(path: str | None, sha: str = "a", status: Status = "ok") -> Extraction:
    error = ErrorInfo(type="LlmUnavailableError", message="down") if status == "failed" else None
    return Extraction(
        source=SourceInfo(path=path, sha256=sha * 64, chars=10),
        status=status,
        record=None,
        error=error,
    )


def _write(path: Path, *rows: Extraction) -> None:
    with Journal(str(path)) as journal:
        for row in rows:
            journal.write(row)


def test_rows_are_whole_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    _write(out, _row("a.txt"), _row("b.txt", "b"))
    lines = out.read_text().splitlines()
    assert [json.loads(line)["source"]["path"] for line in lines] == ["a.txt", "b.txt"]


def test_peek_reads_key_and_status_without_parsing_the_row() -> None:
    line = (_row('dir/"odd" é.txt', status="failed").model_dump_json() + "\n").encode()
    assert peek(line) == (row_key('dir/"odd" é.txt', "a" * 64), "failed")
    reordered = json.dumps({"status": "ok", "source": {"path": None, "sha256": "b" * 64}})
    assert peek(reordered.encode()) == (row_key(None, "b" * 64), "ok")
    assert peek(b"garbage\n") is None


def test_key_is_path_normalized_plus_hash() -> None:
    assert row_key("./letters/a.txt", "x") == row_key("letters/a.txt", "x")
    assert row_key("letters/a.txt", "x") != row_key("letters/b.txt", "x")
    assert row_key("letters/a.txt", "x") != row_key("letters/a.txt", "y")


def test_a_truncated_last_line_is_cut_and_its_letter_redone(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    _write(out, _row("a.txt"), _row("b.txt", "b"))
    whole = out.read_bytes()
    out.write_bytes(whole + _row("c.txt", "c").model_dump_json().encode()[:40])
    with Journal(str(out)) as journal:
        assert journal.repaired == 40
        assert not journal.claim("a.txt", "a" * 64)
        assert journal.claim("c.txt", "c" * 64)
    assert out.read_bytes() == whole


def test_a_file_that_is_only_a_partial_line_is_emptied(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"source":{"pa')
    with Journal(str(out)) as journal:
        assert journal.repaired == 14
    assert out.read_bytes() == b""


def test_claim_skips_done_letters_and_letters_seen_twice(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    _write(out, _row("a.txt"), _row("f.txt", "f", "failed"))
    with Journal(str(out)) as journal:
        assert not journal.claim("a.txt", "a" * 64)
        assert not journal.claim("f.txt", "f" * 64)  # failed rows only with --retry-failed
        assert journal.claim("a.txt", "e" * 64)  # same path, new text: a new letter
        assert not journal.claim("a.txt", "e" * 64)
        assert journal.status("f.txt", "f" * 64) == "failed"


def test_retry_failed_reclaims_failed_rows_only(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    _write(out, _row("a.txt"), _row("f.txt", "f", "failed"), _row("n.txt", "n", "not_imr"))
    with Journal(str(out), retry_failed=True) as journal:
        assert [journal.claim(p, s * 64) for p, s in [("a.txt", "a"), ("n.txt", "n")]] == [
            False,
            False,
        ]
        assert journal.claim("f.txt", "f" * 64)
        journal.write(_row("f.txt", "f", "ok"))
        assert journal.replaced == 1
        assert journal.compact() == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["source"]["path"], r["status"]) for r in rows] == [
        ("a.txt", "ok"),
        ("n.txt", "not_imr"),
        ("f.txt", "ok"),
    ]


def test_readers_keep_the_last_row_per_letter(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    _write(out, _row("f.txt", "f", "failed"), _row("a.txt"), _row("f.txt", "f", "ok"))
    with out.open("a") as stream:
        stream.write("not json\n")
    bad: list[tuple[int, str]] = []
    rows = list(read_latest(str(out), lambda n, why: bad.append((n, why))))
    assert [(r.source.path, r.status) for r in rows] == [("a.txt", "ok"), ("f.txt", "ok")]
    assert bad == [(4, "not a complete JSON row")]


def test_compaction_keeps_lines_it_cannot_read(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    _write(out, _row("a.txt"), _row("a.txt"))
    with out.open("a") as stream:
        stream.write("not json\n")
    assert compact(str(out)) == 1
    assert out.read_text().splitlines()[1] == "not json"
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with Journal(str(out)), pytest.raises(UsageError, match="another imr-llm bulk run"):
        Journal(str(out))
    with Journal(str(out)):  # the lock went with the first writer
        pass
