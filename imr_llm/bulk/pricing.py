"""Token prices per model, to estimate what an extraction run cost.

Prices are US dollars per million tokens, ``(input, output)``, as published when this table
was written; they change, so callers can pass their own table (``imr-llm eval --price``).
A model matches the longest table key its name starts with ("gpt-4o-mini-2024-07-18"
uses "gpt-4o-mini"). Models served locally (the bundled SmolLM2) cost 0; a model that is
not in the table has no known price, and ``cost`` returns None rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping

Prices = Mapping[str, tuple[float, float]]

PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "smollm2-135m": (0.0, 0.0),
}


def price_for(model: str, prices: Prices | None = None) -> tuple[float, float] | None:
    """The ``(input, output)`` dollars per million tokens for ``model``, or None if unknown."""
    table = PRICES if prices is None else prices
    name = model.lower().rsplit("/", 1)[-1]  # "openai/gpt-4o-mini" is priced as gpt-4o-mini
    keys = [k for k in table if name.startswith(k.lower())]
    return table[max(keys, key=len)] if keys else None


def cost(
    model: str | None, prompt_tokens: int, completion_tokens: int, *, prices: Prices | None = None
) -> float | None:
    """Dollars for one call's tokens; 0 without a model (anchors only), None if unpriced."""
    if model is None:
        return 0.0
    price = price_for(model, prices)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def parse_price(spec: str) -> tuple[str, tuple[float, float]]:
    """Parse ``MODEL=INPUT,OUTPUT`` (dollars per million tokens) from the command line."""
    model, sep, rest = spec.partition("=")
    parts = rest.split(",")
    try:
        if not sep or not model.strip() or len(parts) != 2:
            raise ValueError(spec)
        price = (float(parts[0]), float(parts[1]))
    except ValueError:
        raise ValueError(f"--price wants MODEL=INPUT,OUTPUT in $/1M tokens, got {spec!r}") from None
    if min(price) < 0:
        raise ValueError(f"--price cannot be negative: {spec!r}")
    return model.strip(), price
