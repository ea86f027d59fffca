"""Retargeting human motion onto the Unitree G1 by inverse kinematics within its joint limits.

Method (:func:`retarget_to_g1`):

1. **Scale.** ``scale`` = G1 leg length / source leg length (hip to ankle; the G1 leg measured in
   its MuJoCo zero pose, ``hip_roll`` to ``ankle_roll``), as :func:`motiongen.retarget.human.retarget`
   scales root motion. Arms get their own ratio (shoulder to wrist), so an arm pose keeps its shape.
2. **Targets** (:func:`g1_targets`), per frame, from the source's joint positions named through the
   canonical (``smplx22``) vocabulary of :data:`motiongen.retarget.human.CANONICAL_MAPS`:

   * pelvis and torso orientation: frames built from landmark vectors (hips or shoulders for the
     left axis, ``spine1 - hip centre`` or ``neck - spine1`` for up), with the tilt the source rig
     has in its calibration pose (standing) removed, so a standing human gives an upright G1;
   * pelvis position: the scaled hip centre, plus the G1's own pelvis-to-hip-centre offset;
   * hips (``hip_roll``) and shoulders (``shoulder_roll``) at their G1 rest offsets in the pelvis and
     torso target frames;
   * ankles at the scaled source ankles, each moved sideways by the difference between the G1's
     and the scaled source's half hip width, along the pelvis's left axis averaged over
     :data:`HEADING_WINDOW` (so a planted human foot gives a planted G1 foot: following the swaying
     pelvis instead made the feet slide); wrists (``wrist_yaw``) at the G1 shoulder plus the
     arm-scaled source shoulder-to-wrist vector, so an arm keeps its reach and shape;
   * knees and elbows at the G1 thigh or upper-arm length along the source's thigh or upper arm, so
     they set the plane the limb bends in without asking the G1 for the source's proportions (CMU
     subject 05's elbow-to-``lwrist`` segment is 0.44 of its upper arm; the G1's forearm equals its
     upper arm);
   * toes at the G1 foot length from the ankle target, along the source foot with its standing
     pitch replaced by the G1's (a flat human foot gives a flat G1 sole).

3. **IK** (:func:`solve_g1_ik`): the 29 hinge angles and the root pose of every frame minimise the
   weighted squared target errors (positions in metres, orientations in radians), a small pull to
   the MuJoCo zero pose (which fixes the joints no target sees, such as wrist roll) and a temporal
   smoothness term (squared second differences of the root position and hinge angles, so constant
   velocities are not damped). All frames are solved together (vectorised over frames) by projected
   Levenberg-Marquardt with analytic Jacobians of the hinge chains: the normal equations of the
   frame-coupled problem are banded (bandwidth 2 frames) and solved with ``scipy.linalg.solveh_banded``;
   each step is projected onto the ``g1.xml`` ranges ``[lo, hi]``, and hinges at a bound whose
   gradient points outwards are held there (active set). Long clips are solved in windows of
   :data:`WINDOW` frames (plus :data:`OVERLAP` frames of look-ahead that the next window solves
   again), each warm-started from the previous window's solution and held continuous with its last
   two kept frames.
4. **Floor** (:func:`place_g1_on_floor`): the lowest point of each sole is that of the 7 foot
   collision capsules of ``ankle_roll_link`` in ``g1.xml`` (:data:`SOLE_CAPSULES`); the floor goes to
   the 5th percentile over frames of the lower sole (like :func:`motiongen.retarget.human.place_on_floor`),
   then frames whose sole is still more than 1 cm below it are lifted, with a smooth lift curve
   (max filter then a moving average of the same width, which never drops below the needed lift).

The result has pure hinge rotations ``rest @ Rot(axis, q)`` on the 29 hinges and identity on the toe
bases and hand rolls, so :func:`motiongen.io.mujoco_csv.write_mujoco_csv` writes it exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.linalg import solveh_banded
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from motiongen.io.mujoco_csv import G1Hinges, g1_hinge_table
from motiongen.motion.motion import Motion
from motiongen.retarget.human import CANONICAL_MAPS, chain_length, identify_rig
from motiongen.skeleton.kimodo_assets import MUJOCO_TO_KIMODO
from motiongen.skeleton.skeleton import Skeleton

_SIDES = ("left", "right")

#: Canonical (``smplx22``) joint -> the G1 joint that stands for it.
G1_LANDMARKS: dict[str, str] = {"pelvis": "pelvis_skel"} | {
    f"{side}_{canonical}": f"{side}_{g1}"
    for side in _SIDES
    for canonical, g1 in (
        ("hip", "hip_roll_skel"),
        ("knee", "knee_skel"),
        ("ankle", "ankle_roll_skel"),
        ("foot", "toe_base"),
        ("shoulder", "shoulder_roll_skel"),
        ("elbow", "elbow_skel"),
        ("wrist", "wrist_yaw_skel"),
    )
}
#: Canonical joints a joint map must give; ``foot`` (toes), ``spine1`` and ``neck`` are optional.
REQUIRED_LANDMARKS = ("pelvis",) + tuple(
    f"{side}_{name}" for side in _SIDES for name in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
)
OPTIONAL_LANDMARKS = ("left_foot", "right_foot", "spine1", "neck")

#: Position-target weights (per metre of error) by canonical landmark kind. The ankles and toes
#: outweigh the pelvis so that where the two disagree (the G1's legs are not the scaled human's) the
#: pelvis gives way and a planted foot stays planted (ankle weight 1 -> 3: sliding 5 -> 3 cm/s).
POSITION_WEIGHTS = {
    "pelvis": 1.0, "hip": 0.5, "knee": 0.4, "ankle": 3.0, "foot": 1.5, "shoulder": 0.4, "elbow": 0.4, "wrist": 1.0,
}
#: Orientation-target weights (per radian): a 0.1 rad torso error costs as much as 3 cm of position.
ORIENTATION_WEIGHT = 0.3
#: Pull of every hinge towards the MuJoCo zero pose (per radian).
POSTURE_WEIGHT = 0.03
#: Weight of the second differences of root position (m) and hinge angles (rad) between frames.
SMOOTHNESS_WEIGHT = 0.4
#: Seconds over which the pelvis heading is averaged to widen the G1's stance (see :func:`g1_targets`).
HEADING_WINDOW = 1.0
#: Frames solved jointly; longer clips are solved window by window.
WINDOW = 600
#: Frames each window solves past the ones it keeps, so its end is shaped by what follows.
OVERLAP = 30

#: Foot collision capsules of ``ankle_roll_link`` in ``g1.xml`` (MuJoCo body frame, metres):
#: ``(from xyz, to xyz, radius)``; the right foot's 2nd and 6th are thinner than the left's.
SOLE_CAPSULES: dict[str, tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...]] = {
    "left": (
        ((0.1, -0.026, -0.025), (0.05, -0.027, -0.025), 0.01),
        ((-0.044, -0.018, -0.025), (0.123, -0.018, -0.025), 0.01),
        ((-0.052, -0.01, -0.025), (0.13, -0.01, -0.025), 0.01),
        ((-0.054, 0.0, -0.025), (0.132, 0.0, -0.025), 0.01),
        ((-0.052, 0.01, -0.025), (0.13, 0.01, -0.025), 0.01),
        ((-0.044, 0.018, -0.025), (0.123, 0.018, -0.025), 0.01),
        ((0.1, 0.026, -0.025), (0.05, 0.026, -0.025), 0.01),
    ),
    "right": (
        ((0.1, -0.026, -0.025), (0.05, -0.026, -0.025), 0.01),
        ((-0.044, -0.018, -0.025), (0.123, -0.018, -0.025), 0.008),
        ((-0.052, -0.01, -0.025), (0.13, -0.01, -0.025), 0.01),
        ((-0.054, 0.0, -0.025), (0.132, 0.0, -0.025), 0.01),
        ((-0.052, 0.01, -0.025), (0.13, 0.01, -0.025), 0.01),
        ((-0.044, 0.018, -0.025), (0.123, 0.018, -0.025), 0.008),
        ((0.1, 0.026, -0.025), (0.05, 0.026, -0.025), 0.01),
    ),
}

_ORIENTED = ("pelvis_skel", "waist_pitch_skel")


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """One BLAS thread while solving: LAPACK's banded Cholesky (``pbtrf``) runs small blocks, and
    OpenBLAS threads spinning on them were measured 200x slower on a busy 2-core machine (3.8 s
    against 18 ms for 300 frames). ``threadpoolctl`` is used where installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # still correct, only slower where cores are contended
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


# --------------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class G1Targets:
    """Per-frame IK targets on the G1 (our world: Y up, +Z forward, metres).

    Attributes:
        joints: G1 joints with a position target (``K`` names).
        positions: ``[T, K, 3]`` target positions.
        weights: ``[K]`` position weights (per metre).
        orientations: ``[T, 2, 3, 3]`` target global rotations of ``pelvis_skel`` and ``waist_pitch_skel``.
        scale: leg-length ratio G1 / source (root motion and legs).
        arm_scale: arm-length ratio G1 / source (elbow and wrist targets about the shoulder).
        source: the source rig (its registered name when identified, else its skeleton's name).
    """

    joints: tuple[str, ...]
    positions: np.ndarray
    weights: np.ndarray
    orientations: np.ndarray
    scale: float
    arm_scale: float
    source: str

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    def position(self, joint: str) -> np.ndarray:
        """Target positions ``[T, 3]`` of G1 joint ``joint``."""
        if joint not in self.joints:
            raise UnknownNameError(f"no position target for '{joint}'; targets: {', '.join(self.joints)}")
        return self.positions[:, self.joints.index(joint)]


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


def landmark_frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotations ``[..., 3, 3]`` with columns (left, up, forward) from a left and an up vector ``[..., 3]``.

    The left axis is kept; up is made perpendicular to it; forward = left x up.
    """
    x = _normalise(left)
    z = _normalise(np.cross(x, up))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def _yaw(angle: np.ndarray | float) -> np.ndarray:
    """Rotations about +Y by ``angle`` (``[..., 3, 3]``; 0 faces +Z)."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack([c, zero, s, zero, one, zero, -s, zero, c], axis=-1).reshape(np.shape(c) + (3, 3))


def _upright_correction(frame: np.ndarray) -> np.ndarray:
    """``T`` with ``frame = yaw(heading) @ T``: the tilt of a landmark frame in a standing pose."""
    forward = frame[:, 2]
    return _yaw(-np.arctan2(forward[0], forward[2])) @ frame


def _resolve_landmarks(source: Skeleton, joint_map: Mapping[str, str] | None) -> dict[str, int]:
    """Canonical landmark -> source joint index, from the registered map or ``joint_map``.

    ``joint_map`` keys may be canonical names or the G1 joints of :data:`G1_LANDMARKS`.
    """
    if joint_map is None:
        rig = identify_rig(source)
        if rig is None:
            raise UnknownNameError(
                f"no joint map for skeleton '{source.name}'; known rigs: {', '.join(CANONICAL_MAPS)} "
                "(pass joint_map {canonical or G1 joint: source joint}, e.g. {'left_wrist': 'LHand', ...})"
            )
        names = dict(CANONICAL_MAPS[rig])
    else:
        by_g1 = {g1: canonical for canonical, g1 in G1_LANDMARKS.items()}
        names = {}
        for key, value in joint_map.items():
            canonical = by_g1.get(key, key)
            if canonical not in REQUIRED_LANDMARKS + OPTIONAL_LANDMARKS:
                continue  # other joints of a general map (spine2, head, ...) are not targets
            names[canonical] = value
    missing = [c for c in REQUIRED_LANDMARKS if c not in names]
    if missing:
        raise InputError(
            f"joint map lacks {', '.join(missing)}; the G1 retargeting needs the source joints for "
            f"{', '.join(REQUIRED_LANDMARKS)} (optional: {', '.join(OPTIONAL_LANDMARKS)})",
            field="joint_map",
        )
    return {c: source.index(names[c]) for c in REQUIRED_LANDMARKS + OPTIONAL_LANDMARKS if c in names}


def _source_frames(pos: np.ndarray, idx: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis and torso landmark frames ``[T, 3, 3]`` of source positions ``[T, J, 3]``."""
    hip_l, hip_r = pos[:, idx["left_hip"]], pos[:, idx["right_hip"]]
    sh_l, sh_r = pos[:, idx["left_shoulder"]], pos[:, idx["right_shoulder"]]
    hip_mid, sh_mid = 0.5 * (hip_l + hip_r), 0.5 * (sh_l + sh_r)
    spine = pos[:, idx["spine1"]] if "spine1" in idx else sh_mid
    neck = pos[:, idx["neck"]] if "neck" in idx else sh_mid
    torso_base = pos[:, idx["spine1"]] if "spine1" in idx else hip_mid
    return landmark_frame(hip_l - hip_r, spine - hip_mid), landmark_frame(sh_l - sh_r, neck - torso_base)


def _g1_zero_pose(g1: Skeleton, hinges: G1Hinges) -> np.ndarray:
    """G1 joint positions ``[J, 3]`` in the MuJoCo zero pose (all hinge angles 0), pelvis at the origin."""
    local = np.broadcast_to(np.eye(3), (g1.num_joints, 3, 3)).copy()
    local[hinges.joints] = hinges.rotations(np.zeros(len(hinges.names)))
    return g1.forward_kinematics(local, np.zeros(3))[1]


def _smoothed_left_axis(pelvis_rot: np.ndarray, fps: float) -> np.ndarray:
    """Horizontal left axes ``[T, 3]`` of the pelvis heading averaged over :data:`HEADING_WINDOW` seconds
    (the stride's pelvis sway averages out; turns come through, a little late)."""
    forward = pelvis_rot[:, :, 2]
    heading = np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))
    size = max(1, round(HEADING_WINDOW * fps))
    heading = uniform_filter1d(heading, size, mode="nearest")
    return np.stack([np.cos(heading), np.zeros_like(heading), -np.sin(heading)], axis=-1)


def _elevation(v: np.ndarray) -> np.ndarray:
    return np.arctan2(v[..., 1], np.linalg.norm(v[..., [0, 2]], axis=-1))


def g1_targets(
    motion: Motion,
    g1: Skeleton,
    *,
    joint_map: Mapping[str, str] | None = None,
    calibration: np.ndarray | None = None,
) -> G1Targets:
    """IK targets on ``g1`` for ``motion`` (method in the module docstring, step 2).

    Args:
        motion: source motion on a rig :func:`~motiongen.retarget.human.identify_rig` knows, or on any
            rig with ``joint_map``.
        g1: the G1 skeleton.
        joint_map: canonical (``smplx22``) name or G1 landmark joint -> source joint, for rigs the
            registry does not know; needs :data:`REQUIRED_LANDMARKS`.
        calibration: ``[J_src, 3, 3]`` local rotations of a standing source pose (default: the rest
            pose; Bandai's is :func:`motiongen.skeleton.registry.calibration_pose`).
    """
    source = motion.skeleton
    hinges = g1_hinge_table(g1)
    idx = _resolve_landmarks(source, joint_map)
    pos = motion.joint_positions()
    if calibration is None:
        calibration = np.broadcast_to(np.eye(3), (source.num_joints, 3, 3))
    calibration = np.asarray(calibration, dtype=np.float64)
    if calibration.shape != (source.num_joints, 3, 3):
        raise InputError(f"calibration has shape {calibration.shape}; expected [{source.num_joints}, 3, 3]", field="calibration")
    calib = source.forward_kinematics(calibration[None], np.zeros((1, 3)))[1]

    g = _g1_zero_pose(g1, hinges)
    gi = {c: g1.index(j) for c, j in G1_LANDMARKS.items()}
    leg_g1 = float(np.linalg.norm(g[gi["left_hip"]] - g[gi["left_ankle"]]))
    leg_src = chain_length(source, idx["left_hip"], idx["left_ankle"])
    arm_g1 = float(np.linalg.norm(g[gi["left_shoulder"]] - g[gi["left_elbow"]]) + np.linalg.norm(g[gi["left_elbow"]] - g[gi["left_wrist"]]))
    arm_src = chain_length(source, idx["left_shoulder"], idx["left_wrist"])
    if min(leg_src, arm_src) < 1e-3:
        raise InputError(f"source leg ({leg_src:.4f} m) or arm ({arm_src:.4f} m) has no length", field="joint_map")
    scale, arm_scale = leg_g1 / leg_src, arm_g1 / arm_src

    pelvis_frame, torso_frame = _source_frames(pos, idx)
    calib_pelvis, calib_torso = (_upright_correction(f[0]) for f in _source_frames(calib, idx))
    pelvis_rot = pelvis_frame @ calib_pelvis.T
    torso_rot = torso_frame @ calib_torso.T

    # the G1's pelvis and torso frames are the identity in its zero pose, so zero-pose offsets from
    # them are offsets in the pelvis and torso target frames
    g_hip_mid = 0.5 * (g[gi["left_hip"]] + g[gi["right_hip"]])
    src_hip_mid = 0.5 * (pos[:, idx["left_hip"]] + pos[:, idx["right_hip"]])
    pelvis = scale * src_hip_mid + pelvis_rot @ (g[0] - g_hip_mid)
    torso_origin = pelvis + pelvis_rot @ (g[g1.index("waist_pitch_skel")] - g[0])

    joints: list[str] = ["pelvis_skel"]
    targets: list[np.ndarray] = [pelvis]
    weights: list[float] = [POSITION_WEIGHTS["pelvis"]]

    def add(canonical: str, target: np.ndarray) -> None:
        joints.append(G1_LANDMARKS[canonical])
        targets.append(target)
        weights.append(POSITION_WEIGHTS[canonical.split("_", 1)[1]])

    calib_left = _source_frames(calib, idx)[0][0, :, 0]
    calib_hip_mid = 0.5 * (calib[0, idx["left_hip"]] + calib[0, idx["right_hip"]])
    left_axis = _smoothed_left_axis(pelvis_rot, motion.fps)
    for side in _SIDES:
        hip = pelvis + pelvis_rot @ (g[gi[f"{side}_hip"]] - g[0])
        src_hip = pos[:, idx[f"{side}_hip"]]
        add(f"{side}_hip", hip)
        thigh = float(np.linalg.norm(g[gi[f"{side}_knee"]] - g[gi[f"{side}_hip"]]))
        add(f"{side}_knee", hip + thigh * _normalise(pos[:, idx[f"{side}_knee"]] - src_hip))
        # the G1's hips are wider than the scaled human's: its feet go that much further out, along a
        # slowly turning axis, so a planted foot stays planted (the pelvis sways under it)
        widening = (g[gi[f"{side}_hip"]] - g_hip_mid)[0] - scale * (calib[0, idx[f"{side}_hip"]] - calib_hip_mid) @ calib_left
        ankle = scale * pos[:, idx[f"{side}_ankle"]] + widening * left_axis
        add(f"{side}_ankle", ankle)
        if f"{side}_foot" in idx:
            foot = pos[:, idx[f"{side}_foot"]] - pos[:, idx[f"{side}_ankle"]]
            calib_foot = calib[0, idx[f"{side}_foot"]] - calib[0, idx[f"{side}_ankle"]]
            g_foot = g[gi[f"{side}_foot"]] - g[gi[f"{side}_ankle"]]
            pitch = np.clip(_elevation(foot) - _elevation(calib_foot) + _elevation(g_foot), -np.pi / 2, np.pi / 2)
            flat = foot[:, [0, 2]]
            heading = np.where(
                np.linalg.norm(flat, axis=-1, keepdims=True) > 1e-6, flat, pelvis_rot[:, [0, 2], 2]
            )
            heading = _normalise(heading)
            direction = np.stack([np.cos(pitch) * heading[:, 0], np.sin(pitch), np.cos(pitch) * heading[:, 1]], -1)
            add(f"{side}_foot", ankle + float(np.linalg.norm(g_foot)) * direction)
        shoulder = torso_origin + torso_rot @ (g[gi[f"{side}_shoulder"]] - g[g1.index("waist_pitch_skel")])
        src_shoulder = pos[:, idx[f"{side}_shoulder"]]
        add(f"{side}_shoulder", shoulder)
        upper_arm = float(np.linalg.norm(g[gi[f"{side}_elbow"]] - g[gi[f"{side}_shoulder"]]))
        add(f"{side}_elbow", shoulder + upper_arm * _normalise(pos[:, idx[f"{side}_elbow"]] - src_shoulder))
        add(f"{side}_wrist", shoulder + arm_scale * (pos[:, idx[f"{side}_wrist"]] - src_shoulder))
    return G1Targets(
        joints=tuple(joints),
        positions=np.stack(targets, axis=1),
        weights=np.array(weights),
        orientations=np.stack([pelvis_rot, torso_rot], axis=1),
        scale=float(scale),
        arm_scale=float(arm_scale),
        source=(identify_rig(source) if joint_map is None else None) or source.name,
    )


# --------------------------------------------------------------------------------------------------
# IK


class _Chain:
    """The G1's kinematic tree with hinge parameters: FK and analytic Jacobians, batched over frames.

    Variables per frame (``n_var = 35``): root position (3), root rotation increment in world axes
    (3), hinge angles (29, ``g1.xml`` order).
    """

    N_ROOT = 6

    def __init__(self, g1: Skeleton) -> None:
        self.skeleton = g1
        self.hinges = g1_hinge_table(g1)
        self.n_hinge = len(self.hinges.names)
        self.n_var = self.N_ROOT + self.n_hinge
        self.hinge_of_joint = np.full(g1.num_joints, -1)
        self.hinge_of_joint[self.hinges.joints] = np.arange(self.n_hinge)
        # ancestor[j, h]: hinge h moves joint j's frame (h at j or above it)
        self.ancestor = np.zeros((g1.num_joints, self.n_hinge), dtype=bool)
        for j in range(g1.num_joints):
            k = j
            while k >= 0:
                if self.hinge_of_joint[k] >= 0:
                    self.ancestor[j, self.hinge_of_joint[k]] = True
                k = g1.parents[k]

    def forward(self, root_pos: np.ndarray, root_rot: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global rotations ``[T, J, 3, 3]``, positions ``[T, J, 3]`` and hinge world axes ``[T, 29, 3]``."""
        g1 = self.skeleton
        t = q.shape[0]
        hinge_rot = self.hinges.rotations(q)  # [T, 29, 3, 3]
        glob = np.empty((t, g1.num_joints, 3, 3))
        pos = np.empty((t, g1.num_joints, 3))
        glob[:, 0], pos[:, 0] = root_rot, root_pos
        for j in range(1, g1.num_joints):
            p = g1.parents[j]
            pos[:, j] = pos[:, p] + glob[:, p] @ g1.offsets[j]
            h = self.hinge_of_joint[j]
            glob[:, j] = glob[:, p] if h < 0 else glob[:, p] @ hinge_rot[:, h]
        axes = np.einsum("thab,hb->tha", glob[:, self.hinges.joints], self.hinges.axes)
        return glob, pos, axes

    def position_jacobian(self, pos: np.ndarray, axes: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """``d pos[:, joints] / d vars``: ``[T, K, 3, N_VAR]``."""
        t, k = pos.shape[0], len(joints)
        jac = np.zeros((t, k, 3, self.n_var))
        jac[..., :3] = np.eye(3)
        lever = pos[:, joints] - pos[:, :1]
        jac[..., 3:6] = -_skew(lever)
        pivots = pos[:, self.hinges.joints]  # [T, 29, 3]
        arms = pos[:, joints, None, :] - pivots[:, None]  # [T, K, 29, 3]
        cols = np.cross(axes[:, None], arms) * self.ancestor[joints][None, :, :, None]
        jac[..., 6:] = np.swapaxes(cols, -1, -2)
        return jac

    def orientation_jacobian(self, axes: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """``d log(G[:, joints] R*^T) / d vars`` (first order): ``[T, O, 3, N_VAR]``."""
        t, o = axes.shape[0], len(joints)
        jac = np.zeros((t, o, 3, self.n_var))
        jac[..., 3:6] = np.eye(3)
        jac[..., 6:] = np.swapaxes(axes[:, None] * self.ancestor[joints][None, :, :, None], -1, -2)
        return jac


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(v.shape[:-1] + (3, 3))


def _second_difference_gram(t: int) -> np.ndarray:
    """Diagonals ``[3, t]`` (offsets 0, 1, 2) of ``D^T D`` for the second difference ``D`` over ``t`` frames.

    Row ``r`` of ``D`` weighs frames ``r, r+1, r+2`` by ``1, -2, 1``; ``diag[d, f]`` is the entry
    between frames ``f`` and ``f + d``.
    """
    coeff = (1.0, -2.0, 1.0)
    diag = np.zeros((3, t))
    rows = max(t - 2, 0)
    for a in range(3):
        for d in range(3 - a):
            diag[d, a : a + rows] += coeff[a] * coeff[a + d]
    return diag


@dataclass
class IKResult:
    """What :func:`solve_g1_ik` found: the motion and its fit.

    Attributes:
        motion: the G1 motion (not yet placed on the floor).
        angles: ``[T, 29]`` hinge angles, within the ranges.
        iterations: LM iterations (summed over windows).
        position_error: ``[T, K]`` distance of each targeted joint from its target (m).
        orientation_error: ``[T, 2]`` angle of the pelvis and torso from their targets (rad).
    """

    motion: Motion
    angles: np.ndarray
    iterations: int
    position_error: np.ndarray
    orientation_error: np.ndarray


class _Problem:
    """One window of the frame-coupled least-squares problem (see :func:`solve_g1_ik`)."""

    def __init__(
        self,
        chain: _Chain,
        targets: np.ndarray,
        weights: np.ndarray,
        target_joints: np.ndarray,
        orientations: np.ndarray,
        smoothness: float,
        fixed_frames: int,
    ) -> None:
        self.chain = chain
        self.targets, self.weights, self.joints = targets, weights, target_joints
        self.orientations = orientations
        self.oriented = np.array(chain.skeleton.indices(_ORIENTED))
        self.smoothness = smoothness
        self.t = targets.shape[0]
        self.fixed_frames = fixed_frames
        n = chain.n_var
        self.smooth_vars = np.r_[0:3, 6:n]
        self.gram = _second_difference_gram(self.t)
        self.neutral = np.clip(0.0, chain.hinges.ranges[:, 0], chain.hinges.ranges[:, 1])

    def residuals(
        self, root_pos: np.ndarray, root_rot: np.ndarray, q: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """FK (global rotations, positions, hinge axes) and the position ``[T, K, 3]`` and
        orientation ``[T, 2, 3]`` residuals."""
        glob, pos, axes = self.chain.forward(root_pos, root_rot, q)
        r_pos = pos[:, self.joints] - self.targets  # [T, K, 3]
        r_ori = matrix_to_axis_angle(glob[:, self.oriented] @ np.swapaxes(self.orientations, -1, -2))  # [T, 2, 3]
        return glob, pos, axes, r_pos, r_ori

    def cost(self, x_pos: np.ndarray, q: np.ndarray, r_pos: np.ndarray, r_ori: np.ndarray) -> float:
        w = self.weights[None, :, None]
        data = ((w * r_pos) ** 2).sum() + ORIENTATION_WEIGHT**2 * (r_ori**2).sum()
        posture = POSTURE_WEIGHT**2 * ((q - self.neutral) ** 2).sum()
        smooth_x = np.concatenate([x_pos, q], axis=-1)
        second = smooth_x[:-2] - 2 * smooth_x[1:-1] + smooth_x[2:]
        return float(data + posture + self.smoothness**2 * (second**2).sum())

    def normal_equations(
        self,
        x_pos: np.ndarray,
        q: np.ndarray,
        pos: np.ndarray,
        axes: np.ndarray,
        r_pos: np.ndarray,
        r_ori: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame Gauss-Newton blocks ``H [T, n, n]`` and the full gradient ``g [T, n]``."""
        chain = self.chain
        jp = chain.position_jacobian(pos, axes, self.joints) * self.weights[None, :, None, None]
        jo = chain.orientation_jacobian(axes, self.oriented) * ORIENTATION_WEIGHT
        t, n = self.t, chain.n_var
        jac = np.concatenate([jp.reshape(t, -1, n), jo.reshape(t, -1, n)], axis=1)
        res = np.concatenate([(r_pos * self.weights[None, :, None]).reshape(t, -1), ORIENTATION_WEIGHT * r_ori.reshape(t, -1)], 1)
        hess = np.swapaxes(jac, 1, 2) @ jac
        grad = np.einsum("tri,tr->ti", jac, res)
        hinge = np.arange(6, n)
        hess[:, hinge, hinge] += POSTURE_WEIGHT**2
        grad[:, 6:] += POSTURE_WEIGHT**2 * (q - self.neutral)
        smooth_x = np.concatenate([x_pos, q], axis=-1)  # [T, 32]
        s2 = self.smoothness**2
        dtd_x = self.gram[0][:, None] * smooth_x
        dtd_x[:-1] += self.gram[1][:-1, None] * smooth_x[1:]
        dtd_x[1:] += self.gram[1][:-1, None] * smooth_x[:-1]
        dtd_x[:-2] += self.gram[2][:-2, None] * smooth_x[2:]
        dtd_x[2:] += self.gram[2][:-2, None] * smooth_x[:-2]
        grad[:, self.smooth_vars] += s2 * dtd_x
        return hess, grad

    def solve_step(self, hess: np.ndarray, grad: np.ndarray, free: np.ndarray, damping: float) -> np.ndarray:
        """LM step ``[T, n]`` of the banded system restricted to the ``free [T, n]`` variables."""
        t, n = self.t, self.chain.n_var
        u = 2 * n  # smoothness couples a variable with itself two frames later
        big = t * n
        ab = np.zeros((u + 1, big))
        a, b = np.triu_indices(n)
        fr = free.astype(np.float64)
        block = hess[:, a, b] * fr[:, a] * fr[:, b]
        cols = (np.arange(t)[:, None] * n + b[None]).ravel()
        ab[np.tile(u + a - b, t), cols] = block.ravel()
        s2 = self.smoothness**2
        for d in (0, 1, 2):
            coeff = self.gram[d][: t - d]
            if d == 0:
                idx = np.arange(t)[:, None] * n + self.smooth_vars[None]
                ab[u, idx] += s2 * coeff[:, None] * fr[:, self.smooth_vars]
                continue
            upper_cols = np.arange(d, t)[:, None] * n + self.smooth_vars[None]
            ab[u - d * n, upper_cols] += s2 * coeff[:, None] * fr[: t - d, self.smooth_vars] * fr[d:, self.smooth_vars]
        flat_diag = ab[u].reshape(t, n)
        flat_diag += damping * (flat_diag + 1e-6)  # Marquardt: damping scaled by the curvature
        flat_diag[~free] = 1.0
        ab[u] = flat_diag.ravel()
        rhs = -(grad * fr).ravel()
        return solveh_banded(ab, rhs, lower=False, check_finite=False).reshape(t, n)

    def solve(
        self, root_pos: np.ndarray, root_rot: np.ndarray, q: np.ndarray, max_iterations: int, tolerance: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Projected LM from the given root poses and angles; returns them solved and the iterations."""
        lo, hi = self.chain.hinges.ranges[:, 0], self.chain.hinges.ranges[:, 1]
        q = np.clip(q, lo, hi)
        _, pos, axes, r_pos, r_ori = self.residuals(root_pos, root_rot, q)
        cost = self.cost(root_pos, q, r_pos, r_ori)
        damping, iterations = 1e-3, 0
        for iterations in range(1, max_iterations + 1):
            hess, grad = self.normal_equations(root_pos, q, pos, axes, r_pos, r_ori)
            free = np.ones((self.t, self.chain.n_var), dtype=bool)
            free[: self.fixed_frames] = False
            eps = 1e-9
            at_lo = (q <= lo + eps) & (grad[:, 6:] > 0)
            at_hi = (q >= hi - eps) & (grad[:, 6:] < 0)
            free[:, 6:] &= ~(at_lo | at_hi)
            improved = False
            while damping < 1e8:
                step = self.solve_step(hess, grad, free, damping)
                new_pos = root_pos + step[:, :3]
                new_rot = axis_angle_to_matrix(step[:, 3:6]) @ root_rot
                new_q = np.clip(q + step[:, 6:], lo, hi)
                trial = self.residuals(new_pos, new_rot, new_q)
                new_cost = self.cost(new_pos, new_q, trial[3], trial[4])
                if new_cost < cost:
                    improved = True
                    break
                damping *= 10.0
            if not improved:
                break
            decrease = (cost - new_cost) / max(cost, 1e-12)
            root_pos, root_rot, q, cost = new_pos, new_rot, new_q, new_cost
            _, pos, axes, r_pos, r_ori = trial
            damping = max(damping * 0.3, 1e-7)
            if decrease < tolerance:
                break
        return root_pos, root_rot, q, iterations


def _solve_windows(
    chain: _Chain,
    targets: G1Targets,
    joints: np.ndarray,
    root_pos: np.ndarray,
    root_rot: np.ndarray,
    q: np.ndarray,
    smoothness: float,
    max_iterations: int,
    tolerance: float,
    window_frames: int,
) -> int:
    """Solve ``targets`` window by window, updating ``root_pos``, ``root_rot`` and ``q`` in place;
    returns the LM iterations summed over windows."""
    t, iterations, start, solved = targets.num_frames, 0, 0, 0
    overlap = min(OVERLAP, window_frames)
    while start < t:
        keep = min(2, start)  # the previous window's last kept frames, held as boundary conditions
        commit = min(start + window_frames, t)
        # solving past the frames kept lets their end see what follows, so windows join smoothly
        end = min(commit + overlap, t)
        window = slice(start - keep, end)
        if 0 < solved < end:
            # warm start: frames no window has seen begin from the last solved pose
            q[solved:end] = q[solved - 1]
        problem = _Problem(
            chain, targets.positions[window], targets.weights, joints, targets.orientations[window], smoothness, keep
        )
        root_pos[window], root_rot[window], q[window], its = problem.solve(
            root_pos[window], root_rot[window], q[window], max_iterations, tolerance
        )
        iterations += its
        start, solved = commit, end
    return iterations


def solve_g1_ik(
    targets: G1Targets,
    g1: Skeleton,
    *,
    fps: float = 30.0,
    smoothness: float = SMOOTHNESS_WEIGHT,
    max_iterations: int = 60,
    tolerance: float = 1e-5,
    window: int = WINDOW,
) -> IKResult:
    """Hinge angles within the ``g1.xml`` ranges and root poses that best meet ``targets``.

    See the module docstring, step 3. ``smoothness`` weighs the second differences of the root
    position and hinge angles; ``tolerance`` is the relative cost decrease at which LM stops;
    ``window`` is the number of frames solved jointly (peak memory ~75 kB a frame: 45 MB at 600).
    Starts from the target pelvis pose and the MuJoCo zero pose (clipped into the ranges).
    """
    chain = _Chain(g1)
    t = targets.num_frames
    if t == 0:
        raise InputError("the motion has no frames", field="motion")
    if window < 3:
        raise InputError(f"window must be at least 3 frames, got {window}", field="window")
    joints = np.array(g1.indices(targets.joints))
    root_pos = targets.positions[:, 0].copy()
    root_rot = targets.orientations[:, 0].copy()
    q = np.zeros((t, chain.n_hinge))
    with _single_threaded_blas():
        iterations = _solve_windows(
            chain, targets, joints, root_pos, root_rot, q, smoothness, max_iterations, tolerance, window
        )
    glob, pos, _ = chain.forward(root_pos, root_rot, q)
    position_error = np.linalg.norm(pos[:, joints] - targets.positions, axis=-1)
    orient = matrix_to_axis_angle(glob[:, g1.indices(_ORIENTED)] @ np.swapaxes(targets.orientations, -1, -2))
    local = np.broadcast_to(np.eye(3), (t, g1.num_joints, 3, 3)).copy()
    local[:, 0] = root_rot
    local[:, chain.hinges.joints] = chain.hinges.rotations(q)
    motion = Motion(local_rotations=local, root_translation=root_pos, fps=fps, skeleton=g1)
    return IKResult(motion, q, iterations, position_error, np.linalg.norm(orient, axis=-1))


# --------------------------------------------------------------------------------------------------
# Floor


def g1_sole_heights(motion: Motion) -> np.ndarray:
    """Height (y) of the lowest point of each sole ``[T, 2]`` (left, right): the foot collision
    capsules of ``g1.xml`` (:data:`SOLE_CAPSULES`) on ``<side>_ankle_roll_skel``."""
    glob, pos = motion.forward_kinematics()
    out = []
    for side in _SIDES:
        j = motion.skeleton.index(f"{side}_ankle_roll_skel")
        capsules = SOLE_CAPSULES[side]
        ends = np.array([[a, b] for a, b, _ in capsules]).reshape(-1, 3) @ MUJOCO_TO_KIMODO.T  # [14, 3] ours
        radius = np.repeat([r for _, _, r in capsules], 2)
        world_y = pos[:, j, None, 1] + np.einsum("tb,kb->tk", glob[:, j, 1], ends)
        out.append((world_y - radius).min(-1))
    return np.stack(out, axis=-1)


def place_g1_on_floor(motion: Motion, percentile: float = 5.0, tolerance: float = 0.01) -> tuple[Motion, float, float]:
    """Shift a G1 motion so its soles stand on y = 0; returns ``(motion, shift, largest lift)``.

    The floor goes to the ``percentile`` (over frames) of the lower sole; frames whose sole is then
    lower than ``-tolerance`` are lifted to ``-tolerance`` by a smooth lift curve (module docstring).
    """
    lowest = g1_sole_heights(motion).min(-1)
    shift = -float(np.percentile(lowest, percentile))
    needed = np.maximum(0.0, -tolerance - (lowest + shift))
    lift = np.zeros_like(needed)
    if needed.any():
        width = max(1, round(motion.fps / 6))  # ~0.17 s ramps
        size = 2 * width + 1
        lift = uniform_filter1d(maximum_filter1d(needed, size, mode="nearest"), size, mode="nearest")
        lift = np.maximum(lift, needed)  # float round-off of the average
    root = motion.root_translation.copy()
    root[:, 1] += shift + lift
    return replace(motion, root_translation=root, meta=dict(motion.meta)), shift, float(lift.max())


# --------------------------------------------------------------------------------------------------
# Entry point


def retarget_to_g1(
    motion: Motion,
    g1: Skeleton | None = None,
    *,
    joint_map: Mapping[str, str] | None = None,
    calibration: np.ndarray | None = None,
    ground: bool = True,
    smoothness: float = SMOOTHNESS_WEIGHT,
    max_iterations: int = 60,
) -> Motion:
    """Retarget a human motion onto the Unitree G1 by IK within its joint limits (module docstring).

    Args:
        motion: source motion on a rig :func:`~motiongen.retarget.human.identify_rig` knows
            (``smplx22``, ``soma30``/``soma77``, ``bandai22``, ``cmu31``, ``hdm05``) or on any rig with
            ``joint_map``.
        g1: the G1 skeleton (default ``get_skeleton("g1")``, which needs the kimodo-assets archive).
        joint_map: canonical (``smplx22``) name or G1 landmark joint -> source joint
            (:data:`REQUIRED_LANDMARKS`, optionally :data:`OPTIONAL_LANDMARKS`).
        calibration: ``[J_src, 3, 3]`` local rotations of a standing source pose (default rest pose).
        ground: put the soles on the floor y = 0 (step 4).
        smoothness: weight of the frame-to-frame second differences.
        max_iterations: LM iterations per window.

    Returns:
        A Motion on the G1 at the source's frame rate, with ``meta["retarget"] = {"source", "scale",
        "arm_scale", "method": "ik", "iterations", "position_error_m" (mean over frames and targeted
        joints), "orientation_error_rad", "floor_shift_m", "max_lift_m"}``.
    """
    if g1 is None:
        from motiongen.skeleton.registry import get_skeleton

        g1 = get_skeleton("g1")
    if "hinges" in motion.skeleton.extras:
        raise InputError("the motion is already on the G1; retarget a human motion", field="motion")
    targets = g1_targets(motion, g1, joint_map=joint_map, calibration=calibration)
    result = solve_g1_ik(targets, g1, fps=motion.fps, smoothness=smoothness, max_iterations=max_iterations)
    out, shift, lift = result.motion, 0.0, 0.0
    if ground:
        out, shift, lift = place_g1_on_floor(out)
    info: dict[str, Any] = {
        "source": targets.source,
        "scale": targets.scale,
        "arm_scale": targets.arm_scale,
        "method": "ik",
        "iterations": result.iterations,
        "position_error_m": float(result.position_error.mean()),
        "orientation_error_rad": float(result.orientation_error.mean()),
        "floor_shift_m": shift,
        "max_lift_m": lift,
    }
    meta = {k: v for k, v in motion.meta.items() if k != "retarget"}
    return replace(out, meta={**meta, "retarget": info})
