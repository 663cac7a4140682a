"""A response model instructor need not re-inspect on every request.

instructor 1.15+ walks the response model for async validators (which it refuses) up to
seven times per request: about 1 ms of CPU per letter for our model, 15% of a bulk run's
client CPU. The walk depends only on the class, so we run instructor's own check once, here,
and let later checks of that exact class through. Any other model still gets the full check.
If instructor moves the function, nothing is changed and every request pays for the walk.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

_CHECKER = "reject_async_validators"
# Modules that hold the function under that name (imported by name or looked up per call).
_HOLDERS = (
    "instructor.v2.validation.async_validators",
    "instructor.v2.validation",
    "instructor.v2.core.patch",
)


def _checker() -> Callable[[Any], None] | None:
    try:
        module = importlib.import_module(_HOLDERS[0])
    except ImportError:
        return None
    found = getattr(module, _CHECKER, None)
    return found if callable(found) else None


def precheck(model: type[Any]) -> None:
    """Run instructor's async-validator check on ``model`` now, and skip it for ``model`` later.

    Raises what instructor raises (``ValueError``) if ``model`` declares an async validator.
    """
    original = _checker()
    if original is None:
        return
    original(model)
    inner: Callable[[Any], None] = getattr(original, "__wrapped_checker__", original)
    done: set[type[Any]] = {*getattr(original, "__prechecked__", ()), model}

    def check(response_model: Any) -> None:
        if any(response_model is m for m in done):
            return
        inner(response_model)

    check.__wrapped_checker__ = inner  # type: ignore[attr-defined]
    check.__prechecked__ = done  # type: ignore[attr-defined]
    check.__doc__ = inner.__doc__
    for name in _HOLDERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, _CHECKER, None) is original:
            setattr(module, _CHECKER, check)


__all__ = ["precheck"]
