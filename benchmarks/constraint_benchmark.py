"""Constraint benchmark: how well generation meets kinematic constraints taken from real held-out motion.

Cases are windows of ``--frames`` frames from clips of the dataset's **test** split, canonicalised,
prompted with a caption that describes the window (``--caption-coverage``), with constraints of five
types (``fullbody``, ``end_effector``, ``root2d_path``, ``root2d_waypoints``, ``mixed``) read off the
real window: the table of what each type constrains is in :mod:`motiongen.evaluation.constraints`,
which holds the case building and scoring (``motiongen eval --tasks constraints`` runs the same code).

Full-body and end-effector poses are built with the pipeline's builders from the window (their smooth
root is the pelvis (x, z), the builders' and KIMODO's default). Every case is generated with
``constrained_motion`` twice with the same seed, once with ``postprocess=False`` (raw) and once with
``True``; the same captions are also generated without constraints (``text_to_motion``, both settings)
as the baseline. Measured on the output joints, per constraint type and setting:

- **error** at constrained frames, cm: full body, the mean over all joints of the joint-position
  error (KIMODO's ``constraint_fullbody_keyframe``); end effectors, the chain base joint (wrist,
  ankle) position error; 2D root, the pelvis (x, z) to the target smooth root (KIMODO's
  ``constraint_root2d_err``) and the generated smooth-root feature to the target. Mean and 95th
  percentile over all constrained entries (frame, or frame x effector) of all cases.
- **foot skate** (:func:`motiongen.metrics.quality.foot_skate_from_height`, as
  ``benchmarks/prompt_checks.py``), with the real test windows as the reference row.
- **continuity**: the largest per-frame joint speed within 5 frames of any constrained frame, divided
  by the real window's largest per-frame joint speed over the same frames (1: no faster than the real
  motion there; a pop into or out of a constrained frame shows as a large ratio); mean and 95th
  percentile over cases.

The baseline rows score the unconstrained motion against the same targets and frames (what the
constraints add). Prints the tables and writes JSON (default
``benchmarks/results/constraint_benchmark.json``) that ``scripts/render_readme.py`` turns into the
README's *Kinematic controls* table.

**KIMODO's shipped examples** (run after the windows; ``--examples-only`` runs just them,
``--no-examples`` skips them): every SOMA example of the ``kimodo-assets`` archive
(``examples/kimodo-soma-rp/*``) that has a ``constraints.json`` is generated with its meta's
prompt(s), frame count (duration x 30), seed and ``--steps``, the pipeline's defaults otherwise,
with constraints from ``pipe.constraints_from_json`` (SOMA poses mapped onto the model's skeleton),
raw and post-processed, and without constraints (same prompt and seed). Scored per constraint type
(full body, end effector, 2D root) against the **mapped** targets at the constrained frames, as
above (full body: mean joint error; end effector: chain base; 2D root: pelvis (x, z) and smooth
root to the target). Continuity is measured against KIMODO's own generated motion of the example
(its ``motion.npz``, retargeted onto the model's skeleton), which is also scored as a reference
row. Written to ``benchmarks/results/constraint_examples.json`` (``--examples-output``), which
``scripts/render_readme.py`` renders as a table of its own.

    python benchmarks/constraint_benchmark.py [--model motiongen/kimodo-smplx] [--cases 40] [--frames 150]
                                              [--caption-coverage 0.5]
                                              [--steps 25] [--seed 0] [--output JSON] [--quick]
                                              [--examples-only | --no-examples] [--examples-dir DIR]
                                              [--examples-output JSON]

The test-window part's core (cases, scoring, summary: everything above the examples) lives in
:mod:`motiongen.evaluation.constraints`, which ``motiongen eval --tasks constraints`` runs too; this
script adds the machine header, the KIMODO examples and the CLI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from machine_info import machine_info

from motiongen.errors import InputError
from motiongen.evaluation.constraints import (  # noqa: F401  (re-exported: tests and callers use the script's names)
    CAPTION_COVERAGE,
    CHAIN_SETS,
    CONTINUITY_RADIUS,
    END_EFFECTORS,
    INTERVAL_FRAMES,
    METRICS,
    SETTINGS,
    TYPES,
    Case,
    build_cases,
    build_constraints,
    constrained_frames,
    constraint_errors,
    continuity,
    draw_frames,
    eligible_clips,
    evaluate_constraints,
    format_tables,
    generated_arrays,
    guidance_text,
    per_case_record,
    real_figures,
    run_case,
    score,
    stat_summary,
    summarise,
)
from motiongen.io.atomic import atomic_write_text
from motiongen.metrics.quality import foot_skate_from_height
from motiongen.motion.kimodo_features import KimodoFeatures

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "constraint_benchmark.json"


def _sample(out: Any) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions and smooth root (x, z) of an output's first sample (the examples score no contacts)."""
    return generated_arrays(out)[:2]

_stat = stat_summary


# ==================================================================================================
# KIMODO's shipped example constraint files
DEFAULT_EXAMPLES_OUT = Path(__file__).resolve().parent / "results" / "constraint_examples.json"
#: Where the SOMA examples sit inside the unpacked ``kimodo`` archive.
EXAMPLES_SUBDIR = "kimodo-assets/examples/kimodo-soma-rp"
#: Constraint types of the example files, as scored (every end-effector type is ``end_effector``).
EXAMPLE_TYPES = ("fullbody", "end_effector", "root2d")
#: Per type: error figures (the first is the type's main figure, checked against its bound).
EXAMPLE_METRICS = {
    "fullbody": ("joint_cm",),
    "end_effector": ("chain_base_cm",),
    "root2d": ("pelvis_xz_cm", "smooth_root_cm"),
}
#: Issue 4's bounds: mean error at the constrained frames (cm) per type, and continuity.
EXAMPLE_BOUNDS_CM = {"fullbody": 2.0, "end_effector": 2.0, "root2d": 3.0}
CONTINUITY_BOUND = 1.5
#: Generation settings of the examples: with constraints (raw, post-processed), without, and
#: KIMODO's own motion of the example retargeted onto the model's skeleton (the reference).
EXAMPLE_SETTINGS = ("raw", "postprocessed", "unconstrained_raw", "unconstrained_postprocessed", "reference")


@dataclass
class Example:
    """One shipped example: its meta, its constraints mapped onto the model's skeleton, and KIMODO's
    own motion of it retargeted there (the reference)."""

    name: str
    folder: Path
    prompts: list[str]
    frames_list: list[int]
    seed: int
    meta: dict[str, Any]
    constraints: list[Any]
    reference: np.ndarray  # [T, J, 3] KIMODO's motion.npz on the model's skeleton
    reference_smooth_xz: np.ndarray  # [T, 2] its smooth root (x, z)

    @property
    def num_frames(self) -> int:
        return int(sum(self.frames_list))


def example_type(constraint: Any) -> str:
    """The scored type of a constraint set: ``fullbody``, ``root2d`` or ``end_effector``."""
    return constraint.type if constraint.type in ("fullbody", "root2d") else "end_effector"


def seconds_to_frames(seconds: float, fps: float) -> int:
    """Frames of a meta duration (reference 9.2 item 9: the shipped metas convert exactly)."""
    frames = float(seconds) * fps
    if abs(frames - round(frames)) > 1e-6:
        raise ValueError(f"duration {seconds} s is not a whole number of frames at {fps:g} fps")
    return round(frames)


def example_dirs(root: str | Path) -> list[Path]:
    """The example folders under ``root`` that have a ``constraints.json``, in name order."""
    return sorted(d for d in Path(root).iterdir() if (d / "constraints.json").is_file() and (d / "meta.json").is_file())


def load_example(pipe: Any, folder: str | Path) -> Example:
    """An example folder (``meta.json``, ``constraints.json``, ``motion.npz``) for ``pipe``'s model.

    A multi-prompt meta has ``texts`` / ``durations`` lists, a single-prompt one ``text`` / ``duration``.
    """
    from motiongen.io.kimodo_npz import read_kimodo_npz
    from motiongen.retarget.registered import retarget_to

    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    if "texts" in meta:
        prompts, durations = list(meta["texts"]), list(meta["durations"])
    else:
        prompts, durations = [meta["text"]], [meta["duration"]]
    frames_list = [seconds_to_frames(d, pipe.fps) for d in durations]
    constraints = pipe.constraints_from_json(folder / "constraints.json")
    skeleton = pipe.bundle.skeleton
    reference = retarget_to(read_kimodo_npz(folder / "motion.npz"), skeleton.name)
    if reference.num_frames != sum(frames_list):
        raise ValueError(f"{folder.name}: motion.npz has {reference.num_frames} frames, the meta {sum(frames_list)}")
    feats = pipe.bundle.features
    encoded = feats.encode_batch([reference])[0]
    return Example(
        name=folder.name,
        folder=folder,
        prompts=prompts,
        frames_list=frames_list,
        seed=int(meta["seed"]),
        meta=meta,
        constraints=constraints,
        reference=reference.joint_positions(),
        reference_smooth_xz=np.asarray(encoded[:, [feats.smooth_root_pos.start, feats.smooth_root_pos.start + 2]], np.float64),
    )


def example_frames(example: Example, ctype: str) -> list[int]:
    """Every frame that the example's constraints of type ``ctype`` constrain."""
    frames: set[int] = set()
    for c in example.constraints:
        if example_type(c) == ctype:
            frames.update(int(f) for f in c.frame_indices)
    return sorted(frames)


def example_errors(
    constraints: Sequence[Any], positions: np.ndarray, smooth_xz: np.ndarray, features: KimodoFeatures
) -> dict[str, dict[str, np.ndarray]]:
    """Per type present: per-entry errors (cm) of a motion against the constraints' (mapped) targets.

    Full body: the mean over joints per constrained frame; end effector: the chain base (wrist, ankle;
    the pelvis for ``Hips``) per frame and effector; 2D root: the pelvis (x, z) and the smooth-root
    feature to the target per frame.
    """
    from motiongen.constraints.masks import end_effector_joints

    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for c in constraints:
        ctype = example_type(c)
        fr = np.asarray(c.frame_indices)
        entry = out.setdefault(ctype, {m: [] for m in EXAMPLE_METRICS[ctype]})
        if ctype == "root2d":
            target = np.asarray(c.smooth_root_2d)
            entry["pelvis_xz_cm"].append(100 * np.linalg.norm(positions[fr, 0][:, [0, 2]] - target, axis=-1))
            entry["smooth_root_cm"].append(100 * np.linalg.norm(smooth_xz[fr] - target, axis=-1))
            continue
        target = c.posed_joints
        if ctype == "fullbody":
            entry["joint_cm"].append(100 * np.linalg.norm(positions[fr] - target, axis=-1).mean(-1))
        else:
            for name in c.joint_names:
                j = end_effector_joints(features, name)[0]
                entry["chain_base_cm"].append(100 * np.linalg.norm(positions[fr, j] - target[:, j], axis=-1))
    return {t: {m: np.concatenate(v) for m, v in metrics.items()} for t, metrics in out.items()}


def _generate_example(pipe: Any, example: Example, steps: int, post: bool, constrained: bool, impute: float | None, cfg: Any) -> Any:
    kwargs: dict[str, Any] = {"seed": example.seed, "steps": steps, "postprocess": post}
    if constrained:
        kwargs.update(constraints=example.constraints, cfg=cfg, **({} if impute is None else {"impute": impute}))
        if len(example.prompts) == 1:
            return pipe.constrained_motion(example.prompts[0], example.num_frames, **kwargs)
        return pipe.multi_prompt(example.prompts, example.frames_list, **kwargs)
    if len(example.prompts) == 1:
        return pipe.text_to_motion(example.prompts[0], num_frames=example.num_frames, **kwargs)
    return pipe.multi_prompt(example.prompts, example.frames_list, **kwargs)


def run_example(
    pipe: Any,
    example: Example,
    steps: int,
    timings: dict[str, list[float]] | None = None,
    *,
    impute: float | None = None,
    cfg: Any = None,
) -> dict[str, Any]:
    """Generate ``example`` with its constraints (raw, post-processed) and without; score all and
    KIMODO's own motion (``reference``). Returns the JSON record of the example."""
    skeleton, fps, features = pipe.bundle.skeleton, pipe.fps, pipe.bundle.features
    timings = {} if timings is None else timings
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    raw_features = {}
    for setting, constrained, post in (
        ("raw", True, False),
        ("postprocessed", True, True),
        ("unconstrained_raw", False, False),
        ("unconstrained_postprocessed", False, True),
    ):
        start = time.perf_counter()
        out = _generate_example(pipe, example, steps, post, constrained, impute, cfg)
        timings.setdefault(setting, []).append(time.perf_counter() - start)
        samples[setting] = _sample(out)
        raw_features[setting] = out.features
    samples["reference"] = (example.reference, example.reference_smooth_xz)

    types: dict[str, Any] = {}
    scored = {setting: example_errors(example.constraints, *samples[setting], features) for setting in EXAMPLE_SETTINGS}
    for ctype in EXAMPLE_TYPES:
        frames = example_frames(example, ctype)
        if not frames:
            continue
        errors = {
            setting: {
                m: {"mean": float(v.mean()), "max": float(v.max()), "n": int(v.size)} for m, v in scored[setting][ctype].items()
            }
            for setting in EXAMPLE_SETTINGS
        }
        cont = {setting: continuity(samples[setting][0], example.reference, frames) for setting in EXAMPLE_SETTINGS}
        types[ctype] = {
            "constraints": [c.type for c in example.constraints if example_type(c) == ctype],
            "frames": frames,
            "errors": errors,
            "continuity": cont,
        }
    skate = {setting: foot_skate_from_height(samples[setting][0], skeleton, fps) for setting in EXAMPLE_SETTINGS}
    for ctype, entry in types.items():
        main = EXAMPLE_METRICS[ctype][0]
        entry["checks"] = {
            "error": entry["errors"]["postprocessed"][main]["mean"] < EXAMPLE_BOUNDS_CM[ctype],
            "continuity": entry["continuity"]["postprocessed"] <= CONTINUITY_BOUND,
            "foot_skate": skate["postprocessed"] <= skate["unconstrained_postprocessed"],
        }
        entry["within_bounds"] = all(entry["checks"].values())
    return {
        "name": example.name,
        "prompts": example.prompts,
        "frames_list": example.frames_list,
        "num_frames": example.num_frames,
        "seed": example.seed,
        "meta_diffusion_steps": example.meta.get("diffusion_steps"),
        "meta_cfg": example.meta.get("cfg"),
        "constraint_sets": [{"type": c.type, "frames": [int(f) for f in c.frame_indices]} for c in example.constraints],
        "raw_features_identical": bool(np.array_equal(raw_features["raw"], raw_features["postprocessed"])),
        "types": types,
        "foot_skate": skate,
    }


EXAMPLE_TYPE_LABELS = {"fullbody": "full body", "end_effector": "end effectors", "root2d": "2D root"}


def _frames_label(frames: Sequence[int], total: int) -> str:
    if len(frames) == total:
        return f"all {total}"
    return ", ".join(map(str, frames)) if len(frames) <= 4 else f"{len(frames)} frames"


def format_examples_table(records: Sequence[dict[str, Any]]) -> str:
    """One Markdown row per example and constraint type."""
    header = (
        "| example | constraints (frames) | error of | raw | post-processed | no constraints | KIMODO's motion | bound "
        "| continuity raw / post-processed | foot skate: ours / no constraints / KIMODO's | within bounds |"
    )
    lines = [header, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for rec in records:
        skate = rec["foot_skate"]
        for ctype, entry in rec["types"].items():
            main = EXAMPLE_METRICS[ctype][0]
            err = {s: entry["errors"][s][main]["mean"] for s in EXAMPLE_SETTINGS}
            kinds = sorted(set(entry["constraints"]))
            label = f"{EXAMPLE_TYPE_LABELS[ctype]}" + (f" ({', '.join(kinds)})" if ctype == "end_effector" else "")
            failed = [k for k, ok in entry["checks"].items() if not ok]
            lines.append(
                f"| {rec['name']} | {label} @ {_frames_label(entry['frames'], rec['num_frames'])} | "
                f"{'pelvis (x, z)' if ctype == 'root2d' else 'chain base' if ctype == 'end_effector' else 'joints (mean)'} | "
                f"{err['raw']:.1f} | {err['postprocessed']:.1f} | {err['unconstrained_postprocessed']:.1f} | "
                f"{err['reference']:.1f} | < {EXAMPLE_BOUNDS_CM[ctype]:g} | "
                f"{entry['continuity']['raw']:.2f} / {entry['continuity']['postprocessed']:.2f} | "
                f"{skate['postprocessed']:.3f} / {skate['unconstrained_postprocessed']:.3f} / {skate['reference']:.3f} | "
                f"{'yes' if not failed else 'no (' + ', '.join(failed) + ')'} |"
            )
    return "\n".join(lines)


def default_examples_dir() -> Path:
    """The SOMA examples of the ``kimodo`` archive (unpacked into the cache if needed)."""
    from motiongen.data.archives import unpacked

    return unpacked("kimodo") / EXAMPLES_SUBDIR


def run_examples(
    pipe: Any,
    folder: str | Path,
    steps: int,
    *,
    impute: float | None = None,
    cfg: Any = None,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Every example with a ``constraints.json`` under ``folder``: records and generation timings."""
    timings: dict[str, list[float]] = {}
    folders = example_dirs(folder)
    iterator: Any = folders
    if progress:
        try:
            from tqdm import tqdm

            iterator = tqdm(folders, desc="examples", unit="example")
        except ImportError:  # pragma: no cover
            pass
    records = [run_example(pipe, load_example(pipe, d), steps, timings, impute=impute, cfg=cfg) for d in iterator]
    return records, timings


# ==================================================================================================
def load_test_clips(root: str | None, split: str = "test") -> tuple[Any, Path]:
    """A split (no mirrored copies; the test split unless tuning on val) of the built dataset at
    ``root`` (default: the cache's)."""
    from motiongen.data.dataset import MotionDataset, dataset_dir

    folder = Path(root) if root else dataset_dir()
    return MotionDataset(root=folder, split=split, mirrored=False), folder


def run_windows(args: argparse.Namespace, pipe: Any) -> int:
    """The test-window part (:func:`motiongen.evaluation.constraints.evaluate_constraints`) with the
    machine header; writes ``args.output``."""
    wall = time.perf_counter()
    host = machine_info(str(pipe.device))  # load average before the work
    clips, folder = load_test_clips(args.dataset_root, args.split)
    try:
        evaluated = evaluate_constraints(
            pipe, clips, cases=args.cases, frames=args.frames, steps=args.steps, seed=args.seed,
            impute=args.impute, cfg=args.cfg_type, caption_coverage=args.caption_coverage, progress=True,
        )
    except InputError as error:
        if error.field != "frames" or eligible_clips(clips, args.frames, args.caption_coverage):
            raise
        print(error, file=sys.stderr)
        return 1
    # the committed JSON's settings order: the dataset after the split, `quick` after the guidance
    settings: dict[str, Any] = {}
    for key, value in evaluated["settings"].items():
        settings[key] = value
        if key == "split":
            settings["dataset"] = folder.name
        elif key == "cfg_unconstrained":
            settings["quick"] = bool(args.quick)
    summary = evaluated["summary"]
    result = {
        **result_header("constraint_benchmark", host, args.model, pipe),
        **evaluated,
        "settings": settings,
        "wall_seconds": time.perf_counter() - wall,
    }
    atomic_write_text(args.output, json.dumps(result, indent=1) + "\n")
    print(format_tables(summary, TYPES, args.split))
    print(
        f"\n{len(evaluated['per_case'])} {args.split} windows x {len(TYPES)} types, {args.frames} frames, {args.steps} steps; "
        f"raw features identical with and without post-processing: {evaluated['raw_features_identical']}; "
        f"{result['wall_seconds']:.0f} s; wrote {args.output}"
    )
    return 0


def result_header(name: str, host: dict[str, Any], model: str, pipe: Any) -> dict[str, Any]:
    """The fields every result JSON of this script starts with (``host``: machine_info before the work)."""
    return {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**host, "load_average_1m_end": round(os.getloadavg()[0], 2)},
        "model": model,
        "model_info": {k: pipe.bundle.info.get(k) for k in ("steps", "weights", "trained_with")},
    }


def examples_main(args: argparse.Namespace, pipe: Any) -> int:
    """The shipped-examples part; writes ``args.examples_output``."""
    from motiongen.pipelines.kimodo import DEFAULT_IMPUTE

    wall = time.perf_counter()
    host = machine_info(str(pipe.device))  # load average before the work
    folder = Path(args.examples_dir) if args.examples_dir else default_examples_dir()
    records, timings = run_examples(pipe, folder, args.steps, impute=args.impute, cfg=args.cfg_type)
    if not records:
        print(f"no example with a constraints.json under {folder}", file=sys.stderr)
        return 1
    result = {
        **result_header("constraint_benchmark --examples", host, args.model, pipe),
        "settings": {
            "examples": EXAMPLES_SUBDIR if not args.examples_dir else str(folder),
            "steps": args.steps,
            "cfg_constrained": args.cfg_type or guidance_text(pipe.default_cfg(constrained=True)),
            "cfg_unconstrained": guidance_text(pipe.default_cfg()),
            "impute": args.impute if args.impute is not None else DEFAULT_IMPUTE,
            "postprocess": "raw (postprocess=False) and post-processed (the default)",
            "constraints": "pipe.constraints_from_json (SOMA poses mapped onto the model's skeleton); errors against the mapped targets",
            "reference": "KIMODO's own generated motion of the example (motion.npz), retargeted onto the model's skeleton",
            "continuity_radius_frames": CONTINUITY_RADIUS,
            "bounds_cm": EXAMPLE_BOUNDS_CM,
            "continuity_bound": CONTINUITY_BOUND,
            "foot_skate_bound": "post-processed no worse than the same prompt and seed without constraints (post-processed)",
            "quick": bool(args.quick),
        },
        "examples": records,
        "all_within_bounds": all(e["within_bounds"] for r in records for e in r["types"].values()),
        "seconds_per_generation": {k: _stat(v) | {"total": float(np.sum(v))} for k, v in timings.items()},
        "wall_seconds": time.perf_counter() - wall,
    }
    atomic_write_text(args.examples_output, json.dumps(result, indent=1) + "\n")
    print(format_examples_table(records))
    print(f"\n{len(records)} KIMODO examples, {args.steps} steps; {result['wall_seconds']:.0f} s; wrote {args.examples_output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="motiongen/kimodo-smplx")
    parser.add_argument("--cases", type=int, default=40, help="cases (test windows) per constraint type")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--caption-coverage", type=float, default=CAPTION_COVERAGE,
                        help=f"share of a window its caption must describe, 0-1 (default {CAPTION_COVERAGE:g}; 0: any window)")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--dataset-root", default=None, help="built dataset folder (default: the cache's full build)")
    parser.add_argument("--split", default="test", choices=("test", "val"),
                        help="where the windows come from: test (reported) or val (for choosing settings)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="a tiny run: 2 cases, 60 frames, 5 steps")
    parser.add_argument(
        "--impute", type=float, default=None, help="share of sampling steps with smooth imputation (default: the pipeline's)"
    )
    parser.add_argument("--cfg-type", default=None, help="guidance for constrained runs (default: the pipeline's)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--examples-only", action="store_true", help="run only KIMODO's shipped examples")
    which.add_argument("--no-examples", action="store_true", help="run only the test windows")
    parser.add_argument("--examples-dir", default=None, help=f"example folders (default: the kimodo archive's {EXAMPLES_SUBDIR})")
    parser.add_argument("--examples-output", type=Path, default=DEFAULT_EXAMPLES_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.frames, args.steps = 2, 60, 5
    torch.set_num_threads(args.threads)

    from motiongen.pipelines.kimodo import KIMODOPipeline

    pipe = KIMODOPipeline.from_pretrained(args.model)
    if not args.examples_only:
        code = run_windows(args, pipe)
        if code:
            return code
    if not args.no_examples:
        return examples_main(args, pipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
