"""Prompt templates shipped with imr-llm (data files beside this module)."""
