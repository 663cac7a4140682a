"""prepare -> collect on REAL recorded completions: the whole-letter cassettes of test_cassettes.py.

The Batch path sends whole-letter requests (the ``letter`` strategy).

For each recorded letter, every batch request (the first one and each re-ask) must equal
the request the online path sent when the cassette was recorded, and the rows collect
writes must equal the rows ``extract`` makes from the same completions.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CORPUS, ROOT, cassette_client_for
from fake_openai import FakeOpenAI, Reply

from imr_llm.batch.collector import collect
from imr_llm.batch.files import BatchDir, read_jsonl
from imr_llm.batch.jobs import prepare
from imr_llm.extraction.pipeline import extract
from imr_llm.extraction.settings import LlmSettings
from imr_llm.llm import make_client

CASSETTES = ROOT / "cassettes" / "test_cassettes"
PREFIX = "test_letter_strategy_replays["

Exchange = tuple[dict[str, Any], int, dict[str, Any]]


def _letter(cassette: str) -> str | None:
    if cassette.startswith(PREFIX):
        return cassette.removeprefix(PREFIX).removesuffix("]")
    return None


RECORDED = sorted(p.stem for p in CASSETTES.glob("*.yaml") if _letter(p.stem))


def _exchanges(cassette: str) -> list[Exchange]:
    """(request body, status, response body) of each recorded call, in order."""
    data = yaml.safe_load((CASSETTES / f"{cassette}.yaml").read_text(encoding="utf-8"))
    return [
        (
            json.loads(i["request"]["body"]),
            i["response"]["status"]["code"],
            json.loads(i["response"]["body"]["string"]),
        )
        for i in data["interactions"]
    ]


def _path(letter_id: str) -> Path:
    return next(CORPUS.glob(f"*/{letter_id}.txt"))


def _settings() -> LlmSettings:
    """The settings the whole-letter cassettes were recorded with."""
    return cassette_client_for("letter").settings


def _online(
    path: Path, exchanges: list[Exchange], settings: LlmSettings
) -> tuple[dict[str, Any], list[Any]]:
    """The row extract makes from the recorded completions, and the requests it sends."""
    replies = [Reply(status=status, body=body) for _, status, body in exchanges]
    with FakeOpenAI(replies) as fake:
        client = make_client(
            **asdict(settings), base_url=fake.base_url, api_key="sk-test", transport_retries=0
        )
        row = extract(path.read_text(encoding="utf-8"), client=client, cache=None, path=str(path))
    return row.model_dump(mode="json"), fake.requests


def _run_rounds(run: Path, recorded: dict[str, list[Exchange]]) -> list[dict[str, Any]]:
    """Answer each round from the recordings (as `vllm run-batch` output), collect, repeat."""
    manifest = {e["index"]: Path(e["path"]).stem for e in read_jsonl(run / "manifest.jsonl")}
    round_, rows = 1, []
    while requests := [r for p in BatchDir(run).request_files(round_) for r in read_jsonl(p)]:
        with open(run / f"round-{round_}" / "output-0001.jsonl", "w", encoding="utf-8") as out:
            for request in requests:
                index = int(request["custom_id"].split("-")[1])
                sent, status, body = recorded[manifest[index]][round_ - 1]
                assert request["body"] == sent, f"{manifest[index]} round {round_}"
                response = {"status_code": status, "request_id": "r", "body": body}
                out.write(json.dumps({"custom_id": request["custom_id"], "response": response}))
                out.write("\n")
        with open(run.parent / "out.jsonl", "w", encoding="utf-8") as fh:
            collect(run, fh)
        rows = [json.loads(line) for line in (run.parent / "out.jsonl").read_text().splitlines()]
        round_ += 1
    return rows


@pytest.mark.skipif(not RECORDED, reason="no recorded cassettes")
@pytest.mark.parametrize("cassette", RECORDED)
def test_batch_sends_the_recorded_requests_and_makes_the_online_rows(
    cassette: str, tmp_path: Path
) -> None:
    letter_id, settings = str(_letter(cassette)), _settings()
    exchanges = _exchanges(cassette)
    path = _path(letter_id)
    online_row, online_requests = _online(path, exchanges, settings)
    assert online_requests == [sent for sent, _, _ in exchanges]
    prepare([str(path)], tmp_path / "run", settings=settings)
    rows = _run_rounds(tmp_path / "run", {letter_id: exchanges})
    assert rows == [online_row]


@pytest.mark.skipif(not RECORDED, reason="no recorded cassettes")
def test_one_batch_of_every_recorded_letter_gives_one_row_each(tmp_path: Path) -> None:
    settings = _settings()
    cassettes = RECORDED
    recorded = {str(_letter(c)): _exchanges(c) for c in cassettes}
    paths = [_path(letter_id) for letter_id in recorded]
    (tmp_path / "note.txt").write_text("Patient seen today for knee pain.\n", encoding="utf-8")
    inputs = [str(p) for p in paths] + [str(tmp_path / "note.txt"), str(tmp_path / "gone.txt")]
    prepare(inputs, tmp_path / "run", settings=settings)
    rows = _run_rounds(tmp_path / "run", recorded)
    expected = [_online(p, recorded[p.stem], settings)[0] for p in paths]
    assert rows[: len(paths)] == expected
    assert [r["status"] for r in rows[len(paths) :]] == ["not_imr", "failed"]
