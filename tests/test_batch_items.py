"""The Batch path with the ``items`` strategy, on REAL recorded completions (test_cassettes.py).

Every answer comes from a cassette, or is a recorded answer with one field changed; none is
written here. Every expected request and row is made by the online code from the same
answers: the batch must send exactly the requests ``extract`` sends for a letter (each item's
call, the diagnoses call, each re-ask, and nothing else), and collect must write the row
``extract`` makes. Request bodies are compared with the online ones, not the recorded ones
(test_cassettes.py holds those equal), so a re-recording of the cassettes changes nothing here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CORPUS, ROOT, cassette_client_for, corpus_letter
from fake_openai import FakeOpenAI, Reply

from imr_llm.anchors.finder import Anchors, find_anchors
from imr_llm.batch.collector import Collected, collect
from imr_llm.batch.files import BatchDir, parse_custom_id, read_jsonl
from imr_llm.batch.jobs import prepare
from imr_llm.batch.results import line_response, missing_response
from imr_llm.extraction.cache import ResponseCache
from imr_llm.extraction.pipeline import extract, strategy_for
from imr_llm.extraction.settings import LlmSettings
from imr_llm.itemwise.context import diagnoses_user, item_prompts
from imr_llm.letters.normalize import normalize
from imr_llm.llm import make_client

CASSETTES = ROOT / "cassettes" / "test_cassettes"
PREFIX = "test_extract_replays["
ITEM_LETTERS = sorted(
    p.stem.removeprefix(PREFIX).removesuffix("]")
    for p in CASSETTES.glob("*.yaml")
    if p.stem.startswith(PREFIX)
)
# A whole-letter cassette's letter, made to fall back from items to letter (below).
FALLBACK = "CM17-0009282"

Line = dict[str, Any] | None
"""One answer as a batch output or error line holds it, without its custom_id (None: the
batch never answered the request)."""
Script = dict[str, list[Line]]
"""Each call's answers in order, by the batch's call names: "" for the whole-letter call,
"item0", "item1", ... and "diagnoses0"."""


def recorded_settings() -> LlmSettings:
    """The settings the items cassettes were recorded with."""
    return cassette_client_for("items").settings


def recorded_lines(cassette: str) -> list[Line]:
    data = yaml.safe_load((CASSETTES / f"{cassette}.yaml").read_text(encoding="utf-8"))
    return [
        {
            "response": {
                "status_code": i["response"]["status"]["code"],
                "request_id": "r",
                "body": json.loads(i["response"]["body"]["string"]),
            }
        }
        for i in data["interactions"]
    ]


def anchors_of(text: str) -> Anchors:
    return find_anchors(text, normalize(text))


def _call_of(text: str, settings: LlmSettings) -> Callable[[dict[str, Any]], str]:
    """Which call of the letter a request body is (its first user message names it)."""
    anchors = anchors_of(text)
    if strategy_for(anchors, settings) == "letter":
        return lambda body: ""
    users = {p.user: f"item{p.index}" for p in item_prompts(text, anchors)}
    assert len(users) == len(anchors.items())
    users[diagnoses_user(normalize(text).text)] = "diagnoses0"
    return lambda body: users[body["messages"][1]["content"]]


def _client(settings: LlmSettings, base_url: str) -> Any:
    return make_client(**asdict(settings), base_url=base_url, api_key="sk-t", transport_retries=0)


def _split(text: str, lines: list[Line], settings: LlmSettings) -> Script:
    """A recording's answers by call: online, extract asks a letter's calls one at a time."""
    replies = [Reply(*line_response(line)) for line in lines if line is not None]
    with FakeOpenAI(replies) as fake:
        extract(text, client=_client(settings, fake.base_url), cache=None)
    assert len(fake.requests) == len(lines), "the recording and the online path disagree"
    call_of, script = _call_of(text, settings), {}
    for body, line in zip(fake.requests, lines, strict=True):
        script.setdefault(call_of(body), []).append(line)
    return script


@dataclass
class Case:
    """One input letter: its file, the answers to its calls, and what extract made of them."""

    path: Path
    script: Script
    row: dict[str, Any] = field(default_factory=dict)
    sent: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    """(call, n) -> the body of the call's n-th request, as extract sent it."""


def case_of(path: Path, cassette: str, settings: LlmSettings) -> Case:
    """The letter at ``path``, each of its calls answered as in the recording ``cassette``."""
    lines = recorded_lines(cassette)
    return Case(path, _split(path.read_text(encoding="utf-8"), lines, settings))


def recorded_case(letter_id: str, settings: LlmSettings) -> Case:
    """A corpus letter answered by its items recording."""
    return case_of(next(CORPUS.glob(f"*/{letter_id}.txt")), f"{PREFIX}{letter_id}]", settings)


def run_online(
    case: Case, index: int, settings: LlmSettings, *, cache: ResponseCache | None = None
) -> Case:
    """Run extract on the case's letter, each call answered from its script."""
    text = case.path.read_text(encoding="utf-8")
    call_of, asked, beyond = _call_of(text, settings), Counter[str](), []

    def reply(body: dict[str, Any]) -> Reply:
        call = call_of(body)
        asked[call] += 1
        n = asked[call]
        case.sent[(call, n)] = body
        if n > len(case.script[call]):
            beyond.append((call, n))
            return Reply(status=500)
        line = case.script[call][n - 1]
        status, answer = (
            line_response(line) if line is not None else missing_response(index, n, call)
        )
        return Reply(status=status, body=answer)

    with FakeOpenAI(reply) as fake:
        client = _client(settings, fake.base_url)
        row = extract(text, client=client, cache=cache, path=str(case.path))
    assert beyond == [], "the script holds too few answers"
    case.row = row.model_dump(mode="json")
    return case


def requests_of(run: Path, round_: int) -> list[dict[str, Any]]:
    return [line for path in BatchDir(run).request_files(round_) for line in read_jsonl(path)]


def run_rounds(
    run: Path, cases: dict[int, Case], *, cache: ResponseCache | None = None
) -> tuple[list[dict[str, Any]], list[Collected]]:
    """Answer each round from the scripts (as `vllm run-batch` or the Batch API would write
    output and error files), collect, and repeat while collect asks a next round."""
    rounds: list[Collected] = []
    asked: set[tuple[int, str, int]] = set()
    while not rounds or rounds[-1].next_requests:
        round_ = len(rounds) + 1
        for request in requests_of(run, round_):
            rid = parse_custom_id(request["custom_id"])
            case, key = cases[rid.index], (rid.call, rid.round)
            assert request["body"] == case.sent.get(key), f"{case.path.name} {key}"
            asked.add((rid.index, *key))
            _answer(run, request["custom_id"], case.script[rid.call][rid.round - 1])
        with open(run.parent / "out.jsonl", "w", encoding="utf-8") as out:
            rounds.append(collect(run, out, cache=cache))
    # Every request extract sent, and no other, went out in some round.
    assert asked == {(index, *key) for index, case in cases.items() for key in case.sent}
    rows = [json.loads(line) for line in (run.parent / "out.jsonl").read_text().splitlines()]
    return rows, rounds


def _answer(run: Path, custom_id: str, line: Line) -> None:
    """Add one answer to its round's output file (or error file); None adds nothing."""
    folder = BatchDir(run).round_dir(parse_custom_id(custom_id).round)
    (folder / "output-0001.jsonl").touch()  # a round whose every answer is missing
    if line is not None:
        kind = "errors" if line.get("error") else "output"
        with open(folder / f"{kind}-0001.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"custom_id": custom_id, **line}) + "\n")


@pytest.mark.skipif(not ITEM_LETTERS, reason="no recorded cassettes")
@pytest.mark.parametrize("letter_id", ITEM_LETTERS)
def test_each_recorded_letter_gets_the_online_requests_and_row(
    letter_id: str, tmp_path: Path
) -> None:
    settings = recorded_settings()
    case = run_online(recorded_case(letter_id, settings), 0, settings)
    done = prepare([str(case.path)], tmp_path / "run", settings=settings)
    items = len(anchors_of(case.path.read_text(encoding="utf-8")).items())
    assert (done.letters, done.requests, done.asked, done.by_items) == (1, items + 1, 1, 1)
    ids = [r["custom_id"] for r in requests_of(tmp_path / "run", 1)]
    assert ids == [f"imr-0000000-item{k}-r1" for k in range(items)] + ["imr-0000000-diagnoses0-r1"]
    rows, rounds = run_rounds(tmp_path / "run", {0: case})
    assert rows == [case.row] and rounds[-1].done
    assert len(rounds) == max(len(answers) for answers in case.script.values())


def _falling_back(folder: Path) -> Case:
    """A whole-letter cassette's letter with one rationale label too many, answered by that
    cassette's completions: its anchors no longer hold every item, so items uses letter."""
    text = corpus_letter(FALLBACK)
    text = text.replace(
        "Decision rationale:", "Decision rationale: (below)\nDecision rationale:", 1
    )
    assert strategy_for(anchors_of(text), recorded_settings()) == "letter"
    path = folder / f"{FALLBACK}-relabelled.txt"
    path.write_text(text, encoding="utf-8")
    lines = recorded_lines(f"test_letter_strategy_replays[{FALLBACK}]")
    # However many re-asks the changed letter needs, the last recorded answer is given again.
    lines += [lines[-1]] * (recorded_settings().max_reasks + 1 - len(lines))
    return Case(path, {"": lines})


@pytest.mark.skipif(not ITEM_LETTERS, reason="no recorded cassettes")
def test_a_mixed_folder_gets_one_row_per_input_as_online(tmp_path: Path) -> None:
    settings = recorded_settings()
    cases = [recorded_case(letter_id, settings) for letter_id in ITEM_LETTERS]
    cases.append(_falling_back(tmp_path))
    for index, case in enumerate(cases):
        run_online(case, index, settings)
    (tmp_path / "note.txt").write_text("Patient seen today for knee pain.\n", encoding="utf-8")
    extra = [str(tmp_path / "note.txt"), str(tmp_path / "gone.txt")]
    done = prepare([str(c.path) for c in cases] + extra, tmp_path / "run", settings=settings)
    assert (done.letters, done.asked, done.by_items) == (len(cases) + 2, len(cases), len(cases) - 1)
    fallback = len(cases) - 1
    ids = {r["custom_id"] for r in requests_of(tmp_path / "run", 1)}
    assert f"imr-{fallback:07d}-r1" in ids and f"imr-{fallback:07d}-item0-r1" not in ids
    rows, rounds = run_rounds(tmp_path / "run", dict(enumerate(cases)))
    assert rows[: len(cases)] == [c.row for c in cases]
    assert [r["status"] for r in rows[len(cases) :]] == ["not_imr", "failed"]
    assert rounds[-1].done
