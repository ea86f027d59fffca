"""Error classes for user mistakes.

Every error a user can cause by giving bad input derives from :class:`MotiongenError`, so the CLI
can print it in one line and exit with status 2. The message names the file, line or field at fault
and, where there is one, the allowed range.
"""

from __future__ import annotations

from pathlib import Path


class MotiongenError(Exception):
    """Base class of every error caused by user input or missing user-provided resources."""


class InputError(MotiongenError, ValueError):
    """Malformed or out-of-range input: a file, a field, an argument.

    Args:
        message: what is wrong and what is allowed.
        path: the file at fault, if any.
        line: the 1-based line number in ``path``, if known.
        field: the field or argument name at fault, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        elif line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UnknownNameError(MotiongenError, KeyError):
    """A name (skeleton, joint, format) that is not known; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DataNotFoundError(MotiongenError, FileNotFoundError):
    """A data archive or cache the user must provide is absent."""
