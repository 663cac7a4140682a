"""LLM settings: provider choices as plain data (importing this loads no LLM library)."""

from __future__ import annotations

from dataclasses import dataclass

from imr_llm.errors import UsageError

MODE_NAMES = ("tools", "json", "md_json", "json_schema")
# letter: one call with the whole letter and the full schema; items: one small call per
# anchored item plus one for the diagnoses (for small local models).
STRATEGY_NAMES = ("letter", "items")
DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """Provider choices, all overridable: nothing here is specific to one vendor."""

    model: str = DEFAULT_MODEL
    mode: str = "tools"
    # llama.cpp takes {"type": "json_object", "schema": ...} instead of json_schema.
    json_object_schema: bool = False
    max_tokens: int = 1500
    max_reasks: int = 2
    strategy: str = "letter"
    # json_schema mode on a grammar server (llama.cpp): bound free-text lengths in the schema.
    compact_json: bool = False
    # llama.cpp only: send the answer schema as a GBNF grammar of one-line JSON (its "grammar"
    # field) instead of a response_format; small models then write no indentation.
    gbnf: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODE_NAMES:
            raise UsageError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODE_NAMES)}")
        if self.strategy not in STRATEGY_NAMES:
            raise UsageError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGY_NAMES)}"
            )
        if self.max_tokens < 1 or self.max_reasks < 0:
            raise UsageError("max_tokens must be positive and max_reasks not negative")


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    model: str | None = None
    base_url: str | None = None
    mode: str | None = None
    json_object_schema: bool = False
    local: bool = False
    max_reasks: int = 2
    max_tokens: int = 1500
    strategy: str | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """An endpoint's address and transport policy, picklable for worker processes."""

    base_url: str
    api_key: str
    timeout: float
    transport_retries: int
