"""A PDF that kills its reader and one that hangs it cost one failed row each, in every command.

The two PDFs are real letters; the worker handed them acts out the fault through the test
hook (``IMR_LLM_TEST_PDF_FAULTS``): a SIGKILL of itself, an endless sleep. Every other row
of the run must be right: one row per input, in order, anchored fields equal to the labels.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from anchored_answers import answer_for, answering, case_number_of
from fake_openai import FakeOpenAI, chat_completion

from imr_llm.batch.collector import collect
from imr_llm.batch.files import BatchDir, read_jsonl
from imr_llm.batch.jobs import prepare
from imr_llm.bulk.runner import extract_many
from imr_llm.checking.labels import compare, read_labels
from imr_llm.checking.review import load_views
from imr_llm.checking.rows import read_rows
from imr_llm.cli.app import EXIT_SOME_FAILED, main
from imr_llm.extraction.settings import LlmSettings
from imr_llm.letters.load import load_path
from imr_llm.letters.reader import FAULTS_ENV
from imr_llm.llm import make_client
from imr_llm.models import Determination

DATA = Path(__file__).parent / "data"
PDFS = sorted((DATA / "pdf" / "corpus").glob("*.pdf"))
LABELS = read_labels(DATA / "corpus" / "dev" / "labels.jsonl")
CRASHED = {"type": "PdfError", "message": "the PDF reader crashed (signal 9)"}
HUNG = {"type": "PdfError", "message": "reading the PDF took more than 1 s"}


@pytest.fixture
def letters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Six corpus PDFs and one text letter, in name order; the 2nd PDF crashes, the 5th hangs."""
    folder = tmp_path / "letters"
    folder.mkdir()
    for pdf in PDFS[:6]:
        shutil.copy(pdf, folder)
    shutil.copy(DATA / "corpus" / "dev" / f"{PDFS[6].stem}.txt", folder)
    names = sorted(str(p) for p in folder.iterdir())
    crash, hang = names[1], names[4]
    monkeypatch.setenv(FAULTS_ENV, f"kill={crash}{os.pathsep}hang={hang}")
    monkeypatch.setenv("IMR_LLM_PDF_TIMEOUT", "1")
    return names


def _check(rows: list[dict[str, Any]], names: list[str]) -> None:
    """One row per input in input order; the faults failed; every other row is right."""
    assert [row["source"]["path"] for row in rows] == names
    assert [row["error"] for row in rows if row["status"] == "failed"] == [CRASHED, HUNG]
    assert (rows[1]["error"], rows[4]["error"]) == (CRASHED, HUNG)
    for row in rows[:1] + rows[2:4] + rows[5:]:
        assert row["status"] == "ok", row
        record = Determination.model_validate(row["record"])
        label = LABELS[Path(row["source"]["path"]).stem]
        assert [(f, want) for f, want, got in compare(record, label) if want != got] == []


def test_anchors_run(letters: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(Path(letters[0]).parent)
    assert main(["anchors", folder, "--workers", "2"]) == EXIT_SOME_FAILED
    out, err = capsys.readouterr()
    _check([json.loads(line) for line in out.splitlines()], letters)
    assert "Traceback" not in err
    assert f"{letters[1]}: PdfError: the PDF reader crashed (signal 9)" in err


def test_anchors_pdf_timeout_flag_overrides_the_environment(
    letters: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMR_LLM_PDF_TIMEOUT", "600")
    assert main(["anchors", *letters[3:5], "--pdf-timeout", "0.5"]) == EXIT_SOME_FAILED
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["status"] == "ok"
    assert rows[1]["error"]["message"] == "reading the PDF took more than 0.5 s"


def _texts(letters: list[str]) -> dict[str, str]:
    """The readable letters' texts by case number (their file names), for the fake model."""
    return {Path(n).stem: load_path(n).text for n in letters if n not in (letters[1], letters[4])}


def test_extract_run(
    letters: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAI(answering(_texts(letters))) as fake:
        monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("IMR_LLM_MODEL", "gpt-4o-mini")
        assert main(["extract", *letters, "--no-cache"]) == EXIT_SOME_FAILED
    _check([json.loads(line) for line in capsys.readouterr().out.splitlines()], letters)


@pytest.mark.parametrize("workers", [1, 2])
def test_bulk_run(letters: list[str], workers: int) -> None:
    texts = _texts(letters)
    with FakeOpenAI(answering(texts)) as fake:
        client = make_client(model="gpt-4o-mini", base_url=fake.base_url, api_key="k", timeout=10)
        rows = list(extract_many(letters, client=client, cache=None, workers=workers))
    _check([row.model_dump(mode="json") for row in rows], letters)
    assert fake.calls == len(texts)  # the failed PDFs cost no request


def test_batch_prepare(letters: list[str], tmp_path: Path) -> None:
    done = prepare(letters, tmp_path / "run", settings=LlmSettings(model="m"), pdf_timeout=1)
    assert (done.letters, done.requests) == (7, 5)
    manifest = read_jsonl(BatchDir(tmp_path / "run").manifest_path)
    rows = {entry["index"]: entry["row"] for entry in manifest if "row" in entry}
    assert {i: row["error"] for i, row in rows.items()} == {1: CRASHED, 4: HUNG}


def test_anchors_rows_are_the_same_made_here_or_in_the_workers(
    letters: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FAULTS_ENV)
    for pretty in ([], ["--pretty"]):
        outputs = []
        for workers in ("1", "2"):  # one worker: rows made here; more: made in the workers
            assert main(["anchors", *letters, "--workers", workers, *pretty]) == 0
            outputs.append(capsys.readouterr().out)
        assert outputs[0] == outputs[1]
        assert outputs[0].count('"sha256"') == len(letters)


def test_bulk_and_batch_prepare_take_a_pdf_timeout_flag(
    letters: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMR_LLM_PDF_TIMEOUT", "600")
    out, hung = tmp_path / "out.jsonl", letters[4]
    with FakeOpenAI(answering(_texts(letters))) as fake:
        monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("IMR_LLM_MODEL", "gpt-4o-mini")
        argv = ["bulk", *letters[3:5], "-o", str(out), "--no-cache", "--pdf-timeout", "0.5"]
        assert main(argv) == EXIT_SOME_FAILED
    rows = {row["source"]["path"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert rows[letters[3]]["status"] == "ok"
    assert rows[hung]["error"]["message"] == "reading the PDF took more than 0.5 s"
    run = tmp_path / "run"
    assert main(["batch", "prepare", *letters[3:5], "-o", str(run), "--pdf-timeout", "0.5"]) == 0
    manifest = read_jsonl(BatchDir(run).manifest_path)
    assert [e["row"]["error"]["message"] for e in manifest if "row" in e] == [
        "reading the PDF took more than 0.5 s"
    ]


@pytest.mark.parametrize("command", ["bulk", "batch prepare"])
def test_a_pdf_timeout_that_is_not_positive_is_a_usage_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command.split(), str(PDFS[0]), "-o", str(tmp_path / "out"), "--pdf-timeout", "0"]
    assert main(argv) == 2
    assert "--pdf-timeout must be a positive number of seconds" in capsys.readouterr().err


def _answer_letters(run: Path, texts: dict[str, str]) -> None:
    """The output file `vllm run-batch` would write: each letter answered from its anchors."""
    with open(run / "round-1" / "output-0001.jsonl", "w", encoding="utf-8") as out:
        for request in read_jsonl(run / "round-1" / "requests-0001.jsonl"):
            answer = answer_for(texts[case_number_of(request["body"]) or ""])
            body = chat_completion(tool_args=answer, prompt_tokens=1000, completion_tokens=50)
            response = {"status_code": 200, "request_id": "r", "body": body}
            out.write(json.dumps({"custom_id": request["custom_id"], "response": response}) + "\n")


def test_batch_collect(letters: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The PDFs read well at prepare and kill or hang their reader when collect reads them again.
    faults = os.environ.pop(FAULTS_ENV)
    done = prepare(letters, tmp_path / "run", settings=LlmSettings(model="m"))
    assert (done.letters, done.requests) == (7, 7)
    _answer_letters(tmp_path / "run", {Path(n).stem: load_path(n).text for n in letters})
    monkeypatch.setenv(FAULTS_ENV, faults)
    with open(tmp_path / "rows.jsonl", "w", encoding="utf-8") as out:
        assert collect(tmp_path / "run", out, pdf_timeout=1).done
    _check(list(read_jsonl(tmp_path / "rows.jsonl")), letters)


def test_review(letters: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faults = os.environ.pop(FAULTS_ENV)
    assert main(["anchors", *letters, "-o", str(tmp_path / "rows.jsonl")]) == 0
    os.environ[FAULTS_ENV] = faults  # the fixture's monkeypatch restores the environment
    page = tmp_path / "review.html"
    assert main(["review", str(tmp_path / "rows.jsonl"), "-o", str(page)]) == EXIT_SOME_FAILED
    err = capsys.readouterr().err
    assert f"cannot read {letters[1]}: the PDF reader crashed (signal 9)" in err
    assert f"cannot read {letters[4]}: reading the PDF took more than 1 s" in err
    assert err.count("imr-llm: ") == 2 and "Traceback" not in err
    views = load_views(read_rows(str(tmp_path / "rows.jsonl")), pdf_timeout=1)
    assert [view.text is None for view in views] == [i in (1, 4) for i in range(7)]
    assert all(
        view.text == load_path(n).text for view, n in zip(views, letters, strict=True) if view.text
    )
