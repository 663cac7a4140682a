"""The SQLite response cache: keys, round trips, privacy, permissions and concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from imr_llm.anchors.record import anchors_extraction
from imr_llm.errors import UsageError
from imr_llm.extraction.answer import AnswerItem
from imr_llm.extraction.cache import Cache, NullCache, ResponseCache, cache_key, schema_hash
from imr_llm.extraction.pipeline import request_key
from imr_llm.extraction.settings import LlmSettings
from imr_llm.itemwise.answers import ItemAnswer
from imr_llm.llm import client
from imr_llm.models import Determination, Extraction, LlmInfo

LETTER = Path(__file__).parent / "data" / "corpus" / "dev" / "CM16-0213037.txt"
SENTINEL = "sk-SENTINEL-0123456789abcdef"
KEY_PARTS = {"model": "m", "mode": "tools", "prompt_version": "v1", "schema_hash": "abc"}


@pytest.fixture(scope="module")
def extraction() -> Extraction:
    text = LETTER.read_text(encoding="utf-8")
    llm = LlmInfo(model="m", prompt_version="v1", attempts=1, cached=False)
    return anchors_extraction(text).model_copy(update={"llm": llm})


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with Cache(tmp_path / "c" / "cache.sqlite") as c:
        yield c


def _key(text: str = "letter", **parts: str) -> str:
    return cache_key(text, **{**KEY_PARTS, **parts})


def test_round_trip_marks_cached(cache: Cache, extraction: Extraction) -> None:
    cache.put(_key(), extraction, ['{"id": "a"}', '{"id": "b"}'])
    got = cache.get(_key())
    assert got is not None and got.llm is not None
    assert got.llm.cached is True
    assert got.model_copy(update={"llm": extraction.llm}) == extraction
    assert cache.completions(_key()) == ['{"id": "a"}', '{"id": "b"}']
    assert len(cache) == 1


def test_put_replaces(cache: Cache, extraction: Extraction) -> None:
    cache.put(_key(), extraction, ["old"])
    cache.put(_key(), extraction.model_copy(update={"status": "needs_review"}), ["new"])
    got = cache.get(_key())
    assert got is not None and got.status == "needs_review"
    assert cache.completions(_key()) == ["new"]
    assert len(cache) == 1


def test_miss(cache: Cache) -> None:
    assert cache.get(_key()) is None
    assert cache.completions(_key()) == []
    assert len(cache) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"text": "letter "},
        {"model": "m2"},
        {"mode": "json"},
        {"prompt_version": "v2"},
        {"schema_hash": "abd"},
    ],
)
def test_key_changes_with_each_part(change: dict[str, str]) -> None:
    key = _key(**change)
    assert key != _key()
    assert len(key) == 64 and int(key, 16) >= 0


def test_key_is_stable() -> None:
    assert _key() == _key()


def test_schema_hash() -> None:
    class Other(BaseModel):
        x: int

    assert schema_hash(Extraction) == schema_hash(Extraction)
    assert len(schema_hash(Extraction)) == 16
    assert schema_hash(Extraction) != schema_hash(Determination) != schema_hash(Other)


def test_no_secret_stored(
    cache: Cache, extraction: Extraction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("OPENAI_BASE_URL", f"https://{SENTINEL}.example")
    key = _key()
    cache.put(key, extraction, ['{"choices": []}'])
    cache.close()
    assert SENTINEL not in key
    files = [cache.path, *cache.path.parent.glob("cache.sqlite-*")]
    for file in files:
        assert SENTINEL.encode() not in file.read_bytes()


def test_permissions(tmp_path: Path, extraction: Extraction) -> None:
    path = tmp_path / "new" / "dir" / "cache.sqlite"
    with Cache(path) as c:
        c.put(_key(), extraction, [])
        assert c.get(_key()) is not None
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert file.exists()
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_default_path_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with Cache() as c:
        assert c.path == tmp_path / "mine" / "cache.sqlite"
    assert c.path.exists()


def test_default_path_falls_back_to_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMR_LLM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with Cache() as c:
        assert c.path == tmp_path / "xdg" / "imr-llm" / "cache.sqlite"


def test_corrupt_row_is_a_miss(cache: Cache, extraction: Extraction) -> None:
    cache.put(_key(), extraction, ["ok"])
    with sqlite3.connect(cache.path) as raw:
        raw.execute("UPDATE responses SET extraction = '{not json', completions = 'nope'")
    raw.close()
    assert cache.get(_key()) is None
    assert cache.completions(_key()) == []


def test_corrupt_file_is_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(UsageError, match=r"cannot open cache at .*cache\.sqlite.*--no-cache"):
        Cache(path)


def test_unopenable_dir_is_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot open cache at"):
        Cache(blocker / "cache.sqlite")


def test_unknown_schema_version_recreates(tmp_path: Path, extraction: Extraction) -> None:
    path = tmp_path / "cache.sqlite"
    with Cache(path) as c:
        c.put(_key(), extraction, [])
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE meta SET value = '999' WHERE name = 'schema_version'")
    raw.close()
    with Cache(path) as c:
        assert len(c) == 0
        c.put(_key(), extraction, [])
        assert c.get(_key()) is not None


def test_closed_cache_is_usage_error(tmp_path: Path) -> None:
    c = Cache(tmp_path / "cache.sqlite")
    c.close()
    c.close()
    with pytest.raises(UsageError, match="closed"):
        c.get(_key())


def test_null_cache(extraction: Extraction) -> None:
    caches: list[ResponseCache] = [NullCache()]
    with caches[0] as c:
        c.put(_key(), extraction, ["x"])
        assert c.get(_key()) is None
        assert c.completions(_key()) == []
        assert len(c) == 0


def _write_many(path: str, worker: int, payload: str, count: int) -> None:
    extraction = Extraction.model_validate_json(payload)
    with Cache(path) as c:
        for i in range(count):
            c.put(_key(f"{worker}-{i}"), extraction, [f"completion {worker}-{i}"])


def _assert_all_readable(path: Path, workers: int, count: int) -> None:
    with Cache(path) as c:
        assert len(c) == workers * count
        for w in range(workers):
            for i in range(count):
                assert c.get(_key(f"{w}-{i}")) is not None
                assert c.completions(_key(f"{w}-{i}")) == [f"completion {w}-{i}"]
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_concurrent_processes(tmp_path: Path, extraction: Extraction) -> None:
    path = tmp_path / "cache.sqlite"
    ctx = multiprocessing.get_context("spawn")
    payload = extraction.model_dump_json()
    procs = [ctx.Process(target=_write_many, args=(str(path), w, payload, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    _assert_all_readable(path, 4, 50)


def test_concurrent_threads(tmp_path: Path, extraction: Extraction) -> None:
    path = tmp_path / "cache.sqlite"
    errors: list[BaseException] = []
    with Cache(path) as shared:

        def write(worker: int) -> None:
            try:
                for i in range(50):
                    shared.put(_key(f"{worker}-{i}"), extraction, [f"completion {worker}-{i}"])
                    assert shared.get(_key(f"{worker}-{i}")) is not None
            except BaseException as e:  # collected so the main thread can fail the test
                errors.append(e)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    _assert_all_readable(path, 8, 50)


def _put_inherited(c: Cache, payload: str) -> None:
    c.put(_key("child"), Extraction.model_validate_json(payload), ["from child"])


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
def test_forked_child_opens_its_own_connection(cache: Cache, extraction: Extraction) -> None:
    cache.put(_key("parent"), extraction, [])
    child = multiprocessing.get_context("fork").Process(
        target=_put_inherited, args=(cache, extraction.model_dump_json())
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert cache.completions(_key("child")) == ["from child"]
    assert len(cache) == 2


def test_threads_with_own_caches(tmp_path: Path, extraction: Extraction) -> None:
    path = tmp_path / "cache.sqlite"
    payload = extraction.model_dump_json()
    threads = [
        threading.Thread(target=_write_many, args=(str(path), w, payload, 25)) for w in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _assert_all_readable(path, 8, 25)


@pytest.mark.parametrize("strategy", ["letter", "items"])
def test_the_request_key_follows_the_grammar_and_limits_sent(
    strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ItemAnswer if strategy == "items" else AnswerItem
    grammar = LlmSettings(mode="json_schema", compact_json=True, gbnf=True, strategy=strategy)
    plain = LlmSettings(mode="json_schema", strategy=strategy)
    before = {s: request_key("letter text", s, strategy) for s in (grammar, plain)}
    # A tighter summary bound: same schema, other grammar. A new entry only where it is sent.
    monkeypatch.setattr(model, "GRAMMAR_LIMITS", {**model.GRAMMAR_LIMITS, "summary": 50})
    client._format_body.cache_clear()
    client.format_digest.cache_clear()
    try:
        assert request_key("letter text", grammar, strategy) != before[grammar]
        assert request_key("letter text", plain, strategy) == before[plain]
    finally:
        monkeypatch.undo()
        client._format_body.cache_clear()
        client.format_digest.cache_clear()
    assert request_key("letter text", grammar, strategy) == before[grammar]
