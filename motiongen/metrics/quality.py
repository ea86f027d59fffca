"""Motion-quality metrics on joint positions (KIMODO's definitions, reference section 7)."""

from __future__ import annotations

import numpy as np

from motiongen.skeleton.skeleton import Skeleton

#: A toe below this height (metres) counts as on the floor (KIMODO ``FootSkateFromHeight``).
FLOOR_HEIGHT = 0.05


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


def joint_path_length(positions: np.ndarray, joint: int) -> float:
    """Path length (m) of a joint relative to the root: gestures, not travel."""
    relative = positions[:, joint] - positions[:, 0]
    return float(np.linalg.norm(np.diff(relative, axis=0), axis=-1).sum())
