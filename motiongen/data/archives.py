"""Where the raw motion archives live and how they are unpacked into the cache.

The archives (``../shared/data`` in a checkout, or wherever the user keeps them) are never unpacked
into the repository: each goes to ``CACHE/raw/<archive stem>/`` once, through a temporary folder that
is renamed when complete, with a stamp recording the archive's size and modification time so a
changed archive is unpacked again.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from motiongen.errors import DataNotFoundError

ARCHIVES = {
    "bandai": "bandai-namco-bvh.tar.xz",
    "cmu": "cmu-amc.tar.xz",
    "hdm05": "hdm05-amc.tar.xz",
    "text": "text-annotations.tar.xz",
    "kimodo": "kimodo-assets.tar.xz",
    "g1_meshes": "g1-meshes.tar.xz",
    "humanml3d_sample": "humanml3d-sample.tar.xz",
}


def default_data_dir() -> Path | None:
    """``$MOTIONGEN_DATA``, else ``../shared/data`` beside the working directory or the checkout."""
    env = os.environ.get("MOTIONGEN_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = base.parent / "shared" / "data"
        if (candidate / ARCHIVES["kimodo"]).exists():
            return candidate
    return None


def default_cache_dir() -> Path:
    """``$MOTIONGEN_CACHE``, else ``~/.cache/motiongen``."""
    env = os.environ.get("MOTIONGEN_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "motiongen"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The archive folder to use; raises :class:`DataNotFoundError` with the places looked in."""
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    if path is None or not path.is_dir():
        raise DataNotFoundError(
            f"motion data archives not found (looked in {data_dir or '$MOTIONGEN_DATA and ../shared/data'}); "
            "pass --source DIR or set MOTIONGEN_DATA"
        )
    return path


def archive_path(key: str, data_dir: str | Path | None = None) -> Path:
    name = ARCHIVES[key]
    path = resolve_data_dir(data_dir) / name
    if not path.exists():
        raise DataNotFoundError(f"archive '{name}' not found in {path.parent}")
    return path


def _stamp(path: Path) -> dict[str, int | str]:
    st = path.stat()
    return {"archive": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def unpacked(key: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """Folder holding archive ``key`` unpacked, unpacking it first if absent or stale."""
    archive = archive_path(key, data_dir)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    dest = cache / "raw" / archive.name.removesuffix(".tar.xz")
    stamp_file = dest / ".motiongen-stamp.json"
    stamp = _stamp(archive)
    if stamp_file.exists():
        try:
            if json.loads(stamp_file.read_text()) == stamp:
                return dest
        except json.JSONDecodeError:
            pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        with tarfile.open(archive, "r:xz") as tar:
            tar.extractall(tmp, filter="data")
        (tmp / ".motiongen-stamp.json").write_text(json.dumps(stamp))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
