"""Editing measured on the test split: style edits judged by the style classifier, local edits'
kept frames, seams and text match, body-part composition's kept joints and gesture checks.

What each figure is: :mod:`motiongen.evaluation.editing`. Every edit uses the shipped model's
edit defaults (:data:`motiongen.pipelines.editing.EDIT_CFG`, 25 DDIM steps, post-processed) and its own
seed (recorded per edit). ``--split val`` is where the defaults were chosen; the README reports ``test``.

    python benchmarks/editing.py [--model motiongen/kimodo-smplx] [--sources-per-style 30]
        [--local-edits 40] [--compose-per-prompt 10] [--only style local compose] [--output JSON]

Prints the tables and writes JSON (default ``benchmarks/results/editing.json``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

from motiongen.errors import InputError
from motiongen.evaluation.records import git_commit, machine_info, utc_now
from motiongen.io.atomic import atomic_write_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "editing.json"
PARTS = ("style", "local", "compose")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="editing", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="motiongen/kimodo-smplx")
    parser.add_argument("--classifier", default="motiongen/style-classifier-smplx")
    parser.add_argument("--evaluator", default="motiongen/evaluator-smplx")
    parser.add_argument("--split", default="test")
    parser.add_argument("--dataset", help="built dataset folder (default: the full build in the cache)")
    parser.add_argument("--cache", help="motiongen cache (default $MOTIONGEN_CACHE)")
    parser.add_argument("--sources-per-style", type=int, default=30)
    parser.add_argument("--local-edits", type=int, default=40)
    parser.add_argument("--compose-per-prompt", type=int, default=10)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--cfg-type", choices=("nocfg", "regular", "separated"),
                        help="guidance of the edits (default: the pipeline's edit default)")
    parser.add_argument("--cfg-weight", type=float, nargs="+", help="its weight(s): w, or w_text w_constraint")
    parser.add_argument("--no-free", dest="free", action="store_false",
                        help="skip the free text-to-motion generations beside the style edits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--output", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)

    import torch
    from tqdm import tqdm

    from motiongen.data.dataset import MotionDataset
    from motiongen.evaluation import editing
    from motiongen.models.evaluator.evaluator import TextMotionEvaluator
    from motiongen.pipelines.editing import EDIT_CFG
    from motiongen.pipelines.kimodo import KIMODOPipeline
    from motiongen.train.features import dataset_source

    torch.set_num_threads(args.threads)
    _, root = dataset_source(cache=args.cache, dataset=args.dataset)
    clips = editing.labelled_clips(MotionDataset(split=args.split, mirrored=False, root=root))
    pipe = KIMODOPipeline.from_pretrained(args.model)
    classifier = None
    if "style" in args.only:
        from motiongen.models.style import StyleClassifier

        classifier = StyleClassifier.from_pretrained(args.classifier)
    result: dict = {
        "format": "motiongen.editing/1", "date": utc_now(), "git_commit": git_commit(), "machine": machine_info(),
        "model": {"name": args.model, "info": pipe.bundle.info, "sampling": pipe.bundle.sampling},
        "classifier": {"name": args.classifier, "version": classifier.version} if classifier else None,
        "dataset": root.name, "split": args.split, "seed": args.seed, "seconds": {},
    }
    sampling: dict = {}
    if args.cfg_type is not None:
        sampling = {"cfg_type": args.cfg_type, "cfg_weight": args.cfg_weight}
    result["edit_sampling"] = {
        "steps": inspect.signature(pipe.local_edit).parameters["steps"].default,
        "cfg": [args.cfg_type, args.cfg_weight] if sampling else {task: [kind, list(w)] for task, (kind, w) in EDIT_CFG.items()},
        "style_contacts": inspect.signature(pipe.style_edit).parameters["contacts"].default,
        "postprocess": True,
    }
    style_pool = [c for c in clips if c.dataset == 2]
    total = len(classifier.label_sets[editing.STYLE_LABEL_SET]) * args.sources_per_style if classifier else 0
    total += args.local_edits if "local" in args.only else 0
    total += len(editing.COMPOSE_PROMPTS) * args.compose_per_prompt if "compose" in args.only else 0
    with tqdm(total=total, desc="edits", unit="edit") as bar:
        if "style" in args.only:
            started = time.perf_counter()
            result["style"] = editing.measure_style_edits(
                pipe, classifier, style_pool, sources_per_style=args.sources_per_style, seed=args.seed, sampling=sampling,
                free_generation=args.free, on_step=bar.update
            )
            result["seconds"]["style"] = round(time.perf_counter() - started, 1)
        if "local" in args.only:
            started = time.perf_counter()
            evaluator = TextMotionEvaluator.from_pretrained(args.evaluator)
            result["local"] = editing.measure_local_edits(pipe, evaluator, clips, count=args.local_edits, seed=args.seed,
                                                          sampling=sampling,
                                                          on_step=bar.update)
            result["seconds"]["local"] = round(time.perf_counter() - started, 1)
        if "compose" in args.only:
            started = time.perf_counter()
            result["compose"] = editing.measure_compositions(
                pipe, [c for c in clips if c.dataset == 2], sources_per_prompt=args.compose_per_prompt, seed=args.seed,
                sampling=sampling,
                on_step=bar.update,
            )
            result["seconds"]["compose"] = round(time.perf_counter() - started, 1)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(editing.editing_tables(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as exc:
        print(f"editing: error: {exc}", file=sys.stderr)
        sys.exit(2)
