"""Write a file completely or not at all: a temporary file beside the target, renamed when done.

Every writer of the project goes through :func:`atomic_write`, so an interrupted or failing write
never leaves a partial file, and finished files get the modes a plain ``open`` would give (temporary
files are created private).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def ordinary_mode(mode: int = 0o666) -> int:
    """``mode`` less the process umask: what ``open``/``mkdir`` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None], *, make_parents: bool = True) -> Path:
    """Call ``write(handle)`` on a binary temporary file beside ``path``, then rename it to ``path``.

    The temporary file is removed if ``write`` raises (or the process is interrupted in Python).
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, make_parents: bool = True) -> Path:
    """:func:`atomic_write` of UTF-8 text with ``\\n`` line endings."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data), make_parents=make_parents)
