"""A small, mirror-symmetric synthetic rig (pelvis, two legs with toes, spine, head) for unit tests."""

from __future__ import annotations

import numpy as np

from motiongen.skeleton import Skeleton, mirror_indices_by_name

NAMES = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_toe", "spine", "head",
)
PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9)
OFFSETS = np.array(
    [[0, 0.9, 0], [0.1, -0.05, 0], [0, -0.4, 0], [0, -0.4, 0], [0, -0.05, 0.12],
     [-0.1, -0.05, 0], [0, -0.4, 0], [0, -0.4, 0], [0, -0.05, 0.12], [0, 0.3, 0], [0, 0.3, 0.02]]
)


def toy_skeleton(name: str = "toy") -> Skeleton:
    return Skeleton(
        name=name,
        joint_names=NAMES,
        parents=PARENTS,
        offsets=OFFSETS,
        joint_sets={
            "left_foot": ("left_ankle", "left_toe"),
            "right_foot": ("right_ankle", "right_toe"),
            "hips": ("right_hip", "left_hip"),
        },
        mirror=mirror_indices_by_name(NAMES, [("left", "right")]),
    )
