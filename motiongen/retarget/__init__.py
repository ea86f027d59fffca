"""Skeleton-to-skeleton retargeting."""

from motiongen.retarget.human import (
    CANONICAL_MAPS,
    bone_direction_cosine,
    bone_direction_cosines,
    branching_bones,
    chain_length,
    identify_rig,
    joint_map_between,
    place_on_floor,
    retarget,
)

__all__ = ["CANONICAL_MAPS", "bone_direction_cosine", "bone_direction_cosines", "branching_bones", "chain_length", "identify_rig", "joint_map_between", "place_on_floor", "retarget"]
