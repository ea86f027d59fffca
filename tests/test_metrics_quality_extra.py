"""Added motion-quality metrics (skate ratio, contacts, jitter, penetration, summary): constructed motions
with known answers on the toy rig, and a real clip from the tiny dataset."""

from __future__ import annotations

import numpy as np
import pytest
from toy_rig import toy_skeleton

from motiongen.data.dataset import MotionDataset
from motiongen.errors import InputError
from motiongen.metrics.quality import (
    foot_contact_consistency,
    foot_skate_from_contacts,
    foot_skate_from_height,
    foot_skate_ratio,
    ground_penetration,
    heuristic_foot_contacts,
    jitter,
    quality_summary,
)

FPS = 30.0


def standing(frames: int = 30) -> np.ndarray:
    """The toy rig's rest pose ``[T, J, 3]`` with the toes on the floor (y = 0) and the ankles 5 cm up."""
    rest = toy_skeleton().rest_positions()
    rest[:, 1] -= rest[:, 1].min()
    return np.repeat(rest[None], frames, axis=0)


def moving(speed: float, frames: int = 30) -> np.ndarray:
    """:func:`standing` translated along +Z at ``speed`` m/s."""
    positions = standing(frames)
    positions[:, :, 2] += (np.arange(frames) * speed / FPS)[:, None]
    return positions


def test_static_pose_on_the_floor_is_clean() -> None:
    skeleton = toy_skeleton()
    positions = standing()
    assert foot_skate_ratio(positions, skeleton, FPS) == 0.0
    assert foot_skate_from_height(positions, skeleton, FPS) == 0.0
    assert jitter(positions, FPS) == 0.0
    assert ground_penetration(positions, skeleton) == {"mean_depth": 0.0, "max_depth": 0.0, "frame_ratio": 0.0}
    contacts = heuristic_foot_contacts(positions, skeleton, FPS)
    assert contacts.shape == (30, 4) and contacts.all()


def test_sliding_feet_skate() -> None:
    skeleton = toy_skeleton()
    sliding = moving(1.0)
    assert foot_skate_ratio(sliding, skeleton, FPS) == 1.0
    assert foot_skate_from_height(sliding, skeleton, FPS) == pytest.approx(1.0, rel=1e-5)
    assert not heuristic_foot_contacts(sliding, skeleton, FPS).any()
    # slower than the 0.2 m/s skate threshold: on the floor but not skating
    assert foot_skate_ratio(moving(0.1), skeleton, FPS) == 0.0
    # only the left foot slides: half of the on-floor toe-frames skate
    half = standing()
    left = skeleton.indices(skeleton.joint_set("left_foot"))
    half[:, left, 2] += (np.arange(30) / FPS)[:, None]
    assert foot_skate_ratio(half, skeleton, FPS) == 0.5
    # lifted toes are never on the floor, however fast they move
    lifted = sliding.copy()
    lifted[:, :, 1] += 0.2
    assert foot_skate_ratio(lifted, skeleton, FPS) == 0.0


def test_skate_ratio_needs_the_toe_on_the_floor_at_both_frames() -> None:
    skeleton = toy_skeleton()
    stepping = standing(4)
    stepping[2, :, 1] += 0.2  # frame 2 lifted and moved: a step, not a skate
    stepping[2, :, 2] += 0.1
    # only the pair (0, 1) is on the floor at both frames, and nothing moves there
    assert foot_skate_ratio(stepping, skeleton, FPS) == 0.0
    sliding = moving(1.0, frames=4)
    sliding[2, :, 1] += 0.2
    sliding[:, skeleton.index("left_toe"), 2] = 0.0  # the left toe stays put in the pair (0, 1)
    assert foot_skate_ratio(sliding, skeleton, FPS) == 0.5


def test_contact_heuristic_follows_speed_and_height() -> None:
    skeleton = toy_skeleton()
    positions = standing(10)
    _, left_toe, right_ankle, _ = skeleton.foot_joint_indices
    positions[:, right_ankle, 1] = 0.12  # above the 0.10 m contact height
    positions[5:, left_toe, 0] += np.arange(5) * 0.01  # 0.3 m/s from frame 5 on
    contacts = heuristic_foot_contacts(positions, skeleton, FPS)
    assert contacts[:, 0].all() and contacts[:, 3].all()
    assert not contacts[:, 2].any()
    # forward difference: frame 4 -> 5 does not move, 5 -> 6 does; the last frame repeats the one before
    np.testing.assert_array_equal(contacts[:, 1], [True] * 5 + [False] * 5)


def test_foot_contact_consistency_counts_agreeing_entries_before_the_last_frame() -> None:
    skeleton = toy_skeleton()
    positions = standing(11)  # heuristic: all contacts
    assert foot_contact_consistency(positions, skeleton, FPS, np.ones((11, 4), dtype=bool)) == 1.0
    assert foot_contact_consistency(positions, skeleton, FPS, np.zeros((11, 4), dtype=bool)) == 0.0
    predicted = np.ones((11, 4), dtype=bool)
    predicted[:, 1] = False  # one column of four disagrees
    predicted[-1] = False  # the last frame is not compared
    assert foot_contact_consistency(positions, skeleton, FPS, predicted) == 0.75
    assert foot_contact_consistency(positions, skeleton, FPS, predicted.astype(int)) == 0.75
    with pytest.raises(InputError) as excinfo:
        foot_contact_consistency(positions, skeleton, FPS, np.ones((10, 4), dtype=bool))
    assert excinfo.value.field == "predicted_contacts"
    with pytest.raises(InputError):
        foot_contact_consistency(positions, skeleton, FPS, np.full((11, 4), 0.7))


def test_jitter_is_zero_for_quadratic_paths_and_six_a_for_a_cubic_one() -> None:
    assert jitter(moving(1.3), FPS) == pytest.approx(0.0, abs=1e-6)
    time = np.arange(40) / FPS
    accelerating = standing(40)
    accelerating[:, :, 0] += (0.5 * 2.0 * time**2)[:, None]
    assert jitter(accelerating, FPS) == pytest.approx(0.0, abs=1e-6)
    a = 0.7
    cubic = standing(40)
    cubic[:, :, 1] += (a * time**3)[:, None]  # jerk 6a along y at every joint and frame
    assert jitter(cubic, FPS) == pytest.approx(6 * a, rel=1e-6)
    with pytest.raises(InputError) as excinfo:
        jitter(standing(3), FPS)
    assert excinfo.value.field == "positions"
    with pytest.raises(InputError) as excinfo:
        jitter(standing(10), 0.0)
    assert excinfo.value.field == "fps"


def test_ground_penetration_measures_sunk_feet() -> None:
    skeleton = toy_skeleton()
    sunk = standing(20)
    sunk[:, :, 1] -= 0.05  # toes 5 cm under the floor, ankles level with it
    out = ground_penetration(sunk, skeleton)
    assert out["max_depth"] == pytest.approx(0.05)
    assert out["mean_depth"] == pytest.approx(0.05)
    assert out["frame_ratio"] == 1.0
    half = standing(20)
    half[10:, :, 1] -= 0.05
    out = ground_penetration(half, skeleton)
    assert out["mean_depth"] == pytest.approx(0.025)
    assert out["frame_ratio"] == 0.5
    # within the 1 cm tolerance: measured, but the frame does not count as penetrating
    shallow = standing(20)
    shallow[:, :, 1] -= 0.005
    out = ground_penetration(shallow, skeleton)
    assert out["max_depth"] == pytest.approx(0.005) and out["frame_ratio"] == 0.0
    # another floor height
    assert ground_penetration(standing(5), skeleton, floor=0.1)["max_depth"] == pytest.approx(0.1)


def test_quality_summary_collects_every_metric() -> None:
    skeleton = toy_skeleton()
    positions = moving(1.0)
    summary = quality_summary(positions, skeleton, FPS)
    assert set(summary) == {
        "foot_skate_from_height", "foot_skate_ratio", "jitter",
        "penetration_mean_depth", "penetration_max_depth", "penetration_frame_ratio",
    }
    assert summary["foot_skate_ratio"] == 1.0
    assert summary["foot_skate_from_height"] == foot_skate_from_height(positions, skeleton, FPS)
    with_contacts = quality_summary(positions, skeleton, FPS, predicted_contacts=np.zeros((30, 4), dtype=bool))
    assert with_contacts["foot_contact_consistency"] == 1.0  # sliding feet: the heuristic sees no contact
    assert with_contacts["foot_skate_from_contacts"] == 0.0  # no foot is said to be planted
    planted = quality_summary(positions, skeleton, FPS, predicted_contacts=np.ones((30, 4), dtype=bool))
    assert planted["foot_skate_from_contacts"] == pytest.approx(foot_skate_from_contacts(positions, skeleton, FPS, np.ones((30, 4), dtype=bool)))
    assert planted["foot_skate_from_contacts"] > 0.5  # every foot said planted while it slides
    with pytest.raises(InputError) as excinfo:
        quality_summary(positions[:, :5], skeleton, FPS)
    assert excinfo.value.field == "positions"


@pytest.mark.data
def test_quality_of_real_clips_is_plausible(data_dir, cache_dir) -> None:
    from motiongen.data.build import build_dataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    walks = 0
    for index in range(len(dataset)):
        motion, _ = dataset[index]
        positions = motion.joint_positions()
        contacts = heuristic_foot_contacts(positions, motion.skeleton, motion.fps)
        summary = quality_summary(positions, motion.skeleton, motion.fps, predicted_contacts=contacts)
        assert all(np.isfinite(v) for v in summary.values()), summary
        assert 0.0 <= summary["foot_skate_ratio"] < 0.5
        assert 0.0 < summary["jitter"] < 1000.0  # m/s^3; mocap is smooth but never exactly polynomial
        assert summary["penetration_max_depth"] < 0.02  # the builder grounds the clips
        assert summary["foot_contact_consistency"] == 1.0
        assert contacts.any()  # every clip stands on something at some point
        clip_id = motion.meta["clip_id"]
        if "_walk_" in clip_id or "_run_" in clip_id:
            walks += 1
            # feet alternate: each foot is sometimes planted and sometimes swinging
            assert 0.05 < contacts.mean() < 0.95, clip_id
        # one centimetre of frame-to-frame noise is far jerkier than the capture
        noisy = positions + np.random.default_rng(index).normal(scale=0.01, size=positions.shape)
        assert jitter(noisy, motion.fps) > 10 * summary["jitter"]
    assert walks > 0


def test_skate_from_contacts_counts_planted_feet_only() -> None:
    skeleton = toy_skeleton()
    feet = skeleton.foot_joint_indices
    everywhere = np.ones((30, 4), dtype=bool)
    # every foot joint slides at 1 m/s while labelled planted; standing still scores 0
    assert foot_skate_from_contacts(moving(1.0), skeleton, FPS, everywhere) == pytest.approx(1.0, rel=1e-5)
    assert foot_skate_from_contacts(standing(), skeleton, FPS, everywhere) == 0.0
    # a foot that moves only on frames labelled swing does not count; nothing planted scores 0
    swinging = standing()
    swinging[15:, feet[:2], 2] += 0.5  # the left foot jumps 0.5 m between frames 14 and 15
    left_swings = everywhere.copy()
    left_swings[14, :2] = False
    assert foot_skate_from_contacts(swinging, skeleton, FPS, left_swings) == 0.0
    assert foot_skate_from_contacts(swinging, skeleton, FPS, everywhere) == pytest.approx(0.5 * FPS * 2 / (29 * 4))
    assert foot_skate_from_contacts(moving(1.0), skeleton, FPS, np.zeros((30, 4))) == 0.0
    # a low swing is skate from height, not from contacts
    assert foot_skate_from_height(swinging, skeleton, FPS) > 0.0
    with pytest.raises(InputError) as err:
        foot_skate_from_contacts(moving(1.0), skeleton, FPS, np.ones((30, 2)))
    assert err.value.field == "contacts"
