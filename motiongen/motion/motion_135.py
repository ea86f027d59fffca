"""SMPL ``motion_135`` (HFTrainer/Motius, HY-Motion convention; reference representations.md 3.1).

A ``[T, 135]`` float32 array at 30 fps, Y up, metres:

* ``[0:3]``: the SMPL ``trans`` parameter, ``pelvis - J_0`` where ``J_0`` is the rest pelvis of the
  declared body (our ``smplx22`` rest pose from the KIMODO assets: ``skeleton.offsets[0]``);
* ``[3:135]``: 22 local rotations in the **I6** 6D layout (reference 0.1), SMPL-22 joint order,
  joint 0 the global pelvis orientation, the others relative to their parent.

I6 stores the 3x2 block ``[column 0, column 1]`` of a rotation matrix read row by row:
``(R00, R01, R10, R11, R20, R21)``; identity is ``(1, 0, 0, 1, 0, 0)``. It is *not* the C6 layout our
KIMODO features and SMoG's own "motion_135" frames use (:mod:`motiongen.models.smog.features`): the
two share a width and nothing else. The array carries no layout tag, so files that store it should
store :data:`MOTION_135_LAYOUT` beside it.
"""

from __future__ import annotations

import numpy as np
import torch

from motiongen.errors import InputError
from motiongen.geometry import rotation_6d_to_matrix
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import SMPLX22_JOINTS
from motiongen.skeleton.skeleton import Skeleton

Array = np.ndarray | torch.Tensor

#: The 6D layout of ``motion_135`` rotations (reference 0.1); store it beside every file.
MOTION_135_LAYOUT = "I6"
#: Frame rate of ``motion_135``.
MOTION_135_FPS = 30.0
MOTION_135_JOINTS = tuple(name for name, _ in SMPLX22_JOINTS)
MOTION_135_DIM = 3 + 6 * len(MOTION_135_JOINTS)

# I6 (R00, R01, R10, R11, R20, R21) -> C6 (R00, R10, R20, R01, R11, R21): columns 0 then 1
_I6_TO_C6 = [0, 2, 4, 1, 3, 5]


def matrix_to_rotation_6d_i6(matrix: Array) -> Array:
    """Rotation matrices ``[..., 3, 3]`` to I6 ``[..., 6]``: ``(R00, R01, R10, R11, R20, R21)``.

    numpy in gives numpy out, torch in gives torch out (differentiable).
    """
    if tuple(matrix.shape[-2:]) != (3, 3):
        raise InputError(f"expected rotation matrices [..., 3, 3], got shape {tuple(matrix.shape)}", field="matrix")
    return matrix[..., :, :2].reshape(tuple(matrix.shape[:-2]) + (6,))


def rotation_6d_i6_to_matrix(rot6d: Array) -> Array:
    """I6 ``[..., 6]`` to rotation matrices ``[..., 3, 3]`` (Gram-Schmidt on the two stored columns).

    Column 0 is ``a = (d0, d2, d4)`` normalised, column 1 the part of ``b = (d1, d3, d5)`` orthogonal
    to it, column 2 their cross product, so unnormalised network outputs decode to rotations.
    """
    if rot6d.shape[-1] != 6:
        raise InputError(f"expected I6 rotations [..., 6], got shape {tuple(rot6d.shape)}", field="rot6d")
    return rotation_6d_to_matrix(rot6d[..., _I6_TO_C6])


def is_motion_135_skeleton(skeleton: Skeleton) -> bool:
    """Whether ``skeleton`` has the SMPL-22 joints and parents in ``motion_135`` order."""
    expected_parents = tuple(-1 if p is None else MOTION_135_JOINTS.index(p) for _, p in SMPLX22_JOINTS)
    return skeleton.joint_names == MOTION_135_JOINTS and skeleton.parents == expected_parents


def _require_smpl22(skeleton: Skeleton, field: str) -> None:
    if not is_motion_135_skeleton(skeleton):
        raise InputError(
            f"motion_135 holds the 22 SMPL joints (skeleton 'smplx22'); got skeleton '{skeleton.name}' with "
            f"{skeleton.num_joints} joints. Retarget first: motiongen.retarget.kimodo.KIMODOSOMAToSMPLRetargeter "
            "for SOMA, motiongen.retarget.registered.retarget_to(motion, 'smplx22') for mocap rigs",
            field=field,
        )


def motion_to_motion_135(motion: Motion) -> np.ndarray:
    """``motion_135 [T', 135]`` float32 of an ``smplx22`` motion, resampled to 30 fps.

    ``trans = pelvis - J_0`` with ``J_0 = motion.skeleton.offsets[0]`` (the rest pelvis of the body the
    motion is on); rotations are the local ones in I6. ``T'`` is ``T`` at 30 fps, else the resampled
    count (:meth:`Motion.resample`).
    """
    _require_smpl22(motion.skeleton, "skeleton")
    motion = motion.resample(MOTION_135_FPS)
    trans = motion.root_translation - motion.skeleton.offsets[0]
    rotations = matrix_to_rotation_6d_i6(motion.local_rotations).reshape(motion.num_frames, -1)
    return np.concatenate([trans, rotations], axis=-1).astype(np.float32)


def motion_135_to_motion(
    frames: np.ndarray, skeleton: Skeleton, *, layout: str = MOTION_135_LAYOUT, fps: float = MOTION_135_FPS
) -> Motion:
    """A :class:`Motion` on ``skeleton`` (the declared ``smplx22`` body) from ``motion_135 [T, 135]``.

    Args:
        frames: ``[T, 135]`` (``T >= 1``), finite.
        skeleton: the body the data was made for; the pelvis is placed at ``trans + skeleton.offsets[0]``.
        layout: the stored 6D layout; only ``"I6"`` is ``motion_135``'s, anything else is refused
            (reading C6 or R6 data as I6 gives plausible, wrong rotations).
        fps: the data's frame rate (``motion_135`` is 30 fps).
    """
    if layout != MOTION_135_LAYOUT:
        raise InputError(
            f"unknown 6D layout '{layout}'; motion_135 stores '{MOTION_135_LAYOUT}' (see representations.md 0.1)",
            field="layout",
        )
    _require_smpl22(skeleton, "skeleton")
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.shape[1] != MOTION_135_DIM or frames.shape[0] < 1:
        raise InputError(f"has shape {frames.shape}; expected [T >= 1, {MOTION_135_DIM}]", field="motion_135")
    if not np.issubdtype(frames.dtype, np.number):
        raise InputError(f"has dtype {frames.dtype}; expected numbers", field="motion_135")
    bad_rows = np.flatnonzero(~np.isfinite(frames).all(-1))
    if bad_rows.size:
        raise InputError(f"has NaN or inf in frames {bad_rows[:10].tolist()}"
                         + (f" and {bad_rows.size - 10} more" if bad_rows.size > 10 else ""), field="motion_135")
    frames = frames.astype(np.float64)
    rotations = rotation_6d_i6_to_matrix(frames[:, 3:].reshape(frames.shape[0], -1, 6))
    return Motion(
        local_rotations=rotations,
        root_translation=frames[:, :3] + skeleton.offsets[0],
        fps=fps,
        skeleton=skeleton,
        meta={"rot6d_layout": MOTION_135_LAYOUT},
    )
