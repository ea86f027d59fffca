"""MotionStreamer-272 features (Xiao et al., ICCV 2025; reference ``representations.md`` section 2).

``[T, 272]`` rows at **30 fps**, one per frame, from SMPL-22 joint positions and local rotations:

| dims | size | row 0 | row ``t >= 1`` |
|---|---|---|---|
| 0:2 | 2 | 0, 0 | root displacement ``t-1 -> t`` (x, z) in the heading frame of frame ``t - 1`` |
| 2:8 | 6 | identity | **R6** of the heading change ``Ry(h_t - h_{t-1})`` |
| 8:74 | 66 | ``N_0`` | heading-free positions ``N_t`` of all 22 joints (root entry ``(0, height, 0)``) |
| 74:140 | 66 | 0 | ``N_t - N_{t-1}`` |
| 140:272 | 132 | R6 of the rotations | **R6** of the local rotations of joints 0..21 (pelvis heading-free) |

The heading is the pelvis's own +Z axis, per frame and unsmoothed: ``h_t = -atan2(R0[0, 2], R0[2, 2])``.
R6 stores rows 0 then 1 of each matrix (``R00, R01, R02, R10, R11, R12``); reading it as C6 would give
the inverse rotations. The body keeps its own proportions (no retargeting), so the features of a
motion depend on its skeleton. Decoding returns the motion floored, with its frame-0 root at the XZ
origin and facing +Z (the format canonicalises; :func:`ms272_canonical_motion` gives that reference).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from motiongen.errors import InputError
from motiongen.features.common import (
    SMPL22_NUM_JOINTS,
    matrix_to_r6,
    r6_to_matrix,
    require_frames,
    require_smpl22,
    rotation_y,
)
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

MS272_FPS = 30.0
MS272_DIM = 272
#: 6D layout of the heading and rotation blocks (reference 0.1): rows 0 then 1.
MS272_LAYOUT = "R6"

#: The five blocks; ``Std.npy`` holds one value per block (reference 2.7).
MS272_BLOCKS: dict[str, slice] = {
    "root_velocity": slice(0, 2),
    "heading_delta": slice(2, 8),
    "positions": slice(8, 74),
    "velocities": slice(74, 140),
    "rotations": slice(140, 272),
}
#: Feet used by the reference's (discarded) contact labels: left and right foot.
CONTACT_JOINTS = (10, 11)

_R6_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
_XZ = np.array([1.0, 0.0, 1.0])


def pelvis_heading(root_rotations: np.ndarray) -> np.ndarray:
    """Heading angles ``h [...]`` of pelvis orientations ``[..., 3, 3]``: ``-atan2(R02, R22)``.

    ``Ry(h)`` turns the pelvis's +Z axis onto world +Z (in the ground plane).
    """
    return -np.arctan2(root_rotations[..., 0, 2], root_rotations[..., 2, 2])


def positions_rotations_to_ms272(positions: np.ndarray, local_rotations: np.ndarray) -> np.ndarray:
    """MotionStreamer-272 features ``[T, 272]`` (float64) from joints and rotations (reference 2.5).

    Args:
        positions: ``[T, 22, 3]`` SMPL-22 joint positions (a rigid FK of the body), metres, Y up.
        local_rotations: ``[T, 22, 3, 3]``; joint 0 the global pelvis orientation, others parent-relative.
    """
    positions = np.asarray(positions, dtype=np.float64)
    local_rotations = np.asarray(local_rotations, dtype=np.float64)
    frames = positions.shape[0]
    if positions.shape != (frames, SMPL22_NUM_JOINTS, 3) or frames < 1:
        raise InputError(f"has shape {positions.shape}; expected [T >= 1, 22, 3]", field="positions")
    if local_rotations.shape != (frames, SMPL22_NUM_JOINTS, 3, 3):
        raise InputError(f"has shape {local_rotations.shape}; expected [{frames}, 22, 3, 3]", field="local_rotations")

    origin = positions[0, 0].copy()
    origin[1] = positions[..., 1].min()
    positions = positions - origin
    root_step = positions[1:, 0] - positions[:-1, 0]
    local = positions - positions[:, :1] * _XZ

    heading = pelvis_heading(local_rotations[:, 0])
    heading_matrix = rotation_y(heading)
    heading_delta = rotation_y(heading[1:] - heading[:-1])
    heading_free = np.einsum("tij,tkj->tki", heading_matrix, local)
    rotations = local_rotations.copy()
    rotations[:, 0] = heading_matrix @ rotations[:, 0]

    out = np.zeros((frames, MS272_DIM))
    out[1:, 0:2] = np.einsum("tij,tj->ti", heading_matrix[:-1], root_step)[:, [0, 2]]
    out[0, 2:8] = _R6_IDENTITY
    out[1:, 2:8] = matrix_to_r6(heading_delta)
    out[:, MS272_BLOCKS["positions"]] = heading_free.reshape(frames, -1)
    out[1:, MS272_BLOCKS["velocities"]] = (heading_free[1:] - heading_free[:-1]).reshape(frames - 1, -1)
    out[:, MS272_BLOCKS["rotations"]] = matrix_to_r6(rotations).reshape(frames, -1)
    return out


def motion_to_ms272(motion: Motion) -> np.ndarray:
    """MotionStreamer-272 features ``[T', 272]`` float32 of an ``smplx22`` motion at 30 fps.

    Resampled to 30 fps if needed (slerp), then FK positions plus the motion's own local rotations
    (no IK, exact and invertible: :func:`ms272_to_motion` on the same skeleton gives back
    :func:`ms272_canonical_motion`). The features do not depend on where the motion starts or which
    way it faces.
    """
    require_smpl22(motion, "MotionStreamer-272")
    motion = motion.resample(MS272_FPS)
    return positions_rotations_to_ms272(motion.joint_positions(), motion.local_rotations).astype(np.float32)


def ms272_canonical_motion(motion: Motion) -> Motion:
    """``motion`` as the 272 format returns it: turned by ``Ry(h_0)`` about the origin so frame 0 faces
    +Z (the face-Z step, reference 2.3), floored, with the frame-0 root at the XZ origin.

    Decoding the features of a motion gives this motion (for the same skeleton and frame rate).
    """
    require_smpl22(motion, "MotionStreamer-272")
    turn = rotation_y(pelvis_heading(motion.local_rotations[0, 0]))
    rotations = motion.local_rotations.copy()
    rotations[:, 0] = turn @ rotations[:, 0]
    turned = replace(motion, local_rotations=rotations, root_translation=motion.root_translation @ turn.T,
                     meta=dict(motion.meta))
    positions = turned.joint_positions()
    origin = positions[0, 0] * _XZ
    origin[1] = positions[..., 1].min()
    return replace(turned, root_translation=turned.root_translation - origin)


def ms272_root(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accumulated heading ``G [..., T, 3, 3]`` (``Ry(h_t - h_0)``) and root positions ``[..., T, 3]``.

    ``G_t = R6^-1(d[t, 2:8]) G_{t-1}``; root steps ``G_{t-1}^T (d[t, 0], 0, d[t, 1])`` summed; the
    height is the root entry of the position block (reference 2.6).
    """
    features = require_frames(features, MS272_DIM, "features")
    deltas = r6_to_matrix(features[..., 2:8])
    heading = np.empty_like(deltas)
    heading[..., 0, :, :] = deltas[..., 0, :, :]
    for t in range(1, features.shape[-2]):
        heading[..., t, :, :] = deltas[..., t, :, :] @ heading[..., t - 1, :, :]
    step = np.zeros(features.shape[:-1] + (3,))
    step[..., 0] = features[..., 0]
    step[..., 2] = features[..., 1]
    root = np.zeros_like(step)
    root[..., 1:, :] = np.cumsum(np.einsum("...ji,...j->...i", heading[..., :-1, :, :], step[..., 1:, :]), axis=-2)
    root[..., 1] = features[..., 9]
    return heading, root


def ms272_to_positions(features: np.ndarray) -> np.ndarray:
    """Joint positions ``[..., T, 22, 3]`` from features ``[..., T, 272]`` (``recover_from_local_position``)."""
    heading, root = ms272_root(features)
    block = np.asarray(features, dtype=np.float64)[..., MS272_BLOCKS["positions"]]
    local = block.reshape(block.shape[:-1] + (SMPL22_NUM_JOINTS, 3))
    joints = np.einsum("...ji,...kj->...ki", heading, local)
    return joints + (root * _XZ)[..., None, :]


def ms272_to_motion(features: np.ndarray, skeleton: Skeleton, *, fps: float = MS272_FPS) -> Motion:
    """A :class:`Motion` on ``skeleton`` from features ``[T, 272]`` (``recover_from_local_rotation``).

    Local rotations from the R6 block, the pelvis turned back by ``G_t^T``; the pelvis position from
    the accumulated root velocities and the stored height. ``skeleton`` is the body the features were
    made for (its offsets set the limb positions under FK; with another body the FK joints differ from
    :func:`ms272_to_positions`). ``meta["rot6d_layout"]`` records ``"R6"``.
    """
    features = require_frames(features, MS272_DIM, "features")
    if features.ndim != 2:
        raise InputError(f"has shape {features.shape}; expected one motion [T, 272]", field="features")
    if skeleton.num_joints != SMPL22_NUM_JOINTS:
        raise InputError(f"skeleton '{skeleton.name}' has {skeleton.num_joints} joints; 272 features hold 22",
                         field="skeleton")
    heading, root = ms272_root(features)
    block = features[:, MS272_BLOCKS["rotations"]]
    rotations = r6_to_matrix(block.reshape(-1, SMPL22_NUM_JOINTS, 6))
    rotations[:, 0] = np.swapaxes(heading, -1, -2) @ rotations[:, 0]
    motion = Motion(local_rotations=rotations, root_translation=root, fps=fps, skeleton=skeleton,
                    meta={"rot6d_layout": MS272_LAYOUT, "format": "ms272"})
    require_smpl22(motion, "MotionStreamer-272")
    return motion


def ms272_foot_contacts(positions: np.ndarray, threshold: float = 0.0015, window: int = 6) -> np.ndarray:
    """The reference's contact labels ``[T - 1, 2]`` (computed but not stored in the 272 features).

    Left/right foot speed ``|p_{t+1} - p_t| < threshold`` m/frame, then a median filter of ``window``
    frames (edges replicated). Here for completeness; nothing in the format reads them.
    """
    from scipy.ndimage import median_filter

    feet = np.asarray(positions, dtype=np.float64)[:, list(CONTACT_JOINTS)]
    moving = (np.linalg.norm(feet[1:] - feet[:-1], axis=-1) < threshold).astype(np.float64)
    return median_filter(moving, size=(window, 1), mode="nearest")
