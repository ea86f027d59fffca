"""Batch generation: many cases from one JSONL file, resumable, sharded across processes.

    motiongen generate --batch cases.jsonl -o out/
    torchrun --nproc_per_node=2 -m motiongen.cli generate --batch cases.jsonl -o out/

A batch file holds one JSON object per line (blank lines are skipped)::

    {"id": "walk_01", "prompt": "a person walks.", "frames": 120, "seed": 3}
    {"prompts": ["a person walks.", "the person sits down."], "frames": [90, 60], "num_samples": 2}
    {"prompt": "a person walks along a curve.", "constraints": "curve.json", "steps": 50}

Keys (every other key is refused): ``id`` (default: the line number, zero-padded to 5 digits;
1-128 letters, digits, ``._-``, starting with a letter or digit, unique), ``prompt`` or ``prompts``
(several prompts make one multi-prompt motion), ``frames`` (one count for every prompt, or one per
prompt), ``seed``, ``constraints`` (a KIMODO ``constraints.json`` on the whole timeline; a relative
path is taken from the batch file's folder), ``num_samples`` and ``steps``. What a case leaves out
comes from :class:`BatchOptions` (the ``generate`` command's options); a case without a seed gets
one derived from its id and the base seed (:func:`case_seed`), so reruns give the same motions.

Every case writes ``OUT/<stem>.npz`` and ``OUT/<stem>.bvh`` (``.csv`` too on the G1), where the stem
is the id (``<id>_00``, ``<id>_01``, ... for several samples), each file atomically, then its record
``OUT/.done/<id>.json`` (seed, frames, prompts, model hash, seconds, the files, the viewer entries).
A case whose record matches its settings and whose files exist is skipped: rerunning after an
interruption generates only what is missing. A case's motion depends only on its own inputs and
seed (batch size 1 per case; the embedding cache encodes captions one at a time), never on the shard, the order or the
other cases. Case ``k`` (in file order) belongs to shard ``k % world``. When every shard is done,
one viewer manifest (``_manifest.json``, ``_captions.json``) covering all cases is written: under
``torchrun`` by rank 0 after a gloo barrier, in a plain run by the run itself.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motiongen.errors import InputError

#: The keys a batch line may hold.
BATCH_KEYS = ("id", "prompt", "prompts", "frames", "seed", "constraints", "num_samples", "steps")
#: Folder (inside the output folder) of the per-case completion records.
DONE_FOLDER = ".done"
#: Digits of a default id (the line number): fixed, so that appending lines never renames a case.
ID_DIGITS = 5
#: Version of the record layout; a record of another version does not count as done.
RECORD_VERSION = 1
#: How long the ranks wait for each other at the end: shards of a long batch finish hours apart,
#: and gloo's default (30 min) would abort a healthy run.
BARRIER_TIMEOUT = datetime.timedelta(hours=48)
_FOLDER_SUFFIXES = (".npz", ".bvh")


@dataclass(frozen=True)
class BatchCase:
    """One line of a batch file, checked for types and ranges (not yet against a model).

    Attributes:
        case_id: the case's id (file stem of its outputs).
        prompts: one prompt, or several for a multi-prompt motion.
        frames: frames per prompt (same length as ``prompts``), or None for the default.
        seed: the case's seed, or None (derived from the id, :func:`case_seed`).
        constraints_path: the constraints file, or None.
        constraint_records: its records (KIMODO's format), or None.
        num_samples: motions for this case, or None for the default.
        steps: DDIM steps, or None for the default.
        source: the batch file.
        line: the 1-based line number in ``source``.
    """

    case_id: str
    prompts: tuple[str, ...]
    frames: tuple[int, ...] | None = None
    seed: int | None = None
    constraints_path: Path | None = None
    constraint_records: tuple[Any, ...] | None = None
    num_samples: int | None = None
    steps: int | None = None
    source: Path = Path("<batch>")
    line: int = 0

    def error(self, message: str, field: str) -> InputError:
        """An :class:`InputError` at this case's file and line."""
        return InputError(message, path=self.source, line=self.line, field=field)


@dataclass(frozen=True)
class BatchOptions:
    """The defaults of every case and the settings shared by all (the ``generate`` command's options).

    Attributes:
        frames: frames per prompt when a case gives none (None: 150, or the model's default / maximum).
        seed: base of the seeds derived for cases without one (:func:`case_seed`).
        num_samples: motions per case when a case gives none.
        steps: DDIM steps when a case gives none.
        cfg: guidance ``(type, weights)`` (:func:`~motiongen.pipelines.kimodo.resolve_cfg`), or None
            for the pipeline's default.
        postprocess: foot-skate clean-up and constraint IK.
        root_margin: metres the pelvis may stay from a 2D-root target (None: the pipeline's default).
        impute: share of denoising steps imputing constraints (None: the pipeline's default).
        skeleton: output rig name (``smplx22``, ``soma30``, ``soma77``, ``g1``), or None for the model's.
    """

    frames: int | None = None
    seed: int = 0
    num_samples: int = 1
    steps: int = 25
    cfg: tuple[str, tuple[float, ...]] | None = None
    postprocess: bool = True
    root_margin: float | None = None
    impute: float | None = None
    skeleton: str | None = None


@dataclass(frozen=True)
class CasePlan:
    """A case with every setting resolved and checked against the model.

    Attributes:
        case: the parsed line.
        frames: frames per prompt.
        seed: the seed used.
        num_samples: motions generated.
        steps: DDIM steps.
        stems: the output file stem of each sample.
        settings_key: sha256 of everything the outputs depend on (a record with another key is stale).
    """

    case: BatchCase
    frames: tuple[int, ...]
    seed: int
    num_samples: int
    steps: int
    stems: tuple[str, ...]
    settings_key: str


@dataclass
class BatchReport:
    """What :func:`run_batch` did on this shard.

    Attributes:
        generated: ids generated by this process, in order.
        skipped: ids of this shard already done (records found).
        manifest: the viewer manifest, if this process wrote it.
        seconds: wall time of this call.
    """

    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    manifest: Path | None = None
    seconds: float = 0.0


# ==================================================================================================
# the batch file
def read_batch_file(path: str | Path) -> list[BatchCase]:
    """Parse and check every line of the JSONL batch file ``path`` (see the module docstring).

    Constraint files are read and checked here too (frame numbers against the case's length when
    the case gives ``frames``), so that a mistake anywhere fails before any generation. Errors name
    the file, the line and the field.
    """
    from motiongen.viz.manifest import CASE_ID_PATTERN

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, field="--batch")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path, field="--batch") from None
    cases: list[BatchCase] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        case = _parse_line(raw, path, number)
        if not CASE_ID_PATTERN.match(case.case_id):
            raise case.error(f"'{case.case_id}' is not a usable id: 1-128 letters, digits, '.', '_' or '-', starting "
                             "with a letter or digit (it names the output files)", "id")
        if case.case_id in seen:
            raise case.error(f"'{case.case_id}' is also the id of line {seen[case.case_id]}; ids must be unique", "id")
        seen[case.case_id] = number
        cases.append(case)
    if not cases:
        raise InputError("holds no cases (one JSON object per line)", path=path, field="--batch")
    return cases


def _parse_line(raw: str, path: Path, number: int) -> BatchCase:
    """One :class:`BatchCase` from line ``number`` (types and ranges; constraints read)."""
    from motiongen.pipelines.checks import MAX_SEED

    def fail(message: str, field: str | None = None) -> InputError:
        return InputError(message, path=path, line=number, field=field)

    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise fail(f"malformed JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise fail(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail(f"a case is a JSON object {{\"prompt\": ...}}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(BATCH_KEYS))
    if unknown:
        raise fail(f"unknown key(s) {', '.join(repr(k) for k in unknown)}; allowed: {', '.join(BATCH_KEYS)}", unknown[0])

    case_id = data.get("id", f"{number:0{ID_DIGITS}d}")
    if not isinstance(case_id, str):
        raise fail(f"must be a string, got {json.dumps(case_id)[:40]}", "id")

    if ("prompt" in data) == ("prompts" in data):
        raise fail("give exactly one of 'prompt' (a string) or 'prompts' (a list of strings)", "prompt")
    if "prompt" in data:
        prompts = [_prompt(data["prompt"], fail, "prompt")]
    else:
        given = data["prompts"]
        if not isinstance(given, list) or not given:
            raise fail("must be a non-empty list of strings", "prompts")
        prompts = [_prompt(p, fail, f"prompts[{i}]") for i, p in enumerate(given)]

    frames = None
    if "frames" in data:
        value = data["frames"]
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(values) not in (1, len(prompts)):
            raise fail(f"give one frame count for every prompt or one per prompt ({len(prompts)}), got {len(values)}",
                       "frames")
        for v in values:
            if not _is_int(v) or v < 1:
                raise fail(f"must be a positive integer number of frames (or a list of them), got {json.dumps(v)[:40]}",
                           "frames")
        frames = tuple(int(v) for v in values) * (len(prompts) if len(values) == 1 else 1)

    seed = data.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed <= MAX_SEED):
        raise fail(f"must be an integer in [0, 2^63 - 1], got {json.dumps(seed)[:40]}", "seed")
    counts = {}
    for key in ("num_samples", "steps"):
        value = data.get(key)
        if value is not None and (not _is_int(value) or value < 1):
            raise fail(f"must be an integer >= 1, got {json.dumps(value)[:40]}", key)
        counts[key] = value

    constraints_path = records = None
    if data.get("constraints") is not None:
        constraints_path, records = _read_case_constraints(data["constraints"], path, number, frames)
    return BatchCase(
        case_id=case_id,
        prompts=tuple(prompts),
        frames=frames,
        seed=seed,
        constraints_path=constraints_path,
        constraint_records=records,
        num_samples=counts["num_samples"],
        steps=counts["steps"],
        source=path,
        line=number,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _prompt(value: Any, fail: Callable[[str, str], InputError], field: str) -> str:
    if not isinstance(value, str):
        raise fail(f"a prompt must be a string, got {json.dumps(value)[:40]}", field)
    if not any(ch.isalnum() for ch in value):
        raise fail(f"prompt is empty ({value!r}); describe the motion in words", field)
    return value


def _read_case_constraints(value: Any, source: Path, line: int, frames: tuple[int, ...] | None) -> tuple[Path, tuple[Any, ...]]:
    """The constraints file of a case (relative to the batch file's folder) and its records."""
    from motiongen.io.constraints_json import (
        read_constraints_json,
        validate_constraint_record,
    )

    if not isinstance(value, str) or not value.strip():
        raise InputError(f"must be the path of a constraints.json, got {json.dumps(value)[:40]}",
                         path=source, line=line, field="constraints")
    target = source.parent / Path(value).expanduser()
    if not target.is_file():
        raise InputError(f"'{target}' not found (a relative path is taken from the batch file's folder)",
                         path=source, line=line, field="constraints")
    try:
        records = read_constraints_json(target)
        if frames is not None:
            for i, record in enumerate(records):
                validate_constraint_record(record, where=f"[{i}]", path=target, num_frames=sum(frames))
    except InputError as exc:
        raise InputError(str(exc), path=source, line=line, field="constraints") from None
    return target, tuple(records)


# ==================================================================================================
# settings against the model
def case_seed(case_id: str, base: int = 0) -> int:
    """The seed of a case that gives none: sha256 of ``"<base>:<case_id>"`` folded to 63 bits,
    so it depends on the id and the base only (not on the line, the shard or the order)."""
    digest = hashlib.sha256(f"{int(base)}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def model_fingerprint(folder: str | Path) -> str:
    """sha256 over the files of a model folder (relative paths and contents, sorted), hex."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def pipeline_fingerprint(pipe: Any) -> str:
    """:func:`model_fingerprint` of the folder the pipeline was loaded from (``"unknown"`` if none)."""
    info = pipe.bundle.info if hasattr(pipe, "bundle") else getattr(pipe, "info", {})
    folder = info.get("path")
    return model_fingerprint(folder) if folder and Path(folder).is_dir() else "unknown"


def _is_smog(pipe: Any) -> bool:
    from motiongen.pipelines.smog import SMoGPipeline

    return isinstance(pipe, SMoGPipeline)


def plan_cases(pipe: Any, cases: Sequence[BatchCase], options: BatchOptions | None = None,
               *, model_hash: str | None = None) -> list[CasePlan]:
    """Resolve every case's settings (``options`` fill what it leaves out) and check them against
    the model: lengths, multi-prompt transitions, steps, constraints (mapped onto the model's rig,
    conflicts), unique output stems. Raises at the first mistake, naming its line and field."""
    options = options or BatchOptions()
    model_hash = model_hash or pipeline_fingerprint(pipe)
    smog = _is_smog(pipe)
    plans = []
    owner: dict[str, str] = {}
    for case in cases:
        frames = case.frames or _default_frames(pipe, options, len(case.prompts), smog)
        _check_lengths(pipe, case, frames)
        steps = case.steps if case.steps is not None else options.steps
        limit = None if smog else pipe.bundle.schedule.num_train_steps
        if limit is not None and steps > limit:
            raise case.error(f"must be an integer in [1, {limit}], got {steps}", "steps" if case.steps else "--steps")
        if smog and (len(case.prompts) > 1 or case.constraint_records):
            raise case.error("the SMoG model generates from one prompt without constraints; use a KIMODO model "
                             "(the default --model)", "prompts" if len(case.prompts) > 1 else "constraints")
        if case.constraint_records:
            _case_constraints(pipe, case, sum(frames), options.postprocess)
        num_samples = case.num_samples if case.num_samples is not None else options.num_samples
        stems = (case.case_id,) if num_samples == 1 else tuple(f"{case.case_id}_{b:02d}" for b in range(num_samples))
        for stem in stems:
            if stem in owner:
                raise case.error(f"its output '{stem}' is also an output of case '{owner[stem]}'; rename one", "id")
            owner[stem] = case.case_id
        seed = case.seed if case.seed is not None else case_seed(case.case_id, options.seed)
        settings = {
            "prompts": list(case.prompts), "frames": list(frames), "seed": seed, "num_samples": num_samples,
            "steps": steps, "model": model_hash, "cfg": None if options.cfg is None else [options.cfg[0], list(options.cfg[1])],
            "postprocess": options.postprocess, "root_margin": options.root_margin, "impute": options.impute,
            "skeleton": options.skeleton,
            "constraints": None if case.constraints_path is None else hashlib.sha256(case.constraints_path.read_bytes()).hexdigest(),
        }
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
        plans.append(CasePlan(case, tuple(frames), seed, num_samples, steps, stems, key))
    return plans


def _default_frames(pipe: Any, options: BatchOptions, count: int, smog: bool) -> tuple[int, ...]:
    from motiongen.pipelines.generate import DEFAULT_FRAMES

    if options.frames is not None:
        return (options.frames,) * count
    default = pipe.default_frames if smog else DEFAULT_FRAMES
    return (min(default, pipe.max_frames),) * count


def _check_lengths(pipe: Any, case: BatchCase, frames: Sequence[int]) -> None:
    """Frames per prompt against the model's window and multi-prompt transitions (as ``generate``)."""
    from motiongen.pipelines.kimodo import transition_length

    field = "frames" if case.frames is not None else "--frames"
    limit = pipe.max_frames
    if frames[0] > limit:
        raise case.error(f"{frames[0]} frames for prompt 1; this model generates at most {limit} frames "
                         f"({round(limit / pipe.fps, 2):g} s) per prompt", field)
    for k in range(1, len(frames)):
        ell = transition_length(frames[k - 1])
        if ell > sum(frames[:k]):
            raise case.error(f"prompt {k + 1} regenerates the last {ell} frames before it, but prompts 1..{k} have "
                             f"only {sum(frames[:k])}; make them longer", field)
        if frames[k] + ell > limit:
            raise case.error(f"prompt {k + 1}: {frames[k]} frames plus the {ell}-frame transition exceed the model's "
                             f"{limit} frames per pass; at most {limit - ell} frames for this prompt", field)


def _case_constraints(pipe: Any, case: BatchCase, total: int, postprocess: bool) -> list[Any]:
    """The case's constraint sets on the model's rig, checked as generation would check them
    (frames in ``[0, total)``, no conflicting targets), errors at the case's line."""
    from motiongen.constraints.sets import (
        check_constraints,
        constraint_features,
        from_records,
        pose_targets,
    )
    from motiongen.io.constraints_json import validate_constraint_record

    skeleton = pipe.bundle.skeleton
    try:
        for i, record in enumerate(case.constraint_records or ()):
            validate_constraint_record(record, where=f"[{i}]", path=case.constraints_path, num_frames=total)
        sets = check_constraints(from_records(list(case.constraint_records or ()), skeleton), total, skeleton)
        constraint_features(sets, pipe.bundle.features, total)
        if postprocess:
            pose_targets(sets, total, skeleton)
    except InputError as exc:
        raise case.error(f"{case.constraints_path}: {exc}", "constraints") from None
    return sets


# ==================================================================================================
# one case
def generate_case(pipe: Any, plan: CasePlan, options: BatchOptions | None = None) -> tuple[Any, list[Any]]:
    """Generate one case: ``(MotionOutput with num_samples motions, constraint sets on its timeline)``.

    The embedding cache encodes every caption on its own (:class:`motiongen.text.base.CachedTextEncoder`),
    so a case does not depend on which cases ran before it.
    """
    options = options or BatchOptions()
    case = plan.case
    common: dict[str, Any] = {"num_samples": plan.num_samples, "seed": plan.seed, "steps": plan.steps,
                              "cfg": options.cfg, "postprocess": options.postprocess}
    if options.root_margin is not None:
        common["root_margin"] = options.root_margin
    constraints: list[Any] = []
    if _is_smog(pipe):
        out = pipe.text_to_motion(case.prompts[0], num_frames=plan.frames[0], **common)
    elif case.constraint_records:
        constraints = _case_constraints(pipe, case, sum(plan.frames), options.postprocess)
        if options.impute is not None:
            common["impute"] = options.impute
        out = pipe.multi_prompt(list(case.prompts), list(plan.frames), constraints=constraints, **common)
    elif len(case.prompts) == 1:
        out = pipe.text_to_motion(case.prompts[0], num_frames=plan.frames[0], **common)
    else:
        out = pipe.multi_prompt(list(case.prompts), list(plan.frames), **common)
    if options.skeleton is not None and options.skeleton != out.skeleton.name:
        from motiongen.pipelines.generate import on_output_skeleton

        out = on_output_skeleton(out, options.skeleton)
    return out, constraints


def select_sample(output: Any, index: int) -> Any:
    """Sample ``index`` of a :class:`~motiongen.pipelines.output.MotionOutput` as a one-sample output."""
    from motiongen.io.kimodo_npz import KIMODO_NPZ_KEYS
    from motiongen.pipelines.output import MotionOutput

    arrays = {key: getattr(output, key)[index : index + 1] for key in KIMODO_NPZ_KEYS}
    features = None if output.features is None else output.features[index : index + 1]
    info = dict(output.info)
    if info.get("sample_prompts"):
        info["sample_prompts"] = [info["sample_prompts"][index]]
    return MotionOutput(**arrays, fps=output.fps, skeleton=output.skeleton, prompts=list(output.prompts),
                        features=features, info=info)


def write_case(out_dir: Path, plan: CasePlan, output: Any, constraints: Sequence[Any]) -> tuple[list[Path], list[dict[str, Any]]]:
    """Write every sample's files (each atomically) and the viewer's condition files of a case;
    returns ``(files written, the case's manifest entries, one per sample)``."""
    from motiongen.constraints.sets import to_records
    from motiongen.io.constraints_json import write_constraints_json
    from motiongen.viz.manifest import (
        CONSTRAINTS_FOLDER,
        PANELS_BY_NAME,
        build_case,
        condition_from_constraints,
        write_condition_panel,
    )

    frames = output.num_frames
    condition = condition_from_constraints(constraints, frames) if constraints else None
    suffixes = _FOLDER_SUFFIXES + ((".csv",) if "hinges" in output.skeleton.extras else ())
    provenance = {key: output.info[key] for key in ("model", "seed", "steps", "cfg_type", "cfg_weights", "postprocess")
                  if output.info.get(key) is not None}
    written: list[Path] = []
    entries = []
    for b, stem in enumerate(plan.stems):
        sample = select_sample(output, b)
        for suffix in suffixes:
            written += sample.save(out_dir / f"{stem}{suffix}")
        files = {"generated": f"{stem}.npz"}
        if constraints:
            written.append(write_constraints_json(to_records(constraints), out_dir / CONSTRAINTS_FOLDER / f"{stem}.json"))
        if condition is not None and condition.pose_frames.size:
            rel = f"{PANELS_BY_NAME['condition'].folder}/{stem}.npz"
            written.append(write_condition_panel(out_dir / rel, condition))
            files["condition"] = rel
        entries.append(build_case(
            stem,
            captions=list(sample.info.get("sample_prompts") or output.prompts),
            task="constraints" if constraints else ("text_to_motion" if len(plan.case.prompts) == 1 else "multi_prompt"),
            num_frames=frames,
            files=files,
            condition=condition,
            positions=output.posed_joints[b],
            joint_names=list(output.skeleton.joint_names),
            smooth_root=output.smooth_root_pos[b],
            segments=output.info.get("segments"),
            diagnostics={"generation": {**provenance, "sample": b, "batch_case": plan.case.case_id}},
        ))
    return written, entries


# ==================================================================================================
# records
def record_path(out_dir: str | Path, case_id: str) -> Path:
    """``OUT/.done/<id>.json``: the record that case ``case_id`` is complete."""
    return Path(out_dir) / DONE_FOLDER / f"{case_id}.json"


def read_record(out_dir: str | Path, plan: CasePlan) -> dict[str, Any] | None:
    """The case's record if it is complete and current: readable, of this layout, made with the
    same settings, and every file it lists still there; else None (the case is to be generated)."""
    path = record_path(out_dir, plan.case.case_id)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION or record.get("settings_key") != plan.settings_key:
        return None
    files = record.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) and (Path(out_dir) / f).is_file() for f in files):
        return None
    return record


def _write_record(out_dir: Path, plan: CasePlan, files: Sequence[Path], entries: list[dict[str, Any]], seconds: float,
                  model_hash: str, shard: tuple[int, int]) -> Path:
    from motiongen.io.atomic import atomic_write_text

    record = {
        "version": RECORD_VERSION,
        "id": plan.case.case_id,
        "line": plan.case.line,
        "prompts": list(plan.case.prompts),
        "frames": list(plan.frames),
        "seed": plan.seed,
        "num_samples": plan.num_samples,
        "steps": plan.steps,
        "model_hash": model_hash,
        "settings_key": plan.settings_key,
        "seconds": round(seconds, 3),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "shard": list(shard),
        "files": [p.relative_to(out_dir).as_posix() for p in files],
        "viewer_cases": entries,
    }
    return atomic_write_text(record_path(out_dir, plan.case.case_id), json.dumps(record, indent=1) + "\n")


# ==================================================================================================
# the whole batch
def shard_from_env() -> tuple[int, int]:
    """``(rank, world)`` from torchrun's ``RANK`` / ``WORLD_SIZE`` (``(0, 1)`` outside torchrun)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"RANK={rank} and WORLD_SIZE={world} do not make a shard (0 <= RANK < WORLD_SIZE)", field="RANK")
    return rank, world


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"must be an integer, got '{value}'", field=name) from None


def shard_cases(cases: Sequence[Any], shard: tuple[int, int]) -> list[Any]:
    """The cases of ``shard = (rank, world)``: case ``k`` goes to shard ``k % world``."""
    rank, world = shard
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"shard {shard} is not (rank, world) with 0 <= rank < world", field="shard")
    return [case for k, case in enumerate(cases) if k % world == rank]


def run_batch(
    pipe: Any,
    cases: Sequence[BatchCase],
    out_dir: str | Path,
    *,
    shard: tuple[int, int] | None = None,
    progress: bool | str = True,
    options: BatchOptions | None = None,
    model_hash: str | None = None,
    log: Callable[[str], None] | None = None,
) -> BatchReport:
    """Generate this shard's cases into the folder ``out_dir``, skipping those already done, then
    (when every shard is done) write the viewer manifest of all cases.

    Args:
        pipe: a :class:`~motiongen.pipelines.kimodo.KIMODOPipeline` (or SMoG pipeline: one prompt, no constraints).
        cases: every case of the batch (:func:`read_batch_file`), in file order.
        out_dir: the output folder (created).
        shard: ``(rank, world)``; default :func:`shard_from_env` (torchrun's variables).
        progress: a tqdm bar on rank 0 (``True``), on every rank (``"all"``) or none (``False``).
        options: defaults and shared settings (:class:`BatchOptions`).
        model_hash: the model's fingerprint (default :func:`pipeline_fingerprint`).
        log: where the per-case lines go (default: printed above the bar).

    With ``world > 1`` and torchrun's environment (``WORLD_SIZE``), the ranks meet at a gloo barrier
    and rank 0 writes the manifest. Without a process group (shards started by hand), the shard
    that finds every record present at its end writes it.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    options = options or BatchOptions()
    rank, world = shard if shard is not None else shard_from_env()
    model_hash = model_hash or pipeline_fingerprint(pipe)
    plans = plan_cases(pipe, cases, options, model_hash=model_hash)  # every case checked before any work
    out_dir = Path(out_dir)
    _check_output_folder(out_dir)
    mine = shard_cases(plans, (rank, world))
    show = progress == "all" or (bool(progress) and rank == 0)
    bar = tqdm(mine, desc=f"rank {rank}" if world > 1 else "batch", unit="case", disable=not show,
               position=rank if progress == "all" else None, file=sys.stderr)
    say = log or (lambda line: tqdm.write(line, file=sys.stdout))
    prefix = f"rank {rank}: " if world > 1 else ""
    report = BatchReport()
    for plan in bar:
        case_id = plan.case.case_id
        if read_record(out_dir, plan) is not None:
            report.skipped.append(case_id)
            say(f"{prefix}skipped {case_id} (done earlier)")
            continue
        _remove_stale_temporaries(out_dir, plan)
        t0 = time.perf_counter()
        output, constraints = generate_case(pipe, plan, options)
        files, entries = write_case(out_dir, plan, output, constraints)
        seconds = time.perf_counter() - t0
        _write_record(out_dir, plan, files, entries, seconds, model_hash, (rank, world))
        report.generated.append(case_id)
        say(f"{prefix}generated {case_id}: {', '.join(s + '.npz' for s in plan.stems)} "
            f"({sum(plan.frames)} frames, seed {plan.seed}, {seconds:.1f} s)")
    bar.close()
    if world > 1 and _env_int("WORLD_SIZE", 1) == world:
        _barrier()
        if rank == 0:
            report.manifest = write_batch_manifest(out_dir, plans)
        _barrier()  # nobody tears the group down while rank 0 still writes
        _finish_group()
    elif world == 1 or all(read_record(out_dir, plan) is not None for plan in plans):
        report.manifest = write_batch_manifest(out_dir, plans)
    report.seconds = time.perf_counter() - started
    return report


def _remove_stale_temporaries(out_dir: Path, plan: CasePlan) -> None:
    """Delete the temporary files (:func:`motiongen.io.atomic.atomic_write`'s ``.<name>.*.tmp``) that a
    killed run left for this case's outputs. Only this case's names: another rank may be writing its own."""
    from motiongen.viz.manifest import CONSTRAINTS_FOLDER, PANELS_BY_NAME

    names = [(out_dir, f"{stem}{suffix}") for stem in plan.stems for suffix in (*_FOLDER_SUFFIXES, ".csv")]
    names += [(out_dir / CONSTRAINTS_FOLDER, f"{stem}.json") for stem in plan.stems]
    names += [(out_dir / PANELS_BY_NAME["condition"].folder, f"{stem}.npz") for stem in plan.stems]
    names.append((out_dir / DONE_FOLDER, f"{plan.case.case_id}.json"))
    for folder, name in names:
        for leftover in folder.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)


def _check_output_folder(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("exists and is not a folder; --batch writes a folder", path=out_dir, field="output")
    from motiongen.pipelines.output import check_writable

    check_writable([out_dir / DONE_FOLDER / "probe.json"])


_GROUP_INITIALISED_HERE = False


def _barrier() -> None:
    """Wait for every rank: a gloo barrier, joining torchrun's process group from the environment
    (as the trainers do) unless one is already up. gloo also on GPUs: nothing but a barrier is sent."""
    global _GROUP_INITIALISED_HERE
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=BARRIER_TIMEOUT)
        _GROUP_INITIALISED_HERE = True
    dist.barrier()


def _finish_group() -> None:
    global _GROUP_INITIALISED_HERE
    import torch.distributed as dist

    if _GROUP_INITIALISED_HERE and dist.is_initialized():
        dist.destroy_process_group()
        _GROUP_INITIALISED_HERE = False


def write_batch_manifest(out_dir: str | Path, plans: Sequence[CasePlan]) -> Path:
    """The viewer manifest (``_manifest.json``, ``_captions.json``) of every case of the batch, from
    the cases' records (all must be complete). Returns the manifest's path."""
    from motiongen.viz.manifest import (
        PANELS_BY_NAME,
        Panel,
        build_manifest,
        write_manifest,
    )

    out_dir = Path(out_dir)
    entries: list[dict[str, Any]] = []
    for plan in plans:
        record = read_record(out_dir, plan)
        if record is None:
            raise InputError(f"case '{plan.case.case_id}' (line {plan.case.line}) is not done; rerun the batch to "
                             "finish it", path=record_path(out_dir, plan.case.case_id))
        entries += [dict(e) for e in record["viewer_cases"]]
    generated = Panel("generated", "generated", PANELS_BY_NAME["generated"].color, ".", "generated")
    panels = [generated]
    if any("condition" in e["files"] for e in entries):
        panels.insert(0, PANELS_BY_NAME["condition"])
        for entry in entries:
            if "condition" not in entry["files"]:
                entry["missing_panels"] = {**entry.get("missing_panels", {}), "condition": "no full-body keyframes to show"}
    return write_manifest(out_dir, build_manifest(entries, panels, title=out_dir.resolve().name))
