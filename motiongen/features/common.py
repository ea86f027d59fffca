"""Helpers shared by the evaluator feature formats (reference ``representations.md`` section 0).

Quaternions here are numpy ``(w, x, y, z)`` Hamilton quaternions as the HumanML3D code uses them;
``qbetween`` is its shortest-arc rotation with a deterministic 180-degree fallback where the
reference code divides 0 by 0. Everything is float64 numpy with any number of leading batch axes.
"""

from __future__ import annotations

import numpy as np

from motiongen.errors import InputError
from motiongen.geometry import rotation_6d_to_matrix
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import SMPLX22_JOINTS

#: SMPL-22 joint names and parents, the order all three formats share (reference section 0).
SMPL22_JOINT_NAMES: tuple[str, ...] = tuple(name for name, _ in SMPLX22_JOINTS)
SMPL22_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
SMPL22_NUM_JOINTS = 22



def qinv(q: np.ndarray) -> np.ndarray:
    """Inverse ``[..., 4]`` of unit quaternions (the conjugate)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v [..., 3]`` by unit quaternions ``q [..., 4]``: ``v + 2 (w u x v + u x (u x v))``."""
    w, u = q[..., :1], q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def qbetween(a: np.ndarray, b: np.ndarray, *, fallback_axis: np.ndarray | None = None) -> np.ndarray:
    """Shortest-arc unit quaternions ``[..., 4]`` rotating directions ``a [..., 3]`` onto ``b [..., 3]``.

    ``normalise([|a||b| + a.b, a x b])`` as the reference code. Where ``a`` and ``b`` are exactly
    opposite the reference yields NaN; here the result is the half turn about ``fallback_axis`` (must be
    perpendicular to ``a``), or, without one, about the axis ``a x e`` with ``e`` the basis vector least
    aligned with ``a`` (deterministic, reference 1.10).
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    w = np.linalg.norm(a, axis=-1, keepdims=True) * np.linalg.norm(b, axis=-1, keepdims=True) + (a * b).sum(-1, keepdims=True)
    q = np.concatenate([w, np.cross(a, b)], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    scale = np.linalg.norm(a, axis=-1, keepdims=True) * np.linalg.norm(b, axis=-1, keepdims=True)
    opposite = norm[..., 0] <= 1e-12 * np.maximum(scale[..., 0], 1e-300)
    if opposite.any():
        if fallback_axis is not None:
            axis = np.broadcast_to(np.asarray(fallback_axis, dtype=np.float64), a.shape)[opposite]
        else:
            aa = a[opposite]
            basis = np.zeros_like(aa)
            basis[np.arange(len(aa)), np.abs(aa).argmin(-1)] = 1.0
            axis = np.cross(aa, basis)
        axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
        q = q.copy()
        q[opposite] = np.concatenate([np.zeros(axis.shape[:-1] + (1,)), axis], axis=-1)
        norm = norm.copy()
        norm[opposite] = 1.0
    return q / norm


def quaternion_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` of unit quaternions ``[..., 4]`` (w, x, y, z)."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def rotation_y(angle: np.ndarray) -> np.ndarray:
    """``Ry(t) = [[cos t, 0, sin t], [0, 1, 0], [-sin t, 0, cos t]]`` for angles ``[...]`` -> ``[..., 3, 3]``."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack(
        [np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], axis=-2
    )


# --------------------------------------------------------------------------------------------------
# 6D layouts (reference 0.1). C6 = columns 0 then 1; R6 = rows 0 then 1.
def matrix_to_c6(matrix: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` -> C6 ``[..., 6]``: ``(R00, R10, R20, R01, R11, R21)`` (HumanML3D-263)."""
    return np.concatenate([matrix[..., :, 0], matrix[..., :, 1]], axis=-1)


def c6_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """C6 ``[..., 6]`` -> ``[..., 3, 3]`` by Gram-Schmidt; the two stored vectors are columns."""
    return rotation_6d_to_matrix(np.asarray(rot6d, dtype=np.float64))


def matrix_to_r6(matrix: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` -> R6 ``[..., 6]``: ``(R00, R01, R02, R10, R11, R12)`` (MotionStreamer-272)."""
    return np.concatenate([matrix[..., 0, :], matrix[..., 1, :]], axis=-1)


def r6_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """R6 ``[..., 6]`` -> ``[..., 3, 3]`` by Gram-Schmidt; the two stored vectors are rows.

    The same orthonormalisation as C6 gives the transpose, hence the swap.
    """
    return np.swapaxes(rotation_6d_to_matrix(np.asarray(rot6d, dtype=np.float64)), -1, -2)


# --------------------------------------------------------------------------------------------------
def is_smpl22(motion: Motion) -> bool:
    """Whether ``motion`` is on the 22 SMPL joints in the formats' order (e.g. ``smplx22``)."""
    skeleton = motion.skeleton
    return skeleton.joint_names == SMPL22_JOINT_NAMES and skeleton.parents == SMPL22_PARENTS


def require_smpl22(motion: Motion, fmt: str) -> None:
    """Raise :class:`InputError` unless ``motion`` is on the SMPL-22 joints."""
    if not is_smpl22(motion):
        raise InputError(
            f"{fmt} is computed from the 22 SMPL joints (skeleton 'smplx22'); got skeleton "
            f"'{motion.skeleton.name}' with {motion.skeleton.num_joints} joints. Retarget first: "
            "motiongen.retarget.registered.retarget_to(motion, 'smplx22')",
            field="skeleton",
        )


def require_frames(array: np.ndarray, width: int, name: str, min_frames: int = 1) -> np.ndarray:
    """``array`` as float64 after checking it is ``[..., T >= min_frames, width]``, numeric and finite."""
    array = np.asarray(array)
    if array.ndim < 2 or array.shape[-1] != width or array.shape[-2] < min_frames:
        raise InputError(f"has shape {array.shape}; expected [..., T >= {min_frames}, {width}]", field=name)
    if not np.issubdtype(array.dtype, np.number):
        raise InputError(f"has dtype {array.dtype}; expected numbers", field=name)
    if not np.isfinite(array).all():
        raise InputError("contains NaN or inf", field=name)
    return array.astype(np.float64)


def resample_positions(positions: np.ndarray, fps: float, target_fps: float) -> np.ndarray:
    """Joint positions ``[T, J, 3]`` at ``fps`` linearly interpolated at times ``k / target_fps``.

    Frames past the last source sample are not extrapolated, so the result has
    ``floor((T - 1) * target_fps / fps) + 1`` frames (as :meth:`Motion.resample`).
    """
    positions = np.asarray(positions, dtype=np.float64)
    if abs(fps - target_fps) < 1e-9:
        return positions.copy()
    t = positions.shape[0]
    n = int(np.floor((t - 1) * target_fps / fps + 1e-9)) + 1
    src = np.arange(n) * (fps / target_fps)
    i0 = np.clip(np.floor(src).astype(int), 0, t - 1)
    i1 = np.clip(i0 + 1, 0, t - 1)
    w = (src - i0)[:, None, None]
    return positions[i0] * (1.0 - w) + positions[i1] * w
