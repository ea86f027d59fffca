"""Motion-quality metrics on joint positions (KIMODO's definitions, reference section 7).

All take global joint positions ``[T, J, 3]`` in metres in the project's world frame (Y up, floor at
y = 0 unless said otherwise) of one clip. Lower is better for every metric except
:func:`foot_contact_consistency`.
"""

from __future__ import annotations

import numpy as np

from motiongen.errors import InputError
from motiongen.motion.kimodo_features import (
    CONTACT_HEIGHT,
    CONTACT_VELOCITY,
    foot_contacts_from_positions,
)
from motiongen.skeleton.skeleton import Skeleton

#: A toe below this height (metres) counts as on the floor (KIMODO ``FootSkateFromHeight``).
FLOOR_HEIGHT = 0.05
#: A toe on the floor faster than this (m/s) skates (KIMODO ``FootSkateRatio``, GMD-style).
SKATE_VELOCITY = 0.2
#: A frame counts as penetrating when a foot joint is deeper than this below the floor (m): mocap
#: and FK put planted toes within about a centimetre of the floor, which is not a visible error.
PENETRATION_TOLERANCE = 0.01


def toe_indices(skeleton: Skeleton) -> list[int]:
    """The two toe joints (second entry of each foot chain)."""
    return skeleton.indices([skeleton.joint_set("left_foot")[1], skeleton.joint_set("right_foot")[1]])


def foot_skate_from_height(positions: np.ndarray, skeleton: Skeleton, fps: float, height: float = FLOOR_HEIGHT) -> float:
    """Mean toe speed (m/s) over the toe-frames where the toe is on the floor (``y < height``).

    ``positions [T, J, 3]``; speed ``|p[t+1] - p[t]| * fps`` over frames ``t < T - 1``; 0 when no toe
    touches the floor. Lower is better: a planted foot does not move.
    """
    toes = positions[:, toe_indices(skeleton)]
    speed = np.linalg.norm(np.diff(toes, axis=0), axis=-1) * fps
    on_floor = toes[:-1, :, 1] < height
    return float((speed * on_floor).sum() / (on_floor.sum() + 1e-6))


def heading_angles(positions: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Facing angle per frame ``[T]`` from the hips, unwrapped (radians; + is a turn to the left)."""
    right, left = skeleton.indices(skeleton.joint_set("hips"))
    d = positions[:, right] - positions[:, left]
    return np.unwrap(np.arctan2(d[:, 2], -d[:, 0]))


def root_travel(positions: np.ndarray) -> float:
    """Straight-line horizontal distance (m) the root covers from the first to the last frame."""
    return float(np.linalg.norm(positions[-1, 0, [0, 2]] - positions[0, 0, [0, 2]]))


def root_path_length(positions: np.ndarray) -> float:
    """Horizontal distance (m) the root covers along its path: the sum of its per-frame ground steps
    (a walk there and back counts twice, where :func:`root_travel` counts nothing)."""
    return float(np.linalg.norm(np.diff(positions[:, 0][:, [0, 2]], axis=0), axis=-1).sum())


def joint_path_length(positions: np.ndarray, joint: int) -> float:
    """Path length (m) of a joint relative to the root: gestures, not travel."""
    relative = positions[:, joint] - positions[:, 0]
    return float(np.linalg.norm(np.diff(relative, axis=0), axis=-1).sum())


# ==================================================================================================
# Additions: skate ratio, contacts, jitter, ground penetration
# ==================================================================================================
def _checked_positions(positions: np.ndarray, skeleton: Skeleton, min_frames: int) -> np.ndarray:
    """``positions`` as finite float64 ``[T, J, 3]`` with ``T >= min_frames``; raises :class:`InputError`."""
    pos = np.asarray(positions, dtype=np.float64)
    j = skeleton.num_joints
    if pos.ndim != 3 or pos.shape[1:] != (j, 3):
        raise InputError(f"shape {pos.shape}; expected [T, {j}, 3] for skeleton '{skeleton.name}'", field="positions")
    if pos.shape[0] < min_frames:
        raise InputError(f"{pos.shape[0]} frames; this metric needs at least {min_frames}", field="positions")
    if not np.isfinite(pos).all():
        raise InputError("contains NaN or inf", field="positions")
    return pos


def _checked_fps(fps: float) -> float:
    """``fps`` as a positive finite float; raises :class:`InputError`."""
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps}", field="fps")
    return float(fps)


def foot_skate_ratio(
    positions: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    height: float = FLOOR_HEIGHT,
    velocity: float = SKATE_VELOCITY,
) -> float:
    """KIMODO ``FootSkateRatio``: the fraction of on-floor toe-frames in which the toe skates.

    ``positions [T, J, 3]`` (``T >= 2``). A toe-frame ``t < T - 1`` is on the floor when the toe's
    ``y < height`` at both ``t`` and ``t + 1``; it skates when ``|p[t+1] - p[t]| * fps > velocity``
    (m/s). 0 when no toe-frame is on the floor.
    """
    pos = _checked_positions(positions, skeleton, min_frames=2)
    fps = _checked_fps(fps)
    toes = pos[:, toe_indices(skeleton)]
    speed = np.linalg.norm(np.diff(toes, axis=0), axis=-1) * fps
    low = toes[:, :, 1] < height
    on_floor = low[:-1] & low[1:]
    count = int(on_floor.sum())
    return float((on_floor & (speed > velocity)).sum() / count) if count else 0.0


def foot_skate_from_contacts(positions: np.ndarray, skeleton: Skeleton, fps: float, contacts: np.ndarray) -> float:
    """KIMODO ``FootSkateFromContacts``: the mean speed (m/s) of the foot joints on the frames the
    motion says they are planted.

    ``positions [T, J, 3]`` (``T >= 2``); ``contacts [T, 4]`` bool or 0/1 (left heel, left toe, right
    heel, right toe: the four ``skeleton.foot_joint_indices``), e.g. a generated motion's predicted
    ``foot_contacts``. Speed ``|p[t+1] - p[t]| * fps`` of each foot joint, averaged over the
    (frame ``t < T - 1``, joint) entries in contact; 0 when none is. Unlike
    :func:`foot_skate_from_height`, a low swing does not count: this is how far a foot that bears
    weight slides.
    """
    pos = _checked_positions(positions, skeleton, min_frames=2)
    fps = _checked_fps(fps)
    planted = np.asarray(contacts)
    if planted.shape != (pos.shape[0], 4):
        raise InputError(f"has shape {list(planted.shape)}; expected [{pos.shape[0]}, 4]", field="contacts")
    planted = planted[:-1].astype(bool)
    speed = np.linalg.norm(np.diff(pos[:, skeleton.foot_joint_indices], axis=0), axis=-1) * fps
    count = int(planted.sum())
    return float((speed * planted).sum() / count) if count else 0.0


def heuristic_foot_contacts(
    positions: np.ndarray,
    skeleton: Skeleton,
    fps: float,
    velocity: float = CONTACT_VELOCITY,
    height: float = CONTACT_HEIGHT,
) -> np.ndarray:
    """KIMODO's contact heuristic (reference 2.3): bool ``[T, 4]``.

    Columns: left ankle, left toe, right ankle, right toe (``skeleton.foot_joint_indices``, the first
    two joints of each foot chain). In contact when the joint's forward-difference speed is below
    ``velocity`` m/s and its height is below ``height`` m; the last frame reuses the previous speed.
    This is :func:`motiongen.motion.kimodo_features.foot_contacts_from_positions`, which builds the
    training features, so the metric and the model's contact labels agree.
    """
    pos = _checked_positions(positions, skeleton, min_frames=1)
    return foot_contacts_from_positions(pos, skeleton, _checked_fps(fps), velocity, height)


def foot_contact_consistency(
    positions: np.ndarray, skeleton: Skeleton, fps: float, predicted_contacts: np.ndarray
) -> float:
    """KIMODO ``FootContactConsistency``: agreement of predicted contacts with the heuristic ones.

    ``1 - mean(heuristic XOR predicted)`` over the ``4 (T - 1)`` entries of frames ``t < T - 1``
    (the heuristic's last frame has no speed of its own). ``predicted_contacts [T, 4]`` bool, in
    :func:`heuristic_foot_contacts` column order. 1 is perfect agreement.
    """
    pos = _checked_positions(positions, skeleton, min_frames=2)
    predicted = np.asarray(predicted_contacts)
    if predicted.shape != (pos.shape[0], 4):
        raise InputError(f"shape {predicted.shape}; expected [{pos.shape[0]}, 4]", field="predicted_contacts")
    if predicted.dtype != bool and not np.isin(predicted, (0, 1)).all():
        # soft model outputs must be thresholded by the caller (KIMODO decodes at 0.5), not cast
        raise InputError("must be bool or 0/1 values", field="predicted_contacts")
    heuristic = heuristic_foot_contacts(pos, skeleton, fps)
    disagree = heuristic[:-1] ^ predicted[:-1].astype(bool)
    return float(1.0 - disagree.mean())


def jitter(positions: np.ndarray, fps: float) -> float:
    """Mean jerk magnitude (m/s^3): ``|third finite difference| * fps^3``, averaged over all joints
    and the ``T - 3`` frames that have one.

    ``positions [T, J, 3]`` with ``T >= 4``. Any motion whose positions are quadratic in time (rest,
    constant velocity, constant acceleration) scores 0; mocap noise and frame-to-frame popping score
    high.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise InputError(f"shape {pos.shape}; expected [T, J, 3]", field="positions")
    if pos.shape[0] < 4:
        raise InputError(f"{pos.shape[0]} frames; jitter needs at least 4", field="positions")
    if not np.isfinite(pos).all():
        raise InputError("contains NaN or inf", field="positions")
    jerk = np.diff(pos, n=3, axis=0) * _checked_fps(fps) ** 3
    return float(np.linalg.norm(jerk, axis=-1).mean())


def ground_penetration(positions: np.ndarray, skeleton: Skeleton, floor: float = 0.0) -> dict[str, float]:
    """How far the feet sink below the floor ``y = floor``.

    Per frame, the depth is the largest ``floor - y`` over the four foot joints
    (``skeleton.foot_joint_indices``), or 0 when all are above the floor. ``positions [T, J, 3]``.

    Returns:
        ``mean_depth``: mean per-frame depth (m); ``max_depth``: the largest (m); ``frame_ratio``:
        fraction of frames deeper than :data:`PENETRATION_TOLERANCE` (0.01 m).
    """
    pos = _checked_positions(positions, skeleton, min_frames=1)
    feet_y = pos[:, skeleton.foot_joint_indices, 1]
    depth = np.maximum(floor - feet_y.min(axis=1), 0.0)
    return {
        "mean_depth": float(depth.mean()),
        "max_depth": float(depth.max()),
        "frame_ratio": float((depth > PENETRATION_TOLERANCE).mean()),
    }


def quality_summary(
    positions: np.ndarray, skeleton: Skeleton, fps: float, predicted_contacts: np.ndarray | None = None
) -> dict[str, float]:
    """Every motion-quality metric of one clip ``positions [T, J, 3]`` (``T >= 4``), by name.

    Keys: ``foot_skate_from_height``, ``foot_skate_ratio``, ``jitter``, ``penetration_mean_depth``,
    ``penetration_max_depth``, ``penetration_frame_ratio``, and ``foot_contact_consistency`` and
    ``foot_skate_from_contacts`` (how fast the feet the motion says are planted slide, a figure that
    does not grow with pace as the height-based one does) when ``predicted_contacts [T, 4]`` is given.
    """
    pos = _checked_positions(positions, skeleton, min_frames=4)
    fps = _checked_fps(fps)
    summary = {
        "foot_skate_from_height": foot_skate_from_height(pos, skeleton, fps),
        "foot_skate_ratio": foot_skate_ratio(pos, skeleton, fps),
        "jitter": jitter(pos, fps),
    }
    summary.update({f"penetration_{key}": value for key, value in ground_penetration(pos, skeleton).items()})
    if predicted_contacts is not None:
        summary["foot_contact_consistency"] = foot_contact_consistency(pos, skeleton, fps, predicted_contacts)
        summary["foot_skate_from_contacts"] = foot_skate_from_contacts(pos, skeleton, fps, predicted_contacts)
    return summary
