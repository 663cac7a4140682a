"""Shared fixtures: replayed LLM traffic (pytest-recording) and a client for it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from imr_llm.llm import LlmClient, make_client

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "data" / "corpus"
SNAPSHOTS = Path(__file__).parent / "snapshots"
# Cassettes are recorded against `scripts/record-cassettes`' local server on this fixed
# address: the URL is part of every recorded request.
CASSETTE_BASE_URL = "http://127.0.0.1:18080/v1"
CASSETTE_MODEL = "qwen2.5-coder-1.5b-instruct"
# A fake key: the real one (if any) must never reach a cassette; the header is scrubbed.
FAKE_KEY = "sk-test-0000000000000000"


@pytest.fixture(autouse=True)
def _own_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands that use the default cache write to a fresh folder, never the user's."""
    monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    return str(ROOT / "cassettes" / Path(str(request.node.fspath)).stem)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    # No record_mode here: it would override --record-mode (replay-only is the default).
    return {
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "filter_headers": [
            "authorization",
            "cookie",
            "set-cookie",
            "openai-organization",
            "openai-project",
            "x-api-key",
            "api-key",
        ],
        "decode_compressed_response": True,
    }


@pytest.fixture
def cassette_client() -> LlmClient:
    """A client for replayed traffic, set as the bundled model runs (json_schema mode, the
    items strategy, grammar length limits); no transport retries, so a cassette miss fails
    at once.
    """
    return cassette_client_for("items")


def cassette_client_for(strategy: str, max_reasks: int = 2) -> LlmClient:
    """The cassette client with ``strategy`` and ``max_reasks``."""
    return make_client(
        model=CASSETTE_MODEL,
        base_url=CASSETTE_BASE_URL,
        api_key=FAKE_KEY,
        mode="json_schema",
        compact_json=True,
        gbnf=True,
        strategy=strategy,
        transport_retries=0,
        timeout=900,
        max_reasks=max_reasks,
    )


def regression(case_id: str, *values: Any, reason: str) -> Any:
    """A table row the code once got wrong; ``reason`` says how, so the fix stays fixed."""
    del reason
    return pytest.param(*values, id=case_id)


def cases(rows: list[Any]) -> list[Any]:
    """Table rows written as ``(id, *values)`` (or made by ``regression``) as pytest params."""
    return [r if hasattr(r, "marks") else pytest.param(*r[1:], id=r[0]) for r in rows]


def corpus_letter(name: str) -> str:
    """The text of a bundled corpus letter by id (seed or dev)."""
    for sub in ("seeds", "dev"):
        path = CORPUS / sub / f"{name}.txt"
        if path.exists():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(name)


def check_snapshot(name: str, data: Any) -> None:
    """Compare ``data`` with a stored JSON snapshot (IMR_LLM_UPDATE_SNAPSHOTS=1 rewrites it)."""
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("IMR_LLM_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with IMR_LLM_UPDATE_SNAPSHOTS=1"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text)
