"""Bulk runs against the hand-written fake server: one row per input, resume, retry, kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from anchored_answers import answering, case_number_of, letter_files, variants
from conftest import corpus_letter
from fake_openai import FakeOpenAI, Reply

from imr_llm import extract_many
from imr_llm.bulk.plan import Plan
from imr_llm.bulk.ratelimit import RateLimiter
from imr_llm.bulk.runner import run
from imr_llm.cli.app import EXIT_OK, EXIT_SOME_FAILED, main
from imr_llm.errors import UsageError
from imr_llm.extraction.cache import Cache, NullCache
from imr_llm.llm import LlmClient, make_client
from imr_llm.models import Extraction

DATA = Path(__file__).parent / "data"
BASE = corpus_letter("CM16-0213037")


def _client(fake: FakeOpenAI, **kw: Any) -> LlmClient:
    return make_client(
        model="gpt-4o-mini", base_url=fake.base_url, api_key="sk-test", timeout=10, **kw
    )


def _letters(folder: Path, count: int) -> dict[str, str]:
    return letter_files(folder, BASE, count)


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _sent(fake: FakeOpenAI, since: int = 0) -> list[str]:
    return [case_number_of(body) or "?" for body in fake.requests[since:]]


Use = Callable[[FakeOpenAI], None]


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Use:
    """Point the command line at a fake server, with a private cache."""
    monkeypatch.setenv("IMR_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return lambda fake: monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)


def test_extract_many_yields_rows_in_input_order() -> None:
    letters = dict(variants(BASE, 12))
    with FakeOpenAI(answering(letters, delay=0.01)) as fake:
        rows = list(extract_many(letters.items(), client=_client(fake), cache=None, concurrency=4))
        loose = extract_many(letters.items(), client=_client(fake), cache=None, ordered=False)
        unordered = [row.source.path for row in loose]
    assert [row.source.path for row in rows] == list(letters)
    assert {row.status for row in rows} == {"ok"}
    assert sorted(unordered) == list(letters)
    assert fake.calls == 24


@pytest.mark.parametrize("workers", [1, 2])
def test_extract_many_fills_a_new_empty_cache(tmp_path: Path, workers: int) -> None:
    """An empty Cache is falsy (len 0); it must still be used, not replaced by no cache."""
    letters = dict(variants(BASE, 4))
    with FakeOpenAI(answering(letters)) as fake, Cache(tmp_path / "c.sqlite") as cache:
        kw: dict[str, Any] = {"client": _client(fake), "cache": cache, "workers": workers}
        first = list(extract_many(letters.items(), **kw))
        again = list(extract_many(letters.items(), **kw))
        assert len(cache) == 4
    assert fake.calls == 4
    assert [r.llm.cached for r in first + again if r.llm] == [False] * 4 + [True] * 4


def test_paths_and_bad_inputs_give_one_row_each(tmp_path: Path) -> None:
    letters = _letters(tmp_path, 2)
    bad = sorted(str(p) for p in (DATA / "bad").iterdir())
    inputs: list[Any] = [*sorted(tmp_path.glob("*.txt")), *bad, str(tmp_path / "missing.txt")]
    with FakeOpenAI(answering(letters)) as fake:
        rows = list(extract_many(inputs, client=_client(fake), cache=None, concurrency=3))
    assert [row.source.path for row in rows] == [str(p) for p in inputs]
    assert [row.status for row in rows[:2]] == ["ok", "ok"]
    assert all(row.status in ("failed", "not_imr") for row in rows[2:])
    assert fake.calls == 2


def test_the_engine_pulls_inputs_only_as_rows_are_taken() -> None:
    letters = dict(variants(BASE, 100))
    pulled = 0

    def inputs() -> Iterator[tuple[str, str]]:
        nonlocal pulled
        for item in letters.items():
            pulled += 1
            yield item

    with FakeOpenAI(answering(letters)) as fake:
        rows = extract_many(inputs(), client=_client(fake), cache=None, concurrency=2)
        first = next(rows)
        time.sleep(0.3)
        assert pulled <= 1 + 2 * 16 + 1  # the row taken, the window, one waiting for it
        rows.close()  # stopping early cancels the rest without hanging
    assert first.source.path == "CM99-0000000"


def test_a_misconfigured_client_stops_the_run() -> None:
    sync_only = LlmClient(openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk-test"))
    with pytest.raises(UsageError, match="async"):
        list(extract_many([("a", BASE)], client=sync_only, cache=None))


def test_a_429_that_outlives_the_retries_slows_the_limiter() -> None:
    limiter = RateLimiter(rpm=600, cooldown=0.01)
    letters = {"CM16-0213037": BASE}
    too_many = Reply(status=429, headers={"retry-after": "0"})
    with FakeOpenAI(answering(letters, fail=lambda case: too_many)) as fake:
        plan = Plan(client=_client(fake, transport_retries=0), cache=NullCache(), limiter=limiter)
        (row,) = run([("a.txt", BASE)], plan)
    assert isinstance(row, Extraction) and row.status == "failed"
    assert limiter.rate_limited == 1
    assert limiter.factor(limiter.paused_until) == 0.5


def test_bulk_command_resumes_and_uses_globs_and_list_files(tmp_path: Path, use: Use) -> None:
    letters = _letters(tmp_path / "a", 4)
    listed = tmp_path / "list.txt"
    listed.write_text(f"# more\n{tmp_path / 'a' / 'CM99-0000003.txt'}\n\n")
    out = tmp_path / "out.jsonl"
    argv = ["bulk", str(tmp_path / "a" / "CM99-000000[0-2].txt"), "--list", str(listed)]
    argv += ["-o", str(out), "--no-cache"]
    with FakeOpenAI(answering(letters)) as fake:
        use(fake)
        assert main(argv) == EXIT_OK
        assert main(argv) == EXIT_OK  # everything done: nothing sent, nothing written
    assert sorted(_sent(fake)) == sorted(letters)
    assert len(_rows(out)) == 4


def test_bad_inputs_give_one_row_each_and_exit_1(
    tmp_path: Path, use: Use, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(DATA / "bad", folder)
    (folder / "dangling.txt").symlink_to(folder / "missing.txt")
    out = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        use(fake)
        assert main(["bulk", str(folder), "-o", str(out)]) == EXIT_SOME_FAILED
    rows = _rows(out)
    assert sorted(Path(r["source"]["path"]).name for r in rows) == sorted(os.listdir(folder))
    assert {r["status"] for r in rows} <= {"failed", "not_imr"}
    assert "Traceback" not in capsys.readouterr().err


def test_retry_failed_redoes_only_failed_rows(tmp_path: Path, use: Use) -> None:
    letters = _letters(tmp_path / "in", 10)
    out = tmp_path / "out.jsonl"
    argv = ["bulk", str(tmp_path / "in"), "-o", str(out), "--no-cache", "--concurrency", "3"]
    down = {"CM99-0000002", "CM99-0000005", "CM99-0000009"}
    with FakeOpenAI(answering(letters, fail=lambda c: Reply(400) if c in down else None)) as bad:
        use(bad)
        assert main(argv) == EXIT_SOME_FAILED
    assert {r["source"]["path"] for r in _rows(out) if r["status"] == "failed"} == {
        str(tmp_path / "in" / f"{case}.txt") for case in down
    }
    with FakeOpenAI(answering(letters)) as good:
        use(good)
        assert main(argv) == EXIT_SOME_FAILED  # without --retry-failed nothing is redone
        assert good.calls == 0
        assert main([*argv, "--retry-failed"]) == EXIT_OK
    assert sorted(_sent(good)) == sorted(down)
    rows = _rows(out)  # compacted: one row per letter, the newest
    assert len(rows) == 10 and {r["status"] for r in rows} == {"ok"}


def test_the_cache_means_a_lost_output_costs_nothing(tmp_path: Path, use: Use) -> None:
    letters = _letters(tmp_path / "in", 3)
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(answering(letters)) as fake:
        use(fake)
        assert main(["bulk", str(tmp_path / "in"), "-o", str(out)]) == EXIT_OK
        out.unlink()
        assert main(["bulk", str(tmp_path / "in"), "-o", str(out)]) == EXIT_OK
    assert fake.calls == 3
    assert [r["llm"]["cached"] for r in _rows(out)] == [True] * 3


def _line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_kill_9_then_rerun_gives_every_row_once(tmp_path: Path, use: Use) -> None:
    total, kill_after = 40, 15
    letters = _letters(tmp_path / "in", total)
    out = tmp_path / "out.jsonl"
    argv = ["bulk", str(tmp_path / "in"), "-o", str(out), "--no-cache", "--concurrency", "2"]
    with FakeOpenAI(answering(letters, delay=0.05)) as fake:
        env = {**os.environ, "IMR_LLM_BASE_URL": fake.base_url}
        command = [sys.executable, "-m", "imr_llm", *argv]
        proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _line_count(out) < kill_after and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        *complete, _partial = out.read_bytes().split(b"\n")  # a partial line may be cut off
        written = {Path(json.loads(line)["source"]["path"]).stem for line in complete}
        assert kill_after <= len(written) < total
        before = fake.calls
        use(fake)
        assert main(argv) == EXIT_OK
        resent = _sent(fake, before)
    rows = _rows(out)  # every line parses
    assert len(rows) == total
    assert sorted(Path(r["source"]["path"]).stem for r in rows) == sorted(letters)
    assert not set(resent) & written  # no letter whose row was written went out again
    assert sorted(resent) == sorted(set(letters) - written)  # the rest went out once each
