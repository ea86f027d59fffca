"""``motiongen generate``: text to motion files from the command line.

    motiongen generate "A person walks forward." --duration 5 -o walk.npz
    motiongen generate "A person walks." "A person sits down." --frames 120 90 -o walk_sit.bvh
    motiongen generate "A person jumps." --num-samples 4 --seed 1 -o jumps/   # jumps/sample_00.npz + .bvh ...

Several prompts make one multi-prompt motion (one segment per prompt). Numbers are parsed here
rather than by argparse so that every mistake is one ``motiongen: error: ...`` line (exit 2), and
everything that can be checked before the model runs is checked first; nothing is written unless
generation succeeds.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Sequence

from motiongen.errors import InputError

DEFAULT_FRAMES = 150  # 5 s at 30 fps, KIMODO's default duration
DEFAULT_STEPS = 25


def add_generate_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``generate`` subcommand to ``sub`` (an ``add_subparsers`` result)."""
    from motiongen.pipelines import DEFAULT_MODEL

    p = sub.add_parser(
        "generate",
        help="generate motion from text with a KIMODO model",
        description="Generate motion from text. Several prompts make one motion that goes through them in turn.",
    )
    p.add_argument("prompts", nargs="+", metavar="PROMPT", help="motion description(s)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--frames", nargs="+", metavar="N", help=f"frames per prompt at 30 fps (default {DEFAULT_FRAMES})")
    length.add_argument("--duration", nargs="+", metavar="SEC", help="seconds per prompt (frames = round(SEC * 30))")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name or bundle folder (default {DEFAULT_MODEL})")
    p.add_argument("--num-samples", default="1", metavar="K", help="motions to generate (default 1)")
    p.add_argument("--seed", metavar="S", help="random seed (default: random, printed)")
    p.add_argument("--steps", default=str(DEFAULT_STEPS), metavar="N", help=f"DDIM steps (default {DEFAULT_STEPS})")
    p.add_argument("--cfg-type", metavar="TYPE", help="guidance: nocfg, regular or separated (default regular)")
    p.add_argument(
        "--cfg-weight", nargs="+", metavar="W", help="guidance weight(s): 1 for regular, 2 (text, constraint) for separated"
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT",
        help="output .npz (KIMODO layout), .bvh, or a folder (both per sample); "
        "several samples of x.npz go to x/x_00.npz, ...",
    )
    p.set_defaults(func=generate_command)

    def one_line_error(message: str) -> None:
        # argparse would print the whole usage first; a user error is one line here, as elsewhere
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


def generate_command(args: argparse.Namespace) -> int:
    """Run ``motiongen generate`` (see the module docstring); returns the exit status."""
    from motiongen.pipelines.kimodo import MAX_SEED, KIMODOPipeline, check_device, resolve_cfg, transition_length
    from motiongen.pipelines.output import check_writable, output_paths

    prompts = list(args.prompts)
    for k, prompt in enumerate(prompts):
        if not any(ch.isalnum() for ch in prompt):
            raise InputError(f"prompt {k + 1} is empty ({prompt!r}); describe the motion in words", field="PROMPT")
    num_samples = _int(args.num_samples, "--num-samples", 1)
    seed = None if args.seed is None else _int(args.seed, "--seed", 0, MAX_SEED)
    steps = _int(args.steps, "--steps", 1)
    weights = None if args.cfg_weight is None else [_float(w, "--cfg-weight") for w in args.cfg_weight]
    if weights is not None and len(weights) > 2:
        raise InputError(f"give 1 or 2 weights, got {len(weights)}", field="--cfg-weight")
    cfg = resolve_cfg(None, args.cfg_type, weights)
    frames: list[int] | None = None
    seconds: list[float] | None = None
    if args.frames is not None:
        frames = _per_prompt([_int(f, "--frames", 1) for f in args.frames], len(prompts), "--frames")
    elif args.duration is not None:
        seconds = _per_prompt([_float(s, "--duration") for s in args.duration], len(prompts), "--duration")
        for sec in seconds:
            if sec <= 0:
                raise InputError(f"must be a positive number of seconds, got {sec:g}", field="--duration")
    device = check_device(args.device)
    targets = output_paths(args.output, num_samples)
    check_writable(targets)

    pipe = KIMODOPipeline.from_pretrained(args.model, device=device)
    if seconds is not None:
        frames = [max(1, round(sec * pipe.fps)) for sec in seconds]
    if frames is None:
        frames = [min(DEFAULT_FRAMES, pipe.max_frames)] * len(prompts)
    for k, n in enumerate(frames):
        if n > pipe.max_frames:
            what = f"{n} frames" if seconds is None else f"{seconds[k]:g} s ({n} frames)"
            raise InputError(
                f"{what} for prompt {k + 1}; this model generates at most {pipe.max_frames} frames "
                f"({round(pipe.max_frames / pipe.fps, 2):g} s) per prompt",
                field="--frames" if seconds is None else "--duration",
            )
    # several prompts: prompt k > 1 is generated together with the last L frames before it
    field = "--frames" if seconds is None else "--duration"
    for k in range(1, len(frames)):
        ell = transition_length(frames[k - 1])
        if ell > sum(frames[:k]):
            raise InputError(
                f"prompt {k + 1} regenerates the last {ell} frames before it, but prompts 1..{k} have only "
                f"{sum(frames[:k])}; make them longer",
                field=field,
            )
        if frames[k] + ell > pipe.max_frames:
            raise InputError(
                f"prompt {k + 1}: {frames[k]} frames plus the {ell}-frame transition exceed the model's "
                f"{pipe.max_frames} frames per pass; at most {pipe.max_frames - ell} frames for this prompt",
                field=field,
            )
    options = dict(num_samples=num_samples, seed=seed, steps=steps, cfg=cfg)
    if len(prompts) == 1:
        out = pipe.text_to_motion(prompts[0], num_frames=frames[0], **options)
    else:
        out = pipe.multi_prompt(prompts, frames, **options)
    written = out.save(args.output)
    for path in written:
        print(f"wrote {path} ({out.num_frames} frames at {out.fps:g} fps, seed {out.info['seed']})")
    return 0
