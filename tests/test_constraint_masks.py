"""Feature-space constraint masks: exactly which (frame, feature) entries each constraint kind marks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motiongen.constraints import (
    CONSTRAINT_KINDS,
    end_effector_joints,
    end_effector_mask,
    fullbody_mask,
    random_constraint_mask,
    root2d_mask,
)
from motiongen.errors import InputError, UnknownNameError
from motiongen.motion.kimodo_features import KimodoFeatures
from motiongen.skeleton.registry import get_skeleton

from toy_rig import NAMES, toy_skeleton

J = len(NAMES)
D = 9 + 12 * J
POS = 5  # local_joints_positions start
ROT = 5 + 3 * J  # global_rot_data start
VEL = 5 + 9 * J  # velocities start


@pytest.fixture(scope="module")
def feats() -> KimodoFeatures:
    return KimodoFeatures(toy_skeleton("toy_masks"))


def columns(mask: np.ndarray, frame: int) -> set[int]:
    return set(np.flatnonzero(mask[frame]).tolist())


def pos_cols(*joints: int) -> set[int]:
    return {POS + 3 * j + c for j in joints for c in range(3)}


def rot_cols(*joints: int) -> set[int]:
    return {ROT + 6 * j + c for j in joints for c in range(6)}


def test_fullbody_mask(feats):
    mask = fullbody_mask(feats, 20, [3, 17])
    assert mask.shape == (20, D) and mask.dtype == bool
    assert np.flatnonzero(mask.any(1)).tolist() == [3, 17]
    assert columns(mask, 3) == set(range(5)) | pos_cols(*range(J))
    assert columns(mask, 17) == columns(mask, 3)


def test_end_effector_mask(feats):
    left_ankle, left_toe, right_ankle, right_toe = (NAMES.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe"))
    mask = end_effector_mask(feats, 10, [0, 9], ["LeftFoot"])
    assert np.flatnonzero(mask.any(1)).tolist() == [0, 9]
    # root x, y, z and heading; every joint of the chain; the rotation of the chain base only
    assert columns(mask, 9) == set(range(5)) | pos_cols(left_ankle, left_toe) | rot_cols(left_ankle)
    both = end_effector_mask(feats, 10, [4], ["RightFoot", "Hips"])
    assert columns(both, 4) == set(range(5)) | pos_cols(right_ankle, right_toe, 0) | rot_cols(right_ankle, 0)
    assert end_effector_joints(feats, "Hips") == (0,)
    with pytest.raises(UnknownNameError, match="LeftFoot, RightFoot, LeftHand, RightHand, Hips"):
        end_effector_mask(feats, 10, [1], ["LeftToe"])
    with pytest.raises(UnknownNameError, match="left_hand"):  # the toy rig has no hands
        end_effector_mask(feats, 10, [1], ["LeftHand"])


def test_root2d_mask(feats):
    mask = root2d_mask(feats, 8, [0, 5, 7])
    assert np.flatnonzero(mask.any(1)).tolist() == [0, 5, 7]
    assert columns(mask, 5) == {0, 2}  # x and z of the smooth root, not its height
    assert columns(root2d_mask(feats, 8, [2], heading=True), 2) == {0, 2, 3, 4}


def test_frame_validation(feats):
    with pytest.raises(InputError, match=r"frames must be in \[0, 9\]"):
        fullbody_mask(feats, 10, [10])
    with pytest.raises(InputError, match=r"\[0, 9\]"):
        root2d_mask(feats, 10, [-1])
    with pytest.raises(InputError, match="integer"):
        root2d_mask(feats, 10, [1.5])
    with pytest.raises(InputError, match="num_frames"):
        fullbody_mask(feats, 0, [])
    assert not fullbody_mask(feats, 4, []).any()


def test_smplx_end_effectors(data_dir: Path, cache_dir: Path):
    skeleton = get_skeleton("smplx22", data_dir, cache_dir)
    f = KimodoFeatures(skeleton)
    j = skeleton.num_joints
    wrist, ankle, foot = skeleton.indices(["left_wrist", "left_ankle", "left_foot"])
    hand = end_effector_mask(f, 5, [2], ["LeftHand"])
    expected = set(range(5)) | {5 + 3 * wrist + c for c in range(3)} | {5 + 3 * j + 6 * wrist + c for c in range(6)}
    assert columns(hand, 2) == expected
    foot_mask = end_effector_mask(f, 5, [2], ["LeftFoot"])
    assert columns(foot_mask, 2) == (
        set(range(5)) | {5 + 3 * k + c for k in (ankle, foot) for c in range(3)} | {5 + 3 * j + 6 * ankle + c for c in range(6)}
    )


def classify(mask: np.ndarray) -> set[str]:
    """Kinds visible in a mask drawn with a single kind enabled."""
    kinds = set()
    rows = np.flatnonzero(mask.any(1))
    if mask[:, ROT:VEL].any():
        kinds.add("end_effector")
    elif mask[:, POS:ROT].all(1).any():
        kinds.add("fullbody")
    elif len(rows) == len(mask):
        kinds.add("root2d_path")
    elif len(rows):
        kinds.add("root2d_waypoints")
    return kinds


def test_random_mask_kinds(feats):
    rng = np.random.default_rng(0)
    t = 40
    for kind in CONSTRAINT_KINDS:
        counts = []
        for _ in range(60):
            mask = random_constraint_mask(feats, t, rng, {kind: 1.0})
            assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
            assert not mask[:, VEL:].any()  # never velocities or foot contacts
            assert classify(mask) == {kind}
            rows = np.flatnonzero(mask.any(1))
            counts.append(len(rows))
            if kind == "fullbody":
                assert 1 <= len(rows) <= 5 and mask[rows][:, :5].all() and mask[rows][:, POS:ROT].all()
            elif kind == "root2d_waypoints":
                assert 2 <= len(rows) <= 5 and rows[0] == 0 and rows[-1] == t - 1
                assert not mask[:, 1].any()  # no root height
            elif kind == "root2d_path":
                assert mask[:, [0, 2]].all() and not mask[:, 1].any()
            else:
                # a few keyframes, or one contiguous interval
                assert len(rows) <= 5 or np.all(np.diff(rows) == 1)
        if kind != "root2d_path":
            assert len(set(counts)) > 1  # the frame count varies between draws

    # default probabilities: every kind and the unconstrained case show up, sometimes mixed
    seen: dict[str, int] = {}
    rng = np.random.default_rng(1)
    for _ in range(400):
        mask = random_constraint_mask(feats, t, rng)
        assert not mask[:, VEL:].any()
        has_rot = bool(mask[:, ROT:VEL].any())
        has_full = bool(mask[:, POS:ROT].all(1).any())
        has_path = bool(mask[:, [0, 2]].all())
        key = "none" if not mask.any() else ("mixed" if has_rot + has_full + has_path > 1 else "single")
        seen[key] = seen.get(key, 0) + 1
        for name, flag in (("end_effector", has_rot), ("fullbody", has_full), ("root2d_path", has_path)):
            seen[name] = seen.get(name, 0) + int(flag)
    assert all(seen.get(k, 0) > 10 for k in ("none", "single", "mixed", "end_effector", "fullbody", "root2d_path"))
    assert 0.3 < seen["none"] / 400 < 0.55


def test_random_mask_edge_cases(feats):
    rng = np.random.default_rng(2)
    assert not random_constraint_mask(feats, 10, rng, {}).any()
    one = random_constraint_mask(feats, 1, rng, {"root2d_waypoints": 1.0})
    assert one.shape == (1, D) and one[0, [0, 2]].all()
    for kind in CONSTRAINT_KINDS:
        assert random_constraint_mask(feats, 2, rng, {kind: 1.0}).any()
    a = random_constraint_mask(feats, 30, np.random.default_rng(5))
    b = random_constraint_mask(feats, 30, np.random.default_rng(5))
    assert np.array_equal(a, b)
    with pytest.raises(InputError, match="unknown constraint kind 'foot'"):
        random_constraint_mask(feats, 10, rng, {"foot": 1.0})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        random_constraint_mask(feats, 10, rng, {"fullbody": 1.5})
