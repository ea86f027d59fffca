"""Checks of the arguments every pipeline takes (prompts, seeds), one place for their messages."""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from motiongen.errors import InputError

#: Largest seed a pipeline accepts (a torch generator's range).
MAX_SEED = 2**63 - 1


def check_prompt(prompt: Any, field: str) -> str:
    """``prompt`` if it is a string with at least one letter or digit; else :class:`InputError` naming ``field``."""
    if not isinstance(prompt, str):
        raise InputError(f"a prompt must be a string, got {type(prompt).__name__}", field=field)
    if not any(ch.isalnum() for ch in prompt):
        raise InputError(f"prompt is empty ({prompt!r}); describe the motion in words", field=field)
    return prompt


def check_seed(seed: Any) -> int:
    """``seed`` as an int in ``[0, MAX_SEED]``; ``None`` draws one (callers record it)."""
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"must be an integer in [0, 2^63 - 1], got {seed!r}", field="seed")
    return int(seed)
