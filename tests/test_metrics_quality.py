"""Quality metrics on real clips and simple constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from motiongen.data.dataset import MotionDataset
from motiongen.metrics.quality import (
    foot_skate_from_height,
    heading_angles,
    joint_path_length,
    root_path_length,
    root_travel,
)

from toy_rig import toy_skeleton


def test_foot_skate_is_zero_for_planted_toes_and_speed_for_sliding_ones() -> None:
    skeleton = toy_skeleton()
    rest = skeleton.rest_positions()
    rest[:, 1] -= rest[:, 1].min()  # toes on the floor
    planted = np.repeat(rest[None], 10, axis=0)
    assert foot_skate_from_height(planted, skeleton, 30.0) == 0.0
    sliding = planted.copy()
    sliding[:, :, 2] += np.arange(10)[:, None] * 0.01  # everything slides 1 cm per frame
    assert abs(foot_skate_from_height(sliding, skeleton, 30.0) - 0.3) < 1e-4
    lifted = planted.copy()
    lifted[:, :, 1] += 0.2
    assert foot_skate_from_height(lifted, skeleton, 30.0) == 0.0


def test_real_walk_travels_and_real_turn_turns(raw, data_dir, cache_dir) -> None:
    from motiongen.data.build import build_dataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    walks = 0
    for index in range(len(dataset)):
        motion, captions = dataset[index]
        positions = motion.joint_positions()
        assert foot_skate_from_height(positions, motion.skeleton, motion.fps) < 0.5  # mocap barely skates
        clip_id = motion.meta["clip_id"]
        if "_walk_" in clip_id or "_run_" in clip_id:
            walks += 1
            assert root_travel(positions) / motion.duration > 0.5, clip_id
            # the path is at least the straight line, and a there-and-back copy doubles the path only
            assert root_path_length(positions) >= root_travel(positions) - 1e-9
            back_again = np.concatenate([positions, positions[::-1]])
            assert root_path_length(back_again) == pytest.approx(2 * root_path_length(positions))
            assert root_travel(back_again) == pytest.approx(0.0, abs=1e-9)
    assert walks > 0
    # a constructed quarter turn to the left
    skeleton = dataset[0][0].skeleton
    rest = skeleton.rest_positions()
    angles = np.linspace(0, np.pi / 2, 20)
    rot = np.stack([np.cos(angles), np.zeros(20), np.sin(angles), np.zeros(20), np.ones(20), np.zeros(20),
                    -np.sin(angles), np.zeros(20), np.cos(angles)], -1).reshape(20, 3, 3)
    turning = np.einsum("tij,nj->tni", rot, rest)
    heading = heading_angles(turning, skeleton)
    assert abs(heading[-1] - heading[0] - np.pi / 2) < 1e-6
    assert joint_path_length(turning, skeleton.index("left_wrist")) > 0.5
