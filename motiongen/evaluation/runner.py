"""``motiongen eval --model NAME [--tasks ...] [--split test] [--replications N] -o metrics.json``.

:func:`run_eval` runs the chosen tasks and writes one JSON (layout below). Every finished piece
(a replication, a method's in-betweening scores, a task's figures) is written at once to
``OUT.parts/`` (``metrics.parts/`` for ``metrics.json``); a second run with the same settings picks
up the finished pieces and does only what is missing, so an interrupted evaluation resumes. Pieces
from different settings (model, evaluator, split, counts) or code (the package's sources,
:func:`~motiongen.evaluation.records.code_digest`) are never mixed: the folder's
``run.json`` records them, and a mismatch starts that folder over.

Under ``torchrun`` (or ``torchrun --nnodes`` with ``-o`` on a shared folder) the pieces are shared
out across the ranks (:mod:`motiongen.evaluation.shard`): each rank computes the pieces it owns,
then rank 0 assembles the same JSON and view folder a single process would write (``ranks`` and
``pieces_computed_by_rank`` say who did what; each rank also logs its pieces in
``OUT.parts/computed-by-rank-R.jsonl``). A plain run is the same code with one rank. Every piece is
seeded from the settings and its own name or index (replication ``r``: ``seed + r``; in-betweening
window ``k``: ``seed + k``; constraint case ``k``: ``seed * 1000 + k``), never from the rank or from
what ran before it. The model's in-betweening row is generated in chunks of
:data:`INBETWEEN_CHUNK` windows and scored once all are in; the constraints task, one piece per case.

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
from motiongen.evaluation.arguments import DEFAULTS, check_caption_coverage
from motiongen.evaluation.arguments import TASK_NAMES as TASKS
from motiongen.evaluation.shard import Piece, Shard, ShardGroup, compute_owned
from motiongen.io.atomic import atomic_write, atomic_write_text

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
    constraint_caption_coverage: float = DEFAULTS["constraint_caption_coverage"]
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
        check_caption_coverage(self.constraint_caption_coverage, "constraint_caption_coverage")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 32):
            raise InputError(f"must be an integer >= 32 (one R-precision batch), got {self.limit!r}", field="limit")

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_args(cls, args: Any) -> EvalSettings:
        """The settings ``motiongen eval``'s parsed options give (:func:`~motiongen.evaluation.arguments.add_eval_parser`)."""
        return cls(
            tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()), split=args.split,
            replications=args.replications, steps=args.steps, limit=args.limit, mm_captions=args.mm_captions,
            mm_repeats=args.mm_repeats, mm_replications=args.mm_replications, inbetween_windows=args.inbetween_windows,
            constraint_cases=args.constraint_cases, constraint_frames=args.constraint_frames,
            constraint_caption_coverage=args.constraint_caption_coverage, seed=args.seed,
        )


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

    def check(self, identity: dict[str, Any], shard: Shard) -> None:
        """A rank other than 0: the folder rank 0 opened must be for the same settings (ranks on other
        machines may have another model or dataset)."""
        run = self.folder / "run.json"
        found = json.loads(run.read_text()) if run.is_file() else None
        if found != identity:
            raise InputError(f"rank {shard.rank} evaluates other settings (model, evaluator, dataset or counts) than "
                             f"rank 0 recorded in {run}; every rank must see the same files", field="RANK")

    def has(self, name: str) -> bool:
        return (self.folder / f"{name}.json").is_file()

    def get(self, name: str) -> Any:
        path = self.folder / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, name: str, value: Any) -> Any:
        atomic_write_text(self.folder / f"{name}.json", json.dumps(value, indent=1) + "\n")
        return value

    def cached(self, name: str, compute: Callable[[], Any]) -> Any:
        found = self.get(name)
        return found if found is not None else self.put(name, compute())


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
# Tasks: each is a list of pieces (what phase 1 shares out) and an assembly that reads them
# ==================================================================================================
def _json_piece(ctx: _Context, name: str, task: str, compute: Callable[[], Any], follows: str | None = None) -> Piece:
    """A piece stored as ``NAME.json`` (the value ``compute()`` returns)."""
    return Piece(name, task, lambda: ctx.parts.cached(name, compute), lambda: ctx.parts.has(name), follows)


def _t2m_model_replication(ctx: _Context, r: int) -> dict[str, Any]:
    """Model replication ``r`` (seed ``seed + r``); replication 0 also leaves its motions beside it."""
    from motiongen.evaluation.t2m import run_replication

    s = ctx.settings
    mm = s.mm_captions if r < s.mm_replications else 0
    result = run_replication(ctx.test_items(), ctx.real_embeddings(), ctx.evaluator, ctx.generator, s.seed + r,
                             mm_captions=mm, mm_repeats=s.mm_repeats, keep_motions=(r == 0))
    if r == 0:  # the motions first: a finished replication 0 always has its motions beside it
        _save_motions(_positions_npz(ctx.parts, "t2m-model-0-motions"), result.pop("motions"))
    return result


def _t2m_floor(ctx: _Context) -> dict[str, Any]:
    from motiongen.evaluation.t2m import floor_figures, load_items

    train = load_items(ctx.dataset("train"), limit=None)
    train_emb = ctx.evaluator.encode_motions([it.positions for it in train])
    return {"train_items": len(train),
            **floor_figures(train_emb, ctx.real_embeddings(), np.random.default_rng(ctx.settings.seed))}


def _t2m_pieces(ctx: _Context) -> tuple[list[Piece], list[Piece]]:
    """``(expensive, cheap)`` pieces of the t2m task: model replications; real rows and the floor."""
    from motiongen.evaluation.t2m import run_replication

    s = ctx.settings
    model = [_json_piece(ctx, f"t2m-model-{r}", "t2m", lambda r=r: _t2m_model_replication(ctx, r))
             for r in range(s.replications)]
    real = [_json_piece(ctx, f"t2m-real-{r}", "t2m", lambda r=r: run_replication(
        ctx.test_items(), ctx.real_embeddings(), ctx.evaluator, None, s.seed + r)) for r in range(s.replications)]
    return model, real + [_json_piece(ctx, "t2m-floor", "t2m", lambda: _t2m_floor(ctx))]


def _t2m_task(ctx: _Context) -> dict[str, Any]:
    from motiongen.evaluation.t2m import summarise_replications
    from motiongen.metrics.t2m import chance_r_precision

    s, parts = ctx.settings, ctx.parts
    for piece in [p for group in _t2m_pieces(ctx) for p in group]:
        piece.make()
    real = [parts.get(f"t2m-real-{r}") for r in range(s.replications)]
    generated = [parts.get(f"t2m-model-{r}") for r in range(s.replications)]
    floor_row = parts.get("t2m-floor")
    return {
        "items": len(ctx.test_items()),
        "samples_per_replication": real[0]["samples"],
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


def _quality_model_row(ctx: _Context) -> dict[str, Any]:
    """Quality of t2m replication 0's motions (generated here, with that replication's captions,
    lengths and seed, when the t2m task has not left them)."""
    from motiongen.evaluation.t2m import mean_quality, replication_plan

    npz = _positions_npz(ctx.parts, "t2m-model-0-motions")
    if npz.is_file():
        motions = _load_motions(npz)
    else:
        items = ctx.test_items()
        order, captions = replication_plan(items, ctx.settings.seed)
        motions = ctx.generator(captions, [items[i].frames for i in order], ctx.settings.seed)
        _save_motions(npz, motions)
    return {"motions": len(motions), **mean_quality(motions, ctx.skeleton, ctx.fps)}


def _quality_pieces(ctx: _Context, with_t2m: bool) -> tuple[list[Piece], list[Piece]]:
    """``(expensive, cheap)`` pieces of the quality task. With the t2m task the model row reads its
    replication 0's motions, so it follows that piece (and is cheap); alone it generates them."""
    from motiongen.evaluation.t2m import GeneratedMotion, mean_quality

    model = _json_piece(ctx, "quality-model", "quality", lambda: _quality_model_row(ctx),
                        follows="t2m-model-0" if with_t2m else None)
    real = _json_piece(ctx, "quality-real", "quality", lambda: mean_quality(
        [GeneratedMotion(it.positions) for it in ctx.test_items()], ctx.skeleton, ctx.fps))
    return ([], [model, real]) if with_t2m else ([model], [real])


def _quality_task(ctx: _Context) -> dict[str, Any]:
    for piece in [p for group in _quality_pieces(ctx, with_t2m=False) for p in group]:
        piece.make()
    return {
        "note": "per-motion means; the model's motions are those of t2m replication 0 (same captions and lengths)",
        "rows": [{"name": "Real (test)", "kind": "real", "motions": len(ctx.test_items()), **ctx.parts.get("quality-real")},
                 {"name": ctx.model_name, "kind": "model", **ctx.parts.get("quality-model")}],
    }


#: In-betweening windows per piece of the model's row (its generations are shared out in chunks).
INBETWEEN_CHUNK = 8


def _inbetween_chunks(count: int) -> list[tuple[int, int]]:
    """``[(first, stop)]`` window ranges of the model row's pieces for ``count`` windows."""
    return [(a, min(a + INBETWEEN_CHUNK, count)) for a in range(0, count, INBETWEEN_CHUNK)]


def _inbetween_chunk_name(ctx: _Context, first: int, stop: int) -> str:
    return f"inbetween-{_slug(ctx.model_name)}-windows-{first:04d}-{stop - 1:04d}"


def _inbetween_chunk(ctx: _Context, first: int, stop: int) -> None:
    """The model's predictions for windows ``first .. stop - 1`` at every transition length, cut and
    copied as :func:`~motiongen.metrics.inbetween.evaluate_inbetweening` gives them to a method,
    stored as ``NAME.npz`` (local rotations and root translation per transition and window)."""
    from motiongen.metrics.inbetween import CONTEXT, TRANSITIONS

    s = ctx.settings
    method = KimodoInbetweening(ctx.pipe, ctx.captions_by_clip(), steps=s.steps, seed=s.seed, first_window=first)
    arrays: dict[str, np.ndarray] = {}
    for n in TRANSITIONS:
        cut = [w.motion.slice(0, CONTEXT + n + 1) for w in ctx.inbetween_windows()[first:stop]]
        for k, pred in enumerate(method(cut, CONTEXT, n)):
            arrays[f"rotations_{n}_{first + k}"] = np.asarray(pred.local_rotations)
            arrays[f"root_{n}_{first + k}"] = np.asarray(pred.root_translation)
    atomic_write(ctx.parts.folder / f"{_inbetween_chunk_name(ctx, first, stop)}.npz",
                 lambda handle: np.savez(handle, **arrays))


class StoredInbetweening:
    """An in-betweening method that replays stored predictions: ``predictions[(transition, window)]
    = (local rotations, root translation)``, windows numbered in the order they are scored."""

    def __init__(self, predictions: Mapping[tuple[int, int], tuple[np.ndarray, np.ndarray]]) -> None:
        self.predictions = predictions

    @classmethod
    def load(cls, files: Sequence[Path]) -> StoredInbetweening:
        predictions: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for path in files:
            with np.load(path) as z:
                for key in z.files:
                    if key.startswith("rotations_"):
                        _, n, w = key.split("_")
                        predictions[(int(n), int(w))] = (z[key], z[f"root_{n}_{w}"])
        return cls(predictions)

    def __call__(self, motions: list[Any], context: int, transition: int) -> list[Any]:
        from dataclasses import replace

        out = []
        for k, motion in enumerate(motions):
            rotations, root = self.predictions[(transition, k)]
            out.append(replace(motion, local_rotations=rotations, root_translation=root, foot_contacts=None))
        return out


def _inbetween_pieces(ctx: _Context) -> tuple[list[Piece], list[Piece]]:
    """``(expensive, cheap)`` pieces of the in-betweening task: the model's window chunks; the
    position statistics and the baseline rows (which follow the statistics: they read them)."""
    from motiongen.metrics.inbetween import BASELINES, evaluate_inbetweening

    parts = ctx.parts
    model_row = f"inbetween-{_slug(ctx.model_name)}"
    chunks = []
    if not parts.has(model_row):  # a finished row needs none of its chunks
        for first, stop in _inbetween_chunks(len(ctx.inbetween_windows())):
            name = _inbetween_chunk_name(ctx, first, stop)
            done = (lambda name=name: parts.has(model_row) or (parts.folder / f"{name}.npz").is_file())
            chunks.append(Piece(name, "inbetween", lambda a=first, b=stop, done=done: done() or _inbetween_chunk(ctx, a, b),
                                done))
    cheap = [_json_piece(ctx, "inbetween-stats", "inbetween", lambda: ctx.position_stats().to_dict())]
    for name, method in BASELINES.items():
        cheap.append(_json_piece(ctx, f"inbetween-{_slug(name)}", "inbetween", lambda m=method: evaluate_inbetweening(
            ctx.inbetween_windows(), m, ctx.position_stats(), progress=ctx.progress), follows="inbetween-stats"))
    return chunks, cheap


def _inbetween_task(ctx: _Context) -> dict[str, Any]:
    from motiongen.metrics.inbetween import BASELINES, evaluate_inbetweening

    parts = ctx.parts
    chunks, cheap = _inbetween_pieces(ctx)
    for piece in chunks + cheap:
        piece.make()
    windows = ctx.inbetween_windows()
    files = [parts.folder / f"{_inbetween_chunk_name(ctx, a, b)}.npz" for a, b in _inbetween_chunks(len(windows))]
    parts.cached(f"inbetween-{_slug(ctx.model_name)}", lambda: evaluate_inbetweening(
        windows, StoredInbetweening.load(files), ctx.position_stats(), progress=ctx.progress))
    stats = ctx.position_stats()
    rows = []
    for name in [*BASELINES, ctx.model_name]:
        rows.append({"name": name, "kind": "baseline" if name in BASELINES else "model",
                     "scores": parts.get(f"inbetween-{_slug(name)}")})
    return {
        "protocol": "LAFAN1 (65-frame windows every 40 frames, 10 context frames, transitions 5/15/30/45)",
        "windows": len(windows),
        "windows_available": ctx.inbetween_windows_available,
        "position_stats": {"window": stats.window, "offset": stats.offset, "frames": stats.frames, "split": "train"},
        "rows": rows,
    }


def _constraint_case_name(k: int) -> str:
    return f"constraints-case-{k:03d}"


def _constraint_case(ctx: _Context, k: int) -> dict[str, Any]:
    """Case ``k`` of the constraints task generated and scored as
    :func:`~motiongen.evaluation.constraints.evaluate_constraints` does it (every type, raw and
    post-processed, and without constraints); its post-processed motions go beside it (``.npz``)."""
    from motiongen.evaluation.constraints import TYPES, real_figures, run_case

    case = ctx.constraint_cases()[k]
    kept: list[tuple[int, np.ndarray, np.ndarray]] = []

    def keep(case: Any, ctype: str, out: Any) -> None:
        kept.append((int(case.seed), np.asarray(out.posed_joints[0], np.float32),
                     np.asarray(out.smooth_root_pos[0], np.float32)))

    timings: dict[str, list[float]] = {}
    result = run_case(ctx.pipe, case, TYPES, ctx.settings.steps, timings, on_generated=keep)
    _save_constraint_motions(_positions_npz(ctx.parts, f"{_constraint_case_name(k)}-motions"), kept)
    return {"index": case.index, "clip_id": case.clip_id, "start": case.start, "seed": case.seed,
            "result": _to_json(result), "real": real_figures(case, ctx.skeleton, ctx.fps), "timings": timings}


def _constraint_pieces(ctx: _Context) -> list[Piece]:
    """One piece per constraint case (none once the task's record is finished)."""
    if ctx.parts.has("constraints"):
        return []
    return [_json_piece(ctx, _constraint_case_name(k), "constraints", lambda k=k: _constraint_case(ctx, k))
            for k in range(len(ctx.constraint_cases()))]


def _constraints_task(ctx: _Context) -> dict[str, Any]:
    found = ctx.parts.get("constraints")
    if found is not None:
        return found
    pieces = _constraint_pieces(ctx)
    for piece in pieces:
        piece.make()
    stored = [ctx.parts.get(p.name) for p in pieces]
    kept = [m for p in pieces for m in _load_constraint_motions(_positions_npz(ctx.parts, f"{p.name}-motions"))]
    record = _constraint_record(ctx, stored)
    # the motions first: a finished "constraints" piece always has its motions beside it
    _save_constraint_motions(_positions_npz(ctx.parts, CONSTRAINT_MOTIONS), kept)
    return ctx.parts.put("constraints", record)


def _constraint_record(ctx: _Context, stored: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record :func:`~motiongen.evaluation.constraints.evaluate_constraints` returns (with its
    defaults for types, guidance and imputation), merged from the per-case pieces ``stored``."""
    from motiongen.evaluation.constraints import (
        CONTINUITY_RADIUS,
        INTERVAL_FRAMES,
        POSE_SMOOTH_ROOT,
        TYPES,
        eligible_clips,
        guidance_text,
        per_case_record,
        stat_summary,
        summarise,
    )
    from motiongen.pipelines.kimodo import DEFAULT_IMPUTE

    s, drawn, clips = ctx.settings, ctx.constraint_cases(), ctx.dataset(ctx.settings.split)
    results = [_from_json(piece["result"]) for piece in stored]
    reals = [piece["real"] for piece in stored]
    timings: dict[str, list[float]] = {}
    for piece in stored:
        for kind, values in piece["timings"].items():
            timings.setdefault(kind, []).extend(values)
    return {
        "settings": {
            "split": str(getattr(clips, "split", "test")),
            "cases": len(drawn),
            "cases_requested": _constraint_case_count(s),
            "eligible_clips": len(eligible_clips(clips, s.constraint_frames, s.constraint_caption_coverage)),
            "frames": s.constraint_frames,
            "caption_coverage": s.constraint_caption_coverage,
            "steps": s.steps,
            "seed": s.seed,
            "case_seeds": [c.seed for c in drawn],
            "cfg_constrained": guidance_text(ctx.pipe.default_cfg(constrained=True)),
            "impute": DEFAULT_IMPUTE,
            "cfg_unconstrained": guidance_text(ctx.pipe.default_cfg()),
            "types": list(TYPES),
            "end_effector_interval_frames": INTERVAL_FRAMES,
            "continuity_radius_frames": CONTINUITY_RADIUS,
            "pose_smooth_root": POSE_SMOOTH_ROOT,
        },
        "summary": summarise(results, reals, TYPES),
        "raw_features_identical": all(all(r["raw_features_identical"].values()) for r in results),
        "per_case": [per_case_record(c, r, real) for c, r, real in zip(drawn, results, reals)],
        "seconds_per_generation": {k: stat_summary(v) | {"total": float(np.sum(v))} for k, v in timings.items()},
    }


def _to_json(value: Any) -> Any:
    """``value`` (nested dicts, lists, numpy arrays and scalars) as JSON data that :func:`_from_json`
    turns back into equal arrays of the same dtype (JSON floats round-trip exactly)."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


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
    prompted with the window's clip caption (our data has one; LAFAN1's has none). Window ``k`` of a
    call generates with seed ``seed + first_window + k``: ``first_window`` numbers the windows of a
    call that starts inside the test set, so a chunk of windows gets the seeds the whole set would."""

    def __init__(self, pipe: Any, captions: dict[str, str], *, steps: int = 25, seed: int = 0,
                 first_window: int = 0) -> None:
        self.pipe, self.captions, self.steps, self.seed, self.first_window = pipe, captions, steps, seed, first_window

    def __call__(self, motions: list[Any], context: int, transition: int) -> list[Any]:
        from dataclasses import replace

        out = []
        for k, motion in enumerate(motions):
            n = motion.num_frames
            frames = list(range(context)) + [n - 1]
            keys = self.pipe.fullbody_keyframe_constraint(frames, motion=motion)
            prompt = self.captions.get(str(motion.meta.get("clip_id")), "a person moves.")
            gen = self.pipe.constrained_motion(prompt, n, constraints=[keys], seed=self.seed + self.first_window + k,
                                               steps=self.steps)
            out.append(replace(motion, local_rotations=gen.local_rot_mats[0], root_translation=gen.root_positions[0],
                               foot_contacts=None))
        return out


def _all_pieces(ctx: _Context, tasks: Sequence[str]) -> list[Piece]:
    """Every piece of ``tasks`` in the fixed order that decides their ranks: the expensive ones
    first (model generations), then the cheap ones, each follower right after its leader."""
    expensive: list[Piece] = []
    cheap: list[Piece] = []
    if "t2m" in tasks:
        model, real = _t2m_pieces(ctx)
        expensive += model
        cheap += real
    if "quality" in tasks:
        model, real = _quality_pieces(ctx, with_t2m="t2m" in tasks)
        expensive += model
        cheap += real
    if "inbetween" in tasks:
        model, rest = _inbetween_pieces(ctx)
        expensive += model
        cheap += rest
    if "constraints" in tasks:
        expensive += _constraint_pieces(ctx)
    pieces = expensive + cheap
    for follower in [p for p in pieces if p.follows is not None]:  # right after the leader
        pieces.remove(follower)
        at = next(i for i, p in enumerate(pieces) if p.name == follower.follows)
        while at + 1 < len(pieces) and pieces[at + 1].follows == follower.follows:
            at += 1
        pieces.insert(at + 1, follower)
    return pieces


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
        self._real_emb: np.ndarray | None = None
        self._windows: list[Any] | None = None
        self.inbetween_windows_available = 0
        self._stats: Any = None
        self._cases: list[Any] | None = None
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

    def real_embeddings(self) -> np.ndarray:
        """The evaluator's embeddings ``[items, latent]`` of the test items' motions."""
        if self._real_emb is None:
            self._real_emb = self.evaluator.encode_motions([it.positions for it in self.test_items()])
        return self._real_emb

    def inbetween_windows(self) -> list[Any]:
        """The scored in-betweening windows: drawn once from the split's windows with the seed."""
        from motiongen.metrics.inbetween import extract_windows

        if self._windows is None:
            s = self.settings
            windows = extract_windows(self.dataset(s.split))
            total = len(windows)
            keep = min(total, s.inbetween_windows, s.limit or total)
            picks = np.sort(np.random.default_rng([s.seed, 3]).choice(total, size=keep, replace=False))
            self._windows, self.inbetween_windows_available = [windows[i] for i in picks], total
        return self._windows

    def position_stats(self) -> Any:
        """L2P's training-split statistics (the ``inbetween-stats`` piece, computed when missing)."""
        from motiongen.metrics.inbetween import PositionStats, position_stats

        if self._stats is None:
            self._stats = PositionStats.from_dict(self.parts.cached(
                "inbetween-stats", lambda: position_stats(self.dataset("train"), progress=self.progress).to_dict()))
        return self._stats

    def constraint_cases(self) -> list[Any]:
        """The constraints task's cases (:func:`~motiongen.evaluation.constraints.build_cases`)."""
        from motiongen.evaluation.constraints import (
            TYPES,
            _check_arguments,
            build_cases,
            no_case_error,
        )

        if self._cases is None:
            s = self.settings
            count = _constraint_case_count(s)
            coverage = s.constraint_caption_coverage
            _check_arguments(self.pipe, count, s.constraint_frames, s.steps, TYPES, coverage)
            self._cases = build_cases(self.dataset(s.split), count, s.constraint_frames, s.seed, self.pipe.bundle.features,
                                      coverage)
            if not self._cases:
                raise no_case_error(s.constraint_frames, coverage)
        return self._cases

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
    progress: bool | str = True,
    log: Callable[[str], None] | None = None,
    view: bool = True,
    shard: Shard | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``settings.tasks``; write and return the metrics JSON and, with ``view``,
    the viewer folder ``OUT.view/`` (see the module doc).

    ``shard`` (default :meth:`Shard.from_env`, torchrun's ``RANK`` / ``WORLD_SIZE``) shares the pieces
    out (:mod:`motiongen.evaluation.shard`): every rank computes its own, rank 0 writes the JSON and
    the view after a gloo barrier, and every rank returns the JSON. ``progress``: bars on rank 0
    (``True``), on every rank (``"all"``) or none (``False``); only rank 0 logs.
    """
    from motiongen.evaluation.records import code_digest, folder_digest, machine_info
    from motiongen.models.evaluator import DEFAULT_EVALUATOR, TextMotionEvaluator
    from motiongen.pipelines.bundle import resolve_model
    from motiongen.pipelines.loading import load_pipeline
    from motiongen.train.features import dataset_source
    from motiongen.viz.folder import check_view_target

    shard = shard or Shard.from_env()
    settings = settings or EvalSettings()
    say = log or (lambda msg: print(msg, file=sys.stderr))
    log = say if shard.main else (lambda msg: None)
    show = progress == "all" or (bool(progress) and shard.main)
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
    # the code is part of it: pieces generated or scored by other code (another clean-up, another
    # piece layout) are not mixed with new ones
    identity = {"format": EVAL_FORMAT, "model_hash": model_record["hash"], "evaluator": judge.version,
                "code": code_digest(), "dataset": dataset_root.name,
                "settings": {k: v for k, v in settings.to_dict().items() if k != "tasks"}}
    group = ShardGroup(shard)
    try:
        if shard.main:
            parts.open(identity)  # may start the folder over: before any other rank writes in it
        group.barrier()
        if not shard.main:
            parts.check(identity, shard)
        ctx = _Context(settings, parts, pipe, judge, str(model), dataset_root, show)
        pieces = _all_pieces(ctx, settings.tasks)
        pending = sum(not p.done() for p in pieces)
        log(f"eval: {pending} of {len(pieces)} pieces to compute" + (f" on {shard.world} ranks" if shard.world > 1 else ""))
        mine = compute_owned(pieces, shard, parts.folder, progress=show)
        computed = [entry for entries in group.all_gather(mine) for entry in entries]  # the barrier of phase 1
        if not shard.main:
            group.barrier()  # rank 0 has written the JSON and the view
            return json.loads(output.read_text())
        result = _assemble(ctx, computed, shard.world, log)
        result = {**result, "machine": {**host, "load_average_1m_end": round(os.getloadavg()[0], 2)},
                  "model": model_record, "evaluator": evaluator_record,
                  "seconds": {**result["seconds"], "total": round(time.perf_counter() - started, 2)}}
        result = {key: result[key] for key in _RESULT_KEYS}
        atomic_write_text(output, json.dumps(result, indent=1) + "\n")
        if view:
            write_eval_view(ctx, result["tasks"], view_folder(output))
        group.barrier()
        return result
    finally:
        group.close()


#: Keys of the metrics JSON, in order.
_RESULT_KEYS = ("format", "date", "git_commit", "motiongen_version", "machine", "model", "evaluator", "split", "dataset",
                "settings", "ranks", "pieces_computed_by_rank", "tasks", "seconds")


def _assemble(ctx: _Context, computed: Sequence[Mapping[str, Any]], world: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Phase 2 (rank 0): the JSON's tasks from the finished pieces (any still missing is computed
    here), with what does not depend on the machine. ``computed``: every rank's log entries of this
    run. A task's seconds are its pieces' compute seconds on every rank plus its assembly here."""
    from motiongen import __version__
    from motiongen.evaluation.records import git_commit, utc_now

    settings = ctx.settings
    tasks: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for task in settings.tasks:
        t0 = time.perf_counter()
        log(f"eval: {task}")
        tasks[task] = _RUNNERS[task](ctx)
        pieces_seconds = sum(e["seconds"] for e in computed if e["task"] == task)
        seconds[task] = round(time.perf_counter() - t0 + pieces_seconds, 2)
    return {
        "format": EVAL_FORMAT,
        "date": utc_now(),
        "git_commit": git_commit(),
        "motiongen_version": __version__,
        "split": settings.split,
        "dataset": ctx.dataset_root.name,
        "settings": settings.to_dict(),
        "ranks": world,
        "pieces_computed_by_rank": [sorted(e["piece"] for e in computed if e["rank"] == r) for r in range(world)],
        "tasks": tasks,
        "seconds": seconds,
    }


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
    from motiongen.evaluation.constraints import build_constraints
    from motiongen.viz.folder import ViewCase
    from motiongen.viz.manifest import condition_from_constraints

    npz = _positions_npz(ctx.parts, CONSTRAINT_MOTIONS)
    if not npz.is_file():
        ctx.parts.log(f"{npz} is missing (pieces from an older version); no constraints cases in the view")
        return []
    types = record["settings"]["types"]
    kept = _load_constraint_motions(npz)
    windows = ctx.constraint_cases()
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
