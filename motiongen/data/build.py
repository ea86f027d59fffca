"""Build the training dataset: every usable archive clip on ``smplx22`` at 30 fps, split and captioned.

``build_dataset(source, cache)`` (``motiongen data build``) does, in order:

1. **Unpack** the archives it reads (``bandai``, ``cmu``, ``hdm05``, ``text``, ``kimodo``) into
   ``CACHE/raw/`` once (:func:`motiongen.data.archives.unpacked`; never into the repository).
2. **Discover** the clips and their labels (:mod:`motiongen.data.sources`), assign fixed splits
   (:mod:`motiongen.data.splits`) and captions (:mod:`motiongen.data.captions`).
3. **Convert** each clip, in ``workers`` processes (``imap`` in chunks, one progress bar per source):
   read the BVH/AMC, name the rig's joint sets, resample to 30 fps (slerp), retarget onto
   ``smplx22`` (:func:`motiongen.retarget.retarget` with the rig's calibration pose; feet on the
   floor y = 0). Clips of the training split also get a mirrored copy (``Motion.mirror``, captions
   through :func:`~motiongen.data.captions.mirror_text`), flagged ``mirrored``; val and test have none.
   A clip the readers reject, or shorter than :data:`MIN_FRAMES`, is skipped and counted with the reason.
4. **Write** ``{train,val,test}.npz``, ``clips.jsonl``, ``skeleton.json``, ``stats.json`` and
   ``manifest.json`` (layout in :mod:`motiongen.data.dataset`) into a temporary folder beside the
   dataset folder, then swap it in by renaming, so an interrupted build leaves the previous dataset
   (or none), never a half-written one.
5. **Compact** (optional): the training split without mirrored copies as one xz file, rotations as
   float16 quaternions, root translation float32, captions and skeleton in a JSON header; it must
   stay under :data:`COMPACT_LIMIT_BYTES` (50 MB).

Rebuilds: the manifest records a fingerprint of the inputs (each archive's name, size and
modification time, :data:`BUILDER_VERSION`, and the subset options). A call whose fingerprint equals
the stored one prints "up to date" and returns the stored stats without converting anything (and
keeps a compact file written from the same fingerprint); ``force=True`` rebuilds regardless. Subset builds (``include``, ``limit_per_source``; for tests and
quick experiments) go to their own folder, ``smplx22-30fps-v1-subset-<hash>``, never over the full one.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import lzma
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from motiongen.io.atomic import ordinary_mode
from motiongen.data.archives import ARCHIVES, archive_path, default_cache_dir, resolve_data_dir, unpacked
from motiongen.data.captions import Caption, clip_captions, mirror_captions
from motiongen.data.dataset import (
    CLIPS_FILE,
    COMPACT_MAGIC,
    DATASET_NAME,
    MANIFEST_FILE,
    SKELETON_FILE,
    STATS_FILE,
    dataset_dir,
    encode_array,
    read_clip_records,
    read_compact,
)
from motiongen.data.sources import SOURCE_ARCHIVES, SOURCES, ClipSource, SkippedClip, discover
from motiongen.data.splits import SPLITS, assign_splits, stable_hash
from motiongen.errors import InputError, MotiongenError, UnknownNameError
from motiongen.geometry import matrix_to_quaternion
from motiongen.motion.motion import Motion
from motiongen.retarget import bone_direction_cosine, retarget
from motiongen.skeleton.skeleton import Skeleton

#: Changes whenever the conversion, captions or splits change, so old caches are rebuilt.
BUILDER_VERSION = "motiongen-dataset-builder/2"
TARGET_SKELETON = "smplx22"
TARGET_FPS = 30.0
#: Clips shorter than this many frames at 30 fps carry too little motion to train on.
MIN_FRAMES = 8
COMPACT_LIMIT_BYTES = 50_000_000
#: The rig name each source's clips get (so retargeting finds its joint map and calibration pose).
SOURCE_RIGS = {"bandai": "bandai22", "cmu": "cmu31", "hdm05": "hdm05"}
_CHUNK = 8
#: xz preset 6: on this data presets 9 and 9e are no smaller (the byte planes already expose the
#: redundancy) and several times slower.
_COMPACT_PRESET = 6


# --------------------------------------------------------------------------------------------------
# conversion (runs in worker processes)


@dataclass(frozen=True)
class ConvertedClip:
    """A clip on the target skeleton: ``rotations [T, J, 4]`` quaternions, ``root [T, 3]`` (float32)."""

    clip_id: str
    rotations: np.ndarray
    root: np.ndarray
    floor: float  # median over frames of the lowest foot joint height, metres
    bone_cosine: float  # retarget quality: mean source/target bone-direction cosine, chain bones
    bone_cosine_all: float  # the same including bones leaving branching joints (pelvis, chest)
    mirror_rotations: np.ndarray | None = None
    mirror_root: np.ndarray | None = None


@dataclass(frozen=True)
class _WorkerConfig:
    target: Skeleton
    calibrations: Mapping[str, np.ndarray | None]


_CONFIG: _WorkerConfig | None = None
_RIGS: dict[str, Any] = {}


def _init_worker(config: _WorkerConfig) -> None:
    # Small tensors: torch's thread pool costs far more than it gains here, and workers share the cores.
    torch.set_num_threads(1)
    global _CONFIG
    _CONFIG = config
    _RIGS.clear()


def read_clip(clip: ClipSource) -> Motion:
    """The clip as its file holds it, on its rig with joint sets and mirror map named."""
    from motiongen.io.asf_amc import read_amc, read_asf
    from motiongen.io.bvh import read_bvh
    from motiongen.skeleton.registry import BANDAI_JOINT_SETS, asf_skeleton_with_sets, with_sets

    rig_name = SOURCE_RIGS[clip.source]
    if clip.rig_path is None:
        motion = read_bvh(clip.path)
        return replace(motion, skeleton=with_sets(motion.skeleton, rig_name, BANDAI_JOINT_SETS, [("_L", "_R")]))
    key = str(clip.rig_path)
    if key not in _RIGS:
        _RIGS[key] = read_asf(clip.rig_path)
    motion = read_amc(clip.path, _RIGS[key], fps=clip.fps)
    return replace(motion, skeleton=asf_skeleton_with_sets(motion.skeleton, rig_name))


def motion_to_target(motion: Motion, target: Skeleton, calibration: np.ndarray | None) -> tuple[Motion, Motion]:
    """Resample to 30 fps, then retarget onto ``target`` with the feet on the floor.

    Returns the resampled source and the retargeted motion.
    """
    if abs(motion.fps - TARGET_FPS) > 1e-6:
        motion = motion.resample(TARGET_FPS)
    return motion, retarget(motion, target, calibration=calibration)


def _quaternions(motion: Motion) -> np.ndarray:
    return matrix_to_quaternion(motion.local_rotations).astype(np.float32)


def _floor_height(motion: Motion) -> float:
    feet = motion.skeleton.foot_joint_indices
    return float(np.median(motion.joint_positions()[:, feet, 1].min(-1)))


def convert_clip(task: tuple[ClipSource, bool]) -> ConvertedClip | SkippedClip:
    """Worker body: one clip read, converted and (when asked) mirrored, or the reason it is skipped."""
    clip, with_mirror = task
    if _CONFIG is None:
        raise RuntimeError("convert_clip runs in a process set up by _init_worker")
    try:
        source, motion = motion_to_target(read_clip(clip), _CONFIG.target, _CONFIG.calibrations[SOURCE_RIGS[clip.source]])
    except MotiongenError as exc:
        return SkippedClip(clip.clip_id, clip.source, str(clip.provenance.get("file")), f"unreadable: {exc}")
    if motion.num_frames < MIN_FRAMES:
        reason = f"too short: {motion.num_frames} frames at 30 fps, fewer than {MIN_FRAMES}"
        return SkippedClip(clip.clip_id, clip.source, str(clip.provenance.get("file")), reason)
    mirror = motion.mirror() if with_mirror else None
    return ConvertedClip(
        clip_id=clip.clip_id,
        rotations=_quaternions(motion),
        root=motion.root_translation.astype(np.float32),
        floor=_floor_height(motion),
        bone_cosine=bone_direction_cosine(source, motion, motion.meta["retarget"]["joint_map"]),
        bone_cosine_all=bone_direction_cosine(
            source, motion, motion.meta["retarget"]["joint_map"], include_branching=True
        ),
        mirror_rotations=None if mirror is None else _quaternions(mirror),
        mirror_root=None if mirror is None else mirror.root_translation.astype(np.float32),
    )


@contextlib.contextmanager
def _single_thread_torch() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _convert_all(
    tasks: list[tuple[ClipSource, bool]], config: _WorkerConfig, workers: int, desc: str, progress: bool
) -> list[ConvertedClip | SkippedClip]:
    bar = dict(total=len(tasks), desc=desc, unit="clip", disable=not progress, leave=True, file=sys.stderr)
    if workers <= 1 or len(tasks) <= 1:
        with _single_thread_torch():
            _init_worker(config)
            return list(tqdm(map(convert_clip, tasks), **bar))
    # fork where there is one: workers inherit the imported modules, so starting them is quick
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    with multiprocessing.get_context(method).Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
        return list(tqdm(pool.imap(convert_clip, tasks, chunksize=_CHUNK), **bar))


# --------------------------------------------------------------------------------------------------
# fingerprint, folders


def build_options(include: Sequence[str] | None, limit_per_source: int | None) -> dict[str, Any]:
    """Normalised subset options; raise for unknown sources or a non-positive limit."""
    if isinstance(include, str):
        include = [include]
    sources = list(SOURCES) if include is None else list(dict.fromkeys(include))
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise UnknownNameError(f"unknown source(s) {unknown or '(none given)'}; allowed: {', '.join(SOURCES)}")
    if limit_per_source is not None and (isinstance(limit_per_source, bool) or int(limit_per_source) < 1):
        raise InputError(f"limit_per_source must be a positive integer, got {limit_per_source}", field="limit_per_source")
    return {
        "include": [s for s in SOURCES if s in sources],
        "limit_per_source": None if limit_per_source is None else int(limit_per_source),
    }


def dataset_name(options: Mapping[str, Any]) -> str:
    """:data:`DATASET_NAME` for the full build, ``<name>-subset-<hash>`` for a subset build."""
    if options["include"] == list(SOURCES) and options["limit_per_source"] is None:
        return DATASET_NAME
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    return f"{DATASET_NAME}-subset-{digest}"


def needed_archives(options: Mapping[str, Any]) -> list[str]:
    """Archive keys the build reads: the target skeleton's and each included source's."""
    keys = ["kimodo"] + [k for s in options["include"] for k in SOURCE_ARCHIVES[s]]
    return list(dict.fromkeys(keys))


def input_fingerprint(data_dir: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    """What the dataset depends on: archive names, sizes and mtimes, builder version, options."""
    archives = []
    for key in needed_archives(options):
        st = archive_path(key, data_dir).stat()
        archives.append({"archive": ARCHIVES[key], "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {"builder": BUILDER_VERSION, "archives": archives, "options": dict(options)}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _is_current(root: Path, fingerprint: Mapping[str, Any]) -> bool:
    manifest = _read_json(root / MANIFEST_FILE)
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint:
        return False
    return all((root / name).is_file() for name in manifest.get("files", []))


def _compact_is_current(path: Path, fingerprint: Mapping[str, Any]) -> bool:
    """Whether ``path`` is a compact file written from a dataset with this fingerprint."""
    try:
        header, _ = read_compact(path, header_only=True)
    except MotiongenError:
        return False
    return header.get("fingerprint") == fingerprint


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace ``final`` by the complete folder ``tmp`` with renames only."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# the build


def _select(clips: list[ClipSource], splits: Mapping[str, str], limit: int | None) -> list[ClipSource]:
    """Every clip, or the first ``limit`` per source and split in stable-hash order (a spread-out subset)."""
    if limit is None:
        return clips
    picked: dict[tuple[str, str], list[ClipSource]] = defaultdict(list)
    for clip in sorted(clips, key=lambda c: stable_hash(c.clip_id)):
        bucket = picked[(clip.source, splits[clip.clip_id])]
        if len(bucket) < limit:
            bucket.append(clip)
    chosen = {c.clip_id for bucket in picked.values() for c in bucket}
    return [c for c in clips if c.clip_id in chosen]


def _record(clip: ClipSource, split: str, frames: int, captions: list[Caption], mirror_of: str | None) -> dict[str, Any]:
    return {
        "id": clip.clip_id if mirror_of is None else mirror_of + "#mirror",
        "source": clip.source,
        "split": split,
        "frames": frames,
        "captions": [c.text for c in captions],
        "caption_windows": [None if c.start is None else [c.start, c.end] for c in captions],
        "mirrored": mirror_of is not None,
        "mirror_of": mirror_of,
        "group": clip.group,
        "labels": dict(clip.labels),
        "provenance": dict(clip.provenance),
    }


@dataclass
class _SplitData:
    rotations: list[np.ndarray]
    roots: list[np.ndarray]
    records: list[dict[str, Any]]

    def add(self, rotations: np.ndarray, root: np.ndarray, record: dict[str, Any]) -> None:
        self.rotations.append(rotations)
        self.roots.append(root)
        self.records.append(record)


def _write_split(path: Path, data: _SplitData) -> None:
    lengths = np.array([len(r) for r in data.rotations], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    joints = data.rotations[0].shape[1] if data.rotations else 0
    np.savez(
        path,
        rotations=np.concatenate(data.rotations) if data.rotations else np.zeros((0, joints, 4), np.float32),
        root_translation=np.concatenate(data.roots) if data.roots else np.zeros((0, 3), np.float32),
        offsets=offsets,
        lengths=lengths,
        clip_ids=np.array([r["id"] for r in data.records], dtype=str),
        mirrored=np.array([r["mirrored"] for r in data.records], dtype=bool),
        fps=np.float64(TARGET_FPS),
    )


def _stats(
    records: list[dict[str, Any]], skipped: list[SkippedClip], quality: Mapping[str, list[tuple[float, float, float]]]
) -> dict[str, Any]:
    """Clip, frame, hour and caption counts per source and split (mirrored copies counted apart)."""

    def tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
        frames = sum(r["frames"] for r in rows)
        return {
            "clips": len(rows),
            "frames": frames,
            "hours": round(frames / TARGET_FPS / 3600.0, 4),
            "captions": sum(len(r["captions"]) for r in rows),
            "unique_captions": len({t for r in rows for t in r["captions"]}),
        }

    originals = [r for r in records if not r["mirrored"]]
    mirrored = [r for r in records if r["mirrored"]]
    return {
        "dataset": DATASET_NAME,
        "skeleton": TARGET_SKELETON,
        "fps": TARGET_FPS,
        "total": tally(originals),
        "by_source": {s: tally([r for r in originals if r["source"] == s]) for s in SOURCES},
        "by_split": {sp: tally([r for r in originals if r["split"] == sp]) for sp in SPLITS},
        "by_source_split": {
            s: {sp: tally([r for r in originals if r["source"] == s and r["split"] == sp]) for sp in SPLITS} for s in SOURCES
        },
        "mirrored": tally(mirrored),
        # per clip: floor = median lowest foot joint height; cosines as retarget.bone_direction_cosine
        "retarget_quality": {
            s: {
                "floor_height_m_median": float(np.median([q[0] for q in v])),
                "floor_height_m_max_abs": float(np.max(np.abs([q[0] for q in v]))),
                "bone_cosine_mean": float(np.mean([q[1] for q in v])),
                "bone_cosine_min": float(np.min([q[1] for q in v])),
                "bone_cosine_with_branching_mean": float(np.mean([q[2] for q in v])),
            }
            for s, v in quality.items()
            if v
        },
        "skipped": {
            "count": len(skipped),
            # reasons read "<kind>: <details>" or are a kind alone
            "by_reason": dict(Counter(f"{s.source}: {s.reason.split(':')[0]}" for s in skipped)),
            "clips": [s.to_dict() for s in skipped],
        },
    }


def build_dataset(
    source: str | Path | None = None,
    cache: str | Path | None = None,
    *,
    compact: str | Path | None = None,
    workers: int = 2,
    force: bool = False,
    progress: bool = True,
    include: Sequence[str] | None = None,
    limit_per_source: int | None = None,
) -> dict[str, Any]:
    """Build (or find up to date) the ``smplx22`` 30 fps dataset; return its stats.

    Args:
        source: folder with the archives (default ``$MOTIONGEN_DATA`` or ``../shared/data``).
        cache: cache folder for unpacked archives and datasets (default ``$MOTIONGEN_CACHE`` or
            ``~/.cache/motiongen``).
        compact: also write the training split (no mirrored copies) as one small file here.
        workers: conversion processes (1: in this process).
        force: rebuild even when the input fingerprint is unchanged.
        progress: show progress bars (on stderr).
        include: sources to build (default all of ``bandai``, ``cmu``, ``hdm05``).
        limit_per_source: at most this many clips per source and split (a quick subset).

    Returns:
        The stats (see ``stats.json``), plus ``path`` (the dataset folder), ``rebuilt`` (False when it
        was up to date), ``seconds`` and, with ``compact``, ``compact`` (``path``, ``bytes``,
        ``seconds``, ``reused``: True when the file was already written from this same dataset).
    """
    started = time.perf_counter()
    if isinstance(workers, bool) or int(workers) < 1:
        raise InputError(f"workers must be a positive integer, got {workers}", field="workers")
    options = build_options(include, limit_per_source)
    data_dir = resolve_data_dir(source)
    cache_dir = Path(cache) if cache is not None else default_cache_dir()
    root = dataset_dir(cache_dir, dataset_name(options))
    fingerprint = input_fingerprint(data_dir, options)

    if not force and _is_current(root, fingerprint):
        print(f"dataset {root} is up to date", file=sys.stderr)
        stats = _read_json(root / STATS_FILE) or {}
        stats.update(path=str(root), rebuilt=False)
    else:
        stats = _build(data_dir, cache_dir, root, options, fingerprint, workers=int(workers), progress=progress)
        stats.update(path=str(root), rebuilt=True)
    if compact is not None:
        t0 = time.perf_counter()
        reused = not force and not stats["rebuilt"] and _compact_is_current(Path(compact), fingerprint)
        size = Path(compact).stat().st_size if reused else write_compact(root, compact)
        stats["compact"] = {
            "path": str(compact), "bytes": size, "seconds": round(time.perf_counter() - t0, 2), "reused": reused
        }
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return stats


def _build(
    data_dir: Path, cache_dir: Path, root: Path, options: Mapping[str, Any], fingerprint: Mapping[str, Any],
    *, workers: int, progress: bool,
) -> dict[str, Any]:
    from motiongen.skeleton.registry import calibration_pose, get_skeleton

    timings: dict[str, Any] = {}
    t0 = time.perf_counter()
    raw = {key: unpacked(key, data_dir, cache_dir) for key in needed_archives(options)}
    timings["unpack"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    clips: list[ClipSource] = []
    skipped: list[SkippedClip] = []
    for src in options["include"]:
        found, left_out = discover(src, raw)
        clips += found
        skipped += left_out
    splits = assign_splits(clips)
    clips = _select(clips, splits, options["limit_per_source"])
    config = _WorkerConfig(
        target=get_skeleton(TARGET_SKELETON, data_dir, cache_dir),
        calibrations={SOURCE_RIGS[s]: calibration_pose(SOURCE_RIGS[s], data_dir, cache_dir) for s in options["include"]},
    )
    timings["discover"] = round(time.perf_counter() - t0, 2)

    data = {sp: _SplitData([], [], []) for sp in SPLITS}
    quality: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    timings["convert"] = {}
    for src in options["include"]:
        t0 = time.perf_counter()
        tasks = [(c, splits[c.clip_id] == "train") for c in clips if c.source == src]
        results = _convert_all(tasks, config, workers, src, progress)
        for (clip, _), result in zip(tasks, results):
            if isinstance(result, SkippedClip):
                skipped.append(result)
                continue
            split = splits[clip.clip_id]
            captions = clip_captions(clip)
            frames = len(result.rotations)
            data[split].add(result.rotations, result.root, _record(clip, split, frames, captions, None))
            quality[src].append((result.floor, result.bone_cosine, result.bone_cosine_all))
            if result.mirror_rotations is not None and result.mirror_root is not None:
                record = _record(clip, split, frames, mirror_captions(captions), clip.clip_id)
                data[split].add(result.mirror_rotations, result.mirror_root, record)
        timings["convert"][src] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    records = [r for sp in SPLITS for r in data[sp].records]
    stats = _stats(records, skipped, quality)
    stats["timings_s"] = timings
    stats["built"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    files = [f"{sp}.npz" for sp in SPLITS] + [CLIPS_FILE, SKELETON_FILE, STATS_FILE]
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        tmp.chmod(ordinary_mode(0o777))
        for sp in SPLITS:
            _write_split(tmp / f"{sp}.npz", data[sp])
        with (tmp / CLIPS_FILE).open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        (tmp / SKELETON_FILE).write_text(json.dumps(config.target.to_dict()))
        timings["write"] = round(time.perf_counter() - t0, 2)
        (tmp / STATS_FILE).write_text(json.dumps(stats, indent=1))
        manifest = {"fingerprint": fingerprint, "files": files, "built": stats["built"]}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        _swap_in(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return stats


# --------------------------------------------------------------------------------------------------
# compact file


def write_compact(root: str | Path, path: str | Path, *, limit_bytes: int = COMPACT_LIMIT_BYTES) -> int:
    """Write the training split of the dataset in ``root`` (no mirrored copies) as one xz file.

    Inside the xz stream: :data:`~motiongen.data.dataset.COMPACT_MAGIC`, a 4-byte little-endian
    header length, a JSON header (format, fps, skeleton, clip records with captions, the dataset's
    fingerprint, and a spec per array), then the arrays in header order, each as
    :func:`~motiongen.data.dataset.encode_array` lays it out (time axis last, bytes grouped by
    significance): ``rotations [N, J, 4]`` float16 quaternions, ``root_translation [N, 3]`` float32,
    ``offsets``/``lengths [C]`` int64. Returns the file size in bytes; raises
    :class:`MotiongenError` (and leaves no file) when it would reach ``limit_bytes``.
    """
    root, path = Path(root), Path(path)
    with np.load(root / "train.npz") as split:
        keep = ~split["mirrored"]
        offsets, lengths = split["offsets"][keep], split["lengths"][keep]
        index = np.concatenate([np.arange(o, o + n) for o, n in zip(offsets, lengths)]) if len(offsets) else np.zeros(0, int)
        rotations = split["rotations"][index].astype(np.float16)
        root_translation = split["root_translation"][index].astype(np.float32)
        ids = [str(i) for i in split["clip_ids"][keep]]
    by_id = {r["id"]: r for r in read_clip_records(root) if r["split"] == "train"}
    fields = ("id", "source", "captions", "caption_windows", "mirrored", "group", "labels", "provenance")
    encoded = [
        encode_array("rotations", rotations, (1, 2, 0)),
        encode_array("root_translation", root_translation, (1, 0)),
        encode_array("offsets", np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)),
        encode_array("lengths", lengths.astype(np.int64)),
    ]
    header = {
        "format": COMPACT_MAGIC.decode().strip(),
        "fps": TARGET_FPS,
        "skeleton": json.loads((root / SKELETON_FILE).read_text()),
        "fingerprint": (_read_json(root / MANIFEST_FILE) or {}).get("fingerprint"),
        "clips": [{k: by_id[i][k] for k in fields} for i in ids],
        "arrays": [spec for spec, _ in encoded],
    }
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw_file, lzma.open(raw_file, "wb", preset=_COMPACT_PRESET) as f:
            f.write(COMPACT_MAGIC + struct.pack("<I", len(head)) + head)
            for _, data in encoded:
                f.write(data)
        size = tmp.stat().st_size
        if size >= limit_bytes:
            raise MotiongenError(f"compact file would be {size / 1e6:.1f} MB, over the {limit_bytes / 1e6:.0f} MB limit")
        tmp.chmod(ordinary_mode(0o666))
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return size

