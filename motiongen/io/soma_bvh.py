"""KIMODO-style SOMA BVH files (reference 5.4): the BVH that KIMODO's CLI and demo export and that
its own tools (``kimodo/skeleton/bvh.py``) read.

Layout written (centimetres, Y up, +Z forward: our world, so no axis conversion):

* ``ROOT Root``: OFFSET 0, channels ``Xposition Yposition Zposition Zrotation Yrotation Xrotation``,
  zero on every frame;
* ``JOINT Hips``: the nominal OFFSET ``(0, 100, 0)`` cm and 6 channels; its position channels hold
  the pelvis position (x 100), which replaces the OFFSET (Blender and our reader do so; a reader that
  adds the OFFSET lifts the body by 1 m);
* the other 76 SOMA77 joints in ``somaskel77`` order, ``OFFSET = (bvh_joints[j] - bvh_joints[p]) x 100``
  and channels ``Zrotation Yrotation Xrotation`` (intrinsic, degrees);
* no End Sites; ``Frame Time = 1 / fps``.

Rotations are in the "standard T-pose" frames: with ``O`` = ``standard_t_pose_global_offsets_rots``,
``G'_j = G_j O_j`` and ``L'_j = G'_parent^T G'_j`` (``L'_Hips = G'_Hips``), so that the file's own FK
(``p_j = p_p + G'_p bvh_offset_j``) puts every joint where our FK does. A ``soma30`` motion is
expanded to ``soma77`` first, as KIMODO does (:func:`~motiongen.io.kimodo_npz.soma30_to_soma77`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motiongen.errors import InputError
from motiongen.io.atomic import atomic_write_text
from motiongen.io.bvh import (
    _channel_values,
    _check_writable,
    _frame_time_text,
    _frames_text,
    hierarchy_text,
    read_bvh,
)
from motiongen.io.kimodo_npz import soma30_to_soma77
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import (
    default_assets_dir,
    load_kimodo_skeleton,
    load_soma_standard_tpose,
)
from motiongen.skeleton.skeleton import Skeleton

ROOT_NAME = "Root"
HIPS_NAME = "Hips"
#: The Hips OFFSET KIMODO writes instead of its real rest offset (0): 1 m up, in metres.
HIPS_NOMINAL_OFFSET = (0.0, 1.0, 0.0)
CM = 0.01
_SIX_CHANNELS = ["Xposition", "Yposition", "Zposition", "Zrotation", "Yrotation", "Xrotation"]
_ROTATION_CHANNELS = ["Zrotation", "Yrotation", "Xrotation"]


def _orthonormal(rotations: np.ndarray) -> np.ndarray:
    """The nearest rotation matrices ``[..., 3, 3]`` (the asset's ``O`` is stored as float32)."""
    u, _, vt = np.linalg.svd(rotations)
    return u @ vt


def _soma77(assets_dir: Path | None) -> Skeleton:
    if assets_dir is not None:
        return load_kimodo_skeleton("soma77", assets_dir)
    from motiongen.skeleton.registry import get_skeleton

    return get_skeleton("soma77")


def standard_tpose(assets_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """SOMA77 BVH rest positions ``[77, 3]`` (metres) and standard-frame rotations ``O [77, 3, 3]``
    (orthonormalised) from the ``kimodo-assets`` folder (default: the archive's)."""
    assets = Path(assets_dir) if assets_dir is not None else default_assets_dir()
    positions, rotations = load_soma_standard_tpose(assets)
    return positions, _orthonormal(rotations)


# ------------------------------------------------------------------------------------------------
# writing


def soma_bvh_motion(motion: Motion, assets_dir: str | Path | None = None) -> Motion:
    """The 78-joint motion (``Root`` + SOMA77) a KIMODO-style BVH holds, in standard T-pose frames.

    Args:
        motion: ``[T, 30]`` on ``soma30`` or ``[T, 77]`` on ``soma77`` (our convention).
        assets_dir: ``kimodo-assets`` folder (default: the archive's).

    Returns:
        Motion on skeleton ``soma77_bvh``: offsets are the BVH's (``Root`` 0, ``Hips`` the nominal
        1 m, others in the parent's standard frame), local rotations ``L'`` (``Root`` identity),
        root translation 0, and ``joint_translations`` holding the pelvis on the ``Hips`` row (NaN
        elsewhere).

    Raises:
        InputError: a motion on another rig.
    """
    assets = Path(assets_dir) if assets_dir is not None else None
    name = motion.skeleton.name if isinstance(motion, Motion) else type(motion).__name__
    if not isinstance(motion, Motion) or name not in ("soma30", "soma77"):
        raise InputError(
            f"a SOMA BVH holds a motion on 'soma30' or 'soma77', got '{name}'; retarget it first "
            "(motiongen.retarget.registered.retarget_to)",
            field="skeleton",
        )
    _check_writable(motion)
    if name == "soma30":
        motion = soma30_to_soma77(motion, assets, skeleton77=_soma77(assets))
    rig = motion.skeleton
    bvh_rest, frames = standard_tpose(assets)
    if rig.num_joints != len(bvh_rest):
        raise InputError(f"skeleton 'soma77' has {rig.num_joints} joints; expected {len(bvh_rest)}", field="skeleton")

    global_rot, positions = motion.forward_kinematics()
    standard = global_rot @ frames  # G'_j = G_j O_j
    parents = np.array(rig.parents)
    local = np.swapaxes(standard[:, np.maximum(parents, 0)], -1, -2) @ standard
    local[:, 0] = standard[:, 0]

    count = motion.num_frames
    offsets = np.zeros((rig.num_joints + 1, 3))
    offsets[1] = HIPS_NOMINAL_OFFSET
    offsets[2:] = bvh_rest[1:] - bvh_rest[parents[1:]]
    skeleton = Skeleton(
        name="soma77_bvh",
        joint_names=(ROOT_NAME,) + rig.joint_names,
        parents=(-1,) + tuple(p + 1 for p in rig.parents),
        offsets=offsets,
    )
    joint_translations = np.full((count, skeleton.num_joints, 3), np.nan)
    joint_translations[:, 1] = positions[:, 0]
    return Motion(
        local_rotations=np.concatenate([np.broadcast_to(np.eye(3), (count, 1, 3, 3)), local], axis=1),
        root_translation=np.zeros((count, 3)),
        fps=motion.fps,
        skeleton=skeleton,
        joint_translations=joint_translations,
        # no source "bvh" layout: its Frame Time would replace 1 / fps
        meta={key: value for key, value in motion.meta.items() if key != "bvh"},
    )


def write_soma_bvh(
    motion: Motion, path: str | Path, *, assets_dir: str | Path | None = None, decimals: int = 6
) -> Path:
    """Write a ``soma30``/``soma77`` motion as KIMODO's SOMA BVH (module docstring); returns the path.

    No axis conversion (the file is Y up, +Z forward like our world); lengths in centimetres, angles
    in degrees (ZYX, standard T-pose frames), ``decimals`` places like KIMODO's 6. The file is written
    to a temporary file beside ``path`` and renamed when complete.

    Raises:
        InputError: another rig, non-finite or non-rotation values, bad ``decimals``.
    """
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or not 0 <= decimals <= 12:
        raise InputError(f"decimals must be an integer in 0..12, got {decimals!r}", field="decimals")
    bvh_motion = soma_bvh_motion(motion, assets_dir)
    channels = [_SIX_CHANNELS, _SIX_CHANNELS] + [_ROTATION_CHANNELS] * (bvh_motion.skeleton.num_joints - 2)
    values = _channel_values(bvh_motion, channels, CM)
    assert values is not None  # every animated value has its channel
    text = hierarchy_text(bvh_motion.skeleton, channels, CM, decimals, end_sites=None)  # KIMODO strips End Sites
    text += f"MOTION\nFrames: {bvh_motion.num_frames}\nFrame Time: {_frame_time_text(bvh_motion)}\n"
    text += _frames_text(values, decimals)
    atomic_write_text(Path(path), text)
    return Path(path)


# ------------------------------------------------------------------------------------------------
# reading


def read_soma_bvh(
    path: str | Path,
    skeleton: Skeleton | None = None,
    *,
    assets_dir: str | Path | None = None,
    units: str | float = "cm",
) -> Motion:
    """Read a SOMA BVH (KIMODO's export, or a SEED-style file) into a ``soma77`` Motion, our convention.

    The file's own FK gives each joint's global rotation ``G'`` and the pelvis position (so a
    ``Root`` above ``Hips`` is folded in and then dropped); rotations go back to our frames with
    ``G = G' O^T`` and to local ones on ``soma77``. Whether the file uses the standard T-pose frames
    or world-aligned frames (a ``soma77`` file from the generic :func:`~motiongen.io.bvh.write_bvh`)
    is told by its OFFSET directions, which differ by ``O_parent`` between the two. Bone lengths are
    the rig's; the file's are not used.

    Args:
        path: the ``.bvh`` file.
        skeleton: the ``soma77`` rig (default: the registered one, or the one in ``assets_dir``).
        assets_dir: ``kimodo-assets`` folder (default: the archive's).
        units: the file's length unit (KIMODO's: centimetres); see :func:`~motiongen.io.bvh.read_bvh`.

    Returns:
        Motion ``[T, 77]`` on ``soma77``; ``meta["soma_bvh_frames"]`` is ``"standard_tpose"`` or
        ``"world"``.

    Raises:
        InputError: a malformed BVH, or a hierarchy that is not SOMA77's (missing joints, other
            parents).
    """
    path = Path(path)
    assets = Path(assets_dir) if assets_dir is not None else None
    rig = skeleton if skeleton is not None else _soma77(assets)
    source = read_bvh(path, units=units)
    file_rig = source.skeleton
    index = _file_indices(file_rig, rig, path)

    bvh_rest, frames = standard_tpose(assets)
    if rig.num_joints != len(bvh_rest):
        raise InputError(f"skeleton '{rig.name}' has {rig.num_joints} joints; expected SOMA77's {len(bvh_rest)}", field="skeleton")
    standard_offsets = bvh_rest - bvh_rest[np.maximum(np.array(rig.parents), 0)]
    uses_standard = _closer_in_direction(file_rig.offsets[index[1:]], standard_offsets[1:], rig.offsets[1:])
    if not uses_standard:
        frames = np.broadcast_to(np.eye(3), frames.shape)

    global_file, positions_file = source.forward_kinematics()
    global_rot = global_file[:, index] @ np.swapaxes(frames, -1, -2)  # G = G' O^T
    meta = {"source": str(path), "soma_bvh_frames": "standard_tpose" if uses_standard else "world"}
    return Motion(
        local_rotations=rig.global_to_local(global_rot),
        root_translation=positions_file[:, index[0]],
        fps=source.fps,
        skeleton=rig,
        meta=meta,
    )


def _file_indices(file_rig: Skeleton, rig: Skeleton, path: Path) -> list[int]:
    """Index in the file of each of ``rig``'s joints; the file's parents must be the rig's (a
    ``Root`` above the rig's root is allowed)."""
    names = set(file_rig.joint_names)
    missing = [name for name in rig.joint_names if name not in names]
    if missing:
        raise InputError(
            f"is not a SOMA77 BVH: it lacks {len(missing)} of the {rig.num_joints} joints of '{rig.name}' "
            f"(first: {', '.join(missing[:5])})",
            path=path,
        )
    index = file_rig.indices(rig.joint_names)
    for joint, parent in enumerate(rig.parents):
        file_parent = file_rig.parents[index[joint]]
        expected = index[parent] if parent >= 0 else None
        if parent >= 0 and file_parent != expected:
            found = file_rig.joint_names[file_parent] if file_parent >= 0 else "none"
            raise InputError(
                f"joint '{rig.joint_names[joint]}' has parent '{found}'; SOMA77 has '{rig.joint_names[parent]}'",
                path=path,
            )
        if parent < 0 and file_parent >= 0 and file_rig.parents[file_parent] >= 0:
            raise InputError(
                f"the root joint '{rig.joint_names[joint]}' sits {_depth(file_rig, index[joint])} joints deep; "
                "at most one joint (Root) may be above it",
                path=path,
            )
    return index


def _depth(skeleton: Skeleton, joint: int) -> int:
    depth = 0
    while skeleton.parents[joint] >= 0:
        joint = skeleton.parents[joint]
        depth += 1
    return depth


def _closer_in_direction(offsets: np.ndarray, standard: np.ndarray, world: np.ndarray) -> bool:
    """Whether the file's offsets ``[N, 3]`` point along the standard-frame ones rather than the
    world-aligned ones (summed cosines over bones long enough to have a direction)."""

    def unit(vectors: np.ndarray) -> np.ndarray:
        length = np.linalg.norm(vectors, axis=-1, keepdims=True)
        return np.where(length > 1e-6, vectors / np.maximum(length, 1e-12), 0.0)

    file_dirs = unit(offsets)
    return float((file_dirs * unit(standard)).sum()) >= float((file_dirs * unit(world)).sum())
