"""Retargeting real clips from Bandai, CMU and HDM05 onto smplx22 and soma30."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motiongen.errors import InputError, UnknownNameError
from motiongen.io.asf_amc import read_amc, read_asf
from motiongen.io.bvh import read_bvh
from motiongen.motion.kimodo_features import root_heading
from motiongen.retarget import bone_direction_cosine, identify_rig, joint_map_between, retarget
from motiongen.retarget.registered import retarget_to
from motiongen.skeleton.registry import get_skeleton

BANDAI = "dataset/Bandai-Namco-Research-Motiondataset-2/data"
BANDAI_CLIPS = ["dataset-2_walk_normal_001.bvh", "dataset-2_wave-right-hand_elderly_003.bvh", "dataset-2_run_active_002.bvh"]
CMU_CLIPS = ["Rotations/Training/02_01 - walk.amc", "Rotations/Training/05_02 - dance, expressive arms, pirouette.amc"]


@pytest.fixture(scope="module")
def skeletons(data_dir: Path, cache_dir: Path):
    return {name: get_skeleton(name, data_dir, cache_dir) for name in ("smplx22", "soma30")}


def load_sources(raw) -> list:
    clips = [read_bvh(raw("bandai") / BANDAI / name) for name in BANDAI_CLIPS]
    cmu = raw("cmu") / "cmu"
    rig = read_asf(cmu / "Rotations/asf/02.asf")
    clips.append(read_amc(cmu / CMU_CLIPS[0], rig))
    clips.append(read_amc(cmu / CMU_CLIPS[1], read_asf(cmu / "Rotations/asf/05.asf")))
    hdm = raw("hdm05") / "hdm05"
    amc = sorted((hdm / "test").rglob("HDM_mm_*.amc"))[0]
    clips.append(read_amc(amc, read_asf(amc.parent / "HDM_mm.asf")))
    return [clip.resample(30.0) for clip in clips]


@pytest.fixture(scope="module")
def sources(raw):
    return load_sources(raw)


@pytest.mark.parametrize("target", ["smplx22", "soma30"])
def test_retargeted_clips_keep_bone_directions_and_feet_on_floor(sources, skeletons, data_dir, cache_dir, target) -> None:
    for clip in sources:
        rig = identify_rig(clip.skeleton)
        assert rig in ("bandai22", "cmu31"), clip.skeleton.name
        out = retarget_to(clip, target, data_dir=data_dir, cache_dir=cache_dir)
        assert out.skeleton == skeletons[target] and out.num_frames == clip.num_frames and out.fps == clip.fps
        joint_map = joint_map_between(clip.skeleton, out.skeleton)
        cosine = bone_direction_cosine(clip, out, joint_map)
        assert cosine >= 0.98, (clip.meta.get("source"), rig, cosine)
        # bones leaving a branching joint (pelvis, chest) follow the best rigid fit: looser
        assert bone_direction_cosine(clip, out, joint_map, include_branching=True) >= 0.9
        # feet on the ground: the lowest toe's height while it is planted (slower than KIMODO's
        # 0.15 m/s contact threshold); a run's flight phases are not ground contact
        toes = out.skeleton.indices([out.skeleton.joint_set(s)[1] for s in ("left_foot", "right_foot")])
        toe_pos = out.joint_positions()[:, toes]
        lowest = toe_pos[..., 1].argmin(-1)
        height = np.take_along_axis(toe_pos[..., 1], lowest[:, None], -1)[:, 0]
        speed = np.linalg.norm(np.diff(toe_pos, axis=0), axis=-1) * out.fps
        planted = np.take_along_axis(speed, lowest[:-1, None], -1)[:, 0] < 0.15
        assert planted.sum() >= 3
        assert abs(float(np.median(height[:-1][planted]))) < 0.03


def test_retarget_keeps_facing_and_head_orientation(sources, data_dir, cache_dir) -> None:
    """Heading from the hips follows the source, and the head (a leaf, so only its rotation
    transfer places it) looks the way the body faces: a check on the calibration pose."""
    for clip in sources:
        out = retarget_to(clip, "smplx22", data_dir=data_dir, cache_dir=cache_dir)
        src_skel = clip.skeleton
        hips_map = joint_map_between(src_skel, out.skeleton)
        src_pos = clip.joint_positions()
        right, left = (src_skel.index(hips_map[n]) for n in out.skeleton.joint_set("hips"))
        d = src_pos[:, right] - src_pos[:, left]
        src_heading = np.arctan2(d[:, 2], -d[:, 0])
        tgt_heading = root_heading(out.joint_positions(), out.skeleton)
        diff = np.angle(np.exp(1j * (src_heading - tgt_heading)))
        assert np.median(np.abs(diff)) < np.deg2rad(10)
        head = out.skeleton.index("head")
        gaze = out.global_rotations()[:, head] @ np.array([0.0, 0.0, 1.0])
        gaze[:, 1] = 0.0  # looking down at the floor still faces forward
        gaze /= np.linalg.norm(gaze, axis=-1, keepdims=True)
        facing = np.stack([np.sin(tgt_heading), np.zeros_like(tgt_heading), np.cos(tgt_heading)], -1)
        assert np.median((gaze * facing).sum(-1)) > 0.8


def test_retarget_onto_itself_is_identity(sources, data_dir, cache_dir) -> None:
    clip = sources[3]  # CMU subject 02 walk; the registered cmu31 rig is subject 02's ASF
    identity = {name: name for name in clip.skeleton.joint_names}
    same = retarget(clip, get_skeleton("cmu31", data_dir, cache_dir), joint_map=identity, ground=False)
    np.testing.assert_allclose(same.joint_positions(), clip.joint_positions(), atol=1e-6)


def test_bad_joint_maps_fail_clearly(sources, skeletons) -> None:
    clip = sources[0]
    with pytest.raises(UnknownNameError, match="no_such_joint"):
        retarget(clip, skeletons["smplx22"], joint_map={"pelvis": "Hips", "left_hip": "no_such_joint"})
    with pytest.raises(InputError, match="root 'pelvis'"):  # an unmapped root needs exactly one mapped joint below it
        retarget(clip, skeletons["smplx22"], joint_map={"left_hip": "UpperLeg_L", "right_hip": "UpperLeg_R"})
