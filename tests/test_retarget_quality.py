"""The retargeting quality figures on real clips: what they measure can fail, and the G1 never leaves its limits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motiongen.evaluation.retargeting import (
    hinge_violations,
    retarget_quality_rows,
    retarget_table,
    score,
)
from motiongen.motion.motion import Motion
from motiongen.retarget.registered import retarget_to


@pytest.fixture(scope="module")
def clips(data_dir, cache_dir):
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    return [dataset[i][0].slice(0, min(90, dataset[i][0].num_frames)) for i in range(2)]


def test_rows_for_human_and_g1_targets(clips) -> None:
    rows = retarget_quality_rows(clips, ["soma30", "g1"], progress=False)
    assert [(r["target"], r["method"]) for r in rows] == [("soma30", "rotations"), ("soma30", "positions"), ("g1", "ik")]
    g1 = rows[-1]
    assert g1["joint_limit_violations"] == 0 and g1["worst_violation_rad"] < 1e-9
    for row in rows:
        assert np.isfinite([row["ee_error_cm"], row["skate_source"], row["skate_result"]]).all()
        assert row["lowest_foot_cm"] > -3.0  # feet placed on the floor
    # the position IK reaches the scaled joints closer than rotation transfer does (it solves for them)
    assert rows[1]["ee_error_cm"] < rows[0]["ee_error_cm"]
    text = retarget_table({"rows": rows})
    assert text.count("\n") == 4 and "| g1 | ik |" in text
    json.dumps(rows)


def test_end_effector_error_sees_a_wrong_result(clips, data_dir, cache_dir) -> None:
    clip = clips[0]
    good = retarget_to(clip, "soma30", data_dir=data_dir, cache_dir=cache_dir)
    root = good.root_translation.copy()
    root[:, 0] += 0.3 * good.meta["retarget"]["scale"]  # 30 cm sideways at the source's size
    shifted = Motion(good.local_rotations, root, good.fps, good.skeleton, meta=good.meta)
    assert score(clip, shifted)["ee_error_cm"] > score(clip, good)["ee_error_cm"] + 20


def test_hinge_violations_counts_angles_past_a_limit(clips, data_dir, cache_dir) -> None:
    from motiongen.io.mujoco_csv import g1_motion_from_qpos, g1_qpos

    robot = retarget_to(clips[0], "g1", data_dir=data_dir, cache_dir=cache_dir)
    assert hinge_violations(robot)[0] == 0
    qpos = g1_qpos(robot)
    hinges = list(robot.skeleton.extras["hinges"].values())
    qpos[3:5, 7 + 3] = hinges[3]["range"][1] + 0.2  # the left knee bent 0.2 rad too far on two frames
    count, worst = hinge_violations(g1_motion_from_qpos(qpos, robot.skeleton, robot.fps))
    assert count == 2 and worst == pytest.approx(0.2, abs=1e-6)
