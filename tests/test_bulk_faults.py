"""Bulk runs under faults: a flaky server loses no letter, and kill -9 loses no work.

The fault server fails about 30% of calls (5xx, 429, resets, malformed bodies), chosen by
a seeded hash of the letter and the attempt, so the same calls fail whatever the order.
The kill -9 loop is marked slow (about a minute): `pytest -m slow` runs it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from anchored_answers import answering, case_number_of, letter_files
from conftest import corpus_letter
from fake_openai import FakeOpenAI, Reply

from imr_llm.bulk.journal import row_key
from imr_llm.cli.app import EXIT_OK, EXIT_SOME_FAILED, main

BASE = corpus_letter("CM16-0213037")
FAST = {"retry-after-ms": "1"}
FAULTS = [
    Reply(500, headers=FAST),
    Reply(503, headers=FAST),
    Reply(429, headers=FAST),
    Reply(drop=True),
    Reply(body="{not json"),
]


def _letters(folder: Path, count: int) -> dict[str, str]:
    return letter_files(folder, BASE, count)


class Flaky:
    """Fails a call when a seeded hash of (letter, attempt) falls under ``rate``."""

    def __init__(self, rate: float, seed: int = 6) -> None:
        self.rate, self.seed = rate, seed
        self.tries: Counter[str] = Counter()
        self.failed = 0

    def __call__(self, case: str) -> Reply | None:
        self.tries[case] += 1
        draw = random.Random(f"{self.seed}/{case}/{self.tries[case]}")
        if draw.random() >= self.rate:
            return None
        self.failed += 1
        return draw.choice(FAULTS)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _keys(rows: list[dict[str, Any]]) -> list[bytes]:
    return [row_key(r["source"]["path"], r["source"]["sha256"]) for r in rows]


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Point the command line at a fake server, with a private cache."""
    monkeypatch.setenv("IMR_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return lambda fake: monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)


def test_500_letters_on_a_flaky_server_give_500_rows_and_retry_failed_completes_them(
    tmp_path: Path, endpoint: Any
) -> None:
    total = 500
    letters = _letters(tmp_path / "in", total)
    out = tmp_path / "out.jsonl"
    argv = ["bulk", str(tmp_path / "in"), "-o", str(out), "--concurrency", "16"]
    flaky = Flaky(0.3)
    with FakeOpenAI(answering(letters, fail=flaky)) as fake:
        endpoint(fake)
        assert main(argv) == EXIT_SOME_FAILED
    assert 0.25 < flaky.failed / fake.calls < 0.35
    rows = _rows(out)
    assert len(rows) == total and len(set(_keys(rows))) == total  # none lost, none twice
    assert {Path(r["source"]["path"]).stem for r in rows} == set(letters)
    failed = {Path(r["source"]["path"]).stem for r in rows if r["status"] == "failed"}
    assert 0 < len(failed) < total
    assert {r["status"] for r in rows} == {"ok", "failed"}
    assert {r["error"]["type"] for r in rows if r["status"] == "failed"} <= {
        "LlmUnavailableError",
        "LlmOutputError",
    }
    # Every failed row still carries the anchors-only record.
    assert all(r["record"]["case_number"] for r in rows if r["status"] == "failed")

    with FakeOpenAI(answering(letters)) as recovered:
        endpoint(recovered)
        assert main([*argv, "--retry-failed"]) == EXIT_OK
    assert sorted(case_number_of(b) or "?" for b in recovered.requests) == sorted(failed)
    rows = _rows(out)  # compacted: the newest row per letter
    assert len(rows) == total and len(set(_keys(rows))) == total
    assert {r["status"] for r in rows} == {"ok"}


def _complete_lines(path: Path) -> list[bytes]:
    """The whole lines of an output file (a kill may leave a cut-off last line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return data.split(b"\n")[:-1]


def _check_cache(db: Path) -> int:
    """PRAGMA integrity_check is ok; the number of cached rows."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if "responses" not in tables:
            return 0
        return int(conn.execute("SELECT count(*) FROM responses").fetchone()[0])


def _kill_at_random(argv: list[str], env: dict[str, str], out: Path, rng: random.Random) -> bool:
    """Start a bulk run and kill -9 it after a random number of new rows or a random time.

    False when the run ended by itself first.
    """
    before = len(_complete_lines(out))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imr_llm", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    rows, seconds = rng.randint(0, 4), rng.uniform(0.0, 2.0)
    deadline = time.monotonic() + (30 if rows else seconds)
    while time.monotonic() < deadline and proc.poll() is None:
        if rows and len(_complete_lines(out)) - before >= rows:
            time.sleep(rng.uniform(0, 0.05))  # land between, or inside, the next writes
            break
        time.sleep(0.002)
    ended = proc.poll() is not None
    if not ended:
        os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=10)
    assert not ended or proc.returncode == EXIT_OK, err.decode()
    return not ended


@pytest.mark.slow
def test_kill_9_twenty_times_then_rerun_leaves_output_and_cache_complete(
    tmp_path: Path, endpoint: Any
) -> None:
    # Enough letters that twenty short runs cannot finish them all: the kills land mid-run.
    total, kills = 150, 20
    letters = _letters(tmp_path / "in", total)
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache"
    argv = ["bulk", str(tmp_path / "in"), "-o", str(out), "--cache-dir", str(cache)]
    argv += ["--concurrency", "4"]
    rng = random.Random(20)
    with FakeOpenAI(answering(letters, delay=0.05)) as fake:
        env = {**os.environ, "IMR_LLM_BASE_URL": fake.base_url, "IMR_LLM_MODEL": "gpt-4o-mini"}
        env.pop("OPENAI_API_KEY", None)
        for n in range(kills):
            _kill_at_random(argv, env, out, rng)
            if n == kills // 2 and (lines := _complete_lines(out)):
                # A torn write (power loss mid-row): the next run must cut it off and redo.
                with out.open("ab") as torn:
                    torn.write(lines[0][: len(lines[0]) // 2])
            lines = _complete_lines(out)
            parsed = [json.loads(line) for line in lines]  # every whole line is a row
            assert len(set(_keys(parsed))) == len(parsed)  # and no letter twice
            _check_cache(cache / "cache.sqlite")
        written_before = len(_complete_lines(out))
        endpoint(fake)
        assert main(argv) == EXIT_OK
    assert 0 < written_before < total  # the kills landed mid-run
    rows = _rows(out)
    assert len(rows) == total and len(set(_keys(rows))) == total
    assert {Path(r["source"]["path"]).stem for r in rows} == set(letters)
    assert {r["status"] for r in rows} == {"ok"}
    assert _check_cache(cache / "cache.sqlite") == total
    assert fake.calls <= total + 4 * kills  # at most the calls in flight were lost per kill
