"""Prompts are data with a version; the rendered prompt is snapshotted."""

from __future__ import annotations

import textwrap

import pytest
from conftest import check_snapshot, corpus_letter
from hypothesis import given
from hypothesis import strategies as st

from imr_llm.errors import UsageError
from imr_llm.extraction.prompts import _dedent, letter_for_prompt, load_prompts, render


def test_rendered_prompt_snapshot() -> None:
    prompts = load_prompts()
    letter = letter_for_prompt(corpus_letter("CM16-0213037"))
    rendered = {
        "version": prompts.version,
        "system": render(prompts.system),
        "user": render(prompts.user, letter=letter),
    }
    check_snapshot("prompt/CM16-0213037", rendered)


def test_version_is_set() -> None:
    assert load_prompts().version.startswith("extract-")


def test_render_names_missing_variables() -> None:
    with pytest.raises(UsageError, match="letter"):
        render(load_prompts().user)


def test_letter_braces_pass_through_unchanged() -> None:
    assert "{{ x }} {% y %} {# z" in render(load_prompts().user, letter="{{ x }} {% y %} {# z")


def test_boilerplate_is_dropped_but_fields_are_kept() -> None:
    text = corpus_letter("CM16-0213037")
    letter = letter_for_prompt(text)
    assert "He/she has been in active clinical practice" not in letter
    for kept in ("CM16-0213037", "State(s) of Licensure", "MRI of the right shoulder"):
        assert kept in letter
    assert len(letter) < len(text)


def test_seed_credentials_sentence_survives() -> None:
    letter = letter_for_prompt(corpus_letter("003_70f044b9b6dcd781"))
    assert "Board Certified in Physical Medicine and Rehabilitation" in letter


@given(st.text(alphabet=" \t\nab", max_size=60))
def test_dedent_fast_path_matches_textwrap(text: str) -> None:
    assert _dedent(text) == textwrap.dedent(text)
