"""Command-line options shared by the commands that call an LLM (extract, bulk, batch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imr_llm.extraction.cache import Cache, NullCache, ResponseCache
from imr_llm.extraction.settings import MODE_NAMES, STRATEGY_NAMES, EndpointOptions


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """The endpoint, mode, cache and re-ask flags."""
    parser.add_argument("--model", help="model name (default: IMR_LLM_MODEL or gpt-4o-mini)")
    parser.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    parser.add_argument(
        "--mode", choices=MODE_NAMES, help="instructor mode (default: IMR_LLM_MODE or tools)"
    )
    parser.add_argument(
        "--json-object-schema",
        action="store_true",
        help="with --mode json: send response_format json_object with the schema (llama.cpp)",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGY_NAMES,
        help="letter: one call per letter; items: one small call per item (default: "
        "IMR_LLM_STRATEGY, else items for the bundled model and letter for an endpoint)",
    )
    parser.add_argument(
        "--local", action="store_true", help="run the bundled Qwen2.5-Coder-1.5B model"
    )
    add_cache_options(parser)
    parser.add_argument("--max-reasks", type=int, default=2, help="re-asks on conflict (default 2)")
    parser.add_argument("--max-tokens", type=int, default=1500, help="answer budget (default 1500)")


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    """--no-cache and --cache-dir."""
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument("--cache-dir", help="cache folder (default: IMR_LLM_CACHE_DIR or ~/.cache)")


def endpoint_options(args: argparse.Namespace) -> EndpointOptions:
    """The endpoint choice the flags describe."""
    return EndpointOptions(
        model=args.model,
        base_url=args.base_url,
        mode=args.mode,
        json_object_schema=args.json_object_schema,
        local=args.local,
        max_reasks=args.max_reasks,
        max_tokens=args.max_tokens,
        strategy=args.strategy,
    )


def cache_for(args: argparse.Namespace) -> ResponseCache:
    """The response cache the flags ask for."""
    if args.no_cache:
        return NullCache()
    return Cache(Path(args.cache_dir) / "cache.sqlite" if args.cache_dir else None)
