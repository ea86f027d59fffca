"""Retargeting quality on the test split: end-effector error, foot skate before and after, G1 joint limits.

Every test-split clip of the built dataset (``smplx22``, 30 fps) is retargeted onto each target rig
with :func:`motiongen.retarget.registered.retarget_to` (rotation-aware between human rigs, IK within the
joint limits onto the G1), and, for the human targets, also with the position-only IK fallback
(:func:`motiongen.retarget.human.retarget_positions`) as a diagnostic row. Per target:

- **end-effector error (cm)**: the wrists, ankles and head (the G1 has no head joint) of the result,
  divided by the retargeting scale (leg-length ratio) so both bodies have the source's size, against
  the source's, in the world (floor at y = 0); mean over frames, joints and clips;
- **foot skate (m/s)**: :func:`motiongen.metrics.quality.foot_skate_from_height` of the source and of the
  scale-normalised result (mean toe speed while the toe is on the floor);
- **lowest foot (cm)**: the lowest foot joint over all frames, scale-normalised (below 0 is in the floor);
- **G1 joint-limit violations**: hinge angles outside the ``g1.xml`` range, over all frames (must be 0);
- **seconds per clip**: wall time of the retargeting alone on this machine.

    python benchmarks/retarget_quality.py [--split test] [--limit N] [--targets soma77 g1 ...] [--output JSON]

Prints a table and writes JSON (default ``benchmarks/results/retarget_quality.json``): machine, dataset,
split, clips, frames, and one row per target and method.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from motiongen.errors import InputError
from motiongen.evaluation.records import git_commit, machine_info, utc_now
from motiongen.io.atomic import atomic_write_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "retarget_quality.json"
DEFAULT_TARGETS = ("soma30", "soma77", "bandai22", "cmu31", "g1")
#: End effectors by canonical (``smplx22``) name, and the G1 joint standing for each.
END_EFFECTORS = ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "head")
G1_END_EFFECTORS = {
    "left_wrist": "left_wrist_yaw_skel",
    "right_wrist": "right_wrist_yaw_skel",
    "left_ankle": "left_ankle_roll_skel",
    "right_ankle": "right_ankle_roll_skel",
}


def end_effector_pairs(target: str) -> list[tuple[str, str]]:
    """``(source joint, target joint)`` for every end effector the target rig has."""
    if target == "g1":
        return list(G1_END_EFFECTORS.items())
    from motiongen.retarget.human import CANONICAL_MAPS

    table = CANONICAL_MAPS[target]
    return [(name, table[name]) for name in END_EFFECTORS if name in table]


def hinge_violations(motion) -> tuple[int, float]:  # noqa: ANN001 (a G1 Motion)
    """``(count, worst radians)`` of hinge angles outside their ``g1.xml`` range over all frames."""
    from motiongen.io.mujoco_csv import g1_hinge_angles

    angles = g1_hinge_angles(motion)
    ranges = np.array([h["range"] for h in motion.skeleton.extras["hinges"].values()])
    below = ranges[:, 0] - angles
    above = angles - ranges[:, 1]
    excess = np.maximum(below, above)
    return int((excess > 0).sum()), float(max(excess.max(), 0.0))


def score(source, result) -> dict[str, float]:  # noqa: ANN001 (Motions)
    """Figures of one retargeted clip against its source (see the module docstring)."""
    from motiongen.metrics.quality import foot_skate_from_height

    scale = float(result.meta["retarget"]["scale"])
    src = source.joint_positions()
    out = result.joint_positions() / scale
    pairs = end_effector_pairs(result.skeleton.name)
    a = src[:, source.skeleton.indices([s for s, _ in pairs])]
    b = out[:, result.skeleton.indices([t for _, t in pairs])]
    feet = result.skeleton.foot_joint_indices
    return {
        "ee_error_cm": float(100 * np.linalg.norm(a - b, axis=-1).mean()),
        "skate_source": foot_skate_from_height(src, source.skeleton, source.fps),
        "skate_result": foot_skate_from_height(out, result.skeleton, result.fps),
        "lowest_foot_cm": float(100 * out[:, feet, 1].min()),
    }


def run(clips, targets: list[str], positions_fallback: bool = True, progress: bool = True) -> list[dict]:  # noqa: ANN001
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
                "method": method,
                "ee_error_cm": float(np.mean([c["ee_error_cm"] for c in per_clip])),
                "skate_source": float(np.mean([c["skate_source"] for c in per_clip])),
                "skate_result": float(np.mean([c["skate_result"] for c in per_clip])),
                "lowest_foot_cm": float(min(c["lowest_foot_cm"] for c in per_clip)),
                "seconds_per_clip": seconds / len(clips),
            }
            if target == "g1":
                row["joint_limit_violations"] = violations
                row["worst_violation_rad"] = worst
            rows.append(row)
    return rows


def table(result: dict) -> str:
    """The rows as a markdown table."""
    lines = [
        "| target | method | end-effector error (cm) | foot skate source -> result (m/s) | lowest foot (cm) "
        "| G1 joint-limit violations | s per clip |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        limits = str(row["joint_limit_violations"]) if "joint_limit_violations" in row else "-"
        lines.append(
            f"| {row['target']} | {row['method']} | {row['ee_error_cm']:.1f} | {row['skate_source']:.3f} -> "
            f"{row['skate_result']:.3f} | {row['lowest_foot_cm']:.1f} | {limits} | {row['seconds_per_clip']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="retarget_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--dataset", help="built dataset folder (default: the full build in the cache)")
    parser.add_argument("--cache", help="motiongen cache (default $MOTIONGEN_CACHE)")
    parser.add_argument("--limit", type=int, help="at most this many clips (every k-th clip, spread over the split)")
    parser.add_argument("--max-frames", type=int, default=300, help="first frames of each clip (default 300)")
    parser.add_argument("--targets", nargs="+", default=list(DEFAULT_TARGETS))
    parser.add_argument("--output", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    from motiongen.data.dataset import MotionDataset
    from motiongen.train.features import dataset_source

    _, root = dataset_source(cache=args.cache, dataset=args.dataset)
    dataset = MotionDataset(split=args.split, mirrored=False, root=root)
    picks = list(range(len(dataset)))
    if args.limit is not None and args.limit < len(picks):
        picks = [int(i) for i in np.linspace(0, len(picks) - 1, args.limit).round()]
    clips = [dataset[i][0].slice(0, args.max_frames) for i in picks]
    started = time.perf_counter()
    rows = run(clips, args.targets)
    result = {
        "format": "motiongen.retarget_quality/1", "date": utc_now(), "git_commit": git_commit(), "machine": machine_info(),
        "dataset": root.name, "split": args.split, "source_skeleton": "smplx22", "clips": len(clips),
        "frames": int(sum(c.num_frames for c in clips)), "max_frames": args.max_frames,
        "seconds": round(time.perf_counter() - started, 1), "rows": rows,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:
        print(f"retarget_quality: error: {exc}", file=sys.stderr)
        sys.exit(2)
