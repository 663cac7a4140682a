"""The API key goes to the endpoint and nowhere else; cache and output files are private.

A sentinel key is passed explicitly (Python) and through OPENAI_API_KEY (command line);
every log record at DEBUG, the cache database and its WAL files, the output file, stderr
and any cassette are then searched for it. The fake server must have received it, so a
test that never sent the key cannot pass by accident.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
from conftest import ROOT, corpus_letter
from fake_openai import FakeOpenAI, Reply, chat_completion, full_answer

from imr_llm.cli.app import main
from imr_llm.extraction.cache import Cache
from imr_llm.extraction.pipeline import extract
from imr_llm.llm import make_client

SENTINEL = "sk-SENTINEL-3f9c2a7e41d84b0c9e6a"
LETTER_ID = "001_e6b0d48aa7f5108d"
LETTER = corpus_letter(LETTER_ID)
ITEMS = [
    {"request": "Norco 10/325mg #160", "decision": "overturned", "quantity": 160},
    {"request": "Zoloft 100mg #60", "decision": "upheld", "quantity": 60},
    {"request": "Baclofen 20mg #90", "decision": "upheld", "quantity": 90},
]
ANSWER = Reply(body=chat_completion(tool_args=full_answer(ITEMS)))


class _Everything(logging.Handler):
    """Collects every record, formatted with its arguments and any traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    """Every logger at DEBUG, the non-propagating ones (instructor) included."""
    handler = _Everything()
    names = ["", "openai", "httpx", "httpx2", "httpcore", "instructor", "imr_llm"]
    names += list(logging.root.manager.loggerDict)
    loggers = [logging.getLogger(n) for n in dict.fromkeys(names)]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    try:
        yield handler
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(handler)


def _authorization(fake: FakeOpenAI) -> list[str]:
    return [v for h in fake.headers for k, v in h.items() if k.lower() == "authorization"]


def _files_holding(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_python_extract_keeps_the_key_out_of_logs_rows_and_cache(
    tmp_path: Path, all_logs: _Everything
) -> None:
    # A conflicting answer, a 500, then the answer: re-asks and retries both get logged.
    wrong = [{**i, "decision": "overturned"} for i in ITEMS]
    script = [
        Reply(body=chat_completion(tool_args=full_answer(wrong))),
        Reply(500, headers={"retry-after-ms": "1"}),
        ANSWER,
    ]
    with FakeOpenAI(script) as fake, Cache(tmp_path / "cache" / "cache.sqlite") as cache:
        client = make_client(
            model="fake", base_url=fake.base_url, api_key=SENTINEL, max_reasks=1, timeout=5
        )
        row = extract(LETTER, client=client, cache=cache)
        wal_files = sorted((tmp_path / "cache").iterdir())
        modes = {p.name: _mode(p) for p in wal_files}
        stored = cache.completions(next(iter(_keys(tmp_path / "cache" / "cache.sqlite"))))
    assert _authorization(fake) == [f"Bearer {SENTINEL}"] * 3  # the key did travel
    assert row.status == "ok"
    assert all_logs.lines, "nothing was logged: the log check would be vacuous"
    assert not [line for line in all_logs.lines if SENTINEL in line]
    assert SENTINEL not in row.model_dump_json()
    assert not any(SENTINEL in c for c in stored)
    assert not _files_holding(tmp_path, SENTINEL)
    assert "cache.sqlite" in modes and set(modes.values()) == {0o600}, modes
    assert _mode(tmp_path / "cache") == 0o700


def _keys(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [k for (k,) in conn.execute("SELECT key FROM responses")]


def test_an_error_body_echoing_the_key_does_not_reach_the_row(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Some proxies echo the Authorization header in their error bodies; the row hides it.

    Known limit: instructor logs the server's error body verbatim. imr_llm.llm detaches
    the "instructor" logger (no propagation), so only a user who wires it up sees it.
    """
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"invalid key Bearer {SENTINEL}", "type": "auth"}}
    with FakeOpenAI([Reply(401, body=echo)]) as fake:
        client = make_client(model="fake", base_url=fake.base_url, api_key=SENTINEL, timeout=5)
        row = extract(LETTER, client=client, cache=None)
    assert _authorization(fake) == [f"Bearer {SENTINEL}"]
    assert row.status == "failed" and row.error is not None
    assert "AuthenticationError" in row.error.message
    assert SENTINEL not in row.model_dump_json()
    assert "<api key>" in row.error.message
    ours = [r for r in caplog.records if not r.name.startswith("instructor")]
    assert any("HTTP Request: POST" in r.getMessage() for r in ours)
    assert not [r for r in ours if SENTINEL in r.getMessage()]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imr_llm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI run: the sentinel key, debug logging, a umask that allows 0644."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "IMR_LLM_"))}
    env |= {"OPENAI_API_KEY": SENTINEL, "OPENAI_LOG": "debug", "HOME": str(tmp_path)}
    return env


def test_cli_extract_keeps_the_key_out_of_output_cache_and_stderr(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    letters = tmp_path / "in"
    letters.mkdir()
    (letters / "a.txt").write_text(LETTER, encoding="utf-8")  # answered
    (letters / "b.txt").write_text(corpus_letter("000_3d6c485213f605e4"), encoding="utf-8")
    out, cache_dir = tmp_path / "out.jsonl", tmp_path / "cache"
    script = [ANSWER, Reply(500, headers={"retry-after-ms": "1"})]
    old_umask = os.umask(0o022)  # what most users have: plain open() would make 0644 files
    try:
        with FakeOpenAI(script) as fake:
            args = ["extract", str(letters), "--base-url", fake.base_url, "--model", "fake"]
            done = _cli([*args, "--cache-dir", str(cache_dir), "-o", str(out)], cli_env)
    finally:
        os.umask(old_umask)
    assert done.returncode == 1, done.stderr  # b failed: one line on stderr names it
    assert "b.txt: LlmUnavailableError" in done.stderr
    assert set(_authorization(fake)) == {f"Bearer {SENTINEL}"} and fake.calls == 4
    assert "HTTP Request: POST" in done.stderr  # OPENAI_LOG=debug did log the requests
    assert SENTINEL not in done.stderr and SENTINEL not in done.stdout
    assert not _files_holding(tmp_path, SENTINEL)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert _mode(out) == 0o600
    for path in cache_dir.iterdir():
        assert _mode(path) == 0o600, path


def test_cli_anchors_output_is_private(tmp_path: Path) -> None:
    out = tmp_path / "anchors.jsonl"
    letter = ROOT / "tests" / "data" / "corpus" / "seeds" / f"{LETTER_ID}.txt"
    old_umask = os.umask(0o022)
    try:
        assert main(["anchors", str(letter), "-o", str(out)]) == 0
    finally:
        os.umask(old_umask)
    assert _mode(out) == 0o600


def test_bulk_keeps_the_key_out_and_its_output_private(
    tmp_path: Path, all_logs: _Everything, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters = tmp_path / "in"
    letters.mkdir()
    (letters / "a.txt").write_text(LETTER, encoding="utf-8")
    out, cache_dir = tmp_path / "bulk.jsonl", tmp_path / "cache"
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("IMR_LLM_MODEL", "fake")
    old_umask = os.umask(0o022)
    try:
        with FakeOpenAI([ANSWER]) as fake:
            monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)
            argv = ["bulk", str(letters), "-o", str(out), "--cache-dir", str(cache_dir)]
            assert main(argv) == 0
    finally:
        os.umask(old_umask)
    assert _authorization(fake) == [f"Bearer {SENTINEL}"]
    assert not [line for line in all_logs.lines if SENTINEL in line]
    assert not _files_holding(tmp_path, SENTINEL)
    assert _mode(out) == 0o600
    assert {_mode(p) for p in cache_dir.iterdir()} == {0o600}


def test_recorded_cassettes_hold_no_key(tmp_path: Path, vcr_config: dict[str, Any]) -> None:
    """Record through the suite's own vcr settings: the Authorization header is scrubbed."""
    recorder = vcr.VCR(**vcr_config, record_mode="all")
    cassette = tmp_path / "secret.yaml"
    with FakeOpenAI([ANSWER]) as fake, recorder.use_cassette(str(cassette)):
        client = make_client(model="fake", base_url=fake.base_url, api_key=SENTINEL, timeout=5)
        row = extract(LETTER, client=client, cache=None)
    assert _authorization(fake) == [f"Bearer {SENTINEL}"]
    assert row.status == "ok"
    text = cassette.read_text(encoding="utf-8")
    assert "chat/completions" in text  # the exchange was recorded
    assert SENTINEL not in text and "authorization" not in text.lower()


def test_committed_cassettes_hold_no_key() -> None:
    cassettes = list((ROOT / "cassettes").rglob("*.yaml"))
    if not cassettes:
        pytest.skip("no cassettes recorded yet")
    for path in cassettes:
        text = path.read_text(encoding="utf-8").lower()
        assert "authorization:" not in text and "bearer " not in text, path
        assert SENTINEL.lower() not in text, path
