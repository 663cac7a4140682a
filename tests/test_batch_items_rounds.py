"""The Batch path with the ``items`` strategy: re-ask rounds, failed requests, cache, CLI.

As in test_batch_items.py, every answer is a recorded one (or a recorded one with one field
changed), and every expected request and row is the one the online code makes from them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_letter
from fake_openai import FakeOpenAI
from test_batch_items import (
    Line,
    anchors_of,
    case_of,
    recorded_case,
    recorded_settings,
    requests_of,
    run_online,
    run_rounds,
)

# The letter whose recording shows a rationale contradicting its heading, as changed there.
from test_cassettes import _contradicted

from imr_llm.batch.jobs import prepare
from imr_llm.cli.app import EXIT_OK, main
from imr_llm.extraction.cache import Cache
from imr_llm.extraction.pipeline import extract
from imr_llm.llm import make_client

THREE_ITEMS = "001_e6b0d48aa7f5108d"
CONTRADICTED = "test_a_rationale_contradicting_its_heading_is_reasked_then_flagged"
# A request the Batch API failed, as its error file holds it.
FAILED: Line = {"response": None, "error": {"code": "server_error", "message": "overloaded"}}
# A request the endpoint refused, as the output file holds it.
REFUSED: Line = {
    "response": {
        "status_code": 400,
        "request_id": "r",
        "body": {"error": {"message": "context too long", "type": "invalid_request_error"}},
    }
}


def with_necessity(lines: list[Line], necessary: bool) -> Line:
    """The first of an item's recorded answers that parses, with its reading of the rationale
    set to ``necessary``."""
    for line in lines:
        if line is None or not line.get("response"):
            continue
        body = json.loads(json.dumps(line["response"]["body"]))
        message = body["choices"][0]["message"]
        try:
            answer = json.loads(message["content"] or "")
        except ValueError:
            continue
        if isinstance(answer, dict) and "medically_necessary" in answer:
            message["content"] = json.dumps({**answer, "medically_necessary": necessary})
            return {"response": {**line["response"], "body": body}}
    raise AssertionError("no recorded answer of the item parses")


@pytest.mark.parametrize("outcome", ["accepted", "flagged"])
def test_an_item_answer_contradicting_its_heading_is_reasked_in_the_next_round(
    outcome: str, tmp_path: Path
) -> None:
    settings = recorded_settings()
    case = recorded_case(THREE_ITEMS, settings)
    anchors = anchors_of(case.path.read_text(encoding="utf-8"))
    necessary = anchors.items()[0]["decision"] == "overturned"
    recorded = case.script["item0"]
    wrong, right = with_necessity(recorded, not necessary), with_necessity(recorded, necessary)
    rounds_ = 2 if outcome == "accepted" else settings.max_reasks + 1
    case.script["item0"] = [wrong] * (rounds_ - 1) + [right if outcome == "accepted" else wrong]
    run_online(case, 0, settings)
    prepare([str(case.path)], tmp_path / "run", settings=settings)
    rows, rounds = run_rounds(tmp_path / "run", {0: case})
    assert rows == [case.row] and len(rounds) == rounds_
    assert [r.next_requests for r in rounds] == [1] * (rounds_ - 1) + [0]
    assert rounds[0].written == 0  # the letter waits for its item's re-ask
    reask = case.sent[("item0", 2)]
    assert "heading says" in json.dumps(reask["messages"][2:])  # our cross-check's message
    decision = next(e for e in rows[0]["evidence"] if e["field"] == "items[0].decision")
    if outcome == "accepted":
        assert decision["status"] == "agreed"
    else:  # out of re-asks: the anchored decision stands and the row needs review
        assert decision["status"] != "agreed" and rows[0]["status"] == "needs_review"


def test_the_recorded_contradiction_is_reasked_in_the_next_round(tmp_path: Path) -> None:
    settings = recorded_settings()
    path = tmp_path / "contradicted.txt"
    path.write_text(_contradicted(), encoding="utf-8")
    case = run_online(case_of(path, CONTRADICTED, settings), 0, settings)
    prepare([str(path)], tmp_path / "run", settings=settings)
    rows, rounds = run_rounds(tmp_path / "run", {0: case})
    assert rows == [case.row] and rounds[0].written == 0
    reasked = {call for call, n in case.sent if n == 2}
    assert "item0" in reasked  # the item whose heading was changed
    assert {r["custom_id"] for r in requests_of(tmp_path / "run", 2)} == {
        f"imr-0000000-{call}-r2" for call in reasked
    }
    assert "heading says" in json.dumps(case.sent[("item0", 2)]["messages"][2:])
    assert rows[0]["record"]["items"][0]["decision"] == "upheld"  # the heading stands


FAILURES = {
    "an item failed": ({"item0": FAILED}, "needs_review", "server_error: overloaded"),
    "an item refused": ({"item1": REFUSED}, "needs_review", "context too long"),
    "the diagnoses failed": ({"diagnoses0": FAILED}, "needs_review", "overloaded"),
    "an item unanswered": ({"item2": None}, "needs_review", "no result for imr-0000000-item2-r1"),
    "every item failed": (
        dict.fromkeys(["item0", "item1", "item2"], FAILED),
        "failed",
        "overloaded",
    ),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_request_gives_its_letter_the_online_row(failure: str, tmp_path: Path) -> None:
    changes, status, said = FAILURES[failure]
    settings = recorded_settings()
    case = recorded_case(THREE_ITEMS, settings)
    case.script.update({call: [line] for call, line in changes.items()})
    run_online(case, 0, settings)
    prepare([str(case.path)], tmp_path / "run", settings=settings)
    rows, rounds = run_rounds(tmp_path / "run", {0: case})
    assert rows == [case.row] and rounds[-1].done
    row = rows[0]
    assert row["status"] == status and row["record"]["items"]  # the anchors' record is kept
    if status == "failed":
        assert row["error"]["type"] == "LlmUnavailableError" and said in row["error"]["message"]
    else:
        assert row["error"] is None and any(said in w for w in row["warnings"])


def test_batch_and_online_rows_share_the_cache(tmp_path: Path) -> None:
    settings = recorded_settings()
    case = run_online(recorded_case(THREE_ITEMS, settings), 0, settings)
    text = case.path.read_text(encoding="utf-8")
    with Cache(tmp_path / "batch.sqlite") as cache:
        prepare([str(case.path)], tmp_path / "run", settings=settings, cache=cache)
        rows, _ = run_rounds(tmp_path / "run", {0: case}, cache=cache)
        again = prepare([str(case.path)], tmp_path / "again", settings=settings, cache=cache)
        assert (again.requests, again.cached) == (0, 1)
        with FakeOpenAI([]) as fake:
            client = make_client(**asdict(settings), base_url=fake.base_url, transport_retries=0)
            row = extract(text, client=client, cache=cache, path=str(case.path))
        assert fake.calls == 0 and row.llm is not None and row.llm.cached
        assert row.model_dump(mode="json")["record"] == rows[0]["record"] == case.row["record"]
    with Cache(tmp_path / "online.sqlite") as cache:
        run_online(case, 0, settings, cache=cache)
        done = prepare([str(case.path)], tmp_path / "after", settings=settings, cache=cache)
        assert (done.requests, done.cached) == (0, 1)
        rows, _ = run_rounds(tmp_path / "after", {})
        assert rows[0]["llm"]["cached"] and rows[0]["record"] == case.row["record"]


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_the_cli_prepares_one_request_per_call(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = next(CORPUS.glob(f"*/{THREE_ITEMS}.txt"))
    argv = ["batch", "prepare", str(path), "-o", str(tmp_path / "run"), "--model", "m"]
    if how == "flag":
        argv += ["--strategy", "items"]
    else:
        monkeypatch.setenv("IMR_LLM_STRATEGY", "items")
    assert main(argv) == EXIT_OK
    assert "4 requests for 1 letters, 1 of them item by item" in capsys.readouterr().err
    ids = [r["custom_id"] for r in requests_of(tmp_path / "run", 1)]
    assert ids == [f"imr-0000000-{c}-r1" for c in ("item0", "item1", "item2", "diagnoses0")]
    assert json.loads((tmp_path / "run" / "batch.json").read_text())["llm"]["strategy"] == "items"


@pytest.mark.parametrize("strategy", ["letter", "items"])
def test_two_letters_in_one_input_are_asked_about_the_first_as_online(
    strategy: str, tmp_path: Path
) -> None:
    first = "CM17-0009282"
    path = tmp_path / "two.txt"
    path.write_text(corpus_letter(first) + corpus_letter(THREE_ITEMS), encoding="utf-8")
    settings = replace(recorded_settings(), strategy=strategy)
    recorded = "test_letter_strategy_replays" if strategy == "letter" else "test_extract_replays"
    cassette = f"{recorded}[{first}]"
    case = run_online(case_of(path, cassette, settings), 0, settings)
    prepare([str(path)], tmp_path / "run", settings=settings)
    rows, _ = run_rounds(tmp_path / "run", {0: case})
    assert rows == [case.row] and len(rows[0]["record"]["items"]) == 1
