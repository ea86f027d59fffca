"""SMoG's ``motion_135`` frames from a :class:`~motiongen.motion.motion.Motion`, and back (reference smog.md 2.1).

Layout of one frame (``3 + 6 J``; 135 on ``smplx22``): the root translation, then the 6D of every
joint's local rotation (``matrix_to_rotation_6d``: the first two matrix columns, column 0 first).
The motion is canonicalised first (:func:`~motiongen.motion.kimodo_features.canonicalize`): frame 0
has its root at x = z = 0 and faces +Z, so the translation's x and z are relative to frame 0 and its
y is the absolute root height. Unlike SMoG's "translation" (a right-ankle offset, reference 7.7),
this is the real root path, so decoded motion moves through the world.

Training draws many windows from one clip; canonicalising each window through a ``Motion`` would
redo forward kinematics every time. :func:`world_135` keeps a clip in its world frame with the
heading of every frame, and :func:`canonical_window` turns and shifts any window of it, giving
exactly ``motion_to_135(motion.slice(start, start + length))``.
"""

from __future__ import annotations

import numpy as np
import torch

from motiongen.errors import InputError
from motiongen.geometry import matrix_to_rotation_6d, rotation_6d_to_matrix
from motiongen.motion.kimodo_features import canonicalize, root_heading, yaw_matrix
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

#: Where the root translation sits in a frame; the 6D rotations follow it.
TRANSLATION = slice(0, 3)
#: The root joint's 6D (two column vectors); the only rotation a turn about Y changes.
ROOT_COLUMNS = (slice(3, 6), slice(6, 9))


def smog_feature_dim(num_joints: int) -> int:
    """Width of one ``motion_135`` frame for a ``num_joints`` skeleton (135 for 22 joints)."""
    return 3 + 6 * int(num_joints)


def _check_features(x: np.ndarray | torch.Tensor, skeleton: Skeleton, *, batched: bool) -> None:
    """Raise unless ``x`` is ``[T, D]`` (or, ``batched``, ``[T, D]`` / ``[B, T, D]``) for ``skeleton``."""
    dim = smog_feature_dim(skeleton.num_joints)
    allowed = (2, 3) if batched else (2,)
    if x.ndim not in allowed or x.shape[-1] != dim:
        shape = "[B, T, D]" if batched else "[T, D]"
        raise InputError(
            f"features have shape {list(x.shape)}; expected {shape} with D = {dim} for '{skeleton.name}'",
            field="features",
        )


def _frames(local_rotations: np.ndarray, root_translation: np.ndarray) -> np.ndarray:
    """``[T, 3 + 6J]`` float32 from local rotations ``[T, J, 3, 3]`` and root translation ``[T, 3]``."""
    rot6d = matrix_to_rotation_6d(np.asarray(local_rotations, dtype=np.float64))
    t = rot6d.shape[0]
    return np.concatenate([root_translation, rot6d.reshape(t, -1)], axis=-1).astype(np.float32)


def motion_to_135(motion: Motion) -> np.ndarray:
    """``[T, 3 + 6J]`` float32 frames of ``motion``, canonicalised (frame 0 at the origin, facing +Z).

    Animated joint translations (rigs with position channels) are not represented.
    """
    canonical = canonicalize(motion)
    return _frames(canonical.local_rotations, canonical.root_translation)


def world_135(motion: Motion) -> tuple[np.ndarray, np.ndarray]:
    """``(frames [T, 3 + 6J] float32, heading [T] float64)`` of ``motion`` as it lies in the world.

    ``heading`` is :func:`~motiongen.motion.kimodo_features.root_heading` of every frame, what
    :func:`canonical_window` turns a window by.
    """
    frames = _frames(motion.local_rotations, motion.root_translation)
    heading = np.asarray(root_heading(motion.joint_positions(), motion.skeleton), dtype=np.float64)
    return frames, heading


def canonical_window(frames: np.ndarray, heading: np.ndarray, start: int, length: int) -> np.ndarray:
    """Frames ``[start, start + length)`` of a :func:`world_135` clip, canonicalised as one motion.

    Args:
        frames: ``[T, D]`` world-frame features.
        heading: ``[T]`` per-frame heading (radians).
        start, length: the window; it must lie inside the clip.

    Returns ``[length, D]`` float32, equal to ``motion_to_135`` of that slice of the motion.
    """
    if not (0 <= start and length >= 1 and start + length <= frames.shape[0]):
        raise InputError(f"window [{start}, {start + length}) is outside the clip's {frames.shape[0]} frames",
                         field="window")
    window = frames[start : start + length].astype(np.float64)
    turn = yaw_matrix(-float(heading[start]))
    # a turn about Y acts on world-frame vectors: the root path and the root rotation's columns
    for part in (TRANSLATION, *ROOT_COLUMNS):
        window[:, part] = window[:, part] @ turn.T
    window[:, [0, 2]] -= window[0, [0, 2]]
    return window.astype(np.float32)


def features_135_to_motion(features: np.ndarray | torch.Tensor, skeleton: Skeleton, fps: float = 30.0) -> Motion:
    """A :class:`Motion` from ``[T, 3 + 6J]`` frames (numpy or torch); 6D decoded by Gram-Schmidt."""
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    _check_features(x, skeleton, batched=False)
    if not np.isfinite(x).all():
        raise InputError("features contain NaN or inf", field="features")
    rotations = rotation_6d_to_matrix(x[:, 3:].reshape(x.shape[0], skeleton.num_joints, 6))
    return Motion(local_rotations=rotations, root_translation=x[:, TRANSLATION], fps=fps, skeleton=skeleton)


def positions_from_135(features: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Joint positions ``[B, T, J, 3]`` (or ``[T, J, 3]``) of frames ``[B, T, D]``, differentiably."""
    _check_features(features, skeleton, batched=True)
    j = skeleton.num_joints
    rotations = rotation_6d_to_matrix(features[..., 3:].reshape(*features.shape[:-1], j, 6))
    _, positions = skeleton.forward_kinematics(rotations, features[..., TRANSLATION])
    return positions
