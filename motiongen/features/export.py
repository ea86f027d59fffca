"""Export a folder of motions as evaluator features: ``motiongen export-features``.

    motiongen export-features --format hml263 generated/ -o generated_263/
    motiongen export-features --format ms272 test_motions/ -o test_272/
    motiongen export-features --format motion135 out/ -o out_135/

Every ``.npz`` (KIMODO layout, or AMASS) and ``.bvh`` under IN_DIR is read with
:func:`motiongen.io.formats.load_motion`; motions on another human rig (``soma30``, ``soma77``,
``bandai22``, ``cmu31``, ``hdm05``) are first retargeted onto ``smplx22``
(:func:`motiongen.retarget.registered.retarget_to`, which needs the data archives). Each motion
becomes one float32 ``.npy`` at the same relative path under OUT_DIR:

| format | array | fps | 6D layout | module |
|---|---|---|---|---|
| ``hml263`` | ``[T' - 1, 263]`` HumanML3D-263 | 20 | C6 | :mod:`motiongen.features.hml263` |
| ``ms272`` | ``[T', 272]`` MotionStreamer-272 | 30 | R6 | :mod:`motiongen.features.ms272` |
| ``motion135`` | ``[T', 135]`` SMPL ``motion_135`` | 30 | I6 | :mod:`motiongen.motion.motion_135` |

``OUT_DIR/features.json`` records the format, frame rate, 6D layout, the body each file was made
on (joint names, parents, rest joints) and the file list; none of the formats carries these
itself. Every file is written atomically, and ``features.json`` last, so a folder without it is an
export that did not finish.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError, MotiongenError
from motiongen.features.common import SMPL22_JOINT_NAMES, SMPL22_PARENTS, is_smpl22
from motiongen.features.hml263 import (
    HML263_DIM,
    HML263_FPS,
    HML263_LAYOUT,
    motion_to_hml263,
    uniform_skeleton_rest_joints,
)
from motiongen.features.ms272 import MS272_DIM, MS272_FPS, MS272_LAYOUT, motion_to_ms272
from motiongen.io.atomic import atomic_write, atomic_write_text
from motiongen.motion.motion import Motion
from motiongen.motion.motion_135 import (
    MOTION_135_DIM,
    MOTION_135_FPS,
    MOTION_135_LAYOUT,
    motion_to_motion_135,
)

#: Motion files an export reads.
MOTION_SUFFIXES = (".npz", ".bvh")
MANIFEST_NAME = "features.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class FeatureFormat:
    """One exportable format: its array width, frame rate, 6D layout and encoder (``smplx22`` Motion in)."""

    name: str
    dim: int
    fps: float
    layout: str
    rows: str
    encode: Callable[[Motion], np.ndarray]
    description: str


FORMATS: dict[str, FeatureFormat] = {
    "hml263": FeatureFormat(
        "hml263", HML263_DIM, HML263_FPS, HML263_LAYOUT, "T'-1 (frames at 20 fps, minus one)", motion_to_hml263,
        "HumanML3D-263 (Guo et al. 2022): positions on the uniform 000021 skeleton, swing-only IK rotations",
    ),
    "ms272": FeatureFormat(
        "ms272", MS272_DIM, MS272_FPS, MS272_LAYOUT, "T' (frames at 30 fps)", motion_to_ms272,
        "MotionStreamer-272 (Xiao et al. 2025): heading-free positions and velocities, SMPL local rotations",
    ),
    "motion135": FeatureFormat(
        "motion135", MOTION_135_DIM, MOTION_135_FPS, MOTION_135_LAYOUT, "T' (frames at 30 fps)", motion_to_motion_135,
        "SMPL motion_135 (HFTrainer/HY-Motion): trans = pelvis - J_0, 22 local rotations",
    ),
}


def feature_format(fmt: str) -> FeatureFormat:
    """The :class:`FeatureFormat` named ``fmt``; raises :class:`InputError` listing the known ones."""
    if fmt not in FORMATS:
        raise InputError(f"unknown feature format '{fmt}'; known: {', '.join(FORMATS)}", field="format")
    return FORMATS[fmt]


def find_motion_files(in_dir: Path) -> list[Path]:
    """Motion files (:data:`MOTION_SUFFIXES`) under ``in_dir``, relative to it, sorted; hidden entries skipped."""
    found = []
    for path in in_dir.rglob("*"):
        rel = path.relative_to(in_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in MOTION_SUFFIXES and path.is_file():
            found.append(rel)
    return sorted(found, key=lambda p: p.as_posix())


def _output_names(files: Sequence[Path]) -> list[Path]:
    outputs = [rel.with_suffix(".npy") for rel in files]
    seen: dict[str, Path] = {}
    for rel, out in zip(files, outputs):
        key = out.as_posix()
        if key in seen:
            raise InputError(f"'{seen[key]}' and '{rel}' would both be written to '{out}'; rename one", field="IN_DIR")
        seen[key] = rel
    return outputs


def _body(fmt: FeatureFormat, motion: Motion) -> dict[str, Any]:
    """The body the array was made on: HumanML3D's uniform skeleton, else the motion's own rig."""
    if fmt.name == "hml263":
        rest = uniform_skeleton_rest_joints()
        name = "humanml3d-uniform-000021"
    else:
        rest = motion.skeleton.rest_positions()
        name = motion.skeleton.name
    return {
        "skeleton": name,
        "joint_names": list(SMPL22_JOINT_NAMES),
        "parents": list(SMPL22_PARENTS),
        "rest_joints": np.round(rest, 9).tolist(),
    }


def _read(path: Path, data_dir: str | Path | None, cache_dir: str | Path | None) -> tuple[Motion, str, bool]:
    """The motion of ``path`` on SMPL-22 joints, its source skeleton name, and whether it was retargeted."""
    from motiongen.io.formats import load_motion

    try:
        motion = load_motion(path)
    except InputError as exc:
        if exc.path is not None:
            raise  # it already names the file
        raise InputError(f"cannot read motion: {exc}", path=path) from exc
    except MotiongenError as exc:
        raise InputError(f"cannot read motion: {exc}", path=path) from exc
    except (OSError, ValueError, KeyError, EOFError) as exc:  # a reader tripping over a malformed file
        raise InputError(f"cannot read motion ({type(exc).__name__}: {exc})", path=path) from exc
    source = motion.skeleton.name
    if is_smpl22(motion):
        return motion, source, False
    from motiongen.retarget.registered import retarget_to

    try:
        return retarget_to(motion, "smplx22", data_dir=data_dir, cache_dir=cache_dir), source, True
    except MotiongenError as exc:
        raise InputError(f"cannot retarget skeleton '{source}' onto smplx22: {exc}", path=path) from exc


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    atomic_write(path, lambda handle: handle.write(data))


def export_features(
    in_dir: str | Path,
    out_dir: str | Path,
    fmt: str,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Convert every motion file under ``in_dir`` to ``fmt`` features under ``out_dir``.

    Args:
        in_dir: folder searched recursively for ``.npz`` / ``.bvh`` motions.
        out_dir: output folder (created); ``<relative path>.npy`` per motion plus ``features.json``.
        fmt: ``"hml263"``, ``"ms272"`` or ``"motion135"``.
        data_dir, cache_dir: archives and cache for retargeting other rigs onto ``smplx22``.
        progress: show a progress bar on stderr.

    Returns:
        The manifest written to ``out_dir/features.json``.

    Raises:
        InputError: unknown format, missing or empty ``in_dir``, two inputs mapping to one output,
            a file that cannot be read, retargeted or encoded (the file is named).
    """
    from tqdm import tqdm

    feature = feature_format(fmt)
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise InputError("input folder not found", path=in_dir, field="IN_DIR")
    files = find_motion_files(in_dir)
    if not files:
        raise InputError(f"no motion files ({', '.join(MOTION_SUFFIXES)}) in this folder", path=in_dir, field="IN_DIR")
    outputs = _output_names(files)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output exists and is not a folder", path=out_dir, field="OUT_DIR")

    bodies: list[dict[str, Any]] = []
    records = []
    for rel, out_rel in zip(tqdm(files, desc=f"export {fmt}", unit="file", disable=not progress, file=sys.stderr), outputs):
        motion, source, retargeted = _read(in_dir / rel, data_dir, cache_dir)
        try:
            array = np.asarray(feature.encode(motion), dtype=np.float32)
        except MotiongenError as exc:
            raise InputError(f"cannot encode as {fmt}: {exc}", path=in_dir / rel) from exc
        if not np.isfinite(array).all():
            raise InputError(f"encoding as {fmt} gave NaN or inf", path=in_dir / rel)
        _save_npy(out_dir / out_rel, array)
        body = _body(feature, motion)
        if body not in bodies:
            bodies.append(body)
        records.append({
            "input": rel.as_posix(),
            "output": out_rel.as_posix(),
            "shape": list(array.shape),
            "source_skeleton": source,
            "source_fps": motion.fps,
            "source_frames": motion.num_frames,
            "retargeted": retargeted,
            "body": bodies.index(body),
        })

    manifest = {
        "version": MANIFEST_VERSION,
        "format": feature.name,
        "description": feature.description,
        "dim": feature.dim,
        "fps": feature.fps,
        "rot6d_layout": feature.layout,
        "rows": feature.rows,
        "dtype": "float32",
        "body": bodies[0] if len(bodies) == 1 else None,
        "bodies": bodies,
        "files": records,
    }
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_features_manifest(out_dir: str | Path) -> dict[str, Any]:
    """``features.json`` of an export, checked for a known format and layout."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        raise InputError("no features.json here (not an export, or one that did not finish)", path=path.parent)
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc})", path=path, line=exc.lineno) from None
    feature = feature_format(str(manifest.get("format")))
    if manifest.get("rot6d_layout") != feature.layout:
        raise InputError(f"6D layout '{manifest.get('rot6d_layout')}' is not {feature.name}'s '{feature.layout}'",
                         path=path, field="rot6d_layout")
    return manifest


# --------------------------------------------------------------------------------------------------
def export_features_command(args: argparse.Namespace) -> int:
    """``motiongen export-features``: run :func:`export_features` and print a one-line summary."""
    manifest = export_features(
        args.input_dir, args.output, args.format, data_dir=args.source, cache_dir=args.cache, progress=args.progress
    )
    retargeted = sum(record["retargeted"] for record in manifest["files"])
    print(
        f"wrote {len(manifest['files'])} {manifest['format']} files ({manifest['dim']}-d, {manifest['fps']:g} fps, "
        f"{manifest['rot6d_layout']}; {retargeted} retargeted onto smplx22) and "
        f"{Path(args.output) / MANIFEST_NAME}"
    )
    return 0
