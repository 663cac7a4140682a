"""The compact-JSON grammar sent to llama.cpp (settings.gbnf): what it accepts and refuses.

llama.cpp itself accepted these grammars when the items cassettes were recorded (their
request bodies carry them); here the grammar is read back as a regular expression (it has no
recursion) to check which documents it admits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from imr_llm.extraction.answer import Answer, AnswerItem, AnswerReviewer
from imr_llm.itemwise.answers import DiagnosesAnswer, ItemAnswer
from imr_llm.llm import make_client
from imr_llm.llm.gbnf import GrammarError, literal, schema_grammar

_TOKEN = re.compile(
    r'\s*(?:(?P<lit>"(?:[^"\\]|\\.)*")|(?P<cls>\[(?:[^\]\\]|\\.)*\])|(?P<rep>\{\d+,\d*\})'
    r"|(?P<op>[()|*?+])|(?P<name>[a-z][a-z0-9-]*))"
)
CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "test_cassettes"
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


def _unescape_literal(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _as_regex(grammar: str) -> re.Pattern[str]:
    """A GBNF grammar without recursion as one Python regular expression."""
    rules = dict(line.split(" ::= ", 1) for line in grammar.strip().splitlines())
    done: dict[str, str] = {}

    def rule(name: str) -> str:
        if name not in done:
            parts = []
            for m in _TOKEN.finditer(rules[name]):
                if m["lit"]:
                    parts.append(re.escape(_unescape_literal(m["lit"][1:-1])))
                elif m["cls"]:
                    parts.append(m["cls"])
                elif m["rep"]:
                    parts.append(m["rep"])
                elif m["op"]:
                    parts.append(m["op"] if m["op"] != "(" else "(?:")
                else:
                    parts.append(f"(?:{rule(m['name'])})")
            done[name] = "".join(parts)
        return done[name]

    return re.compile(rule("root"), re.S)


def _grammar_of(model: Any, *, compact: bool = True) -> str:
    client = make_client(
        base_url="http://127.0.0.1:9/v1", mode="json_schema", gbnf=True, compact_json=compact
    )
    body = client._format_body(model)
    assert body is not None and body["response_format"] is None
    return str(body["grammar"])


ITEM = {
    "treatment": "Norco",
    "generic_name": "hydrocodone/acetaminophen",
    "category": "Pharmaceuticals",
    "subcategory": "Opioids",
    "medically_necessary": False,
    "reasons": ["no_functional_improvement", "guideline_not_recommended"],
    "summary": 'No "objective" functional improvement.',
}


def _compact(value: Any) -> str:
    """One line, as json.dumps writes it by default."""
    return json.dumps(value, ensure_ascii=False)


def test_an_item_answer_is_admitted_only_as_one_line_json_in_schema_order() -> None:
    pattern = _as_regex(_grammar_of(ItemAnswer))
    assert pattern.fullmatch(_compact(ITEM))
    assert pattern.fullmatch(_compact({**ITEM, "generic_name": None, "reasons": []}))
    assert not pattern.fullmatch(json.dumps(ITEM, indent=2)), "no indentation"
    assert not pattern.fullmatch(json.dumps(ITEM, separators=(",", ":"))), "one space each"
    reordered = {"category": ITEM["category"], **{k: v for k, v in ITEM.items() if k != "category"}}
    assert not pattern.fullmatch(_compact(reordered))
    assert not pattern.fullmatch(_compact({**ITEM, "category": "Medication"})), "enum only"
    assert not pattern.fullmatch(_compact({**ITEM, "medically_necessary": "no"}))


def test_the_length_limits_become_grammar_bounds() -> None:
    pattern = _as_regex(_grammar_of(ItemAnswer))
    limit = ItemAnswer.GRAMMAR_LIMITS["summary"]
    assert pattern.fullmatch(_compact({**ITEM, "summary": "x" * limit}))
    assert not pattern.fullmatch(_compact({**ITEM, "summary": "x" * (limit + 1)}))
    four = ["criteria_not_met", "no_red_flags", "other", "criteria_met"]
    assert not pattern.fullmatch(_compact({**ITEM, "reasons": four}))
    unbounded = _as_regex(_grammar_of(ItemAnswer, compact=False))
    assert unbounded.fullmatch(_compact({**ITEM, "summary": "x" * (limit + 1)}))


def test_strings_admit_json_escapes_and_refuse_raw_control_characters() -> None:
    pattern = _as_regex(_grammar_of(DiagnosesAnswer))
    assert pattern.fullmatch(_compact({"diagnoses": ['a "quoted" \\ tab\t', "é"]}))
    assert pattern.fullmatch('{"diagnoses": ["\\u00e9"]}')
    assert pattern.fullmatch('{"diagnoses": []}')
    assert not pattern.fullmatch('{"diagnoses": ["line\nbreak"]}')
    # Latin accents, dashes and curly quotes stay; the CJK scripts do not (see gbnf._CHAR).
    latin = "Sjögren\u2019s syndrome \u2013 café-au-lait"
    assert pattern.fullmatch(_compact({"diagnoses": [latin]}))
    for other in ("腰痛", "ようつう", "요통", "\uff21\uff22", "functional改善"):
        assert not pattern.fullmatch(_compact({"diagnoses": [other]})), other
    limit = DiagnosesAnswer.GRAMMAR_LIMITS["diagnoses"]
    assert pattern.fullmatch(_compact({"diagnoses": ["d"] * limit}))
    assert not pattern.fullmatch(_compact({"diagnoses": ["d"] * (limit + 1)}))
    chars = DiagnosesAnswer.GRAMMAR_LIMITS["diagnoses[]"]
    assert pattern.fullmatch(_compact({"diagnoses": ["d" * chars]}))
    assert not pattern.fullmatch(_compact({"diagnoses": ["d" * (chars + 1)]})), "each name"


def test_a_recorded_whole_letter_answer_is_admitted_on_one_line() -> None:
    """The letter strategy's Answer (nested models, numbers, nulls) through its grammar."""
    pattern = _as_regex(_grammar_of(Answer))
    found = 0
    for path in sorted(CASSETTES.glob("test_letter_strategy_replays*.yaml")):
        for exchange in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
            body = json.loads(exchange["response"]["body"]["string"])
            content = body["choices"][0]["message"]["content"]
            answer = Answer.model_validate_json(content)
            assert pattern.fullmatch(json.dumps(answer.model_dump(mode="json"))), path.name
            assert not pattern.fullmatch(answer.model_dump_json(indent=2))
            found += 1
    assert found >= 2


def test_nested_free_text_of_the_whole_letter_answer_is_bounded() -> None:
    """Limits reach the models inside Answer (items, reviewer), not only its own fields."""
    pattern = _as_regex(_grammar_of(Answer))
    path = next(CASSETTES.glob("test_letter_strategy_replays*.yaml"))
    exchange = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"][0]
    content = json.loads(exchange["response"]["body"]["string"])["choices"][0]["message"]
    answer = Answer.model_validate_json(content["content"]).model_dump(mode="json")
    item = answer["items"][0]
    summary = AnswerItem.GRAMMAR_LIMITS["summary"]
    fits = {**answer, "items": [{**item, "summary": "x" * summary}]}
    assert pattern.fullmatch(json.dumps(fits))
    too_long = {**answer, "items": [{**item, "summary": "x" * (summary + 1)}]}
    assert not pattern.fullmatch(json.dumps(too_long)), "an item's summary"
    states = ["CA"] * (AnswerReviewer.GRAMMAR_LIMITS["licensure_states"] + 1)
    crowded = {**answer, "reviewer": {**answer["reviewer"], "licensure_states": states}}
    assert not pattern.fullmatch(json.dumps(crowded)), "the reviewer's states"
    assert not pattern.fullmatch(json.dumps({**answer, "case_number": "x" * 31}))
    unbounded = _as_regex(_grammar_of(Answer, compact=False))
    assert unbounded.fullmatch(json.dumps(too_long))


@pytest.mark.parametrize("number", ["0", "-12", "3.5", "60.0", "1e3", "-0.25E-2"])
def test_numbers_in_json_form_are_admitted(number: str) -> None:
    assert _as_regex(schema_grammar({"type": "number"})).fullmatch(number)


@pytest.mark.parametrize("number", ["01", "+1", ".5", "1.", "NaN"])
def test_numbers_json_does_not_allow_are_refused(number: str) -> None:
    assert not _as_regex(schema_grammar({"type": "number"})).fullmatch(number)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "^a$"},
        {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}},
        {"$ref": "#/$defs/Missing"},
        {"type": "tuple"},
    ],
)
def test_keywords_it_cannot_translate_raise_grammar_error(schema: dict[str, Any]) -> None:
    with pytest.raises(GrammarError):
        schema_grammar(schema)


def test_a_schema_it_cannot_translate_keeps_the_response_format() -> None:
    client = make_client(base_url="http://127.0.0.1:9/v1", mode="json_schema", gbnf=True)
    assert client._format_body(ItemAnswer) is not None
    off = make_client(base_url="http://127.0.0.1:9/v1", mode="json_schema")
    assert off._format_body(ItemAnswer) is None, "plain json_schema: instructor's own format"
    tools = make_client(base_url="http://127.0.0.1:9/v1", mode="tools", gbnf=True)
    assert tools._format_body(ItemAnswer) is None, "the grammar replaces json_schema only"


def test_literals_escape_quotes_backslashes_and_newlines() -> None:
    assert literal('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
