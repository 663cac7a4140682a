"""Every response model's schema, as instructor sends it, is one hosted strict modes accept.

OpenAI's strict structured outputs (``response_format`` json_schema) and strict function
calling (``tools``) take only a subset of JSON Schema and refuse the request otherwise. The
rules below are OpenAI's documented ones (Structured Outputs, "Supported schemas"): root an
object and not ``anyOf``; every object closed (``additionalProperties: false``) with every
property required; only the listed keywords; ``$ref`` only to the schema's own ``$defs`` and
alone in its object; at most 5,000 object properties, 10 levels of object nesting, 1,000 enum
values and 120,000 characters of names and enum values. The openai SDK's own strict
converter must also find nothing to change.

Add a response model to ``RESPONSE_MODELS`` to have it checked in both modes.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx2
import instructor
import openai
import pytest
from pydantic import BaseModel

from imr_llm.anchors.finder import find_anchors
from imr_llm.extraction.answer import Answer
from imr_llm.itemwise.answers import DiagnosesAnswer, ItemAnswer
from imr_llm.llm.client import MODES, make_client

# Every model sent as a ``response_model``, in any strategy.
RESPONSE_MODELS: list[type[BaseModel]] = [Answer, ItemAnswer, DiagnosesAnswer]
STRICT_MODES = ("tools", "json_schema")

_STRUCTURE = {"type", "properties", "required", "additionalProperties", "items", "anyOf"}
_STRUCTURE |= {"enum", "const", "$ref", "$defs", "definitions", "title", "description"}
_BY_TYPE = {
    "string": {"pattern", "format"},
    "number": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "integer": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "array": {"minItems", "maxItems"},
}
_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_PROPERTIES, _MAX_DEPTH, _MAX_ENUM_VALUES, _MAX_CHARS = 5000, 10, 1000, 120_000


def _capture(send: Any) -> dict[str, Any]:
    """The JSON body of the first chat request ``send(openai_client)`` makes."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(400, json={"error": {"message": "captured", "type": "test"}})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    with http:
        send(http)
    assert bodies, "no request was sent"
    return bodies[0]


def _sent_by_instructor(model: type[BaseModel], mode: str) -> dict[str, Any]:
    """What instructor sends for ``model``, wrapped as our client wraps it."""

    def send(http: httpx2.Client) -> None:
        raw = openai.OpenAI(
            base_url="http://fake/v1", api_key="sk-x", max_retries=0, http_client=http
        )
        client = instructor.from_openai(raw, mode=MODES[mode])
        with pytest.raises(Exception, match="captured"):
            client.chat.completions.create(
                model="m",
                response_model=instructor.response_schema(model),
                messages=[{"role": "user", "content": "letter"}],
                max_retries=1,
            )

    return _capture(send)


def _sent_by_our_client(model: type[BaseModel], mode: str) -> dict[str, Any]:
    def send(http: httpx2.Client) -> None:
        client = make_client(
            base_url="http://fake/v1", mode=mode, transport_retries=0, http_client=http
        )
        if model is Answer:
            reply: Any = client.ask("system", "user", "letter", find_anchors("letter"))
        else:
            reply = client.ask_model(model, "system", "user")
        assert reply.error is not None

    return _capture(send)


def _schema_of(body: dict[str, Any], mode: str) -> tuple[str, dict[str, Any]]:
    """The name and the schema a request carries, in ``mode``'s place for them."""
    if mode == "tools":
        function = body["tools"][0]["function"]
        return function["name"], function["parameters"]
    response_format = body["response_format"]["json_schema"]
    return response_format["name"], response_format["schema"]


def _ordered(schema: Any) -> Any:
    """``required`` as a set: instructor sorts it in tools mode, the SDK keeps field order."""
    if isinstance(schema, dict):
        return {k: sorted(v) if k == "required" else _ordered(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_ordered(v) for v in schema]
    return schema


def _node_problems(node: dict[str, Any], path: str) -> list[str]:
    """Keyword-level problems of one schema object (its children are walked elsewhere)."""
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    allowed = _STRUCTURE.union(*(_BY_TYPE.get(t, set()) for t in types))
    out = [f"{path}: {k!r} is not supported" for k in sorted(set(node) - allowed)]
    out += [f"{path}: unknown type {t!r}" for t in types if t not in _TYPES]
    if "format" in node and node["format"] not in _FORMATS:
        out.append(f"{path}: format {node['format']!r} is not supported")
    if "$ref" in node and len(node) > 1:
        out.append(f"{path}: $ref must stand alone, found {sorted(set(node) - {'$ref'})}")
    if "object" in types or "properties" in node:
        if node.get("additionalProperties") is not False:
            out.append(f"{path}: additionalProperties must be false")
        missing = set(node.get("properties", {})) - set(node.get("required", []))
        out += [f"{path}: {name!r} is not required" for name in sorted(missing)]
    if "array" in types and not isinstance(node.get("items"), dict):
        out.append(f"{path}: an array needs one items schema")
    return out


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any] | None:
    if not ref.startswith("#/"):
        return None
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part) if isinstance(target, dict) else None
    return target if isinstance(target, dict) else None


def _walk(node: Any, path: str, root: dict[str, Any], depth: int, refs: tuple[str, ...]) -> Any:
    """Yield (problem or None, object depth) for ``node`` and everything under it."""
    if not isinstance(node, dict):
        yield f"{path}: a schema must be an object", depth
        return
    for problem in _node_problems(node, path):
        yield problem, depth
    if "properties" in node:
        depth += 1
        yield None, depth
        for name, child in node["properties"].items():
            yield from _walk(child, f"{path}.{name}", root, depth, refs)
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]", root, depth, refs)
    for i, child in enumerate(node.get("anyOf", [])):
        yield from _walk(child, f"{path}|{i}", root, depth, refs)
    if (ref := node.get("$ref")) is not None and ref not in refs:  # recursion is allowed
        target = _resolve(root, ref)
        if target is None:
            yield f"{path}: $ref {ref!r} does not resolve inside the schema", depth
        else:
            yield from _walk(target, ref, root, depth, (*refs, ref))


def _nodes(value: Any) -> Any:
    """Every dict inside ``value``, the whole tree (refs not followed)."""
    if isinstance(value, dict):
        yield value
        value = list(value.values())
    if isinstance(value, list):
        for child in value:
            yield from _nodes(child)


def _limit_problems(schema: dict[str, Any]) -> list[str]:
    nodes = list(_nodes(schema))
    names = [n for node in nodes for n in node.get("properties", {})]
    names += list(schema.get("$defs", {})) + list(schema.get("definitions", {}))
    enums = [e for node in nodes for e in node.get("enum", [])]
    consts = [node["const"] for node in nodes if "const" in node]
    chars = sum(len(str(v)) for v in names + enums + consts)
    out = []
    if len(names) > _MAX_PROPERTIES:
        out.append(f"{len(names)} object properties (at most {_MAX_PROPERTIES})")
    if len(enums) > _MAX_ENUM_VALUES:
        out.append(f"{len(enums)} enum values (at most {_MAX_ENUM_VALUES})")
    if chars > _MAX_CHARS:
        out.append(f"{chars} characters of names and values (at most {_MAX_CHARS})")
    for node in nodes:
        big = node.get("enum", [])
        if len(big) > 250 and sum(len(str(v)) for v in big) > 15_000:
            out.append("an enum of over 250 values longer than 15,000 characters")
    return out


def strict_problems(schema: dict[str, Any]) -> list[str]:
    """Why OpenAI's strict mode would refuse ``schema`` (empty when it would accept it)."""
    out = []
    if schema.get("type") != "object" or "anyOf" in schema:
        out.append("the root must be an object, not anyOf")
    found = list(_walk(schema, "$", schema, 0, ()))
    for name, definition in {**schema.get("$defs", {}), **schema.get("definitions", {})}.items():
        found += _walk(definition, f"#/$defs/{name}", schema, 1, (f"#/$defs/{name}",))
    out += sorted({problem for problem, _ in found if problem})
    if (depth := max((d for _, d in found), default=0)) > _MAX_DEPTH:
        out.append(f"{depth} levels of object nesting (at most {_MAX_DEPTH})")
    return out + _limit_problems(schema)


def _sdk_strict(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The openai SDK's strict conversion of ``schema`` (private API: None when it is gone)."""
    try:
        from openai.lib._pydantic import to_strict_json_schema
    except ImportError:
        return None

    class Sent(BaseModel):
        # The converter reads a model's schema through this classmethod; give it ours.
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return copy.deepcopy(schema)

    return to_strict_json_schema(Sent)


@pytest.fixture(scope="module", params=RESPONSE_MODELS, ids=lambda model: model.__name__)
def response_model(request: pytest.FixtureRequest) -> type[BaseModel]:
    model: type[BaseModel] = request.param
    return model


@pytest.mark.parametrize("mode", STRICT_MODES)
def test_sent_schema_follows_openai_strict_rules(
    response_model: type[BaseModel], mode: str
) -> None:
    name, schema = _schema_of(_sent_by_instructor(response_model, mode), mode)
    assert _NAME.fullmatch(name), name
    assert strict_problems(schema) == []


@pytest.mark.parametrize("mode", STRICT_MODES)
def test_sdk_strict_converter_changes_nothing(response_model: type[BaseModel], mode: str) -> None:
    _, schema = _schema_of(_sent_by_instructor(response_model, mode), mode)
    strict = _sdk_strict(schema)
    if strict is None:
        pytest.skip("this openai has no openai.lib._pydantic.to_strict_json_schema")
    assert _ordered(strict) == _ordered(schema)


@pytest.mark.parametrize("mode", STRICT_MODES)
def test_our_client_sends_the_schema_checked_here(
    response_model: type[BaseModel], mode: str
) -> None:
    sent = _schema_of(_sent_by_our_client(response_model, mode), mode)
    assert sent == _schema_of(_sent_by_instructor(response_model, mode), mode)


def _obj(**properties: Any) -> dict[str, Any]:
    closed = {"type": "object", "properties": properties, "additionalProperties": False}
    return closed | {"required": list(properties)}


_STR = {"type": "string"}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (_obj(a=_STR), None),
        (_obj(a={"anyOf": [_STR, {"type": "null"}]}), None),
        (_obj(a={"type": "array", "items": _STR, "maxItems": 3}), None),
        (_obj(a={"type": "string", "format": "date"}), None),
        ({**_obj(a={"$ref": "#/$defs/A"}), "$defs": {"A": _obj(b=_STR)}}, None),
        ({**_obj(a={"$ref": "#/$defs/A"}), "$defs": {"A": _obj(a={"$ref": "#/$defs/A"})}}, None),
        ({"type": "object", "properties": {"a": _STR}, "required": ["a"]}, "additionalProperties"),
        ({**_obj(a=_STR, b=_STR), "required": ["a"]}, "'b' is not required"),
        (_obj(a=_obj(b={"type": "object", "properties": {}})), "$.a.b: additionalProperties"),
        (_obj(a={"type": "string", "minLength": 1}), "'minLength' is not supported"),
        (_obj(a={"type": "string", "maxItems": 1}), "'maxItems' is not supported"),
        (_obj(a={"type": "string", "format": "uri"}), "format 'uri'"),
        (_obj(a={"type": "string", "default": "x"}), "'default' is not supported"),
        (_obj(a={"allOf": [_STR]}), "'allOf' is not supported"),
        (_obj(a={"$ref": "#/$defs/A", "description": "d"}), "$ref must stand alone"),
        (_obj(a={"$ref": "#/$defs/Missing"}), "does not resolve"),
        (_obj(a={"$ref": "other.json#/A"}), "does not resolve"),
        ({"anyOf": [_obj(a=_STR), _obj(b=_STR)]}, "the root must be an object"),
        (_obj(a={"type": "array"}), "an array needs one items schema"),
        (_obj(a={"type": "string", "enum": [f"v{i}" for i in range(1001)]}), "enum values"),
    ],
)
def test_strict_rules_catch_near_misses(schema: dict[str, Any], problem: str | None) -> None:
    problems = strict_problems(schema)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_strict_rules_count_nesting_and_properties() -> None:
    deep: dict[str, Any] = _STR
    for _ in range(10):
        deep = _obj(a=deep)
    assert strict_problems(deep) == []
    assert any("11 levels" in p for p in strict_problems(_obj(a=deep)))
    wide = _obj(**{f"p{i}": _STR for i in range(5001)})
    assert any("5001 object properties" in p for p in strict_problems(wide))
