"""Constraint sets (motiongen.constraints.sets) on real data: KIMODO's shipped SOMA example files mapped
onto smplx22, feature-space entries checked against the masks and against encoded real motion, and
every kind of bad constraint rejected with the constraint and the field named. No model needed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from motiongen.constraints.masks import (
    end_effector_joints,
    end_effector_mask,
    fullbody_mask,
    root2d_mask,
)
from motiongen.constraints.sets import (
    ConstraintConflictError,
    EndEffectorConstraintSet,
    FullBodyConstraintSet,
    Root2DConstraintSet,
    check_constraints,
    constraint_features,
    crop_constraints,
    from_records,
    pose_targets,
    shift_constraints,
    to_records,
    translate_constraints,
)
from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import axis_angle_to_matrix, matrix_to_rotation_6d
from motiongen.io.constraints_json import (
    ConstraintRecord,
    read_constraints_json,
    write_constraints_json,
)
from motiongen.motion.kimodo_features import KimodoFeatures, canonicalize, root_heading
from motiongen.skeleton.registry import get_skeleton

pytestmark = pytest.mark.data

EXAMPLES = "kimodo-assets/examples/kimodo-soma-rp"
#: the SOMA examples with constraints, their types and motion lengths (reference 10.1)
SHIPPED = {
    "03_full_body_keyframes": (["fullbody"], 150),
    "04_ee_constraint": (["right-foot", "left-foot", "left-hand", "right-hand"], 151),
    "05_root_path": (["root2d"], 300),
    "06_root_waypoints": (["root2d"], 181),
    "07_mixed_constraints": (["fullbody", "root2d"], 152),
}
#: SOMA joint -> smplx22 joint, for checking where mapped poses put the body
SOMA_TO_SMPLX = {
    "LeftHand": "left_wrist",
    "RightHand": "right_wrist",
    "LeftFoot": "left_ankle",
    "RightFoot": "right_ankle",
    "Head": "head",
}
EE_TYPES = {"left-hand": "LeftHand", "right-hand": "RightHand", "left-foot": "LeftFoot", "right-foot": "RightFoot"}


@pytest.fixture(scope="module")
def examples(raw) -> Path:
    return raw("kimodo") / EXAMPLES


@pytest.fixture(scope="module")
def smplx(data_dir: Path, cache_dir: Path):
    return get_skeleton("smplx22", data_dir, cache_dir)


@pytest.fixture(scope="module")
def feats(smplx) -> KimodoFeatures:
    return KimodoFeatures(smplx)


@pytest.fixture(scope="module")
def motion(data_dir: Path, cache_dir: Path, smplx):
    """A real Bandai clip on smplx22, canonicalised (frame 0 at the origin facing +Z)."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    clip = canonicalize(dataset[0][0])
    assert clip.skeleton == smplx and clip.num_frames >= 60
    return clip


def columns(mask_row: np.ndarray) -> set[int]:
    return set(np.flatnonzero(mask_row).tolist())


# --------------------------------------------------------------------------------------------------
# shipped example files
def test_every_shipped_soma_file_maps_onto_smplx22_and_round_trips(examples, smplx, data_dir, cache_dir, tmp_path):
    soma = get_skeleton("soma30", data_dir, cache_dir)
    found = sorted(p.parent.name for p in examples.glob("*/constraints.json"))
    assert found == sorted(SHIPPED)
    for name, (types, num_frames) in SHIPPED.items():
        records = read_constraints_json(examples / name / "constraints.json")
        sets = from_records(records, smplx, data_dir=data_dir, cache_dir=cache_dir)
        assert [c.type for c in sets] == types, name
        check_constraints(sets, num_frames, smplx)  # every keyframe inside the example's motion
        with pytest.raises(InputError, match="past the end"):
            check_constraints(sets, int(max(c.frame_indices.max() for c in sets)), smplx)
        for record, c in zip(records, sets):
            np.testing.assert_array_equal(c.frame_indices, record.frame_indices)
            np.testing.assert_array_equal(c.smooth_root_2d, record.smooth_root_2d)
            if c.type == "root2d":
                assert c.global_root_heading is None
                continue
            assert c.skeleton == smplx and c.local_rot_mats.shape == (len(record.frame_indices), 22, 3, 3)
            assert isinstance(c, EndEffectorConstraintSet) == (c.type != "fullbody")
            if c.type in EE_TYPES:
                assert c.joint_names == (EE_TYPES[c.type],)
            # the pelvis keeps its floor position; its height is scaled to the smplx legs (a few mm)
            np.testing.assert_array_equal(c.root_positions[:, [0, 2]], record.root_positions[:, [0, 2]])
            assert np.abs(c.root_positions[:, 1] - record.root_positions[:, 1]).max() < 0.03
            # the mapped pose puts hands, feet and head where SOMA's are (different proportions: < 25 cm),
            # each nearer its own side than the other side's
            _, soma_pos = soma.forward_kinematics(axis_angle_to_matrix(record.local_joints_rot), record.root_positions)
            _, ours = c.forward_kinematics()
            for soma_joint, joint in SOMA_TO_SMPLX.items():
                own = np.linalg.norm(ours[:, smplx.index(joint)] - soma_pos[:, soma.index(soma_joint)], axis=-1)
                assert own.max() < 0.25, (name, joint, own)
            for left, right in (("left_wrist", "right_wrist"), ("left_ankle", "right_ankle")):
                soma_left = soma_pos[:, soma.index(next(k for k, v in SOMA_TO_SMPLX.items() if v == left))]
                assert np.all(
                    np.linalg.norm(ours[:, smplx.index(left)] - soma_left, axis=-1)
                    < np.linalg.norm(ours[:, smplx.index(right)] - soma_left, axis=-1)
                ), (name, left)

        # to_records -> file -> from_records: the same sets on smplx22 (no mapping the second time)
        path = write_constraints_json(to_records(sets), tmp_path / name / "constraints.json")
        again_records = read_constraints_json(path, skeleton=smplx)
        again = from_records(again_records, smplx)
        assert [c.type for c in again] == types
        for a, b in zip(sets, again):
            np.testing.assert_array_equal(a.frame_indices, b.frame_indices)
            np.testing.assert_array_equal(a.smooth_root_2d, b.smooth_root_2d)
            if a.type != "root2d":
                np.testing.assert_array_equal(a.root_positions, b.root_positions)
                np.testing.assert_allclose(b.local_rot_mats, a.local_rot_mats, atol=1e-9)
            if isinstance(a, EndEffectorConstraintSet):
                assert a.joint_names == b.joint_names
        # and the feature-space targets are the same
        total = SHIPPED[name][1]
        obs_a, mask_a = constraint_features(sets, KimodoFeatures(smplx), total)
        obs_b, mask_b = constraint_features(again, KimodoFeatures(smplx), total)
        np.testing.assert_array_equal(mask_a, mask_b)
        np.testing.assert_allclose(obs_a, obs_b, atol=1e-9)


def test_shipped_files_mark_the_mask_columns(examples, smplx, feats, data_dir, cache_dir):
    def load(name):
        return from_records(read_constraints_json(examples / name / "constraints.json"), smplx, data_dir=data_dir, cache_dir=cache_dir)

    _, mask = constraint_features(load("03_full_body_keyframes"), feats, 150)
    np.testing.assert_array_equal(mask, fullbody_mask(feats, 150, [79, 134]))
    # four effectors stored with the same poses on the same frames: no conflict, the union of the chains
    _, mask = constraint_features(load("04_ee_constraint"), feats, 151)
    np.testing.assert_array_equal(mask, end_effector_mask(feats, 151, [28, 94], ["LeftHand", "RightHand", "LeftFoot", "RightFoot"]))
    observed, mask = constraint_features(load("05_root_path"), feats, 300)
    np.testing.assert_array_equal(mask, root2d_mask(feats, 300, np.arange(300)))
    assert observed[299, 2] > 10.0  # the path ends about 10.4 m ahead
    # the mixed file: the full-body keyframe's smooth root equals the path there, so they agree
    observed, mask = constraint_features(load("07_mixed_constraints"), feats, 152)
    np.testing.assert_array_equal(mask, fullbody_mask(feats, 152, [108]) | root2d_mask(feats, 152, np.arange(152)))
    path = json.loads((examples / "07_mixed_constraints" / "constraints.json").read_text())[1]["smooth_root_2d"]
    np.testing.assert_array_equal(observed[:, [0, 2]], np.asarray(path))


# --------------------------------------------------------------------------------------------------
# feature values against an encoded real motion
def test_fullbody_constraint_reproduces_encoded_features(motion, smplx, feats):
    encoded = feats.encode(motion)  # float32 [T, D]
    frames = np.array([0, 17, motion.num_frames - 1])
    fb = FullBodyConstraintSet(
        smplx, frames, motion.local_rotations[frames], motion.root_translation[frames], smooth_root_2d=encoded[frames][:, [0, 2]]
    )
    observed, mask = constraint_features([fb], feats, motion.num_frames)
    np.testing.assert_array_equal(mask, fullbody_mask(feats, motion.num_frames, frames))
    cols = np.flatnonzero(mask[frames[0]])
    assert len(cols) == 5 + 3 * 22
    # root (smooth x, pelvis y, smooth z), heading and every joint position: equal up to the float32
    # rounding of the stored features (the smooth root itself comes from them, so it matches exactly)
    np.testing.assert_allclose(observed[frames][:, cols], encoded[frames][:, cols], rtol=0, atol=4e-7)
    np.testing.assert_array_equal(observed[frames][:, [0, 2]].astype(np.float32), encoded[frames][:, [0, 2]])
    assert not observed[~mask].any()  # nothing outside the mask

    # an end effector pins its chain's positions and the chain base's global rotation, also as encoded
    ee = EndEffectorConstraintSet(
        smplx, frames, motion.local_rotations[frames], motion.root_translation[frames], encoded[frames][:, [0, 2]],
        joint_names=("LeftFoot", "RightHand"),
    )
    observed, mask = constraint_features([ee], feats, motion.num_frames)
    np.testing.assert_array_equal(mask, end_effector_mask(feats, motion.num_frames, frames, ["LeftFoot", "RightHand"]))
    cols = np.flatnonzero(mask[frames[1]])
    rot_cols = [c for c in cols if feats.global_rot_data.start <= c < feats.global_rot_data.stop]
    assert len(rot_cols) == 12  # left ankle + right wrist, 6D each
    np.testing.assert_allclose(observed[frames][:, cols], encoded[frames][:, cols], rtol=0, atol=2e-6)

    # for imputation (rotations=True) the sets also give rotations the model input leaves out: every
    # joint of a full-body pose, and every joint from the root down to each chain base of an end effector
    rot = feats.global_rot_data
    observed, mask = constraint_features([fb], feats, motion.num_frames, rotations=True)
    assert mask[frames][:, rot].all() and mask[frames].sum() == len(frames) * (5 + 9 * 22)
    np.testing.assert_allclose(observed[frames][:, rot], encoded[frames][:, rot], rtol=0, atol=2e-6)
    observed, mask = constraint_features([ee], feats, motion.num_frames, rotations=True)
    rotated = sorted({(c - rot.start) // 6 for c in np.flatnonzero(mask[frames[1]]) if rot.start <= c < rot.stop})
    limbs = ["pelvis", "left_hip", "left_knee", "left_ankle", "spine1", "spine2", "spine3", "right_collar",
             "right_shoulder", "right_elbow", "right_wrist"]
    assert rotated == sorted(smplx.indices(limbs))
    np.testing.assert_allclose(observed[frames][:, rot][mask[frames][:, rot]], encoded[frames][:, rot][mask[frames][:, rot]], atol=2e-6)

    # 2D root with heading: exactly the given numbers in the smooth-root x, z and heading columns
    heading = encoded[frames][:, 3:5]
    root = Root2DConstraintSet(frames, encoded[frames][:, [0, 2]], heading)
    observed, mask = constraint_features([root], feats, motion.num_frames)
    np.testing.assert_array_equal(mask, root2d_mask(feats, motion.num_frames, frames, heading=True))
    np.testing.assert_allclose(observed[frames][:, [0, 2, 3, 4]], encoded[frames][:, [0, 2, 3, 4]], atol=1e-6)

    # the pelvis xz default differs from the encoded smooth root: positions are relative to the smooth root
    plain = FullBodyConstraintSet(smplx, frames, motion.local_rotations[frames], motion.root_translation[frames])
    obs_plain, _ = constraint_features([plain], feats, motion.num_frames)
    np.testing.assert_array_equal(obs_plain[frames][:, [0, 2]], motion.root_translation[frames][:, [0, 2]])
    assert np.abs(obs_plain[frames, 5] - 0.0).max() < 1e-12  # pelvis x relative to itself
    heading_angle = root_heading(motion.joint_positions()[frames], smplx)
    np.testing.assert_allclose(obs_plain[frames, 3], np.cos(heading_angle), atol=1e-12)


def test_pose_targets_of_real_poses(motion, smplx):
    frames = np.array([3, 9])
    smooth = motion.root_translation[frames][:, [0, 2]] + 0.05
    fb = FullBodyConstraintSet(smplx, frames, motion.local_rotations[frames], motion.root_translation[frames], smooth)
    ee = EndEffectorConstraintSet(smplx, [20], motion.local_rotations[[20]], motion.root_translation[[20]], joint_names=("LeftHand", "Hips"))
    root = Root2DConstraintSet([30, 31], [[1.0, 2.0], [1.1, 2.1]])
    targets = pose_targets([fb, ee, root], 40, smplx)
    assert np.flatnonzero(targets.fullbody).tolist() == [3, 9]
    assert np.flatnonzero(targets.root2d).tolist() == [30, 31]
    # LeftHand is pinned on frame 20; Hips has no post-processing target (reference 1.8), nothing else is
    assert {key: np.flatnonzero(mask).tolist() for key, mask in targets.end_effectors.items() if mask.any()} == {"left_hand": [20]}
    # the target pelvis is the stored pose's own (KIMODO would move its xz onto the smooth root)
    np.testing.assert_array_equal(targets.root_positions[frames], motion.root_translation[frames])
    np.testing.assert_array_equal(targets.target_ground()[frames], motion.root_translation[frames][:, [0, 2]])
    np.testing.assert_array_equal(targets.smooth_root_2d[frames], smooth)
    np.testing.assert_array_equal(targets.local_rot_mats[frames], motion.local_rotations[frames])
    np.testing.assert_array_equal(targets.smooth_root_2d[[30, 31]], [[1.0, 2.0], [1.1, 2.1]])


# --------------------------------------------------------------------------------------------------
# bad constraints: the constraint and the field are named
def test_bad_constraint_sets_name_constraint_and_field(motion, smplx, feats):
    rot, root = motion.local_rotations[:2], motion.root_translation[:2]
    with pytest.raises(InputError, match=r"field 'frame_indices'.*fullbody: frame index -2 is negative"):
        FullBodyConstraintSet(smplx, [4, -2], rot, root)
    with pytest.raises(InputError, match=r"field 'frame_indices'.*root2d: frame 5 is listed twice"):
        Root2DConstraintSet([5, 6, 5], np.zeros((3, 2)))
    with pytest.raises(InputError, match=r"frame_indices must be integers"):
        Root2DConstraintSet([0.5, 2], np.zeros((2, 2)))
    with pytest.raises(InputError, match=r"non-empty"):
        Root2DConstraintSet([], np.zeros((0, 2)))
    bad_root = root.copy()
    bad_root[1, 2] = np.nan
    with pytest.raises(InputError, match=r"field 'root_positions'.*fullbody: root_positions\[1, 2\] is not a finite number"):
        FullBodyConstraintSet(smplx, [0, 1], rot, bad_root)
    with pytest.raises(InputError, match=r"field 'smooth_root_2d'.*root2d: smooth_root_2d\[0, 1\] is not a finite"):
        Root2DConstraintSet([0], [[0.0, math.inf]])
    bad_rot = rot.copy()
    bad_rot[0, 3, 0, 0] = np.inf
    with pytest.raises(InputError, match=r"left-hand: local_rot_mats\[0, 3, 0, 0\] is not a finite"):
        EndEffectorConstraintSet(smplx, [0, 1], bad_rot, root, joint_names=("LeftHand",))
    with pytest.raises(InputError, match=r"fullbody: local_rot_mats has shape \[2, 21, 3, 3\]; expected \[2, 22, 3, 3\]"):
        FullBodyConstraintSet(smplx, [0, 1], rot[:, :21], root)
    with pytest.raises(InputError, match=r"fullbody: root_positions has shape \[2, 2\]; expected \[2, 3\]"):
        FullBodyConstraintSet(smplx, [0, 1], rot, root[:, :2])
    with pytest.raises(InputError, match=r"root2d: smooth_root_2d has shape \[2, 3\]; expected \[2, 2\]"):
        Root2DConstraintSet([0, 1], np.zeros((2, 3)))
    with pytest.raises(InputError, match=r"root2d: global_root_heading has shape \[1, 2\]; expected \[2, 2\]"):
        Root2DConstraintSet([0, 1], np.zeros((2, 2)), [[1.0, 0.0]])
    with pytest.raises(InputError, match=r"global_root_heading rows must be \(cos, sin\)"):
        Root2DConstraintSet([0], np.zeros((1, 2)), [[0.0, 0.0]])
    scaled = rot.copy()
    scaled[1, 5] *= 2.0
    with pytest.raises(InputError, match=r"field 'local_rot_mats'.*local_rot_mats\[1, 5\] is not a rotation matrix"):
        FullBodyConstraintSet(smplx, [0, 1], scaled, root)
    with pytest.raises(UnknownNameError, match=r"end-effector: unknown joint name 'LeftToe'.*LeftFoot, RightFoot, LeftHand"):
        EndEffectorConstraintSet(smplx, [0, 1], rot, root, joint_names=("LeftHand", "LeftToe"))
    with pytest.raises(InputError, match=r"joint_names.*repeats"):
        EndEffectorConstraintSet(smplx, [0, 1], rot, root, joint_names=("LeftHand", "LeftHand"))
    with pytest.raises(InputError, match=r"joint_names is empty"):
        EndEffectorConstraintSet(smplx, [0, 1], rot, root, joint_names=())

    fine = FullBodyConstraintSet(smplx, [3, 40], rot, root)
    with pytest.raises(InputError, match=r"field 'frame_indices'.*constraints\[1\] \(fullbody\): frame 40 is past the end; frames must be in \[0, 39\]"):
        check_constraints([Root2DConstraintSet([0], [[0, 0]]), fine], 40, smplx)
    with pytest.raises(InputError, match=r"constraints\[0\] is a dict"):
        check_constraints([{"type": "root2d"}], 40, smplx)
    assert check_constraints(fine, 41, smplx) == [fine]  # one set is accepted as a list of one


def test_poses_on_another_skeleton_are_refused(motion, smplx, feats, data_dir, cache_dir, tmp_path):
    g1 = get_skeleton("g1", data_dir, cache_dir)
    assert g1.num_joints == 34
    g1_pose = FullBodyConstraintSet(g1, [0], np.broadcast_to(np.eye(3), (1, 34, 3, 3)), [[0.0, 0.75, 0.0]])
    with pytest.raises(InputError, match=r"constraints\[0\] \(fullbody\): poses are on skeleton 'g1' \(34 joints\); the model uses 'smplx22'"):
        constraint_features([g1_pose], feats, 10)
    # a constraints.json with G1 (34-joint) poses for the smplx22 model: no joint map, named
    record = ConstraintRecord("left-hand", [0, 5], local_joints_rot=np.zeros((2, 34, 3)), root_positions=[[0, 0.75, 0], [0.1, 0.75, 0]])
    path = write_constraints_json([ConstraintRecord("root2d", [0], smooth_root_2d=[[0, 0]]), record], tmp_path / "g1.json")
    with pytest.raises(InputError, match=r"field 'local_joints_rot'.*constraints\[1\] \(left-hand\): poses are on 'g1', which has no joint map to 'smplx22'"):
        from_records(read_constraints_json(path), smplx, data_dir=data_dir, cache_dir=cache_dir)
    odd = ConstraintRecord("fullbody", [0], local_joints_rot=np.zeros((1, 25, 3)), root_positions=[[0, 1, 0]])
    with pytest.raises(InputError, match=r"constraints\[0\] \(fullbody\): local_joints_rot stores 25 joints.*'smplx22' has 22"):
        from_records([odd], smplx, data_dir=data_dir, cache_dir=cache_dir)


def test_wrong_json_types_in_a_file(tmp_path, smplx):
    cases = {
        "object.json": ({"type": "root2d"}, r"a constraints file is a JSON array"),
        "frames.json": ([{"type": "root2d", "frame_indices": "0,1", "smooth_root_2d": [[0, 0]]}], r"\[0\]\.frame_indices.*expected a list of frame numbers, got a string"),
        "number.json": ([{"type": "root2d", "frame_indices": [0], "smooth_root_2d": [["0", 0]]}], r"\[0\]\.smooth_root_2d\[0\]\[0\].*expected a number, got a string"),
        "names.json": ([{"type": "end-effector", "frame_indices": [0], "local_joints_rot": [[[0, 0, 0]] * 22],
                         "root_positions": [[0, 1, 0]], "joint_names": "LeftHand"}], r"\[0\]\.joint_names.*list of joint-name strings"),
        "type.json": ([{"type": 3, "frame_indices": [0], "smooth_root_2d": [[0, 0]]}], r"\[0\]\.type.*unknown constraint type 3"),
    }
    for name, (doc, pattern) in cases.items():
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        with pytest.raises(InputError, match=pattern) as info:
            from_records(read_constraints_json(path), smplx)
        assert str(path) in str(info.value)
    (tmp_path / "broken.json").write_text('[{"type": "root2d", "frame_indices": [0],')
    with pytest.raises(InputError, match=r"broken\.json:1: malformed JSON"):
        read_constraints_json(tmp_path / "broken.json")


def test_conflicting_targets_on_one_frame(motion, smplx, feats):
    a = Root2DConstraintSet([2, 5, 8], [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]])
    b = Root2DConstraintSet([5, 9], [[0.5, 1.2], [3.0, 3.0]])
    with pytest.raises(ConstraintConflictError, match=r"constraints\[1\] \(root2d\) and constraints\[0\] \(root2d\) pin smooth_root_pos of frame 5"):
        constraint_features([a, b], feats, 20)
    # the same value twice (as KIMODO's files store) agrees
    same = Root2DConstraintSet([5, 9], [[0.5, 1.0], [3.0, 3.0]])
    _, mask = constraint_features([a, same], feats, 20)
    np.testing.assert_array_equal(mask, root2d_mask(feats, 20, [2, 5, 8, 9]))

    rot, root = motion.local_rotations, motion.root_translation
    fb = FullBodyConstraintSet(smplx, [4, 12], rot[[4, 12]], root[[4, 12]])
    # an end effector on frame 12 storing another pose (frame 30's): its hand differs from the full body's
    ee = EndEffectorConstraintSet(smplx, [12], rot[[30]], root[[12]], joint_names=("RightHand",))
    with pytest.raises(ConstraintConflictError, match=r"constraints\[1\] \(right-hand\) and constraints\[0\] \(fullbody\) pin .* of frame 12"):
        constraint_features([fb, ee], feats, 20)
    # the same pose as an end effector agrees; the post-processing targets too
    ok = EndEffectorConstraintSet(smplx, [12], rot[[12]], root[[12]], joint_names=("RightHand",))
    constraint_features([fb, ok], feats, 20)
    pose_targets([fb, ok], 20, smplx)
    # two effectors whose poses agree on their chains but differ elsewhere: features agree, but the
    # post-processor takes one whole pose per frame and refuses two
    other = rot[[12]].copy()
    other[0, smplx.index("head")] = axis_angle_to_matrix(np.array([0.0, 0.8, 0.0]))
    left = EndEffectorConstraintSet(smplx, [12], other, root[[12]], joint_names=("LeftFoot",))
    constraint_features([ok, left], feats, 20)
    with pytest.raises(ConstraintConflictError, match=r"constraints\[1\] \(left-foot\) and constraints\[0\] \(right-hand\) store different poses for frame 12"):
        pose_targets([ok, left], 20, smplx)


# --------------------------------------------------------------------------------------------------
# timeline helpers
def test_crop_shift_translate(motion, smplx, feats):
    rot, root = motion.local_rotations, motion.root_translation
    fb = FullBodyConstraintSet(smplx, [2, 10, 20], rot[[2, 10, 20]], root[[2, 10, 20]])
    # a dense path with headings that agrees with the full-body keys where they meet
    xz = np.stack([np.linspace(0, 1, 30), np.linspace(0, 3, 30)], -1)
    angle = np.linspace(0.0, 1.0, 30)
    xz[[2, 10, 20]] = fb.smooth_root_2d
    angle[[2, 10, 20]] = root_heading(fb.posed_joints, smplx)
    path = Root2DConstraintSet(np.arange(30), xz, np.stack([np.cos(angle), np.sin(angle)], -1))
    ee = EndEffectorConstraintSet(smplx, [25], rot[[25]], root[[25]], joint_names=("LeftFoot",))

    cropped = crop_constraints([fb, path, ee], 5, 15)
    assert [c.type for c in cropped] == ["fullbody", "root2d"]  # the effector at 25 is dropped
    assert cropped[0].frame_indices.tolist() == [5]
    np.testing.assert_array_equal(cropped[0].local_rot_mats[0], rot[10])
    np.testing.assert_array_equal(cropped[0].root_positions[0], root[10])
    assert cropped[1].frame_indices.tolist() == list(range(10))
    np.testing.assert_array_equal(cropped[1].smooth_root_2d, path.smooth_root_2d[5:15])
    np.testing.assert_array_equal(cropped[1].global_root_heading, path.global_root_heading[5:15])
    assert crop_constraints([fb], 21, 40) == []
    # the cropped sets' features are the original's rows [5, 15)
    obs_full, mask_full = constraint_features([fb, path], feats, 30)
    obs_crop, mask_crop = constraint_features(cropped, feats, 10)
    np.testing.assert_array_equal(mask_crop, mask_full[5:15])
    np.testing.assert_allclose(obs_crop, obs_full[5:15], atol=1e-12)

    shifted = shift_constraints([fb, ee], 7)
    assert shifted[0].frame_indices.tolist() == [9, 17, 27] and shifted[1].frame_indices.tolist() == [32]
    np.testing.assert_array_equal(shifted[0].local_rot_mats, fb.local_rot_mats)
    obs_shift, _ = constraint_features(shifted[:1], feats, 40)
    np.testing.assert_allclose(obs_shift[[9, 17, 27]], obs_full[[2, 10, 20]], atol=1e-12)
    assert shift_constraints([fb], -2)[0].frame_indices.tolist() == [0, 8, 18]
    with pytest.raises(InputError, match="negative"):
        shift_constraints([fb], -3)

    moved = translate_constraints([fb, path], 1.5, -2.0)
    np.testing.assert_allclose(moved[0].root_positions - fb.root_positions, np.tile([1.5, 0.0, -2.0], (3, 1)))
    np.testing.assert_allclose(moved[0].posed_joints - fb.posed_joints, np.broadcast_to([1.5, 0.0, -2.0], fb.posed_joints.shape), atol=1e-12)
    np.testing.assert_allclose(moved[1].smooth_root_2d - path.smooth_root_2d, np.tile([1.5, -2.0], (30, 1)))
    # moving the floor position leaves everything relative to the smooth root unchanged
    obs_moved, _ = constraint_features(moved, feats, 30)
    body = slice(3, feats.dim)
    np.testing.assert_allclose(obs_moved[:, body], obs_full[:, body], atol=1e-12)
    np.testing.assert_allclose(obs_moved[[2, 10, 20]][:, [0, 2]] - obs_full[[2, 10, 20]][:, [0, 2]], np.tile([1.5, -2.0], (3, 1)), atol=1e-12)
    assert fb.frame_indices.tolist() == [2, 10, 20]  # the originals are unchanged


def test_end_effector_chains_on_smplx(feats):
    assert end_effector_joints(feats, "LeftFoot") == (feats.skeleton.index("left_ankle"), feats.skeleton.index("left_foot"))
    assert end_effector_joints(feats, "RightHand") == (feats.skeleton.index("right_wrist"),)
    assert end_effector_joints(feats, "Hips") == (0,)


def test_rotation_6d_helper_is_what_features_use(motion, feats):
    # guards the value test above: the encoder writes matrix_to_rotation_6d of the global rotations
    glob, _ = motion.forward_kinematics()
    encoded = feats.encode(motion)
    six = matrix_to_rotation_6d(glob[5]).reshape(-1)
    np.testing.assert_allclose(encoded[5, feats.global_rot_data], six, atol=1e-6)
