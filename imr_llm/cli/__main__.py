"""``python -m imr_llm.cli``: the command line."""

from imr_llm.cli.app import main

raise SystemExit(main())
