"""Every registered skeleton loads from the archives with sane joint sets and serialises."""

from __future__ import annotations

import numpy as np
import pytest

from motiongen.errors import UnknownNameError
from motiongen.skeleton import Skeleton
from motiongen.skeleton.registry import SKELETON_NAMES, calibration_pose, get_skeleton

EXPECTED_JOINTS = {"smplx22": 22, "soma30": 30, "soma77": 77, "g1": 34, "bandai22": 22, "cmu31": 31, "hdm05": 31}


@pytest.mark.parametrize("name", SKELETON_NAMES)
def test_registered_skeleton_loads(name: str, data_dir, cache_dir) -> None:
    skeleton = get_skeleton(name, data_dir, cache_dir)
    assert skeleton.name == name and skeleton.num_joints == EXPECTED_JOINTS[name]
    # semantic sets: feet (ankle, toe), hands and hips exist; left foot mirrors onto right foot
    feet = skeleton.foot_joint_indices
    assert len(set(feet)) == 4
    assert skeleton.mirror is not None
    assert [skeleton.mirror[j] for j in feet] == feet[2:] + feet[:2]
    right_hip, left_hip = skeleton.indices(skeleton.joint_set("hips"))
    assert skeleton.mirror[right_hip] == left_hip
    again = Skeleton.from_dict(skeleton.to_dict())
    assert again == skeleton and again.joint_sets == skeleton.joint_sets and again.extras == skeleton.extras


@pytest.mark.parametrize("name", ["smplx22", "soma30", "g1", "cmu31", "hdm05"])
def test_rest_poses_stand_upright_facing_forward(name: str, data_dir, cache_dir) -> None:
    skeleton = get_skeleton(name, data_dir, cache_dir)
    rest = skeleton.rest_positions()
    left_ankle, left_toe, right_ankle, _ = skeleton.foot_joint_indices
    assert rest[:, 1].max() - rest[left_ankle, 1] > 0.5  # Y up: the body rises above the ankle
    assert rest[left_ankle, 0] > rest[right_ankle, 0]  # the left side is +X
    assert rest[left_toe, 2] > rest[left_ankle, 2]  # toes point +Z


def test_bandai_calibration_pose_stands(data_dir, cache_dir) -> None:
    skeleton = get_skeleton("bandai22", data_dir, cache_dir)
    pose = calibration_pose("bandai22", data_dir, cache_dir)
    assert pose.shape == (22, 3, 3)
    positions = skeleton.forward_kinematics(pose[None], np.zeros((1, 3)))[1][0]
    head, toe = skeleton.index("Head"), skeleton.index("Toes_L")
    assert positions[head, 1] - positions[toe, 1] > 1.2  # upright, not Bandai's bind pose
    assert calibration_pose("smplx22", data_dir, cache_dir) is None


def test_unknown_skeleton_lists_known_names() -> None:
    with pytest.raises(UnknownNameError, match="unknown skeleton 'smpl24'.*smplx22"):
        get_skeleton("smpl24")
