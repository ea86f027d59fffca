"""Motion editing with :class:`~motiongen.pipelines.kimodo.KIMODOPipeline`: regenerate part of an
existing motion and keep the rest.

Three edits, each a method of the pipeline (this mixin)::

    pipe = KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx")
    out = pipe.local_edit(walk, "a person jumps.", 60, 90)           # frames [60, 90) regenerated
    out = pipe.style_edit(walk, "in an elderly style", content="a person walks")
    out = pipe.compose(walk, "a person waves with both hands.", keep="lower_body")

All three are inpainting with the model's own constraint machinery (the feature-space mask the
denoiser is conditioned on, plus the smooth imputation of :mod:`motiongen.models.kimodo.imputation`),
with the observed values taken straight from the source motion's KIMODO features:

- **local edit** (inpainting in time): the frames of ``[start, end)`` are generated; ``context``
  kept frames on each side are given to the model as full-body poses (positions, smooth root,
  heading; rotations imputed). The model sees at most ``max_frames`` frames per pass, so a window
  longer than that is generated in passes, each continuing the one before (its tail as the next
  pass's left context), and a motion of any length can be edited. The first ``blend`` generated
  frames after each seam take the residual between the generated and the kept context frame,
  fading out (cosine), so the seam does not pop; after decoding, every frame outside the window is
  copied back from the source, so it is kept exactly.
- **style edit**: every frame is regenerated from a caption built from the instruction, with the
  smooth root's floor path (x, z) pinned on every frame (a dense 2D-root constraint) and the
  source's foot contacts kept by ``contacts``: ``"timing"`` (default) pins the four contact flags of
  the features on every frame (which foot is down when, not where), ``"feet"`` also pins each
  planted foot's position (ankle and toe; this also fixes the stride, and on the val split left the
  style classifier at chance), ``"none"`` keeps the path alone. The caption is
  ``"<content> <style>"`` when ``content`` is given (``"a person walks"`` + ``"in an elderly style"``
  -> ``"a person walks in an elderly style"``), else the instruction alone: the pipeline cannot know
  what the motion shows.
- **body-part composition**: the chosen joints (and by default the root: the pelvis position and
  rotation, the smooth root and the heading) are pinned on every frame (positions and rotations)
  and the rest is generated from the prompt; after decoding, the kept joints' local rotations
  (and the root translation) are copied back from the source, so a kept joint whose ancestors are
  all kept (``lower_body`` or ``upper_body`` with the root) keeps its world position exactly, and
  one whose ancestors are generated (``left_arm`` alone) keeps its motion relative to its parent.

Body-part groups on ``smplx22`` (:data:`BODY_PARTS`; a group is offered on any skeleton that has all
its joints): ``lower_body`` (pelvis and both legs), ``legs``, ``left_leg``, ``right_leg``,
``upper_body`` (spine, neck, head, both arms from the collars), ``torso`` (spine, neck, head),
``spine``, ``neck_head``, ``arms``, ``left_arm``, ``right_arm`` (collar to wrist),
``hands`` (wrists). A list of joint names is accepted too, and may mix in groups (no group
is named like a joint, so ``"head"`` is the head joint).

Every output's ``info["edit"]`` says what was kept, for the viewer and the style measurements
(:func:`root_path_error`, :func:`contact_agreement`, :func:`motion_foot_contacts`,
:func:`seam_continuity`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from motiongen.errors import InputError
from motiongen.motion.motion import Motion

#: Kept frames on each side of the window that the model sees (full-body poses), per pass.
DEFAULT_CONTEXT = 10
#: Generated frames after each seam over which the residual to the kept frame fades out.
DEFAULT_BLEND = 5
#: How :meth:`EditingTasks.style_edit` keeps the source's foot contacts.
STYLE_CONTACTS = ("feet", "timing", "none")
#: Default guidance per edit: the kept part of the motion is given as constraints on most of the
#: frames, so the text needs a much larger weight than in text-to-motion to change anything, and
#: the constraint weight can be small (they are imputed besides). Chosen on the *val* split with
#: ``benchmarks/editing.py --split val`` (text weights 2, 4, 6, 8, 12 with constraint weights 1 or
#: 2): at KIMODO's (2, 2) style edits scored chance and a kept walk's arms did not wave; local edits
#: and compositions kept improving up to (12, 1) (text match, gesture checks, seams), style edits
#: peaked at (8, 1).
EDIT_CFG: dict[str, tuple[str, tuple[float, float]]] = {
    "local_edit": ("separated", (12.0, 1.0)),
    "style_edit": ("separated", (8.0, 1.0)),
    "compose": ("separated", (12.0, 1.0)),
}

_LEFT_LEG = ("left_hip", "left_knee", "left_ankle", "left_foot")
_RIGHT_LEG = ("right_hip", "right_knee", "right_ankle", "right_foot")
_SPINE = ("spine1", "spine2", "spine3")
_HEAD = ("neck", "head")
_LEFT_ARM = ("left_collar", "left_shoulder", "left_elbow", "left_wrist")
_RIGHT_ARM = ("right_collar", "right_shoulder", "right_elbow", "right_wrist")
#: Named joint groups for :meth:`EditingTasks.compose` (``smplx22`` joint names).
BODY_PARTS: dict[str, tuple[str, ...]] = {
    "lower_body": ("pelvis",) + _LEFT_LEG + _RIGHT_LEG,
    "legs": _LEFT_LEG + _RIGHT_LEG,
    "left_leg": _LEFT_LEG,
    "right_leg": _RIGHT_LEG,
    "upper_body": _SPINE + _HEAD + _LEFT_ARM + _RIGHT_ARM,
    "torso": _SPINE + _HEAD,
    "spine": _SPINE,
    "neck_head": _HEAD,
    "arms": _LEFT_ARM + _RIGHT_ARM,
    "left_arm": _LEFT_ARM,
    "right_arm": _RIGHT_ARM,
    "hands": ("left_wrist", "right_wrist"),
}


# ==================================================================================================
# measurements (shared by the tests and the style-edit measurement script)
def motion_foot_contacts(positions: np.ndarray, skeleton: Any, fps: float) -> np.ndarray:
    """Bool ``[T, 4]`` foot contacts ``[L heel, L toe, R heel, R toe]`` of joint positions
    ``[T, J, 3]`` by KIMODO's heuristic (the one the features are built with)."""
    from motiongen.motion.kimodo_features import foot_contacts_from_positions

    return foot_contacts_from_positions(np.asarray(positions, np.float64), skeleton, fps)


def contact_agreement(source: np.ndarray, edited: np.ndarray) -> float:
    """Share of (frame, foot) pairs on which two contact arrays agree, a foot being in contact
    when its heel or toe is: ``source``, ``edited`` bool ``[T, 4]``; 1.0 is the same timing."""
    a, b = np.asarray(source, bool), np.asarray(edited, bool)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 4:
        raise InputError(
            f"contacts must be two [T, 4] arrays of one length, got {list(a.shape)} and {list(b.shape)}", field="contacts"
        )
    feet_a = np.stack([a[:, 0] | a[:, 1], a[:, 2] | a[:, 3]], -1)
    feet_b = np.stack([b[:, 0] | b[:, 1], b[:, 2] | b[:, 3]], -1)
    return float((feet_a == feet_b).mean())


def root_path_error(source_xz: np.ndarray, edited_xz: np.ndarray) -> float:
    """Largest floor distance (m) between two root paths ``[T, 2]`` (or ``[T, 3]``: x, y, z)."""
    a, b = np.asarray(source_xz, np.float64), np.asarray(edited_xz, np.float64)
    if a.shape[-1] == 3:
        a = a[:, [0, 2]]
    if b.shape[-1] == 3:
        b = b[:, [0, 2]]
    return float(np.linalg.norm(a - b, axis=-1).max())


def seam_continuity(positions: np.ndarray, frame: int, radius: int = 10) -> float:
    """How much the step into ``frame`` stands out: the largest joint displacement from frame
    ``frame - 1`` to ``frame`` of ``positions [T, J, 3]``, over the larger of the median largest
    joint steps of the ``radius`` steps before it and the ``radius`` steps after it.

    The viewer's continuity ratio (:func:`motiongen.viz.manifest.continuity`) divides by the whole
    motion's median step, so an edit that is faster than the source (a jump into a slow wave) reads
    as a seam everywhere in the window; comparing the seam step with the speed on its two sides
    separates a pop (well above 1) from a change of pace (about 1 or below).
    """
    pos = np.asarray(positions, np.float64)
    if not 1 <= frame < pos.shape[0]:
        raise InputError(f"frame {frame} has no step into it; frames must be in [1, {pos.shape[0] - 1}]", field="frame")
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=-1).max(axis=-1)  # steps[i]: frame i -> i + 1
    before = steps[max(frame - 1 - radius, 0) : frame - 1]
    after = steps[frame : frame + radius]
    local = max(float(np.median(before)) if before.size else 0.0, float(np.median(after)) if after.size else 0.0)
    return float(steps[frame - 1] / max(local, 1e-9))


# ==================================================================================================
class EditingTasks:
    """Mixin: needs the pipeline's ``bundle``, ``encode_text``, ``_sample``, ``_output``, the
    argument checks and :class:`~motiongen.pipelines.constrained.ConstraintTasks`' ``_as_motion``."""

    # ------------------------------------------------------------------------------------------
    def local_edit(
        self,
        motion: Motion,
        prompt: str,
        start: int,
        end: int,
        *,
        context: int = DEFAULT_CONTEXT,
        blend: int = DEFAULT_BLEND,
        seed: int | None = None,
        steps: int = 25,
        cfg: tuple[str, Any] | str | None = None,
        cfg_type: str | None = None,
        cfg_weight: float | Sequence[float] | None = None,
        impute: bool | float | None = None,
        postprocess: bool = True,
        root_margin: float | None = None,
        progress: bool = False,
    ) -> Any:
        """Regenerate frames ``[start, end)`` of ``motion`` from ``prompt``, keeping every other frame.

        Args:
            motion: the source (a :class:`Motion` or a one-sample MotionOutput) on the model's
                skeleton and frame rate (retarget / resample first).
            prompt: what happens in the window.
            start, end: the window, ``0 <= start < end <= motion.num_frames``.
            context: kept frames on each side given to the model as full-body poses (``0 ..
                (max_frames - 1) // 2``). With ``start == 0`` the model starts where the source
                starts (its smooth root and heading on frame 0 are pinned).
            blend: generated frames after each seam over which the gap to the kept frame fades out.
            seed, steps, cfg, cfg_type, cfg_weight, impute, postprocess, root_margin, progress: as
                :meth:`constrained_motion`, except that the guidance defaults to :data:`EDIT_CFG`
                (post-processing never changes a kept frame).

        Returns:
            A one-sample MotionOutput of ``motion.num_frames`` frames whose frames outside the window
            are the source's exactly; ``info["edit"]`` holds the window and the passes.
        """
        from motiongen.pipelines.checks import check_prompt

        source = self._as_motion(motion, "motion")
        prompt = check_prompt(prompt, "prompt")
        t = source.num_frames
        start = self._check_edit_frame(start, "start", 0, t - 1, t)
        end = self._check_edit_frame(end, "end", 0, t, t)
        if end <= start:
            raise InputError(f"the window [{start}, {end}) is empty; end must be greater than start ({start})", field="end")
        context = self._check_edit_count(context, "context", (self.max_frames - 1) // 2)
        blend = self._check_edit_count(blend, "blend", self.max_frames)
        run = self._edit_run(seed, steps, cfg, cfg_type, cfg_weight, impute, root_margin, "local_edit")

        feats = self.bundle.features
        src = feats.encode(source).astype(np.float64)  # [T, D]
        empty = np.zeros_like(src, dtype=bool)
        generated, passes = self._regenerate(
            src, src, empty, empty, prompt, start, end, context=context, blend=blend, run=run, progress=progress
        )
        kept = np.concatenate([np.arange(0, start), np.arange(end, t)]).astype(np.int64)
        pinned = [self._kept_poses(source, src, kept)] if kept.size else []
        info = {
            **run.info(),
            "segments": [[start, end, prompt]],
            "edit": {
                "task": "local_edit",
                "window": [start, end],
                "kept_frames": [[0, start], [end, t]],
                "context": context,
                "blend": blend,
                "passes": passes,
            },
        }
        out = self._output(
            _batch(generated), [prompt], info, constraints=pinned, postprocess=postprocess, root_margin=run.root_margin
        )
        return self._copy_back(out, source, src, frames=kept)

    # ------------------------------------------------------------------------------------------
    def style_edit(
        self,
        motion: Motion,
        style_prompt: str,
        *,
        content: str | None = None,
        contacts: str = "timing",
        context: int = DEFAULT_CONTEXT,
        seed: int | None = None,
        steps: int = 25,
        cfg: tuple[str, Any] | str | None = None,
        cfg_type: str | None = None,
        cfg_weight: float | Sequence[float] | None = None,
        impute: bool | float | None = None,
        postprocess: bool = True,
        root_margin: float | None = None,
        progress: bool = False,
    ) -> Any:
        """Regenerate ``motion`` in another style, keeping its root path and foot-contact timing.

        Args:
            motion: the source, on the model's skeleton and frame rate; any length (passes of at
                most ``max_frames`` frames continue each other with ``context`` frames).
            style_prompt: the instruction, e.g. ``"in an elderly style"``, ``"energetically"``.
            content: what the motion shows (``"a person walks"``); the caption is
                ``"<content> <style_prompt>"`` with it, ``style_prompt`` alone without.
            contacts: how the source's foot contacts are kept: ``"feet"`` pins each foot (ankle and
                toe position) on the frames where the source has it on the ground; ``"timing"``
                pins only the contact flags of the features (which foot is down on which frame, not
                where: the stride may change); ``"none"`` keeps only the floor path.
            Other arguments as :meth:`local_edit`.

        Returns:
            A one-sample MotionOutput; ``info["edit"]`` records the style, content, caption and
            what was kept (``root_path``, ``contact_frames`` per foot).
        """
        from motiongen.constraints.sets import constraint_features
        from motiongen.pipelines.checks import check_prompt

        source = self._as_motion(motion, "motion")
        style = check_prompt(style_prompt, "style_prompt").strip()
        if content is not None:
            content = check_prompt(content, "content").strip().rstrip(".")
        caption = f"{content} {style}" if content else style
        if contacts not in STYLE_CONTACTS:
            raise InputError(f"unknown contacts mode {contacts!r}; choose one of {', '.join(STYLE_CONTACTS)}", field="contacts")
        context = self._check_edit_count(context, "context", (self.max_frames - 1) // 2)
        run = self._edit_run(seed, steps, cfg, cfg_type, cfg_weight, impute, root_margin, "style_edit")

        feats = self.bundle.features
        src = feats.encode(source).astype(np.float64)
        t = source.num_frames
        sr = feats.smooth_root_pos
        constraints = [self.root2d_constraint(np.arange(t), src[:, [sr.start, sr.start + 2]])]
        contact_frames: dict[str, list[int]] = {}
        down = src[:, feats.foot_contacts] > 0.5  # [T, 4] L heel, L toe, R heel, R toe
        for name, cols in (("LeftFoot", [0, 1]), ("RightFoot", [2, 3])):
            frames = np.flatnonzero(down[:, cols].any(axis=1))
            contact_frames[name] = frames.tolist()
            if contacts == "feet" and frames.size:
                constraints.append(
                    self.end_effector_constraint(
                        name, frames, motion=source, smooth_root_2d=src[frames][:, [sr.start, sr.start + 2]]
                    )
                )
        observed, impute_mask = constraint_features(constraints, feats, t, rotations=True)
        _, mask = constraint_features(constraints, feats, t)
        if contacts == "timing":
            observed[:, feats.foot_contacts] = src[:, feats.foot_contacts]
            mask[:, feats.foot_contacts] = True
            impute_mask[:, feats.foot_contacts] = True
        generated, passes = self._regenerate(
            src, observed, mask, impute_mask, caption, 0, t, context=context, blend=DEFAULT_BLEND, run=run, progress=progress
        )
        info = {
            **run.info(),
            "segments": [[0, t, caption]],
            "edit": {
                "task": "style_edit",
                "style": style,
                "content": content,
                "caption": caption,
                "kept": {
                    "root_path": "smooth root (x, z) on every frame",
                    "contacts": contacts,
                    "contact_frames": contact_frames if contacts != "none" else None,
                },
                "passes": passes,
            },
        }
        return self._output(
            _batch(generated), [caption], info, constraints=constraints, postprocess=postprocess, root_margin=run.root_margin
        )

    # ------------------------------------------------------------------------------------------
    def compose(
        self,
        motion: Motion,
        prompt: str,
        keep: str | Sequence[str] = "lower_body",
        *,
        keep_root: bool = True,
        context: int = DEFAULT_CONTEXT,
        seed: int | None = None,
        steps: int = 25,
        cfg: tuple[str, Any] | str | None = None,
        cfg_type: str | None = None,
        cfg_weight: float | Sequence[float] | None = None,
        impute: bool | float | None = None,
        postprocess: bool = True,
        root_margin: float | None = None,
        progress: bool = False,
    ) -> Any:
        """Keep the ``keep`` joints of ``motion`` and generate the rest of the body from ``prompt``.

        Args:
            motion: the source, on the model's skeleton and frame rate; any length.
            prompt: what the generated part does.
            keep: a body-part group (:data:`BODY_PARTS`, see :func:`body_part_names`) or a list of
                joint names (groups may be mixed in).
            keep_root: keep the root too: pelvis position and rotation, smooth root and heading
                (the path the source walks); ``False`` generates them.
            Other arguments as :meth:`local_edit`.

        Returns:
            A one-sample MotionOutput whose kept joints have the source's local rotations on every
            frame (and the root its translation); ``info["edit"]`` lists the kept joints and the
            largest world-position error of a kept joint (``kept_joint_error_m``: 0 up to float32
            rounding when every kept joint's ancestors are kept).
        """
        from motiongen.pipelines.checks import check_prompt

        source = self._as_motion(motion, "motion")
        prompt = check_prompt(prompt, "prompt")
        joints = self.resolve_body_part(keep)
        if keep_root and 0 not in joints:
            joints = [0] + joints
        context = self._check_edit_count(context, "context", (self.max_frames - 1) // 2)
        run = self._edit_run(seed, steps, cfg, cfg_type, cfg_weight, impute, root_margin, "compose")

        feats = self.bundle.features
        src = feats.encode(source).astype(np.float64)
        t = source.num_frames
        pos_cols = [feats.local_joints_positions.start + 3 * j + c for j in joints for c in range(3)]
        rot_cols = [feats.global_rot_data.start + 6 * j + c for j in joints for c in range(6)]
        root_cols = list(range(feats.smooth_root_pos.start, feats.global_root_heading.stop)) if keep_root else []
        mask = np.zeros_like(src, dtype=bool)
        mask[:, pos_cols + root_cols] = True
        impute_mask = mask.copy()
        impute_mask[:, rot_cols] = True
        generated, passes = self._regenerate(
            src, src, mask, impute_mask, prompt, 0, t, context=context, blend=DEFAULT_BLEND, run=run, progress=progress
        )
        names = [self.bundle.skeleton.joint_names[j] for j in joints]
        info = {
            **run.info(),
            "segments": [[0, t, prompt]],
            "edit": {"task": "compose", "keep": keep if isinstance(keep, str) else list(keep), "kept_joints": names,
                     "keep_root": bool(keep_root), "passes": passes},
        }
        out = self._output(_batch(generated), [prompt], info, postprocess=postprocess, root_margin=run.root_margin)
        out = self._copy_back(out, source, src, joints=joints, keep_root=keep_root)
        error = np.linalg.norm(out.posed_joints[0][:, joints] - source.joint_positions()[:, joints], axis=-1)
        out.info["edit"]["kept_joint_error_m"] = round(float(error.max()), 6)
        return out

    # ------------------------------------------------------------------------------------------
    def body_part_names(self) -> list[str]:
        """The :data:`BODY_PARTS` groups the model's skeleton has every joint of."""
        have = set(self.bundle.skeleton.joint_names)
        return [name for name, joints in BODY_PARTS.items() if set(joints) <= have]

    def resolve_body_part(self, keep: str | Sequence[str]) -> list[int]:
        """Sorted joint indices of a group name, or of a list of joint and group names."""
        skeleton = self.bundle.skeleton
        groups = self.body_part_names()
        items = [keep] if isinstance(keep, str) else list(keep) if isinstance(keep, Sequence) else None
        if not items:
            raise InputError(f"name a body part ({', '.join(groups)}) or a list of joint names", field="keep")
        out: set[int] = set()
        for item in items:
            if not isinstance(item, str):
                raise InputError(f"body parts are names, got {type(item).__name__}", field="keep")
            if item in groups:
                out.update(skeleton.index(j) for j in BODY_PARTS[item])
            elif item in skeleton.joint_names:
                out.add(skeleton.index(item))
            else:
                raise InputError(
                    f"unknown body part '{item}'; known groups: {', '.join(groups)}; or joints of "
                    f"'{skeleton.name}': {', '.join(skeleton.joint_names)}",
                    field="keep",
                )
        return sorted(out)

    # ------------------------------------------------------------------------------------------
    def _check_edit_frame(self, value: Any, field: str, low: int, high: int, total: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise InputError(
                f"must be a frame number in [{low}, {high}] (the motion has {total} frames), got {value!r}", field=field
            )
        return int(value)

    @staticmethod
    def _check_edit_count(value: Any, field: str, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= high:
            raise InputError(f"must be an integer in [0, {high}], got {value!r}", field=field)
        return int(value)

    def _edit_run(
        self, seed: Any, steps: Any, cfg: Any, cfg_type: Any, cfg_weight: Any, impute: Any, root_margin: Any, task: str
    ) -> _Run:
        """The checked sampling settings of one edit (:data:`EDIT_CFG` ``[task]`` by default)."""
        from motiongen.pipelines.checks import check_seed
        from motiongen.pipelines.kimodo import DEFAULT_IMPUTE, ROOT_MARGIN, resolve_cfg

        steps = self._check_steps(steps)
        seed = check_seed(seed)
        guidance = resolve_cfg(cfg if cfg is not None else EDIT_CFG[task], cfg_type, cfg_weight)
        impute = DEFAULT_IMPUTE if impute is None else impute
        if isinstance(impute, bool):
            impute = 1.0 if impute else 0.0
        if not isinstance(impute, (int, float, np.floating, np.integer)) or not 0.0 <= impute <= 1.0:
            raise InputError(f"must be a share of steps in [0, 1], got {impute!r}", field="impute")
        margin = self._check_margin(ROOT_MARGIN if root_margin is None else root_margin)
        return _Run(seed, steps, guidance, float(impute), margin, self._generator(seed))

    def _regenerate(
        self,
        source: np.ndarray,
        observed: np.ndarray,
        mask: np.ndarray,
        impute_mask: np.ndarray,
        prompt: str,
        start: int,
        stop: int,
        *,
        context: int,
        blend: int,
        run: _Run,
        progress: bool,
    ) -> tuple[np.ndarray, list[list[int]]]:
        """Unnormalised features ``[T, D]``: ``source [T, D]`` with frames ``[start, stop)``
        generated, in passes of at most ``max_frames`` frames.

        Each pass covers ``[lo, hi)``: up to ``context`` frames before its first new frame (the
        result so far, as full-body poses with rotations), its new frames (conditioned on the rows
        of ``observed`` / ``mask`` (model) / ``impute_mask``), and on the last pass up to
        ``context`` source frames after ``stop``. The pass's frame 0 always pins the smooth root and
        heading (where generation starts; the source's when there is no left context). Returns the
        features and the passes ``[lo, new_start, new_stop, hi]``.
        """
        from motiongen.constraints.masks import fullbody_mask

        feats = self.bundle.features
        rot = np.zeros(feats.dim, bool)
        rot[feats.global_rot_data] = True
        pose_cols = fullbody_mask(feats, 1, [0])[0]
        start_cols = np.zeros(feats.dim, bool)
        start_cols[feats.smooth_root_pos.start : feats.global_root_heading.stop] = True
        start_cols[feats.smooth_root_pos.start + 1] = False  # the height is the pose's, not the start's
        text = self.encode_text([prompt])
        result = source.copy()
        t = source.shape[0]
        passes: list[list[int]] = []
        pos = start
        while pos < stop:
            left = min(context, pos)
            right = min(context, t - stop)
            room = self.max_frames - left
            if stop - pos + right <= room:
                new_stop = stop
            else:
                new_stop, right = pos + room, 0
            lo, hi = pos - left, new_stop + right
            obs, msk, imp = observed[lo:hi].copy(), mask[lo:hi].copy(), impute_mask[lo:hi].copy()
            ctx = np.r_[0:left, hi - lo - right : hi - lo]
            obs[ctx] = result[lo:hi][ctx]
            msk[ctx] |= pose_cols
            imp[ctx] |= pose_cols | rot
            if left == 0:
                obs[0, start_cols] = result[lo, start_cols]
                msk[0] |= start_cols
                imp[0] |= start_cols
            hd = feats.global_root_heading.start
            heading = math.atan2(obs[0, hd + 1], obs[0, hd])
            s0 = obs[0, [feats.smooth_root_pos.start, feats.smooth_root_pos.start + 2]].copy()
            obs[:, 0] -= s0[0]
            obs[:, 2] -= s0[1]
            out = self._pass(text, obs, msk, imp, heading, run, progress)
            out[:, 0] += s0[0]
            out[:, 2] += s0[1]
            piece = out[left : left + new_stop - pos]
            if left and blend:
                _fade_in(piece, result[pos - 1] - out[left - 1], blend)
            if right and blend:
                _fade_in(piece[::-1], source[new_stop] - out[left + new_stop - pos], blend)
            result[pos:new_stop] = piece
            passes.append([lo, pos, new_stop, hi])
            pos = new_stop
        return result, passes

    def _pass(
        self, text: Any, observed: np.ndarray, mask: np.ndarray, impute_mask: np.ndarray, heading: float, run: _Run,
        progress: bool,
    ) -> np.ndarray:
        """One DDIM run of ``observed.shape[0]`` frames: unnormalised features ``[n, D]`` (float64)."""
        import torch

        stats, device = self.bundle.stats, self.device
        imp = impute_mask.astype(np.float32)[None]
        obs_t = torch.as_tensor(stats.normalize(observed[None]) * imp, dtype=torch.float32, device=device)
        out = self._sample(
            text,
            observed.shape[0],
            first_heading=torch.tensor([heading], dtype=torch.float32, device=device),
            steps=run.steps,
            cfg=run.guidance,
            generator=run.generator,
            observed=obs_t,
            mask=torch.as_tensor(mask.astype(np.float32)[None], device=device),
            progress=progress,
            impute=run.impute,
            impute_mask=torch.as_tensor(imp, device=device),
        )
        return out[0].detach().cpu().double().numpy()

    def _kept_poses(self, source: Motion, src: np.ndarray, frames: np.ndarray) -> Any:
        """Full-body keys of the source's ``frames`` (its smooth root as the features have it), so
        post-processing moves only the generated frames."""
        sr = self.bundle.features.smooth_root_pos
        return self.fullbody_keyframe_constraint(
            frames, motion=source, smooth_root_2d=src[frames][:, [sr.start, sr.start + 2]]
        )

    def _copy_back(
        self,
        out: Any,
        source: Motion,
        src: np.ndarray,
        *,
        frames: np.ndarray | None = None,
        joints: Sequence[int] | None = None,
        keep_root: bool = True,
    ) -> Any:
        """``out`` with the source's local rotations (and root translation) put back on ``frames``
        (all joints) or on ``joints`` (all frames), the poses recomputed: kept means kept exactly."""
        from motiongen.pipelines.output import MotionOutput

        local = out.local_rot_mats[0].astype(np.float64)
        root = out.root_positions[0].astype(np.float64)
        contacts = out.foot_contacts[0].copy()
        src_contacts = src[:, self.bundle.features.foot_contacts] > 0.5
        if frames is not None:
            local[frames] = source.local_rotations[frames]
            root[frames] = source.root_translation[frames]
            contacts[frames] = src_contacts[frames]
        else:
            local[:, list(joints)] = source.local_rotations[:, list(joints)]
            if keep_root:
                root = source.root_translation.astype(np.float64).copy()
            feet = self.bundle.skeleton.foot_joint_indices
            if set(np.asarray(feet).tolist()) <= set(joints):
                contacts = src_contacts
        glob, posed = self.bundle.skeleton.forward_kinematics(local, root)
        return MotionOutput(
            posed_joints=posed[None],
            global_rot_mats=glob[None],
            local_rot_mats=local[None],
            foot_contacts=contacts[None],
            smooth_root_pos=out.smooth_root_pos,
            root_positions=root[None],
            global_root_heading=out.global_root_heading,
            fps=out.fps,
            skeleton=out.skeleton,
            prompts=list(out.prompts),
            features=out.features,
            info=dict(out.info),
        )


class _Run:
    """Checked sampling settings shared by the passes of one edit."""

    def __init__(
        self, seed: int, steps: int, guidance: tuple[str, tuple[float, ...]], impute: float, root_margin: float, generator: Any
    ) -> None:
        self.seed, self.steps, self.guidance = seed, steps, guidance
        self.impute, self.root_margin, self.generator = impute, root_margin, generator

    def info(self) -> dict[str, Any]:
        return {"seed": self.seed, "steps": self.steps, "cfg_type": self.guidance[0],
                "cfg_weights": list(self.guidance[1]), "impute": self.impute}


def _fade_in(piece: np.ndarray, residual: np.ndarray, frames: int) -> None:
    """Add ``residual [D]`` to the first ``frames`` rows of ``piece [n, D]`` (in place), fading
    from all of it on row 0 to none (a half cosine), so row 0 continues the kept frame before it."""
    k = min(frames, piece.shape[0])
    weight = 0.5 * (1.0 + np.cos(np.pi * np.arange(k) / frames))
    piece[:k] += weight[:, None] * residual[None]


def _batch(features: np.ndarray) -> Any:
    import torch

    return torch.as_tensor(features[None])
