"""``motiongen edit``: change an existing motion with a KIMODO model (:mod:`motiongen.pipelines.editing`).

    motiongen edit walk.npz --prompt "a person jumps." --frames 60 90 -o jump.npz     # local edit
    motiongen edit walk.npz --style "in an elderly style" --content "a person walks" -o old.npz
    motiongen edit walk.bvh --compose "a person waves." --keep lower_body -o out/      # body parts

One edit per call: ``--prompt`` with ``--frames A B`` regenerates frames ``[A, B)`` and keeps every
other frame exactly; ``--style`` keeps the root path and foot-contact timing and changes the style;
``--compose`` keeps the ``--keep`` joints (a group such as ``lower_body``, or joint names, several
separated by spaces or commas) and the root, and generates the rest. The input (``.npz`` or ``.bvh``)
on another human rig is retargeted onto the model's first, as ``generate`` does.

The output is ``.npz``, ``.bvh`` or a folder (both files, plus the viewer's manifest with the source
motion as the reference panel, the kept frames / path and contacts as the condition, and the edit
in the case's diagnostics: ``motiongen view OUT``). Numbers are parsed here so that every mistake is
one ``motiongen: error: ...`` line (exit 2), checked before the model runs where it can be; nothing
is written unless the edit succeeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from motiongen.errors import InputError

DEFAULT_STEPS = 25
#: The edit options; exactly one is given.
EDIT_OPTIONS = ("--prompt", "--style", "--compose")


def add_edit_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``edit`` subcommand to ``sub`` (an ``add_subparsers`` result); imports no torch."""
    from motiongen.pipelines import DEFAULT_MODEL

    p = sub.add_parser(
        "edit",
        help="edit a motion: regenerate a time window, change its style, or regenerate some body parts",
        description="Edit a motion with a KIMODO model. Give one of --prompt (with --frames A B), --style or "
        "--compose (with --keep).",
    )
    p.add_argument("input", metavar="IN", help="the motion to edit (.npz or .bvh)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--prompt", metavar="TEXT", help="local edit: what happens in the --frames window")
    mode.add_argument("--style", metavar="TEXT", help="style edit: the instruction, e.g. 'in an elderly style'")
    mode.add_argument("--compose", metavar="PROMPT", help="body-part edit: what the regenerated body parts do")
    p.add_argument("--frames", nargs=2, metavar=("A", "B"), help="with --prompt: regenerate frames [A, B) (0-based, B excluded)")
    p.add_argument("--content", metavar="TEXT", help="with --style: what the motion shows ('a person walks'); "
                   "the caption is CONTENT + STYLE")
    p.add_argument("--contacts", choices=("timing", "feet", "none"),
                   help="with --style: keep which foot is down on which frame (timing, the default), also where "
                   "(feet: the stride is kept too, the style changes less) or neither (none)")
    p.add_argument("--keep", nargs="+", action="extend", metavar="PART",
                   help="with --compose: body-part groups (lower_body, upper_body, legs, arms, left_arm, ...) or "
                   "joint names to keep, separated by spaces or commas")
    p.add_argument("--context", metavar="N", help="kept frames the model sees on each side of a pass (default 10)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="output .npz (KIMODO layout), .bvh, or a folder (both, plus the viewer's _manifest.json)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name or folder (default {DEFAULT_MODEL}; a KIMODO model)")
    p.add_argument("--seed", metavar="S", help="random seed (default: random, printed)")
    p.add_argument("--steps", default=str(DEFAULT_STEPS), metavar="N", help=f"DDIM steps (default {DEFAULT_STEPS})")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--no-postprocess", dest="postprocess", action="store_false",
                   help="write the raw model output (default: foot-skate clean-up and constraint IK; kept frames "
                   "are never changed)")
    p.set_defaults(func=edit_command, edit_parser=p)

    def one_line_error(message: str) -> None:
        # argparse would print the whole usage first; a user error is one line here, as elsewhere
        p.exit(2, f"motiongen: error: edit: {message} (see motiongen edit --help)\n")

    p.error = one_line_error  # type: ignore[method-assign]
    return p


def _keep_names(values: list[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    if not names:
        raise InputError("name at least one body part or joint", field="--keep")
    return names


def _mode(args: argparse.Namespace) -> str:
    for option in EDIT_OPTIONS:
        if getattr(args, option[2:]) is not None:
            return option
    raise InputError("give one of --prompt, --style or --compose", field="--prompt")


def _check_options(args: argparse.Namespace, mode: str) -> None:
    """Options that belong to another edit, or a missing companion, before anything is read."""
    belongs = {"--frames": "--prompt", "--content": "--style", "--contacts": "--style", "--keep": "--compose"}
    for option, owner in belongs.items():
        if getattr(args, option[2:]) is not None and mode != owner:
            raise InputError(f"goes with {owner}, not {mode}", field=option)
    if mode == "--prompt" and args.frames is None:
        raise InputError("--prompt edits a time window: give --frames A B (regenerate frames [A, B))", field="--frames")
    if mode == "--compose" and args.keep is None:
        raise InputError("--compose needs --keep PART (e.g. lower_body, or joint names)", field="--keep")
    text = {"--prompt": args.prompt, "--style": args.style, "--compose": args.compose}[mode]
    if not any(ch.isalnum() for ch in text):
        raise InputError(f"is empty ({text!r}); describe it in words", field=mode)
    if args.content is not None and not any(ch.isalnum() for ch in args.content):
        raise InputError(f"is empty ({args.content!r}); describe the motion in words", field="--content")


def _check_window(start: int, end: int, frames: int) -> None:
    past = f"is past the end of the {frames}-frame motion"
    if start >= frames:
        raise InputError(f"frame {start} {past}; A must be in [0, {frames - 1}]", field="--frames")
    if end > frames:
        raise InputError(f"frame {end} {past}; B must be in [1, {frames}]", field="--frames")
    if end <= start:
        raise InputError(f"the window [{start}, {end}) is empty; B must be greater than A", field="--frames")


def edit_command(args: argparse.Namespace) -> int:
    """Run ``motiongen edit`` (see the module docstring); returns the exit status."""
    from motiongen.pipelines.checks import MAX_SEED
    from motiongen.pipelines.generate import _int, _read_motion, on_model_rig
    from motiongen.pipelines.kimodo import check_device
    from motiongen.pipelines.output import FILE_SUFFIXES, check_writable, output_paths

    mode = _mode(args)
    _check_options(args, mode)
    window = None
    if mode == "--prompt":
        window = (_int(args.frames[0], "--frames", 0), _int(args.frames[1], "--frames", 0))
    keep = _keep_names(args.keep) if mode == "--compose" else None
    seed = None if args.seed is None else _int(args.seed, "--seed", 0, MAX_SEED)
    steps = _int(args.steps, "--steps", 1)
    context = None if args.context is None else _int(args.context, "--context", 0)
    source = _read_motion(args.input, "IN")
    device = check_device(args.device)
    check_writable(output_paths(args.output, 1))

    from motiongen.pipelines.kimodo import KIMODOPipeline
    from motiongen.pipelines.loading import load_pipeline

    pipe = load_pipeline(args.model, device=device)
    if not isinstance(pipe, KIMODOPipeline):
        raise InputError("editing needs a KIMODO model (the default --model)", field="--model")
    source = on_model_rig(source, pipe.bundle.skeleton, pipe.fps, args.input, "IN")
    if window is not None:
        _check_window(window[0], window[1], source.num_frames)
    if keep is not None:
        try:
            pipe.resolve_body_part(keep)  # unknown names fail before the model runs
        except InputError as exc:
            raise InputError(str(exc).split(": ", 1)[-1], field="--keep") from None
    options: dict[str, Any] = {"seed": seed, "steps": steps, "postprocess": args.postprocess}
    if context is not None:
        options["context"] = context
    constraints: list[Any] = []
    if mode == "--prompt":
        out = pipe.local_edit(source, args.prompt, window[0], window[1], **options)
        task = "local_edit"
        kept = [f for a, b in out.info["edit"]["kept_frames"] for f in range(a, b)]
        if kept:
            constraints = [pipe.fullbody_keyframe_constraint(kept, motion=source)]
    elif mode == "--style":
        if args.contacts is not None:
            options["contacts"] = args.contacts
        out = pipe.style_edit(source, args.style, content=args.content, **options)
        task = "style_edit"
        constraints = _style_constraints(pipe, source, out)
    else:
        out = pipe.compose(source, args.compose, keep=keep, **options)
        task = "compose"
    written = out.save(args.output)
    if Path(args.output).suffix.lower() not in FILE_SUFFIXES:  # a folder: also the viewer's manifest
        from motiongen.viz.folder import write_output_manifest

        write_output_manifest(args.output, out, written, task=task, constraints=constraints, reference=source,
                              diagnostics={"edit": _json_edit(out.info["edit"])})
    for path in written:
        print(f"wrote {path} ({out.num_frames} frames at {out.fps:g} fps, {task}, seed {out.info['seed']})")
    return 0


def _style_constraints(pipe: Any, source: Any, out: Any) -> list[Any]:
    """The viewer's condition of a style edit: the kept floor path, and the planted feet when their
    positions were kept (``contacts="feet"``)."""
    import numpy as np

    path = np.asarray(out.smooth_root_pos[0][:, [0, 2]], np.float64)
    sets = [pipe.root2d_constraint(np.arange(out.num_frames), path)]
    kept = out.info["edit"]["kept"]
    pinned = kept["contact_frames"] if kept.get("contacts") == "feet" else None
    for name, frames in (pinned or {}).items():
        if frames:
            sets.append(pipe.end_effector_constraint(name, frames, motion=source, smooth_root_2d=path[frames]))
    return sets


def _json_edit(edit: dict[str, Any]) -> dict[str, Any]:
    """The edit record for the manifest, without the per-frame contact lists (the condition has them)."""
    out = dict(edit)
    kept = out.get("kept")
    if isinstance(kept, dict) and kept.get("contact_frames"):
        out["kept"] = {**kept, "contact_frames": {k: len(v) for k, v in kept["contact_frames"].items()}}
    return out
