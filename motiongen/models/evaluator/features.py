"""The evaluator's motion features: heading-relative joint positions and velocities (``D = 1 + 2 + 1 + 3(J-1) + 3J``).

Built from joint positions alone, so any motion can be scored the same way: a real clip, a
generated one, a retargeted or post-processed one. Every vector is expressed in the frame's own
heading frame (the hips' facing direction, :func:`motiongen.motion.kimodo_features.root_heading`),
which makes the features independent of where the motion starts and which way it faces, as
HumanML3D's are. Per frame, in this order:

=======================  =======  ==================================================================
block                    size     content
=======================  =======  ==================================================================
root height              1        pelvis y (metres above the floor y = 0)
root velocity            2        pelvis xz velocity (m/s) in the heading frame (x left, z forward)
heading rate             1        turn rate (rad/s, + turns left)
joint positions          3(J-1)   every other joint minus the pelvis xz, in the heading frame
joint velocities         3J       every joint's velocity (m/s) in the heading frame
=======================  =======  ==================================================================

Velocities are forward differences; the last frame repeats the one before it.
"""

from __future__ import annotations

import numpy as np

from motiongen.errors import InputError
from motiongen.motion.kimodo_features import root_heading
from motiongen.skeleton.skeleton import Skeleton


def evaluator_feature_dim(num_joints: int) -> int:
    """Feature size for a skeleton of ``num_joints`` joints (133 for ``smplx22``)."""
    return 4 + 3 * (num_joints - 1) + 3 * num_joints


def _to_heading_frame(v: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Vectors ``v [T, n, 3]`` turned by ``-heading [T]`` about Y (the facing direction becomes +Z)."""
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return np.stack([c * x - s * z, y, s * x + c * z], -1)


def _forward_difference(x: np.ndarray, fps: float) -> np.ndarray:
    if x.shape[0] < 2:
        return np.zeros_like(x)
    d = np.diff(x, axis=0) * fps
    return np.concatenate([d, d[-1:]], 0)


def positions_to_evaluator_features(positions: np.ndarray, skeleton: Skeleton, fps: float = 30.0) -> np.ndarray:
    """Evaluator features ``[T, D]`` (float32) of joint positions ``[T, J, 3]`` (metres, Y up).

    Raises:
        InputError: wrong shape, non-finite values, or fewer than 2 frames.
    """
    pos = np.asarray(positions, dtype=np.float64)
    j = skeleton.num_joints
    if pos.ndim != 3 or pos.shape[1:] != (j, 3):
        raise InputError(f"positions have shape {pos.shape}; expected [T, {j}, 3]", field="positions")
    if pos.shape[0] < 2:
        raise InputError(f"a motion needs at least 2 frames to be scored, got {pos.shape[0]}", field="positions")
    if not np.isfinite(pos).all():
        raise InputError("positions contain NaN or infinite values", field="positions")
    heading = np.asarray(root_heading(pos, skeleton), dtype=np.float64)
    root = pos[:, 0]
    root_xz = np.zeros_like(pos)
    root_xz[..., 0], root_xz[..., 2] = root[:, None, 0], root[:, None, 2]
    relative = _to_heading_frame(pos[:, 1:] - root_xz[:, 1:], heading)
    root_velocity = _to_heading_frame(_forward_difference(root, fps)[:, None], heading)[:, 0, [0, 2]]
    turn = np.diff(heading)
    turn = np.arctan2(np.sin(turn), np.cos(turn)) * fps
    heading_rate = np.concatenate([turn, turn[-1:]]) if turn.size else np.zeros(1)
    velocities = _to_heading_frame(_forward_difference(pos, fps), heading)
    t = pos.shape[0]
    out = np.concatenate(
        [root[:, 1:2], root_velocity, heading_rate[:, None], relative.reshape(t, -1), velocities.reshape(t, -1)], 1
    )
    return out.astype(np.float32)
