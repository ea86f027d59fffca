"""What every metrics and benchmark JSON records about where its figures came from."""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def machine_info(device: str | None = None) -> dict[str, Any]:
    """Platform, CPU, Python and library versions, thread count and the current load.

    ``load_average_1m`` is taken now: the machines may be shared, so a script records it again at
    the end. torch fields appear when torch is importable; ``gpu`` when ``device`` is CUDA.
    """
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if device is not None:
        info["device"] = str(device)
        if str(device).startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit checked out where ``path`` (default: this package) lives, with ``+dirty`` when the
    tree has changes; None outside a git checkout."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def folder_digest(folder: str | Path, pattern: str = "*") -> str:
    """First 16 hex digits of sha256 over the relative path and bytes of every file matching
    ``pattern`` below ``folder`` (a model's identity); model cards (``README.md``) are left out:
    rewording one does not change what is measured."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob(pattern) if p.is_file() and p.name != "README.md"):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def code_digest() -> str:
    """First 16 hex digits of sha256 over the ``motiongen`` package's Python sources (relative paths
    and bytes): the code that generates and scores a result, where a git commit may be missing (an
    installed package) or change with files that measure nothing (docs, results)."""
    return folder_digest(Path(__file__).resolve().parents[1], "*.py")


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
