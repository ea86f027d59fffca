"""HumanML3D-263 features (Guo et al., CVPR 2022; reference ``representations.md`` section 1).

``[T - 1, 263]`` float32 rows at **20 fps** from ``T`` frames of 22 SMPL joint positions:

| dims | size | content (row ``t``) |
|---|---|---|
| 0 | 1 | root angular velocity: ``arcsin`` of the y component of ``r_{t+1} inv(r_t)`` (half the yaw step) |
| 1:3 | 2 | root linear velocity (x, z) in the heading frame of frame ``t + 1`` |
| 3 | 1 | root height |
| 4:67 | 63 | root-relative positions of joints 1..21 in the heading frame of frame ``t`` |
| 67:193 | 126 | swing-only IK rotations of joints 1..21 in the **C6** layout (columns 0 then 1) |
| 193:259 | 66 | joint displacements ``t -> t + 1`` of all 22 joints in the heading frame of frame ``t`` |
| 259:263 | 4 | foot contacts: left ankle, left foot, right ankle, right foot |

Before encoding the positions are put on HumanML3D's uniform skeleton (bone lengths of clip
``000021``), on the floor, centred in XZ and turned to face +Z at frame 0 (:func:`hml263_canonical_positions`),
so ``hml263_to_positions(positions_to_hml263(P))`` returns those canonical positions, not ``P``.
The reference code's quirks are copied on purpose: the IK's heading uses *left minus right* hips
(swapped names in ``inverse_kinematics_np``), is Gaussian-smoothed (sigma 20 frames, edges
replicated), and is forced to identity at frame 0; the root velocity uses frame ``t + 1``'s
heading while the joint velocities use frame ``t``'s.

Degenerate half turns (a frame-0 facing of exactly -Z, a bone exactly opposite its rest direction)
divide 0 by 0 in the reference; here they turn about +Y (facing) or about a fixed axis
perpendicular to the rest direction (bones), so synthetic motions encode without NaN.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motiongen.errors import InputError
from motiongen.features.common import (
    SMPL22_NUM_JOINTS,
    SMPL22_PARENTS,
    c6_to_matrix,
    matrix_to_c6,
    qbetween,
    qinv,
    qrot,
    quaternion_matrix,
    require_frames,
    require_smpl22,
    resample_positions,
)
from motiongen.geometry import quaternion_multiply
from motiongen.motion.motion import Motion

HML263_FPS = 20.0
HML263_DIM = 263
#: 6D layout of the rotation block (reference 0.1): columns 0 then 1.
HML263_LAYOUT = "C6"

#: Kinematic chains (``paramUtil.t2m_kinematic_chain``) in the order the IK and FK walk them.
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)
#: Unit rest direction of the bone ending at each joint (``t2m_raw_offsets``); feet and head point +Z.
RAW_DIRECTIONS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
        [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
        [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    ],
    dtype=np.float64,
)
#: Bone lengths of the uniform skeleton (clip 000021, measured from the public sample; reference 1.2).
TARGET_LENGTHS = np.array(
    [
        0.0, 0.103074, 0.109883, 0.131568, 0.393623, 0.390188, 0.143190, 0.432433, 0.425644, 0.057365,
        0.143382, 0.149419, 0.219360, 0.137487, 0.143383, 0.103039, 0.131614, 0.122984, 0.256840,
        0.263092, 0.266012, 0.269876,
    ]
)
#: Right hip, left hip, right shoulder, left shoulder (``face_joint_indx``).
FACE_JOINTS = (2, 1, 17, 16)
#: Contact channels in stored order: left ankle, left foot, right ankle, right foot.
FOOT_CONTACT_JOINTS = (7, 10, 8, 11)
#: Squared per-frame displacement (m^2) under which a foot joint is in contact.
FOOT_CONTACT_THRESHOLD = 0.002
#: Gaussian smoothing of the IK heading, in frames (truncated at 4 sigma = 80 frames).
HEADING_SIGMA = 20.0
#: The leg bones whose frame-0 lengths set the uniform-skeleton scale (right thigh, right shin).
LEG_SCALE_JOINTS = (5, 8)

#: The seven blocks; ``Std.npy`` holds one value per block (reference 1.9).
HML263_BLOCKS: dict[str, slice] = {
    "root_angular_velocity": slice(0, 1),
    "root_linear_velocity": slice(1, 3),
    "root_height": slice(3, 4),
    "ric_positions": slice(4, 67),
    "rotations": slice(67, 193),
    "local_velocities": slice(193, 259),
    "foot_contacts": slice(259, 263),
}

_Z_AXIS = np.array([0.0, 0.0, 1.0])
_Y_AXIS = np.array([0.0, 1.0, 0.0])
_IDENTITY_Q = np.array([1.0, 0.0, 0.0, 0.0])


def uniform_skeleton_offsets() -> np.ndarray:
    """Rest offsets ``[22, 3]`` of the uniform skeleton: raw direction x target length (reference 1.2)."""
    return RAW_DIRECTIONS * TARGET_LENGTHS[:, None]


def uniform_skeleton_rest_joints() -> np.ndarray:
    """Rest joint positions ``[22, 3]`` of the uniform skeleton, pelvis at the origin.

    The rest pose of HumanML3D's unusual rest directions (feet and head along +Z, shoulders down).
    """
    offsets = uniform_skeleton_offsets()
    joints = np.zeros_like(offsets)
    for j, p in enumerate(SMPL22_PARENTS):
        if p >= 0:
            joints[j] = joints[p] + offsets[j]
    return joints


def _check_positions(positions: np.ndarray, min_frames: int) -> np.ndarray:
    positions = np.asarray(positions)
    if positions.ndim != 3 or positions.shape[1:] != (SMPL22_NUM_JOINTS, 3) or positions.shape[0] < min_frames:
        raise InputError(
            f"has shape {positions.shape}; expected [T >= {min_frames}, {SMPL22_NUM_JOINTS}, 3]", field="positions"
        )
    if not np.isfinite(positions).all():
        raise InputError("contains NaN or inf", field="positions")
    return positions.astype(np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _on_uniform_skeleton(positions: np.ndarray) -> np.ndarray:
    """Step 1.4.1: each bone keeps its direction and takes the uniform length; the root is scaled by
    the ratio of the (right thigh + shin) lengths of frame 0."""
    thigh, shin = LEG_SCALE_JOINTS
    source_leg = np.linalg.norm(positions[0, thigh] - positions[0, SMPL22_PARENTS[thigh]]) + np.linalg.norm(
        positions[0, shin] - positions[0, SMPL22_PARENTS[shin]]
    )
    if source_leg <= 0:
        raise InputError("the right leg has zero length in frame 0", field="positions")
    scale = (TARGET_LENGTHS[thigh] + TARGET_LENGTHS[shin]) / source_leg
    out = np.empty_like(positions)
    out[:, 0] = positions[:, 0] * scale
    for j, p in enumerate(SMPL22_PARENTS[1:], start=1):
        out[:, j] = out[:, p] + _unit(positions[:, j] - positions[:, p]) * TARGET_LENGTHS[j]
    return out


def hml263_canonical_positions(positions: np.ndarray) -> np.ndarray:
    """The global positions ``G [T, 22, 3]`` the encoder works on (reference 1.4).

    Uniform skeleton, floor at y = 0 (minimum over all frames and joints), frame-0 root at the XZ
    origin, frame-0 facing (hips and shoulders, unsmoothed) turned onto +Z.

    Args:
        positions: ``[T, 22, 3]`` SMPL-22 joint positions in metres, Y up (any frame rate).
    """
    positions = _on_uniform_skeleton(_check_positions(positions, 1))
    positions[..., 1] -= positions[..., 1].min()
    positions -= positions[0, 0] * np.array([1.0, 0.0, 1.0])
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    first = positions[0]
    across = (first[right_hip] - first[left_hip]) + (first[right_shoulder] - first[left_shoulder])
    forward = _unit(np.cross(_Y_AXIS, _unit(across)))
    turn = qbetween(forward, _Z_AXIS, fallback_axis=_Y_AXIS)
    return qrot(np.broadcast_to(turn, positions.shape[:-1] + (4,)), positions)


def hml263_foot_contacts(global_positions: np.ndarray) -> np.ndarray:
    """Contacts ``[T - 1, 4]`` (0/1) from canonical positions ``[T, 22, 3]`` (reference 1.5).

    ``1`` where the squared displacement to the next frame is below :data:`FOOT_CONTACT_THRESHOLD`;
    channels in :data:`FOOT_CONTACT_JOINTS` order. No height test (the reference has none).
    """
    feet = global_positions[:, list(FOOT_CONTACT_JOINTS)]
    squared = ((feet[1:] - feet[:-1]) ** 2).sum(-1)
    return (squared < FOOT_CONTACT_THRESHOLD).astype(np.float64)


def hml263_heading(global_positions: np.ndarray) -> np.ndarray:
    """Root quaternions ``r [T, 4]`` of the IK (reference 1.6, steps 1-4): world -> heading frame.

    Across = *left* hip minus right hip plus right shoulder minus left shoulder (the reference's
    swapped hip names), forward = ``Y x across``, Gaussian-smoothed over time, then ``r_0 = identity``.
    """
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    across = (global_positions[:, left_hip] - global_positions[:, right_hip]) + (
        global_positions[:, right_shoulder] - global_positions[:, left_shoulder]
    )
    forward = np.cross(_Y_AXIS, _unit(across))
    forward = gaussian_filter1d(forward, HEADING_SIGMA, axis=0, mode="nearest")
    heading = qbetween(_unit(forward), _Z_AXIS, fallback_axis=_Y_AXIS)
    heading[0] = _IDENTITY_Q
    return heading


def hml263_local_rotations(global_positions: np.ndarray, heading: np.ndarray) -> np.ndarray:
    """Swing-only local rotations ``[T, 22, 4]`` (quaternions; joint 0 = ``heading``), reference 1.6 step 5.

    For each chain, starting from the heading: ``g = qbetween(rest_dir[b], dir(a -> b))``,
    ``local[b] = inv(parent) g``, ``parent = g``. The first bone of every chain, the collars
    included, is relative to the heading, not to its skeletal parent.
    """
    frames = global_positions.shape[0]
    local = np.zeros((frames, SMPL22_NUM_JOINTS, 4))
    local[:, 0] = heading
    for chain in KINEMATIC_CHAINS:
        parent = heading
        for a, b in itertools.pairwise(chain):
            direction = _unit(global_positions[:, b] - global_positions[:, a])
            swing = qbetween(np.broadcast_to(RAW_DIRECTIONS[b], direction.shape), direction)
            local[:, b] = quaternion_multiply(qinv(parent), swing)
            parent = swing
    return local


def positions_to_hml263(positions: np.ndarray) -> np.ndarray:
    """HumanML3D-263 features ``[T - 1, 263]`` float32 of SMPL-22 positions ``[T, 22, 3]`` at 20 fps.

    Sections 1.4 to 1.7 of the reference: canonicalise, contacts, smoothed-heading IK, layout.
    ``T >= 2``. The positions must already be at 20 fps (see :func:`motion_to_hml263`).
    """
    positions = _check_positions(positions, 2)
    glob = hml263_canonical_positions(positions)
    contacts = hml263_foot_contacts(glob)
    heading = hml263_heading(glob)
    local = hml263_local_rotations(glob, heading)
    frames = glob.shape[0]

    heading_joints = np.broadcast_to(heading[:, None], (frames, SMPL22_NUM_JOINTS, 4))
    ric = qrot(heading_joints, glob - glob[:, :1] * np.array([1.0, 0.0, 1.0]))
    root_step = qrot(heading[1:], glob[1:, 0] - glob[:-1, 0])
    yaw_step = quaternion_multiply(heading[1:], qinv(heading[:-1]))
    local_velocity = qrot(heading_joints[:-1], glob[1:] - glob[:-1])
    rotations = matrix_to_c6(quaternion_matrix(local[:, 1:]))

    rows = frames - 1
    return np.concatenate(
        [
            np.arcsin(np.clip(yaw_step[:, 2:3], -1.0, 1.0)),
            root_step[:, [0, 2]],
            glob[:-1, 0, 1:2],
            ric[:-1, 1:].reshape(rows, -1),
            rotations[:-1].reshape(rows, -1),
            local_velocity.reshape(rows, -1),
            contacts,
        ],
        axis=-1,
    ).astype(np.float32)


def hml263_input_positions(motion: Motion) -> np.ndarray:
    """Joint positions ``[T', 22, 3]`` of an ``smplx22`` motion at 20 fps (linear interpolation at
    ``k / 20`` s, reference 1.10): what :func:`positions_to_hml263` is given."""
    require_smpl22(motion, "HumanML3D-263")
    return resample_positions(motion.joint_positions(), motion.fps, HML263_FPS)


def motion_to_hml263(motion: Motion) -> np.ndarray:
    """HumanML3D-263 features ``[T' - 1, 263]`` float32 of an ``smplx22`` motion.

    FK, resampling to 20 fps (``T'`` frames), then :func:`positions_to_hml263`. Only joint positions
    are used: the body is rescaled to HumanML3D's uniform skeleton and the rotation block comes from
    the format's own IK, not from ``motion.local_rotations``.
    """
    positions = hml263_input_positions(motion)
    if positions.shape[0] < 2:
        raise InputError(
            f"{motion.num_frames} frames at {motion.fps:g} fps give {positions.shape[0]} frame at 20 fps; "
            "HumanML3D-263 needs at least 2",
            field="motion",
        )
    return positions_to_hml263(positions)


# --------------------------------------------------------------------------------------------------
def hml263_root(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root quaternions ``q [..., N, 4]`` and positions ``[..., N, 3]`` of features ``[..., N, 263]``.

    ``theta_t = sum_{k<t} d[k, 0]``, ``q_t = (cos theta_t, 0, sin theta_t, 0)``; root steps are the
    stored velocities turned back by ``inv(q_t)``, accumulated; y is the stored height (reference 1.8).
    """
    features = require_frames(features, HML263_DIM, "features")
    angle = np.cumsum(features[..., 0], axis=-1) - features[..., 0]
    zeros = np.zeros_like(angle)
    root_quat = np.stack([np.cos(angle), zeros, np.sin(angle), zeros], axis=-1)
    step = np.zeros(features.shape[:-1] + (3,))
    step[..., 1:, 0] = features[..., :-1, 1]
    step[..., 1:, 2] = features[..., :-1, 2]
    root = np.cumsum(qrot(qinv(root_quat), step), axis=-2)
    root[..., 1] = features[..., 3]
    return root_quat, root


def hml263_to_positions(features: np.ndarray) -> np.ndarray:
    """Joint positions ``[..., N, 22, 3]`` from features ``[..., N, 263]`` (``recover_from_ric``).

    Uses dims 0..66 only: root from the velocities and height, joints 1..21 from the ric block turned
    back by the accumulated heading. The official ``new_joints`` files are this decode.
    """
    root_quat, root = hml263_root(features)
    ric = np.asarray(features, dtype=np.float64)[..., HML263_BLOCKS["ric_positions"]]
    ric = ric.reshape(ric.shape[:-1] + (SMPL22_NUM_JOINTS - 1, 3))
    joints = qrot(np.broadcast_to(qinv(root_quat)[..., None, :], ric.shape[:-1] + (4,)), ric)
    joints[..., 0] += root[..., None, 0]
    joints[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], joints], axis=-2)


def hml263_rotations_to_positions(features: np.ndarray) -> np.ndarray:
    """Joint positions ``[..., N, 22, 3]`` by FK on the rotation block (``recover_from_rot``).

    Root as in :func:`hml263_to_positions`; per chain ``M = matrix(q_t)``, then ``M = M C6^-1(block_b)``
    and ``p_b = p_prev + M offset_b`` with the uniform-skeleton offsets. A check of the rotation
    block; not a retargeting source (the rotations are swings from the unusual rest directions).
    """
    root_quat, root = hml263_root(features)
    block = np.asarray(features, dtype=np.float64)[..., HML263_BLOCKS["rotations"]]
    local = c6_to_matrix(block.reshape(block.shape[:-1] + (SMPL22_NUM_JOINTS - 1, 6)))
    offsets = uniform_skeleton_offsets()
    heading = quaternion_matrix(root_quat)
    joints = np.zeros(root.shape[:-1] + (SMPL22_NUM_JOINTS, 3))
    joints[..., 0, :] = root
    for chain in KINEMATIC_CHAINS:
        matrix = heading
        for a, b in itertools.pairwise(chain):
            matrix = matrix @ local[..., b - 1, :, :]
            joints[..., b, :] = joints[..., a, :] + (matrix @ offsets[b])
    return joints
