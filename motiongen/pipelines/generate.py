"""``motiongen generate``: text (and kinematic controls) to motion files from the command line.

    motiongen generate "A person walks forward." --duration 5 -o walk.npz
    motiongen generate "A person walks." "A person sits down." --frames 120 90 -o walk_sit.bvh
    motiongen generate "A person jumps." --num-samples 4 --seed 1 -o jumps/   # jumps/sample_00.npz + .bvh ...

Kinematic control (KIMODO's constraints, reference ``kimodo.md`` 4):

    # a KIMODO constraints.json on the whole timeline (one prompt or several)
    motiongen generate "A person walks and picks something up." --frames 150 --constraints constraints.json -o pick.npz
    # in-betweening: --frames new frames from START's last pose to END's first pose
    motiongen generate "A person jumps." --inbetween start.npz end.bvh --frames 60 -o jump.npz
    # START + a --frames transition + END (END is turned and moved to continue START)
    motiongen generate "A person walks to a chair." --stitch walk.npz sit.npz --frames 40 -o walk_sit.npz
    # a --frames lead-in that reaches MOTION's first pose, then MOTION
    motiongen generate "A person runs up." --prepend jump.npz --frames 45 -o run_jump.npz
    # follow a dense floor path: one "x,z" row per frame (CSV), or a JSON array of [x, z] pairs
    motiongen generate "A person walks along a curve." --path path.csv -o curve.npz
    # pass the smooth root through floor points (x, z in metres) at frames; the start is added at frame 0
    motiongen generate "A person walks." --frames 120 --waypoints 0.5,1@60 1.5,1.2@119 -o walk.npz
    motiongen generate "A person walks." --frames 120 --waypoints=-0.5,1@60 "--waypoints=-1.5,1.2@119" -o walk.npz  # x < 0

Several prompts make one multi-prompt motion (one segment per prompt); the task options
(``--inbetween``, ``--stitch``, ``--prepend``, ``--path``, ``--waypoints``) take exactly one prompt,
exclude each other and ``--constraints``. What ``--frames`` / ``--duration`` mean depends on the task:
the generated length (plain, ``--constraints``, ``--inbetween``, ``--waypoints``; default 150 frames or
the model's maximum), the path's row count (``--path``; default that count), the transition
(``--stitch``) or the lead-in (``--prepend``; both default 30 frames).

Input motions (``.bvh`` or KIMODO ``.npz``) on another registered human rig (``smplx22``, ``soma30``,
``soma77``, ``bandai22``, ``cmu31``, ``hdm05``) are retargeted onto the model's skeleton
(:func:`motiongen.retarget.human.retarget`, feet on the floor) and resampled to its frame rate;
motions on a rig without a joint map (e.g. G1) are refused: retarget them first. Poses in a
``constraints.json`` stored on SOMA's 30 or 77 joints are mapped likewise
(:func:`motiongen.constraints.sets.from_records`).

Post-processing (foot-skate clean-up and constraint IK, :func:`motiongen.postprocess.correct_motion`)
is on by default: ``--no-postprocess`` writes the raw model output, ``--no-root-from-feet`` keeps the
generated pace (the pelvis is not moved with the planted feet; see ``KIMODOPipeline``), ``--root-margin M``
(metres) is how far the pelvis may stay from a 2D-root target. ``--impute SHARE`` sets the share of denoising
steps (noisiest first) on which the constrained features are imputed smoothly into the estimate
(default 1: every step; 0: the model is only conditioned on them, as KIMODO).

``--skeleton {smplx22,soma30,soma77,g1}`` writes the result on another output rig (retargeted after
generation and post-processing; the G1 by IK within its joint limits, and ``-o x.csv`` then writes
MuJoCo qpos rows, a folder gets ``sample_00.csv`` too):

    motiongen generate "A person waves with the right hand." --skeleton g1 -o wave.csv

``--model motiongen/smog-smplx`` (or any SMoG folder) generates with the SMoG autoencoder: one
prompt, no constraints or tasks, deterministic (``--seed``, ``--steps`` and the guidance options
have no effect on it), default length its 60-frame training window.

Batch generation (:mod:`motiongen.pipelines.batch`): every case of a JSONL file into a folder,
resumable, the cases shared among ``torchrun`` ranks; the options above are the cases' defaults
(one ``--frames`` / ``--duration`` value; ``--seed`` is the base of the seeds of cases without one),
PROMPT, ``--constraints`` and the task options are refused (constraints go in the file):

    motiongen generate --batch cases.jsonl -o out/ --steps 50
    torchrun --nproc_per_node=2 -m motiongen.cli generate --batch cases.jsonl -o out/

Numbers are parsed here rather than by argparse so that every mistake is one
``motiongen: error: ...`` line (exit 2), and everything that can be checked before the model runs
is checked first (files parsed, motions read, frame numbers checked when ``--frames`` is given);
nothing is written unless generation succeeds.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError

DEFAULT_FRAMES = 150  # 5 s at 30 fps, KIMODO's default duration
DEFAULT_STEPS = 25
#: Default transition (``--stitch``) and lead-in (``--prepend``) length in frames (1 s).
DEFAULT_TASK_FRAMES = 30
#: The task options; they exclude each other and ``--constraints``.
TASK_OPTIONS = ("--inbetween", "--stitch", "--prepend", "--path", "--waypoints")
#: Motion files the task options read.
MOTION_SUFFIXES = (".bvh", ".npz")
#: Skeletons ``--skeleton`` writes (KIMODO's output rigs).
OUTPUT_SKELETONS = ("smplx22", "soma30", "soma77", "g1")


def add_generate_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``generate`` subcommand to ``sub`` (an ``add_subparsers`` result)."""
    from motiongen.pipelines import DEFAULT_MODEL

    p = sub.add_parser(
        "generate",
        help="generate motion from text (and kinematic constraints) with a KIMODO model",
        description="Generate motion from text. Several prompts make one motion that goes through them in turn. "
        "Constraints (--constraints) or one task (--inbetween, --stitch, --prepend, --path, --waypoints) control it.",
    )
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="motion description(s) (none with --batch)")
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--frames", nargs="+", metavar="N",
        help=f"frames per prompt at 30 fps (default {DEFAULT_FRAMES}); with --stitch the transition, with --prepend "
        f"the lead-in (default {DEFAULT_TASK_FRAMES}); with --path the path's row count",
    )
    length.add_argument("--duration", nargs="+", metavar="SEC", help="seconds per prompt (frames = round(SEC * 30))")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name or folder (default {DEFAULT_MODEL}; motiongen/smog-smplx: the deterministic "
                   "SMoG autoencoder, one prompt, no controls)")
    p.add_argument("--num-samples", default="1", metavar="K", help="motions to generate (default 1)")
    p.add_argument("--seed", metavar="S", help="random seed (default: random, printed)")
    p.add_argument("--steps", default=str(DEFAULT_STEPS), metavar="N", help=f"DDIM steps (default {DEFAULT_STEPS})")
    p.add_argument(
        "--cfg-type", metavar="TYPE",
        help="guidance: nocfg, regular or separated (default regular; separated 2, 2 with constraints)",
    )
    p.add_argument(
        "--cfg-weight", nargs="+", metavar="W", help="guidance weight(s): 1 for regular, 2 (text, constraint) for separated"
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "--skeleton", choices=OUTPUT_SKELETONS, metavar="SKELETON",
        help="write the motion on this skeleton: " + ", ".join(OUTPUT_SKELETONS) + " (default: the model's own); "
        "human rigs are retargeted with their joint rotations, the Unitree G1 by IK within its joint limits "
        "(then .csv writes MuJoCo qpos rows); needs the data archives ($MOTIONGEN_DATA or ../shared/data)",
    )
    # PROMPT and -o are checked in generate_command (PROMPT is optional with --batch), with argparse's message
    p.add_argument(
        "-o", "--output", metavar="OUT",
        help="output .npz (KIMODO layout), .bvh, or a folder (both per sample, plus the viewer's _manifest.json: "
        "motiongen view FOLDER); several samples of x.npz go to x/x_00.npz, ...",
    )
    batch = p.add_argument_group("batch generation")
    batch.add_argument(
        "--batch", metavar="FILE.jsonl",
        help="generate every case of a JSONL file (one {\"id\", \"prompt\" | \"prompts\", \"frames\", \"seed\", "
        "\"constraints\", \"num_samples\", \"steps\"} object per line; the options here are the defaults) into the "
        "folder -o; resumable (done cases are skipped); under torchrun the cases are shared among the ranks",
    )
    batch.add_argument(
        "--progress-all-ranks", action="store_true",
        help="with --batch under torchrun: a progress bar on every rank (default: rank 0 only)",
    )
    control = p.add_argument_group("kinematic control")
    control.add_argument(
        "--constraints", metavar="FILE",
        help="KIMODO constraints.json on the whole timeline (frame numbers across all prompts)",
    )
    control.add_argument(
        "--no-postprocess", dest="postprocess", action="store_false",
        help="write the raw model output (default: foot-skate clean-up and constraint IK)",
    )
    control.add_argument(
        "--no-root-from-feet", dest="root_from_feet", action="store_false",
        help="post-process without moving the pelvis with the planted feet (keeps the generated pace; "
        "feet the pelvis outruns may slide). Only motions whose pelvis no constraint dictates are moved.",
    )
    control.add_argument(
        "--root-margin", metavar="M", help="metres the pelvis may stay from a 2D-root target after post-processing (default 0.02)"
    )
    control.add_argument(
        "--impute", metavar="SHARE",
        help="share of denoising steps that impute the constraints smoothly (default 1; 0 = conditioning only)",
    )
    tasks = control.add_mutually_exclusive_group()
    tasks.add_argument(
        "--inbetween", nargs=2, metavar=("START", "END"),
        help="generate --frames frames from START's last pose to END's first pose (.bvh or .npz)",
    )
    tasks.add_argument(
        "--stitch", nargs=2, metavar=("FIRST", "SECOND"), help="FIRST, a --frames transition, then SECOND (.bvh or .npz)"
    )
    tasks.add_argument("--prepend", metavar="MOTION", help="a --frames lead-in that reaches MOTION, then MOTION")
    tasks.add_argument("--path", metavar="FILE", help="follow a dense floor path: CSV 'x,z' rows or a JSON [[x, z], ...]")
    tasks.add_argument(
        "--waypoints", nargs="+", action="extend", metavar="X,Z@FRAME",
        help="pass the smooth root through (x, z) at FRAME; separate several with spaces or ';' "
        "(repeat the option as --waypoints=-1,2@30 for a negative x)",
    )
    p.set_defaults(func=generate_command, generate_parser=p)

    def one_line_error(message: str) -> None:
        # argparse would print the whole usage first; a user error is one line here, as elsewhere
        if "--waypoints" in message and "expected" in message:
            message += "; a waypoint with a negative x is written --waypoints=-1,2@30"
        p.exit(2, f"motiongen: error: generate: {message} (see motiongen generate --help)\n")

    p.error = one_line_error  # type: ignore[method-assign]
    return p


# --------------------------------------------------------------------------------------------------
def _int(text: str, field: str, low: int, high: int | None = None) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"must be an integer {allowed}, got '{text}'", field=field)
    return value


def _float(text: str, field: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise InputError(f"must be a number, got '{text}'", field=field) from None
    if not math.isfinite(value):
        raise InputError(f"must be a finite number, got '{text}'", field=field)
    return value


def _per_prompt(values: Sequence[Any], count: int, field: str) -> list[Any]:
    if len(values) == 1:
        return list(values) * count
    if len(values) != count:
        raise InputError(f"give 1 value or one per prompt ({count}), got {len(values)}", field=field)
    return list(values)


def parse_waypoints(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(points [K, 2], frames [K])`` from ``X,Z@FRAME`` items (several per value, split by spaces or ``;``)."""
    items = [item for value in values for item in re.split(r"[;\s]+", value.strip()) if item]
    if not items:
        raise InputError("give at least one waypoint X,Z@FRAME (e.g. 1.5,2@60)", field="--waypoints")
    points, frames = [], []
    for item in items:
        match = re.fullmatch(r"([^,@]+),([^,@]+)@([^,@]+)", item)
        if match is None:
            raise InputError(f"'{item}' is not X,Z@FRAME (metres, metres, frame number; e.g. 1.5,2@60)", field="--waypoints")
        points.append([_float(match[1], "--waypoints"), _float(match[2], "--waypoints")])
        frames.append(_int(match[3], "--waypoints", 0))
    seen: dict[int, str] = {}
    for item, frame in zip(items, frames):
        if frame in seen:
            raise InputError(f"frame {frame} has two waypoints ('{seen[frame]}' and '{item}')", field="--waypoints")
        seen[frame] = item
    return np.asarray(points, dtype=np.float64), np.asarray(frames, dtype=np.int64)


def _read_text(path: Path, field: str) -> str:
    if not path.is_file():
        raise InputError("file not found", path=path, field=field)
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path, field=field) from None


def read_path_file(path: str | Path) -> np.ndarray:
    """A dense floor path ``[T, 2]`` (x, z metres, one row per frame) from a CSV or JSON file.

    CSV (any suffix but ``.json``): one ``x,z`` row per line (commas or whitespace); blank lines and
    ``#`` comments are skipped, and a first line without numbers (a header such as ``x,z``) too.
    JSON: an array of ``[x, z]`` pairs. At least 2 rows; every number finite.
    """
    path = Path(path)
    field = "--path"
    text = _read_text(path, field)
    rows: list[list[float]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
        except (ValueError, RecursionError) as exc:
            raise InputError(f"malformed JSON: {exc}", path=path) from None
        if not isinstance(data, list):
            raise InputError(f"a path file is a JSON array of [x, z] pairs, got {type(data).__name__}", path=path, field=field)
        for k, row in enumerate(data):
            ok = isinstance(row, list) and len(row) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in row
            )
            if not ok or not all(math.isfinite(v) for v in row):
                raise InputError(f"row {k} is {json.dumps(row)[:40]}; expected a pair of finite numbers [x, z]", path=path, field=field)
            rows.append([float(v) for v in row])
    else:
        first = True
        for number, line in enumerate(text.splitlines(), start=1):
            content = line.split("#", 1)[0].strip()
            if not content:
                continue
            cells = [c for c in re.split(r"[,;\s]+", content) if c]
            if first and not any(ch.isdigit() for ch in content):
                first = False
                continue  # a header line
            first = False
            try:
                values = [float(c) for c in cells]
            except ValueError:
                values = []
            if len(values) != 2 or not all(math.isfinite(v) for v in values):
                raise InputError(f"'{content[:40]}' is not a row 'x,z' of two finite numbers", path=path, line=number, field=field)
            rows.append(values)
    if len(rows) < 2:
        raise InputError(f"has {len(rows)} rows; a path needs at least 2 (one x,z row per frame)", path=path, field=field)
    return np.asarray(rows, dtype=np.float64)


def _read_motion(text: str, field: str) -> Any:
    """A Motion from a ``.bvh`` or KIMODO ``.npz`` file (errors name the file and the option)."""
    from motiongen.io.formats import load_motion

    path = Path(text)
    if path.suffix.lower() not in MOTION_SUFFIXES:
        raise InputError(
            f"unsupported motion format '{path.suffix}'; give {' or '.join(MOTION_SUFFIXES)}", path=path, field=field
        )
    return load_motion(path)


def on_model_rig(motion: Any, skeleton: Any, fps: float, path: str, field: str) -> Any:
    """``motion`` on the model's ``skeleton`` at ``fps``: a rig with a joint map is retargeted
    (feet on the floor), another rig is refused; a different frame rate is resampled."""
    from motiongen.motion.motion import Motion

    if motion.skeleton != skeleton:
        from motiongen.retarget.human import identify_rig, retarget
        from motiongen.skeleton.registry import calibration_pose

        source = motion.skeleton
        same_rig = source.name == skeleton.name and source.joint_names == skeleton.joint_names and source.parents == skeleton.parents
        if same_rig and np.allclose(source.offsets, skeleton.offsets, atol=1e-4):
            # the model's own rig, offsets rounded by a file format (BVH stores centimetres as text)
            motion = Motion(
                local_rotations=motion.local_rotations,
                root_translation=motion.root_translation,
                fps=motion.fps,
                skeleton=skeleton,
                foot_contacts=motion.foot_contacts,
            )
        else:
            rig = identify_rig(source)
            if rig is None or identify_rig(skeleton) is None:
                raise InputError(
                    f"the motion is on skeleton '{source.name}' ({source.num_joints} joints), which has no joint map to "
                    f"the model's '{skeleton.name}' ({skeleton.num_joints} joints); retarget it first "
                    f"(motiongen convert FILE OUT --to {skeleton.name}, or a joint map)",
                    path=path,
                    field=field,
                )
            motion = retarget(motion, skeleton, calibration=calibration_pose(rig))
    if abs(motion.fps - fps) > 1e-6:
        motion = motion.resample(fps)
    if motion.num_frames < 1:
        raise InputError("has no frames", path=path, field=field)
    return motion


def _task(args: argparse.Namespace) -> str | None:
    for option in TASK_OPTIONS:
        if getattr(args, option[2:]) is not None:
            return option
    return None


def _check_frames_in_timeline(records: Any, waypoint_frames: Any, total: int, constraints_path: str | None) -> None:
    """Constraint and waypoint frame numbers against the generated length ``total``."""
    from motiongen.io.constraints_json import validate_constraint_record

    for i, record in enumerate(records or ()):
        validate_constraint_record(record, where=f"[{i}]", path=constraints_path, num_frames=total)
    if waypoint_frames is not None:
        late = waypoint_frames[waypoint_frames >= total]
        if late.size:
            raise InputError(
                f"frame {int(late[0])} is past the end of the {total}-frame motion; frames must be in [0, {total - 1}]",
                field="--waypoints",
            )


def sampling_options(args: argparse.Namespace) -> tuple[Any, float | None, float | None]:
    """``(cfg, root_margin, impute)`` from ``--cfg-type/--cfg-weight``, ``--root-margin`` and ``--impute``,
    checked; ``cfg`` is None (the pipeline's default guidance) when neither guidance option is given."""
    from motiongen.pipelines.kimodo import resolve_cfg

    weights = None if args.cfg_weight is None else [_float(w, "--cfg-weight") for w in args.cfg_weight]
    if weights is not None and len(weights) > 2:
        raise InputError(f"give 1 or 2 weights, got {len(weights)}", field="--cfg-weight")
    cfg = resolve_cfg(None, args.cfg_type, weights) if args.cfg_type is not None or weights is not None else None
    root_margin = None
    if args.root_margin is not None:
        root_margin = _float(args.root_margin, "--root-margin")
        if root_margin < 0:
            raise InputError(f"must be a distance >= 0 in metres, got '{args.root_margin}'", field="--root-margin")
    impute = None
    if args.impute is not None:
        impute = _float(args.impute, "--impute")
        if not 0.0 <= impute <= 1.0:
            raise InputError(f"must be a share of steps in [0, 1], got '{args.impute}'", field="--impute")
    return cfg, root_margin, impute


def generate_command(args: argparse.Namespace) -> int:
    """Run ``motiongen generate`` (see the module docstring); returns the exit status."""
    from motiongen.pipelines.checks import MAX_SEED
    from motiongen.pipelines.kimodo import check_device, transition_length
    from motiongen.pipelines.output import check_writable, output_paths

    missing = [name for name, absent in (("PROMPT", not args.prompts and args.batch is None),
                                          ("-o/--output", args.output is None)) if absent]
    if missing:
        parser = getattr(args, "generate_parser", None)
        message = f"the following arguments are required: {', '.join(missing)}"
        if parser is None:
            raise InputError(message, field=missing[0])
        parser.error(message)
    if args.batch is not None:
        return batch_command(args)
    prompts = list(args.prompts)
    for k, prompt in enumerate(prompts):
        if not any(ch.isalnum() for ch in prompt):
            raise InputError(f"prompt {k + 1} is empty ({prompt!r}); describe the motion in words", field="PROMPT")
    task = _task(args)
    if task is not None and len(prompts) != 1:
        raise InputError(f"{task} takes one prompt, got {len(prompts)}", field="PROMPT")
    if task is not None and args.constraints is not None:
        raise InputError(f"--constraints cannot be combined with {task}, which builds its own constraints", field="--constraints")
    num_samples = _int(args.num_samples, "--num-samples", 1)
    seed = None if args.seed is None else _int(args.seed, "--seed", 0, MAX_SEED)
    steps = _int(args.steps, "--steps", 1)
    cfg, root_margin, impute = sampling_options(args)
    if impute is not None and task is None and args.constraints is None:
        raise InputError("has no effect without constraints (--constraints or a task option)", field="--impute")
    frames: list[int] | None = None
    seconds: list[float] | None = None
    if args.frames is not None:
        frames = _per_prompt([_int(f, "--frames", 1) for f in args.frames], len(prompts), "--frames")
    elif args.duration is not None:
        seconds = _per_prompt([_float(s, "--duration") for s in args.duration], len(prompts), "--duration")
        for sec in seconds:
            if sec <= 0:
                raise InputError(f"must be a positive number of seconds, got {sec:g}", field="--duration")
    length_field = "--frames" if seconds is None else "--duration"

    # files: parsed and read before the model loads
    records = None
    if args.constraints is not None:
        from motiongen.io.constraints_json import read_constraints_json

        records = read_constraints_json(args.constraints)
    waypoints = waypoint_frames = path_rows = None
    motions: dict[str, Any] = {}
    if task == "--waypoints":
        waypoints, waypoint_frames = parse_waypoints(args.waypoints)
    elif task == "--path":
        path_rows = read_path_file(args.path)
        if frames is not None and frames[0] != len(path_rows):
            raise InputError(
                f"{frames[0]} frames for a path of {len(path_rows)} rows; a path gives one row per frame "
                "(leave --frames out)",
                field="--frames",
            )
    elif task in ("--inbetween", "--stitch"):
        names = getattr(args, task[2:])
        motions = {name: _read_motion(name, task) for name in names}
    elif task == "--prepend":
        motions = {args.prepend: _read_motion(args.prepend, task)}
    if frames is not None and task == "--inbetween" and frames[0] < 2:
        raise InputError(f"in-betweening needs at least 2 frames (the start and the end pose), got {frames[0]}", field="--frames")
    if frames is not None and task not in ("--stitch", "--prepend"):
        _check_frames_in_timeline(records, waypoint_frames, sum(frames), args.constraints)
    device = check_device(args.device)
    output_skeleton = None
    if args.skeleton is not None:
        from motiongen.skeleton.registry import get_skeleton

        output_skeleton = get_skeleton(args.skeleton)
    targets = output_paths(args.output, num_samples, output_skeleton)
    check_writable(targets)

    from motiongen.pipelines.loading import load_pipeline
    from motiongen.pipelines.smog import SMoGPipeline

    pipe = load_pipeline(args.model, device=device, root_from_feet=args.root_from_feet)
    deterministic = isinstance(pipe, SMoGPipeline)
    if deterministic and (task is not None or records is not None or len(prompts) > 1):
        what = task or ("--constraints" if records is not None else "several prompts")
        raise InputError(f"the SMoG model generates from one prompt without kinematic controls; {what} needs a "
                         "KIMODO model (the default --model)", field="--model")
    if seconds is not None:
        frames = [max(1, round(sec * pipe.fps)) for sec in seconds]
    if frames is None:
        if task == "--path":
            frames = [len(path_rows)]
        elif task in ("--stitch", "--prepend"):
            frames = [DEFAULT_TASK_FRAMES]
        else:
            default = pipe.default_frames if deterministic else DEFAULT_FRAMES
            frames = [min(default, pipe.max_frames)] * len(prompts)
    if task == "--path" and seconds is not None and frames[0] != len(path_rows):
        raise InputError(
            f"{seconds[0]:g} s ({frames[0]} frames) for a path of {len(path_rows)} rows; a path gives one row per frame "
            "(leave --duration out)",
            field="--duration",
        )
    # frames per pass: the task's context poses come on top of --frames (stitch: 5 at each end,
    # prepend: 1; the defaults of KIMODOPipeline.stitch / prepend)
    extra = {"--stitch": 10, "--prepend": 1}.get(task or "", 0)
    what_frames = {"--stitch": "transition frames", "--prepend": "lead-in frames", "--path": "path rows"}.get(task or "", "frames")
    for k, n in enumerate(frames):
        if n + extra > pipe.max_frames:
            what = f"{n} {what_frames}" if seconds is None else f"{seconds[k]:g} s ({n} {what_frames})"
            plus = f" plus {extra} context frame{'s' if extra > 1 else ''}" if extra else ""
            raise InputError(
                f"{what}{plus} for prompt {k + 1}; this model generates at most {pipe.max_frames} frames "
                f"({round(pipe.max_frames / pipe.fps, 2):g} s) per prompt"
                + (f", so at most {pipe.max_frames - extra} {what_frames}" if extra else ""),
                field=length_field if args.frames is not None or seconds is not None else (task or "--frames"),
            )
    # several prompts: prompt k > 1 is generated together with the last L frames before it
    for k in range(1, len(frames)):
        ell = transition_length(frames[k - 1])
        if ell > sum(frames[:k]):
            raise InputError(
                f"prompt {k + 1} regenerates the last {ell} frames before it, but prompts 1..{k} have only "
                f"{sum(frames[:k])}; make them longer",
                field=length_field,
            )
        if frames[k] + ell > pipe.max_frames:
            raise InputError(
                f"prompt {k + 1}: {frames[k]} frames plus the {ell}-frame transition exceed the model's "
                f"{pipe.max_frames} frames per pass; at most {pipe.max_frames - ell} frames for this prompt",
                field=length_field,
            )
    if task == "--inbetween" and frames[0] < 2:
        raise InputError(f"in-betweening needs at least 2 frames (the start and the end pose), got {frames[0]}", field=length_field)
    if task not in ("--stitch", "--prepend"):
        _check_frames_in_timeline(records, waypoint_frames, sum(frames), args.constraints)
    skeleton = pipe.skeleton if deterministic else pipe.bundle.skeleton
    motions = {name: on_model_rig(m, skeleton, pipe.fps, name, task or "") for name, m in motions.items()}

    options: dict[str, Any] = {
        "num_samples": num_samples, "seed": seed, "steps": steps, "cfg": cfg, "postprocess": args.postprocess
    }
    if root_margin is not None:
        options["root_margin"] = root_margin
    prompt = prompts[0]
    constraints: list[Any] = []
    if task is None and records is None:
        if len(prompts) == 1:
            out = pipe.text_to_motion(prompt, num_frames=frames[0], **options)
        else:
            out = pipe.multi_prompt(prompts, frames, **options)
    else:
        if impute is not None:
            options["impute"] = impute
        if records is not None:
            from motiongen.constraints.sets import from_records

            try:
                constraints = from_records(records, skeleton)
            except InputError as exc:
                raise InputError(str(exc), path=args.constraints) from None
            out = pipe.multi_prompt(prompts, frames, constraints=constraints, **options)
        elif task == "--inbetween":
            start, end = (motions[name] for name in args.inbetween)
            out = pipe.inbetween(prompt, start, end, frames[0], **options)
        elif task == "--stitch":
            first, second = (motions[name] for name in args.stitch)
            out = pipe.stitch(first, second, transition_frames=frames[0], prompt=prompt, **options)
        elif task == "--prepend":
            out = pipe.prepend(prompt, motions[args.prepend], frames[0], **options)
        elif task == "--path":
            out = pipe.follow_path(prompt, path_rows, **options)
        else:
            out = pipe.through_waypoints(prompt, waypoints, waypoint_frames, frames[0], **options)
    if output_skeleton is not None and output_skeleton != out.skeleton:
        out = on_output_skeleton(out, args.skeleton)
    written = out.save(args.output)
    from motiongen.pipelines.output import FILE_SUFFIXES

    if Path(args.output).suffix.lower() not in FILE_SUFFIXES:  # a folder: also the viewer's manifest
        from motiongen.viz.folder import write_output_manifest

        given = constraints if records is not None else None
        viewer_task, viewer_constraints = _viewer_condition(
            task, args, out, pipe, motions, given, path_rows, waypoints, waypoint_frames, frames, len(prompts)
        )
        write_output_manifest(args.output, out, written, task=viewer_task, constraints=viewer_constraints)
    how = "deterministic, no seed" if deterministic else f"seed {out.info['seed']}"
    for path in written:
        print(f"wrote {path} ({out.num_frames} frames at {out.fps:g} fps, {how})")
    return 0


def batch_command(args: argparse.Namespace) -> int:
    """Run ``motiongen generate --batch FILE.jsonl -o DIR`` (:mod:`motiongen.pipelines.batch`): the
    command's options are every case's defaults; returns the exit status."""
    from motiongen.pipelines.batch import (
        BatchOptions,
        pipeline_fingerprint,
        read_batch_file,
        run_batch,
        shard_from_env,
    )
    from motiongen.pipelines.checks import MAX_SEED
    from motiongen.pipelines.kimodo import check_device
    from motiongen.pipelines.output import FILE_SUFFIXES

    if args.prompts:
        raise InputError("give the prompts in the batch file, not on the command line, with --batch", field="PROMPT")
    given = [option for option in TASK_OPTIONS if getattr(args, option[2:]) is not None]
    if args.constraints is not None:
        given.insert(0, "--constraints")
    if given:
        raise InputError(f"{given[0]} cannot be combined with --batch; give a case's constraints in the batch file "
                         "(\"constraints\": \"file.json\")", field=given[0])
    output = Path(args.output)
    if output.suffix.lower() in FILE_SUFFIXES or (output.exists() and not output.is_dir()):
        raise InputError("--batch writes a folder (OUT/<id>.npz, .bvh, the viewer's manifest); give a folder",
                         path=output, field="output")
    frames = seconds = None
    if args.frames is not None or args.duration is not None:
        values = args.frames if args.frames is not None else args.duration
        field = "--frames" if args.frames is not None else "--duration"
        if len(values) != 1:
            raise InputError(f"with --batch give one default length (per prompt), got {len(values)}; per-case lengths "
                             "go in the batch file (\"frames\")", field=field)
        if args.frames is not None:
            frames = _int(values[0], field, 1)
        else:
            seconds = _float(values[0], field)
            if seconds <= 0:
                raise InputError(f"must be a positive number of seconds, got {seconds:g}", field=field)
    cfg, root_margin, impute = sampling_options(args)
    num_samples = _int(args.num_samples, "--num-samples", 1)
    base_seed = 0 if args.seed is None else _int(args.seed, "--seed", 0, MAX_SEED)
    steps = _int(args.steps, "--steps", 1)
    cases = read_batch_file(args.batch)  # every line checked before the model loads
    rank, world = shard_from_env()
    device = check_device(args.device)
    if device.type == "cuda" and device.index is None and world > 1:
        import os

        import torch

        # one GPU per rank on a node, as the trainers place them
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        device = check_device(f"cuda:{local_rank % max(1, torch.cuda.device_count())}")
    if args.skeleton is not None:
        from motiongen.skeleton.registry import get_skeleton

        get_skeleton(args.skeleton)  # the rig's assets are there before any work

    from motiongen.pipelines.loading import load_pipeline

    pipe = load_pipeline(args.model, device=device, root_from_feet=args.root_from_feet)
    if seconds is not None:
        frames = max(1, round(seconds * pipe.fps))
    options = BatchOptions(frames=frames, seed=base_seed, num_samples=num_samples, steps=steps, cfg=cfg,
                           postprocess=args.postprocess, root_margin=root_margin, impute=impute, skeleton=args.skeleton)
    report = run_batch(pipe, cases, output, shard=(rank, world), options=options, model_hash=pipeline_fingerprint(pipe),
                       progress="all" if args.progress_all_ranks else True)
    prefix = f"rank {rank}: " if world > 1 else ""
    print(f"{prefix}{len(report.generated)} case(s) generated, {len(report.skipped)} already done"
          + (f"; wrote {report.manifest}" if report.manifest is not None else ""), flush=True)
    return 0


def on_output_skeleton(out: Any, name: str) -> Any:
    """``out`` (a :class:`~motiongen.pipelines.output.MotionOutput`) with every sample retargeted onto
    the registered skeleton ``name``; ``info["skeleton"]`` records the move."""
    from motiongen.pipelines.output import MotionOutput
    from motiongen.retarget.registered import retarget_to

    motions = [retarget_to(m, name) for m in out.motions()]
    info = {**out.info, "retargeted": {"from": out.skeleton.name, "to": name}}
    return MotionOutput.from_motions(motions, prompts=out.prompts, info=info)


def _viewer_condition(
    task: str | None,
    args: argparse.Namespace,
    out: Any,
    pipe: Any,
    motions: dict[str, Any],
    constraints: list[Any] | None,
    path_rows: np.ndarray | None,
    waypoints: np.ndarray | None,
    waypoint_frames: np.ndarray | None,
    frames: list[int],
    num_prompts: int,
) -> tuple[str, list[Any]]:
    """The viewer's task name and the constraint sets on the output's timeline: as given
    (``--constraints``), as the task built them (path, waypoints, in-betweening keyframes), or the
    copied frames of ``--stitch`` / ``--prepend`` as full-body poses."""
    if constraints is not None:
        return "constraints", constraints
    if task is None:
        return ("text_to_motion" if num_prompts == 1 else "multi_prompt"), []
    if task == "--path":
        return "path", [pipe.root2d_constraint(np.arange(len(path_rows)), path_rows)]
    if task == "--waypoints":
        points, marks = np.asarray(waypoints, np.float64), np.asarray(waypoint_frames)
        if 0 not in marks:  # through_waypoints adds the start, at the origin
            marks, points = np.concatenate([[0], marks]), np.concatenate([np.zeros((1, 2)), points])
        return "waypoints", [pipe.root2d_constraint(marks, points)]
    if task == "--inbetween":
        start, end = (motions[name] for name in args.inbetween)
        n = frames[0]
        return "inbetween", [
            pipe.fullbody_keyframe_constraint([0], motion=start, source_frames=[start.num_frames - 1]),
            pipe.fullbody_keyframe_constraint([n - 1], motion=end, source_frames=[0]),
        ]
    from motiongen.constraints.sets import FullBodyConstraintSet

    joined = out.info.get("joined") or {}
    lo, hi = joined.get("generated", [0, out.num_frames])
    copied = np.concatenate([np.arange(0, lo), np.arange(hi, out.num_frames)]).astype(np.int64)
    if copied.size == 0:
        return task[2:], []
    pose = FullBodyConstraintSet(pipe.bundle.skeleton, copied, out.local_rot_mats[0][copied].astype(np.float64),
                                 out.root_positions[0][copied].astype(np.float64))
    return task[2:], [pose]
