"""instructor's async-validator check: run once for our response model, in full for others."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from instructor.v2.validation import async_validators
from pydantic import BaseModel

from imr_llm.llm.client import _RESPONSE_MODEL
from imr_llm.llm.precheck import precheck


class Plain(BaseModel):
    name: str


class WithAsyncValidator(BaseModel):
    name: str

    @async_validators.async_field_validator("name")
    async def _check_name(self, value: str) -> str:
        return value


def test_instructor_still_rejects_a_model_with_an_async_validator() -> None:
    with pytest.raises(ValueError, match="async validators"):
        async_validators.reject_async_validators(WithAsyncValidator)


def test_precheck_raises_at_once_for_a_model_with_an_async_validator() -> None:
    with pytest.raises(ValueError, match="async validators"):
        precheck(WithAsyncValidator)


def test_our_response_model_is_passed_through() -> None:
    checker = async_validators.reject_async_validators
    assert checker is sys.modules["instructor.v2.core.patch"].reject_async_validators
    assert any(m is _RESPONSE_MODEL for m in checker.__prechecked__)  # type: ignore[attr-defined]


def test_a_prechecked_model_is_walked_once_and_others_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[Any] = []

    def walk(model: Any) -> None:
        walked.append(model)

    monkeypatch.setattr(async_validators, "reject_async_validators", walk)
    patch_module = sys.modules["instructor.v2.core.patch"]
    monkeypatch.setattr(patch_module, "reject_async_validators", walk)
    precheck(Plain)
    checker = async_validators.reject_async_validators
    assert patch_module.reject_async_validators is checker
    for _ in range(5):
        checker(Plain)
    checker(list[Plain])
    checker(list[Plain])
    assert walked == [Plain, list[Plain], list[Plain]]
