"""LLM extraction of one letter: the answer schema, prompts, verification, merge, cache."""
