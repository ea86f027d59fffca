"""KIMODO skeletons loaded from the real kimodo-assets archive (reference kimodo.md 3, 5.2, 10.3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.errors import DataNotFoundError, InputError, UnknownNameError
from motiongen.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from motiongen.skeleton.kimodo_assets import (
    load_g1_rest_local_rotations,
    load_kimodo_skeleton,
    load_relaxed_hands_rest_pose,
    load_smplx_betas,
    load_smplx_mean_hands,
    load_soma_standard_tpose,
)
from motiongen.skeleton.registry import get_skeleton
from motiongen.skeleton.skeleton import Skeleton

pytestmark = pytest.mark.data

#: Parent lists as printed in the reference (section 3.4), a second statement of the joint tables.
REFERENCE_PARENTS = {
    "smplx22": [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19],
    "soma30": [-1, 0, 1, 2, 3, 4, 5, 6, 6, 6, 3, 10, 11, 12, 13, 13, 3, 16, 17, 18, 19, 19, 0, 22, 23, 24, 0, 26, 27, 28],
    "soma77": [
        -1, 0, 1, 2, 3, 4, 5, 6, 6, 6, 6, 3, 11, 12, 13, 14, 15, 16, 17, 14, 19, 20, 21, 22, 14, 24, 25, 26, 27, 14,
        29, 30, 31, 32, 14, 34, 35, 36, 37, 3, 39, 40, 41, 42, 43, 44, 45, 42, 47, 48, 49, 50, 42, 52, 53, 54, 55, 42,
        57, 58, 59, 60, 42, 62, 63, 64, 65, 0, 67, 68, 69, 70, 0, 72, 73, 74, 75,
    ],
    "g1": [-1, 0, 1, 2, 3, 4, 5, 6, 0, 8, 9, 10, 11, 12, 13, 0, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 17, 26, 27, 28, 29, 30, 31, 32],
}
RIGS = tuple(REFERENCE_PARENTS)


@pytest.fixture(scope="module")
def assets(raw) -> Path:
    return raw("kimodo") / "kimodo-assets"


@pytest.fixture(scope="module")
def rigs(assets: Path) -> dict[str, Skeleton]:
    return {name: load_kimodo_skeleton(name, assets) for name in RIGS}


@pytest.mark.parametrize("name", RIGS)
def test_joint_tables_match_reference(rigs: dict[str, Skeleton], name: str) -> None:
    skel = rigs[name]
    assert skel.num_joints == {"smplx22": 22, "soma30": 30, "soma77": 77, "g1": 34}[name]
    assert list(skel.parents) == REFERENCE_PARENTS[name]
    # every semantic set is present, so heading, contacts and EE constraints work on every rig
    assert set(skel.joint_sets) == {"left_foot", "right_foot", "left_hand", "right_hand", "hips"}
    assert len(skel.foot_joint_indices) == 4


def test_soma77_names_match_skin_rig(assets: Path, rigs: dict[str, Skeleton]) -> None:
    with np.load(assets / "skeletons" / "somaskel77" / "skin_standard.npz") as skin:
        assert list(skin["rig_joint_names"]) == list(rigs["soma77"].joint_names)
    assert len(rigs["soma77"].joint_set("left_hand")) == 25


def test_rest_positions_come_from_joints_p(assets: Path, rigs: dict[str, Skeleton]) -> None:
    for name, folder in (("smplx22", "smplx22"), ("soma30", "somaskel30"), ("soma77", "somaskel77"), ("g1", "g1skel34")):
        neutral = torch.load(assets / "skeletons" / folder / "joints.p", map_location="cpu", weights_only=True).numpy()
        np.testing.assert_allclose(rigs[name].rest_positions(), neutral, atol=1e-12)
    # SMPL-X's rest pelvis is off the origin (reference 3.1); the others sit at it
    np.testing.assert_allclose(rigs["smplx22"].offsets[0], [0.0023, -0.3723, 0.0123], atol=1e-4)
    assert np.abs(rigs["soma30"].offsets[0]).max() == 0.0


def test_soma30_rest_equals_soma77_for_shared_joints(rigs: dict[str, Skeleton]) -> None:
    s30, s77 = rigs["soma30"], rigs["soma77"]
    assert set(s30.joint_names) <= set(s77.joint_names)
    np.testing.assert_allclose(s77.rest_positions()[s77.indices(s30.joint_names)], s30.rest_positions(), atol=1e-12)


def test_fk_reproduces_example_posed_joints(assets: Path, rigs: dict[str, Skeleton]) -> None:
    """Reference 10.3.1 on every shipped example (SOMA30; G1 too when the archive holds its examples)."""
    files = sorted((assets / "examples").glob("*/*/motion.npz"))
    assert files
    for path in files:
        with np.load(path) as data:
            positions, global_rot = data["posed_joints"], data["global_rot_mats"].astype(np.float64)
        skel = rigs["soma30" if positions.shape[1] == 30 else "g1"]
        local = skel.global_to_local(global_rot)
        _, fk = skel.forward_kinematics(local, positions[:, 0])
        assert np.abs(fk - positions).max() < 1e-5, path


@pytest.mark.parametrize("name", RIGS)
def test_mirror_map_swaps_left_and_right(rigs: dict[str, Skeleton], name: str) -> None:
    skel = rigs[name]
    mirror = skel.mirror
    assert mirror is not None
    assert all(mirror[mirror[j]] == j for j in range(skel.num_joints))
    swapped = 0
    for j, joint in enumerate(skel.joint_names):
        other = skel.joint_names[mirror[j]]
        if "Left" in joint or "left_" in joint:
            assert other == joint.replace("Left", "Right").replace("left_", "right_")
            swapped += 1
        elif "Right" not in joint and "right_" not in joint:
            assert other == joint
    assert swapped > 0
    # counterparts are geometric mirror images at rest (the captured bodies are symmetric to ~3 cm)
    rest = skel.rest_positions()
    assert np.abs(rest[list(mirror)] * [-1, 1, 1] - rest).max() < 0.035


def test_g1_hinges(assets: Path, rigs: dict[str, Skeleton]) -> None:
    g1 = rigs["g1"]
    hinges = g1.extras["hinges"]
    assert len(hinges) == 29
    non_hinge = [n for n in g1.joint_names if n not in hinges]
    assert non_hinge == ["pelvis_skel", "left_toe_base", "right_toe_base", "left_hand_roll_skel", "right_hand_roll_skel"]
    assert list(hinges)[:6] == [f"left_{x}_skel" for x in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")]
    for joint, hinge in hinges.items():
        assert hinge["mujoco_joint"] == joint.removesuffix("_skel") + "_joint"
        lo, hi = hinge["range"]
        assert np.isfinite([lo, hi]).all() and lo < hi
        assert np.linalg.norm(hinge["axis"]) == pytest.approx(1.0)
    # MuJoCo y (lateral) is our x, MuJoCo x (forward) our z, MuJoCo z (up) our y
    for side in ("left", "right"):
        np.testing.assert_allclose(np.abs(hinges[f"{side}_hip_pitch_skel"]["axis"]), [1, 0, 0])
        np.testing.assert_allclose(np.abs(hinges[f"{side}_knee_skel"]["axis"]), [1, 0, 0])
        np.testing.assert_allclose(np.abs(hinges[f"{side}_hip_roll_skel"]["axis"]), [0, 0, 1])
        np.testing.assert_allclose(np.abs(hinges[f"{side}_hip_yaw_skel"]["axis"]), [0, 1, 0])
    assert hinges["left_hip_roll_skel"]["range"] == [-0.5236, 2.9671]  # the joint's own range overrides its class
    assert hinges["left_knee_skel"]["range"] == [-0.087267, 2.8798]  # inherited from the 'knee' default class
    # the XML body quats in our axes equal KIMODO's own rest_pose_local_rot.p (reference: 2e-8)
    rest = load_g1_rest_local_rotations(assets)
    for joint, hinge in hinges.items():
        np.testing.assert_allclose(hinge["rest_rotation"], rest[g1.index(joint)], atol=1e-6)
    json.dumps(g1.to_dict())  # extras stay JSON-serialisable for model artifacts


def test_g1_identity_pose_hinge_angles(rigs: dict[str, Skeleton]) -> None:
    """Reference 5.2 fixture: identity local rotations give zero hinge angles except knees -0.1749,
    shoulder roll +-0.2793 and shoulder pitch -0.0001 (angle of ``rest^T`` about the hinge axis)."""
    hinges = rigs["g1"].extras["hinges"]
    angles = {
        joint: float(matrix_to_axis_angle(np.array(h["rest_rotation"]).T) @ np.array(h["axis"])) for joint, h in hinges.items()
    }
    expected = {j: 0.0 for j in hinges}
    expected |= {"left_knee_skel": -0.1749, "right_knee_skel": -0.1749}
    expected |= {"left_shoulder_roll_skel": 0.2793, "right_shoulder_roll_skel": -0.2793}
    expected |= {"left_shoulder_pitch_skel": -0.0001, "right_shoulder_pitch_skel": -0.0001}
    for joint in hinges:
        assert angles[joint] == pytest.approx(expected[joint], abs=2e-4), joint


def test_g1_hinge_rotation_moves_child_about_axis(rigs: dict[str, Skeleton]) -> None:
    """Pitching the left hip forward (positive angle about +X, right-handed) swings the foot forward (+Z)."""
    g1 = rigs["g1"]
    hinge = g1.extras["hinges"]["left_hip_pitch_skel"]
    local = np.broadcast_to(np.eye(3), (2, g1.num_joints, 3, 3)).copy()
    local[1, g1.index("left_hip_pitch_skel")] = np.array(hinge["rest_rotation"]) @ axis_angle_to_matrix(
        -0.5 * np.array(hinge["axis"])
    )
    _, pos = g1.forward_kinematics(local, np.zeros((2, 3)))
    toe = g1.index("left_toe_base")
    # a negative MuJoCo hip pitch lifts the leg forward; our y stays up, z forward
    assert pos[1, toe, 2] > pos[0, toe, 2] + 0.2
    assert pos[1, toe, 1] > pos[0, toe, 1]


def test_side_assets(assets: Path) -> None:
    relaxed = load_relaxed_hands_rest_pose(assets)
    assert relaxed.shape == (77, 3, 3)
    np.testing.assert_allclose(relaxed @ np.swapaxes(relaxed, -1, -2), np.broadcast_to(np.eye(3), relaxed.shape), atol=1e-5)
    assert not np.allclose(relaxed[7], np.eye(3))  # HeadEnd is non-identity (reference 3.2)
    bvh, rots = load_soma_standard_tpose(assets)
    # reference 10.3.6: neutral offsets are the BVH offsets in the parent's standard frame
    s77 = load_kimodo_skeleton("soma77", assets)
    parents = np.array(s77.parents[1:])
    neutral_off = s77.offsets[1:]
    bvh_off = bvh[1:] - bvh[parents]
    np.testing.assert_allclose(np.einsum("jab,jb->ja", rots[parents], bvh_off), neutral_off, atol=1e-6)
    assert load_smplx_betas(assets).shape == (16,)
    assert load_smplx_mean_hands(assets).shape == (90,)


def test_registry_dispatches_to_loader(data_dir: Path, cache_dir: Path, rigs: dict[str, Skeleton]) -> None:
    assert get_skeleton("g1", data_dir, cache_dir) == rigs["g1"]


def test_load_errors_name_the_file(assets: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="soma31"):
        load_kimodo_skeleton("soma31", assets)
    with pytest.raises(DataNotFoundError, match="joints.p"):
        load_kimodo_skeleton("soma30", tmp_path)
    bad = tmp_path / "skeletons" / "somaskel30"
    bad.mkdir(parents=True)
    torch.save(torch.zeros(29, 3, dtype=torch.float64), bad / "joints.p")
    with pytest.raises(InputError, match=r"joints\.p.*\(29, 3\).*\(30, 3\)"):
        load_kimodo_skeleton("soma30", tmp_path)
    (bad / "joints.p").write_text("not a torch archive")
    with pytest.raises(InputError, match="joints.p"):
        load_kimodo_skeleton("soma30", tmp_path)
    g1 = tmp_path / "skeletons" / "g1skel34"
    shutil.copytree(assets / "skeletons" / "g1skel34", g1)
    xml = g1 / "xml" / "g1.xml"
    xml.write_text(xml.read_text().replace('range="-0.087267 2.8798"', 'range="-0.087267 nan"'))
    with pytest.raises(InputError, match=r"g1\.xml.*knee_joint range"):
        load_kimodo_skeleton("g1", tmp_path)
