"""Skeleton-to-skeleton retargeting: between human rigs (:mod:`~motiongen.retarget.human`), onto the
Unitree G1 (:mod:`~motiongen.retarget.g1`), by registered name (:mod:`~motiongen.retarget.registered`),
KIMODO's SOMA/SMPL-X -> ``motion_135`` retargeters (:mod:`~motiongen.retarget.kimodo`)."""

from motiongen.retarget.human import (
    CANONICAL_MAPS,
    bone_direction_cosine,
    bone_direction_cosines,
    branching_bones,
    chain_length,
    check_finite_motion,
    identify_rig,
    joint_map_between,
    leg_scale,
    place_on_floor,
    retarget,
    retarget_positions,
)
from motiongen.retarget.g1 import retarget_to_g1
from motiongen.retarget.joint_map import load_joint_map, validate_joint_map
from motiongen.retarget.kimodo import KIMODOSMPLXToSMPLRetargeter, KIMODOSOMAToSMPLRetargeter

__all__ = [
    "CANONICAL_MAPS", "KIMODOSMPLXToSMPLRetargeter", "KIMODOSOMAToSMPLRetargeter", "bone_direction_cosine",
    "bone_direction_cosines", "branching_bones", "chain_length", "check_finite_motion", "identify_rig",
    "joint_map_between", "leg_scale", "load_joint_map", "place_on_floor", "retarget", "retarget_positions", "retarget_to_g1",
    "validate_joint_map",
]
