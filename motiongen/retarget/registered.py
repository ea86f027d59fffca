"""Retarget onto a registered skeleton by name: human rigs through :mod:`motiongen.retarget.human`
(with the source rig's calibration pose), the Unitree G1 through :mod:`motiongen.retarget.g1`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from motiongen.errors import InputError
from motiongen.motion.motion import Motion
from motiongen.retarget.human import identify_rig, retarget
from motiongen.skeleton.registry import SKELETON_NAMES, calibration_pose, get_skeleton

#: Registered rigs a motion can be retargeted onto.
RETARGET_TARGETS = tuple(name for name in SKELETON_NAMES if name != "hdm05")


def retarget_to(
    motion: Motion,
    target: str,
    *,
    joint_map: Mapping[str, str] | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Motion:
    """``motion`` retargeted onto the registered skeleton ``target`` (e.g. ``"smplx22"``, ``"g1"``).

    Raises:
        InputError: a G1 source (the robot is a target only),
            or a rig with neither a registered joint map nor ``joint_map``.
        UnknownNameError: an unknown ``target``.
    """
    target_skeleton = get_skeleton(target, data_dir, cache_dir)
    if motion.skeleton.name == "g1" or "hinges" in motion.skeleton.extras:
        if target == "g1":
            return motion
        raise InputError("retargeting from the G1 robot onto a human rig is not supported; G1 is a target only", field="input")
    rig = identify_rig(motion.skeleton) if joint_map is None else None
    calibration = calibration_pose(rig, data_dir, cache_dir) if rig else None
    if target == "g1":
        from motiongen.retarget.g1 import retarget_to_g1

        return retarget_to_g1(motion, target_skeleton, joint_map=joint_map, calibration=calibration)
    return retarget(motion, target_skeleton, joint_map=joint_map, calibration=calibration)

