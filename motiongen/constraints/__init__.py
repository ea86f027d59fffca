"""Constraints for KIMODO generation; for now the feature-space masks that training and multi-prompt use."""

from motiongen.constraints.masks import (
    CONSTRAINT_KINDS,
    DEFAULT_PROBABILITIES,
    END_EFFECTORS,
    end_effector_joints,
    end_effector_mask,
    fullbody_mask,
    random_constraint_mask,
    root2d_mask,
)

__all__ = [
    "CONSTRAINT_KINDS",
    "DEFAULT_PROBABILITIES",
    "END_EFFECTORS",
    "end_effector_joints",
    "end_effector_mask",
    "fullbody_mask",
    "random_constraint_mask",
    "root2d_mask",
]
