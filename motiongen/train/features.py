"""KIMODO training data: a feature cache built once per dataset, and the window sampler.

**Feature cache** (``<features_dir>/kimodo-<dataset>-<hash>/``, ``features_dir`` defaults to
``CACHE/features``). Every clip of every split (mirrored copies of the training split included) is
encoded once with :meth:`KimodoFeatures.encode_batch` in the world frame, in worker processes that
write straight into one memory-mapped array per split:

- ``{split}.npy``: ``[N, D]`` float32, every clip's frames concatenated (opened memory-mapped, so
  DDP ranks on one machine share the pages instead of holding a copy each);
- ``{split}.index.npz``: ``offsets``, ``lengths`` ``[C]``, ``mirrored`` ``[C]``, ``clip_ids``,
  ``caption_offsets`` ``[C+1]`` and ``caption_ids`` ``[M]`` (clip ``c``'s captions are
  ``caption_ids[caption_offsets[c]:caption_offsets[c+1]]``, indices into ``captions.json``),
  ``caption_windows`` ``[M, 2]`` frames (``-1``: the whole clip);
- ``captions.json``: the unique sanitised captions; ``skeleton.json``; ``manifest.json``;
- ``stats/w<frames>[-noyaw].npz``: :class:`FeatureStats` of the training windows (see
  :meth:`FeatureCache.stats`), computed on first use;
- ``text/<encoder>.npy``: one embedding per caption for one text encoder, computed on first use
  (through the disk embedding cache, so a second feature cache reuses the vectors).

The folder name hashes the dataset's input fingerprint and build time: an unchanged dataset reuses
the cache, a rebuilt one gets a new cache. Everything is written into a temporary folder and
renamed into place, so an interrupted build leaves nothing half-written.

**Windows** (:class:`WindowSampler`): a random clip (uniform over clips, mirrored copies included),
a random caption of it, a random crop whose length is drawn once per batch in
``[min_frames, max_frames]`` (one length per batch means no compute is spent on padding except for
clips shorter than it; a caption with a time window crops inside that window), translation in
feature space so the smooth root starts at the origin, a random yaw (``rotate_features_yaw``),
then normalisation. Batches are padded to the longest window with ``pad_mask`` (True = valid).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from motiongen.io.atomic import atomic_write
from motiongen.data.archives import default_cache_dir
from motiongen.data.dataset import (
    MANIFEST_FILE,
    MotionDataset,
    dataset_dir,
    read_compact,
)
from motiongen.data.splits import SPLITS
from motiongen.errors import DataNotFoundError, InputError
from motiongen.motion.kimodo_features import (
    FeatureStats,
    KimodoFeatures,
    rotate_features_yaw,
)
from motiongen.skeleton.skeleton import Skeleton

FEATURES_FORMAT = "motiongen.kimodo_features/1"
MANIFEST = "manifest.json"
CAPTIONS = "captions.json"
SKELETON = "skeleton.json"
#: Frames per worker task when encoding (large enough to amortise the multigrid smoother's Python
#: overhead over many clips, small enough for a smooth progress bar and bounded worker memory).
CHUNK_FRAMES = 30_000


# ==================================================================================================
# The cache
# ==================================================================================================
@dataclass
class FeatureSplit:
    """One split's features and clip index (see the module docstring for the arrays)."""

    name: str
    features: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    mirrored: np.ndarray
    clip_ids: list[str]
    caption_offsets: np.ndarray
    caption_ids: np.ndarray
    caption_windows: np.ndarray

    @property
    def num_clips(self) -> int:
        return len(self.offsets)

    @property
    def num_frames(self) -> int:
        return int(self.lengths.sum())

    def clip(self, c: int) -> np.ndarray:
        """Features ``[T_c, D]`` of clip ``c`` (a view into the memory map)."""
        start = int(self.offsets[c])
        return self.features[start : start + int(self.lengths[c])]

    def captions_of(self, c: int) -> np.ndarray:
        """Indices (into :attr:`FeatureCache.captions`) of clip ``c``'s captions."""
        return self.caption_ids[self.caption_offsets[c] : self.caption_offsets[c + 1]]


@dataclass
class FeatureCache:
    """A built feature cache (:func:`build_feature_cache` / :func:`load_feature_cache`)."""

    root: Path
    skeleton: Skeleton
    layout: KimodoFeatures
    captions: list[str]
    splits: dict[str, FeatureSplit]
    manifest: dict[str, Any]

    @property
    def dim(self) -> int:
        return self.layout.dim

    def stats(self, window: int, *, yaw_augment: bool = True, seed: int = 0) -> FeatureStats:
        """:class:`FeatureStats` of the training split as the sampler presents it (cached on disk).

        World-frame statistics would normalise the smooth-root xz and the heading by where the
        capture stage was and which way it faced; the model only ever sees windows that start at
        the origin and (with ``yaw_augment``) face a random direction. So every training clip is
        cut into consecutive ``window``-frame chunks, each translated to start at the origin and
        turned by a random yaw (seeded), and :meth:`FeatureStats.compute` runs on those chunks.
        """
        window = int(window)
        if window < 1:
            raise InputError(f"window must be >= 1 frame, got {window}", field="max_frames")
        name = f"w{window}" + ("" if yaw_augment else "-noyaw") + (f"-s{seed}" if seed else "")
        path = self.root / "stats" / f"{name}.npz"
        if path.is_file():
            return FeatureStats.load(path)
        split = self.splits["train"]
        if split.num_clips == 0:
            raise DataNotFoundError(f"the training split of {self.manifest.get('dataset')} has no clips")
        rng = np.random.default_rng(seed)

        def chunks() -> Iterator[np.ndarray]:
            for c in range(split.num_clips):
                clip = split.clip(c)
                for start in range(0, len(clip), window):
                    part = np.array(clip[start : start + window], dtype=np.float64)
                    part[:, [0, 2]] -= part[0, [0, 2]]
                    if yaw_augment:
                        part = rotate_features_yaw(part, float(rng.uniform(-math.pi, math.pi)))
                    yield part

        stats = FeatureStats.compute(chunks(), fps=self.layout.fps)
        stats.save(path)
        return stats

    def caption_embeddings(self, encoder: Any, *, text_cache: str | Path | None = None, progress: bool = False) -> np.ndarray:
        """``[len(captions), dim]`` float32 embeddings of every caption with ``encoder`` (cached).

        The first call per encoder encodes the unique captions through the disk embedding cache
        (:class:`motiongen.text.base.CachedTextEncoder`) and stores the table in ``text/``;
        later calls (other DDP ranks, resumed runs) read the table without loading the model.
        """
        identifier = str(encoder.identifier)
        digest = hashlib.sha256(identifier.encode()).hexdigest()[:12]
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in identifier)[:60]
        path = self.root / "text" / f"{safe}-{digest}.npy"
        if path.is_file():
            table = np.load(path)
            if table.shape == (len(self.captions), int(encoder.dim)):
                return table
        from motiongen.text.base import CachedTextEncoder

        cached = encoder if isinstance(encoder, CachedTextEncoder) else CachedTextEncoder(encoder, text_cache)
        t0 = time.perf_counter()
        if progress:
            print(f"encoding {len(self.captions)} captions with {identifier}", file=sys.stderr)
        table = np.asarray(cached.encode(self.captions), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.save(f, table))
        info = {"identifier": identifier, "count": len(self.captions), "seconds": round(time.perf_counter() - t0, 2)}
        (path.with_suffix(".json")).write_text(json.dumps(info, indent=1))
        return table


def dataset_source(
    *, cache: str | Path | None = None, dataset: str | Path | None = None, compact: str | Path | None = None
) -> tuple[str, Path]:
    """``("folder" | "compact", path)`` of the dataset a run reads.

    ``dataset`` may be a folder path or the name of a build inside ``CACHE/datasets``.
    """
    if compact is not None:
        path = Path(compact).expanduser()
        if not path.is_file():
            raise DataNotFoundError(f"compact dataset file '{path}' not found")
        return "compact", path
    if dataset is None:
        path = dataset_dir(cache)
    else:
        path = Path(dataset).expanduser()
        if not path.is_dir() and not path.is_absolute():
            path = dataset_dir(cache, str(dataset))
    if not (path / MANIFEST_FILE).is_file():
        raise DataNotFoundError(
            f"no built dataset in '{path}'; run `motiongen data build` first (or set dataset/compact in the config)"
        )
    return "folder", path


def _dataset_identity(kind: str, path: Path) -> dict[str, Any]:
    if kind == "compact":
        header, _ = read_compact(path, header_only=True)
        return {"kind": kind, "fingerprint": header.get("fingerprint"), "name": path.stem}
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    return {"kind": kind, "fingerprint": manifest.get("fingerprint"), "built": manifest.get("built"), "name": path.name}


def feature_cache_dir(
    kind: str, path: Path, *, features_dir: str | Path | None = None, cache: str | Path | None = None, mirrored: bool = True
) -> Path:
    """Folder of the feature cache for this dataset (name = dataset name + hash of its identity)."""
    identity = _dataset_identity(kind, path)
    key = json.dumps({"format": FEATURES_FORMAT, "mirrored": mirrored, **identity}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    base = Path(features_dir) if features_dir is not None else (Path(cache) if cache else default_cache_dir()) / "features"
    return base / f"kimodo-{identity['name']}-{digest}"


def build_feature_cache(
    *,
    cache: str | Path | None = None,
    dataset: str | Path | None = None,
    compact: str | Path | None = None,
    features_dir: str | Path | None = None,
    mirrored: bool = True,
    workers: int = 2,
    progress: bool = True,
    force: bool = False,
) -> FeatureCache:
    """Encode every clip of the dataset once (or find the cache up to date) and return it.

    Args:
        cache, dataset, compact: which dataset (see :func:`dataset_source`).
        features_dir: parent folder of feature caches (default ``<cache>/features``).
        mirrored: include the mirrored copies of the training split.
        workers: encoding processes (1: in this process).
        progress: a progress bar (frames) on stderr.
        force: rebuild even if an up-to-date cache exists.
    """
    kind, path = dataset_source(cache=cache, dataset=dataset, compact=compact)
    root = feature_cache_dir(kind, path, features_dir=features_dir, cache=cache, mirrored=mirrored)
    if not force and (root / MANIFEST).is_file():
        return load_feature_cache(root)
    t0 = time.perf_counter()
    datasets = _open_splits(kind, path, mirrored)
    skeleton = next(iter(datasets.values())).skeleton
    layout = KimodoFeatures(skeleton, fps=next(iter(datasets.values())).fps)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        captions: dict[str, int] = {}
        split_info = {}
        for name, ds in datasets.items():
            split_info[name] = _encode_split(ds, name, layout, tmp, captions, workers=workers, progress=progress)
        (tmp / CAPTIONS).write_text(json.dumps(list(captions), ensure_ascii=False))
        (tmp / SKELETON).write_text(skeleton.to_json())
        manifest = {
            "format": FEATURES_FORMAT,
            "dataset": str(path),
            "identity": _dataset_identity(kind, path),
            "mirrored": mirrored,
            "skeleton": skeleton.name,
            "fps": layout.fps,
            "dim": layout.dim,
            "splits": split_info,
            "captions": len(captions),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        frames = sum(s["frames"] for s in split_info.values())
        print(f"feature cache {root}: {frames} frames in {manifest['seconds']:.1f} s", file=sys.stderr)
    return load_feature_cache(root)


def load_feature_cache(root: str | Path) -> FeatureCache:
    """Open a feature cache folder (features memory-mapped read-only)."""
    root = Path(root)
    if not (root / MANIFEST).is_file():
        raise DataNotFoundError(f"no feature cache in '{root}'")
    manifest = json.loads((root / MANIFEST).read_text())
    if manifest.get("format") != FEATURES_FORMAT:
        raise InputError(f"unknown feature cache format {manifest.get('format')!r}", path=root / MANIFEST)
    skeleton = Skeleton.from_dict(json.loads((root / SKELETON).read_text()))
    layout = KimodoFeatures(skeleton, fps=float(manifest["fps"]))
    splits = {}
    for name in manifest["splits"]:
        with np.load(root / f"{name}.index.npz") as index:
            arrays = {k: index[k] for k in index.files}
        splits[name] = FeatureSplit(
            name=name,
            features=np.load(root / f"{name}.npy", mmap_mode="r"),
            offsets=arrays["offsets"],
            lengths=arrays["lengths"],
            mirrored=arrays["mirrored"],
            clip_ids=[str(i) for i in arrays["clip_ids"]],
            caption_offsets=arrays["caption_offsets"],
            caption_ids=arrays["caption_ids"],
            caption_windows=arrays["caption_windows"],
        )
    captions = json.loads((root / CAPTIONS).read_text())
    return FeatureCache(root=root, skeleton=skeleton, layout=layout, captions=captions, splits=splits, manifest=manifest)


# --------------------------------------------------------------------------------------------------
# encoding (worker processes write into the split's memory map)


def _open_splits(kind: str, path: Path, mirrored: bool) -> dict[str, MotionDataset]:
    if kind == "compact":
        # a compact file holds the training split only (mirrored copies are re-derived)
        return {"train": MotionDataset.from_compact(path, mirrored=mirrored)}
    return {name: MotionDataset(split=name, root=path, mirrored=mirrored) for name in SPLITS}


# state inherited by forked workers (or set in this process when workers <= 1)
_WORKER: dict[str, Any] = {}


def _init_worker(dataset: MotionDataset, layout: KimodoFeatures, out_path: str) -> None:
    # one thread per worker: the workers are the parallelism, and torch's pool would oversubscribe
    torch.set_num_threads(1)
    _WORKER.update(dataset=dataset, layout=layout, out_path=out_path, out=None)


def _encode_chunk(task: tuple[int, int, int]) -> tuple[int, list[list[str]], list[list[Any]], int]:
    """Encode items ``[first, last)`` into the memory map at frame ``offset``; return their captions."""
    first, last, offset = task
    ds, layout = _WORKER["dataset"], _WORKER["layout"]
    if _WORKER["out"] is None:
        _WORKER["out"] = np.load(_WORKER["out_path"], mmap_mode="r+")
    items = [ds[i] for i in range(first, last)]
    feats = layout.encode_batch([motion for motion, _ in items])
    out = _WORKER["out"]
    pos = offset
    for f in feats:
        out[pos : pos + len(f)] = f
        pos += len(f)
    out.flush()
    windows = [list(motion.meta.get("caption_windows") or [None] * len(caps)) for motion, caps in items]
    return first, [caps for _, caps in items], windows, pos - offset


@contextlib.contextmanager
def _pool(workers: int, ds: MotionDataset, layout: KimodoFeatures, out_path: str) -> Iterator[Any]:
    if workers <= 1:
        saved = torch.get_num_threads()
        _init_worker(ds, layout, out_path)
        try:
            yield map
        finally:
            torch.set_num_threads(saved)
            _WORKER.clear()
        return
    # fork where there is one: workers inherit the loaded dataset instead of reading it again
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with multiprocessing.get_context(method).Pool(workers, initializer=_init_worker, initargs=(ds, layout, out_path)) as pool:
        yield lambda fn, tasks: pool.imap_unordered(fn, tasks)


def _encode_split(
    ds: MotionDataset, name: str, layout: KimodoFeatures, tmp: Path, captions: dict[str, int], *, workers: int, progress: bool
) -> dict[str, Any]:
    from motiongen.text.base import sanitize_text

    n = len(ds)
    # records are in stored-array order (offsets/lengths) for folder and compact datasets alike
    frames_of = {str(r["id"]): int(ds.lengths[k]) for k, r in enumerate(ds.records)}
    # a mirrored copy derived at load time (compact files) has its original's length
    lengths = np.array([frames_of.get(cid, frames_of.get(cid.removesuffix("#mirror"), 0)) for cid in ds.clip_ids], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if n else np.zeros(0, np.int64)
    total = int(lengths.sum())
    out_path = tmp / f"{name}.npy"
    np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32, shape=(total, layout.dim)).flush()
    tasks = []
    first = 0
    while first < n:
        last, frames = first, 0
        while last < n and (frames < CHUNK_FRAMES or last == first):
            frames += int(lengths[last])
            last += 1
        tasks.append((first, last, int(offsets[first])))
        first = last
    item_captions: list[list[str]] = [[] for _ in range(n)]
    item_windows: list[list[Any]] = [[] for _ in range(n)]
    bar = tqdm(total=total, desc=f"features {name}", unit="frame", unit_scale=True, disable=not progress, file=sys.stderr)
    with bar, _pool(min(workers, max(len(tasks), 1)), ds, layout, str(out_path)) as run:
        for start, caps, wins, frames in run(_encode_chunk, tasks):
            for k, (c, w) in enumerate(zip(caps, wins)):
                item_captions[start + k] = c
                item_windows[start + k] = w
            bar.update(frames)
    cap_offsets = [0]
    cap_ids: list[int] = []
    cap_windows: list[tuple[int, int]] = []
    for caps, wins in zip(item_captions, item_windows):
        for text, window in zip(caps, wins):
            clean = sanitize_text(text)
            cap_ids.append(captions.setdefault(clean, len(captions)))
            if window is None:
                cap_windows.append((-1, -1))
            else:
                cap_windows.append((int(round(window[0] * layout.fps)), int(round(window[1] * layout.fps))))
        cap_offsets.append(len(cap_ids))
    np.savez(
        tmp / f"{name}.index.npz",
        offsets=offsets,
        lengths=lengths,
        mirrored=np.array([bool(r) for r in _mirrored_flags(ds)], dtype=bool),
        clip_ids=np.array(ds.clip_ids, dtype=str),
        caption_offsets=np.array(cap_offsets, dtype=np.int64),
        caption_ids=np.array(cap_ids, dtype=np.int64),
        caption_windows=np.array(cap_windows, dtype=np.int64).reshape(-1, 2),
    )
    return {"clips": n, "frames": total, "captions": len(cap_ids)}


def _mirrored_flags(ds: MotionDataset) -> list[bool]:
    return [cid.endswith("#mirror") for cid in ds.clip_ids]


# ==================================================================================================
# Windows
# ==================================================================================================
@dataclass
class WindowBatch:
    """One training batch (torch, CPU).

    Attributes:
        x0: ``[B, T, D]`` normalised clean features (zeros on padded frames).
        pad_mask: ``[B, T]`` bool, True on valid frames.
        text: ``[B, 1, text_dim]`` caption embeddings (zeros for a clip without captions).
        first_heading: ``[B]`` heading of frame 0 in radians (after the yaw augmentation).
        lengths: ``[B]`` valid frames per window.
        clips, starts, captions: ``[B]`` clip indices, first frames in the clip, caption indices
            (-1: none), numpy.
        angles: ``[B]`` yaw (radians) each window was turned by, numpy.
    """

    x0: torch.Tensor
    pad_mask: torch.Tensor
    text: torch.Tensor
    first_heading: torch.Tensor
    lengths: np.ndarray
    clips: np.ndarray
    starts: np.ndarray
    captions: np.ndarray
    angles: np.ndarray

    def to(self, device: torch.device | str) -> "WindowBatch":
        return replace(
            self, x0=self.x0.to(device), pad_mask=self.pad_mask.to(device), text=self.text.to(device),
            first_heading=self.first_heading.to(device),
        )


class WindowSampler:
    """Random training windows from one split (see the module docstring).

    Args:
        split: the split's features.
        stats: normalisation statistics (:meth:`FeatureCache.stats`).
        text: ``[num_captions, text_dim]`` caption embeddings (:meth:`FeatureCache.caption_embeddings`),
            or None for zero text of width ``text_dim``.
        min_frames, max_frames: window length range.
        rng: numpy generator (give each DDP rank its own).
        yaw_augment: random yaw per window (else the clip's own heading).
    """

    def __init__(
        self,
        split: FeatureSplit,
        stats: FeatureStats,
        text: np.ndarray | None,
        *,
        min_frames: int,
        max_frames: int,
        rng: np.random.Generator,
        yaw_augment: bool = True,
        text_dim: int | None = None,
    ) -> None:
        if split.num_clips == 0:
            raise DataNotFoundError(f"split '{split.name}' has no clips to sample windows from")
        if not 1 <= min_frames <= max_frames:
            raise InputError(f"need 1 <= min_frames <= max_frames, got {min_frames}, {max_frames}", field="min_frames")
        self.split = split
        self.stats = stats
        self.text = None if text is None else torch.from_numpy(np.asarray(text, dtype=np.float32))
        self.text_dim = int(self.text.shape[1]) if self.text is not None else int(text_dim or 1)
        self.min_frames = int(min_frames)
        self.max_frames = int(max_frames)
        self.rng = rng
        self.yaw_augment = bool(yaw_augment)

    def _crop(self, c: int, length: int) -> tuple[int, int, int]:
        """``(start, frames, caption index or -1)`` of a random window of clip ``c``."""
        rng = self.rng
        n = int(self.split.lengths[c])
        caps = self.split.captions_of(c)
        lo, hi, cap = 0, n, -1
        if len(caps):
            k = int(rng.integers(len(caps)))
            cap = int(caps[k])
            w0, w1 = (int(v) for v in self.split.caption_windows[self.split.caption_offsets[c] + k])
            w0, w1 = max(w0, 0), min(w1, n)
            if w0 >= 0 and w1 - w0 >= min(self.min_frames, n):
                # the caption describes only this part of the clip
                lo, hi = w0, w1
        frames = min(length, hi - lo)
        start = int(rng.integers(lo, hi - frames + 1))
        return start, frames, cap

    def sample(self, batch_size: int) -> WindowBatch:
        """A batch of ``batch_size`` random windows."""
        rng = self.rng
        length = int(rng.integers(self.min_frames, self.max_frames + 1))
        clips = rng.integers(self.split.num_clips, size=batch_size)
        crops = [self._crop(int(c), length) for c in clips]
        angles = rng.uniform(-math.pi, math.pi, size=batch_size) if self.yaw_augment else np.zeros(batch_size)
        return self._assemble(clips, crops, angles)

    def fixed_batches(self, count: int, batch_size: int) -> list[WindowBatch]:
        """``count`` batches drawn now (e.g. the validation set, with a seeded ``rng``)."""
        return [self.sample(batch_size) for _ in range(count)]

    def _assemble(self, clips: np.ndarray, crops: Sequence[tuple[int, int, int]], angles: np.ndarray) -> WindowBatch:
        b = len(crops)
        lengths = np.array([f for _, f, _ in crops], dtype=np.int64)
        t = int(lengths.max())
        d = self.split.features.shape[1]
        buf = np.zeros((b, t, d), dtype=np.float32)
        for i, (c, (start, frames, _)) in enumerate(zip(clips, crops)):
            first = int(self.split.offsets[c]) + start
            buf[i, :frames] = self.split.features[first : first + frames]
        x = torch.from_numpy(buf)
        pad_mask = torch.arange(t)[None, :] < torch.from_numpy(lengths)[:, None]
        # smooth root to the origin at frame 0 (joint positions are relative to it already)
        x[..., [0, 2]] -= x[:, :1, [0, 2]]
        x = rotate_features_yaw(x, torch.as_tensor(angles, dtype=torch.float32))
        first_heading = torch.atan2(x[:, 0, 4], x[:, 0, 3])
        x = self.stats.normalize(x) * pad_mask[..., None]
        caps = np.array([cap for _, _, cap in crops], dtype=np.int64)
        text = torch.zeros(b, 1, self.text_dim)
        if self.text is not None:
            has = torch.from_numpy(caps >= 0)
            text[has, 0] = self.text[torch.from_numpy(caps[caps >= 0])]
        starts = np.array([start for start, _, _ in crops], dtype=np.int64)
        return WindowBatch(
            x.contiguous(), pad_mask, text, first_heading.float(), lengths, np.asarray(clips), starts, caps,
            np.asarray(angles, dtype=np.float64),
        )
