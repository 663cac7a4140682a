"""The ``items`` strategy: one small LLM call per anchored item, and one for the diagnoses.

For small local models: each call reads one item's heading and rationale (a few hundred
tokens) instead of the whole letter, and is asked only what the anchors cannot give.
"""
