"""The only package that talks to an LLM: openai client, instructor, re-ask policy, batches.

Transport failures (429, 5xx, timeouts, resets) are retried by the openai client alone;
answers that fail validation are re-asked by instructor under a tenacity policy that
retries nothing else. Nothing is retried twice.
"""

from .batches import BatchApi, batch_api
from .client import (
    MODES,
    Attempt,
    CallResult,
    LlmClient,
    Reply,
    client_from_env,
    make_client,
    retry_policy,
)

__all__ = [
    "MODES",
    "Attempt",
    "BatchApi",
    "CallResult",
    "LlmClient",
    "Reply",
    "batch_api",
    "client_from_env",
    "make_client",
    "retry_policy",
]
