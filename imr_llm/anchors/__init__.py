"""Deterministic anchors: regex facts found in a letter, with spans in the original text.

Nothing here imports the LLM stack."""
