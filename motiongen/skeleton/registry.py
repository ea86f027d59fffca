"""Named skeletons: ``get_skeleton("smplx22")`` and friends.

KIMODO's rigs (``smplx22``, ``soma30``, ``soma77``, ``g1``) are read from the ``kimodo-assets``
archive; the mocap rigs (``bandai22``, ``cmu31``, ``hdm05``) from a reference file of their dataset.
Both need the archives (``$MOTIONGEN_DATA`` or ``../shared/data``). A trained model does not: its
artifact carries its own skeleton (``Skeleton.to_dict``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from motiongen.data.archives import unpacked
from motiongen.errors import UnknownNameError
from motiongen.skeleton.skeleton import Skeleton, mirror_indices_by_name

KIMODO_SKELETONS = ("smplx22", "soma30", "soma77", "g1")
MOCAP_SKELETONS = ("bandai22", "cmu31", "hdm05")
SKELETON_NAMES = KIMODO_SKELETONS + MOCAP_SKELETONS

#: The file each mocap rig's rest offsets are read from (inside its unpacked archive).
BANDAI_REFERENCE = "dataset/Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk_normal_001.bvh"
CMU_REFERENCE = "cmu/Rotations/asf/02.asf"
HDM05_REFERENCE = "hdm05/train/1/HDM_bd.asf"

BANDAI_JOINT_SETS = {
    "left_foot": ("Foot_L", "Toes_L"),
    "right_foot": ("Foot_R", "Toes_R"),
    "left_hand": ("Hand_L",),
    "right_hand": ("Hand_R",),
    "hips": ("UpperLeg_R", "UpperLeg_L"),
}
#: CMU and HDM05 share the VICON ASF bone names; a joint sits at the start of its bone.
ASF_JOINT_SETS = {
    "left_foot": ("lfoot", "ltoes"),
    "right_foot": ("rfoot", "rtoes"),
    "left_hand": ("lhand",),
    "right_hand": ("rhand",),
    "hips": ("rfemur", "lfemur"),
}


def get_skeleton(name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> Skeleton:
    """The registered skeleton ``name`` (one of :data:`SKELETON_NAMES`)."""
    if name not in SKELETON_NAMES:
        raise UnknownNameError(f"unknown skeleton '{name}'; known: {', '.join(SKELETON_NAMES)}")
    return _load(name, None if data_dir is None else str(data_dir), None if cache_dir is None else str(cache_dir))


@functools.lru_cache(maxsize=None)
def _load(name: str, data_dir: str | None, cache_dir: str | None) -> Skeleton:
    if name in KIMODO_SKELETONS:
        from motiongen.skeleton.kimodo_assets import load_kimodo_skeleton

        return load_kimodo_skeleton(name, unpacked("kimodo", data_dir, cache_dir) / "kimodo-assets")
    if name == "bandai22":
        from motiongen.io.bvh import read_bvh

        motion = read_bvh(unpacked("bandai", data_dir, cache_dir) / BANDAI_REFERENCE)
        return with_sets(motion.skeleton, "bandai22", BANDAI_JOINT_SETS, [("_L", "_R")])
    from motiongen.io.asf_amc import read_asf

    if name == "cmu31":
        rig = read_asf(unpacked("cmu", data_dir, cache_dir) / CMU_REFERENCE)
    else:
        rig = read_asf(unpacked("hdm05", data_dir, cache_dir) / HDM05_REFERENCE)
    return asf_skeleton_with_sets(rig.skeleton, name)


def with_sets(skeleton: Skeleton, name: str, joint_sets: dict[str, tuple[str, ...]], pairs: list[tuple[str, str]]) -> Skeleton:
    """``skeleton`` renamed, with semantic joint sets and a mirror map from name substitutions."""
    return Skeleton(
        name=name,
        joint_names=skeleton.joint_names,
        parents=skeleton.parents,
        offsets=skeleton.offsets,
        joint_sets=joint_sets,
        mirror=mirror_indices_by_name(skeleton.joint_names, pairs),
        extras=skeleton.extras,
    )


def asf_skeleton_with_sets(skeleton: Skeleton, name: str) -> Skeleton:
    """An ASF rig (VICON bone names, ``l``/``r`` prefixes) with its joint sets and mirror map."""
    index = {n: i for i, n in enumerate(skeleton.joint_names)}
    mirror = []
    for n in skeleton.joint_names:
        other = ("r" + n[1:]) if n.startswith("l") else ("l" + n[1:]) if n.startswith("r") else n
        mirror.append(index.get(other, index[n]))
    return Skeleton(
        name=name,
        joint_names=skeleton.joint_names,
        parents=skeleton.parents,
        offsets=skeleton.offsets,
        joint_sets=ASF_JOINT_SETS,
        mirror=tuple(mirror),
        extras=skeleton.extras,
    )


def calibration_pose(name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None):
    """Local rotations ``[J, 3, 3]`` of a standing pose for rigs whose rest pose is not one, else None.

    Retargeting aligns rigs in this pose (see :mod:`motiongen.retarget.human`). Bandai's bind pose has
    every bone along its local X axis, so its first frame of a neutral walk stands in for it.
    """
    if name != "bandai22":
        return None
    return _bandai_calibration(None if data_dir is None else str(data_dir), None if cache_dir is None else str(cache_dir))


@functools.lru_cache(maxsize=None)
def _bandai_calibration(data_dir: str | None, cache_dir: str | None):
    from motiongen.io.bvh import read_bvh

    motion = read_bvh(unpacked("bandai", data_dir, cache_dir) / BANDAI_REFERENCE)
    return motion.local_rotations[0].copy()
