"""Bulk runs over worker processes: same rows as one process, resume, a killed worker."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from anchored_answers import answering, case_number_of, letter_files, variants
from conftest import corpus_letter
from fake_openai import FakeOpenAI

from imr_llm.bulk.pool import INLINE_NAME
from imr_llm.bulk.runner import extract_many
from imr_llm.cli.app import EXIT_OK, main
from imr_llm.errors import UsageError
from imr_llm.llm import LlmClient, make_client
from imr_llm.models import Extraction

BASE = corpus_letter("CM16-0213037")


def _client(fake: FakeOpenAI) -> LlmClient:
    return make_client(model="gpt-4o-mini", base_url=fake.base_url, api_key="sk-test", timeout=10)


def _summary(rows: list[Extraction]) -> list[tuple[str | None, str, Any]]:
    return [(r.source.path, r.status, r.record and r.record.model_dump()) for r in rows]


def test_two_workers_give_the_same_rows_in_input_order_as_one() -> None:
    letters = dict(variants(BASE, 30))
    with FakeOpenAI(answering(letters, delay=0.01)) as fake:
        kw: dict[str, Any] = {"client": _client(fake), "cache": None, "concurrency": 6}
        pooled = list(extract_many(letters.items(), workers=2, **kw))
        single = list(extract_many(letters.items(), **kw))
    assert [r.source.path for r in pooled] == list(letters)
    assert {r.status for r in pooled} == {"ok"}
    assert _summary(pooled) == _summary(single)
    assert fake.calls == 60  # every letter asked once per run, never twice
    assert not multiprocessing.active_children()  # the workers are gone


def test_workers_start_at_once_and_together_keep_to_the_concurrency() -> None:
    letters = dict(variants(BASE, 40))
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import imr_llm.bulk.worker"], check=True)
    worker_start = time.monotonic() - started  # the least a worker process needs to be ready
    with FakeOpenAI(answering(letters, delay=0.1)) as fake:
        started = time.monotonic()
        pooled = extract_many(
            letters.items(), client=_client(fake), cache=None, concurrency=4, workers=2
        )
        first = next(pooled)
        first_row = time.monotonic() - started
        rows = [first, *pooled]
    assert first_row < worker_start  # the parent's own worker answered it
    assert [r.source.path for r in rows] == list(letters)
    assert {r.status for r in rows} == {"ok"}
    assert fake.calls == 40
    assert 2 <= fake.most_in_flight <= 4  # concurrent, never over the limit


def test_workers_must_not_be_negative() -> None:
    with pytest.raises(UsageError):
        extract_many([("a", BASE)], client=None, cache=None, workers=-1)


def test_bulk_command_with_workers_resumes_and_shares_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "letters"
    letters = letter_files(folder, BASE, 24)
    monkeypatch.setenv("IMR_LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "out.jsonl"
    argv = ["-o", str(out), "--workers", "2", "--no-progress"]
    first = [str(folder / f"CM99-{n:07d}.txt") for n in range(10)]
    with FakeOpenAI(answering(letters)) as fake:
        monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)
        assert main(["bulk", *first, *argv]) == EXIT_OK
        assert fake.calls == 10
        assert main(["bulk", str(folder), *argv]) == EXIT_OK  # the 10 done are skipped
        assert fake.calls == 24
        out.unlink()
        assert main(["bulk", str(folder), *argv]) == EXIT_OK  # from the workers' cache
        assert fake.calls == 24
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["source"]["path"] for row in rows) == sorted(map(str, folder.iterdir()))
    assert {row["status"] for row in rows} == {"ok"}


def _inline_worker_running() -> bool:
    return any(t.name == INLINE_NAME for t in threading.enumerate())


def test_a_killed_worker_gives_failed_rows_for_its_letters_and_the_run_ends() -> None:
    letters = dict(variants(BASE, 60))
    with FakeOpenAI(answering(letters, delay=0.3)) as fake:
        pooled = extract_many(
            letters.items(), client=_client(fake), cache=None, concurrency=4, workers=2
        )
        got = [next(pooled)]
        while _inline_worker_running():  # the processes are ready and hold every letter out
            got.append(next(pooled))
        victim = multiprocessing.active_children()[0]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        got += list(pooled)
    assert [r.source.path for r in got] == list(letters)  # one row each, in order
    crashed = [r for r in got if r.error and r.error.type == "WorkerCrashed"]
    assert crashed and all(r.status == "failed" and r.record is None for r in crashed)
    assert "-9" in crashed[0].error.message if crashed[0].error else False
    assert sum(r.status == "ok" for r in got) == 60 - len(crashed)
    # A crashed letter was sent but not answered, or not sent at all: never answered twice.
    answered = [case_number_of(body) for body in fake.requests]
    assert len(answered) == len(set(answered))


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(n) for n in (task / "children").read_text().split()]
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _gone(pid: int) -> bool:
    try:  # a zombie (nobody left to reap it) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_stops_its_workers_and_resumes(tmp_path: Path, signum: int) -> None:
    folder = tmp_path / "in"
    letters = letter_files(folder, BASE, 40)
    out = tmp_path / "out.jsonl"
    argv = ["bulk", str(folder), "-o", str(out), "--no-cache", "--workers", "2"]
    argv += ["--concurrency", "2", "--no-progress"]
    with FakeOpenAI(answering(letters, delay=0.1)) as fake:
        env = {**os.environ, "IMR_LLM_BASE_URL": fake.base_url, "IMR_LLM_MODEL": "gpt-4o-mini"}
        command = [sys.executable, "-m", "imr_llm", *argv]
        # Ctrl-C as at a terminal, whatever this test runs under: a shell running us in the
        # background (``.ci/run &``) hands its children SIGINT ignored, and a process that
        # starts so keeps ignoring it (the run then finished and exited 0).
        proc = subprocess.Popen(
            command, env=env, stderr=subprocess.DEVNULL, preexec_fn=_default_sigint
        )
        deadline = time.monotonic() + 60
        while (not out.exists() or out.read_text().count("\n") < 5) and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        os.kill(proc.pid, signum)
        assert proc.wait(15) == (130 if signum == signal.SIGINT else -signum)
        deadline = time.monotonic() + 10
        while not all(map(_gone, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(map(_gone, workers))
        again = subprocess.run(command, env=env, stderr=subprocess.DEVNULL)
        assert again.returncode == EXIT_OK
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(r["source"]["path"]).stem for r in rows) == sorted(letters)
