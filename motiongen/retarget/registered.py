"""Retarget onto a registered skeleton by name, with the source rig's calibration pose."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from motiongen.motion.motion import Motion
from motiongen.retarget.human import identify_rig, retarget
from motiongen.skeleton.registry import calibration_pose, get_skeleton


def retarget_to(
    motion: Motion,
    target: str,
    *,
    joint_map: Mapping[str, str] | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Motion:
    """``motion`` retargeted onto the registered skeleton ``target`` (e.g. ``"smplx22"``)."""
    target_skeleton = get_skeleton(target, data_dir, cache_dir)
    rig = identify_rig(motion.skeleton) if joint_map is None else None
    calibration = calibration_pose(rig, data_dir, cache_dir) if rig else None
    return retarget(motion, target_skeleton, joint_map=joint_map, calibration=calibration)
