"""The ``motiongen`` command line.

Every user mistake surfaces as a :class:`motiongen.errors.MotiongenError`: the command prints it on
one line (``motiongen: error: ...``) and exits with status 2, leaving no partial output file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from motiongen import __version__
from motiongen.errors import InputError, MotiongenError


def cmd_convert(args: argparse.Namespace) -> int:
    from motiongen.io.formats import load_motion, output_format, save_motion

    output_format(args.output, args.format)  # a bad output name fails before any work
    motion = load_motion(args.input, asf=args.asf)
    if args.to is not None:
        motion = _retargeted(motion, args.to, args)
    if args.fps is not None:
        motion = motion.resample(args.fps)
    out = save_motion(motion, args.output, format=args.format, clamp_limits=args.clamp_limits)
    print(f"wrote {out} ({motion.num_frames} frames at {motion.fps:g} fps, {motion.skeleton.num_joints} joints, "
          f"skeleton {motion.skeleton.name})")
    return 0


def _retargeted(motion, target: str, args: argparse.Namespace):
    from motiongen.retarget.registered import retarget_to
    from motiongen.skeleton.registry import get_skeleton

    target_skeleton = get_skeleton(target, args.source, args.cache)
    joint_map = None
    if args.joint_map is not None:
        from motiongen.retarget.joint_map import load_joint_map

        joint_map = load_joint_map(args.joint_map, motion.skeleton, target_skeleton)
    if getattr(args, "method", "rotations") == "positions":
        from motiongen.retarget.human import retarget_positions

        if target == "g1":
            raise InputError("--method positions retargets onto human rigs; the G1 is always solved by IK", field="--method")
        return retarget_positions(motion, target_skeleton, joint_map=joint_map)
    return retarget_to(motion, target, joint_map=joint_map, data_dir=args.source, cache_dir=args.cache)


def cmd_retarget(args: argparse.Namespace) -> int:
    from motiongen.io.formats import load_motion, output_format, save_motion
    from motiongen.skeleton.registry import get_skeleton

    output_format(args.output, args.format)
    get_skeleton(args.to, args.source, args.cache)  # an unknown name fails before the input is read
    motion = load_motion(args.input, asf=args.asf)
    result = _retargeted(motion, args.to, args)
    if args.fps is not None:
        result = result.resample(args.fps)
    out = save_motion(result, args.output, format=args.format, clamp_limits=args.clamp_limits)
    info = result.meta.get("retarget", {})
    details = [f"{result.num_frames} frames at {result.fps:g} fps", f"{motion.skeleton.name} -> {result.skeleton.name}"]
    if "scale" in info:
        details.append(f"scale {info['scale']:.3f}")
    if "position_error_m" in info:
        details.append(f"mean IK target error {100 * info['position_error_m']:.1f} cm")
    print(f"wrote {out} ({', '.join(details)})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from motiongen.io.formats import load_motion

    motion = load_motion(args.input, asf=args.asf)
    pos = motion.joint_positions()
    info = {
        "file": str(args.input),
        "skeleton": motion.skeleton.name,
        "joints": motion.skeleton.num_joints,
        "frames": motion.num_frames,
        "fps": motion.fps,
        "seconds": round(motion.duration, 3),
        "height_range_m": [round(float(pos[..., 1].min()), 3), round(float(pos[..., 1].max()), 3)],
    }
    print(json.dumps(info, indent=1))
    return 0


def cmd_skeletons(args: argparse.Namespace) -> int:
    from motiongen.skeleton.registry import SKELETON_NAMES, get_skeleton

    if args.name is None:
        print("\n".join(SKELETON_NAMES))
        return 0
    skeleton = get_skeleton(args.name, args.source, args.cache)
    print(skeleton.to_json() if args.json else "\n".join(
        f"{j:3d} {name:28s} parent {p:3d}" for j, (name, p) in enumerate(zip(skeleton.joint_names, skeleton.parents))
    ))
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from motiongen.data.build import build_dataset

    stats = build_dataset(
        source=args.source,
        cache=args.cache,
        compact=args.compact,
        workers=args.workers,
        force=args.force,
        limit_per_source=args.limit_per_source,
    )
    print(json.dumps(stats, indent=1))
    return 0


def cmd_train_kimodo(args: argparse.Namespace) -> int:
    from motiongen.train.kimodo import run_from_args

    return run_from_args(args)


def cmd_train_evaluator(args: argparse.Namespace) -> int:
    from motiongen.train.evaluator import run_from_args

    return run_from_args(args)


def cmd_train_style(args: argparse.Namespace) -> int:
    from motiongen.train.style import run_from_args

    return run_from_args(args)


def cmd_train_smog(args: argparse.Namespace) -> int:
    from motiongen.train.smog import run_from_args

    return run_from_args(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from motiongen.evaluation.runner import EvalSettings, run_eval

    settings = EvalSettings.from_args(args)
    result = run_eval(args.model, args.output, settings, evaluator=args.evaluator, dataset=args.dataset,
                      cache=args.cache, progress=not args.no_progress, view=not args.no_view)
    from motiongen.evaluation.report import format_summary
    from motiongen.evaluation.shard import is_main_rank

    if is_main_rank():  # under torchrun every rank returns the JSON; rank 0 reports it
        print(format_summary(result))
        print(f"wrote {args.output}")
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    from motiongen.viz.server import serve

    serve(args.root, host=args.host, port=args.port, open_browser=not args.no_browser, verbose=args.verbose,
          data_dir=args.source, cache_dir=args.cache)
    return 0


def cmd_viz_manifest(args: argparse.Namespace) -> int:
    from motiongen.viz.folder import write_folder_manifest

    path = write_folder_manifest(args.dir)
    data = json.loads(path.read_text())
    missing = sum(len(case["missing_panels"]) for case in data["cases"])
    panels = ", ".join(p["name"] for p in data["panels"])
    print(f"wrote {path} ({len(data['cases'])} cases, panels {panels}; {missing} missing panel files)")
    return 0


def data_options(p: argparse.ArgumentParser) -> None:
    """``--source`` and ``--cache``: where a command finds the archives and unpacks them."""
    p.add_argument("--source", help="folder with the motion archives (default $MOTIONGEN_DATA or ../shared/data)")
    p.add_argument("--cache", help="cache folder (default $MOTIONGEN_CACHE or ~/.cache/motiongen)")


def cmd_convert_checkpoint(args: argparse.Namespace) -> int:
    from motiongen.pipelines.convert_checkpoint import cmd_convert_checkpoint as run

    return run(args)


def add_convert_checkpoint_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``convert-checkpoint`` (:mod:`motiongen.pipelines.convert_checkpoint`, imported when it runs)."""
    p = sub.add_parser(
        "convert-checkpoint",
        help="convert an official KIMODO checkpoint folder (config.yaml, model.safetensors, stats/) into a motiongen model",
        description="Convert NVIDIA's official KIMODO checkpoint folder into a motiongen KIMODO model folder "
        "(loadable with KIMODOPipeline.from_pretrained / motiongen generate --model). "
        "Model names resolve loosely, as KIMODO's do (Kimodo-SOMA-RP-v1, Kimodo-G1-SEED-v1, ...; also e.g. soma, g1-seed).",
    )
    p.add_argument("--model-name", required=True, metavar="NAME", help="the released model, e.g. Kimodo-SOMA-RP-v1")
    p.add_argument("--checkpoint-dir", required=True, metavar="DIR",
                   help="official folder: config.yaml, model.safetensors, stats/motion/{global_root,local_root,body}/")
    enc = p.add_mutually_exclusive_group(required=True)
    enc.add_argument("--text-encoders-dir", metavar="DIR",
                     help="KIMODO's TEXT_ENCODERS_DIR (McGill-NLP/LLM2Vec-Meta-Llama-3-8B-Instruct-mntp[-supervised]) "
                     "or one LLM2Vec model folder; referenced, not copied")
    enc.add_argument("--no-text-encoder", action="store_true",
                     help="write only a reference to the text encoder (see --text-encoders-repo)")
    p.add_argument("--text-encoders-repo", metavar="NAME_OR_PATH",
                   help="with --no-text-encoder: the folder or repository to reference (default KIMODO's LLM2Vec MNTP model)")
    p.add_argument("--out-dir", required=True, metavar="OUT", help="the model folder to write")
    p.add_argument("--copy-mode", choices=("copy", "hardlink", "symlink"), default="copy",
                   help="how the weights file is placed when it can be reused as is (default copy)")
    p.add_argument("--verify", action="store_true",
                   help="reload the result and compare it with a reference forward; exit 1 above 1e-05")
    p.add_argument("--verify-frames", type=int, default=40, metavar="N", help="frames of the verification inputs (default 40)")
    p.add_argument("--verify-steps", type=int, default=3, metavar="K", help="DDIM steps of the verification (default 3)")
    p.add_argument("--verify-dtype", choices=("float64", "float32"), default="float64",
                   help="precision both models run in for --verify (default float64: float32 rounding, amplified by "
                   "the model, differs by ~1e-5 between correct implementations)")
    p.add_argument("--seed", type=int, default=0, help="seed of the verification inputs (default 0)")
    data_options(p)  # the skeleton comes from the archives
    p.set_defaults(func=cmd_convert_checkpoint)
    return p


def cmd_export_features(args: argparse.Namespace) -> int:
    from motiongen.features.export import export_features_command

    return export_features_command(args)


def add_export_features_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``export-features`` (:mod:`motiongen.features.export`, imported when the command runs)."""
    p = sub.add_parser(
        "export-features",
        help="convert a folder of motions to evaluator features (hml263, ms272, motion135)",
        description="Convert every .npz / .bvh motion under IN_DIR to HumanML3D-263, MotionStreamer-272 or SMPL "
        "motion_135 features: one float32 .npy per motion at the same relative path under OUT_DIR, plus "
        "OUT_DIR/features.json (format, fps, 6D layout, body, files). Motions on other human rigs are retargeted "
        "onto smplx22 first.",
    )
    p.add_argument("input_dir", metavar="IN_DIR", help="folder of motion files (.npz KIMODO/AMASS, .bvh), searched recursively")
    p.add_argument("--format", required=True, metavar="FORMAT",
                   help="hml263 (20 fps, [T-1, 263], C6), ms272 (30 fps, [T, 272], R6) or motion135 (30 fps, [T, 135], I6)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    data_options(p)  # for retargeting other rigs
    p.set_defaults(func=cmd_export_features)

    def one_line_error(message: str) -> None:
        # a user mistake is one line, as everywhere else in the CLI
        p.exit(2, f"motiongen: error: export-features: {message} (see motiongen export-features --help)\n")

    p.error = one_line_error  # type: ignore[method-assign]
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motiongen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"motiongen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    formats_help = ("output format: bvh, kimodo (.npz), amass (.npz, SMPL-X, z up) or mujoco-csv (.csv, G1); "
                    "default from the extension (.npz: kimodo)")
    p = sub.add_parser("convert", help="convert a motion file (.bvh, .amc, .npz, .csv) to .bvh, .npz or .csv")
    p.add_argument("input", help="input file: .bvh, .amc (with --asf), KIMODO or AMASS .npz, G1 MuJoCo .csv")
    p.add_argument("output", help="output file: .bvh, .npz (KIMODO layout, or AMASS with --format amass), .csv (G1)")
    p.add_argument("--to", metavar="SKELETON", help="retarget onto a registered skeleton, e.g. smplx22 or g1")
    p.add_argument("--format", help=formats_help)
    p.add_argument("--clamp-limits", action="store_true",
                   help="G1 .csv output: clamp hinge angles into their g1.xml ranges (KIMODO's real-robot projection) "
                   "instead of refusing a motion that leaves them")
    p.add_argument("--fps", type=float, help="resample to this frame rate (slerp)")
    p.add_argument("--asf", help="skeleton file for an .amc input")
    p.add_argument("--joint-map", help="JSON {target_joint: source_joint} for a rig the registry does not know")
    data_options(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "retarget",
        help="retarget a motion file onto another skeleton (smplx22, soma30, soma77, bandai22, cmu31, g1)",
        description="Retarget a motion onto a registered skeleton: rotation-aware between human rigs, IK within the "
        "joint limits onto the Unitree G1. The output format follows the extension (.bvh, .npz, .csv for G1) "
        "or --format.",
    )
    p.add_argument("input", help="input file: .bvh, .amc (with --asf), KIMODO or AMASS .npz")
    p.add_argument("--to", required=True, metavar="SKELETON", help="target skeleton, e.g. smplx22, soma77 or g1")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (.bvh, .npz, .csv)")
    p.add_argument("--format", help=formats_help)
    p.add_argument("--clamp-limits", action="store_true",
                   help="G1 .csv output: clamp hinge angles into their g1.xml ranges (KIMODO's real-robot projection) "
                   "instead of refusing a motion that leaves them")
    p.add_argument("--method", choices=("rotations", "positions"), default="rotations",
                   help="rotations (default: joint rotations carried over, twist kept) or positions (position-only IK "
                   "onto the scaled source joints, for diagnostics; twist is lost)")
    p.add_argument("--joint-map", help="JSON {target_joint: source_joint} for a rig the registry does not know "
                   "(onto the G1: {smplx22_joint_name: source_joint}, the human landmarks the IK follows)")
    p.add_argument("--fps", type=float, help="resample the result to this frame rate (slerp)")
    p.add_argument("--asf", help="skeleton file for an .amc input")
    data_options(p)
    p.set_defaults(func=cmd_retarget)

    p = sub.add_parser("info", help="print a motion file's skeleton, length and frame rate")
    p.add_argument("input")
    p.add_argument("--asf", help="skeleton file for an .amc input")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("skeletons", help="list registered skeletons, or show one")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true", help="print the full description as JSON")
    data_options(p)
    p.set_defaults(func=cmd_skeletons)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("build", help="build the training dataset (smplx22, 30 fps) from the archives")
    data_options(p)
    p.add_argument("--compact", metavar="FILE", help="also write the training split as one small file")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    p.add_argument(
        "--limit-per-source", type=int, metavar="N", help="only N clips per source, into a separate subset folder (quick tries)"
    )
    p.set_defaults(func=cmd_data_build)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="train_command", required=True)
    from motiongen.train.arguments import build_parser as build_train_parser

    p = build_train_parser(train.add_parser("kimodo", help="train the KIMODO denoiser from a config file"))
    p.set_defaults(func=cmd_train_kimodo)
    from motiongen.train.arguments import build_evaluator_parser

    p = build_evaluator_parser(train.add_parser("evaluator", help="train the text-motion evaluator from a config file"))
    p.set_defaults(func=cmd_train_evaluator)
    from motiongen.train.arguments import build_smog_parser

    p = build_smog_parser(train.add_parser("smog", help="train the SMoG motion autoencoder from a config file"))
    p.set_defaults(func=cmd_train_smog)
    from motiongen.train.arguments import build_style_parser

    p = build_style_parser(train.add_parser("style-classifier", help="train the Bandai style classifier from a config file"))
    p.set_defaults(func=cmd_train_style)

    from motiongen.evaluation.arguments import add_eval_parser

    add_eval_parser(sub, cmd_eval)

    from motiongen.pipelines.generate import add_generate_parser

    add_generate_parser(sub)

    p = sub.add_parser("view", help="play the motions of a folder in the local web viewer (three.js, offline)")
    p.add_argument("root", metavar="ROOT", help="folder with _manifest.json, panel folders or .npz / .bvh files")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8216, help="TCP port (default 8216; 0 picks a free one)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser, just print the address")
    p.add_argument("--verbose", action="store_true", help="log every request")
    data_options(p)  # where the G1 meshes come from
    p.set_defaults(func=cmd_view)

    viz = sub.add_parser("viz", help="viewer files").add_subparsers(dest="viz_command", required=True)
    p = viz.add_parser("manifest", help="write DIR/_manifest.json and _captions.json for the motion files in DIR")
    p.add_argument("dir", metavar="DIR", help="folder of panel folders (gt/, generated/, ...) or .npz / .bvh files; "
                   "constraints/<case>.json adds a case's constraints")
    p.set_defaults(func=cmd_viz_manifest)

    from motiongen.viz.render import add_render_parser

    add_render_parser(sub)

    add_export_features_parser(sub)
    add_convert_checkpoint_parser(sub)

    from motiongen.pipelines.edit_cli import add_edit_parser

    add_edit_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MotiongenError as exc:
        print(f"motiongen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("motiongen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
