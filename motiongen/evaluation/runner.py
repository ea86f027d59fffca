"""``motiongen eval --model NAME [--tasks ...] [--split test] [--replications N] -o metrics.json``.

:func:`run_eval` runs the chosen tasks and writes one JSON (layout below). Every finished piece
(a replication, a method's in-betweening scores, a task's figures) is written at once to
``OUT.parts/`` (``metrics.parts/`` for ``metrics.json``); a second run with the same settings picks
up the finished pieces and does only what is missing, so an interrupted evaluation resumes. Pieces
from different settings (model, evaluator, split, counts) are never mixed: the folder's
``run.json`` records them, and a mismatch starts that folder over.

Output (``format: motiongen.eval/1``): ``date``, ``git_commit``, ``motiongen_version``, ``machine``,
``model`` (name, path, hash of its files, training steps), ``evaluator`` (name, version hash),
``split``, ``dataset``, ``settings``, ``tasks`` (one entry per task, rows with the real-data row
first), ``seconds`` per task.

Beside the JSON, ``OUT.view/`` (``metrics.view/``) is a viewer folder (``motiongen view metrics.view/``):
one ``text_to_motion`` case per sample of t2m replication 0 (panels ``gt``: the test motion, turned
and moved to start at the origin facing +Z as generated motions do; ``generated``: the model's motion
for that caption at the same length) and, when the constraints task ran, one ``constraints`` case per
window and constraint type (the real window, the condition's full-body poses and overlays, the
post-processed constrained motion). Files hold joint positions only. The folder is rebuilt at the
end from the finished pieces, so a resumed run writes it too; ``view=False`` (``--no-view``) skips it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from motiongen.errors import InputError
from motiongen.io.atomic import atomic_write, atomic_write_text

from motiongen.evaluation.arguments import DEFAULTS, TASK_NAMES as TASKS

if TYPE_CHECKING:
    from motiongen.viz.folder import ViewCase

EVAL_FORMAT = "motiongen.eval/1"


@dataclass
class EvalSettings:
    """Counts and options of one evaluation (recorded in the output; part of the resume identity)."""

    tasks: tuple[str, ...] = TASKS
    split: str = "test"
    replications: int = DEFAULTS["replications"]
    steps: int = DEFAULTS["steps"]
    limit: int | None = None  # at most this many test items / windows / cases (a quick slice)
    mm_captions: int = DEFAULTS["mm_captions"]
    mm_repeats: int = DEFAULTS["mm_repeats"]
    mm_replications: int = DEFAULTS["mm_replications"]
    inbetween_windows: int = DEFAULTS["inbetween_windows"]
    constraint_cases: int = DEFAULTS["constraint_cases"]
    constraint_frames: int = DEFAULTS["constraint_frames"]
    seed: int = DEFAULTS["seed"]

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise InputError(f"unknown task(s) {unknown}; allowed: {', '.join(TASKS)}", field="tasks")
        for name in ("replications", "steps", "inbetween_windows", "constraint_cases", "constraint_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"must be an integer >= 1, got {value!r}", field=name)
        for name in ("mm_captions", "mm_repeats", "mm_replications", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"must be an integer >= 0, got {value!r}", field=name)
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 32):
            raise InputError(f"must be an integer >= 32 (one R-precision batch), got {self.limit!r}", field="limit")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass
class Parts:
    """The resume folder: one JSON (or npz) per finished piece."""

    folder: Path
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))

    def open(self, identity: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        run = self.folder / "run.json"
        if run.is_file():
            try:
                old = json.loads(run.read_text())
            except json.JSONDecodeError:
                old = None
            if old != identity:
                self.log(f"{self.folder}: finished pieces are from other settings; starting over")
                for p in self.folder.iterdir():
                    p.unlink()
        atomic_write_text(run, json.dumps(identity, indent=1, sort_keys=True) + "\n")

    def get(self, name: str) -> Any:
        path = self.folder / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, name: str, value: Any) -> Any:
        atomic_write_text(self.folder / f"{name}.json", json.dumps(value, indent=1) + "\n")
        return value

    def cached(self, name: str, compute: Callable[[], Any]) -> Any:
        found = self.get(name)
        return found if found is not None else self.put(name, compute())


def _progress(iterable: Any, desc: str, enabled: bool = True) -> Any:
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit="run", disable=not enabled)


def _positions_npz(parts: Parts, name: str) -> Path:
    return parts.folder / f"{name}.npz"


def _save_motions(path: Path, motions: Sequence[Any]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for i, m in enumerate(motions):
        arrays[f"positions_{i}"] = np.asarray(m.positions, dtype=np.float32)
        if m.foot_contacts is not None:
            arrays[f"contacts_{i}"] = np.asarray(m.foot_contacts, dtype=bool)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, count=np.array(len(motions)), **arrays)
    tmp.replace(path)


def _load_motions(path: Path) -> list[Any]:
    from motiongen.evaluation.t2m import GeneratedMotion

    with np.load(path) as z:
        return [GeneratedMotion(z[f"positions_{i}"].astype(np.float64), z[f"contacts_{i}"] if f"contacts_{i}" in z else None)
                for i in range(int(z["count"]))]


# ==================================================================================================
# Tasks
# ==================================================================================================
def _t2m_task(ctx: "_Context") -> dict[str, Any]:
    from motiongen.evaluation.t2m import floor_figures, load_items, run_replication, summarise_replications
    from motiongen.metrics.t2m import chance_r_precision

    s, parts, ev = ctx.settings, ctx.parts, ctx.evaluator
    items = ctx.test_items()
    real_emb = ev.encode_motions([it.positions for it in items])
    reps = range(s.replications)
    real = [parts.cached(f"t2m-real-{r}", lambda r=r: run_replication(items, real_emb, ev, None, s.seed + r)) for r in reps]

    def floor() -> dict[str, Any]:
        train = load_items(ctx.dataset("train"), limit=None)
        train_emb = ev.encode_motions([it.positions for it in train])
        return {"train_items": len(train), **floor_figures(train_emb, real_emb, np.random.default_rng(s.seed))}

    floor_row = parts.cached("t2m-floor", floor)
    generated = []
    for r in _progress(reps, "t2m replications", enabled=ctx.progress):
        name = f"t2m-model-{r}"
        found = parts.get(name)
        if found is None:
            mm = s.mm_captions if r < s.mm_replications else 0
            result = run_replication(items, real_emb, ev, ctx.generator, s.seed + r, mm_captions=mm,
                                     mm_repeats=s.mm_repeats, keep_motions=(r == 0))
            if r == 0:
                _save_motions(_positions_npz(parts, "t2m-model-0-motions"), result.pop("motions"))
            found = parts.put(name, result)
        generated.append(found)
    n_used = real[0]["samples"]
    return {
        "items": len(items),
        "samples_per_replication": n_used,
        "replications": s.replications,
        "multimodality": {"captions": s.mm_captions, "repeats": s.mm_repeats, "replications": s.mm_replications},
        "chance_r_precision": chance_r_precision(32, 3),
        "rows": [
            {"name": "Real (test vs test)", "kind": "real", **summarise_replications(real)},
            {"name": "Real (train vs test)", "kind": "floor", "fid": floor_row["fid"], "diversity": floor_row["diversity"],
             "train_items": floor_row["train_items"]},
            {"name": ctx.model_name, "kind": "model", **summarise_replications(generated)},
        ],
    }


def _quality_task(ctx: "_Context") -> dict[str, Any]:
    from motiongen.evaluation.t2m import GeneratedMotion, mean_quality, replication_plan

    items = ctx.test_items()
    skeleton, fps = ctx.skeleton, ctx.fps
    real = ctx.parts.cached("quality-real", lambda: mean_quality([GeneratedMotion(it.positions) for it in items], skeleton, fps))
    npz = _positions_npz(ctx.parts, "t2m-model-0-motions")

    def model_row() -> dict[str, Any]:
        if npz.is_file():
            motions = _load_motions(npz)
        else:
            order, captions = replication_plan(items, ctx.settings.seed)
            motions = ctx.generator(captions, [items[i].frames for i in order], ctx.settings.seed)
            _save_motions(npz, motions)
        return {"motions": len(motions), **mean_quality(motions, skeleton, fps)}

    model = ctx.parts.cached("quality-model", model_row)
    return {
        "note": "per-motion means; the model's motions are those of t2m replication 0 (same captions and lengths)",
        "rows": [{"name": "Real (test)", "kind": "real", "motions": len(items), **real},
                 {"name": ctx.model_name, "kind": "model", **model}],
    }


def _inbetween_task(ctx: "_Context") -> dict[str, Any]:
    from motiongen.metrics.inbetween import BASELINES, PositionStats, evaluate_inbetweening, extract_windows, position_stats

    s, parts = ctx.settings, ctx.parts
    stats = PositionStats.from_dict(parts.cached(
        "inbetween-stats", lambda: position_stats(ctx.dataset("train"), progress=ctx.progress).to_dict()))
    windows = extract_windows(ctx.dataset(s.split))
    total = len(windows)
    keep = min(total, s.inbetween_windows, s.limit or total)
    picks = np.sort(np.random.default_rng([s.seed, 3]).choice(total, size=keep, replace=False))
    windows = [windows[i] for i in picks]
    captions = ctx.captions_by_clip()
    methods: dict[str, Any] = dict(BASELINES)
    methods[ctx.model_name] = KimodoInbetweening(ctx.pipe, captions, steps=s.steps, seed=s.seed)
    rows = []
    for name, method in methods.items():
        scores = parts.cached(f"inbetween-{_slug(name)}",
                              lambda m=method: evaluate_inbetweening(windows, m, stats, progress=ctx.progress))
        rows.append({"name": name, "kind": "baseline" if name in BASELINES else "model", "scores": scores})
    return {
        "protocol": "LAFAN1 (65-frame windows every 40 frames, 10 context frames, transitions 5/15/30/45)",
        "windows": len(windows),
        "windows_available": total,
        "position_stats": {"window": stats.window, "offset": stats.offset, "frames": stats.frames, "split": "train"},
        "rows": rows,
    }


def _constraints_task(ctx: "_Context") -> dict[str, Any]:
    from motiongen.evaluation.constraints import evaluate_constraints

    s = ctx.settings
    found = ctx.parts.get("constraints")
    if found is not None:
        return found
    kept: list[tuple[int, np.ndarray, np.ndarray]] = []

    def keep(case: Any, ctype: str, out: Any) -> None:
        kept.append((int(case.seed), np.asarray(out.posed_joints[0], np.float32),
                     np.asarray(out.smooth_root_pos[0], np.float32)))

    record = evaluate_constraints(ctx.pipe, ctx.dataset(s.split), cases=_constraint_case_count(s),
                                  frames=s.constraint_frames, steps=s.steps, seed=s.seed, progress=ctx.progress,
                                  on_generated=keep)
    # the motions first: a finished "constraints" piece always has its motions beside it
    _save_constraint_motions(_positions_npz(ctx.parts, CONSTRAINT_MOTIONS), kept)
    return ctx.parts.put("constraints", record)


def _constraint_case_count(settings: EvalSettings) -> int:
    return min(settings.constraint_cases, settings.limit or settings.constraint_cases)


#: The constraints task's post-processed constrained motions, in the parts folder (``.npz``).
CONSTRAINT_MOTIONS = "constraints-motions"


def _save_constraint_motions(path: Path, kept: Sequence[tuple[int, np.ndarray, np.ndarray]]) -> None:
    arrays = {"seeds": np.array([seed for seed, _, _ in kept], np.int64)}
    for i, (_, positions, smooth) in enumerate(kept):
        arrays[f"positions_{i}"], arrays[f"smooth_root_{i}"] = positions, smooth
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def _load_constraint_motions(path: Path) -> list[tuple[int, np.ndarray, np.ndarray]]:
    with np.load(path) as z:
        return [(int(seed), z[f"positions_{i}"].astype(np.float64), z[f"smooth_root_{i}"].astype(np.float64))
                for i, seed in enumerate(z["seeds"])]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")


class KimodoInbetweening:
    """The KIMODO pipeline as an in-betweening method: full-body keyframes on the context frames and
    the target frame (:meth:`constrained_motion`, the pipeline's defaults), one window at a time,
    prompted with the window's clip caption (our data has one; LAFAN1's has none)."""

    def __init__(self, pipe: Any, captions: dict[str, str], *, steps: int = 25, seed: int = 0) -> None:
        self.pipe, self.captions, self.steps, self.seed = pipe, captions, steps, seed

    def __call__(self, motions: list[Any], context: int, transition: int) -> list[Any]:
        from dataclasses import replace

        out = []
        for k, motion in enumerate(motions):
            n = motion.num_frames
            frames = list(range(context)) + [n - 1]
            keys = self.pipe.fullbody_keyframe_constraint(frames, motion=motion)
            prompt = self.captions.get(str(motion.meta.get("clip_id")), "a person moves.")
            gen = self.pipe.constrained_motion(prompt, n, constraints=[keys], seed=self.seed + k, steps=self.steps)
            out.append(replace(motion, local_rotations=gen.local_rot_mats[0], root_translation=gen.root_positions[0],
                               foot_contacts=None))
        return out


# ==================================================================================================
# Context and driver
# ==================================================================================================
class _Context:
    def __init__(self, settings: EvalSettings, parts: Parts, pipe: Any, evaluator: Any, model_name: str,
                 dataset_root: Path, progress: bool) -> None:
        from motiongen.evaluation.t2m import PipelineGenerator

        self.settings, self.parts, self.pipe, self.evaluator = settings, parts, pipe, evaluator
        self.model_name, self.dataset_root, self.progress = model_name, dataset_root, progress
        self.skeleton, self.fps = _pipeline_skeleton(pipe), float(pipe.fps)
        self.generator = PipelineGenerator(pipe, steps=settings.steps, progress=progress)
        self._items: Any = None
        self._datasets: dict[str, Any] = {}

    def dataset(self, split: str) -> Any:
        from motiongen.data.dataset import MotionDataset

        if split not in self._datasets:
            self._datasets[split] = MotionDataset(root=self.dataset_root, split=split, mirrored=False)
        return self._datasets[split]

    def test_items(self) -> list[Any]:
        from motiongen.evaluation.t2m import load_items

        if self._items is None:
            self._items = load_items(self.dataset(self.settings.split), limit=self.settings.limit)
        return self._items

    def captions_by_clip(self) -> dict[str, str]:
        ds = self.dataset(self.settings.split)
        return {r["id"]: r["captions"][0] for r in ds.records if r.get("captions")}


def _pipeline_skeleton(pipe: Any) -> Any:
    return pipe.bundle.skeleton if hasattr(pipe, "bundle") else pipe.skeleton


#: Tasks that need kinematic controls, which the SMoG autoencoder does not take.
CONTROL_TASKS = ("inbetween", "constraints")


def _tasks_for(pipe: Any, settings: EvalSettings, log: Callable[[str], None]) -> tuple[str, ...]:
    """``settings.tasks`` the model can do: SMoG drops the control tasks when they came by default,
    and refuses them when asked for by name."""
    from motiongen.pipelines.smog import SMoGPipeline

    if not isinstance(pipe, SMoGPipeline):
        return settings.tasks
    asked = [t for t in settings.tasks if t in CONTROL_TASKS]
    if asked and settings.tasks != TASKS:
        raise InputError(f"the SMoG model takes no kinematic controls, so it cannot run {', '.join(asked)}; "
                         f"its tasks: {', '.join(t for t in TASKS if t not in CONTROL_TASKS)}", field="tasks")
    if asked:
        log(f"eval: SMoG takes no kinematic controls; skipping {', '.join(asked)}")
    return tuple(t for t in settings.tasks if t not in CONTROL_TASKS)


_RUNNERS = {"t2m": _t2m_task, "quality": _quality_task, "inbetween": _inbetween_task, "constraints": _constraints_task}


def run_eval(
    model: str,
    output: str | Path,
    settings: EvalSettings | None = None,
    *,
    evaluator: str | None = None,
    dataset: str | Path | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    view: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``settings.tasks``; write and return the metrics JSON and, with ``view``,
    the viewer folder ``OUT.view/`` (see the module doc)."""
    from motiongen import __version__
    from motiongen.evaluation.records import folder_digest, git_commit, machine_info, utc_now
    from motiongen.models.evaluator import DEFAULT_EVALUATOR, TextMotionEvaluator
    from motiongen.pipelines.bundle import resolve_model
    from motiongen.pipelines.loading import load_pipeline
    from motiongen.train.features import dataset_source
    from motiongen.viz.folder import check_view_target

    settings = settings or EvalSettings()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    output = Path(output)
    if view:  # refused now rather than after an hour of evaluation
        check_view_target(view_folder(output))
    host = machine_info()
    started = time.perf_counter()
    model_folder = resolve_model(model)
    pipe = load_pipeline(model)
    settings = replace(settings, tasks=_tasks_for(pipe, settings, log))
    judge = TextMotionEvaluator.from_pretrained(evaluator or DEFAULT_EVALUATOR)
    _, dataset_root = dataset_source(cache=cache, dataset=dataset)
    deterministic = not hasattr(pipe, "bundle")
    model_record = {"name": str(model), "path": str(model_folder), "hash": folder_digest(model_folder),
                    "kind": "smog" if deterministic else "kimodo",
                    "steps": (pipe.info if deterministic else pipe.bundle.info).get("steps"),
                    "sampling": "deterministic decoder (no noise; steps and seed unused)" if deterministic
                    else f"DDIM {settings.steps} steps"}
    evaluator_record = {"name": evaluator or DEFAULT_EVALUATOR, "version": judge.version}
    parts = Parts(output.with_name(output.stem + ".parts"), log)
    parts.open({"format": EVAL_FORMAT, "model_hash": model_record["hash"], "evaluator": judge.version,
                "dataset": dataset_root.name, "settings": {k: v for k, v in settings.to_dict().items() if k != "tasks"}})
    ctx = _Context(settings, parts, pipe, judge, str(model), dataset_root, progress)
    tasks: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for task in settings.tasks:
        t0 = time.perf_counter()
        log(f"eval: {task}")
        tasks[task] = _RUNNERS[task](ctx)
        seconds[task] = round(time.perf_counter() - t0, 2)
    result = {
        "format": EVAL_FORMAT,
        "date": utc_now(),
        "git_commit": git_commit(),
        "motiongen_version": __version__,
        "machine": {**host, "load_average_1m_end": round(os.getloadavg()[0], 2)},
        "model": model_record,
        "evaluator": evaluator_record,
        "split": settings.split,
        "dataset": dataset_root.name,
        "settings": settings.to_dict(),
        "tasks": tasks,
        "seconds": {**seconds, "total": round(time.perf_counter() - started, 2)},
    }
    atomic_write_text(output, json.dumps(result, indent=1) + "\n")
    if view:
        write_eval_view(ctx, tasks, view_folder(output))
    return result


# ==================================================================================================
# The viewer folder
# ==================================================================================================
def view_folder(output: str | Path) -> Path:
    """The viewer folder beside the metrics JSON: ``metrics.json`` -> ``metrics.view``."""
    output = Path(output)
    return output.with_name(output.stem + ".view")


def canonical_positions(positions: np.ndarray, skeleton: Any) -> np.ndarray:
    """``positions [T, J, 3]`` turned about Y and moved in xz so that frame 0 faces +Z with the root
    over the origin (:func:`~motiongen.motion.kimodo_features.canonicalize` on positions)."""
    from motiongen.motion.kimodo_features import root_heading, yaw_matrix

    heading = float(root_heading(positions[0], skeleton))
    turned = np.asarray(positions, np.float64) @ yaw_matrix(-heading).T
    turned[..., [0, 2]] -= turned[0, 0, [0, 2]]
    return turned


def _rounded(values: Mapping[str, Any], digits: int = 4) -> dict[str, Any]:
    """``values`` with floats rounded (nested mappings too), for the manifest."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = _rounded(value, digits)
        elif isinstance(value, float):
            out[key] = round(value, digits) if np.isfinite(value) else None
        else:
            out[key] = value
    return out


def _case_slug(text: str) -> str:
    """``text`` as the tail of a case id (the viewer's ids allow letters, digits, ``._-``)."""
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "_" for ch in text)[:96]


def _t2m_view_cases(ctx: _Context) -> list[ViewCase]:
    """One case per sample of t2m replication 0, in test-item order: the test motion and the model's
    motion for the drawn caption at the same length, with both motions' quality figures."""
    from motiongen.evaluation.t2m import replication_plan
    from motiongen.metrics.quality import quality_summary
    from motiongen.viz.folder import ViewCase

    npz = _positions_npz(ctx.parts, "t2m-model-0-motions")
    if not npz.is_file():
        return []
    s, skeleton, fps = ctx.settings, ctx.skeleton, ctx.fps
    items = ctx.test_items()
    order, captions = replication_plan(items, s.seed)
    motions = _load_motions(npz)
    if len(motions) != len(order):
        ctx.parts.log(f"{npz}: {len(motions)} motions for {len(order)} samples; no text-to-motion cases in the view")
        return []
    cases = []
    for k in np.argsort(order, kind="stable"):
        item, motion = items[order[k]], motions[k]
        gt = canonical_positions(item.positions, skeleton)
        cases.append(ViewCase(
            f"t2m_{int(order[k]):03d}_{_case_slug(item.clip_id)}",
            [captions[k]],
            "text_to_motion",
            {"gt": gt, "generated": motion.positions},
            skeleton,
            missing={"condition": "text to motion: there are no constraints"},
            diagnostics={
                "test_item": {"clip_id": item.clip_id, "index": int(order[k]), "frames": item.frames,
                              "captions": len(item.captions), "shown": "turned and moved to start at the origin facing +Z"},
                "generation": {"model": ctx.model_name, "replication": 0, "seed": s.seed, "steps": s.steps},
                "quality_generated": _rounded(quality_summary(motion.positions, skeleton, fps, motion.foot_contacts)),
                "quality_gt": _rounded(quality_summary(gt, skeleton, fps)),
            },
        ))
    return cases


def _constraint_view_cases(ctx: _Context, record: Mapping[str, Any]) -> list[ViewCase]:
    """One case per window and constraint type of the constraints task: the real window (``gt``), the
    condition (overlays; full-body poses as the ``condition`` panel) and the post-processed
    constrained motion, with the task's figures of that case and type."""
    from motiongen.evaluation.constraints import build_cases, build_constraints
    from motiongen.viz.folder import ViewCase
    from motiongen.viz.manifest import condition_from_constraints

    npz = _positions_npz(ctx.parts, CONSTRAINT_MOTIONS)
    if not npz.is_file():
        ctx.parts.log(f"{npz} is missing (pieces from an older version); no constraints cases in the view")
        return []
    s, types = ctx.settings, record["settings"]["types"]
    kept = _load_constraint_motions(npz)
    windows = build_cases(ctx.dataset(s.split), _constraint_case_count(s), s.constraint_frames, s.seed,
                          ctx.pipe.bundle.features)
    per_case = record["per_case"]
    same = len(windows) == len(per_case) and all(
        (w.clip_id, w.start) == (c["clip_id"], c["start"]) for w, c in zip(windows, per_case))
    if not same or len(kept) != len(windows) * len(types):
        ctx.parts.log(f"{npz}: the kept motions do not match the task's cases; no constraints cases in the view")
        return []
    cases = []
    for w, window in enumerate(windows):
        for t, ctype in enumerate(types):
            seed, positions, smooth_root = kept[w * len(types) + t]
            if seed != window.seed:
                ctx.parts.log(f"{npz}: motion {w * len(types) + t} has seed {seed}, its case {window.seed}; no constraints "
                              "cases in the view")
                return []
            condition = condition_from_constraints(build_constraints(ctx.pipe, window, ctype), window.num_frames)
            cases.append(ViewCase(
                f"constraints_{w:02d}_{ctype}",
                [window.caption],
                "constraints",
                {"gt": window.positions, "generated": positions},
                ctx.skeleton,
                condition=condition,
                smooth_root=smooth_root,
                missing={"condition": f"{ctype}: no full-body keyframes (its targets are drawn as overlays)"},
                diagnostics={
                    "case": {"constraint_type": ctype, "clip_id": window.clip_id, "source": window.source,
                             "start_frame": window.start, "seed": window.seed, "shown": "post-processed"},
                    "eval_figures": _rounded(per_case[w]["figures"][ctype]),
                },
            ))
    return cases


def write_eval_view(ctx: _Context, tasks: Mapping[str, Any], root: Path) -> Path | None:
    """Rebuild the viewer folder ``root`` from the finished pieces of the tasks that ran; returns its
    manifest, or None when no task left motions to show."""
    from motiongen.viz.folder import write_view_folder

    cases = _t2m_view_cases(ctx) if {"t2m", "quality"} & set(tasks) else []
    if "constraints" in tasks:
        cases += _constraint_view_cases(ctx, tasks["constraints"])
    if not cases:
        ctx.parts.log(f"eval: no motions to show (tasks {', '.join(tasks)}); {root} not written")
        return None
    title = f"{ctx.model_name} on {ctx.settings.split} ({ctx.dataset_root.name})"
    manifest = write_view_folder(root, cases, title=title)
    ctx.parts.log(f"eval: wrote the viewer folder {root} ({len(cases)} cases); see it with 'motiongen view {root}'")
    return manifest
