"""The ``imr-llm`` command line: one module per command family."""
