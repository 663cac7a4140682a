"""A JSON schema as a GBNF grammar of one-line JSON, for llama.cpp's ``grammar`` field.

llama.cpp turns a ``json_schema`` response_format into a grammar that allows a newline and
indentation between tokens, and small models take it. Generation is the slow half of a call
on a CPU, so a grammar that admits only one-line JSON saves time: measured on the bundled
model, the same 8 item answers took 877 tokens pretty-printed and 705 on one line. One line,
not minified: without the space after a colon, the model began values oddly (a treatment of
", MRI ..." or "N/A"; 605 tokens). The grammar accepts a subset of what the schema accepts
(every property, in schema order); the answer is still validated by its pydantic model.

Only the keywords our answer models use are translated; anything else raises
:class:`GrammarError`, so a caller can fall back to the plain response_format.
"""

from __future__ import annotations

import json
import re
from typing import Any

_IGNORED = {"title", "description", "additionalProperties", "required", "default", "$defs"}
_TRANSLATED = {"$ref", "anyOf", "enum", "const", "type", "properties", "items", "maxLength"}
_KNOWN = _IGNORED | _TRANSLATED | {"minItems", "maxItems"}
# A JSON string's characters: anything but a quote, a backslash, a control character or a
# character of the CJK scripts (Han, kana, Hangul, full-width forms), or an escape. The letters
# are in English, and the bundled model (Qwen) drifts into Chinese mid-sentence: 12 of the 170
# item summaries of the 70 labelled letters ended in Chinese words.
_CHAR = (
    r'[^"\\\x7F\x00-\x1F\u2E80-\u9FFF\uAC00-\uD7AF\uF900-\uFAFF\uFF00-\uFFEF]'
    r' | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'
)
_PRIMITIVES = {
    "boolean": '("true" | "false")',
    "null": '"null"',
    "integer": '"-"? ([0-9] | [1-9] [0-9]{0,15})',
    "number": '"-"? ([0-9] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?',
}


# Separators as json.dumps writes them by default: one line, a space after each comma and
# colon, as small models mostly saw JSON written.
KEY_SEP = ": "
ITEM_SEP = ", "


class GrammarError(ValueError):
    """The schema uses a keyword this translation does not handle."""


def literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Grammar:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.rules: dict[str, str] = {}
        self.rules["root"] = self.node(schema)
        self.rules["char"] = _CHAR

    def ref(self, target: str) -> str:
        name = target.removeprefix("#/$defs/")
        if name not in self.defs:
            raise GrammarError(f"unresolvable $ref {target!r}")
        rule = "def-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()
        if rule not in self.rules:
            self.rules[rule] = ""  # reserved first: a recursive schema refers to itself
            self.rules[rule] = self.node(self.defs[name])
        return rule

    def node(self, schema: dict[str, Any]) -> str:
        unknown = set(schema) - _KNOWN
        if unknown:
            raise GrammarError(f"unsupported schema keyword(s): {', '.join(sorted(unknown))}")
        if "$ref" in schema:
            return self.ref(schema["$ref"])
        if "anyOf" in schema:
            return "(" + " | ".join(self.node(option) for option in schema["anyOf"]) + ")"
        if "const" in schema:
            return literal(json.dumps(schema["const"]))
        if "enum" in schema:
            return "(" + " | ".join(literal(json.dumps(v)) for v in schema["enum"]) + ")"
        kind = schema.get("type")
        if kind == "object":
            return self.object(schema)
        if kind == "array":
            return self.array(schema)
        if kind == "string":
            limit = schema.get("maxLength")
            return '"\\"" char' + ("*" if limit is None else f"{{0,{int(limit)}}}") + ' "\\""'
        if isinstance(kind, str) and kind in _PRIMITIVES:
            return _PRIMITIVES[kind]
        raise GrammarError(f"unsupported schema type {kind!r}")

    def object(self, schema: dict[str, Any]) -> str:
        parts = [
            f"{literal(json.dumps(name) + KEY_SEP)} {self.node(prop)}"
            for name, prop in schema.get("properties", {}).items()
        ]
        return '"{" ' + f" {literal(ITEM_SEP)} ".join(parts) + ' "}"' if parts else '"{}"'

    def array(self, schema: dict[str, Any]) -> str:
        item = self.node(schema.get("items", {"type": "string"}))
        low, high = int(schema.get("minItems", 0)), schema.get("maxItems")
        if high is not None and int(high) == 0:
            return '"[]"'
        more = "*" if high is None else f"{{{max(low - 1, 0)},{int(high) - 1}}}"
        body = f"{item} ({literal(ITEM_SEP)} {item}){more}"
        return f'"[" {body} "]"' if low > 0 else f'"[" ({body})? "]"'


def schema_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar of one-line JSON documents (``json.dumps`` layout) ``schema`` accepts.

    Raises GrammarError on a keyword it does not translate.
    """
    rules = _Grammar(schema).rules
    return "\n".join(f"{name} ::= {body}" for name, body in rules.items()) + "\n"


__all__ = ["GrammarError", "literal", "schema_grammar"]
