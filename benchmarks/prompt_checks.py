"""Prompt checks: does the model do what simple prompts ask? Measured on the output joints.

For fixed prompts and seeds 0..4 (one 150-frame, 5 s sample each):

- "walks forward" travels over 1.5 m;
- "runs forward" travels farther than "walks forward" with the same seed;
- "walks and turns left/right" turns over 45 degrees, in that direction;
- "waves/raises the right (left) hand" moves that wrist (relative to the pelvis) at least twice as far
  as the other wrist;
- feet do not slide: each prompt's foot skate (KIMODO's FootSkateFromHeight: mean toe speed while the
  toe is below 5 cm) under 1.5 x the same figure of the real test-split clips of the same motion
  (Bandai's walk, run, walk-turn-left/right, wave- and raise-hand clips: :data:`REAL_CONTENT`). The
  figure counts a toe skimming the floor in a stride as well as a planted one sliding, so it depends
  on the motion: real walks score about three times the test split's average, which is mostly
  standing gestures; that average is still reported beside.

A check passes when at least 4 of the 5 seeds pass. Writes benchmarks/results/prompt_checks.json.

    python benchmarks/prompt_checks.py [--model motiongen/kimodo-smplx] [--steps 25]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from motiongen.metrics.quality import foot_skate_from_height, heading_angles, joint_path_length, root_travel

PROMPTS = {
    "walk": "a person walks forward.",
    "run": "a person runs forward.",
    "turn_left": "a person walks and turns left.",
    "turn_right": "a person walks and turns right.",
    "wave_right": "a person waves the right hand.",
    "wave_left": "a person waves the left hand.",
    "raise_right": "a person raises the right hand.",
    "raise_left": "a person raises the left hand.",
}
#: Bandai contents whose real test clips are each prompt's foot-skate reference.
REAL_CONTENT = {
    "walk": ("walk",),
    "run": ("run",),
    "turn_left": ("walk-turn-left",),
    "turn_right": ("walk-turn-right",),
    "wave_right": ("wave-right-hand",),
    "wave_left": ("wave-left-hand",),
    "raise_right": ("raise-up-right-hand",),
    "raise_left": ("raise-up-left-hand",),
}
SEEDS = (0, 1, 2, 3, 4)
FRAMES = 150
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "prompt_checks.json"


def real_foot_skate(split: str = "test") -> tuple[float, dict[str, dict[str, float]]]:
    """Mean foot skate over the dataset split's clips, and per prompt over the clips of its motion
    (:data:`REAL_CONTENT`: ``{"clips": n, "foot_skate": mean}``)."""
    from motiongen.data.dataset import MotionDataset

    dataset = MotionDataset(split=split, mirrored=False)
    values, contents = [], []
    for index in range(len(dataset)):
        motion, _ = dataset[index]
        values.append(foot_skate_from_height(motion.joint_positions(), motion.skeleton, motion.fps))
        labels = dataset.record(index).get("labels") or {}
        contents.append(labels.get("content") if motion.meta.get("source") == "bandai" else None)
    per_prompt = {}
    for key, wanted in REAL_CONTENT.items():
        mine = [v for v, c in zip(values, contents) if c in wanted]
        per_prompt[key] = {"content": list(wanted), "clips": len(mine), "foot_skate": float(np.mean(mine))}
    return float(np.mean(values)), per_prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="motiongen/kimodo-smplx")
    parser.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the pipeline's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cfg-weight", type=float, default=None, help="regular guidance weight (default: the pipeline's)")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    from motiongen.pipelines.kimodo import KIMODOPipeline

    pipe = KIMODOPipeline.from_pretrained(args.model)
    skeleton = pipe.bundle.skeleton
    fps = pipe.bundle.features.fps
    options: dict = {} if args.steps is None else {"steps": args.steps}
    if args.cfg_weight is not None:
        options["cfg"] = ("regular", args.cfg_weight)
    settings: dict = {}
    measures: dict[str, dict[int, dict[str, float]]] = {}
    start = time.perf_counter()
    for key, prompt in PROMPTS.items():
        measures[key] = {}
        for seed in SEEDS:
            out = pipe.text_to_motion(prompt, num_frames=FRAMES, seed=seed, **options)
            settings = {k: out.info[k] for k in ("steps", "cfg_type", "cfg_weights", "postprocess")}
            pos = np.asarray(out.posed_joints[0], dtype=np.float64)
            heading = heading_angles(pos, skeleton)
            measures[key][seed] = {
                "travel_m": root_travel(pos),
                "turn_deg": float(np.rad2deg(heading[-1] - heading[0])),
                "right_wrist_m": joint_path_length(pos, skeleton.index(skeleton.joint_set("right_hand")[0])),
                "left_wrist_m": joint_path_length(pos, skeleton.index(skeleton.joint_set("left_hand")[0])),
                "foot_skate": foot_skate_from_height(pos, skeleton, fps),
            }
    generation_s = time.perf_counter() - start
    skate_real, skate_real_by_prompt = real_foot_skate()

    def seeds_passing(rule) -> list[int]:
        return [s for s in SEEDS if rule(s)]

    m = measures
    checks = {
        "walk travels > 1.5 m in 5 s": seeds_passing(lambda s: m["walk"][s]["travel_m"] > 1.5),
        "run travels farther than walk": seeds_passing(lambda s: m["run"][s]["travel_m"] > m["walk"][s]["travel_m"]),
        "turn left > 45 deg to the left": seeds_passing(lambda s: m["turn_left"][s]["turn_deg"] > 45),
        "turn right > 45 deg to the right": seeds_passing(lambda s: m["turn_right"][s]["turn_deg"] < -45),
        "wave right: right wrist >= 2x left": seeds_passing(
            lambda s: m["wave_right"][s]["right_wrist_m"] >= 2 * m["wave_right"][s]["left_wrist_m"]),
        "wave left: left wrist >= 2x right": seeds_passing(
            lambda s: m["wave_left"][s]["left_wrist_m"] >= 2 * m["wave_left"][s]["right_wrist_m"]),
        "raise right: right wrist >= 2x left": seeds_passing(
            lambda s: m["raise_right"][s]["right_wrist_m"] >= 2 * m["raise_right"][s]["left_wrist_m"]),
        "raise left: left wrist >= 2x right": seeds_passing(
            lambda s: m["raise_left"][s]["left_wrist_m"] >= 2 * m["raise_left"][s]["right_wrist_m"]),
        "foot skate < 1.5 x real clips of the same motion (all prompts)": seeds_passing(
            lambda s: all(m[k][s]["foot_skate"] < 1.5 * skate_real_by_prompt[k]["foot_skate"] for k in PROMPTS)),
    }
    summary = {name: {"seeds_passing": passing, "passed": len(passing) >= 4} for name, passing in checks.items()}
    result = {
        "benchmark": "prompt_checks",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "model": args.model,
        "model_info": pipe.bundle.info,
        "frames": FRAMES,
        "steps": args.steps,
        "settings": settings,
        "seeds": list(SEEDS),
        "prompts": PROMPTS,
        "real_foot_skate_test_split": skate_real,
        "real_foot_skate_by_prompt": skate_real_by_prompt,
        "measures": measures,
        "checks": summary,
        "passed": sum(c["passed"] for c in summary.values()),
        "total": len(summary),
        "generation_seconds": generation_s,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(args.out)
    print("| check | seeds passing (of 5) | passed |\n|---|---|---|")
    for name, c in summary.items():
        print(f"| {name} | {len(c['seeds_passing'])} | {'yes' if c['passed'] else 'no'} |")
    print("\n| prompt | foot skate, mean of seeds (m/s) | real clips of the motion (m/s) | clips |\n|---|---|---|---|")
    for key in PROMPTS:
        real = skate_real_by_prompt[key]
        mean = np.mean([m[key][s]["foot_skate"] for s in SEEDS])
        print(f"| {key} | {mean:.3f} | {real['foot_skate']:.3f} | {real['clips']} |")
    print(f"\n{result['passed']}/{result['total']} checks pass; real-data foot skate {skate_real:.3f} m/s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
