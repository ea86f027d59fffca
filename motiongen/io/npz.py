"""Reading ``.npz`` archives of named arrays with errors that name the file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from motiongen.errors import InputError

_UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def load_npz_arrays(path: str | Path, expected: str = "an .npz archive of named arrays") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (read eagerly, no pickles).

    Raises:
        InputError: a missing file, a damaged archive or member, a pickled member, or a plain ``.npy``
            (``expected`` says what the file should have been).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        data = np.load(path, allow_pickle=False)
    except _UNREADABLE as exc:
        raise InputError(f"not a readable .npz archive ({exc})", path=path) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(f"holds a single array; expected {expected}", path=path)
    try:
        with data:
            return {key: data[key] for key in data.files}
    except _UNREADABLE as exc:  # members are read lazily: a damaged or pickled member fails here
        raise InputError(f"not a readable .npz archive ({exc})", path=path) from None
