"""Batched rotation conversions for numpy arrays and torch tensors.

Every function takes arrays with any number of leading batch dimensions and returns the same kind
of array it was given (a numpy array in gives a numpy array out, in the same floating dtype; a torch
tensor in gives a tensor out, differentiable). Conventions:

* matrices act on column vectors: ``v_world = R @ v_local``;
* quaternions are ``(w, x, y, z)``, scalar first, as KIMODO's MuJoCo export writes them;
* axis-angle (rotation vector) is ``axis * angle`` in radians;
* 6D is ``[column0, column1]`` of the matrix, as KIMODO's features store it (``[..., 6]``);
* Euler orders are three-letter strings of ``XYZ`` as they appear in a BVH channel list or an ASF
  ``axis``/``dof`` line. ``intrinsic=True`` (BVH) composes ``R = R_a R_b R_c`` for order ``"abc"``;
  ``intrinsic=False`` (ASF/AMC "fixed" axes) composes ``R = R_c R_b R_a``.

The maths is done in torch; numpy inputs are converted to float64 tensors and back, so the numpy
path is exact to float64 and shares one implementation with the torch path.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar, Union

import numpy as np
import torch

from motiongen.errors import InputError

Array = Union[np.ndarray, torch.Tensor]
A = TypeVar("A", np.ndarray, torch.Tensor)

EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
_EPS = 1e-12


def _to_tensor(value):
    """numpy arrays become float64 tensors (copied: numpy views may be read-only); others pass."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, dtype=np.float64))
    return value


def _array_api(fn: Callable[..., torch.Tensor]) -> Callable[..., Array]:
    """Let a torch implementation accept numpy arrays, returning numpy in the input's float dtype."""

    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        if isinstance(x, torch.Tensor):
            return fn(x, *args, **kwargs)
        arr = np.asarray(x)
        dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float64
        args = tuple(_to_tensor(a) for a in args)
        kwargs = {k: _to_tensor(v) for k, v in kwargs.items()}
        out = fn(_to_tensor(arr), *args, **kwargs)
        return out.numpy().astype(dtype, copy=False)

    return wrapper


def _axis_rotation(angle: torch.Tensor, axis: str) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        rows = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == "Y":
        rows = [c, zero, s, zero, one, zero, -s, zero, c]
    else:
        rows = [c, -s, zero, s, c, zero, zero, zero, one]
    return torch.stack(rows, dim=-1).reshape(angle.shape + (3, 3))


def _check_order(order: str) -> str:
    order = order.upper()
    if order not in EULER_ORDERS:
        raise InputError(f"unknown Euler order '{order}'; allowed: {', '.join(EULER_ORDERS)}", field="order")
    return order


@_array_api
def euler_to_matrix(angles: torch.Tensor, order: str, *, degrees: bool = False, intrinsic: bool = True) -> torch.Tensor:
    """Euler angles ``[..., 3]`` (listed in ``order``) to rotation matrices ``[..., 3, 3]``."""
    order = _check_order(order)
    if degrees:
        angles = torch.deg2rad(angles)
    mats = [_axis_rotation(angles[..., i], order[i]) for i in range(3)]
    if intrinsic:
        return mats[0] @ mats[1] @ mats[2]
    return mats[2] @ mats[1] @ mats[0]


@_array_api
def matrix_to_euler(matrix: torch.Tensor, order: str, *, degrees: bool = False, intrinsic: bool = True) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` to Euler angles ``[..., 3]`` in ``order``.

    The middle angle lies in ``[-pi/2, pi/2]`` for Tait-Bryan orders; at gimbal lock the first angle is
    set to zero and the third absorbs the rotation, so ``euler_to_matrix`` still reproduces ``matrix``.
    """
    order = _check_order(order)
    if not intrinsic:
        # extrinsic "abc" equals intrinsic "cba" with the angles reversed
        return matrix_to_euler(matrix, order[::-1], degrees=degrees, intrinsic=True).flip(-1)
    i, j, k = ("XYZ".index(a) for a in order)
    # sign of the permutation (i, j, k) decides the signs in the closed form
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    m = matrix
    sin_b = (sign * m[..., i, k]).clamp(-1.0, 1.0)
    b = torch.asin(sin_b)
    cos_b = torch.sqrt(torch.clamp(1.0 - sin_b * sin_b, min=0.0))
    a = torch.atan2(-sign * m[..., j, k], m[..., k, k])
    c = torch.atan2(-sign * m[..., i, j], m[..., i, i])
    locked = cos_b < 1e-7
    if bool(locked.any()):
        # with the middle angle at +-90 deg only a combination of a and c is defined: set a = 0
        # and read c off R_j(b)^T R = R_k(c), whose entries (q, p) and (p, p) are sin c and cos c
        rest = _axis_rotation(b, order[1]).transpose(-1, -2) @ m
        p, q = (k + 1) % 3, (k + 2) % 3
        c_locked = torch.atan2(rest[..., q, p], rest[..., p, p])
        c = torch.where(locked, c_locked, c)
        a = torch.where(locked, torch.zeros_like(a), a)
    out = torch.stack([a, b, c], dim=-1)
    return torch.rad2deg(out) if degrees else out


@_array_api
def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation vectors ``[..., 3]`` to matrices ``[..., 3, 3]`` (Rodrigues, stable near zero)."""
    return quaternion_to_matrix(axis_angle_to_quaternion(axis_angle))


@_array_api
def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` to rotation vectors ``[..., 3]`` with angle in ``[0, pi]``."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


@_array_api
def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation vectors ``[..., 3]`` to unit quaternions ``[..., 4]`` (w, x, y, z)."""
    angle = torch.linalg.norm(axis_angle, dim=-1, keepdim=True)
    half = 0.5 * angle
    small = angle < 1e-6
    # sin(x/2)/x by its Taylor series near 0 keeps gradients finite at the identity
    safe = torch.where(small, torch.ones_like(angle), angle)
    scale = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe)
    return torch.cat([torch.cos(half), axis_angle * scale], dim=-1)


@_array_api
def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternions ``[..., 4]`` (w, x, y, z; any norm) to rotation vectors ``[..., 3]``."""
    q = quaternion / torch.linalg.norm(quaternion, dim=-1, keepdim=True).clamp_min(_EPS)
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    sin_half = torch.linalg.norm(xyz, dim=-1, keepdim=True)
    half = torch.atan2(sin_half, q[..., :1])
    small = sin_half < 1e-6
    safe = torch.where(small, torch.ones_like(sin_half), sin_half)
    scale = torch.where(small, 2.0 / q[..., :1].clamp_min(_EPS) * (1 + sin_half * sin_half / 6.0), 2.0 * half / safe)
    return xyz * scale


@_array_api
def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """Quaternions ``[..., 4]`` (w, x, y, z; normalised here) to matrices ``[..., 3, 3]``."""
    q = quaternion / torch.linalg.norm(quaternion, dim=-1, keepdim=True).clamp_min(_EPS)
    w, x, y, z = q.unbind(-1)
    m = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


@_array_api
def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` to unit quaternions ``[..., 4]`` with ``w >= 0``.

    Uses the branch on the largest of ``1 + trace`` and the diagonal terms (Shepperd's method), so it
    stays accurate for 180-degree rotations.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    )
    best = candidates.argmax(dim=-1, keepdim=True)
    r = torch.sqrt(candidates.clamp_min(_EPS))
    # each row: the quaternion computed from branch b, scaled by 2r
    q_w = torch.stack([r[..., 0] ** 2, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1) / (2 * r[..., 0:1])
    q_x = torch.stack([m[..., 2, 1] - m[..., 1, 2], r[..., 1] ** 2, m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0]], -1) / (2 * r[..., 1:2])
    q_y = torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1], r[..., 2] ** 2, m[..., 2, 1] + m[..., 1, 2]], -1) / (2 * r[..., 2:3])
    q_z = torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2], r[..., 3] ** 2], -1) / (2 * r[..., 3:4])
    all_q = torch.stack([q_w, q_x, q_y, q_z], dim=-2)
    q = torch.take_along_dim(all_q, best[..., None].expand(best.shape[:-1] + (1, 4)), dim=-2).squeeze(-2)
    q = q / torch.linalg.norm(q, dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.where(q[..., :1] < 0, -q, q)


@_array_api
def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Matrices ``[..., 3, 3]`` to 6D ``[..., 6]`` = first two columns, column 0 first (KIMODO layout)."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


@_array_api
def rotation_6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """6D ``[..., 6]`` to matrices ``[..., 3, 3]`` by Gram-Schmidt, as KIMODO decodes.

    ``x = normalize(c0)``, ``z = normalize(x x c1)``, ``y = z x x``; columns ``[x y z]``.
    """
    c0, c1 = rot6d[..., :3], rot6d[..., 3:]
    x = c0 / torch.linalg.norm(c0, dim=-1, keepdim=True).clamp_min(_EPS)
    z = torch.linalg.cross(x, c1, dim=-1)
    z = z / torch.linalg.norm(z, dim=-1, keepdim=True).clamp_min(_EPS)
    y = torch.linalg.cross(z, x, dim=-1)
    return torch.stack([x, y, z], dim=-1)


@_array_api
def quaternion_multiply(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``q1 * q2`` of ``[..., 4]`` quaternions (w, x, y, z)."""
    q2 = torch.as_tensor(q2, dtype=q1.dtype)
    w1, x1, y1, z1 = q1.unbind(-1)
    w2, x2, y2, z2 = q2.unbind(-1)
    return torch.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        dim=-1,
    )


@_array_api
def quaternion_slerp(q0: torch.Tensor, q1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation between unit quaternions ``[..., 4]`` along the shorter arc.

    ``t`` broadcasts against the batch shape (``[...]``); ``t=0`` gives ``q0`` and ``t=1`` gives ``q1``
    (up to sign).
    """
    q1 = torch.as_tensor(q1, dtype=q0.dtype)
    t = torch.as_tensor(t, dtype=q0.dtype)[..., None]
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    near = sin_theta < 1e-6
    safe = torch.where(near, torch.ones_like(sin_theta), sin_theta)
    w0 = torch.where(near, 1 - t, torch.sin((1 - t) * theta) / safe)
    w1 = torch.where(near, t, torch.sin(t * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / torch.linalg.norm(out, dim=-1, keepdim=True).clamp_min(_EPS)


@_array_api
def rotation_between_vectors(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The smallest rotation ``[..., 3, 3]`` taking direction ``source [..., 3]`` onto ``target [..., 3]``.

    For opposite vectors the rotation is by pi about an axis perpendicular to ``source``.
    """
    target = torch.as_tensor(target, dtype=source.dtype)
    a = source / torch.linalg.norm(source, dim=-1, keepdim=True).clamp_min(_EPS)
    b = target / torch.linalg.norm(target, dim=-1, keepdim=True).clamp_min(_EPS)
    a, b = torch.broadcast_tensors(a, b)
    w = 1.0 + (a * b).sum(-1, keepdim=True)
    xyz = torch.linalg.cross(a, b, dim=-1)
    opposite = w < 1e-8
    if bool(opposite.any()):
        # any axis perpendicular to a: cross with the basis vector least aligned with it
        basis = torch.zeros_like(a)
        basis.scatter_(-1, a.abs().argmin(-1, keepdim=True), 1.0)
        perp = torch.linalg.cross(a, basis, dim=-1)
        perp = perp / torch.linalg.norm(perp, dim=-1, keepdim=True).clamp_min(_EPS)
        xyz = torch.where(opposite, perp, xyz)
        w = torch.where(opposite, torch.zeros_like(w), w)
    return quaternion_to_matrix(torch.cat([w, xyz], dim=-1))


@_array_api
def best_fit_rotation(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Rotation ``R [..., 3, 3]`` minimising ``sum_i w_i |R s_i - t_i|^2`` over point sets ``[..., N, 3]`` (Kabsch).

    With fewer than two non-parallel vectors the problem is underdetermined; the SVD then returns one
    of the minimisers.
    """
    target = torch.as_tensor(target, dtype=source.dtype)
    if weights is None:
        weights = torch.ones(source.shape[:-1], dtype=source.dtype)
    weights = torch.as_tensor(weights, dtype=source.dtype)
    h = (source * weights[..., None]).transpose(-1, -2) @ target
    u, _, vh = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vh.transpose(-1, -2) @ u.transpose(-1, -2)))
    diag = torch.ones(h.shape[:-2] + (3,), dtype=source.dtype)
    diag[..., 2] = d
    return vh.transpose(-1, -2) @ torch.diag_embed(diag) @ u.transpose(-1, -2)
