"""The small ``motiongen eval`` run that tests/test_eval.py and tests/test_eval_shard.py share.

One plain run (the ``plain_eval_run`` fixture of conftest.py) serves both modules: test_eval.py
resumes and edits a copy of it (:func:`copy_run`), test_eval_shard.py compares a 2-rank run against
it. Its settings: the shipped KIMODO model and evaluator, 2 replications of 32 captions, 2 DDIM
steps, few multimodality, in-betweening and constraint cases (40-frame windows of any clip: caption
coverage 0).
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: The run's settings, as :class:`motiongen.evaluation.runner.EvalSettings` fields.
SETTINGS = {"replications": 2, "limit": 32, "steps": 2, "mm_captions": 4, "mm_repeats": 2, "inbetween_windows": 3,
            "constraint_cases": 1, "constraint_frames": 40, "constraint_caption_coverage": 0.0}
#: The same as ``motiongen eval`` options (besides ``--dataset``, ``-o`` and progress): each field is
#: its option with dashes, so the two forms cannot drift apart.
ARGS = ["--model", "motiongen/kimodo-smplx"] + [
    item for name, value in SETTINGS.items() for item in (f"--{name.replace('_', '-')}", str(value))
]
#: What a run writes beside its JSON ``X.json``: ``X.parts`` (finished pieces) and ``X.view``.
SIBLINGS = (".parts", ".view")


def copy_run(metrics: Path, folder: Path) -> Path:
    """Copy the run whose JSON is ``metrics`` (with its parts and view folders) into ``folder``;
    returns the copy's JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / metrics.name
    shutil.copy2(metrics, out)
    for suffix in SIBLINGS:
        source = metrics.with_suffix(suffix)
        if source.exists():
            shutil.copytree(source, out.with_suffix(suffix))
    return out
