"""Measuring the three edits of :mod:`motiongen.pipelines.editing` on the test split.

Each measure takes the pipeline and the real clips it edits, and returns plain dicts (one row per
edit plus summaries) that :mod:`benchmarks.editing` writes to JSON and the README renders:

- :func:`measure_style_edits`: Bandai dataset-2 test clips (7 styles) restyled to every other
  style with ``style_edit(motion, "<adverb>", content="a person <verb phrase>")``; the style
  classifier (:class:`~motiongen.models.style.StyleClassifier`, trained on the training split)
  judges the result. Beside each target style: the classifier's recall on the real test clips of
  that style (what a perfect edit could score), the share of the sources it already calls that
  style (what no edit scores), and free text-to-motion with the same caption and length (the
  model's style without the path and contacts pinned). Content kept: the pelvis floor path's
  largest distance to the source's (cm) and the share of (frame, foot) contact states that agree.
- :func:`measure_local_edits`: a window of a test clip regenerated from another test clip's
  caption; the kept frames' largest joint error (m), :func:`seam_continuity` at both window
  edges (the continuity figure: the constraint benchmark's speed ratio against the source is kept as
  a diagnostic, it reads the new content's pace), and the evaluator's text-motion cosine of the edited window to its prompt beside the
  source window (before the edit), a free generation of the window's length and the real clip the
  caption belongs to.
- :func:`measure_compositions`: the lower body of Bandai walk/run test clips kept and the upper
  body generated from a gesture prompt; the kept joints' largest error (m), the gesture's check
  (:data:`COMPOSE_PROMPTS`) on the output beside the same check on the source, foot skate.

Every motion here is read from the dataset at run time; nothing derived from it is stored but the
figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from motiongen.data.captions import BANDAI_CONTENT, BANDAI_STYLE
from motiongen.errors import InputError
from motiongen.evaluation.constraints import continuity
from motiongen.metrics.quality import foot_skate_from_height
from motiongen.motion.motion import Motion
from motiongen.pipelines.editing import contact_agreement, motion_foot_contacts, root_path_error, seam_continuity

#: The classifier head that judges dataset-2 clips (7 styles).
STYLE_LABEL_SET = "bandai-7"
#: Gesture prompts of the composition measurement and the check each one's output must pass.
COMPOSE_PROMPTS: dict[str, str] = {
    "wave_right": "a person waves the right hand.",
    "wave_left": "a person waves the left hand.",
    "raise_both": "a person raises both hands.",
}
#: Share of frames a wrist must be above its shoulder to count as raised.
RAISED_SHARE = 0.2
COMPOSE_CHECKS: dict[str, str] = {
    "wave_right": "right wrist above the shoulder on >= 20% of frames, left not",
    "wave_left": "left wrist above the shoulder on >= 20% of frames, right not",
    "raise_both": "both wrists above the shoulders on >= 20% of frames",
}
#: The real test clips each gesture's check is also run on (its real-data row).
COMPOSE_REAL_CONTENT: dict[str, str] = {
    "wave_right": "wave-right-hand",
    "wave_left": "wave-left-hand",
    "raise_both": "raise-up-both-hands",
}
#: Locomotion contents whose lower body the composition keeps.
COMPOSE_CONTENTS = ("walk", "run")


@dataclass
class LabelledClip:
    """A real test clip with its Bandai labels (``content``/``style`` empty for other sources)."""

    motion: Motion
    clip_id: str
    captions: list[str]
    dataset: int | None
    content: str
    style: str


def labelled_clips(dataset: Any) -> list[LabelledClip]:
    """Every clip of a :class:`~motiongen.data.dataset.MotionDataset` (opened with ``mirrored=False``)
    with its labels."""
    out = []
    for index in range(len(dataset)):
        motion, captions = dataset[index]
        labels = dataset.record(index).get("labels") or {}
        source = motion.meta.get("source")
        bandai = source == "bandai"
        out.append(
            LabelledClip(
                motion=motion,
                clip_id=str(motion.meta.get("clip_id")),
                captions=list(captions),
                dataset=int(labels["dataset"]) if bandai else None,
                content=str(labels.get("content", "")) if bandai else "",
                style=str(labels.get("style", "")) if bandai else "",
            )
        )
    return out


def style_phrases(content: str, style: str) -> tuple[str, str]:
    """``("a person walks", "energetically")``: the content and style halves of a style-edit
    request, in the words the training captions use (:data:`~motiongen.data.captions.BANDAI_CONTENT`,
    :data:`~motiongen.data.captions.BANDAI_STYLE`)."""
    if content not in BANDAI_CONTENT:
        raise InputError(f"unknown Bandai content '{content}'", field="content")
    if style not in BANDAI_STYLE:
        raise InputError(f"unknown Bandai style '{style}'", field="style")
    return f"a person {BANDAI_CONTENT[content][0][0]}", BANDAI_STYLE[style].adverbs[0]


def _positions(output: Any) -> np.ndarray:
    return np.asarray(output.posed_joints[0], dtype=np.float64)


def _free_options(sampling: dict[str, Any] | None) -> dict[str, Any]:
    """The edits' step count for the free generations beside them (their guidance stays the
    pipeline's text-to-motion default: the edits' is for constrained sampling)."""
    return {"steps": sampling["steps"]} if sampling and "steps" in sampling else {}


def _pick(rng: np.random.Generator, items: Sequence[Any], count: int) -> list[Any]:
    order = rng.permutation(len(items))[: min(count, len(items))]
    return [items[i] for i in sorted(order)]


def _summary(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {"mean": float(a.mean()), "median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max())}


# ==================================================================================================
def classifier_recall(classifier: Any, clips: Sequence[LabelledClip], label_set: str = STYLE_LABEL_SET) -> dict[str, Any]:
    """The classifier on real clips (:func:`~motiongen.evaluation.style.accuracy_report`: accuracy,
    recall per style, confusion) and the predicted labels (``predicted``)."""
    from motiongen.evaluation.style import accuracy_report

    styles = list(classifier.label_sets[label_set])
    predicted = classifier.classify([c.motion.joint_positions() for c in clips], label_set)
    report = accuracy_report([styles.index(c.style) for c in clips], [styles.index(p) for p in predicted], styles)
    return {"label_set": label_set, **report, "predicted": predicted}


def measure_style_edits(
    pipe: Any,
    classifier: Any,
    clips: Sequence[LabelledClip],
    *,
    sources_per_style: int = 30,
    seed: int = 0,
    label_set: str = STYLE_LABEL_SET,
    free_generation: bool = True,
    sampling: dict[str, Any] | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Restyle ``sources_per_style`` test clips to each style of ``label_set`` (sources of every
    other style, drawn with ``seed``) and classify the results; see the module docstring."""
    styles = list(classifier.label_sets[label_set])
    pool = [c for c in clips if c.style in styles]
    if not pool:
        raise InputError(f"no clips with a style of '{label_set}' ({', '.join(styles)})", field="clips")
    real = classifier_recall(classifier, pool, label_set)
    real_predicted = dict(zip((c.clip_id for c in pool), real.pop("predicted")))
    skeleton, fps = pipe.bundle.skeleton, pipe.bundle.features.fps
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for target in styles:
        sources = _pick(rng, [c for c in pool if c.style != target], sources_per_style)
        for clip in sources:
            content, style_text = style_phrases(clip.content, target)
            edit_seed = seed * 100_003 + len(rows)
            edited = _positions(pipe.style_edit(clip.motion, style_text, content=content, seed=edit_seed, **(sampling or {})))
            source = clip.motion.joint_positions()
            row = {
                "clip_id": clip.clip_id,
                "content": clip.content,
                "source_style": clip.style,
                "target_style": target,
                "caption": f"{content} {style_text}",
                "seed": edit_seed,
                "frames": int(source.shape[0]),
                "source_predicted": real_predicted[clip.clip_id],
                "root_path_cm": 100.0 * root_path_error(source[:, 0], edited[:, 0]),
                "contact_agreement": contact_agreement(
                    motion_foot_contacts(source, skeleton, fps), motion_foot_contacts(edited, skeleton, fps)
                ),
                "foot_skate": foot_skate_from_height(edited, skeleton, fps),
                "source_foot_skate": foot_skate_from_height(source, skeleton, fps),
                "_edited": edited,
            }
            if free_generation:
                # the model makes at most max_frames in one piece; the style of a longer clip reads the same
                frames = min(row["frames"], pipe.max_frames)
                free = pipe.text_to_motion(row["caption"], num_frames=frames, seed=edit_seed, **_free_options(sampling))
                row["_free"] = _positions(free)
            rows.append(row)
            if on_step is not None:
                on_step()
    edited_labels = classifier.classify([r.pop("_edited") for r in rows], label_set)
    free_labels = classifier.classify([r.pop("_free") for r in rows], label_set) if free_generation else [None] * len(rows)
    for row, label, free_label in zip(rows, edited_labels, free_labels):
        row["edited_predicted"] = label
        row["free_predicted"] = free_label
    per_target = {}
    for target in styles:
        mine = [r for r in rows if r["target_style"] == target]
        per_target[target] = {
            "edits": len(mine),
            "edit_accuracy": float(np.mean([r["edited_predicted"] == target for r in mine])),
            "free_accuracy": float(np.mean([r["free_predicted"] == target for r in mine])) if free_generation else None,
            "source_accuracy": float(np.mean([r["source_predicted"] == target for r in mine])),
            "real_recall": real["per_style"][target]["accuracy"],
            "real_count": real["per_style"][target]["clips"],
            "root_path_cm": float(np.mean([r["root_path_cm"] for r in mine])),
            "contact_agreement": float(np.mean([r["contact_agreement"] for r in mine])),
            "foot_skate": float(np.mean([r["foot_skate"] for r in mine])),
            "source_foot_skate": float(np.mean([r["source_foot_skate"] for r in mine])),
        }
    overall = {
        "edits": len(rows),
        "edit_accuracy": float(np.mean([r["edited_predicted"] == r["target_style"] for r in rows])),
        "free_accuracy": float(np.mean([r["free_predicted"] == r["target_style"] for r in rows])) if free_generation else None,
        "source_accuracy": float(np.mean([r["source_predicted"] == r["target_style"] for r in rows])),
        "real_accuracy": real["accuracy"],
        "chance": 1.0 / len(styles),
        "root_path_cm": _summary([r["root_path_cm"] for r in rows]),
        "contact_agreement": _summary([r["contact_agreement"] for r in rows]),
        "foot_skate": float(np.mean([r["foot_skate"] for r in rows])),
        "source_foot_skate": float(np.mean([r["source_foot_skate"] for r in rows])),
    }
    return {"label_set": label_set, "styles": styles, "real": real, "per_target": per_target, "overall": overall, "edits": rows}


# ==================================================================================================
def measure_local_edits(
    pipe: Any,
    evaluator: Any,
    clips: Sequence[LabelledClip],
    *,
    count: int = 40,
    window: tuple[int, int] = (45, 90),
    margin: int = 20,
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Regenerate a ``window``-long span (drawn with ``seed``, at least ``margin`` frames from each
    end) of ``count`` test clips from another clip's caption; see the module docstring."""
    low, high = window
    if not 2 <= low <= high:
        raise InputError(f"window must be (low, high) with 2 <= low <= high, got {window}", field="window")
    long_enough = [c for c in clips if c.motion.num_frames >= high + 2 * margin]
    if len(long_enough) < 2:
        raise InputError(f"need at least 2 clips of >= {high + 2 * margin} frames", field="clips")
    rng = np.random.default_rng(seed)
    sources = _pick(rng, long_enough, count)
    skeleton, fps = pipe.bundle.skeleton, pipe.bundle.features.fps
    rows: list[dict[str, Any]] = []
    windows: dict[str, list[np.ndarray]] = {"edited": [], "source": [], "free": [], "real": []}
    for clip in sources:
        t = clip.motion.num_frames
        length = int(rng.integers(low, high + 1))
        start = int(rng.integers(margin, t - margin - length + 1))
        end = start + length
        donor = clips[int(rng.integers(len(clips)))]
        while donor.clip_id == clip.clip_id:
            donor = clips[int(rng.integers(len(clips)))]
        prompt = donor.captions[int(rng.integers(len(donor.captions)))]
        edit_seed = seed * 100_003 + len(rows)
        out = pipe.local_edit(clip.motion, prompt, start, end, seed=edit_seed, **(sampling or {}))
        edited, source = _positions(out), clip.motion.joint_positions()
        kept = np.r_[0:start, end:t]
        rows.append({
            "clip_id": clip.clip_id,
            "frames": t,
            "window": [start, end],
            "prompt": prompt,
            "prompt_clip": donor.clip_id,
            "seed": edit_seed,
            "kept_error_m": float(np.linalg.norm(edited[kept] - source[kept], axis=-1).max()),
            "seam_start": seam_continuity(edited, start),
            "seam_end": seam_continuity(edited, end),
            "source_seam_start": seam_continuity(source, start),
            "source_seam_end": seam_continuity(source, end),
            "continuity": continuity(edited, source, [start, end]),
            "foot_skate": foot_skate_from_height(edited, skeleton, fps),
            "source_foot_skate": foot_skate_from_height(source, skeleton, fps),
        })
        windows["edited"].append(edited[start:end])
        windows["source"].append(source[start:end])
        windows["free"].append(_positions(pipe.text_to_motion(prompt, num_frames=length, seed=edit_seed, **_free_options(sampling))))
        windows["real"].append(donor.motion.joint_positions())
        if on_step is not None:
            on_step()
    prompts = evaluator.encode_texts([r["prompt"] for r in rows])
    similarity, top3 = {}, {}
    for name, motions in windows.items():
        matrix = evaluator.encode_motions(motions) @ prompts.T  # [motion, prompt] cosines
        own = np.diag(matrix)
        similarity[name] = float(own.mean())
        # own prompt among the 3 nearest of all the edits' prompts: retrieval, robust to the
        # evaluator's scale (a window cut from a longer motion scores lower than a whole clip)
        top3[name] = float(np.mean((matrix > own[:, None]).sum(axis=1) < 3))
        for row, value in zip(rows, own):
            row[f"similarity_{name}"] = float(value)
    seams = [max(r["seam_start"], r["seam_end"]) for r in rows]
    continuities = [r["continuity"] for r in rows]
    summary = {
        "continuity": _summary(continuities),
        "continuity_at_most_1_5": float(np.mean(np.asarray(continuities) <= 1.5)),
        "foot_skate": float(np.mean([r["foot_skate"] for r in rows])),
        "source_foot_skate": float(np.mean([r["source_foot_skate"] for r in rows])),
        "edits": len(rows),
        "kept_error_m": float(max(r["kept_error_m"] for r in rows)),
        "seam": _summary(seams),
        "seams_at_most_1_5": float(np.mean(np.asarray(seams) <= 1.5)),
        "source_seam": _summary([max(r["source_seam_start"], r["source_seam_end"]) for r in rows]),
        "similarity": similarity,
        "top3": top3,
        "top3_chance": min(3, len(rows)) / len(rows),
        "evaluator": evaluator.version,
    }
    return {"summary": summary, "edits": rows}


# ==================================================================================================
def gesture_check(name: str, positions: np.ndarray, skeleton: Any) -> tuple[bool, dict[str, float]]:
    """Whether ``positions [T, J, 3]`` show the gesture of :data:`COMPOSE_PROMPTS` ``name``, and the
    figures the check reads: the share of frames on which each wrist is above its shoulder (a wave
    or a raise lifts the hand; arms swinging in a walk or run never do, see the real rows of
    :func:`measure_compositions`)."""
    def raised(side: str) -> float:
        wrist = skeleton.index(skeleton.joint_set(f"{side}_hand")[0])
        shoulder = skeleton.index(f"{side}_shoulder")
        return float(np.mean(positions[:, wrist, 1] > positions[:, shoulder, 1]))

    figures = {"right_raised": raised("right"), "left_raised": raised("left")}
    right, left = figures["right_raised"] >= RAISED_SHARE, figures["left_raised"] >= RAISED_SHARE
    if name == "wave_right":
        passed = right and not left
    elif name == "wave_left":
        passed = left and not right
    elif name == "raise_both":
        passed = right and left
    else:
        raise InputError(f"unknown gesture '{name}'; known: {', '.join(COMPOSE_PROMPTS)}", field="name")
    return bool(passed), figures


def measure_compositions(
    pipe: Any,
    clips: Sequence[LabelledClip],
    *,
    sources_per_prompt: int = 10,
    keep: str = "lower_body",
    seed: int = 0,
    sampling: dict[str, Any] | None = None,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Keep ``keep`` of Bandai walk/run test clips and generate the rest from each gesture prompt;
    see the module docstring."""
    pool = [c for c in clips if c.content in COMPOSE_CONTENTS]
    if not pool:
        raise InputError(f"no test clips of {', '.join(COMPOSE_CONTENTS)} to compose with", field="clips")
    skeleton, fps = pipe.bundle.skeleton, pipe.bundle.features.fps
    kept = pipe.resolve_body_part(keep)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for name, prompt in COMPOSE_PROMPTS.items():
        for clip in _pick(rng, pool, sources_per_prompt):
            edit_seed = seed * 100_003 + len(rows)
            out = pipe.compose(clip.motion, prompt, keep=keep, seed=edit_seed, **(sampling or {}))
            edited, source = _positions(out), clip.motion.joint_positions()
            passed, figures = gesture_check(name, edited, skeleton)
            source_passed, _ = gesture_check(name, source, skeleton)
            rows.append({
                "clip_id": clip.clip_id,
                "gesture": name,
                "prompt": prompt,
                "seed": edit_seed,
                "kept_joint_error_m": float(np.linalg.norm(edited[:, kept] - source[:, kept], axis=-1).max()),
                "passed": passed,
                "source_passed": source_passed,
                **figures,
                "foot_skate": foot_skate_from_height(edited, skeleton, fps),
                "source_foot_skate": foot_skate_from_height(source, skeleton, fps),
            })
            if on_step is not None:
                on_step()
    per_gesture = {}
    for name in COMPOSE_PROMPTS:
        mine = [r for r in rows if r["gesture"] == name]
        real = [c for c in clips if c.content == COMPOSE_REAL_CONTENT[name]]
        per_gesture[name] = {
            "real_content": COMPOSE_REAL_CONTENT[name],
            "real_clips": len(real),
            "real_pass_rate": float(np.mean([gesture_check(name, c.motion.joint_positions(), skeleton)[0] for c in real]))
            if real else None,
            "prompt": COMPOSE_PROMPTS[name],
            "check": COMPOSE_CHECKS[name],
            "edits": len(mine),
            "pass_rate": float(np.mean([r["passed"] for r in mine])),
            "source_pass_rate": float(np.mean([r["source_passed"] for r in mine])),
            "kept_joint_error_m": float(max(r["kept_joint_error_m"] for r in mine)),
            "foot_skate": float(np.mean([r["foot_skate"] for r in mine])),
            "source_foot_skate": float(np.mean([r["source_foot_skate"] for r in mine])),
        }
    return {"keep": keep, "kept_joints": [skeleton.joint_names[j] for j in kept],
            "per_gesture": per_gesture, "edits": rows}


# ==================================================================================================
def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def editing_tables(result: dict[str, Any]) -> str:
    """Markdown tables of a :mod:`benchmarks.editing` result (printed by the script, rendered into
    the README)."""
    lines: list[str] = []
    style = result.get("style")
    if style:
        o, real = style["overall"], style["real"]
        lines += [
            f"**Style edits** ({o['edits']} edits of {result['split']}-split Bandai dataset-2 clips, "
            f"{len(style['styles'])} styles, chance {_pct(o['chance'])}; judged by the style classifier "
            f"`{result['classifier']['version']}`, whose accuracy on the {real['clips']} real {result['split']} clips "
            f"is {_pct(real['accuracy'])}). *edit*: `style_edit` (path and contacts kept); *free*: text-to-motion "
            "with the same caption and length; *source*: the unedited clips; *real*: the classifier's recall on "
            "real clips of that style.",
            "",
            "| target style | edits | edit | free | source | real | root path (cm) | contacts agree | foot skate (m/s) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in style["per_target"].items():
            lines.append(
                f"| {name} | {r['edits']} | {_pct(r['edit_accuracy'])} | {_pct(r['free_accuracy'])} | "
                f"{_pct(r['source_accuracy'])} | {_pct(r['real_recall'])} | {r['root_path_cm']:.1f} | "
                f"{_pct(r['contact_agreement'])} | {r['foot_skate']:.3f} (source {r['source_foot_skate']:.3f}) |"
            )
        lines.append(
            f"| **all** | {o['edits']} | **{_pct(o['edit_accuracy'])}** | {_pct(o['free_accuracy'])} | "
            f"{_pct(o['source_accuracy'])} | {_pct(o['real_accuracy'])} | {o['root_path_cm']['mean']:.1f} "
            f"(max {o['root_path_cm']['max']:.1f}) | {_pct(o['contact_agreement']['mean'])} | "
            f"{o['foot_skate']:.3f} (source {o['source_foot_skate']:.3f}) |"
        )
    local = result.get("local")
    if local:
        s = local["summary"]
        sim = s["similarity"]
        lines += [
            "",
            f"**Local edits** ({s['edits']} windows of 45-90 frames in {result['split']}-split clips, each regenerated "
            f"from another clip's caption): kept frames' largest joint error {s['kept_error_m']:.2g} m. Continuity at "
            f"the window edges (seam ratio: the largest joint step into the edge frame over the median step on its two "
            f"sides, larger edge of each edit; about 1 or below is as smooth as the motion around it, a pop is well "
            f"above 1): median {s['seam']['median']:.2f}, p95 {s['seam']['p95']:.2f}, max {s['seam']['max']:.2f}, "
            f"{_pct(s['seams_at_most_1_5'])} of edits at most 1.5 (the unedited clips at the same frames: median "
            f"{s['source_seam']['median']:.2f}, max {s['source_seam']['max']:.2f}). The constraint benchmark's figure "
            f"(largest joint speed within 5 frames of an edge over the source's there) reads the new content's pace "
            f"rather than pops here (a wave put into a standing clip is faster than the stand): median "
            f"{s['continuity']['median']:.2f}, p95 {s['continuity']['p95']:.2f}. Foot skate {s['foot_skate']:.3f} m/s "
            f"(the sources {s['source_foot_skate']:.3f}).",
            "",
            f"| motion vs its prompt (evaluator `{s['evaluator']}`) | cosine, mean | own prompt in the top 3 of the "
            f"{s['edits']} prompts (chance {_pct(s['top3_chance'])}) |",
            "|---|---|---|",
            f"| edited window | {sim['edited']:.3f} | {_pct(s['top3']['edited'])} |",
            f"| source window before the edit | {sim['source']:.3f} | {_pct(s['top3']['source'])} |",
            f"| free text-to-motion of the window's length | {sim['free']:.3f} | {_pct(s['top3']['free'])} |",
            f"| real clip the caption belongs to | {sim['real']:.3f} | {_pct(s['top3']['real'])} |",
        ]
    compose = result.get("compose")
    if compose:
        lines += [
            "",
            f"**Body-part composition** (`keep=\"{compose['keep']}\"`: {', '.join(compose['kept_joints'])}; "
            f"{result['split']}-split Bandai walk and run clips):",
            "",
            "| prompt | check | edits | passes | source passes | real clips of the gesture pass | kept joints' max error (m) | foot skate (m/s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in compose["per_gesture"].values():
            lines.append(
                f"| {r['prompt']} | {r['check']} | {r['edits']} | {_pct(r['pass_rate'])} | {_pct(r['source_pass_rate'])} | "
                f"{_pct(r['real_pass_rate'])} ({r['real_clips']} {r['real_content']}) | "
                f"{r['kept_joint_error_m']:.2g} | {r['foot_skate']:.3f} (source {r['source_foot_skate']:.3f}) |"
            )
    return "\n".join(lines)
