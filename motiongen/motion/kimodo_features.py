"""KIMODO's per-frame motion features (``D = 9 + 12J``), the smooth root, and normalisation.

Feature layout per frame (reference ``kimodo.md`` 2.1), in this order:

==========================  =========  ====================================================
block                       size       content
==========================  =========  ====================================================
``smooth_root_pos``         3          smoothed pelvis x, **raw** pelvis y, smoothed pelvis z
``global_root_heading``     2          ``(cos θ, sin θ)``, θ from the hips (:func:`root_heading`)
``local_joints_positions``  3J         joint positions minus ``(smooth_x, 0, smooth_z)``
``global_rot_data``         6J         6D of each global rotation: ``[column0, column1]``
``velocities``              3J         global joint velocities in m/s (forward difference)
``foot_contacts``           4          ``[L heel, L toe, R heel, R toe]`` in ``{0, 1}``
==========================  =========  ====================================================

The first 5 dims are the "global root" (the root stage's output), dims ``5:D`` the "body". The
root stage hands the body stage a 4-value "local root" instead (:func:`local_root_features`).

Everything is in the world frame of :mod:`motiongen.skeleton.skeleton`: Y up, a character at heading
0 faces +Z and its left is +X, metres. Encoding is numpy (dataset building); decoding, yaw rotation,
local-root features and normalisation also take torch tensors ``[B, T, D]`` and stay differentiable.
"""

from __future__ import annotations

import functools
import json
import math
import pickle
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import splu

from motiongen.io.atomic import atomic_write
from motiongen.errors import InputError
from motiongen.geometry import matrix_to_rotation_6d, rotation_6d_to_matrix
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

Array = np.ndarray | torch.Tensor

#: Per-frame distance the smooth root may keep from the pelvis (xz, metres).
ROOT_MARGIN = 0.06
#: ADMM iterations per multigrid level, and the over-relaxation factor of the dual update.
ADMM_ITERATIONS = 500
OVER_RELAXATION = 1.8
#: Added to the variance when normalising: ``x_n = (x - mean) / sqrt(std^2 + NORM_EPS)``.
NORM_EPS = 1e-5
#: Contact heuristic thresholds: joint speed (m/s) and height above the floor y = 0 (m).
CONTACT_VELOCITY = 0.15
CONTACT_HEIGHT = 0.10

#: The feature blocks in layout order (attribute names of :class:`KimodoFeatures`).
BLOCK_NAMES = (
    "smooth_root_pos", "global_root_heading", "local_joints_positions", "global_rot_data", "velocities", "foot_contacts"
)
#: Size of the root-stage output (``smooth_root_pos`` + ``global_root_heading``).
GLOBAL_ROOT_DIM = 5
#: Size of the body-stage local-root input (heading rate, vx, vz, y).
LOCAL_ROOT_DIM = 4


# ==================================================================================================
# Smooth root: TrajectorySmoother (ADMM) inside the multigrid driver, reference 2.4
# ==================================================================================================
@functools.lru_cache(maxsize=512)
def _smoother_matrix(n: int) -> sparse.csc_matrix:
    """``(AᵀA + rho I) / rho`` ``[n, n]`` for the ADMM x-update (symmetric positive definite, 5 bands).

    ``A`` is the second difference with zero first and last rows (KIMODO's acceleration matrix) and
    ``rho = 0.25 sqrt(max diag(AᵀA))``. Dividing by ``rho`` lets the x-update solve against
    ``z - u`` directly, and lets clips of different lengths (different ``rho``) share one
    block-diagonal system. Requires ``n >= 3`` (otherwise ``AᵀA = 0`` and the system is singular).
    """
    rows = np.arange(1, n - 1)
    diag0 = np.zeros(n)
    diag1 = np.zeros(n - 1)
    diag2 = np.zeros(n - 2)
    # each row of A is (-1, 2, -1) at columns (i-1, i, i+1); the index arrays have no repeats
    diag0[rows - 1] += 1.0
    diag0[rows] += 4.0
    diag0[rows + 1] += 1.0
    diag1[rows - 1] -= 2.0
    diag1[rows] -= 2.0
    diag2[rows - 1] += 1.0
    rho = 0.25 * math.sqrt(float(np.abs(diag0).max()))
    bands = [diag2 / rho, diag1 / rho, (diag0 + rho) / rho, diag1 / rho, diag2 / rho]
    return sparse.diags(bands, [-2, -1, 0, 1, 2], format="csc")


def _admm_smooth(
    target: np.ndarray, x0: np.ndarray, solve: Callable[[np.ndarray], np.ndarray], margin: float, iterations: int
) -> np.ndarray:
    """KIMODO's ``TrajectorySmoother.smooth``: minimise ``|A x|^2`` s.t. ``|x_t - target_t| <= margin``.

    Args:
        target: ``[L, 2]`` raw samples (several clips may be stacked; ``solve`` is then
            block-diagonal and the clips do not interact).
        x0: ``[L, 2]`` initial guess.
        solve: applies the inverse of the stacked :func:`_smoother_matrix` to ``[L, 2]``.

    Returns the last x iterate ``[L, 2]``, as the reference does (not the projected z).
    """
    x = np.array(x0, dtype=np.float64)
    u = np.zeros_like(x)
    for _ in range(iterations):
        d = x + u - target
        # ball projection of z around the target; margin/max(|d|, margin) is exactly 1 inside the ball
        scale = margin / np.maximum(np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]), margin)
        z = target + d * scale[:, None]
        u += OVER_RELAXATION * (x - z)
        x = solve(z - u)
    return x


def _start_step(num_frames: int) -> int:
    """Coarsest multigrid step: ``2^max(floor(log2 T) - 4, 1)``.

    For T = 3 or 4 the reference's coarsest level has fewer than 3 samples and its solver matrix is
    singular (it crashes); we start at the finest step that still has 3 samples instead.
    """
    step = 2 ** max(int(math.floor(math.log2(num_frames))) - 4, 1)
    while step > 1 and -(-num_frames // step) < 3:
        step //= 2
    return step


def _interpolate_next_level(smooth: np.ndarray, step: int) -> None:
    """Fill the samples at ``step/2`` offsets by midpoints, extrapolating the last by half a step.

    With ``step == 1`` this is KIMODO's quirk: "next step" 0 addresses every frame, so the last frame
    is extrapolated and every other frame becomes the midpoint with its successor, i.e. the whole
    curve moves half a frame forward in time.
    """
    coarse = smooth[::step]
    fine = smooth[step // 2 :: step]
    count = len(fine)
    if count == len(coarse):
        fine[-1] = coarse[-1] + (coarse[-1] - coarse[-2]) / 2
        count -= 1
    # the right side is evaluated before assigning, so with step 1 it sees the extrapolated last frame
    fine[:count] = (coarse[:-1] + coarse[1:]) / 2


def _check_smoothing_args(margin: float, iterations: int) -> None:
    if not (math.isfinite(margin) and margin > 0):
        raise InputError(f"margin must be a positive number of metres, got {margin}", field="margin")
    if int(iterations) != iterations or iterations < 0:
        raise InputError(f"iterations must be a non-negative integer, got {iterations}", field="iterations")


def smooth_root_positions(
    clips: Sequence[np.ndarray],
    *,
    margin: float = ROOT_MARGIN,
    iterations: int = ADMM_ITERATIONS,
    match_kimodo_quirk: bool = True,
) -> list[np.ndarray]:
    """:func:`smooth_root_position` for many clips of any lengths at once.

    Each multigrid level of all clips is solved as one block-diagonal sparse system, so the Python
    overhead of the 500 ADMM iterations is paid once per level instead of once per clip (results
    are identical to smoothing the clips one by one).

    Args:
        clips: sequence of ``[T_i, 2]`` pelvis xz trajectories (metres).

    Returns:
        list of ``[T_i, 2]`` float64 smooth-root xz.
    """
    _check_smoothing_args(margin, iterations)
    raws: list[np.ndarray] = []
    for k, clip in enumerate(clips):
        arr = np.asarray(clip, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 1:
            raise InputError(f"clip {k} has shape {arr.shape}; expected [T >= 1, 2] (x, z)", field="root_xz")
        if not np.isfinite(arr).all():
            raise InputError(f"clip {k} contains NaN or inf", field="root_xz")
        raws.append(arr)
    smooth: list[np.ndarray] = []
    start: dict[int, int] = {}
    for k, raw in enumerate(raws):
        if len(raw) >= 3:
            # the reference initialises every frame with the trajectory mean
            smooth.append(np.repeat(raw.mean(axis=0, keepdims=True), len(raw), axis=0))
            start[k] = _start_step(len(raw))
        else:
            # fewer than 3 frames have no acceleration to minimise: keep the input
            smooth.append(raw.copy())
            if len(raw) == 2 and match_kimodo_quirk:
                _interpolate_next_level(smooth[k], 1)
    step = max(start.values(), default=0)
    while step >= 1:
        active = [k for k, s in start.items() if s >= step]
        target = np.concatenate([raws[k][::step] for k in active])
        x0 = np.concatenate([smooth[k][::step] for k in active])
        sizes = [len(raws[k][::step]) for k in active]
        # one factorisation per level; natural ordering keeps the band (no fill beyond it)
        system = splu(sparse.block_diag([_smoother_matrix(n) for n in sizes], format="csc"), permc_spec="NATURAL")
        solved = _admm_smooth(target, x0, system.solve, float(margin), int(iterations))
        for k, part in zip(active, np.split(solved, np.cumsum(sizes)[:-1])):
            smooth[k][::step] = part
            if step > 1 or match_kimodo_quirk:
                _interpolate_next_level(smooth[k], step)
        step //= 2
    return smooth


def smooth_root_position(
    root_xz: np.ndarray,
    *,
    margin: float = ROOT_MARGIN,
    iterations: int = ADMM_ITERATIONS,
    match_kimodo_quirk: bool = True,
) -> np.ndarray:
    """KIMODO's smooth root (``get_smooth_root_pos``, reference 2.4) of a pelvis xz path.

    Minimises the summed squared second differences subject to staying within ``margin`` of the
    input on every frame (ADMM, ``rho = 0.25 sqrt(max diag(AᵀA))``, over-relaxation 1.8), solved
    coarse to fine: frames ``[::2^L]`` first (``L = max(floor(log2 T) - 4, 1)``), then midpoint
    interpolation to the next level as initial guess, down to every frame.

    ``match_kimodo_quirk=True`` reproduces the reference's extra interpolation after the finest
    solve, which shifts the result half a frame forward (on a straight line at 4 cm/frame the smooth
    root leads the pelvis by 2 cm mid-sequence). ``False`` returns the finest solve. Any straight
    path inside the margins has zero energy, so on a straight line the solve keeps the middle but
    may shorten the path by up to ``margin`` at each end.

    Args:
        root_xz: ``[..., T, 2]`` pelvis (x, z) in metres; leading dims are independent clips.
        margin: allowed distance from the input per frame (metres).
        iterations: ADMM iterations per multigrid level.

    Returns:
        ``[..., T, 2]`` float64 smooth root (x, z).
    """
    arr = np.asarray(root_xz, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-1] != 2 or arr.shape[-2] < 1:
        raise InputError(f"root_xz has shape {arr.shape}; expected [..., T >= 1, 2] (x, z)", field="root_xz")
    flat = arr.reshape((-1,) + arr.shape[-2:])
    out = smooth_root_positions(list(flat), margin=margin, iterations=iterations, match_kimodo_quirk=match_kimodo_quirk)
    return np.stack(out).reshape(arr.shape)


# ==================================================================================================
# Heading, velocities and contacts
# ==================================================================================================
def _ops(x: Array) -> tuple[Any, Any, Any]:
    """``(stack, concatenate, atan2)`` for torch tensors or numpy arrays (positional axis argument)."""
    if isinstance(x, torch.Tensor):
        return torch.stack, torch.cat, torch.atan2
    return np.stack, np.concatenate, np.arctan2


def _along(x: Array, dim: int, index: slice) -> Array:
    """``x`` sliced by ``index`` along axis ``dim`` (numpy or torch)."""
    key = [slice(None)] * x.ndim
    key[dim] = index
    return x[tuple(key)]


def _forward_difference(x: Array, fps: float, dim: int) -> Array:
    """``fps * (x[t+1] - x[t])`` along ``dim``, the last frame repeating the one before (0 if T = 1)."""
    if x.shape[dim] < 2:
        return x * 0
    diff = (_along(x, dim, slice(1, None)) - _along(x, dim, slice(None, -1))) * fps
    return _ops(x)[1]([diff, _along(diff, dim, slice(-1, None))], dim)


def root_heading(positions: Array, skeleton: Skeleton) -> Array:
    """Heading angle ``[..., T]`` (radians) from the hips of ``positions [..., T, J, 3]``.

    ``d = pos[right_hip] - pos[left_hip]``, ``θ = atan2(d_z, -d_x)``: 0 when facing +Z, and the
    facing direction is ``(sin θ, 0, cos θ)``. The hips are ``skeleton.joint_sets["hips"]``.
    """
    right, left = skeleton.indices(skeleton.joint_set("hips")[:2])
    d = positions[..., right, :] - positions[..., left, :]
    return _ops(d)[2](d[..., 2], -d[..., 0])


def foot_contacts_from_positions(
    positions: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    vel_threshold: float = CONTACT_VELOCITY,
    height_threshold: float = CONTACT_HEIGHT,
) -> np.ndarray:
    """KIMODO's contact heuristic: bool ``[..., T, 4]`` from joint positions ``[..., T, J, 3]``.

    A foot joint (left ankle, left toe, right ankle, right toe; ``skeleton.foot_joint_indices``) is
    in contact when its forward-difference speed is below ``vel_threshold`` m/s and its height above
    the floor y = 0 is below ``height_threshold`` m.
    """
    pos = np.asarray(positions, dtype=np.float64)[..., skeleton.foot_joint_indices, :]
    speed = np.linalg.norm(_forward_difference(pos, fps, dim=-3), axis=-1)
    return (speed < vel_threshold) & (pos[..., 1] < height_threshold)


def local_root_features(features: Array, fps: float = 30.0) -> Array:
    """The body stage's local-root input ``[..., T, 4]`` from features ``[..., T, D]``.

    Values: heading rate (rad/s, forward difference of the heading, wrapped through atan2 of the
    sin/cos difference), smooth-root velocity x and z (m/s, world frame, forward difference), and
    the smooth-root y (pelvis height). Only the first 5 dims of ``features`` are read.
    """
    if not isinstance(features, torch.Tensor):
        features = np.asarray(features)
    stack, cat, atan2 = _ops(features)
    x, y, z, cos, sin = (features[..., i] for i in range(5))
    if features.shape[-2] < 2:
        rate = cos * 0
    else:
        # sin/cos of θ[t+1] - θ[t]; atan2 ignores the common scale of un-normalised (cos, sin)
        ds = sin[..., 1:] * cos[..., :-1] - cos[..., 1:] * sin[..., :-1]
        dc = cos[..., 1:] * cos[..., :-1] + sin[..., 1:] * sin[..., :-1]
        step = atan2(ds, dc) * fps
        rate = cat([step, step[..., -1:]], -1)
    return stack([rate, _forward_difference(x, fps, -1), _forward_difference(z, fps, -1), y], -1)


# ==================================================================================================
# Yaw rotation and canonicalisation
# ==================================================================================================
def _yaw_vectors(v: Array, cos: Array, sin: Array) -> Array:
    """Apply ``R_y(a) = [[c,0,s],[0,1,0],[-s,0,c]]`` to vectors ``v [..., n, 3]``; ``cos``/``sin`` broadcast to ``[..., n]``."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return _ops(v)[0]([cos * x + sin * z, y, -sin * x + cos * z], -1)


def yaw_matrix(angle: float) -> np.ndarray:
    """``R_y(angle)`` ``[3, 3]``: a positive angle turns +Z towards +X (heading grows by ``angle``)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotate_motion_yaw(motion: Motion, angle: float) -> Motion:
    """``motion`` turned by ``angle`` radians about the world Y axis through the origin."""
    rot = yaw_matrix(float(angle))
    local = motion.local_rotations.copy()
    local[:, 0] = rot @ local[:, 0]
    return replace(motion, local_rotations=local, root_translation=motion.root_translation @ rot.T, meta=dict(motion.meta))


def canonicalize(motion: Motion) -> Motion:
    """``motion`` turned about Y and moved in xz so that frame 0 has heading 0 and root xz at the origin.

    KIMODO trains and generates with the first-frame heading at 0 (facing +Z); the root height and
    everything relative to the root are unchanged.
    """
    heading = float(root_heading(motion.joint_positions()[0], motion.skeleton))
    turned = rotate_motion_yaw(motion, -heading)
    root = turned.root_translation.copy()
    root[:, [0, 2]] -= root[0, [0, 2]]
    return replace(turned, root_translation=root)


# ==================================================================================================
# The feature representation
# ==================================================================================================
class KimodoFeatures:
    """KIMODO's ``D = 9 + 12J`` per-frame features for one skeleton and frame rate.

    Attributes:
        skeleton: the rig every encoded motion must be on.
        fps: the frame rate every encoded motion must have (velocities are per second).
        dim: ``D``.
        smooth_root_pos, global_root_heading, local_joints_positions, global_rot_data, velocities,
        foot_contacts: slices of each block in the last dim.
        root: ``slice(0, 5)`` (the global root, the root stage's output); body: ``slice(5, D)``.
    """

    def __init__(self, skeleton: Skeleton, fps: float = 30.0) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a positive number, got {fps}", field="fps")
        self.skeleton = skeleton
        self.fps = float(fps)
        j = skeleton.num_joints
        self.num_joints = j
        self.dim = 9 + 12 * j
        self.smooth_root_pos = slice(0, 3)
        self.global_root_heading = slice(3, 5)
        self.local_joints_positions = slice(5, 5 + 3 * j)
        self.global_rot_data = slice(5 + 3 * j, 5 + 9 * j)
        self.velocities = slice(5 + 9 * j, 5 + 12 * j)
        self.foot_contacts = slice(5 + 12 * j, 9 + 12 * j)
        self.root = slice(0, GLOBAL_ROOT_DIM)
        self.body = slice(GLOBAL_ROOT_DIM, self.dim)
        # fail at construction, not mid-dataset, when the rig lacks the hips (heading) or feet (contacts)
        skeleton.indices(skeleton.joint_set("hips")[:2])
        skeleton.indices(skeleton.joint_set("left_foot")[:2] + skeleton.joint_set("right_foot")[:2])

    def __repr__(self) -> str:
        return f"KimodoFeatures(skeleton={self.skeleton.name!r}, fps={self.fps}, dim={self.dim})"

    @property
    def blocks(self) -> dict[str, slice]:
        """The six blocks in layout order."""
        return {name: getattr(self, name) for name in BLOCK_NAMES}

    # ----------------------------------------------------------------------------------------------
    def _check_motion(self, motion: Motion, k: int = 0) -> None:
        if motion.skeleton != self.skeleton:
            raise InputError(
                f"motion {k} is on skeleton '{motion.skeleton.name}' ({motion.skeleton.num_joints} joints); these "
                f"features need '{self.skeleton.name}' ({self.num_joints} joints) with the same rest offsets",
                field="skeleton",
            )
        if abs(motion.fps - self.fps) > 1e-6:
            raise InputError(
                f"motion {k} has {motion.fps} fps; these features need {self.fps} fps (use Motion.resample)", field="fps"
            )

    def encode(self, motion: Motion) -> np.ndarray:
        """Features ``[T, D]`` float32 of ``motion`` (on this skeleton and fps, else :class:`InputError`).

        Foot contacts come from ``motion.foot_contacts`` when present, else from
        :func:`foot_contacts_from_positions`. Positions include ``motion.joint_translations``, but
        decoding poses the skeleton with its rest offsets (as KIMODO does), so animated bone
        lengths do not survive a round trip.
        """
        return self.encode_batch([motion])[0]

    def encode_batch(self, motions: Sequence[Motion]) -> list[np.ndarray]:
        """:meth:`encode` of many motions, smoothing all their roots in one pass (2-3x faster).

        Every motion's FK is held in memory at once, so pass chunks of tens to hundreds of clips.
        """
        for k, motion in enumerate(motions):
            self._check_motion(motion, k)
        posed = [motion.forward_kinematics() for motion in motions]
        smooth = smooth_root_positions([pos[:, 0, [0, 2]] for _, pos in posed])
        return [
            self._assemble(glob, pos, sxz, motion.foot_contacts)
            for (glob, pos), sxz, motion in zip(posed, smooth, motions)
        ]

    def _assemble(
        self, global_rot: np.ndarray, positions: np.ndarray, smooth_xz: np.ndarray, contacts: np.ndarray | None
    ) -> np.ndarray:
        """Features ``[T, D]`` float32 from FK output ``[T, J, 3, 3]``, ``[T, J, 3]`` and smooth xz ``[T, 2]``."""
        t, j = positions.shape[:2]
        out = np.empty((t, self.dim), dtype=np.float64)
        out[:, self.smooth_root_pos] = np.stack([smooth_xz[:, 0], positions[:, 0, 1], smooth_xz[:, 1]], axis=-1)
        heading = root_heading(positions, self.skeleton)
        out[:, self.global_root_heading] = np.stack([np.cos(heading), np.sin(heading)], axis=-1)
        offset = np.stack([smooth_xz[:, 0], np.zeros(t), smooth_xz[:, 1]], axis=-1)
        out[:, self.local_joints_positions] = (positions - offset[:, None, :]).reshape(t, 3 * j)
        out[:, self.global_rot_data] = matrix_to_rotation_6d(global_rot).reshape(t, 6 * j)
        out[:, self.velocities] = _forward_difference(positions, self.fps, dim=0).reshape(t, 3 * j)
        if contacts is None:
            contacts = foot_contacts_from_positions(positions, self.skeleton, self.fps)
        out[:, self.foot_contacts] = contacts
        return out.astype(np.float32)

    # ----------------------------------------------------------------------------------------------
    def _check_features(self, features: Array) -> None:
        shape = tuple(features.shape)
        if len(shape) < 2 or shape[-1] != self.dim:
            raise InputError(
                f"features have shape {list(shape)}; expected [..., T, {self.dim}] for skeleton '{self.skeleton.name}'",
                field="features",
            )

    def decode(self, features: Array, stats: "FeatureStats | None" = None) -> dict[str, Array]:
        """Motion from features ``[..., T, D]`` (numpy or torch; torch stays differentiable).

        Follows KIMODO's ``inverse`` (reference 2.6): unnormalise (when ``stats`` is given), global
        rotations from the 6D block by Gram-Schmidt, local ``R_parentᵀ R``, root position = the root
        entry of ``local_joints_positions`` plus the smooth-root xz, then FK. The predicted positions
        of the other joints and the velocities are not used.

        Returns a dict (numpy float64 for numpy input, the input's dtype for torch):
            ``local_rot_mats [..., T, J, 3, 3]``, ``global_rot_mats [..., T, J, 3, 3]``,
            ``posed_joints [..., T, J, 3]``, ``root_positions [..., T, 3]``,
            ``smooth_root_pos [..., T, 3]``, ``global_root_heading [..., T, 2]`` (as predicted, not
            re-normalised), ``foot_contacts [..., T, 4]`` bool (feature > 0.5).
        """
        if not isinstance(features, torch.Tensor):
            features = np.asarray(features, dtype=np.float64)
        self._check_features(features)
        if stats is not None:
            features = stats.unnormalize(features)
        lead = tuple(features.shape[:-1])
        j = self.num_joints
        global_rot = rotation_6d_to_matrix(features[..., self.global_rot_data].reshape(lead + (j, 6)))
        local_rot = self.skeleton.global_to_local(global_rot)
        smooth = features[..., self.smooth_root_pos]
        pelvis = features[..., self.local_joints_positions][..., 0:3]
        root = pelvis + _ops(features)[0]([smooth[..., 0], smooth[..., 1] * 0, smooth[..., 2]], -1)
        glob, posed = self.skeleton.forward_kinematics(local_rot, root)
        return {
            "local_rot_mats": local_rot,
            "global_rot_mats": glob,
            "posed_joints": posed,
            "root_positions": root,
            "smooth_root_pos": smooth,
            "global_root_heading": features[..., self.global_root_heading],
            "foot_contacts": features[..., self.foot_contacts] > 0.5,
        }

    def decode_motion(self, features: np.ndarray, stats: "FeatureStats | None" = None) -> Motion:
        """:meth:`decode` of one unbatched numpy clip ``[T, D]`` as a :class:`Motion`."""
        arr = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
        if arr.ndim != 2:
            raise InputError(f"decode_motion takes one clip [T, {self.dim}], got shape {list(arr.shape)}", field="features")
        out = self.decode(arr, stats)
        return Motion(
            local_rotations=out["local_rot_mats"],
            root_translation=out["root_positions"],
            fps=self.fps,
            skeleton=self.skeleton,
            foot_contacts=out["foot_contacts"],
        )

    def local_root_features(self, features: Array) -> Array:
        """``[..., T, 4]`` local root (heading rate, vx, vz, y) of features ``[..., T, D]`` at this fps."""
        self._check_features(features)
        return local_root_features(features, self.fps)

    def rotate_yaw(self, features: Array, angle: float | Array) -> Array:
        """:func:`rotate_features_yaw` with this skeleton's joint count checked."""
        self._check_features(features)
        return rotate_features_yaw(features, angle)


def rotate_features_yaw(features: Array, angle: float | Array) -> Array:
    """Features ``[..., T, D]`` of the motion turned by ``angle`` radians about world Y (reference 2.2).

    Positions, the smooth root and velocities become ``R_y p``, global rotations ``R_y R`` (both 6D
    columns turn), the heading ``(cos, sin)`` becomes that of ``θ + angle``; contacts are unchanged.
    The smooth root is rotation-equivariant, so this equals encoding the turned motion.

    Args:
        features: ``[..., T, D]`` with ``D = 9 + 12J`` (numpy or torch).
        angle: a scalar or one angle per clip, shape ``features.shape[:-2]``.
    """
    d = features.shape[-1]
    if (d - 9) % 12 != 0 or d < 21:
        raise InputError(f"features have {d} dims; expected 9 + 12J", field="features")
    j = (d - 9) // 12
    is_torch = isinstance(features, torch.Tensor)
    if is_torch:
        a = torch.as_tensor(angle, dtype=features.dtype, device=features.device)
        c, s = torch.cos(a)[..., None, None], torch.sin(a)[..., None, None]
    else:
        features = np.asarray(features)
        a = np.asarray(angle, dtype=np.float64)
        c, s = np.cos(a)[..., None, None], np.sin(a)[..., None, None]
    cat = _ops(features)[1]
    lead = tuple(features.shape[:-1])

    def vectors(start: int, count: int) -> Array:
        block = features[..., start : start + 3 * count].reshape(lead + (count, 3))
        return _yaw_vectors(block, c, s).reshape(lead + (3 * count,))

    cos, sin = features[..., 3:4], features[..., 4:5]
    heading = cat([cos * c - sin * s, cos * s + sin * c], -1)
    parts = [vectors(0, 1), heading, vectors(5, j), vectors(5 + 3 * j, 2 * j), vectors(5 + 9 * j, j), features[..., 5 + 12 * j :]]
    out = cat(parts, -1)
    return out if is_torch else out.astype(features.dtype, copy=False)


# ==================================================================================================
# Normalisation statistics
# ==================================================================================================
def _merge_moments(
    acc: tuple[int, np.ndarray, np.ndarray] | None, x: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray]:
    """Chan's parallel update of (count, mean, sum of squared deviations) with rows of ``x``."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    n_b = x.shape[0]
    mean_b = x.mean(axis=0)
    m2_b = ((x - mean_b) ** 2).sum(axis=0)
    if acc is None or acc[0] == 0:
        return n_b, mean_b, m2_b
    n_a, mean_a, m2_a = acc
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)


_STAT_FIELDS = ("global_root_mean", "global_root_std", "body_mean", "body_std", "local_root_mean", "local_root_std")
_BLOCKS = ("all", "global_root", "body", "local_root")


@dataclass
class FeatureStats:
    """Per-dim mean and standard deviation of the features, by block (reference 2.5, 9.2 item 1).

    ``global_root_*`` (5) normalise dims 0:5, ``body_*`` (D-5) dims 5:D; ``local_root_*`` (4) are
    used only for the body stage's local-root input. (KIMODO also writes the local-root stats into
    dims 5:9, but the body write overwrites them; the effective behaviour is the one here.)
    """

    global_root_mean: np.ndarray
    global_root_std: np.ndarray
    body_mean: np.ndarray
    body_std: np.ndarray
    local_root_mean: np.ndarray
    local_root_std: np.ndarray
    num_frames: int = 0
    num_clips: int = 0

    def __post_init__(self) -> None:
        sizes = {"global_root": GLOBAL_ROOT_DIM, "local_root": LOCAL_ROOT_DIM}
        for name in _STAT_FIELDS:
            value = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            block = name.rsplit("_", 1)[0]
            if block in sizes and value.shape[0] != sizes[block]:
                raise InputError(f"{name} has {value.shape[0]} values; expected {sizes[block]}", field=name)
            if not np.isfinite(value).all() or (name.endswith("_std") and (value < 0).any()):
                raise InputError(f"{name} must be finite (and std >= 0)", field=name)
            setattr(self, name, value)
        if self.body_std.shape != self.body_mean.shape:
            raise InputError(
                f"body_std has {self.body_std.shape[0]} values but body_mean {self.body_mean.shape[0]}", field="body_std"
            )

    @property
    def dim(self) -> int:
        """Feature size ``D`` these statistics cover."""
        return GLOBAL_ROOT_DIM + int(self.body_mean.shape[0])

    @classmethod
    def compute(cls, features_list: Iterable[np.ndarray], fps: float = 30.0) -> "FeatureStats":
        """Statistics over clips ``[T_i, D]`` (an iterable, consumed once; float64 accumulation).

        Population std (``ddof = 0``) over all frames of all clips; the local-root stats are over
        :func:`local_root_features` of each clip at ``fps``.
        """
        feats: tuple[int, np.ndarray, np.ndarray] | None = None
        local: tuple[int, np.ndarray, np.ndarray] | None = None
        clips = 0
        dim = None
        for k, clip in enumerate(features_list):
            arr = np.asarray(clip, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[0] == 0:
                raise InputError(f"clip {k} has shape {list(arr.shape)}; expected [T >= 1, D]", field="features")
            if dim is None:
                dim = arr.shape[1]
                if (dim - 9) % 12 != 0 or dim < 21:
                    raise InputError(f"clip {k} has {dim} dims; expected 9 + 12J", field="features")
            elif arr.shape[1] != dim:
                raise InputError(f"clip {k} has {arr.shape[1]} dims; earlier clips have {dim}", field="features")
            feats = _merge_moments(feats, arr)
            local = _merge_moments(local, local_root_features(arr, fps))
            clips += 1
        if feats is None or local is None:
            raise InputError("no feature clips to compute statistics from", field="features")
        mean, std = feats[1], np.sqrt(feats[2] / feats[0])
        return cls(
            global_root_mean=mean[:GLOBAL_ROOT_DIM],
            global_root_std=std[:GLOBAL_ROOT_DIM],
            body_mean=mean[GLOBAL_ROOT_DIM:],
            body_std=std[GLOBAL_ROOT_DIM:],
            local_root_mean=local[1],
            local_root_std=np.sqrt(local[2] / local[0]),
            num_frames=int(feats[0]),
            num_clips=clips,
        )

    # ----------------------------------------------------------------------------------------------
    def _mean_scale(self, block: str) -> tuple[np.ndarray, np.ndarray]:
        if block == "all":
            mean = np.concatenate([self.global_root_mean, self.body_mean])
            std = np.concatenate([self.global_root_std, self.body_std])
        elif block in ("global_root", "body", "local_root"):
            mean, std = getattr(self, f"{block}_mean"), getattr(self, f"{block}_std")
        else:
            raise InputError(f"unknown block '{block}'; known: {', '.join(_BLOCKS)}", field="block")
        return mean, np.sqrt(std**2 + NORM_EPS)

    def _affine(self, x: Array, block: str) -> tuple[Array, Any, Any]:
        mean, scale = self._mean_scale(block)
        if x.shape[-1] != mean.shape[0]:
            raise InputError(
                f"input has {x.shape[-1]} dims in its last axis; block '{block}' has {mean.shape[0]}", field="block"
            )
        if isinstance(x, torch.Tensor):
            like = {"dtype": x.dtype, "device": x.device}
            return x, torch.as_tensor(mean, **like), torch.as_tensor(scale, **like)
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return x.astype(dtype, copy=False), mean.astype(dtype), scale.astype(dtype)

    def normalize(self, x: Array, block: str = "all") -> Array:
        """``(x - mean) / sqrt(std^2 + 1e-5)`` over the last dim.

        ``block``: ``"all"`` (``[..., D]``: global-root stats on dims 0:5, body stats on 5:D),
        ``"global_root"`` (``[..., 5]``), ``"body"`` (``[..., D-5]``), ``"local_root"`` (``[..., 4]``).
        """
        x, mean, scale = self._affine(x, block)
        return (x - mean) / scale

    def unnormalize(self, x: Array, block: str = "all") -> Array:
        """Inverse of :meth:`normalize`."""
        x, mean, scale = self._affine(x, block)
        return x * scale + mean

    # ----------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description (what :meth:`save` writes next to the ``.npz``)."""
        return {
            "format": "motiongen.kimodo_feature_stats/1",
            "dim": self.dim,
            "num_frames": self.num_frames,
            "num_clips": self.num_clips,
            "norm_eps": NORM_EPS,
            **{name: [float(v) for v in getattr(self, name)] for name in _STAT_FIELDS},
        }

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.npz``) and a readable ``path.with_suffix('.json')``; returns the npz path.

        Both are written to temporary files in the same folder and renamed when complete.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in _STAT_FIELDS}
        arrays["counts"] = np.array([self.num_frames, self.num_clips], dtype=np.int64)
        atomic_write(path, lambda f: np.savez(f, **arrays))
        atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(self.summary(), indent=1).encode()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        """Read statistics written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InputError("feature statistics file does not exist", path=path)
        try:
            with np.load(path) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
            raise InputError(f"cannot read feature statistics as .npz ({exc})", path=path) from None
        missing = [name for name in _STAT_FIELDS if name not in arrays]
        if missing:
            raise InputError(f"not a feature statistics file: missing {missing}", path=path, field=missing[0])
        counts = arrays.get("counts", np.zeros(2, dtype=np.int64))
        try:
            return cls(**{name: arrays[name] for name in _STAT_FIELDS}, num_frames=int(counts[0]), num_clips=int(counts[1]))
        except InputError as exc:
            raise InputError(str(exc), path=path) from None
