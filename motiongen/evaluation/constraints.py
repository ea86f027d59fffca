"""Constraint following on real held-out motion: the ``constraints`` task of ``motiongen eval``.

Cases are windows of ``frames`` frames from clips of the dataset's **test** split, canonicalised
(frame 0 at the origin facing +Z, :func:`motiongen.motion.kimodo_features.canonicalize`): clips chosen
with ``seed``, one window per clip at a seeded offset. Each case's prompt is a caption that describes
its window: a window shares at least ``caption_coverage`` (default 0.5) of the longer of itself and
the caption's span (the whole clip, or a timed KIT-ML sentence's seconds), so a 150-frame stretch of
a 480-frame clip is not prompted with the caption of the whole clip (:func:`covered_starts`; the
first such caption of the clip). Its constraints are read off the real window:

============================  ======================================================================
type                          constraints (frames of the window)
============================  ======================================================================
``fullbody``                  whole poses at 3 keyframes: the first, one between, the last
``end_effector``              both wrists and both feet (``left-hand``, ..., ``right-foot`` sets) at 3
                              frames, plus one wrist over an interval of 10 frames
``root2d_path``               the dense smooth root (x, z) of every frame, from the window's KIMODO encoding
``root2d_waypoints``          the smooth root at the first, middle and last frames
``mixed``                     one full-body keyframe plus the dense path (the keyframe's smooth root is
                              the path's value there, as in KIMODO's ``07_mixed_constraints`` example)
============================  ======================================================================

Full-body and end-effector poses are built with the pipeline's builders from the window (their smooth
root is the pelvis (x, z), the builders' and KIMODO's default). Every case is generated with
``constrained_motion`` twice with the same seed, once with ``postprocess=False`` (raw) and once with
``True``; the same captions are also generated without constraints (``text_to_motion``, both settings)
as the baseline, which is scored against the same targets and frames (what the constraints add).
Measured on the output joints, per constraint type and setting:

- **error** at constrained frames, cm: full body, the mean over all joints of the joint-position
  error (KIMODO's ``constraint_fullbody_keyframe``); end effectors, the chain base joint (wrist,
  ankle) position error; 2D root, the pelvis (x, z) to the target smooth root (KIMODO's
  ``constraint_root2d_err``) and the generated smooth-root feature to the target. Mean and 95th
  percentile over all constrained entries (frame, or frame x effector) of all cases.
- **planted feet** (:func:`motiongen.metrics.quality.foot_skate_from_contacts`, KIMODO's
  ``FootSkateFromContacts``): the foot joints' mean speed on the frames the generation predicts them
  planted; how far a weight-bearing foot slides, which a low swing does not add to.
- **foot skate** (:func:`motiongen.metrics.quality.foot_skate_from_height`), with the real test
  windows as the reference row.
- **continuity**: the largest per-frame joint speed within 5 frames of any constrained frame, divided
  by the real window's largest per-frame joint speed over the same frames (1: no faster than the real
  motion there; a pop into or out of a constrained frame shows as a large ratio); mean and 95th
  percentile over cases.
- **pelvis path**, m: the pelvis's horizontal path length (:func:`motiongen.metrics.quality.root_path_length`),
  beside the real window's. Foot skate grows with locomotion (a real walking window scores many
  times a standing one), and constrained motion covers the real window's ground while the
  unconstrained baseline covers what the model chose to, so the comparison of their foot skate is
  read with this figure.

:func:`evaluate_constraints` runs it all and returns the record; ``benchmarks/constraint_benchmark.py``
adds a machine header and writes it as ``benchmarks/results/constraint_benchmark.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from motiongen.data.captions import caption_window_frames
from motiongen.errors import InputError
from motiongen.evaluation.arguments import DEFAULTS, check_caption_coverage
from motiongen.metrics.quality import (
    foot_skate_from_contacts,
    foot_skate_from_height,
    root_path_length,
)
from motiongen.motion.kimodo_features import KimodoFeatures, canonicalize
from motiongen.motion.motion import Motion
from motiongen.pipelines.editing import seam_continuity
from motiongen.pipelines.kimodo import DEFAULT_IMPUTE, resolve_cfg
from motiongen.skeleton.skeleton import Skeleton

if TYPE_CHECKING:
    from motiongen.data.dataset import MotionDataset
    from motiongen.pipelines.kimodo import KIMODOPipeline
    from motiongen.pipelines.output import MotionOutput

#: ``(Motion, captions)`` clips: a :class:`~motiongen.data.dataset.MotionDataset` or a plain sequence.
Clips = Union["MotionDataset", Sequence[tuple[Motion, Sequence[str]]]]

TYPES = ("fullbody", "end_effector", "root2d_path", "root2d_waypoints", "mixed")
#: Generation settings: with constraints (raw, post-processed), and the unconstrained baseline.
SETTINGS = ("raw", "postprocessed", "unconstrained_raw", "unconstrained_postprocessed")
END_EFFECTORS = ("LeftHand", "RightHand", "LeftFoot", "RightFoot")
#: KIMODO end-effector name -> skeleton joint set (whose first joint, the chain base, is scored).
CHAIN_SETS = {"LeftHand": "left_hand", "RightHand": "right_hand", "LeftFoot": "left_foot", "RightFoot": "right_foot"}
INTERVAL_FRAMES = 10
CONTINUITY_RADIUS = 5
#: Error figures per constraint type (the first is the type's main figure).
METRICS = {
    "fullbody": ("joint_cm",),
    "end_effector": ("chain_base_cm",),
    "root2d_path": ("pelvis_xz_cm", "smooth_root_cm"),
    "root2d_waypoints": ("pelvis_xz_cm", "smooth_root_cm"),
    "mixed": ("keyframe_joint_cm", "pelvis_xz_cm", "smooth_root_cm"),
}
#: A case's window shares at least this share of the longer of itself and its caption's span
#: (:func:`covered_starts`), so that the prompt describes the window (``motiongen eval``'s default too).
CAPTION_COVERAGE = DEFAULTS["constraint_caption_coverage"]
POSE_SMOOTH_ROOT = "pelvis (x, z) for fullbody and end_effector (the builders' default); the path value for mixed"


# ==================================================================================================
# cases
@dataclass
class Case:
    """One real test window and the constraint frames drawn for it."""

    index: int
    clip_id: str
    source: str
    start: int
    caption: str
    seed: int
    motion: Motion  # the canonicalised window
    positions: np.ndarray  # [T, J, 3] real joint positions
    smooth_xz: np.ndarray  # [T, 2] smooth root (x, z) of the window's KIMODO encoding
    frames: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])


def draw_frames(rng: np.random.Generator, num_frames: int) -> dict[str, Any]:
    """The constraint frames of one case (a ``num_frames`` window), drawn from ``rng``.

    Returns ``fullbody``, ``end_effector``, ``interval``, ``waypoints`` (frame lists),
    ``interval_hand`` (``LeftHand`` / ``RightHand``) and ``mixed_keyframe`` (a frame).
    """
    t = num_frames
    last = t - 1
    middle = int(rng.integers(t // 4, 3 * t // 4 + 1))
    thirds = np.linspace(0, t, 4).astype(int)
    ee = [int(rng.integers(thirds[i], max(thirds[i] + 1, thirds[i + 1]))) for i in range(3)]
    ee = sorted({min(f, last) for f in ee})
    start = int(rng.integers(0, max(1, t - INTERVAL_FRAMES + 1)))
    return {
        "fullbody": sorted({0, middle, last}),
        "end_effector": ee,
        "interval": list(range(start, min(t, start + INTERVAL_FRAMES))),
        "interval_hand": "RightHand" if rng.random() < 0.5 else "LeftHand",
        "waypoints": sorted({0, t // 2, last}),
        "mixed_keyframe": int(rng.integers(t // 4, 3 * t // 4 + 1)),
    }


def covered_starts(clip_frames: int, num_frames: int, span: tuple[int, int] | None, coverage: float) -> np.ndarray:
    """Starts of the ``num_frames`` windows of a ``clip_frames`` clip that a caption describes.

    A caption describes frames ``span`` (``[start, end)``; None: the whole clip). A window qualifies
    when the frames it shares with the span are at least ``coverage`` of the longer of the two: a
    whole-clip caption of a 480-frame dance does not describe a 150-frame stretch of it at
    ``coverage`` 0.5, and a 2-second timed "waves" does not describe 5 seconds around it. 0: every
    window qualifies.
    """
    starts = np.arange(max(0, clip_frames - num_frames + 1))
    if coverage <= 0:
        return starts
    lo, hi = span if span is not None else (0, clip_frames)
    shared = np.minimum(starts + num_frames, hi) - np.maximum(starts, lo)
    return starts[shared >= coverage * max(num_frames, hi - lo) - 1e-9]


def _caption_span(motion: Motion, caption: int) -> tuple[int, int] | None:
    """Frames caption ``caption`` of a dataset clip describes (None: the whole clip)."""
    windows = motion.meta.get("caption_windows") or []
    return caption_window_frames(windows[caption] if caption < len(windows) else None, motion.fps, motion.num_frames)


def eligible_clips(clips: Clips, num_frames: int, caption_coverage: float = CAPTION_COVERAGE) -> list[tuple[int, int]]:
    """``(clip, caption)`` indices: each clip of at least ``num_frames`` frames with a caption that
    describes some window of it (:func:`covered_starts`), with the first such caption."""
    out = []
    for i in range(len(clips)):
        motion, captions = clips[i]
        if motion.num_frames < num_frames:
            continue
        for k in range(len(captions)):
            if len(covered_starts(motion.num_frames, num_frames, _caption_span(motion, k), caption_coverage)):
                out.append((i, k))
                break
    return out


def build_cases(
    clips: Clips,
    count: int,
    num_frames: int,
    seed: int,
    features: KimodoFeatures,
    caption_coverage: float = CAPTION_COVERAGE,
) -> list[Case]:
    """``count`` cases from ``clips`` (``(Motion, captions)``, e.g. a ``MotionDataset``), deterministic in ``seed``.

    The clips of :func:`eligible_clips` are drawn without replacement (all when fewer), in dataset
    order, each with a window its caption describes at a drawn offset (:func:`covered_starts`).
    """
    eligible = eligible_clips(clips, num_frames, caption_coverage)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(eligible), size=min(count, len(eligible)), replace=False).tolist())
    windows = []
    for k, pick in enumerate(chosen):
        clip, caption = eligible[pick]
        motion, captions = clips[clip]
        starts = covered_starts(motion.num_frames, num_frames, _caption_span(motion, caption), caption_coverage)
        start = int(starts[rng.integers(0, len(starts))])
        window = canonicalize(motion.slice(start, start + num_frames))
        windows.append((k, motion, captions[caption], start, window))
    encoded = features.encode_batch([w[4] for w in windows])
    cases = []
    for (k, motion, caption, start, window), feats in zip(windows, encoded):
        case_rng = np.random.default_rng([seed, k])
        cases.append(
            Case(
                index=k,
                clip_id=str(motion.meta.get("clip_id", k)),
                source=str(motion.meta.get("source", "")),
                start=start,
                caption=str(caption),
                seed=seed * 1000 + k,
                motion=window,
                positions=window.joint_positions(),
                smooth_xz=np.asarray(feats[:, [features.smooth_root_pos.start, features.smooth_root_pos.start + 2]], np.float64),
                frames=draw_frames(case_rng, num_frames),
            )
        )
    return cases


def _unknown_type(ctype: str) -> InputError:
    return InputError(f"unknown constraint type '{ctype}'; allowed: {', '.join(TYPES)}", field="types")


def build_constraints(pipe: KIMODOPipeline, case: Case, ctype: str) -> list[Any]:
    """The constraint sets of ``case`` for constraint type ``ctype``, made with the pipeline's builders."""
    f, m = case.frames, case.motion
    if ctype == "fullbody":
        return [pipe.fullbody_keyframe_constraint(f["fullbody"], motion=m)]
    if ctype == "end_effector":
        sets = [pipe.end_effector_constraint(name, f["end_effector"], motion=m) for name in END_EFFECTORS]
        return sets + [pipe.end_effector_constraint(f["interval_hand"], f["interval"], motion=m)]
    if ctype == "root2d_path":
        return [pipe.root2d_constraint(np.arange(case.num_frames), case.smooth_xz)]
    if ctype == "root2d_waypoints":
        w = f["waypoints"]
        return [pipe.root2d_constraint(w, case.smooth_xz[w])]
    if ctype == "mixed":
        k = f["mixed_keyframe"]
        return [
            pipe.fullbody_keyframe_constraint([k], motion=m, smooth_root_2d=case.smooth_xz[[k]]),
            pipe.root2d_constraint(np.arange(case.num_frames), case.smooth_xz),
        ]
    raise _unknown_type(ctype)


def constrained_frames(case: Case, ctype: str) -> list[int]:
    """Every frame that ``ctype`` constrains in ``case``."""
    f = case.frames
    if ctype == "fullbody":
        return list(f["fullbody"])
    if ctype == "end_effector":
        return sorted(set(f["end_effector"]) | set(f["interval"]))
    if ctype == "root2d_waypoints":
        return list(f["waypoints"])
    return list(range(case.num_frames))  # dense path (and mixed, whose keyframe lies on it)


# ==================================================================================================
# scoring
def _chain_base(skeleton: Skeleton, name: str) -> int:
    return skeleton.index(skeleton.joint_set(CHAIN_SETS[name])[0])


def constraint_errors(
    case: Case, ctype: str, positions: np.ndarray, smooth_xz: np.ndarray, skeleton: Skeleton
) -> dict[str, np.ndarray]:
    """Per-entry errors (cm) of a generated motion (``positions [T, J, 3]``, smooth root ``[T, 2]``).

    Returns ``{metric: [N]}`` for the metrics of ``METRICS[ctype]``, one entry per constrained frame
    (or frame x effector).
    """
    real, f = case.positions, case.frames

    def joints(frames: Sequence[int]) -> np.ndarray:  # mean over all joints, per frame
        fr = np.asarray(frames)
        return 100 * np.linalg.norm(positions[fr] - real[fr], axis=-1).mean(-1)

    def root(frames: Iterable[int]) -> dict[str, np.ndarray]:
        fr = np.asarray(frames)
        target = case.smooth_xz[fr]
        return {
            "pelvis_xz_cm": 100 * np.linalg.norm(positions[fr, 0][:, [0, 2]] - target, axis=-1),
            "smooth_root_cm": 100 * np.linalg.norm(smooth_xz[fr] - target, axis=-1),
        }

    if ctype == "fullbody":
        return {"joint_cm": joints(f["fullbody"])}
    if ctype == "end_effector":
        entries = [(fr, _chain_base(skeleton, name)) for fr in f["end_effector"] for name in END_EFFECTORS]
        entries += [(fr, _chain_base(skeleton, f["interval_hand"])) for fr in f["interval"]]
        fr, jo = (np.asarray(v) for v in zip(*entries))
        return {"chain_base_cm": 100 * np.linalg.norm(positions[fr, jo] - real[fr, jo], axis=-1)}
    if ctype == "root2d_path":
        return root(range(case.num_frames))
    if ctype == "root2d_waypoints":
        return root(f["waypoints"])
    if ctype == "mixed":
        return {"keyframe_joint_cm": joints([f["mixed_keyframe"]]), **root(range(case.num_frames))}
    raise _unknown_type(ctype)


def continuity(positions: np.ndarray, real: np.ndarray, frames: Sequence[int], radius: int = CONTINUITY_RADIUS) -> float:
    """Largest per-frame joint speed within ``radius`` frames of ``frames``, generated over real.

    ``positions`` and ``real`` are ``[T, J, 3]``; NaN when no frame step lies near ``frames``.
    """
    t = positions.shape[0]
    near = np.zeros(max(t - 1, 0), bool)
    for fr in frames:
        near[max(0, fr - radius) : max(0, min(t - 1, fr + radius + 1))] = True
    if not near.any():
        return float("nan")

    def top(p: np.ndarray) -> float:
        return float(np.linalg.norm(np.diff(p, axis=0), axis=-1)[near].max())

    return top(positions) / max(top(real), 1e-6)


def pop_ratio(positions: np.ndarray, frames: Sequence[int]) -> float:
    """The largest step into or out of any of ``frames`` over the steps around it
    (:func:`motiongen.pipelines.editing.seam_continuity` at each): about 1 or below where the motion
    passes through the constrained frames at its own pace, well above 1 for a pop. NaN without a step."""
    t = positions.shape[0]
    seams = sorted({f for fr in frames for f in (fr, fr + 1) if 1 <= f < t})
    return max((seam_continuity(positions, f) for f in seams), default=float("nan"))


def score(
    case: Case, ctype: str, positions: np.ndarray, smooth_xz: np.ndarray, contacts: np.ndarray, skeleton: Skeleton,
    fps: float
) -> dict[str, Any]:
    """All figures of one generated motion (``positions [T, J, 3]``, ``smooth_xz [T, 2]``, predicted
    ``contacts [T, 4]``) against ``case``'s ``ctype`` targets: ``errors`` (per-entry arrays),
    ``planted_slide``, ``foot_skate``, ``continuity``, ``pop``, ``pelvis_path_m`` (the real window's pop at
    the same frames is :func:`real_figures`'s)."""
    errors = constraint_errors(case, ctype, positions, smooth_xz, skeleton)
    frames = constrained_frames(case, ctype)
    return {
        "errors": errors,  # per-entry arrays (pooled into the summary; means kept per case)
        "planted_slide": foot_skate_from_contacts(positions, skeleton, fps, contacts),
        "foot_skate": foot_skate_from_height(positions, skeleton, fps),
        "continuity": continuity(positions, case.positions, frames),
        "pop": pop_ratio(positions, frames),
        "pelvis_path_m": root_path_length(positions),
    }


def real_figures(case: Case, skeleton: Skeleton, fps: float, types: Sequence[str] = TYPES) -> dict[str, Any]:
    """The reference row: the real window's foot skate, pelvis path, how far its pelvis is from its
    smooth root, and its pop at each type's constrained frames (``pop``: ``{type: figure}``)."""
    gap = 100 * np.linalg.norm(case.positions[:, 0][:, [0, 2]] - case.smooth_xz, axis=-1)
    return {
        "foot_skate": foot_skate_from_height(case.positions, skeleton, fps),
        "pelvis_path_m": root_path_length(case.positions),
        "pelvis_to_smooth_root_cm_mean": float(gap.mean()),
        "pelvis_to_smooth_root_cm_max": float(gap.max()),
        "pop": {ctype: pop_ratio(case.positions, constrained_frames(case, ctype)) for ctype in types},
    }


# ==================================================================================================
# running
def generated_arrays(out: MotionOutput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first sample of a pipeline output: joint positions ``[T, J, 3]`` and smooth root (x, z)
    ``[T, 2]`` as float64, and the predicted foot contacts ``[T, 4]`` bool."""
    return (
        np.asarray(out.posed_joints[0], np.float64),
        np.asarray(out.smooth_root_pos[0][:, [0, 2]], np.float64),
        np.asarray(out.foot_contacts[0], bool),
    )


def run_case(
    pipe: KIMODOPipeline,
    case: Case,
    types: Sequence[str],
    steps: int,
    timings: dict[str, list[float]] | None = None,
    *,
    impute: float | None = None,
    cfg: Any = None,
    on_generated: Callable[[Case, str, MotionOutput], None] | None = None,
) -> dict[str, Any]:
    """Generate ``case`` for every type (raw and post-processed) and without constraints; score all.

    ``timings`` (if given) collects seconds per generation under each setting of ``SETTINGS``;
    ``on_generated(case, type, output)`` (if given) sees every post-processed constrained output.
    Returns ``{"scores": {type: {setting: score}}, "raw_features_identical": {type: bool}}``.
    """
    skeleton, fps = pipe.bundle.skeleton, pipe.fps
    timings = {} if timings is None else timings

    def timed(kind: str, generate: Callable[..., MotionOutput], *args: Any, **kwargs: Any) -> MotionOutput:
        start = time.perf_counter()
        out = generate(*args, **kwargs)
        timings.setdefault(kind, []).append(time.perf_counter() - start)
        return out

    n = case.num_frames
    base = {}
    for post in (False, True):
        kind = f"unconstrained_{'postprocessed' if post else 'raw'}"
        out = timed(kind, pipe.text_to_motion, case.caption, num_frames=n, seed=case.seed, steps=steps, postprocess=post)
        base[post] = (generated_arrays(out), out.features)
    imputation = {} if impute is None else {"impute": impute}
    scores: dict[str, dict[str, Any]] = {}
    identical: dict[str, bool] = {}
    for ctype in types:
        constraints = build_constraints(pipe, case, ctype)
        outs = {}
        for post in (False, True):
            outs[post] = timed(
                "postprocessed" if post else "raw",
                pipe.constrained_motion,
                case.caption,
                n,
                constraints=constraints,
                seed=case.seed,
                steps=steps,
                postprocess=post,
                cfg=cfg,
                **imputation,
            )
        if on_generated is not None:
            on_generated(case, ctype, outs[True])
        identical[ctype] = bool(np.array_equal(outs[False].features, outs[True].features))
        scores[ctype] = {
            "raw": score(case, ctype, *generated_arrays(outs[False]), skeleton, fps),
            "postprocessed": score(case, ctype, *generated_arrays(outs[True]), skeleton, fps),
            "unconstrained_raw": score(case, ctype, *base[False][0], skeleton, fps),
            "unconstrained_postprocessed": score(case, ctype, *base[True][0], skeleton, fps),
        }
    return {"scores": scores, "raw_features_identical": identical}


def stat_summary(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """``mean``, ``p95`` and ``n`` of the finite ``values`` (NaN and ``n = 0`` when none is finite)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return {"mean": float("nan"), "p95": float("nan"), "n": 0}
    return {"mean": float(arr.mean()), "p95": float(np.percentile(arr, 95)), "n": int(arr.size)}


def summarise(results: Sequence[dict[str, Any]], reals: Sequence[dict[str, float]], types: Sequence[str]) -> dict[str, Any]:
    """Per type and setting: each error's mean / p95 over pooled entries, foot skate and continuity
    over cases; plus the real windows' row (``"real"``)."""
    summary: dict[str, Any] = {}
    for ctype in types:
        summary[ctype] = {}
        for setting in SETTINGS:
            rows = [r["scores"][ctype][setting] for r in results]
            entry = {
                metric: stat_summary(np.concatenate([row["errors"][metric] for row in rows])) for metric in METRICS[ctype]
            }
            entry["planted_slide"] = stat_summary([row["planted_slide"] for row in rows])
            entry["foot_skate"] = stat_summary([row["foot_skate"] for row in rows])
            entry["continuity"] = stat_summary([row["continuity"] for row in rows])
            entry["pop"] = stat_summary([row["pop"] for row in rows])
            entry["pelvis_path_m"] = stat_summary([row["pelvis_path_m"] for row in rows])
            summary[ctype][setting] = entry
    summary["real"] = {
        "foot_skate": stat_summary([r["foot_skate"] for r in reals]),
        "pelvis_path_m": stat_summary([r["pelvis_path_m"] for r in reals]),
        "pelvis_to_smooth_root_cm": stat_summary([r["pelvis_to_smooth_root_cm_mean"] for r in reals]),
        "pop": {ctype: stat_summary([r["pop"][ctype] for r in reals]) for ctype in types},
    }
    return summary


def per_case_record(case: Case, result: dict[str, Any], real: dict[str, float]) -> dict[str, Any]:
    """What the JSON keeps of one case: where it came from, its frames, and per-setting means."""
    figures = {}
    for ctype, by_setting in result["scores"].items():
        figures[ctype] = {
            setting: {
                **{f"{m}_mean": float(np.mean(v)) for m, v in s["errors"].items()},
                **{f"{m}_max": float(np.max(v)) for m, v in s["errors"].items()},
                "planted_slide": s["planted_slide"],
                "foot_skate": s["foot_skate"],
                "continuity": s["continuity"],
                "pop": s["pop"],
                "pelvis_path_m": s["pelvis_path_m"],
            }
            for setting, s in by_setting.items()
        }
    return {
        "index": case.index,
        "clip_id": case.clip_id,
        "source": case.source,
        "start": case.start,
        "caption": case.caption,
        "seed": case.seed,
        "frames": case.frames,
        "real": real,
        "raw_features_identical": result["raw_features_identical"],
        "figures": figures,
    }


def guidance_text(cfg: Any) -> str:
    """``separated (2.0, 2.0)`` / ``regular 3.0``: the guidance a pipeline default resolves to."""
    kind, weights = resolve_cfg(cfg)
    return f"{kind} ({', '.join(f'{w:.1f}' for w in weights)})" if len(weights) > 1 else f"{kind} {weights[0]:.1f}"


def no_case_error(frames: int, caption_coverage: float) -> InputError:
    """No clip qualifies for a case: too long a window, or too strict a caption coverage for it."""
    return InputError(
        f"no test clip has {frames} frames and a caption that describes at least {caption_coverage:g} of such a window "
        "(shorter windows, or a lower caption coverage, e.g. 0, admit more clips)",
        field="frames",
    )


def _check_arguments(
    pipe: KIMODOPipeline, cases: int, frames: int, steps: int, types: Sequence[str], caption_coverage: float
) -> None:
    check_caption_coverage(caption_coverage, "caption_coverage")
    for name, value in (("cases", cases), ("frames", frames), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"must be a positive integer, got {value!r}", field=name)
    if frames > pipe.max_frames:
        raise InputError(f"{frames} is more than the model generates; allowed: 1..{pipe.max_frames}", field="frames")
    if isinstance(types, str) or not types:
        raise InputError(f"must be a non-empty list of constraint types; allowed: {', '.join(TYPES)}", field="types")
    for ctype in types:
        if ctype not in TYPES:
            raise _unknown_type(ctype)


def evaluate_constraints(
    pipe: KIMODOPipeline,
    clips: Clips,
    *,
    cases: int = 20,
    frames: int = 150,
    steps: int = 25,
    seed: int = 0,
    types: Sequence[str] = TYPES,
    impute: float | None = None,
    cfg: Any = None,
    caption_coverage: float = CAPTION_COVERAGE,
    progress: bool = False,
    on_generated: Callable[[Case, str, MotionOutput], None] | None = None,
) -> dict[str, Any]:
    """Build ``cases`` windows of ``frames`` frames from ``clips`` (the test split), generate each for
    every constraint type in ``types`` (raw, post-processed) and without constraints, and score them.

    Args:
        pipe: the KIMODO pipeline to evaluate.
        clips: ``(Motion, captions)`` of the test split: a ``MotionDataset`` (its ``split`` is recorded)
            or a sequence, taken to be test clips.
        cases: windows to draw (fewer when fewer clips are eligible).
        frames: window length; at most ``pipe.max_frames``.
        steps: DDIM steps per generation.
        seed: draws the clips, offsets and constraint frames; case ``k`` generates with ``seed * 1000 + k``.
        types: constraint types to run, a subset of ``TYPES``.
        impute: share of sampling steps with smooth imputation (``None``: the pipeline's default).
        cfg: guidance of the constrained runs (``None``: the pipeline's default).
        caption_coverage: how much of a window its caption must describe (:func:`covered_starts`;
            0: any window of a long-enough clip, with its first caption).
        progress: show a progress bar over cases.
        on_generated: called with ``(case, type, output)`` for every post-processed constrained
            generation, in order (cases, then ``types``): to keep the motions the figures come from.

    Returns:
        ``{"settings", "summary", "raw_features_identical", "per_case", "seconds_per_generation"}``:
        the run's parameters, :func:`summarise`'s tables, whether post-processing left every raw
        feature tensor unchanged, one :func:`per_case_record` per case and generation timings.

    Raises:
        InputError: a non-positive count, ``frames`` past the model's length, an unknown type, or no
            clip with ``frames`` frames and a caption (``field="frames"``).
    """
    _check_arguments(pipe, cases, frames, steps, types, caption_coverage)
    skeleton, fps = pipe.bundle.skeleton, pipe.fps
    drawn = build_cases(clips, cases, frames, seed, pipe.bundle.features, caption_coverage)
    if not drawn:
        raise no_case_error(frames, caption_coverage)
    timings: dict[str, list[float]] = {}
    iterator: Iterable[Case] = drawn
    if progress:
        try:
            from tqdm import tqdm

            iterator = tqdm(drawn, desc="cases", unit="case")
        except ImportError:  # pragma: no cover
            pass
    results, reals = [], []
    for case in iterator:
        results.append(run_case(pipe, case, types, steps, timings, impute=impute, cfg=cfg, on_generated=on_generated))
        reals.append(real_figures(case, skeleton, fps, types))
    summary = summarise(results, reals, types)
    constrained_cfg = pipe.default_cfg(constrained=True) if cfg is None else cfg
    return {
        "settings": {
            "split": str(getattr(clips, "split", "test")),
            "cases": len(drawn),
            "cases_requested": cases,
            "eligible_clips": len(eligible_clips(clips, frames, caption_coverage)),
            "frames": frames,
            "caption_coverage": caption_coverage,
            "steps": steps,
            "seed": seed,
            "case_seeds": [c.seed for c in drawn],
            # a guidance type given by name is recorded as given (the benchmark's JSON always did)
            "cfg_constrained": cfg if isinstance(cfg, str) and cfg else guidance_text(constrained_cfg),
            "impute": impute if impute is not None else DEFAULT_IMPUTE,
            "cfg_unconstrained": guidance_text(pipe.default_cfg()),
            "types": list(types),
            "end_effector_interval_frames": INTERVAL_FRAMES,
            "continuity_radius_frames": CONTINUITY_RADIUS,
            "pose_smooth_root": POSE_SMOOTH_ROOT,
        },
        "summary": summary,
        "raw_features_identical": all(all(r["raw_features_identical"].values()) for r in results),
        "per_case": [per_case_record(c, r, real) for c, r, real in zip(drawn, results, reals)],
        "seconds_per_generation": {k: stat_summary(v) | {"total": float(np.sum(v))} for k, v in timings.items()},
    }


# ==================================================================================================
#: How tables name the constraint types (what each constrains) and the error figures.
TYPE_LABELS = {
    "fullbody": "full body: 3 keyframes (first, one between, last)",
    "end_effector": "end effectors: wrists and feet at 3 frames, one wrist over 10 frames",
    "root2d_path": "2D root: dense path (every frame)",
    "root2d_waypoints": "2D root: 3 waypoints (first, middle, last)",
    "mixed": "mixed: 1 full-body keyframe + dense path",
}
METRIC_LABELS = {
    "joint_cm": "joint positions (mean over the 22 joints)",
    "chain_base_cm": "chain base (wrist, ankle) position",
    "pelvis_xz_cm": "pelvis (x, z) to the target (KIMODO's root2d error)",
    "smooth_root_cm": "smooth-root feature to the target",
    "keyframe_joint_cm": "keyframe joint positions (mean over the 22 joints)",
}


def _mean_p95(s: dict[str, float], digits: int = 1) -> str:
    return f"{s['mean']:.{digits}f} / {s['p95']:.{digits}f}"


def error_table(summary: dict[str, Any], types: Sequence[str]) -> str:
    """Markdown table of the errors at the constrained frames (cm, mean / p95), per type and setting."""
    lines = [
        "| constraints | error of | raw | post-processed | no constraints, raw | no constraints, post-processed |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for ctype in types:
        for metric in METRICS[ctype]:
            cells = " | ".join(_mean_p95(summary[ctype][s][metric]) for s in SETTINGS)
            lines.append(f"| {TYPE_LABELS[ctype]} | {METRIC_LABELS[metric]} | {cells} |")
    return "\n".join(lines)


def motion_table(summary: dict[str, Any], types: Sequence[str], split: str = "test") -> str:
    """Markdown table of planted feet, foot skate, continuity and pelvis path per type, with the
    no-constraint row and the real windows' row (``split`` names their split)."""

    def path(entry: dict[str, Any]) -> str:
        return f"{entry['pelvis_path_m']['mean']:.2f}"

    def planted(entry: dict[str, Any]) -> str:  # records from before the figure existed have none
        return f"{entry['planted_slide']['mean']:.3f}" if "planted_slide" in entry else ""

    def pop(entry: dict[str, Any] | None) -> str:  # nor this one
        return _mean_p95(entry, 2) if entry else ""

    lines = [
        (
            "| constraints | planted feet, raw | planted feet, post-processed | foot skate, raw | foot skate, post-processed "
            "| continuity, raw | continuity, post-processed | continuity, no constraints (raw) | pops, post-processed "
            "| pops, real windows | pelvis path, post-processed (m) |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ctype in types:
        s = summary[ctype]
        lines.append(
            f"| {TYPE_LABELS[ctype]} | {planted(s['raw'])} | {planted(s['postprocessed'])} | "
            f"{s['raw']['foot_skate']['mean']:.3f} | {s['postprocessed']['foot_skate']['mean']:.3f} | "
            f"{_mean_p95(s['raw']['continuity'], 2)} | {_mean_p95(s['postprocessed']['continuity'], 2)} | "
            f"{_mean_p95(s['unconstrained_raw']['continuity'], 2)} | {pop(s['postprocessed'].get('pop'))} | "
            f"{pop(summary['real'].get('pop', {}).get(ctype))} | {path(s['postprocessed'])} |"
        )
    first = summary[types[0]]
    lines += [
        (
            f"| no constraints (same captions and seeds) | {planted(first['unconstrained_raw'])} | "
            f"{planted(first['unconstrained_postprocessed'])} | {first['unconstrained_raw']['foot_skate']['mean']:.3f} | "
            f"{first['unconstrained_postprocessed']['foot_skate']['mean']:.3f} | | | | | | {path(first['unconstrained_postprocessed'])} |"
        ),
        f"| real {split} windows | | | {summary['real']['foot_skate']['mean']:.3f} | | | | | | | {path(summary['real'])} |",
    ]
    return "\n".join(lines)


def format_tables(summary: dict[str, Any], types: Sequence[str], split: str = "test") -> str:
    """Both tables (:func:`error_table`, :func:`motion_table`), as the benchmark and ``motiongen eval``'s
    report print them; the README puts its prose between them."""
    return error_table(summary, types) + "\n\n" + motion_table(summary, types, split)
