"""Feature-space constraint masks for KIMODO features (reference 4.2).

A constraint marks (frame, feature) entries of the ``[T, D]`` feature array; the denoiser sees
``x * (1 - mask) + observed * mask`` plus the mask. What each kind marks on its frames:

====================  ==================  ===============  =======  =========================  ====================
kind                  smooth root x, z    root y           heading  joint positions            6D rotations
====================  ==================  ===============  =======  =========================  ====================
full body             yes                 yes              yes      all joints                 none
end effector          yes                 yes              yes      every joint of each chain  each chain's base
2D root               yes                 no               optional none                       none
====================  ==================  ===============  =======  =========================  ====================

Velocities and foot contacts are never constrained. End-effector names are KIMODO's
(:data:`END_EFFECTORS`); each maps to a skeleton joint set (``LeftFoot`` -> ``left_foot``, ...,
``Hips`` -> the root joint), whose first joint is the chain base.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from motiongen.errors import InputError, UnknownNameError
from motiongen.motion.kimodo_features import KimodoFeatures

#: KIMODO end-effector name -> skeleton joint set (``None``: the root joint).
END_EFFECTORS: dict[str, str | None] = {
    "LeftFoot": "left_foot",
    "RightFoot": "right_foot",
    "LeftHand": "left_hand",
    "RightHand": "right_hand",
    "Hips": None,
}

#: Kinds drawn by :func:`random_constraint_mask`, and the default chance of each (drawn
#: independently, so kinds mix; with these values about 40 % of draws are unconstrained).
CONSTRAINT_KINDS = ("fullbody", "end_effector", "root2d_path", "root2d_waypoints")
DEFAULT_PROBABILITIES: dict[str, float] = {
    "fullbody": 0.25,
    "end_effector": 0.25,
    "root2d_path": 0.15,
    "root2d_waypoints": 0.15,
}
#: Keyframe counts (inclusive) and the longest end-effector interval.
FULLBODY_FRAMES = (1, 5)
END_EFFECTOR_FRAMES = (1, 5)
END_EFFECTOR_INTERVAL = 30
WAYPOINT_FRAMES = (2, 5)


def _frames(num_frames: int, frames: Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise InputError(f"num_frames must be a positive integer, got {num_frames!r}", field="num_frames")
    arr = np.asarray(frames)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"frames must be a 1-D list of integer frame indices, got {arr.dtype} {list(arr.shape)}", field="frames")
    bad = arr[(arr < 0) | (arr >= num_frames)]
    if bad.size:
        raise InputError(f"frame {int(bad[0])} is out of range; frames must be in [0, {num_frames - 1}]", field="frames")
    return arr.astype(np.int64)


def _empty(feats: KimodoFeatures, num_frames: int) -> np.ndarray:
    return np.zeros((num_frames, feats.dim), dtype=bool)


def _root_xz(feats: KimodoFeatures) -> list[int]:
    start = feats.smooth_root_pos.start
    return [start, start + 2]


def _joint_positions(feats: KimodoFeatures, joints: Sequence[int]) -> list[int]:
    start = feats.local_joints_positions.start
    return [start + 3 * j + c for j in joints for c in range(3)]


def _joint_rotations(feats: KimodoFeatures, joints: Sequence[int]) -> list[int]:
    start = feats.global_rot_data.start
    return [start + 6 * j + c for j in joints for c in range(6)]


def _root_pose_columns(feats: KimodoFeatures) -> list[int]:
    """Smooth root x, y, z and the heading: what full-body and end-effector constraints always pin."""
    return list(range(feats.smooth_root_pos.start, feats.smooth_root_pos.stop)) + list(
        range(feats.global_root_heading.start, feats.global_root_heading.stop)
    )


def fullbody_mask(feats: KimodoFeatures, num_frames: int, frames: Sequence[int]) -> np.ndarray:
    """Bool ``[T, D]``: on ``frames``, the smooth root (x, y, z), heading and all joint positions.

    Rotations are not constrained (KIMODO's FullBodyConstraintSet).
    """
    rows = _frames(num_frames, frames)
    mask = _empty(feats, num_frames)
    cols = _root_pose_columns(feats) + list(range(feats.local_joints_positions.start, feats.local_joints_positions.stop))
    mask[np.ix_(rows, cols)] = True
    return mask


def end_effector_joints(feats: KimodoFeatures, name: str) -> tuple[int, ...]:
    """Joint indices of end effector ``name`` (:data:`END_EFFECTORS`), chain base first."""
    if name not in END_EFFECTORS:
        raise UnknownNameError(f"unknown end effector '{name}'; known: {', '.join(END_EFFECTORS)}")
    key = END_EFFECTORS[name]
    if key is None:
        return (0,)
    return tuple(feats.skeleton.indices(feats.skeleton.joint_set(key)))


def end_effector_mask(
    feats: KimodoFeatures, num_frames: int, frames: Sequence[int], joints: Sequence[str]
) -> np.ndarray:
    """Bool ``[T, D]``: on ``frames``, the smooth root (x, y, z), heading, the positions of every
    joint of each named chain and the 6D rotation of each chain's base joint.

    ``joints``: KIMODO end-effector names (LeftFoot, RightFoot, LeftHand, RightHand, Hips).
    """
    if isinstance(joints, str):
        joints = [joints]
    rows = _frames(num_frames, frames)
    positions: list[int] = []
    bases: list[int] = []
    for name in joints:
        chain = end_effector_joints(feats, name)
        positions.extend(chain)
        bases.append(chain[0])
    mask = _empty(feats, num_frames)
    cols = _root_pose_columns(feats) + _joint_positions(feats, positions) + _joint_rotations(feats, bases)
    mask[np.ix_(rows, cols)] = True
    return mask


def root2d_mask(feats: KimodoFeatures, num_frames: int, frames: Sequence[int], heading: bool = False) -> np.ndarray:
    """Bool ``[T, D]``: on ``frames``, the smooth-root x and z (and the heading if ``heading``)."""
    rows = _frames(num_frames, frames)
    mask = _empty(feats, num_frames)
    cols = _root_xz(feats)
    if heading:
        cols += list(range(feats.global_root_heading.start, feats.global_root_heading.stop))
    mask[np.ix_(rows, cols)] = True
    return mask


# --------------------------------------------------------------------------------------------------
def _random_frames(rng: np.random.Generator, num_frames: int, count_range: tuple[int, int]) -> np.ndarray:
    count = int(rng.integers(count_range[0], count_range[1] + 1))
    return rng.choice(num_frames, size=min(count, num_frames), replace=False)


def _available_end_effectors(feats: KimodoFeatures) -> list[str]:
    names = []
    for name, key in END_EFFECTORS.items():
        if key is None or key in feats.skeleton.joint_sets:
            names.append(name)
    return names


def _check_probabilities(probabilities: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in probabilities.items():
        if key not in CONSTRAINT_KINDS:
            raise InputError(
                f"unknown constraint kind '{key}'; known: {', '.join(CONSTRAINT_KINDS)}", field="probabilities"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise InputError(f"probability of '{key}' must be a number in [0, 1], got {value!r}", field="probabilities")
        out[key] = float(value)
    return out


def random_constraint_mask(
    feats: KimodoFeatures,
    num_frames: int,
    rng: np.random.Generator,
    probabilities: Mapping[str, float] = DEFAULT_PROBABILITIES,
) -> np.ndarray:
    """A random training-time constraint mask, float32 0/1 ``[T, D]``.

    Each kind of :data:`CONSTRAINT_KINDS` is included independently with its probability
    (missing kinds: 0), and the included masks are OR-ed together:

    - ``fullbody``: 1-5 random keyframes (:func:`fullbody_mask`);
    - ``end_effector``: a random non-empty subset of the end effectors the skeleton has, on 1-5
      random frames or on one interval of up to 30 frames (:func:`end_effector_mask`);
    - ``root2d_path``: smooth-root xz on every frame (a dense path), heading on half the draws;
    - ``root2d_waypoints``: smooth-root xz on 2-5 frames including the first and the last,
      heading on half the draws.
    """
    probs = _check_probabilities(probabilities)
    _frames(num_frames, [])  # validates num_frames
    t = int(num_frames)
    mask = _empty(feats, t)
    if probs.get("fullbody", 0.0) > 0 and rng.random() < probs["fullbody"]:
        mask |= fullbody_mask(feats, t, _random_frames(rng, t, FULLBODY_FRAMES))
    if probs.get("end_effector", 0.0) > 0 and rng.random() < probs["end_effector"]:
        names = _available_end_effectors(feats)
        chosen = [n for n in names if rng.random() < 0.5] or [names[int(rng.integers(len(names)))]]
        if rng.random() < 0.5:
            frames = _random_frames(rng, t, END_EFFECTOR_FRAMES)
        else:
            length = int(rng.integers(1, min(END_EFFECTOR_INTERVAL, t) + 1))
            start = int(rng.integers(0, t - length + 1))
            frames = np.arange(start, start + length)
        mask |= end_effector_mask(feats, t, frames, chosen)
    if probs.get("root2d_path", 0.0) > 0 and rng.random() < probs["root2d_path"]:
        mask |= root2d_mask(feats, t, np.arange(t), heading=bool(rng.random() < 0.5))
    if probs.get("root2d_waypoints", 0.0) > 0 and rng.random() < probs["root2d_waypoints"]:
        count = int(rng.integers(WAYPOINT_FRAMES[0], WAYPOINT_FRAMES[1] + 1))
        inner = rng.choice(np.arange(1, t - 1), size=min(max(count - 2, 0), max(t - 2, 0)), replace=False) if t > 2 else []
        frames = np.unique(np.concatenate([[0, t - 1], np.asarray(inner, dtype=np.int64)]))
        mask |= root2d_mask(feats, t, frames, heading=bool(rng.random() < 0.5))
    return mask.astype(np.float32)
