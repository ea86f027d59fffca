"""Analytic IK and the rotation helpers of KIMODO's motion correction (reference section 1.8).

All functions are batched over leading dimensions (``[..., 3]`` points, ``[..., 3, 3]`` matrices)
and work in float64 numpy. Matrices act on column vectors (``v_world = R @ v_local``); a *world
delta* ``D`` of a joint changes its global rotation ``G`` to ``D @ G`` and rotates everything below
the joint about the joint's position.
"""

from __future__ import annotations

import numpy as np

from motiongen.geometry import (
    axis_angle_to_matrix,
    matrix_to_quaternion,
    quaternion_slerp,
    quaternion_to_matrix,
    rotation_between_vectors,
)

#: Below this length a vector counts as zero (metres, or unit-vector components).
EPS = 1e-9
#: KIMODO clamps the chain-root-to-target distance to this fraction of the chain's full length, so
#: the limb never locks straight (a straight limb has no defined bend plane).
MAX_REACH = 0.999


# ==================================================================================================
# Small vector helpers
# ==================================================================================================
def normalize(v: np.ndarray, eps: float = EPS) -> np.ndarray:
    """``v [..., 3] / |v|``; vectors shorter than ``eps`` come back unchanged (no NaN)."""
    v = np.asarray(v, dtype=np.float64)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > eps, norm, 1.0)


def _any_perpendicular(v: np.ndarray) -> np.ndarray:
    """A unit vector ``[..., 3]`` perpendicular to ``v`` (crossed with its least-aligned basis axis)."""
    basis = np.zeros_like(v)
    np.put_along_axis(basis, np.abs(v).argmin(-1)[..., None], 1.0, axis=-1)
    return normalize(np.cross(v, basis))


def signed_angle(u: np.ndarray, v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Angle ``[...]`` (radians, in ``(-pi, pi]``) turning ``u`` to ``v`` about unit ``axis``.

    Only the components of ``u`` and ``v`` perpendicular to ``axis`` matter.
    """
    return np.arctan2((axis * np.cross(u, v)).sum(-1), (u * v).sum(-1) - (u * axis).sum(-1) * (v * axis).sum(-1))


def axis_angle_rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation ``[..., 3, 3]`` by ``angle [...]`` radians about unit ``axis [..., 3]``."""
    angle = np.asarray(angle, dtype=np.float64)
    return axis_angle_to_matrix(np.asarray(axis, dtype=np.float64) * angle[..., None])


def slerp_rotation(r0: np.ndarray, r1: np.ndarray, weight: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation ``[..., 3, 3]`` from ``r0`` (weight 0) to ``r1`` (weight 1)."""
    q = quaternion_slerp(matrix_to_quaternion(r0), matrix_to_quaternion(r1), np.asarray(weight, dtype=np.float64))
    return quaternion_to_matrix(q)


# ==================================================================================================
# The 6-channel rotation form the trajectory corrector smooths
# ==================================================================================================
def look_rotation(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation ``[..., 3, 3]`` whose z axis is ``forward [..., 3]`` and whose y axis is as close to ``up`` as allowed.

    ``z = normalize(forward)``, ``x = normalize(up × forward)``, ``y = z × x`` (columns ``[x y z]``),
    as KIMODO's ``LookRotation``. Neither input needs unit length. Where ``up`` is parallel to
    ``forward`` (or zero) any perpendicular ``x`` is used so the result is still a rotation.
    """
    z = normalize(forward)
    x_raw = np.cross(np.asarray(up, dtype=np.float64), z)
    degenerate = np.linalg.norm(x_raw, axis=-1, keepdims=True) <= EPS
    if degenerate.any():
        x_raw = np.where(degenerate, _any_perpendicular(z), x_raw)
    x = normalize(x_raw)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def rotation_to_channels(rotations: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` -> ``[..., 6]`` = (forward = R ẑ, up = R ŷ), the channels KIMODO smooths."""
    r = np.asarray(rotations, dtype=np.float64)
    return np.concatenate([r[..., :, 2], r[..., :, 1]], axis=-1)


def channels_to_rotation(channels: np.ndarray) -> np.ndarray:
    """``[..., 6]`` (forward, up) -> ``[..., 3, 3]`` via :func:`look_rotation` (re-orthonormalises)."""
    ch = np.asarray(channels, dtype=np.float64)
    return look_rotation(ch[..., :3], ch[..., 3:])


# ==================================================================================================
# IK
# ==================================================================================================
def one_bone_ik(a: np.ndarray, b: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World delta ``[..., 3, 3]`` for the joint at ``a``: the shortest arc turning ``b - a`` toward ``target - a``.

    The bone keeps its length, so ``b`` lands on the ray from ``a`` through ``target``.
    """
    a = np.asarray(a, dtype=np.float64)
    return rotation_between_vectors(np.asarray(b, dtype=np.float64) - a, np.asarray(target, dtype=np.float64) - a)


def _bend_axis(a: np.ndarray, b: np.ndarray, c: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Unit normal ``[..., 3]`` of the bend plane: ``normalize((c - a) × (hint - a))``.

    Falls back to the chain's own plane ``(c - a) × (b - a)`` where the hint lies on the line a-c,
    and to any perpendicular of ``c - a`` where the chain is straight too.
    """
    ac = c - a
    axis = np.cross(ac, hint - a)
    weak = np.linalg.norm(axis, axis=-1, keepdims=True) <= EPS * np.maximum(np.linalg.norm(ac, axis=-1, keepdims=True), 1.0)
    if weak.any():
        own = np.cross(ac, b - a)
        axis = np.where(weak, own, axis)
        weak = np.linalg.norm(axis, axis=-1, keepdims=True) <= EPS
        if weak.any():
            axis = np.where(weak, _any_perpendicular(np.where(np.linalg.norm(ac, axis=-1, keepdims=True) > EPS, ac, b - a)), axis)
    return normalize(axis)


def two_bone_ik(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    target: np.ndarray,
    hint: np.ndarray,
    *,
    max_reach: float = MAX_REACH,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: world deltas for the chain root (at ``a``) and the middle joint (at ``b``).

    Args:
        a, b, c: ``[..., 3]`` world positions of the chain root (hip, shoulder), middle joint (knee,
            elbow) and end (ankle, wrist).
        target: ``[..., 3]`` where ``c`` should go.
        hint: ``[..., 3]`` a world point on the side the middle joint should bend toward (KIMODO:
            10 cm along the middle joint's local -z for arms, +z for legs).
        max_reach: the distance from ``a`` to the target is clamped to ``max_reach * (l1 + l2)``.

    Returns:
        ``(delta_root, delta_mid)``, each ``[..., 3, 3]``: the new global rotations are
        ``delta_root @ G_a`` and ``delta_mid @ G_b`` (``delta_mid`` already includes the root's
        change), so ``b' = a + delta_root (b - a)`` and ``c' = b' + delta_mid (c - b)``.

    Method (KIMODO's, made exact for middle joints off the hint plane):

    1. Bend plane normal ``n = normalize((c - a) × (hint - a))``.
    2. Law of cosines: bend the middle joint about ``n`` until ``|c - a|`` equals the clamped
       target distance ``d``. With ``w = a - b`` and ``u = c - b`` split into parts along ``n`` and
       across it, the new signed angle between the across parts is ``+acos((l1² + l2² - d² -
       2 w_n u_n) / (2 |w_⊥| |u_⊥|))`` (the plain law of cosines when ``b`` lies in the plane;
       positive = the middle joint on the hint side).
    3. Turn the whole chain about ``n`` so that ``a -> c`` points where it did before the bend (the
       angle-at-the-root half of the law of cosines), then swing it by the shortest arc onto
       ``target - a``.
    A reachable target is met exactly when ``b`` lies in the bend plane (the usual case: the hint
    is taken from the middle joint's own frame); an unreachable one is then met at ``max_reach`` of
    full length on the ray from ``a`` toward it. A middle joint far off the plane narrows the range
    of distances a bend about ``n`` can produce, and the end stops at the nearest one.
    """
    a, b, c, target, hint = (np.asarray(x, dtype=np.float64) for x in (a, b, c, target, hint))
    a, b, c, target, hint = np.broadcast_arrays(a, b, c, target, hint)
    l1 = np.linalg.norm(b - a, axis=-1)
    l2 = np.linalg.norm(c - b, axis=-1)
    d = np.minimum(np.linalg.norm(target - a, axis=-1), max_reach * (l1 + l2))
    n = _bend_axis(a, b, c, hint)

    # 2. middle joint: angle between the across-plane parts of w = a - b and u = c - b
    w, u = a - b, c - b
    w_n = (w * n).sum(-1)
    u_n = (u * n).sum(-1)
    w_perp = np.linalg.norm(w - w_n[..., None] * n, axis=-1)
    u_perp = np.linalg.norm(u - u_n[..., None] * n, axis=-1)
    cos_new = (l1 * l1 + l2 * l2 - d * d - 2 * w_n * u_n) / np.maximum(2 * w_perp * u_perp, EPS)
    beta_new = np.arccos(np.clip(cos_new, -1.0, 1.0))
    beta_old = signed_angle(w, u, n)
    bend = axis_angle_rotation(n, beta_new - beta_old)
    c_bent = b + (bend @ u[..., None])[..., 0]

    # 3. keep the a -> c direction within the plane, then swing onto the target
    keep = axis_angle_rotation(n, signed_angle(c_bent - a, c - a, n))
    ac_kept = (keep @ (c_bent - a)[..., None])[..., 0]
    swing = rotation_between_vectors(ac_kept, target - a)
    delta_root = swing @ keep
    return delta_root, delta_root @ bend


def reach_falloff(a: np.ndarray, b: np.ndarray, c: np.ndarray, target: np.ndarray) -> np.ndarray:
    """KIMODO's contact-IK weight ``[...]``: ``exp(-2 (max(d / reach - 0.99, 0) / 0.01)^4)``.

    ``d = |target - a|``, ``reach = |b - a| + |c - b|``: 1 while the target is within 99 % of the
    chain's length, falling to ~0 by 101 %, so a foot planted out of reach lets go instead of
    dragging the leg straight.
    """
    reach = np.linalg.norm(b - a, axis=-1) + np.linalg.norm(c - b, axis=-1)
    d = np.linalg.norm(target - a, axis=-1)
    excess = np.maximum(d / np.maximum(reach, EPS) - 0.99, 0.0) / 0.01
    return np.exp(-2.0 * excess**4)
