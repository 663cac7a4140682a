"""The focused calls of one letter: one per anchored item, one for the diagnoses.

Each item answer says whether the reviewer found the request medically necessary, read from
the rationale alone (the heading's decision word is not shown). That reading must agree with
the anchored decision: a disagreement fails validation, so instructor re-asks under the
client's bounded policy; if it persists, the merge flags the row for review.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from imr_llm.anchors.finder import Anchors
from imr_llm.errors import LlmError
from imr_llm.itemwise.answers import DiagnosesAnswer, ItemAnswer, ItemCheck, checking_item
from imr_llm.itemwise.context import (
    ItemPrompt,
    diagnoses_system,
    diagnoses_user,
    item_prompts,
)
from imr_llm.llm import Attempt, LlmClient, Reply

# An item answer is about 60 tokens and a diagnoses list fewer: a cap well above that stops
# a looping small model early instead of at the whole-letter budget.
ITEM_MAX_TOKENS = 300
DIAGNOSES_MAX_TOKENS = 200


@dataclass(frozen=True, slots=True)
class ItemReply:
    prompt: ItemPrompt
    reply: Reply[ItemAnswer]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Every focused call of one letter."""

    items: list[ItemReply]
    diagnoses: Reply[DiagnosesAnswer]

    def attempts(self) -> list[Attempt]:
        """Every completion of every call, items first."""
        found = [a for r in self.items for a in r.reply.attempts]
        return found + self.diagnoses.attempts

    def errors(self) -> list[LlmError]:
        """The errors of the calls that had one, items first."""
        found = [r.reply.error for r in self.items] + [self.diagnoses.error]
        return [e for e in found if e is not None]


def necessity_check(prompt: ItemPrompt) -> ItemCheck:
    """The cross-check of one item: the rationale's verdict against the anchored decision."""
    necessary = prompt.decision == "overturned"

    def check(answer: ItemAnswer) -> list[str]:
        if answer.medically_necessary == necessary:
            return []
        word = prompt.decision.capitalize()
        verdict = "medically necessary" if necessary else "NOT medically necessary"
        return [
            f'the letter\'s heading says "{prompt.request}: {word}", so the reviewer found the '
            f"request {verdict}, but you answered medically_necessary="
            f"{str(answer.medically_necessary).lower()}; read the rationale again"
        ]

    return check


def _ask_item(client: LlmClient, prompt: ItemPrompt) -> ItemReply:
    with checking_item(necessity_check(prompt)):
        reply = client.ask_model(ItemAnswer, prompt.system, prompt.user, max_tokens=ITEM_MAX_TOKENS)
    return ItemReply(prompt, reply)


async def _aask_item(client: LlmClient, prompt: ItemPrompt) -> ItemReply:
    with checking_item(necessity_check(prompt)):
        reply = await client.aask_model(
            ItemAnswer, prompt.system, prompt.user, max_tokens=ITEM_MAX_TOKENS
        )
    return ItemReply(prompt, reply)


def ask_items(client: LlmClient, text: str, normalized: str, anchors: Anchors) -> Outcome:
    """Every focused call of one letter, one after another.

    Measured on the bundled model (2 cores): concurrent calls were slower, not faster, as
    each server slot then reads the long shared system prompt for itself.
    """
    items = [_ask_item(client, p) for p in item_prompts(text, anchors)]
    diagnoses = client.ask_model(
        DiagnosesAnswer,
        diagnoses_system(),
        diagnoses_user(normalized),
        max_tokens=DIAGNOSES_MAX_TOKENS,
    )
    return Outcome(items, diagnoses)


async def aask_items(client: LlmClient, text: str, normalized: str, anchors: Anchors) -> Outcome:
    """Every focused call of one letter, concurrently (the client's limits still apply)."""
    calls = [_aask_item(client, p) for p in item_prompts(text, anchors)]
    diagnoses = client.aask_model(
        DiagnosesAnswer,
        diagnoses_system(),
        diagnoses_user(normalized),
        max_tokens=DIAGNOSES_MAX_TOKENS,
    )
    *items, diag = await asyncio.gather(*calls, diagnoses)
    return Outcome(list(items), diag)  # type: ignore[arg-type]


__all__ = ["ItemReply", "Outcome", "aask_items", "ask_items", "necessity_check"]
