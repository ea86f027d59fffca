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
- **lowest foot (cm)**: the lowest foot joint over all frames, of the source and of the scale-normalised
  result (below 0 is in the floor; clips that lie or kneel reach lower than the 5th-percentile floor);
- **G1 joint-limit violations**: hinge angles outside the ``g1.xml`` range by more than float
  round-off (1e-9 rad), over all frames (must be 0), and the G1 IK's own mean distance to its
  targets (the human's joints scaled per limb and widened to the robot's hips, so not the same
  figure as the end-effector error);
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
from motiongen.evaluation.retargeting import (
    DEFAULT_TARGETS,
    retarget_quality_rows,
    retarget_table,
)
from motiongen.io.atomic import atomic_write_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "retarget_quality.json"
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
    clips = [clip.slice(0, min(args.max_frames, clip.num_frames)) for clip in (dataset[i][0] for i in picks)]
    started = time.perf_counter()
    rows = retarget_quality_rows(clips, args.targets)
    result = {
        "format": "motiongen.retarget_quality/1", "date": utc_now(), "git_commit": git_commit(), "machine": machine_info(),
        "dataset": root.name, "split": args.split, "source_skeleton": "smplx22", "clips": len(clips),
        "frames": int(sum(c.num_frames for c in clips)), "max_frames": args.max_frames,
        "seconds": round(time.perf_counter() - started, 1), "rows": rows,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(retarget_table(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:
        print(f"retarget_quality: error: {exc}", file=sys.stderr)
        sys.exit(2)
