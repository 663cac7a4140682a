"""Prompt templates shipped as data, with the version written into every output row."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from jinja2 import Template, meta
from jinja2.sandbox import SandboxedEnvironment

from imr_llm.errors import UsageError
from imr_llm.letters.normalize import Normalized, normalize

# The only variable a template may use; instructor renders it from ``context``.
VARIABLES = frozenset({"letter"})


@dataclass(frozen=True, slots=True)
class Prompts:
    system: str
    user: str
    version: str


def read_prompt(name: str) -> str:
    """One prompt file shipped in prompts/, as text."""
    return (files("imr_llm.prompt_files") / name).read_text(encoding="utf-8")


def _check(name: str, template: str) -> None:
    used = meta.find_undeclared_variables(SandboxedEnvironment().parse(template))
    if unknown := used - VARIABLES:
        raise UsageError(f"prompt {name} uses unknown variable(s): {', '.join(sorted(unknown))}")


@cache
def load_prompts() -> Prompts:
    """The extraction prompts and their version, checked for stray template variables."""
    prompts = Prompts(
        read_prompt("system.txt"), read_prompt("user.txt"), read_prompt("VERSION").strip()
    )
    _check("system.txt", prompts.system)
    _check("user.txt", prompts.user)
    if "{{ letter }}" not in prompts.user:
        raise UsageError("prompt user.txt must contain {{ letter }}")
    return prompts


@lru_cache(maxsize=16)
def _compiled(template: str) -> tuple[Template, frozenset[str]]:
    env = SandboxedEnvironment()
    return env.from_string(template), frozenset(meta.find_undeclared_variables(env.parse(template)))


def render(template: str, **variables: str) -> str:
    """Render a template as instructor's templating does (Jinja, then dedent).

    Variables are inserted as text, never parsed, so braces inside a letter stay as they are.
    """
    compiled, used = _compiled(template)
    if missing := used - set(variables):
        raise UsageError(f"missing prompt variable(s): {', '.join(sorted(missing))}")
    if not variables:
        return _constant(template)
    return _dedent(compiled.render(**variables))


_BLANK_LINE = re.compile(r"^[ \t]+$", re.MULTILINE)
_UNINDENTED_LINE = re.compile(r"^[^ \t\n]", re.MULTILINE)


def _dedent(text: str) -> str:
    """``textwrap.dedent``, without its per-line loop when a line already starts at column 0."""
    if _UNINDENTED_LINE.search(text) and not _BLANK_LINE.search(text):
        return text  # no common margin and no whitespace-only line: dedent changes nothing
    return textwrap.dedent(text)


@lru_cache(maxsize=16)
def _constant(template: str) -> str:
    return textwrap.dedent(_compiled(template)[0].render())


# Sentences every current-format letter carries word for word: they hold no field, so the
# model is spared them (about 150 tokens a letter).
_BOILERPLATE_SENTENCES = (
    "MAXIMUS Federal Services sent the complete case file to an expert reviewer.",
    "He/she has no affiliation with the employer, employee, providers or the claims administrator.",
    "He/she has been in active clinical practice for more than five years and is currently working"
    " at least 24 hours a week in active practice.",
    "The expert reviewer was selected based on his/her clinical experience, education, background,"
    " and expertise in the same or similar specialties that evaluate and/or treat the medical"
    " condition and disputed items/",
    "He/she is familiar with governing laws and regulations, including the strength of evidence"
    " hierarchy that applies to Independent Medical Review determinations.",
    "The expert reviewer developed the following clinical case summary based on a review of the"
    " case file, including all medical records:",
    "The Final Determination was based on decisions for the disputed items/services set forth"
    " below:",
)
_BOILERPLATE = re.compile(
    "|".join(
        r"\s+".join(re.escape(word) for word in sentence.split())
        + (r"\w+\." if sentence.endswith("/") else "")
        + r"(?:[ \n](?!\n))?"
        for sentence in _BOILERPLATE_SENTENCES
    ),
)


_BLANKS = re.compile(r"[ \t]*\n\s*\n\s*")


def letter_for_prompt(text: str | Normalized) -> str:
    """The letter as the model sees it: normalized, without the fixed boilerplate."""
    body = text.text if isinstance(text, Normalized) else normalize(text).text
    trimmed = _BOILERPLATE.sub("", body)
    return _BLANKS.sub("\n\n", trimmed).strip()
