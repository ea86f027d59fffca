"""Command-line arguments of ``motiongen eval`` (no torch import: the CLI builds its parser fast)."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from motiongen.errors import InputError

TASK_NAMES = ("t2m", "quality", "inbetween", "constraints")
#: Defaults of ``motiongen eval`` (and :class:`motiongen.evaluation.runner.EvalSettings`). 10 DDIM
#: steps (the pipeline's default is 25) keep a full evaluation of the shipped model on the whole test
#: split under 30 minutes on 2 CPU cores (benchmarks/results/eval_kimodo-smplx.json records the time).
DEFAULTS = {
    "replications": 20,
    "steps": 10,
    "mm_captions": 32,
    "mm_repeats": 10,
    "mm_replications": 1,
    "inbetween_windows": 128,
    "constraint_cases": 10,
    "constraint_frames": 150,
    # a window's caption describes at least half of it (evaluation.constraints.covered_starts)
    "constraint_caption_coverage": 0.5,
    "seed": 0,
}


def check_caption_coverage(value: Any, field: str) -> None:
    """A constraint case's caption coverage is a number from 0 to 1; raises ``InputError`` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError(f"must be a number from 0 to 1, got {value!r}", field=field)


def add_eval_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval",
        help="evaluate a model: text-to-motion metrics, motion quality, in-betweening, constraints",
        description=(
            "Evaluate a model on the test split with the frozen text-motion evaluator and write one metrics "
            "JSON. Finished pieces are kept in OUTPUT's .parts folder, so an interrupted run resumes. The test and "
            "generated motions are written as a viewer folder beside it (metrics.json -> metrics.view/; "
            "'motiongen view metrics.view/')."
        ),
    )
    p.add_argument("--model", default="motiongen/kimodo-smplx", help="model name or bundle folder (default the shipped one)")
    p.add_argument("--tasks", default=",".join(TASK_NAMES),
                   help=f"comma-separated tasks (default all: {','.join(TASK_NAMES)})")
    p.add_argument("--split", default="test", choices=("test", "val"), help="data split to evaluate on (default test)")
    p.add_argument("--replications", type=int, default=DEFAULTS["replications"],
                   help="t2m replications (default 20, as the protocol)")
    p.add_argument("-o", "--output", default="metrics.json", help="metrics JSON to write (default metrics.json)")
    p.add_argument("--evaluator", help="evaluator name or folder (default motiongen/evaluator-smplx)")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help="DDIM steps for every generation (default 10; the pipeline's own default is 25)")
    p.add_argument("--limit", type=int, help="at most N test items, windows and cases (>= 32; a quick slice)")
    p.add_argument("--mm-captions", type=int, default=DEFAULTS["mm_captions"],
                   help="multimodality: captions (default 32; the protocol's 100)")
    p.add_argument("--mm-repeats", type=int, default=DEFAULTS["mm_repeats"],
                   help="multimodality: motions per caption (default 10; the protocol's 30)")
    p.add_argument("--mm-replications", type=int, default=DEFAULTS["mm_replications"],
                   help="replications that also measure multimodality (default 1)")
    p.add_argument("--inbetween-windows", type=int, default=DEFAULTS["inbetween_windows"],
                   help="in-betweening test windows, drawn once (default 128)")
    p.add_argument("--constraint-cases", type=int, default=DEFAULTS["constraint_cases"],
                   help="constraint-following test windows (default 10)")
    p.add_argument("--constraint-frames", type=int, default=DEFAULTS["constraint_frames"],
                   help="frames per constraint case (default 150)")
    p.add_argument("--constraint-caption-coverage", type=float, default=DEFAULTS["constraint_caption_coverage"],
                   help="share of a constraint case's window its caption must describe, 0-1 (default 0.5; 0: any "
                        "window of a clip long enough, with its first caption)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="base seed (replication r uses seed + r)")
    p.add_argument("--dataset", help="built dataset folder (default the full build in the cache)")
    p.add_argument("--cache", help="cache folder (default $MOTIONGEN_CACHE or ~/.cache/motiongen)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-view", action="store_true",
                   help="do not write the viewer folder OUTPUT.view/ (test and generated motions for 'motiongen view')")
    p.set_defaults(func=func)
    return p
