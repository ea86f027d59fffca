"""Unitree G1: the MuJoCo qpos CSV (reference kimodo.md 5.2) and human -> G1 retargeting by IK.

MuJoCo itself is the client: it loads ``g1.xml`` from the kimodo-assets archive (meshes from the
g1-meshes archive, copied beside it in a temporary folder), takes our CSV rows as ``qpos`` and must
agree with our forward kinematics, joint ranges and feet. Real motion: a Bandai walk (BVH), the
KIMODO SOMA demo clips (a run-and-leap, a two-handed pick-and-place), CMU and HDM05 clips.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from motiongen.errors import InputError, UnknownNameError
from motiongen.io.asf_amc import read_amc, read_asf
from motiongen.io.bvh import read_bvh
from motiongen.io.kimodo_npz import read_kimodo_npz
from motiongen.io.mujoco_csv import (
    QPOS_COLUMNS,
    g1_clamp_to_limits,
    g1_hinge_angles,
    g1_hinge_table,
    g1_motion_from_qpos,
    g1_qpos,
    read_mujoco_csv,
    write_mujoco_csv,
)
from motiongen.motion.kimodo_features import root_heading
from motiongen.motion.motion import Motion
from motiongen.retarget.g1 import (
    G1_LANDMARKS,
    REQUIRED_LANDMARKS,
    g1_sole_heights,
    g1_targets,
    landmark_frame,
    place_g1_on_floor,
    retarget_to_g1,
    solve_g1_ik,
)
from motiongen.retarget.human import CANONICAL_MAPS, identify_rig
from motiongen.retarget.registered import retarget_to
from motiongen.skeleton.kimodo_assets import MUJOCO_TO_KIMODO
from motiongen.skeleton.registry import calibration_pose, get_skeleton
from motiongen.skeleton.skeleton import Skeleton

pytestmark = pytest.mark.data

BANDAI = "dataset/Bandai-Namco-Research-Motiondataset-2/data"
SOMA = "kimodo-assets/examples/kimodo-soma-rp"
END_EFFECTORS = ("left_wrist_yaw_skel", "right_wrist_yaw_skel", "left_ankle_roll_skel", "right_ankle_roll_skel")
#: Mean distance of the G1's wrists and ankles from their targets. Measured 0.3-0.7 cm on the clips
#: tested here (1.3 cm on a fast Bandai run, whose swings the smoothness term lags): what remains comes
#: from the G1's own geometry (its knee sits 5 cm behind the hip-ankle line, its wrist_yaw joint 4.6 cm
#: past the wrist pitch), the joint ranges and the smoothness term. 1.5 cm leaves room for clip
#: variety; the starting pose (target pelvis pose, MuJoCo zero angles) is 17-21 cm off.
EE_MEAN_BOUND = 0.015


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def g1(data_dir: Path, cache_dir: Path) -> Skeleton:
    return get_skeleton("g1", data_dir, cache_dir)


@pytest.fixture(scope="module")
def bandai_walk(raw) -> Motion:
    return read_bvh(raw("bandai") / BANDAI / "dataset-2_walk_normal_001.bvh").resample(30.0)


@pytest.fixture(scope="module")
def soma_leap(raw) -> Motion:
    """KIMODO demo: 'A person runs forward and then leaps over an obstacle in front of them.'"""
    return read_kimodo_npz(raw("kimodo") / SOMA / "01_single_text_prompt" / "motion.npz")


@pytest.fixture(scope="module")
def soma_pick(raw) -> Motion:
    """KIMODO demo: two-handed pick-up and place to the left side (arm-heavy)."""
    return read_kimodo_npz(raw("kimodo") / SOMA / "04_ee_constraint" / "motion.npz")


def _calibration(motion: Motion, data_dir: Path, cache_dir: Path) -> np.ndarray | None:
    rig = identify_rig(motion.skeleton)
    return calibration_pose(rig, data_dir, cache_dir) if rig else None


@pytest.fixture(scope="module")
def retargeted(
    g1: Skeleton, bandai_walk: Motion, soma_leap: Motion, soma_pick: Motion, data_dir: Path, cache_dir: Path
) -> dict[str, tuple[Motion, Motion]]:
    """name -> (source, G1 result) for the three real clips."""
    out = {}
    for name, clip in (("walk", bandai_walk), ("leap", soma_leap), ("pick", soma_pick)):
        out[name] = (clip, retarget_to_g1(clip, g1, calibration=_calibration(clip, data_dir, cache_dir)))
    return out


@pytest.fixture(scope="module")
def mujoco_model(raw: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """``g1.xml`` loaded by MuJoCo, with the meshes copied where its ``meshdir`` points (a temp folder)."""
    mujoco = pytest.importorskip("mujoco")
    root = tmp_path_factory.mktemp("g1_mujoco") / "g1skel34"
    shutil.copytree(raw("kimodo") / "kimodo-assets" / "skeletons" / "g1skel34" / "xml", root / "xml")
    shutil.copytree(raw("g1_meshes") / "g1-meshes" / "g1", root / "meshes" / "g1")
    model = mujoco.MjModel.from_xml_path(str(root / "xml" / "g1.xml"))
    return mujoco, model


def _random_qpos(g1: Skeleton, frames: int, seed: int) -> np.ndarray:
    """qpos rows with every hinge inside its range and a unit root quaternion with w >= 0."""
    rng = np.random.default_rng(seed)
    ranges = g1_hinge_table(g1).ranges
    quaternion = rng.normal(size=(frames, 4))
    quaternion /= np.linalg.norm(quaternion, axis=-1, keepdims=True)
    quaternion *= np.sign(quaternion[:, :1])
    position = rng.normal(size=(frames, 3)) + [0.0, 0.0, 0.78]
    return np.concatenate([position, quaternion, rng.uniform(ranges[:, 0], ranges[:, 1], (frames, 29))], axis=-1)


# --------------------------------------------------------------------------------------------------
# CSV


def test_csv_round_trip_is_exact(g1: Skeleton, tmp_path: Path) -> None:
    qpos = _random_qpos(g1, 40, seed=0)
    motion = g1_motion_from_qpos(qpos, g1, fps=30.0)
    np.testing.assert_allclose(g1_qpos(motion), qpos, atol=1e-12)
    path = write_mujoco_csv(motion, tmp_path / "clip.csv")
    lines = path.read_text().splitlines()
    assert len(lines) == 40
    # np.savetxt layout: no header, 36 comma-separated %.18e numbers per row
    cell = re.compile(r"^-?\d\.\d{18}e[+-]\d{2,3}$")
    assert all(len(line.split(",")) == QPOS_COLUMNS and all(cell.match(c) for c in line.split(",")) for line in lines)
    np.testing.assert_allclose(np.loadtxt(path, delimiter=","), qpos, atol=1e-9)
    back = read_mujoco_csv(path, g1)
    np.testing.assert_allclose(g1_qpos(back), qpos, atol=1e-9)
    np.testing.assert_allclose(back.local_rotations, motion.local_rotations, atol=1e-9)
    np.testing.assert_allclose(back.joint_positions(), motion.joint_positions(), atol=1e-9)
    assert back.skeleton == g1 and back.fps == 30.0


def test_csv_axes_are_mujoco_z_up_x_forward(g1: Skeleton, tmp_path: Path) -> None:
    """A pelvis 0.78 m up and 1 m forward (our +Y, +Z) turned 90 degrees left (about our +Y) is
    position (1, 0, 0.78) and quaternion (cos 45, 0, 0, sin 45) about MuJoCo's +Z."""
    local = np.broadcast_to(np.eye(3), (1, g1.num_joints, 3, 3)).copy()
    local[0, 0] = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]  # +Z forward -> +X (left)
    hinges = g1_hinge_table(g1)
    local[0, hinges.joints] = hinges.rotations(np.zeros(29))
    motion = Motion(local_rotations=local, root_translation=[[0.0, 0.78, 1.0]], fps=30.0, skeleton=g1)
    row = np.loadtxt(write_mujoco_csv(motion, tmp_path / "pose.csv"), delimiter=",")
    np.testing.assert_allclose(row[:3], [1.0, 0.0, 0.78], atol=1e-12)
    np.testing.assert_allclose(row[3:7], [np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)], atol=1e-12)
    np.testing.assert_allclose(row[7:], 0.0, atol=1e-12)


def test_identity_rotations_give_reference_angles(g1: Skeleton) -> None:
    """Reference 5.2 fixture: identity local rotations -> 0 except knees -0.1749, shoulder roll
    +-0.2793 and shoulder pitch -0.0001 (printed to 4 decimals), by either extraction."""
    motion = Motion(np.broadcast_to(np.eye(3), (2, g1.num_joints, 3, 3)), np.zeros((2, 3)), 30.0, g1)
    names = g1_hinge_table(g1).names
    expected = dict.fromkeys(names, 0.0)
    expected |= {"left_knee_skel": -0.1749, "right_knee_skel": -0.1749}
    expected |= {"left_shoulder_roll_skel": 0.2793, "right_shoulder_roll_skel": -0.2793}
    expected |= {"left_shoulder_pitch_skel": -0.0001, "right_shoulder_pitch_skel": -0.0001}
    for method in ("nearest", "kimodo"):
        angles = g1_hinge_angles(motion, method=method)
        np.testing.assert_allclose(angles[0], angles[1])
        np.testing.assert_allclose(angles[0], [expected[n] for n in names], atol=1e-4, err_msg=method)


def test_kimodo_projection_is_exact_only_on_untilted_axes(g1: Skeleton) -> None:
    """KIMODO's projection dots the Euler angles with the axis rotated by ``rest^T``: exact for hinges
    without a rest rotation, ``q cos 10deg`` for a pure hip roll; the default extraction is exact."""
    hinges = g1_hinge_table(g1)
    q = np.zeros((1, 29))
    q[0, hinges.names.index("left_hip_roll_skel")] = 0.4
    q[0, hinges.names.index("left_elbow_skel")] = 0.9
    motion = g1_motion_from_qpos(np.concatenate([[[0, 0, 0.78, 1, 0, 0, 0]], q], axis=1), g1)
    np.testing.assert_allclose(g1_hinge_angles(motion), q, atol=1e-12)
    kimodo = g1_hinge_angles(motion, method="kimodo")[0]
    assert kimodo[hinges.names.index("left_elbow_skel")] == pytest.approx(0.9, abs=1e-12)
    assert kimodo[hinges.names.index("left_hip_roll_skel")] == pytest.approx(0.4 * np.cos(np.deg2rad(10.0)), abs=2e-4)


def test_write_refuses_bad_motion_and_leaves_no_file(g1: Skeleton, tmp_path: Path, data_dir, cache_dir) -> None:
    good = g1_motion_from_qpos(_random_qpos(g1, 10, seed=1), g1)
    path = write_mujoco_csv(good, tmp_path / "clip.csv")
    before = path.read_bytes()

    smplx = get_skeleton("smplx22", data_dir, cache_dir)
    human = Motion(np.broadcast_to(np.eye(3), (3, 22, 3, 3)), np.zeros((3, 3)), 30.0, smplx)
    with pytest.raises(InputError, match="smplx22.*not the Unitree G1"):
        write_mujoco_csv(human, tmp_path / "human.csv")

    nan = replace(good, local_rotations=good.local_rotations.copy())
    nan.local_rotations[4, 9, 0, 0] = np.nan  # set after construction: the writer checks again
    with pytest.raises(InputError, match="NaN.*frame 4"):
        write_mujoco_csv(nan, tmp_path / "nan.csv")

    qpos = _random_qpos(g1, 10, seed=1)
    knee = 7 + g1_hinge_table(g1).names.index("left_knee_skel")
    qpos[7, knee] = 3.0  # the knee bends to 2.8798 at most
    with pytest.raises(InputError, match=r"left_knee_skel.*3\.0+ rad at frame 7.*\[-0\.087267, 2\.8798\]") as err:
        write_mujoco_csv(g1_motion_from_qpos(qpos, g1), path)
    assert err.value.field == "left_knee_skel"
    # nothing written: the failed overwrite kept the old file and left no temporary file behind
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.csv"]


def test_clamp_to_limits_makes_a_writable_motion(g1: Skeleton, tmp_path: Path) -> None:
    qpos = _random_qpos(g1, 5, seed=3)
    hinges = g1_hinge_table(g1)
    knee, elbow = (7 + hinges.names.index(n) for n in ("right_knee_skel", "left_elbow_skel"))
    qpos[2, knee], qpos[4, elbow] = 3.0, -1.5  # past 2.8798 and below -1.0472
    motion = g1_motion_from_qpos(qpos, g1)
    with pytest.raises(InputError, match="right_knee_skel"):
        write_mujoco_csv(motion, tmp_path / "raw.csv")
    clamped = g1_clamp_to_limits(motion)
    expected = qpos.copy()
    expected[2, knee], expected[4, elbow] = 2.8798, -1.0472
    np.testing.assert_allclose(np.loadtxt(write_mujoco_csv(clamped, tmp_path / "ok.csv"), delimiter=","), expected, atol=1e-9)
    np.testing.assert_allclose(clamped.root_translation, motion.root_translation)


def test_read_checks_columns_and_values(g1: Skeleton, tmp_path: Path) -> None:
    rows = _random_qpos(g1, 3, seed=2)
    lines = [",".join(f"{v:.18e}" for v in row) for row in rows]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines[:2] + [",".join(lines[2].split(",")[:35])]) + "\n")
    with pytest.raises(InputError, match=r"bad\.csv:3.*35 columns.*36"):
        read_mujoco_csv(bad, g1)
    bad.write_text(lines[0] + "\n" + lines[1].replace(lines[1].split(",")[9], "abc", 1) + "\n")
    with pytest.raises(InputError, match=r"bad\.csv:2.*not a number"):
        read_mujoco_csv(bad, g1)
    bad.write_text(",".join(["0"] * 36) + "\n")
    with pytest.raises(InputError, match="quaternion.*zero"):
        read_mujoco_csv(bad, g1)
    bad.write_text("\n")
    with pytest.raises(InputError, match="no rows"):
        read_mujoco_csv(bad, g1)
    with pytest.raises(InputError, match="not found"):
        read_mujoco_csv(tmp_path / "missing.csv", g1)
    with pytest.raises(InputError, match=r"\[T >= 1, 36\]"):
        g1_motion_from_qpos(np.zeros((4, 35)), g1)


# --------------------------------------------------------------------------------------------------
# MuJoCo as the client


def _lowest_capsule_points(mujoco: Any, model: Any, data: Any) -> np.ndarray:
    """Lowest z of every foot collision capsule, in closed form: a capsule's lowest point is the
    bottom of the sphere at its lower end (``geom_xpos +- half-length * axis``, minus the radius).
    Exact, and unlike contacts or ``mj_geomDistance`` needs no collision margin or floor geom."""
    ids = [i for i in range(model.ngeom) if re.fullmatch(r"(left|right)_foot\d_collision", model.geom(i).name)]
    assert len(ids) == 14 and all(model.geom_type[i] == mujoco.mjtGeom.mjGEOM_CAPSULE for i in ids)
    axis_z = data.geom_xmat[ids].reshape(-1, 3, 3)[:, 2, 2]  # z component of each capsule's axis
    half, radius = model.geom_size[ids, 1], model.geom_size[ids, 0]
    return data.geom_xpos[ids, 2] - half * np.abs(axis_z) - radius


@pytest.mark.parametrize("name", ["walk", "leap"])
def test_mujoco_loads_our_csv(name: str, retargeted, mujoco_model, g1: Skeleton, tmp_path: Path) -> None:
    mujoco, model = mujoco_model
    _, motion = retargeted[name]
    path = write_mujoco_csv(motion, tmp_path / f"{name}.csv")
    rows = np.loadtxt(path, delimiter=",")  # as a MuJoCo user reads it
    assert rows.shape == (motion.num_frames, model.nq) == (motion.num_frames, 36)

    hinges = g1_hinge_table(g1)
    joint_ids = [model.joint(n).id for n in hinges.mujoco_names]
    assert [model.jnt_qposadr[j] for j in joint_ids] == list(range(7, 36))  # CSV order = qpos order
    assert all(model.jnt_limited[j] for j in joint_ids)
    lo, hi = model.jnt_range[joint_ids].T
    assert ((rows[:, 7:] >= lo) & (rows[:, 7:] <= hi)).all()

    # bodies whose joints our skeleton names: the pelvis (freejoint) and the 29 hinge bodies
    names = ["pelvis_skel", *hinges.names]
    bodies = [model.body("pelvis").id] + [model.jnt_bodyid[j] for j in joint_ids]
    ours = motion.joint_positions()[:, g1.indices(names)] @ MUJOCO_TO_KIMODO  # p_mj = M^T p, as rows
    data = mujoco.MjData(model)
    worst_body, lowest = 0.0, np.inf
    for t, row in enumerate(rows):
        data.qpos[:] = row
        mujoco.mj_forward(model, data)
        worst_body = max(worst_body, float(np.abs(data.xpos[bodies] - ours[t]).max()))
        lowest = min(lowest, float(_lowest_capsule_points(mujoco, model, data).min()))
    assert worst_body < 1e-3, worst_body  # measured ~1e-15: the CSV convention is MuJoCo's
    assert lowest > -0.02, lowest
    # our sole model (g1.xml's capsules on ankle_roll) agrees with MuJoCo's geoms
    data.qpos[:] = rows[-1]
    mujoco.mj_forward(model, data)
    capsules = _lowest_capsule_points(mujoco, model, data)
    np.testing.assert_allclose(g1_sole_heights(motion)[-1], [capsules[:7].min(), capsules[7:].min()], atol=1e-9)


# --------------------------------------------------------------------------------------------------
# Retargeting quality


def _travel(path: np.ndarray) -> float:
    """Horizontal distance from the first to the last point of ``path [T, 3]``."""
    return float(np.linalg.norm(path[-1, [0, 2]] - path[0, [0, 2]]))


def _largest_jump(result: Any) -> float:
    """Largest second difference of the hinge angles of an IK result (radians per frame squared)."""
    return float(np.abs(np.diff(result.angles, 2, axis=0)).max())


def _stance_speeds(source: Motion, out: Motion) -> np.ndarray:
    """Mean speed (m/s) of each G1 ankle (left, right) over the frames where the scaled source ankle
    moves slower than 0.1 m/s (its stance)."""
    scale, names = out.meta["retarget"]["scale"], CANONICAL_MAPS[identify_rig(source.skeleton)]
    src, g1_pos = source.joint_positions() * scale, out.joint_positions()
    speeds = []
    for side in ("left", "right"):
        human = np.linalg.norm(np.diff(src[:, source.skeleton.index(names[f"{side}_ankle"])], axis=0), axis=-1) * source.fps
        robot = np.linalg.norm(np.diff(g1_pos[:, out.skeleton.index(f"{side}_ankle_roll_skel")], axis=0), axis=-1) * out.fps
        assert (human < 0.1).mean() > 0.25  # a walk: each foot stands a third of the time
        speeds.append(robot[human < 0.1].mean())
    return np.array(speeds)


def _planar_heading(forward: np.ndarray) -> np.ndarray:
    return np.arctan2(forward[..., 0], forward[..., 2])


def _angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (a - b))))


@pytest.mark.parametrize("name", ["walk", "leap", "pick"])
def test_result_respects_limits_floor_and_meta(name: str, retargeted, g1: Skeleton) -> None:
    source, out = retargeted[name]
    assert out.skeleton == g1 and out.num_frames == source.num_frames and out.fps == source.fps
    ranges = g1_hinge_table(g1).ranges
    angles = g1_hinge_angles(out)
    assert ((angles >= ranges[:, 0] - 1e-9) & (angles <= ranges[:, 1] + 1e-9)).all()
    # pure hinge rotations: the extraction is exact, so the CSV reproduces the motion
    np.testing.assert_allclose(g1_motion_from_qpos(g1_qpos(out), g1).joint_positions(), out.joint_positions(), atol=1e-9)
    soles = g1_sole_heights(out).min(-1)
    assert soles.min() >= -0.01 - 1e-9
    assert abs(np.percentile(soles, 5)) < 0.011  # the floor sits at the 5th percentile (then lifts)
    info = out.meta["retarget"]
    assert info["method"] == "ik" and info["source"] == identify_rig(source.skeleton)
    assert 0.6 < info["scale"] < 0.9 and info["iterations"] >= 1
    assert 0 < info["position_error_m"] < 0.03
    assert 0.7 < out.root_translation[:, 1].max() and np.median(out.root_translation[:, 1]) < 0.85


@pytest.mark.parametrize("name", ["walk", "leap", "pick"])
def test_end_effectors_follow_scaled_targets(name: str, retargeted, g1: Skeleton, data_dir, cache_dir) -> None:
    source, out = retargeted[name]
    targets = g1_targets(source, g1, calibration=_calibration(source, data_dir, cache_dir))
    solved = solve_g1_ik(targets, g1, fps=source.fps)
    ee = [targets.joints.index(j) for j in END_EFFECTORS]
    error = solved.position_error[:, ee]
    assert error.mean() < EE_MEAN_BOUND, error.mean(0)
    assert np.percentile(error, 95) < 0.04
    # the floor step moves the solved motion only vertically, by the same amount for every joint
    diff = out.joint_positions() - solved.motion.joint_positions()
    np.testing.assert_allclose(diff[..., [0, 2]], 0.0, atol=1e-9)
    np.testing.assert_allclose(diff[..., 1], diff[:, :1, 1].repeat(g1.num_joints, 1), atol=1e-9)
    # the targets are the human's, scaled: the ankles travel as far as the scaled human ankles
    src_ankle = source.joint_positions()[:, source.skeleton.index(CANONICAL_MAPS[targets.source]["left_ankle"])]
    tgt_ankle = targets.position("left_ankle_roll_skel")
    assert _travel(tgt_ankle) == pytest.approx(targets.scale * _travel(src_ankle), abs=0.05)


@pytest.mark.parametrize("name", ["walk", "leap"])
def test_robot_travels_and_turns_with_the_human(name: str, retargeted, g1: Skeleton) -> None:
    source, out = retargeted[name]
    scale = out.meta["retarget"]["scale"]
    src_pos, g1_pos = source.joint_positions(), out.joint_positions()
    src_root = src_pos[:, source.skeleton.index(CANONICAL_MAPS[identify_rig(source.skeleton)]["pelvis"])]
    human_travel = src_root[-1, [0, 2]] - src_root[0, [0, 2]]
    robot_travel = g1_pos[-1, 0, [0, 2]] - g1_pos[0, 0, [0, 2]]
    assert np.linalg.norm(human_travel) > 1.0  # both clips move forward several metres
    assert np.linalg.norm(robot_travel) == pytest.approx(scale * np.linalg.norm(human_travel), rel=0.05)
    cosine = robot_travel @ human_travel / (np.linalg.norm(robot_travel) * np.linalg.norm(human_travel))
    assert cosine > np.cos(np.deg2rad(3.0))
    # it walks forward: travel along the direction it faces
    facing = root_heading(g1_pos, g1)
    forward = np.stack([np.sin(facing), np.cos(facing)], -1)
    step = np.diff(g1_pos[:, 0, [0, 2]], axis=0)
    assert (step * forward[:-1]).sum() > 0.8 * np.linalg.norm(robot_travel)

    # pelvis heading (from the hips) and torso heading (shoulder line vs the G1 torso's forward axis)
    rig = source.skeleton
    names = CANONICAL_MAPS[identify_rig(rig)]
    human_pelvis = root_heading(src_pos, replace(rig, joint_sets={**rig.joint_sets, "hips": (names["right_hip"], names["left_hip"])}))
    assert np.median(_angle_difference(human_pelvis, facing)) < np.deg2rad(8)
    shoulders = src_pos[:, rig.index(names["left_shoulder"])] - src_pos[:, rig.index(names["right_shoulder"])]
    human_torso = _planar_heading(landmark_frame(shoulders, np.array([0.0, 1.0, 0.0]))[..., 2])
    torso = out.global_rotations()[:, g1.index("waist_pitch_skel")]
    difference = _angle_difference(human_torso, _planar_heading(torso[..., 2]))
    assert np.median(difference) < np.deg2rad(5) and difference.max() < np.deg2rad(20)


def test_planted_feet_stay_planted(retargeted) -> None:
    """Where the human's ankle stands still the G1's does too: measured 3-4 cm/s (the scaled human's
    own ankle 2 cm/s; 5-7 cm/s before the ankles outweighed the pelvis), against ~1 m/s in swing."""
    source, out = retargeted["walk"]
    assert (_stance_speeds(source, out) < 0.05).all()


def test_turning_walk_turns_the_robot(raw, g1: Skeleton, data_dir, cache_dir) -> None:
    clip = read_bvh(raw("bandai") / BANDAI / "dataset-2_walk-turn-left_normal_001.bvh").resample(30.0)
    out = retarget_to_g1(clip, g1, calibration=_calibration(clip, data_dir, cache_dir))
    names = CANONICAL_MAPS["bandai22"]
    src = clip.joint_positions()
    d = src[:, clip.skeleton.index(names["right_hip"])] - src[:, clip.skeleton.index(names["left_hip"])]
    human = np.unwrap(np.arctan2(d[:, 2], -d[:, 0]))
    robot = np.unwrap(root_heading(out.joint_positions(), g1))
    assert human[-1] - human[0] > np.deg2rad(60)  # the human turns left by a large angle
    assert (robot[-1] - robot[0]) == pytest.approx(human[-1] - human[0], abs=np.deg2rad(10))
    assert (_stance_speeds(clip, out) < 0.08).all()  # measured 5.5-6 cm/s while turning


def test_smoothness_term_removes_jitter(retargeted, g1: Skeleton, data_dir, cache_dir) -> None:
    """Without the term, hinges the targets leave loose (ankle pitch near a straight knee) jump
    between frames; with it their second differences drop several-fold at a small cost in fit."""
    source, _ = retargeted["walk"]
    targets = g1_targets(source, g1, calibration=_calibration(source, data_dir, cache_dir))
    loose = solve_g1_ik(targets, g1, smoothness=0.0)
    smooth = solve_g1_ik(targets, g1)
    assert _largest_jump(smooth) < 0.5 * _largest_jump(loose)
    assert smooth.position_error.mean() < loose.position_error.mean() + 0.005


# --------------------------------------------------------------------------------------------------
# Other rigs and custom maps


def _other_rigs(raw, data_dir, cache_dir) -> dict[str, Motion]:
    soma_npz = raw("kimodo") / SOMA / "04_ee_constraint" / "motion.npz"
    cmu = raw("cmu") / "cmu" / "Rotations"
    hdm = raw("hdm05") / "hdm05" / "train" / "1"
    clips = {
        "soma77": read_kimodo_npz(soma_npz, get_skeleton("soma77", data_dir, cache_dir)),
        "smplx22": retarget_to(read_kimodo_npz(soma_npz), "smplx22", data_dir=data_dir, cache_dir=cache_dir),
        "cmu31": read_amc(cmu / "Training" / "13_11 - forward jump.amc", read_asf(cmu / "asf" / "13.asf")),
        "hdm05": read_amc(hdm / "HDM_bd_depositFloorR_001_120.amc", read_asf(hdm / "HDM_bd.asf")),
    }
    return {name: clip.resample(30.0)[:90] for name, clip in clips.items()}


def test_every_registered_human_rig_retargets(raw, g1: Skeleton, data_dir, cache_dir) -> None:
    for name, clip in _other_rigs(raw, data_dir, cache_dir).items():
        assert identify_rig(clip.skeleton) is not None, name
        out = retarget_to(clip, "g1", data_dir=data_dir, cache_dir=cache_dir)  # the registered entry point
        assert out.skeleton == g1 and out.num_frames == clip.num_frames, name
        ranges = g1_hinge_table(g1).ranges
        angles = g1_hinge_angles(out)
        assert ((angles >= ranges[:, 0] - 1e-9) & (angles <= ranges[:, 1] + 1e-9)).all(), name
        assert g1_sole_heights(out).min() >= -0.01 - 1e-9, name
        targets = g1_targets(clip, g1, calibration=_calibration(clip, data_dir, cache_dir))
        error = solve_g1_ik(targets, g1).position_error[:, [targets.joints.index(j) for j in END_EFFECTORS]]
        assert error.mean() < EE_MEAN_BOUND, (name, error.mean(0))


def test_custom_rig_with_joint_map(bandai_walk: Motion, g1: Skeleton, data_dir, cache_dir) -> None:
    clip = bandai_walk[:60]
    renamed = tuple(f"j{k}_{n}" for k, n in enumerate(clip.skeleton.joint_names))
    rig = Skeleton(name="my_mocap", joint_names=renamed, parents=clip.skeleton.parents, offsets=clip.skeleton.offsets)
    custom = Motion(clip.local_rotations, clip.root_translation, clip.fps, rig, joint_translations=clip.joint_translations)
    assert identify_rig(rig) is None
    with pytest.raises(UnknownNameError, match="my_mocap.*joint_map"):
        retarget_to_g1(custom, g1)
    canonical = CANONICAL_MAPS["bandai22"]
    joint_map = {c: renamed[clip.skeleton.index(j)] for c, j in canonical.items()}
    # G1 landmark joints work as keys too
    joint_map[G1_LANDMARKS["left_wrist"]] = joint_map.pop("left_wrist")
    calibration = _calibration(clip, data_dir, cache_dir)
    ours = retarget_to_g1(custom, g1, joint_map=joint_map, calibration=calibration)
    registered = retarget_to_g1(clip, g1, calibration=calibration)
    np.testing.assert_allclose(ours.joint_positions(), registered.joint_positions(), atol=1e-9)
    assert ours.meta["retarget"]["source"] == "my_mocap"
    del joint_map[G1_LANDMARKS["left_wrist"]]
    with pytest.raises(InputError, match="lacks left_wrist") as err:
        retarget_to_g1(custom, g1, joint_map=joint_map)
    assert err.value.field == "joint_map"
    assert set(REQUIRED_LANDMARKS) <= set(canonical)


def test_refuses_g1_source_and_grounding_is_stable(retargeted, g1: Skeleton) -> None:
    _, out = retargeted["walk"]
    with pytest.raises(InputError, match="already on the G1"):
        retarget_to_g1(out, g1)
    # grounding a grounded motion moves it by no more than the first pass's lifts moved the 5th
    # percentile of the soles (sub-millimetre), and keeps every sole above -1 cm
    again, shift, lift = place_g1_on_floor(out)
    assert abs(shift) < 1e-3 and lift < 1e-3
    assert g1_sole_heights(again).min() >= -0.01 - 1e-9
    np.testing.assert_allclose(again.root_translation[:, [0, 2]], out.root_translation[:, [0, 2]])


def test_windowed_solve_matches_joint_solve(retargeted, g1: Skeleton, data_dir, cache_dir) -> None:
    """Long clips are solved in windows, each starting where the previous one ended: the result
    matches the one-window solve and has no jump at the seams."""
    source, _ = retargeted["walk"]
    targets = g1_targets(source, g1, calibration=_calibration(source, data_dir, cache_dir))
    whole = solve_g1_ik(targets, g1)
    windows = solve_g1_ik(targets, g1, window=100)
    a, b = whole.motion.joint_positions(), windows.motion.joint_positions()
    assert np.linalg.norm(a - b, axis=-1).max() < 0.002  # measured 0.2 mm
    seams = [100, 200]
    accel = np.abs(np.diff(windows.angles, 2, axis=0)).max(-1)  # [T - 2]; index i is frame i + 1
    near = np.concatenate([accel[s - 3 : s + 2] for s in seams])
    assert near.max() <= 1.1 * np.abs(np.diff(whole.angles, 2, axis=0)).max()
    with pytest.raises(InputError, match="window"):
        solve_g1_ik(targets, g1, window=2)


def test_short_clips(bandai_walk: Motion, g1: Skeleton, data_dir, cache_dir) -> None:
    calibration = _calibration(bandai_walk, data_dir, cache_dir)
    for frames in (1, 2, 3):
        out = retarget_to_g1(bandai_walk[:frames], g1, calibration=calibration)
        assert out.num_frames == frames and g1_sole_heights(out).min() >= -0.01 - 1e-9
        assert out.meta["retarget"]["position_error_m"] < 0.03
