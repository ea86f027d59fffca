"""The built dataset as trainers read it: ``MotionDataset(cache, split)[i] -> (Motion, captions)``.

Layout of a built dataset (``CACHE/datasets/smplx22-30fps-v1/``, written by
:func:`motiongen.data.build.build_dataset`):

- ``{train,val,test}.npz``: ``rotations [N, 22, 4]`` float32 local rotations as unit quaternions
  (w, x, y, z; ``w >= 0``), ``root_translation [N, 3]`` float32 metres, every clip's frames
  concatenated; ``offsets [C]`` and ``lengths [C]`` (int64) locate clip ``c`` at
  ``offsets[c] : offsets[c] + lengths[c]``; ``clip_ids [C]`` and ``mirrored [C]`` (bool); ``fps``.
- ``clips.jsonl``: one JSON object per clip of every split, in split-file order: ``id``, ``source``,
  ``split``, ``frames``, ``captions`` (strings), ``caption_windows`` (``[start, end]`` seconds or
  null, one per caption), ``mirrored``, ``mirror_of``, ``group``, ``labels``, ``provenance``.
- ``skeleton.json``: the ``smplx22`` skeleton (``Skeleton.to_dict``), so reading needs no archive.
- ``stats.json`` and ``manifest.json`` (input fingerprint), see :mod:`motiongen.data.build`.

A compact file (``build_dataset(compact=FILE)``) holds the training split without its mirrored
copies, rotations in float16; :meth:`MotionDataset.from_compact` reads it and re-derives the
mirrored copies (``Motion.mirror`` plus :func:`~motiongen.data.captions.mirror_text`) when asked.
"""

from __future__ import annotations

import json
import lzma
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from motiongen.data.archives import default_cache_dir
from motiongen.data.captions import mirror_text
from motiongen.data.splits import SPLITS
from motiongen.errors import DataNotFoundError, InputError
from motiongen.geometry import quaternion_to_matrix
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

DATASET_NAME = "smplx22-30fps-v1"
CLIPS_FILE = "clips.jsonl"
SKELETON_FILE = "skeleton.json"
STATS_FILE = "stats.json"
MANIFEST_FILE = "manifest.json"
#: First line of a compact file (inside its xz stream), followed by a 4-byte header length.
COMPACT_MAGIC = b"MOTIONGEN-COMPACT 1\n"


def datasets_dir(cache: str | Path | None = None) -> Path:
    """``CACHE/datasets``: where built datasets live."""
    return (Path(cache) if cache is not None else default_cache_dir()) / "datasets"


def dataset_dir(cache: str | Path | None = None, name: str = DATASET_NAME) -> Path:
    """Folder of the built dataset ``name`` in ``cache`` (default: the full build)."""
    return datasets_dir(cache) / name


def read_clip_records(root: Path) -> list[dict[str, Any]]:
    """All records of ``clips.jsonl`` in ``root``."""
    path = root / CLIPS_FILE
    records = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"invalid JSON ({exc.msg})", path=path, line=line_no) from None
    return records


def encode_array(name: str, array: np.ndarray, axes: Sequence[int] | None = None) -> tuple[dict[str, Any], bytes]:
    """``(spec, data)`` for a compact file: ``array`` transposed by ``axes`` (e.g. time last, so
    neighbouring values are neighbouring frames), then its bytes regrouped by significance (all first
    bytes, then all second bytes, ...). Both make the data far more compressible."""
    axes = list(range(array.ndim)) if axes is None else [int(a) for a in axes]
    stored = np.ascontiguousarray(np.transpose(array, axes))
    planes = np.ascontiguousarray(stored.reshape(-1).view(np.uint8).reshape(-1, stored.itemsize).T)
    spec = {"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "axes": axes, "nbytes": planes.nbytes}
    return spec, planes.tobytes()


def decode_array(spec: Mapping[str, Any], data: bytes) -> np.ndarray:
    """The array :func:`encode_array` encoded."""
    dtype = np.dtype(spec["dtype"])
    shape, axes = [int(n) for n in spec["shape"]], [int(a) for a in spec["axes"]]
    planes = np.frombuffer(data, dtype=np.uint8).reshape(dtype.itemsize, -1)
    stored = np.ascontiguousarray(planes.T).view(dtype).reshape([shape[a] for a in axes])
    return np.ascontiguousarray(np.transpose(stored, np.argsort(axes)))


def read_compact(path: str | Path, *, header_only: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(header, arrays)`` of a compact file (see :func:`motiongen.data.build.write_compact`);
    ``header_only`` stops after the header (cheap: the arrays are not decompressed)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"compact dataset file '{path}' not found")
    arrays: dict[str, np.ndarray] = {}
    try:
        with lzma.open(path, "rb") as f:
            if f.read(len(COMPACT_MAGIC)) != COMPACT_MAGIC:
                raise InputError("not a motiongen compact dataset file", path=path)
            (size,) = struct.unpack("<I", f.read(4))
            header = json.loads(f.read(size).decode("utf-8"))
            for spec in [] if header_only else header["arrays"]:
                data = f.read(int(spec["nbytes"]))
                if len(data) != int(spec["nbytes"]):
                    raise InputError(f"truncated file: array '{spec['name']}' is incomplete", path=path)
                arrays[spec["name"]] = decode_array(spec, data)
    except InputError:
        raise
    except (lzma.LZMAError, EOFError, struct.error, json.JSONDecodeError, KeyError, ValueError) as exc:
        raise InputError(f"corrupt compact dataset file ({exc})", path=path) from None
    return header, arrays


@dataclass(frozen=True)
class _Item:
    clip: int  # index into the stored clips
    derive_mirror: bool  # mirror at load time (compact files store no mirrored copies)


class MotionDataset:
    """Clips of one split on ``smplx22`` at 30 fps, each with its captions.

    Args:
        cache: the cache folder the dataset was built in (default ``$MOTIONGEN_CACHE`` or
            ``~/.cache/motiongen``).
        split: ``train``, ``val`` or ``test``.
        mirrored: include the mirrored copies (stored for the training split only).
        root: the dataset folder itself, overriding ``cache`` (e.g. a subset build's ``stats["path"]``).

    ``dataset[i]`` is ``(Motion, captions)``; ``motion.meta`` has ``clip_id``, ``source``,
    ``mirrored`` and ``caption_windows``. The concatenated arrays (``rotations``, ``root_translation``,
    ``offsets``, ``lengths``) are public for trainers that batch without building ``Motion`` objects.
    """

    def __init__(
        self,
        cache: str | Path | None = None,
        split: str = "train",
        *,
        mirrored: bool = True,
        root: str | Path | None = None,
    ) -> None:
        if split not in SPLITS:
            raise InputError(f"unknown split '{split}'; allowed: {', '.join(SPLITS)}", field="split")
        folder = Path(root) if root is not None else dataset_dir(cache)
        split_file = folder / f"{split}.npz"
        if not split_file.is_file() or not (folder / CLIPS_FILE).is_file():
            raise DataNotFoundError(f"no built dataset in '{folder}'; run `motiongen data build` first")
        with np.load(split_file) as data:
            arrays = {k: data[k] for k in data.files}
        by_id = {r["id"]: r for r in read_clip_records(folder) if r["split"] == split}
        records = [by_id[str(i)] for i in arrays["clip_ids"]]
        skeleton = Skeleton.from_dict(json.loads((folder / SKELETON_FILE).read_text()))
        items = [_Item(c, False) for c, r in enumerate(records) if mirrored or not r["mirrored"]]
        self._setup(arrays, records, skeleton, float(arrays["fps"]), items, split)

    @classmethod
    def from_compact(cls, path: str | Path, *, mirrored: bool = True) -> "MotionDataset":
        """The training split from a compact file; ``mirrored`` re-derives the mirrored copies."""
        header, arrays = read_compact(path)
        records = header["clips"]
        items = [_Item(c, False) for c in range(len(records))]
        if mirrored:
            items += [_Item(c, True) for c in range(len(records))]
        self = cls.__new__(cls)
        self._setup(arrays, records, Skeleton.from_dict(header["skeleton"]), float(header["fps"]), items, "train")
        return self

    def _setup(
        self,
        arrays: dict[str, np.ndarray],
        records: Sequence[dict[str, Any]],
        skeleton: Skeleton,
        fps: float,
        items: list[_Item],
        split: str,
    ) -> None:
        self.rotations: np.ndarray = arrays["rotations"]
        self.root_translation: np.ndarray = arrays["root_translation"]
        self.offsets: np.ndarray = np.asarray(arrays["offsets"], dtype=np.int64)
        self.lengths: np.ndarray = np.asarray(arrays["lengths"], dtype=np.int64)
        self.records: list[dict[str, Any]] = list(records)
        self.skeleton = skeleton
        self.fps = fps
        self.split = split
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def clip_ids(self) -> list[str]:
        """Ids of the items in order (a derived mirror is ``<id>#mirror``, like a stored one)."""
        return [self._record(i)["id"] for i in range(len(self))]

    def record(self, index: int) -> dict[str, Any]:
        """Item ``index``'s clip record (id, source, split, captions, ``labels``, provenance), a
        derived mirror's with its id and captions mirrored."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is outside 0..{len(self) - 1}")
        return self._record(index % len(self))

    def _record(self, index: int) -> dict[str, Any]:
        item = self._items[index]
        record = self.records[item.clip]
        if not item.derive_mirror:
            return record
        return {
            **record,
            "id": record["id"] + "#mirror",
            "captions": [mirror_text(t) for t in record["captions"]],
            "mirrored": True,
            "mirror_of": record["id"],
        }

    def __getitem__(self, index: int) -> tuple[Motion, list[str]]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is outside 0..{len(self) - 1}")
        index %= len(self)
        item = self._items[index]
        record = self._record(index)
        start, length = int(self.offsets[item.clip]), int(self.lengths[item.clip])
        quats = self.rotations[start : start + length].astype(np.float64)
        motion = Motion(
            local_rotations=quaternion_to_matrix(quats),
            root_translation=self.root_translation[start : start + length].astype(np.float64),
            fps=self.fps,
            skeleton=self.skeleton,
            meta={
                "clip_id": record["id"],
                "source": record["source"],
                "split": self.split,
                "mirrored": bool(record["mirrored"]),
                "caption_windows": record.get("caption_windows"),
            },
        )
        if item.derive_mirror:
            motion = motion.mirror()
        return motion, list(record["captions"])
