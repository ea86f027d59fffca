"""Retargeting quality figures: end-effector error after scale normalisation, foot skate before and
after, lowest foot, G1 joint-limit violations (``benchmarks/retarget_quality.py`` prints and stores them).

The source clips are ``smplx22`` motions (the dataset's test split); each is retargeted onto every
target with :func:`motiongen.retarget.registered.retarget_to` (and, for human targets, the
position-only IK :func:`motiongen.retarget.human.retarget_positions` as a diagnostic row).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from motiongen.motion.motion import Motion

DEFAULT_TARGETS = ("soma30", "soma77", "bandai22", "cmu31", "g1")
#: End effectors by canonical (``smplx22``) name, and the G1 joint standing for each.
END_EFFECTORS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "head")
G1_END_EFFECTORS = {
    "left_wrist": "left_wrist_yaw_skel",
    "right_wrist": "right_wrist_yaw_skel",
    "left_ankle": "left_ankle_roll_skel",
    "right_ankle": "right_ankle_roll_skel",
}


#: Hinge angles read back from rotation matrices carry float round-off (~1e-16 rad): an angle counts as
#: outside its range only beyond this.
LIMIT_ROUNDOFF = 1e-9


def end_effector_pairs(target: str) -> list[tuple[str, str]]:
    """``(source joint, target joint)`` for every end effector the target rig has."""
    if target == "g1":
        return list(G1_END_EFFECTORS.items())
    from motiongen.retarget.human import CANONICAL_MAPS

    table = CANONICAL_MAPS[target]
    return [(name, table[name]) for name in END_EFFECTORS if name in table]


def hinge_violations(motion: Motion) -> tuple[int, float]:
    """``(count, worst radians)`` of hinge angles outside their ``g1.xml`` range over all frames."""
    from motiongen.io.mujoco_csv import g1_hinge_angles

    angles = g1_hinge_angles(motion)
    ranges = np.array([h["range"] for h in motion.skeleton.extras["hinges"].values()])
    below = ranges[:, 0] - angles
    above = angles - ranges[:, 1]
    excess = np.maximum(below, above)
    return int((excess > LIMIT_ROUNDOFF).sum()), float(max(excess.max(), 0.0))


def score(source: Motion, result: Motion) -> dict[str, float]:
    """Figures of one retargeted clip against its source (see the module docstring)."""
    from motiongen.metrics.quality import foot_skate_from_height

    scale = float(result.meta["retarget"]["scale"])
    src = source.joint_positions()
    out = result.joint_positions() / scale
    pairs = end_effector_pairs(result.skeleton.name)
    a = src[:, source.skeleton.indices([s for s, _ in pairs])]
    b = out[:, result.skeleton.indices([t for _, t in pairs])]
    feet = result.skeleton.foot_joint_indices
    ik_error = result.meta["retarget"].get("position_error_m")
    return {
        **({"ik_target_error_cm": 100 * float(ik_error)} if ik_error is not None else {}),
        "ee_error_cm": float(100 * np.linalg.norm(a - b, axis=-1).mean()),
        "skate_source": foot_skate_from_height(src, source.skeleton, source.fps),
        "skate_result": foot_skate_from_height(out, result.skeleton, result.fps),
        "lowest_foot_cm": float(100 * out[:, feet, 1].min()),
        "lowest_foot_source_cm": float(100 * src[:, source.skeleton.foot_joint_indices, 1].min()),
    }


def retarget_quality_rows(clips: list[Motion], targets: list[str], positions_fallback: bool = True, progress: bool = True) -> list[dict]:
    """One row per (target, method): figures averaged over ``clips`` (a list of smplx22 Motions)."""
    from motiongen.retarget.human import retarget_positions
    from motiongen.retarget.registered import retarget_to
    from motiongen.skeleton.registry import get_skeleton

    rows = []
    for target in targets:
        methods = ["rotations"] + (["positions"] if positions_fallback and target != "g1" else [])
        for method in methods:
            per_clip, seconds, violations, worst = [], 0.0, 0, 0.0
            for k, clip in enumerate(clips):
                started = time.perf_counter()
                if method == "rotations":
                    result = retarget_to(clip, target)
                else:
                    result = retarget_positions(clip, get_skeleton(target))
                seconds += time.perf_counter() - started
                per_clip.append(score(clip, result))
                if target == "g1":
                    count, excess = hinge_violations(result)
                    violations += count
                    worst = max(worst, excess)
                if progress:
                    print(f"\r{target} ({method}): {k + 1}/{len(clips)}", end="", file=sys.stderr, flush=True)
            if progress:
                print(file=sys.stderr)
            row = {
                "target": target,
                "method": "ik" if target == "g1" else method,
                "ee_error_cm": float(np.mean([c["ee_error_cm"] for c in per_clip])),
                "skate_source": float(np.mean([c["skate_source"] for c in per_clip])),
                "skate_result": float(np.mean([c["skate_result"] for c in per_clip])),
                "lowest_foot_cm": float(min(c["lowest_foot_cm"] for c in per_clip)),
                "lowest_foot_source_cm": float(min(c["lowest_foot_source_cm"] for c in per_clip)),
                "seconds_per_clip": seconds / len(clips),
            }
            if target == "g1":
                row["joint_limit_violations"] = violations
                row["worst_violation_rad"] = worst
                row["ik_target_error_cm"] = float(np.mean([c["ik_target_error_cm"] for c in per_clip]))
            rows.append(row)
    return rows


def retarget_table(result: dict) -> str:
    """The rows of a ``retarget_quality`` result as a markdown table."""
    lines = [
        ("| target | method | end-effector error (cm) | foot skate source -> result (m/s) | lowest foot source -> result (cm) "
         "| G1 joint-limit violations | s per clip |"),
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        limits = "-"
        if "joint_limit_violations" in row:
            limits = f"{row['joint_limit_violations']} (IK target error {row['ik_target_error_cm']:.1f} cm)"
        lines.append(
            f"| {row['target']} | {row['method']} | {row['ee_error_cm']:.1f} | {row['skate_source']:.3f} -> "
            f"{row['skate_result']:.3f} | {row['lowest_foot_source_cm']:.1f} -> {row['lowest_foot_cm']:.1f} | {limits} | {row['seconds_per_clip']:.2f} |"
        )
    return "\n".join(lines)
