"""Accuracy of the shipped style classifier on the test split (and on val, for reference).

Every unmirrored Bandai clip of the split is classified whole by
:func:`motiongen.evaluation.style.style_test_accuracy` (sliding windows, mean of the softmax) with the
head of its label set: ``bandai-7`` for dataset 2, ``bandai-15`` for dataset 1. The test split chose
nothing in training (the exported weights are those of the best validation step), so its figures are
the classifier's own held-out accuracy.

    python benchmarks/style_classifier.py [--model motiongen/style-classifier-smplx] [--dataset DIR]
        [--cache DIR] [--splits test val] [--output JSON]

Prints a table per split and writes JSON (default ``benchmarks/results/style_classifier.json``):
machine, classifier name and version, the selected training step, dataset, ``split`` (the first of ``--splits``) with its
``heads``, and ``reference_splits`` (the others). Per head: accuracy, chance (1 / C), clips, per-style
accuracy (recall) and clip counts, and the confusion matrix (rows true, columns predicted).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from machine_info import machine_info

from motiongen.errors import MotiongenError
from motiongen.io.atomic import atomic_write_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "style_classifier.json"
FORMAT = "motiongen.style_classifier_benchmark/1"


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def accuracy_table(split: str, heads: dict[str, Any]) -> str:
    """A plain-text table of one split: per head accuracy and chance, then per style."""
    lines = [f"split {split}", f"{'label set / style':<18} {'clips':>6} {'accuracy':>9} {'chance':>7}"]
    for head, r in heads.items():
        lines.append(f"{head:<18} {r['clips']:>6} {_figure(r['accuracy']):>9} {r['chance']:>7.3f}")
        for style, v in r["per_style"].items():
            if v["clips"]:
                lines.append(f"  {style:<16} {v['clips']:>6} {_figure(v['accuracy']):>9}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="style_classifier", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="motiongen/style-classifier-smplx", help="classifier name or folder")
    parser.add_argument("--dataset", help="built dataset folder (default: the full build in the cache)")
    parser.add_argument("--cache", help="motiongen cache (default $MOTIONGEN_CACHE)")
    parser.add_argument("--splits", nargs="+", default=["test", "val"],
                        help="splits to score, the first the headline one (default: test val)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--output", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    import torch

    from motiongen.evaluation.records import utc_now
    from motiongen.evaluation.style import style_test_accuracy
    from motiongen.models.style import StyleClassifier
    from motiongen.train.features import dataset_source

    torch.set_num_threads(max(1, args.threads))
    _, root = dataset_source(cache=args.cache, dataset=args.dataset)
    classifier = StyleClassifier.from_pretrained(args.model)
    started = time.perf_counter()
    splits = {}
    for split in args.splits:
        result = style_test_accuracy(classifier, root=root, split=split, progress=True)
        splits[split] = result["heads"]
    result = {
        "format": FORMAT, "date": utc_now(), "machine": machine_info(),
        "classifier": args.model, "classifier_version": classifier.version, "selected_step": classifier.info.get("best_step"),
        "dataset": root.name, "clips_read": "unmirrored Bandai clips, each whole",
        "split": args.splits[0], "heads": splits[args.splits[0]],
        "reference_splits": {s: heads for s, heads in splits.items() if s != args.splits[0]},
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(f"classifier {args.model} (version {classifier.version}) on {root.name}")
    for split, heads in splits.items():
        print()
        print(accuracy_table(split, heads))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MotiongenError as exc:
        print(f"style_classifier: error: {exc}", file=sys.stderr)
        sys.exit(2)
