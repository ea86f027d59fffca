"""Full evaluation of a model: ``motiongen eval`` with its defaults on the whole test split, timed.

Runs :func:`motiongen.evaluation.runner.run_eval` from scratch (its resume pieces go to a temporary
folder, so nothing finished earlier is reused and the time is the whole job's), prints the tables and
the wall time against the 30-minute budget (2 CPU cores), and writes the metrics JSON (default
``benchmarks/results/eval_<model folder>.json``), which ``scripts/render_readme.py`` turns into the
README's evaluation tables. Every ``motiongen eval`` option can be passed through (``--steps 25``,
``--replications 5``, ...) and is recorded in the JSON's ``settings``.

    python benchmarks/eval_full.py [--model motiongen/kimodo-smplx] [--output JSON] [eval options]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from motiongen.evaluation.arguments import add_eval_parser

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_MINUTES = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval_full", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    add_eval_parser(sub, lambda args: 0)
    args = parser.parse_args(["eval", *(sys.argv[1:] if argv is None else argv)])
    from motiongen.evaluation.report import format_summary
    from motiongen.evaluation.runner import EvalSettings, run_eval
    from motiongen.pipelines.bundle import resolve_model

    explicit_output = any(a in ("-o", "--output") or a.startswith("--output=") for a in (sys.argv[1:] if argv is None else argv))
    output = Path(args.output) if explicit_output else RESULTS / f"eval_{resolve_model(args.model).name}.json"
    settings = EvalSettings.from_args(args)
    work = Path(tempfile.mkdtemp(prefix="motiongen-eval-"))
    try:
        result = run_eval(args.model, work / "metrics.json", settings, evaluator=args.evaluator, dataset=args.dataset,
                          cache=args.cache, progress=not args.no_progress,
                          # the view folder holds test motions (data-derived): never beside the committed JSON
                          view=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = result["seconds"]["total"] / 60.0
    result["budget"] = {"minutes": BUDGET_MINUTES, "within": minutes < BUDGET_MINUTES}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    print(format_summary(result))
    seconds = ", ".join(f"{k} {v:.0f} s" for k, v in result["seconds"].items())
    print(f"\nwall time {minutes:.1f} min ({seconds}); budget {BUDGET_MINUTES:g} min on 2 CPU cores: "
          f"{'within' if minutes < BUDGET_MINUTES else 'OVER'}; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
