"""Command-line arguments of ``motiongen train kimodo|evaluator|smog|style-classifier`` (no torch import: the CLI builds its parser fast)."""

from __future__ import annotations

import argparse
from typing import Callable, Sequence


def _run_arguments(p: argparse.ArgumentParser, size_example: str) -> None:
    """The options every trainer takes: config, resume, overrides, output folder, step count."""
    p.add_argument("--config", required=True, help="training config (.yaml or .json)")
    p.add_argument("--resume", dest="resume", action="store_true", default=True,
                   help="continue from the latest checkpoint in output_dir (default)")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="start over (removes old checkpoints)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a config key (repeatable; {size_example} for model sizes)")
    p.add_argument("--output-dir", help="override output_dir")
    p.add_argument("--total-steps", type=int, help="override total_steps (e.g. to extend a finished run)")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``motiongen train kimodo`` (also ``python -m motiongen.train.kimodo``)."""
    p = parser or argparse.ArgumentParser(prog="python -m motiongen.train.kimodo", description="Train a KIMODO model.")
    _run_arguments(p, "model.width=128")
    p.add_argument("--export", metavar="DIR", help="after training, export the EMA weights as a bundle to DIR")
    p.add_argument("--fp16-weights", action="store_true", help="with --export: store weights as float16")
    return p


def build_evaluator_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``motiongen train evaluator`` (also ``python -m motiongen.train.evaluator``)."""
    p = parser or argparse.ArgumentParser(
        prog="python -m motiongen.train.evaluator", description="Train the text-motion evaluator."
    )
    _run_arguments(p, "model.width=128")
    p.add_argument("--export", metavar="DIR", help="after training, export the EMA encoders to DIR (float16)")
    return p


def build_smog_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``motiongen train smog`` (also ``python -m motiongen.train.smog``)."""
    p = parser or argparse.ArgumentParser(
        prog="python -m motiongen.train.smog", description="Train the SMoG motion autoencoder."
    )
    _run_arguments(p, "model.layers=2")
    p.add_argument("--export", metavar="DIR", help="after training, export the EMA weights as a model folder to DIR")
    p.add_argument("--fp16-weights", action="store_true", help="with --export: store weights as float16")
    return p

def build_style_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``motiongen train style-classifier`` (also ``python -m motiongen.train.style``)."""
    p = parser or argparse.ArgumentParser(
        prog="python -m motiongen.train.style", description="Train the Bandai style classifier."
    )
    _run_arguments(p, "model.width=64")
    p.add_argument("--export", metavar="DIR",
                   help="after training, export the best-validation weights to DIR (float16) and measure test accuracy")
    return p


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides plus those that ``--output-dir`` and ``--total-steps`` stand for."""
    import json

    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={json.dumps(args.output_dir)}")
    if args.total_steps is not None:
        overrides.append(f"total_steps={args.total_steps}")
    return overrides


def run_command(build: Callable[[], argparse.ArgumentParser], run: Callable[[argparse.Namespace], int],
                argv: Sequence[str] | None = None) -> int:
    """``python -m motiongen.train.X``: parse, run, and print a user mistake in one line (exit 2),
    or an interrupt (Ctrl-C, SIGINT: the training loop has saved its checkpoint by then) without
    a traceback (exit 130), as the ``motiongen`` CLI does."""
    import sys

    from motiongen.errors import MotiongenError

    args = build().parse_args(argv)
    try:
        return run(args)
    except MotiongenError as exc:
        print(f"motiongen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("motiongen: interrupted", file=sys.stderr)
        return 130
