"""LAFAN1-protocol in-betweening (motiongen.metrics.inbetween): known answers on constructed motions
(exact baselines, closed-form L2P / L2Q offsets, sign flips, spectra) and the baseline ordering on
real clips."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from toy_rig import toy_skeleton

from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import (
    axis_angle_to_matrix,
    matrix_to_quaternion,
    quaternion_to_matrix,
)
from motiongen.metrics.inbetween import (
    INTERPOLATION,
    MIN_STD,
    ZERO_VELOCITY,
    InbetweenWindow,
    PositionStats,
    baseline_method,
    canonicalize,
    evaluate_inbetweening,
    extract_windows,
    interpolation,
    l2p,
    l2q,
    npss,
    position_stats,
    remove_quat_discontinuities,
    transition_ground_truth,
    zero_velocity,
)
from motiongen.motion.kimodo_features import root_heading, rotate_motion_yaw
from motiongen.motion.motion import Motion

SKELETON = toy_skeleton()
J = SKELETON.num_joints


def yaw(angles: np.ndarray) -> np.ndarray:
    """``R_y(angle)`` matrices ``[..., 3, 3]``."""
    angles = np.asarray(angles, dtype=np.float64)
    return axis_angle_to_matrix(angles[..., None] * np.array([0.0, 1.0, 0.0]))


def constant_rate_motion(frames: int = 65, heading: float = 0.7, origin: tuple[float, float] = (2.0, -3.0)) -> Motion:
    """Every moving part at constant rate: the root turns 1 deg/frame about Y from ``heading`` and
    travels at constant velocity from ``origin``; the left knee bends 2 deg/frame about x and the
    spine 1.5 deg/frame about a tilted axis (both on top of a fixed offset pose). Local rotations
    about fixed axes at constant rate are exactly what slerp reproduces (slerp is left-invariant)."""
    t = np.arange(frames, dtype=np.float64)
    local = np.broadcast_to(np.eye(3), (frames, J, 3, 3)).copy()
    local[:, 0] = yaw(heading + np.radians(1.0) * t)
    knee, spine = SKELETON.index("left_knee"), SKELETON.index("spine")
    local[:, knee] = axis_angle_to_matrix(np.radians(2.0) * t[:, None] * np.array([1.0, 0.0, 0.0]))
    tilted = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    offset_pose = axis_angle_to_matrix(np.array([0.2, -0.1, 0.3]))
    local[:, spine] = offset_pose @ axis_angle_to_matrix(np.radians(1.5) * t[:, None] * tilted)
    root = np.stack([origin[0] + 0.02 * t, 0.9 + 0.001 * t, origin[1] + 0.03 * t], axis=-1)
    return Motion(
        local_rotations=local, root_translation=root, fps=30.0, skeleton=SKELETON, meta={"clip_id": "constant"}
    )


def static_motion(frames: int = 65) -> Motion:
    """The first frame of :func:`constant_rate_motion` held still (a non-trivial pose and heading)."""
    first = constant_rate_motion(frames)[0:1]
    return Motion(
        local_rotations=np.repeat(first.local_rotations, frames, 0),
        root_translation=np.repeat(first.root_translation, frames, 0),
        fps=30.0,
        skeleton=SKELETON,
        meta={"clip_id": "static"},
    )


UNIT_STATS = PositionStats(mean=np.zeros((J, 3)), std=np.ones((J, 3)))


# --------------------------------------------------------------------------------------------------
# windows
# --------------------------------------------------------------------------------------------------
def test_extract_windows_counts_starts_and_clip_ids() -> None:
    long_clip = replace(constant_rate_motion(150), meta={"clip_id": "long"})
    short_clip = replace(constant_rate_motion(64), meta={"clip_id": "short"})
    exact_clip = replace(constant_rate_motion(65), meta={})
    windows = extract_windows([long_clip, (short_clip, ["a caption"]), exact_clip])
    assert [(w.clip_id, w.start) for w in windows] == [("long", 0), ("long", 40), ("long", 80), ("2", 0)]
    assert all(w.motion.num_frames == 65 for w in windows)
    np.testing.assert_array_equal(windows[2].motion.root_translation, long_clip.root_translation[80:145])
    assert extract_windows([short_clip]) == []


def test_extract_windows_rejects_bad_arguments() -> None:
    with pytest.raises(InputError) as err:
        extract_windows([static_motion()], window=0)
    assert err.value.field == "window"
    with pytest.raises(InputError) as err:
        extract_windows([np.zeros((65, J, 3))])
    assert err.value.field == "motions"


# --------------------------------------------------------------------------------------------------
# canonical frame
# --------------------------------------------------------------------------------------------------
def test_canonicalize_puts_root_at_origin_facing_plus_z_and_keeps_rotations_consistent() -> None:
    clips = [constant_rate_motion(30, heading=h, origin=o) for h, o in [(0.7, (2.0, -3.0)), (-2.5, (-1.0, 4.0))]]
    global_rotations, positions = zip(*(c.forward_kinematics() for c in clips))
    quats = matrix_to_quaternion(np.stack(global_rotations))
    frame = 9
    before = root_heading(np.stack(positions)[:, frame], SKELETON)
    assert np.all(np.abs(before) > 0.5)  # the test would be vacuous for windows already facing +Z
    canon_pos, canon_quat = canonicalize(np.stack(positions), quats, SKELETON, frame)
    np.testing.assert_allclose(canon_pos[:, frame, 0, [0, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(root_heading(canon_pos[:, frame], SKELETON), 0.0, atol=1e-12)
    np.testing.assert_allclose(canon_pos[..., 1], np.stack(positions)[..., 1], atol=1e-12)  # heights kept
    # the same rigid turn went into positions and rotations: FK from the turned rotations agrees
    rotations = quaternion_to_matrix(canon_quat)
    for j, parent in enumerate(SKELETON.parents):
        if parent >= 0:
            expected = canon_pos[:, :, parent] + rotations[:, :, parent] @ SKELETON.offsets[j]
            np.testing.assert_allclose(canon_pos[:, :, j], expected, atol=1e-10)
    with pytest.raises(InputError) as err:
        canonicalize(np.stack(positions), quats, SKELETON, 30)
    assert err.value.field == "frame"


# --------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------
def test_a_method_returning_the_ground_truth_scores_zero() -> None:
    windows = extract_windows([constant_rate_motion(150), static_motion(70)])
    results = evaluate_inbetweening(windows, lambda motions, context, n: motions, UNIT_STATS)
    assert set(results) == {"5", "15", "30", "45"}
    for row in results.values():
        assert row["windows"] == 4
        assert row["l2p"] == pytest.approx(0.0, abs=1e-12)
        assert row["l2q"] == pytest.approx(0.0, abs=1e-12)
        assert row["npss"] == pytest.approx(0.0, abs=1e-12)


def test_sign_flipped_quaternions_are_the_same_rotations() -> None:
    windows = extract_windows([constant_rate_motion(150)])
    _, gt = transition_ground_truth(windows, transition=30)
    rng = np.random.default_rng(0)
    flipped = gt * rng.choice([-1.0, 1.0], size=gt.shape[:3])[..., None]
    assert np.sqrt(((flipped - gt) ** 2).sum(axis=(-2, -1))).mean() > 1.0  # the flips matter to a naive L2
    continuous = remove_quat_discontinuities(flipped)
    assert (np.sum(continuous[:, 1:] * continuous[:, :-1], axis=-1) >= 0).all()
    # continuity leaves one free sign per window and joint: the one the first frame had
    reference = remove_quat_discontinuities(gt)
    same_sign = np.sign(np.sum(continuous * reference, -1))[:, :1, :, None]
    np.testing.assert_allclose(continuous, reference * same_sign, atol=1e-12)
    assert l2q(continuous, gt) == pytest.approx(0.0, abs=1e-12)
    assert l2q(flipped, gt) == pytest.approx(0.0, abs=1e-12)
    assert npss(flipped, gt) == pytest.approx(0.0, abs=1e-12)


def test_l2p_and_l2q_have_closed_form_values_for_rigid_offsets() -> None:
    """A prediction shifted by d metres scores sqrt(J) |d| / std; one turned by an extra yaw a about
    the root scores sqrt(J) 2 sin(a / 4) in L2Q. Both need the ground truth's canonical transform
    applied to the prediction (a transform of its own would cancel the offsets)."""
    windows = extract_windows([constant_rate_motion(150, heading=2.0)])
    shift = np.array([0.3, -0.1, 0.2])
    stats = PositionStats(mean=np.full((J, 3), 5.0), std=np.full((J, 3), 0.5))

    def shifted(motions: list[Motion], context: int, n: int) -> list[Motion]:
        return [replace(m, root_translation=m.root_translation + shift) for m in motions]

    result = evaluate_inbetweening(windows, shifted, stats, transitions=(5, 15))
    for row in result.values():
        assert row["l2p"] == pytest.approx(math.sqrt(J) * np.linalg.norm(shift) / 0.5, rel=1e-10)
        assert row["l2q"] == pytest.approx(0.0, abs=1e-12)

    angle = 0.9

    def turned(motions: list[Motion], context: int, n: int) -> list[Motion]:
        out = []
        for m in motions:
            local = m.local_rotations.copy()
            local[:, 0] = yaw(angle) @ local[:, 0]
            out.append(replace(m, local_rotations=local))
        return out

    result = evaluate_inbetweening(windows, turned, stats, transitions=(15,))
    assert result["15"]["l2q"] == pytest.approx(math.sqrt(J) * 2 * math.sin(angle / 4), rel=1e-10)
    assert result["15"]["l2p"] > 0.1


def test_npss_is_zero_for_identical_spectra_and_grows_with_a_frequency_shift() -> None:
    frames = 64

    def oscillation(cycles: int) -> np.ndarray:
        """One joint swinging about a fixed axis, ``cycles`` periods over the window ``[1, T, 1, 4]``."""
        angle = 0.8 * np.cos(2 * np.pi * cycles * np.arange(frames) / frames)
        axis = np.array([0.6, 0.0, 0.8])
        q = np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * axis], axis=-1)
        return q[None, :, None, :]

    gt = oscillation(3)
    assert npss(gt, gt) == 0.0
    scores = [npss(oscillation(3 + k), gt) for k in (1, 2, 4, 8)]
    assert scores[0] > 0
    assert all(a < b for a, b in itertools.pairwise(scores)), scores


# --------------------------------------------------------------------------------------------------
# baselines
# --------------------------------------------------------------------------------------------------
def test_interpolation_is_exact_on_constant_rate_motion_and_zero_velocity_is_not() -> None:
    windows = extract_windows([constant_rate_motion(150)])
    assert len(windows) == 3
    interp = evaluate_inbetweening(windows, INTERPOLATION, UNIT_STATS)
    zerov = evaluate_inbetweening(windows, baseline_method("zero_velocity"), UNIT_STATS)
    for n in ("5", "15", "30", "45"):
        assert interp[n]["l2p"] == pytest.approx(0.0, abs=1e-9)
        assert interp[n]["l2q"] == pytest.approx(0.0, abs=1e-9)
        assert interp[n]["npss"] == pytest.approx(0.0, abs=1e-9)
        assert zerov[n]["l2p"] > 0.05 and zerov[n]["l2q"] > 0.01 and zerov[n]["npss"] > 0
    assert zerov["5"]["l2p"] < zerov["15"]["l2p"] < zerov["30"]["l2p"] < zerov["45"]["l2p"]
    # the array form agrees with the ground truth in the same canonical frame
    pos, quat = interpolation(windows, transition=30)
    gt_pos, gt_quat = transition_ground_truth(windows, transition=30)
    assert pos.shape == (3, 30, J, 3) and quat.shape == (3, 30, J, 4)
    np.testing.assert_allclose(pos, gt_pos, atol=1e-9)
    assert l2q(quat, gt_quat) == pytest.approx(0.0, abs=1e-9)


def test_zero_velocity_is_exact_on_a_static_motion() -> None:
    windows = extract_windows([static_motion(65)])
    result = evaluate_inbetweening(windows, ZERO_VELOCITY, UNIT_STATS)
    for row in result.values():
        assert row["l2p"] == pytest.approx(0.0, abs=1e-12)
        assert row["l2q"] == pytest.approx(0.0, abs=1e-12)
        assert row["npss"] == pytest.approx(0.0, abs=1e-12)
    pos, quat = zero_velocity(windows, transition=15)
    gt_pos, gt_quat = transition_ground_truth(windows, transition=15)
    np.testing.assert_allclose(pos, gt_pos, atol=1e-12)
    assert l2p(pos, gt_pos, UNIT_STATS) == pytest.approx(0.0, abs=1e-12)
    assert l2q(quat, gt_quat) == pytest.approx(0.0, abs=1e-12)
    # held frame = last context frame, which canonicalisation put at the origin facing +Z
    np.testing.assert_allclose(pos[:, :, 0, [0, 2]], 0.0, atol=1e-12)


def test_baselines_keep_context_and_target_frames() -> None:
    window = extract_windows([constant_rate_motion(150)])[1].motion.slice(0, 26)
    for method in (ZERO_VELOCITY, INTERPOLATION):
        (pred,) = method([window], 10, 15)
        np.testing.assert_array_equal(pred.local_rotations[:10], window.local_rotations[:10])
        np.testing.assert_array_equal(pred.local_rotations[25], window.local_rotations[25])
        np.testing.assert_array_equal(pred.root_translation[:10], window.root_translation[:10])
    (held,) = ZERO_VELOCITY([window], 10, 15)
    np.testing.assert_array_equal(held.root_translation[10:25], np.repeat(window.root_translation[9:10], 15, 0))


def test_evaluation_rejects_bad_input() -> None:
    windows = extract_windows([constant_rate_motion(150)])
    with pytest.raises(InputError) as err:
        evaluate_inbetweening(windows, INTERPOLATION, UNIT_STATS, transitions=(60,))
    assert err.value.field == "transitions"
    with pytest.raises(InputError) as err:
        evaluate_inbetweening(windows, lambda motions, c, n: motions[:1], UNIT_STATS, transitions=(5,))
    assert err.value.field == "method"
    with pytest.raises(InputError) as err:
        evaluate_inbetweening(windows, lambda motions, c, n: [m[:-1] for m in motions], UNIT_STATS, transitions=(5,))
    assert err.value.field == "method"
    with pytest.raises(InputError) as err:
        evaluate_inbetweening(windows, INTERPOLATION, PositionStats(np.zeros((3, 3)), np.ones((3, 3))))
    assert err.value.field == "stats"
    with pytest.raises(InputError) as err:
        evaluate_inbetweening([], INTERPOLATION, UNIT_STATS)
    assert err.value.field == "windows"
    with pytest.raises(UnknownNameError, match="interpolation"):
        baseline_method("linear")
    with pytest.raises(InputError) as err:
        PositionStats(np.zeros((J, 3)), np.zeros((J, 3)))
    assert err.value.field == "std"


def test_method_cannot_alter_the_ground_truth_in_place() -> None:
    windows = extract_windows([constant_rate_motion(150)])

    def vandal(motions: list[Motion], context: int, n: int) -> list[Motion]:
        for m in motions:
            m.root_translation[:] += 1.0
            m.local_rotations[:] = np.eye(3)
        return motions

    before = windows[0].motion.root_translation.copy()
    result = evaluate_inbetweening(windows, vandal, UNIT_STATS, transitions=(5,))
    np.testing.assert_array_equal(windows[0].motion.root_translation, before)
    assert result["5"]["l2p"] > 1.0  # scored against the untouched ground truth


# --------------------------------------------------------------------------------------------------
# normalisation statistics
# --------------------------------------------------------------------------------------------------
def test_position_stats_are_canonical_and_round_trip_through_json() -> None:
    clip = constant_rate_motion(130)
    stats = position_stats([clip])
    assert stats.frames == 5 * 50  # starts 0, 20, 40, 60, 80
    assert stats.mean.shape == (J, 3) and (stats.std > MIN_STD).any()
    # turning and moving the whole clip in the world changes nothing after canonicalisation
    turned = rotate_motion_yaw(clip, -2.2)
    moved = replace(turned, root_translation=turned.root_translation + [7.0, 0.0, 1.0])
    again = position_stats([(moved, ["captions ignored"])])
    np.testing.assert_allclose(again.mean, stats.mean, atol=1e-9)
    np.testing.assert_allclose(again.std, stats.std, atol=1e-9)
    restored = PositionStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    np.testing.assert_array_equal(restored.mean, stats.mean)
    np.testing.assert_array_equal(restored.std, stats.std)
    assert (restored.window, restored.offset, restored.context, restored.skeleton) == (50, 20, 10, "toy")


def test_position_stats_of_a_static_clip_are_its_canonical_pose() -> None:
    clip = static_motion(60)
    stats = position_stats([clip])
    positions = clip.joint_positions()[0]
    heading = float(root_heading(positions, SKELETON))
    expected = (positions - positions[0] * [1, 0, 1]) @ yaw(-heading).T
    np.testing.assert_allclose(stats.mean, expected, atol=1e-12)
    np.testing.assert_array_equal(stats.std, MIN_STD)
    with pytest.raises(InputError) as err:
        position_stats([static_motion(49)])
    assert err.value.field == "train_motions"


# --------------------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------------------
@pytest.mark.data
def test_interpolation_beats_zero_velocity_on_real_clips(data_dir, cache_dir) -> None:
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    built = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    train = MotionDataset(root=built["path"], split="train", mirrored=False)
    test = MotionDataset(root=built["path"], split="test", mirrored=False)
    stats = position_stats(train)
    assert stats.skeleton == "smplx22" and stats.mean.shape == (22, 3)
    windows = extract_windows(test)
    lengths = [test[i][0].num_frames for i in range(len(test))]
    assert len(windows) == sum(max(0, (n - 65) // 40 + 1) for n in lengths) > 0
    assert all(isinstance(w, InbetweenWindow) and w.clip_id.startswith("bandai/") for w in windows)
    zerov = evaluate_inbetweening(windows, ZERO_VELOCITY, stats)
    interp = evaluate_inbetweening(windows, INTERPOLATION, stats)
    for n in ("15", "30"):
        assert interp[n]["l2p"] < zerov[n]["l2p"], (n, interp[n], zerov[n])
    for n in ("5", "15", "30", "45"):
        assert all(np.isfinite(row[n][k]) and row[n][k] > 0 for row in (zerov, interp) for k in ("l2p", "l2q", "npss"))
    # longer gaps are harder for a baseline that ignores the motion
    assert zerov["5"]["l2p"] < zerov["15"]["l2p"] < zerov["30"]["l2p"]
    print("\nzero-velocity", json.dumps(zerov), "\ninterpolation", json.dumps(interp))
