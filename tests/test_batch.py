"""The Batch path: request files equal the online requests, rounds of re-asks, the plumbing.

Submit, status and collect run against ``fake_batches.FakeBatches``, a hand-written local
double of the Files and Batches endpoints. Real model answers are in test_batch_cassettes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from anchored_answers import answering, case_number_of, letter_files
from conftest import corpus_letter
from fake_batches import FakeBatches
from fake_openai import FakeOpenAI, Reply, chat_completion, full_answer

from imr_llm.batch.collector import collect
from imr_llm.batch.files import BatchDir, read_jsonl
from imr_llm.batch.jobs import prepare
from imr_llm.cli.app import EXIT_OK, EXIT_USAGE, main
from imr_llm.errors import UsageError
from imr_llm.extraction.cache import Cache
from imr_llm.extraction.pipeline import extract
from imr_llm.extraction.settings import LlmSettings
from imr_llm.llm import make_client
from imr_llm.models import Extraction

LETTER = Path(__file__).parent / "data" / "corpus" / "seeds" / "001_e6b0d48aa7f5108d.txt"
TRUE_ITEMS = [
    {"request": "Norco 10/325mg #160", "decision": "overturned", "quantity": 160},
    {"request": "Zoloft 100mg #60", "decision": "upheld", "quantity": 60},
    {"request": "Baclofen 20mg #90", "decision": "upheld", "quantity": 90},
]


def _answer(*, wrong: bool = False) -> dict[str, Any]:
    items: list[dict[str, Any]] = [dict(item) for item in TRUE_ITEMS]
    if wrong:
        items[1]["decision"] = "overturned"
    for item in items:
        item |= {"treatment": item["request"].split()[0], "category": "Pharmaceuticals"}
    return full_answer(items, patient={"age": 43, "sex": "male"}, diagnoses=["lumbar strain"])


def _completion(mode: str, answer: dict[str, Any]) -> dict[str, Any]:
    if mode == "tools":
        return chat_completion(tool_args=answer, prompt_tokens=1000, completion_tokens=50)
    text = json.dumps(answer)
    content = f"```json\n{text}\n```" if mode == "md_json" else text
    return chat_completion(content, prompt_tokens=1000, completion_tokens=50)


def _letters(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"letter-{i}.txt" for i in range(count)]
    for path in paths:
        shutil.copy(LETTER, path)
    return paths


def _requests(run: Path, round_: int) -> list[dict[str, Any]]:
    return [line for path in BatchDir(run).request_files(round_) for line in read_jsonl(path)]


def _answer_round(run: Path, round_: int, body_for: Any) -> None:
    """Write the output file `vllm run-batch` would write for a round."""
    with open(run / f"round-{round_}" / "output-0001.jsonl", "w", encoding="utf-8") as out:
        for request in _requests(run, round_):
            response = {"status_code": 200, "request_id": "r", "body": body_for(request)}
            out.write(json.dumps({"custom_id": request["custom_id"], "response": response}) + "\n")


def _collect(run: Path) -> tuple[list[dict[str, Any]], Any]:
    out = run.parent / "out.jsonl"
    with open(out, "w", encoding="utf-8") as fh:
        done = collect(run, fh)
    return [json.loads(line) for line in out.read_text().splitlines()], done


MODES = [
    ("tools", False),
    ("json", False),
    ("json", True),
    ("md_json", False),
    ("json_schema", False),
]


@pytest.mark.parametrize(("mode", "schema"), MODES)
def test_batch_requests_and_rows_equal_the_online_path(
    mode: str, schema: bool, tmp_path: Path
) -> None:
    """Same first request, same re-ask, same row, in every instructor mode."""
    wrong = _completion(mode, _answer(wrong=True))
    with FakeOpenAI([Reply(body=wrong)]) as fake:
        options: dict[str, Any] = {"mode": mode, "json_object_schema": schema, "max_reasks": 1}
        client = make_client(model="m", base_url=fake.base_url, transport_retries=0, **options)
        online = extract(LETTER.read_text(), client=client, cache=None, path=str(LETTER))
    assert len(fake.requests) == 2 and online.status == "needs_review"
    run = tmp_path / "run"
    settings = LlmSettings(model="m", mode=mode, json_object_schema=schema, max_reasks=1)
    prepare([str(LETTER)], run, settings=settings)
    (first,) = _requests(run, 1)
    assert first == {
        "custom_id": "imr-0000000-r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": fake.requests[0],
    }
    _answer_round(run, 1, lambda _: wrong)
    assert _collect(run)[0] == []
    (reask,) = _requests(run, 2)
    assert reask["custom_id"] == "imr-0000000-r2" and reask["body"] == fake.requests[1]
    _answer_round(run, 2, lambda _: wrong)
    rows, done = _collect(run)
    assert rows == [online.model_dump(mode="json")] and done.done


def test_cached_letters_get_no_request_and_collected_rows_fill_the_cache(tmp_path: Path) -> None:
    """Nothing is paid for twice across extract, prepare and collect."""
    letters = [str(p) for p in _letters(tmp_path / "letters", 3)]
    good = _completion("tools", _answer())
    settings = LlmSettings(model="m")
    with Cache(tmp_path / "cache.sqlite") as cache:
        with FakeOpenAI([Reply(body=good)]) as fake:
            client = make_client(model="m", base_url=fake.base_url, transport_retries=0)
            online = extract(LETTER.read_text(), client=client, cache=cache, path=letters[0])
        assert online.status == "ok" and fake.calls == 1
        # The three letters have the same text: the cache answers all of them.
        done = prepare(letters, tmp_path / "run1", settings=settings, cache=cache)
        assert (done.letters, done.requests, done.cached) == (3, 0, 3)
        rows, collected = _collect(tmp_path / "run1")
        assert collected.done and [r["source"]["path"] for r in rows] == letters
        assert all(r["llm"]["cached"] and r["record"] == rows[0]["record"] for r in rows)

    with Cache(tmp_path / "other.sqlite") as cache:
        done = prepare(letters[:1], tmp_path / "run2", settings=settings, cache=cache)
        assert (done.requests, done.cached) == (1, 0)
        _answer_round(tmp_path / "run2", 1, lambda _: good)
        with open(tmp_path / "out2.jsonl", "w", encoding="utf-8") as out:
            assert collect(tmp_path / "run2", out, cache=cache).done
        again = prepare(letters, tmp_path / "run3", settings=settings, cache=cache)
        assert (again.requests, again.cached) == (0, 3)  # collect stored the checked row
        with FakeOpenAI([]) as fake:
            client = make_client(model="m", base_url=fake.base_url, transport_retries=0)
            row = extract(LETTER.read_text(), client=client, cache=cache, path=letters[0])
        assert fake.calls == 0 and row.llm is not None and row.llm.cached
        assert row.record == online.record


def test_letters_an_expired_batch_left_unanswered_are_prepared_again_alone(
    tmp_path: Path,
) -> None:
    """The cache makes re-preparing the same inputs a per-letter resubmission."""
    folder = tmp_path / "letters"
    texts = letter_files(folder, corpus_letter("CM16-0213037"), 3)
    answers = answering(texts)
    expired = sorted(texts)[2]  # the batch expired before answering this letter
    with Cache(tmp_path / "cache.sqlite") as cache:
        prepare([str(folder)], tmp_path / "run1", settings=LlmSettings(model="m"), cache=cache)
        with open(tmp_path / "run1" / "round-1" / "output-0001.jsonl", "w") as out:
            for request in _requests(tmp_path / "run1", 1):
                if case_number_of(request["body"]) != expired:
                    body = answers(request["body"]).body
                    response = {"status_code": 200, "request_id": "r", "body": body}
                    line = {"custom_id": request["custom_id"], "response": response}
                    out.write(json.dumps(line) + "\n")
        with open(tmp_path / "out1.jsonl", "w", encoding="utf-8") as out:
            first = collect(tmp_path / "run1", out, cache=cache)
        assert first.statuses == {"ok": 2, "failed": 1}
        again = prepare(
            [str(folder)], tmp_path / "run2", settings=LlmSettings(model="m"), cache=cache
        )
        assert (again.letters, again.requests, again.cached) == (3, 1, 2)
        (request,) = _requests(tmp_path / "run2", 1)
        assert case_number_of(request["body"]) == expired


def test_request_files_split_by_count_and_by_size(tmp_path: Path) -> None:
    letters = [str(p) for p in _letters(tmp_path / "letters", 5)]
    prepare(letters, tmp_path / "by-count", max_requests=2)
    files = BatchDir(tmp_path / "by-count").request_files(1)
    assert [len(list(read_jsonl(f))) for f in files] == [2, 2, 1]
    line_size = files[0].stat().st_size // 2
    prepare(letters, tmp_path / "by-size", max_bytes=line_size * 3 - 10)
    files = BatchDir(tmp_path / "by-size").request_files(1)
    assert [len(list(read_jsonl(f))) for f in files] == [2, 2, 1]
    assert all(f.stat().st_size <= line_size * 3 - 10 for f in files)
    ids = [r["custom_id"] for r in _requests(tmp_path / "by-size", 1)]
    assert ids == [f"imr-{i:07d}-r1" for i in range(5)]


def test_unreadable_and_non_imr_inputs_get_rows_without_requests(tmp_path: Path) -> None:
    folder = tmp_path / "letters"
    _letters(folder, 1)
    (folder / "empty.txt").write_text("")
    (folder / "note.txt").write_text("Patient seen today for knee pain. Plan: ice and rest.\n")
    (folder / "photo.txt").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    done = prepare([str(folder), str(tmp_path / "missing.txt")], tmp_path / "run")
    assert (done.letters, done.requests) == (5, 1)
    _answer_round(tmp_path / "run", 1, lambda _: _completion("tools", _answer()))
    rows, _ = _collect(tmp_path / "run")
    by_name = {Path(r["source"]["path"]).name: r for r in rows}
    assert list(by_name) == ["empty.txt", "letter-0.txt", "note.txt", "photo.txt", "missing.txt"]
    assert by_name["letter-0.txt"]["status"] == "ok"
    assert by_name["note.txt"]["status"] == "not_imr"
    assert by_name["empty.txt"]["error"]["type"] == "EmptyInputError"
    assert by_name["photo.txt"]["error"]["type"] == "BinaryInputError"
    assert by_name["missing.txt"]["error"]["type"] == "InputError"


def test_a_letter_changed_or_removed_after_prepare_gets_a_failed_row(tmp_path: Path) -> None:
    changed, removed, kept = _letters(tmp_path / "letters", 3)
    prepare([str(changed), str(removed), str(kept)], tmp_path / "run")
    changed.write_text(LETTER.read_text().replace("Norco", "Percocet"))
    removed.unlink()
    _answer_round(tmp_path / "run", 1, lambda _: _completion("tools", _answer()))
    rows, done = _collect(tmp_path / "run")
    assert [r["status"] for r in rows] == ["failed", "failed", "ok"]
    assert "changed after batch prepare" in rows[0]["error"]["message"]
    assert rows[1]["error"]["type"] == "InputError"
    assert done.next_requests == 0 and done.done


def test_collect_refuses_answers_from_other_prompts(tmp_path: Path) -> None:
    prepare([str(LETTER)], tmp_path / "run")
    settings = json.loads((tmp_path / "run" / "batch.json").read_text())
    settings["prompt_version"] = "extract-1999-01-01"
    (tmp_path / "run" / "batch.json").write_text(json.dumps(settings))
    with pytest.raises(UsageError, match="prepared with prompts extract-1999-01-01"):
        _collect(tmp_path / "run")


def test_prepare_needs_a_new_folder_and_files(tmp_path: Path) -> None:
    prepare([str(LETTER)], tmp_path / "run")
    with pytest.raises(UsageError, match="not empty"):
        prepare([str(LETTER)], tmp_path / "run")
    with pytest.raises(UsageError, match="not stdin"):
        prepare(["-"], tmp_path / "other")


def _double(custom_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """letter-1 answers wrongly at first; every re-ask and every other letter is right."""
    wrong = custom_id.startswith("imr-0000001") and len(body["messages"]) == 2
    return 200, _completion("tools", _answer(wrong=wrong))


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["batch", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_submit_status_collect_against_the_batches_double(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _letters(tmp_path / "letters", 2)
    run, out = str(tmp_path / "run"), str(tmp_path / "out.jsonl")
    with FakeBatches(_double) as fake:
        monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        assert _cli(capsys, "prepare", str(tmp_path / "letters"), "-o", run, "--model", "m")[0] == 0
        code, _, err = _cli(capsys, "submit", run)
        assert code == EXIT_OK and "requests-0001.jsonl -> batch_1" in err
        assert (
            fake.files["file-1"][1] == (tmp_path / "run/round-1/requests-0001.jsonl").read_bytes()
        )
        assert "in_progress" in _cli(capsys, "status", run)[1]
        code, _, err = _cli(capsys, "collect", run, "-o", out)
        assert code == EXIT_USAGE and "batch_1 finalizing" in err
        assert not Path(out).exists()
        code, _, err = _cli(capsys, "collect", run, "-o", out)
        assert code == EXIT_OK and "round 2" in err
        assert [json.loads(line)["status"] for line in Path(out).read_text().splitlines()] == ["ok"]
        assert _cli(capsys, "submit", run)[0] == EXIT_OK
        for _ in range(3):
            status = _cli(capsys, "status", run)[1]
        assert status == "round 2  requests-0001.jsonl  batch_2  completed  1/1 done, 0 failed\n"
        code, _, err = _cli(capsys, "collect", run, "-o", out)
    assert code == EXIT_OK and "every letter has its row" in err
    rows = [Extraction.model_validate_json(line) for line in Path(out).read_text().splitlines()]
    assert [(r.status, r.llm and r.llm.attempts) for r in rows] == [("ok", 1), ("ok", 2)]
    assert rows[1].llm is not None and rows[1].llm.usage.prompt_tokens == 2000
    assert "GET /v1/files/file-2/content" in fake.log
    assert (tmp_path / "run/round-1/output-0001.jsonl").exists()
    assert Path(out).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700


def test_an_api_error_is_one_line_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = "sk-test-sentinel-5f1d2c"
    prepare([str(LETTER)], tmp_path / "run")
    BatchDir(tmp_path / "run").add_submitted(1, {"file": "requests-0001.jsonl", "batch_id": "gone"})
    with FakeBatches(_double) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        code, out, err = _cli(capsys, "status", str(tmp_path / "run"), "--base-url", fake.base_url)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "NotFoundError" in err and "<api key>" in err
    assert key not in err


def test_requests_a_batch_never_answered_become_failed_rows(tmp_path: Path) -> None:
    from imr_llm.batch.jobs import submit
    from imr_llm.llm import batch_api

    _letters(tmp_path / "letters", 2)
    prepare([str(tmp_path / "letters")], tmp_path / "run")

    def answer(custom_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        return (
            None if custom_id.startswith("imr-0000000") else (200, _completion("tools", _answer()))
        )

    with FakeBatches(answer) as fake:
        api = batch_api(base_url=fake.base_url, api_key="sk-test")
        submit(tmp_path / "run", api)
        for _ in range(3):
            api.retrieve("batch_1")
        with open(tmp_path / "out.jsonl", "w", encoding="utf-8") as out:
            done = collect(tmp_path / "run", out, api=api)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[0]["error"]["type"] == "LlmUnavailableError"
    assert "has no result for imr-0000000-r1" in rows[0]["error"]["message"]
    assert done.done and done.notes == ["batch_1 ended expired"]
    with open(tmp_path / "again.jsonl", "w", encoding="utf-8") as out:
        collect(tmp_path / "run", out)  # fetched once: no API needed any more
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "out.jsonl").read_text()
