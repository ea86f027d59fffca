"""SMoG on the test split: its own retrieval figures, with chance, and the KAN-vs-Linear ablation.

Every model is scored on the same held-out windows (:mod:`motiongen.evaluation.smog`: one fixed
window of the training length per test clip long enough, its first caption): reconstruction (SMoG's
rc / rcxyz / vel MSE, MPJPE and root error in cm) and motion-to-text R@1 / R@5 among the windows'
distinct captions, chance printed beside them, and as the reference row the same retrieval by our
text-motion evaluator on the same real windows and captions. The default models are the two arms of the ablation
SMoG's paper claims, trained by the same trainer with the same data, seed, steps and batch:

- ``motiongen/smog-smplx``, the shipped model (``configs/smog_smplx.yaml``: KAN input embedding and
  output layer, as SMoG);
- the Linear arm (``configs/smog_smplx_linear.yaml``: those two layers as Linear-GELU-Linear MLPs of
  matched parameter count), exported to ``runs/smog-smplx-linear-export`` with
  ``motiongen train smog --config configs/smog_smplx_linear.yaml --export runs/smog-smplx-linear-export``.

    python benchmarks/smog_ablation.py [--model LABEL=NAME_OR_FOLDER ...] [--split test] [--output JSON]

Prints a table and writes JSON (default ``benchmarks/results/smog_ablation.json``): machine, dataset,
split, text encoder, the windows (N, distinct captions), and per model its parameter counts, training
budget (steps x batch, from its folder) and figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from motiongen.errors import InputError
from motiongen.evaluation.records import (
    folder_digest,
    git_commit,
    machine_info,
    utc_now,
)
from motiongen.evaluation.smog import (
    ablation_table,
    evaluate_autoencoder,
    evaluator_retrieval,
    held_out_windows,
    parameter_counts,
)
from motiongen.io.atomic import atomic_write_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "smog_ablation.json"
DEFAULT_MODELS = ("KAN (SMoG)=motiongen/smog-smplx", "Linear, matched MLP=runs/smog-smplx-linear-export")


def _parse_model(text: str) -> tuple[str, str]:
    label, sep, where = text.partition("=")
    if not sep or not label.strip() or not where.strip():
        raise InputError(f"expected LABEL=NAME_OR_FOLDER, got '{text}'", field="--model")
    return label.strip(), where.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smog_ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="LABEL=NAME_OR_FOLDER (repeatable; default: both arms)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--dataset", help="built dataset folder (default: the full build in the cache)")
    parser.add_argument("--cache", help="motiongen cache (default $MOTIONGEN_CACHE)")
    parser.add_argument("--limit", type=int, help="at most this many clips (a quick slice)")
    parser.add_argument("--evaluator", help="the reference row's evaluator (default motiongen/evaluator-smplx)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    from motiongen.pipelines.bundle import resolve_model
    from motiongen.pipelines.smog import SMoGPipeline
    from motiongen.train.features import dataset_source

    torch.set_num_threads(args.threads)
    models = [_parse_model(m) for m in (args.model or DEFAULT_MODELS)]
    pipes = {label: SMoGPipeline.from_pretrained(where) for label, where in models}
    lengths = {int(p.info.get("num_frames", 60)) for p in pipes.values()}
    specs = {json.dumps(p.text_encoder_spec, sort_keys=True) for p in pipes.values()}
    if len(lengths) != 1 or len(specs) != 1:
        raise InputError("the models were trained on different window lengths or text encoders; score them apart",
                         field="--model")
    first = next(iter(pipes.values()))
    _, dataset_root = dataset_source(cache=args.cache, dataset=args.dataset)
    started = time.perf_counter()
    windows = held_out_windows(dataset_root, args.split, first.text_encoder, lengths.pop(), limit=args.limit,
                               progress=True)
    from motiongen.models.evaluator import DEFAULT_EVALUATOR, TextMotionEvaluator

    judge = TextMotionEvaluator.from_pretrained(args.evaluator or DEFAULT_EVALUATOR)
    reference = {"label": "Reference: the evaluator on real windows", "evaluator": args.evaluator or DEFAULT_EVALUATOR,
                 "version": judge.version, "figures": evaluator_retrieval(judge, first.skeleton, windows)}
    rows = []
    for (label, where), pipe in zip(models, pipes.values()):
        figures = evaluate_autoencoder(pipe.model, pipe.skeleton, windows)
        train = pipe.info.get("train_config") or {}
        rows.append({
            "label": label, "model": where, "hash": folder_digest(resolve_model(where)),
            "kan_layers": pipe.model.config.kan_layers, "io_hidden": pipe.model.config.io_hidden,
            "parameters": parameter_counts(pipe.model), "steps": pipe.info.get("steps"),
            "batch_size": train.get("batch_size"), "alignment": train.get("alignment"),
            "train_wall_time_s": pipe.info.get("wall_time_s"), "figures": figures,
        })
    result = {
        "format": "motiongen.smog_ablation/1", "date": utc_now(), "git_commit": git_commit(), "machine": machine_info(),
        "dataset": dataset_root.name, "split": args.split, "text_encoder": first.text_encoder.identifier,
        "windows": {"motions": len(windows.picks), "candidates": int(rows[0]["figures"]["candidates"]),
                    "frames": windows.num_frames, "per_clip": 1, "caption": "first"},
        "seconds": round(time.perf_counter() - started, 1), "reference": reference, "rows": rows,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(ablation_table(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:
        print(f"smog_ablation: error: {exc}", file=sys.stderr)
        sys.exit(2)
