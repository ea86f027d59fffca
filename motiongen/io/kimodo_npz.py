"""KIMODO motion ``.npz`` files (reference 5.1), in and out of :class:`Motion`.

Layouts read:

* CLI (7 keys): ``posed_joints [T,J,3]``, ``global_rot_mats [T,J,3,3]``, ``local_rot_mats [T,J,3,3]``,
  ``root_positions [T,3]``, ``smooth_root_pos [T,3]``, ``global_root_heading [T,2]``,
  ``foot_contacts [T,4]`` bool;
* demo "Save Motion" (4 keys): ``posed_joints``, ``global_rot_mats``, ``local_rot_mats``, ``foot_contacts``;
* the shipped examples (3 keys, no ``local_rot_mats``, SOMA on 30 joints).

``joints_pos`` / ``joints_rot`` are accepted for ``posed_joints`` / ``global_rot_mats``, and every
array may carry a leading batch dimension of 1. Files use KIMODO's world, which is ours (Y up, +Z
forward, metres), at 30 fps; nothing is converted.

Files we write also hold ``motiongen_skeleton``: the rig as JSON (``Skeleton.to_dict``), so a motion
on any rig reads back on its own skeleton; KIMODO's readers ignore the extra key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError
from motiongen.io.atomic import atomic_write
from motiongen.io.npz import load_npz_arrays
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import (
    KIMODO_RIG_BY_JOINT_COUNT,
    default_assets_dir,
    load_kimodo_skeleton,
    load_relaxed_hands_rest_pose,
)
from motiongen.skeleton.skeleton import Skeleton

SKELETON_KEY = "motiongen_skeleton"

#: The keys ``write_kimodo_npz`` writes, in KIMODO's CLI order.
KIMODO_NPZ_KEYS = (
    "posed_joints",
    "global_rot_mats",
    "local_rot_mats",
    "root_positions",
    "smooth_root_pos",
    "global_root_heading",
    "foot_contacts",
)
_ALIASES = {"posed_joints": "joints_pos", "global_rot_mats": "joints_rot"}
KIMODO_FPS = 30.0


def _kimodo_skeleton(name: str, assets_dir: str | Path | None) -> Skeleton:
    if assets_dir is not None:
        return load_kimodo_skeleton(name, assets_dir)
    from motiongen.skeleton.registry import get_skeleton

    return get_skeleton(name)


def _array(arrays: Mapping[str, np.ndarray], key: str, path: Path, required: bool) -> np.ndarray | None:
    """``key`` (or its alias) without a leading batch dimension of 1."""
    name = key if key in arrays else _ALIASES.get(key, key)
    if name not in arrays:
        if required:
            raise InputError(
                f"lacks '{key}'" + (f" (or '{_ALIASES[key]}')" if key in _ALIASES else "")
                + f"; keys present: {', '.join(sorted(arrays)) or 'none'}",
                path=path,
                field=key,
            )
        return None
    value = arrays[name]
    core_ndim = {"posed_joints": 3, "global_rot_mats": 4, "local_rot_mats": 4, "foot_contacts": 2}[key]
    if value.ndim == core_ndim + 1:
        if value.shape[0] != 1:
            raise InputError(
                f"holds a batch of {value.shape[0]} motions (shape {value.shape}); one motion per file is supported",
                path=path,
                field=name,
            )
        value = value[0]
    if value.ndim != core_ndim:
        raise InputError(f"has shape {value.shape}; expected {core_ndim} dimensions (or a batch of 1)", path=path, field=name)
    if key == "foot_contacts" and value.dtype == bool:
        return value
    if not (np.issubdtype(value.dtype, np.number) and np.isfinite(value).all()):
        raise InputError(f"must hold finite numbers (dtype {value.dtype})", path=path, field=name)
    return value


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    return load_npz_arrays(path, "a KIMODO .npz archive of named arrays")


def read_kimodo_npz(
    path: str | Path,
    skeleton: Skeleton | None = None,
    *,
    assets_dir: str | Path | None = None,
    fps: float = KIMODO_FPS,
) -> Motion:
    """Read a KIMODO ``.npz`` (any layout in the module docstring) into a Motion.

    Args:
        path: the file.
        skeleton: the rig; inferred from ``J`` when omitted (22 ``smplx22``, 30 ``soma30``, 77
            ``soma77``, 34 ``g1``). A 30-joint file read with the ``soma77`` rig is expanded to 77
            joints (:func:`soma30_to_soma77`).
        assets_dir: the ``kimodo-assets`` folder for inferred rigs and the SOMA expansion; default
            the registry's (the archives in ``$MOTIONGEN_DATA`` or ``../shared/data``).
        fps: frame rate (the files do not store one; KIMODO's is 30).

    Returns:
        Motion with ``local_rotations [T,J,3,3]`` (``local_rot_mats``, else ``parent^T global``),
        ``root_translation = posed_joints[:, 0]`` and the file's ``foot_contacts``.
    """
    path = Path(path)
    arrays = _load_arrays(path)
    positions = _array(arrays, "posed_joints", path, required=True)
    global_rot = _array(arrays, "global_rot_mats", path, required=False)
    local_rot = _array(arrays, "local_rot_mats", path, required=False)
    contacts = _array(arrays, "foot_contacts", path, required=False)
    t, j = positions.shape[:2]
    if positions.shape != (t, j, 3) or t == 0:
        raise InputError(f"has shape {positions.shape}; expected [T >= 1, J, 3]", path=path, field="posed_joints")
    for key, value in (("global_rot_mats", global_rot), ("local_rot_mats", local_rot)):
        if value is not None and value.shape != (t, j, 3, 3):
            raise InputError(f"has shape {value.shape}; expected [{t}, {j}, 3, 3] like posed_joints", path=path, field=key)
    if local_rot is None and global_rot is None:
        raise InputError("holds neither 'local_rot_mats' nor 'global_rot_mats'; one is needed", path=path, field="global_rot_mats")
    if contacts is not None and contacts.shape != (t, 4):
        raise InputError(f"has shape {contacts.shape}; expected [{t}, 4]", path=path, field="foot_contacts")

    if skeleton is None and SKELETON_KEY in arrays:
        try:
            skeleton = Skeleton.from_dict(json.loads(str(arrays[SKELETON_KEY])))
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise InputError(f"unreadable skeleton description ({exc})", path=path, field=SKELETON_KEY) from None
    # SOMA files may hold the model's 30 joints; asked for 77, read them on soma30 and expand
    expand = skeleton is not None and skeleton.name == "soma77" and j == 30
    if skeleton is None or expand:
        if j not in KIMODO_RIG_BY_JOINT_COUNT:
            counts = ", ".join(f"{n} ({name})" for n, name in KIMODO_RIG_BY_JOINT_COUNT.items())
            raise InputError(f"has {j} joints; a KIMODO rig has {counts}; pass the skeleton", path=path, field="posed_joints")
        rig = _kimodo_skeleton(KIMODO_RIG_BY_JOINT_COUNT[j], assets_dir)
    else:
        rig = skeleton
    if rig.num_joints != j:
        raise InputError(
            f"has {j} joints but skeleton '{rig.name}' has {rig.num_joints}", path=path, field="posed_joints"
        )
    if local_rot is None:
        local_rot = rig.global_to_local(np.asarray(global_rot, dtype=np.float64))
    motion = Motion(
        local_rotations=local_rot,
        root_translation=positions[:, 0],
        fps=fps,
        skeleton=rig,
        # bool in KIMODO's files; numeric contacts are thresholded as KIMODO decodes them
        foot_contacts=None if contacts is None else (contacts if contacts.dtype == bool else contacts > 0.5),
        meta={"source": str(path)},
    )
    return soma30_to_soma77(motion, assets_dir, skeleton77=skeleton) if expand else motion


def soma30_to_soma77(motion: Motion, assets_dir: str | Path | None = None, *, skeleton77: Skeleton | None = None) -> Motion:
    """Expand a SOMA30 motion to SOMA77 as KIMODO does (reference 3.3).

    Every frame starts from ``relaxed_hands_rest_pose``; the 30 local rotations are written into their
    namesake joints and the root translation is kept. Shared joints keep their positions, except the
    SOMA30 hand end points (``*HandThumbEnd``, ``*HandMiddleEnd``), which hang straight off the wrist
    in SOMA30 but end the relaxed, curled fingers in SOMA77.

    Args:
        motion: ``[T, 30]`` motion on ``soma30``.
        assets_dir: ``kimodo-assets`` folder (default: the registry's archive).
        skeleton77: the ``soma77`` rig, if already loaded.
    """
    if motion.skeleton.name != "soma30":
        raise InputError(f"expected a motion on 'soma30', got '{motion.skeleton.name}'", field="skeleton")
    assets = Path(assets_dir) if assets_dir is not None else default_assets_dir()
    rig77 = skeleton77 if skeleton77 is not None else load_kimodo_skeleton("soma77", assets)
    relaxed = load_relaxed_hands_rest_pose(assets)
    local = np.broadcast_to(relaxed, (motion.num_frames,) + relaxed.shape).copy()
    local[:, rig77.indices(motion.skeleton.joint_names)] = motion.local_rotations
    return Motion(
        local_rotations=local,
        root_translation=motion.root_translation,
        fps=motion.fps,
        skeleton=rig77,
        foot_contacts=motion.foot_contacts,
        meta=dict(motion.meta),
    )


def _root_features(motion: Motion, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``smooth_root_pos [T, 3]``, ``global_root_heading [T, 2]`` (cos, sin) and contacts ``[T, 4]``."""
    from motiongen.motion.kimodo_features import (
        foot_contacts_from_positions,
        root_heading,
        smooth_root_position,
    )

    pelvis = positions[:, 0]
    smooth_xz = smooth_root_position(pelvis[:, [0, 2]])
    # y of the smooth root is the raw pelvis height (reference 2.1)
    smooth = np.stack([smooth_xz[:, 0], pelvis[:, 1], smooth_xz[:, 1]], axis=-1)
    angle = root_heading(positions, motion.skeleton)
    heading = np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    contacts = motion.foot_contacts
    if contacts is None:
        contacts = foot_contacts_from_positions(positions, motion.skeleton, motion.fps)
    return smooth, heading, contacts


def kimodo_arrays(motion: Motion) -> dict[str, np.ndarray]:
    """KIMODO's 7 arrays of ``motion`` at its own frame rate (float64 and bool contacts).

    ``smooth_root_pos`` and ``global_root_heading`` are computed from the joint positions as
    KIMODO's features define them; ``foot_contacts`` are the motion's, else the velocity/height
    heuristic.
    """
    global_rot, positions = motion.forward_kinematics()
    smooth, heading, contacts = _root_features(motion, positions)
    return {
        "posed_joints": positions,
        "global_rot_mats": global_rot,
        "local_rot_mats": motion.local_rotations,
        "root_positions": positions[:, 0],
        "smooth_root_pos": smooth,
        "global_root_heading": heading,
        "foot_contacts": contacts,
    }


def write_kimodo_npz(motion: Motion, path: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``motion`` in KIMODO's 7-key CLI layout (float32, bool contacts); returns the path.

    The layout has no frame rate and means 30 fps, so other rates are resampled to 30 first. No axis
    conversion: the layout uses our world (Y up, +Z forward, metres). The arrays are
    :func:`kimodo_arrays`'. The file is written to a temporary name in the same folder and renamed
    when complete.
    """
    motion = motion.resample(KIMODO_FPS)
    return save_kimodo_arrays(kimodo_arrays(motion), motion.skeleton, path, extra=extra)


def save_kimodo_arrays(
    arrays: Mapping[str, np.ndarray], skeleton: Skeleton, path: str | Path, *, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write the 7 KIMODO arrays of one motion (``[T, ...]``, float32 and bool contacts) plus the rig.

    The writer behind :func:`write_kimodo_npz`, for callers that already hold the arrays (a model's
    own smooth root and heading). Temporary file, renamed when complete; returns the path.
    """
    path = Path(path)
    missing = sorted(set(KIMODO_NPZ_KEYS) - set(arrays))
    if missing:
        raise InputError(f"missing KIMODO arrays {missing}", field="arrays")
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(KIMODO_NPZ_KEYS + (SKELETON_KEY,)))
    if clash:
        raise InputError(f"extra arrays may not replace the KIMODO keys {clash}", field="extra")
    out: dict[str, np.ndarray] = {
        key: np.asarray(arrays[key], dtype=bool if key == "foot_contacts" else np.float32) for key in KIMODO_NPZ_KEYS
    }
    out[SKELETON_KEY] = np.array(skeleton.to_json())
    for key, value in extra.items():
        out[key] = np.asarray(value)
    atomic_write(path, lambda handle: np.savez(handle, **out))
    return path
