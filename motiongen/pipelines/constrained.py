"""Constraint builders and constrained tasks of :class:`~motiongen.pipelines.kimodo.KIMODOPipeline`.

The builders keep the seed's names (``fullbody_keyframe_constraint``, ``end_effector_constraint``,
``root2d_constraint``, ``constraints_from_json``); every task below builds constraint sets and calls
``multi_prompt`` / ``constrained_motion``, so all of them share one sampling path::

    pipe = KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx")
    path = pipe.root2d_constraint(frame_indices=[0, 60, 120], smooth_root_2d=[[0, 0], [0.8, 0.1], [1.5, 0.6]])
    out = pipe.constrained_motion("a person walks along a curved path.", num_frames=150, constraints=[path])
    out = pipe.inbetween("a person jumps.", start=walk, end=land, num_frames=60)   # Motion poses
    out = pipe.stitch(walk, sit, transition_frames=40, prompt="a person walks to a chair.")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError
from motiongen.motion.motion import Motion


def _pose_source(motion: Any, sample: int, field: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """``(local_rot_mats [T, J, 3, 3], root_positions [T, 3], skeleton)`` of a Motion or a MotionOutput sample."""
    if isinstance(motion, Motion):
        return motion.local_rotations, motion.root_translation, motion.skeleton
    if hasattr(motion, "local_rot_mats") and hasattr(motion, "root_positions"):
        count = motion.local_rot_mats.shape[0]
        if not 0 <= sample < count:
            raise InputError(f"sample {sample} is out of range; the output has {count}", field="sample")
        return motion.local_rot_mats[sample], motion.root_positions[sample], motion.skeleton
    raise InputError(f"expected a Motion or a MotionOutput, got {type(motion).__name__}", field=field)


class ConstraintTasks:
    """Mixin: needs ``self.bundle`` (skeleton, features, fps, max_frames) and the pipeline's
    ``multi_prompt`` / ``constrained_motion`` / ``_output``."""

    # ------------------------------------------------------------------------------------------
    # builders
    def _poses(
        self,
        frame_indices: Sequence[int],
        local_rot_mats: Any,
        root_positions: Any,
        motion: Any,
        source_frames: Sequence[int] | None,
        sample: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        skeleton = self.bundle.skeleton
        if motion is not None:
            if local_rot_mats is not None or root_positions is not None:
                raise InputError("give either motion or local_rot_mats + root_positions, not both", field="motion")
            rot, root, skel = _pose_source(motion, sample, "motion")
            if skel != skeleton:
                raise InputError(
                    f"the motion is on skeleton '{skel.name}'; this model uses '{skeleton.name}' (retarget it first: "
                    "motiongen.retarget.retarget_to)",
                    field="motion",
                )
            src = np.asarray(frame_indices if source_frames is None else source_frames)
            if src.ndim != 1 or not np.issubdtype(src.dtype, np.integer):
                raise InputError("source_frames must be a 1-D list of integer frames", field="source_frames")
            bad = src[(src < 0) | (src >= rot.shape[0])]
            if bad.size:
                raise InputError(
                    f"frame {int(bad[0])} is outside the motion's {rot.shape[0]} frames",
                    field="source_frames" if source_frames is not None else "frame_indices",
                )
            return rot[src], root[src]
        if local_rot_mats is None or root_positions is None:
            raise InputError("give a motion, or local_rot_mats and root_positions", field="local_rot_mats")
        return local_rot_mats, root_positions

    def fullbody_keyframe_constraint(
        self,
        frame_indices: Sequence[int],
        local_rot_mats: Any = None,
        root_positions: Any = None,
        *,
        motion: Any = None,
        source_frames: Sequence[int] | None = None,
        smooth_root_2d: Any = None,
        sample: int = 0,
    ) -> Any:
        """Whole poses at ``frame_indices``: given as ``local_rot_mats [K, J, 3, 3]`` (or axis-angle
        ``[K, J, 3]``) + ``root_positions [K, 3]``, or taken from ``motion`` (a Motion or a
        MotionOutput ``sample``) at ``source_frames`` (default the same frame numbers)."""
        from motiongen.constraints.sets import FullBodyConstraintSet

        rot, root = self._poses(frame_indices, local_rot_mats, root_positions, motion, source_frames, sample)
        return FullBodyConstraintSet(self.bundle.skeleton, np.asarray(frame_indices), rot, root, smooth_root_2d)

    def end_effector_constraint(
        self,
        joint_names: str | Sequence[str],
        frame_indices: Sequence[int],
        local_rot_mats: Any = None,
        root_positions: Any = None,
        *,
        motion: Any = None,
        source_frames: Sequence[int] | None = None,
        smooth_root_2d: Any = None,
        sample: int = 0,
    ) -> Any:
        """Hands / feet / hips (``LeftHand``, ``RightHand``, ``LeftFoot``, ``RightFoot``, ``Hips``) of
        stored poses at ``frame_indices`` (poses as :meth:`fullbody_keyframe_constraint`). An interval
        is ``frame_indices=range(a, b)``."""
        from motiongen.constraints.sets import EndEffectorConstraintSet

        rot, root = self._poses(frame_indices, local_rot_mats, root_positions, motion, source_frames, sample)
        names = (joint_names,) if isinstance(joint_names, str) else tuple(joint_names)
        return EndEffectorConstraintSet(
            self.bundle.skeleton, np.asarray(frame_indices), rot, root, smooth_root_2d, joint_names=names
        )

    def left_hand_constraint(self, frame_indices: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        """:meth:`end_effector_constraint` of ``LeftHand``."""
        return self.end_effector_constraint("LeftHand", frame_indices, *args, **kwargs)

    def right_hand_constraint(self, frame_indices: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        """:meth:`end_effector_constraint` of ``RightHand``."""
        return self.end_effector_constraint("RightHand", frame_indices, *args, **kwargs)

    def left_foot_constraint(self, frame_indices: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        """:meth:`end_effector_constraint` of ``LeftFoot``."""
        return self.end_effector_constraint("LeftFoot", frame_indices, *args, **kwargs)

    def right_foot_constraint(self, frame_indices: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        """:meth:`end_effector_constraint` of ``RightFoot``."""
        return self.end_effector_constraint("RightFoot", frame_indices, *args, **kwargs)

    def root2d_constraint(
        self, frame_indices: Sequence[int], smooth_root_2d: Any, global_root_heading: Any = None
    ) -> Any:
        """The smoothed root's floor position ``(x, z)`` at ``frame_indices`` (every frame: a dense
        path; a few: waypoints), optionally with the heading as ``(cos, sin)`` rows."""
        from motiongen.constraints.sets import Root2DConstraintSet

        return Root2DConstraintSet(np.asarray(frame_indices), smooth_root_2d, global_root_heading)

    def constraints_from_json(self, path: str | Path) -> list[Any]:
        """Constraint sets from a KIMODO ``constraints.json``; poses stored on another rig (SOMA 30
        or 77 joints) are mapped onto the model's skeleton through the retargeting code."""
        from motiongen.constraints.sets import from_records
        from motiongen.io.constraints_json import read_constraints_json

        records = read_constraints_json(path)
        try:
            return from_records(records, self.bundle.skeleton)
        except InputError as exc:
            raise InputError(str(exc), path=path) from None

    def constraints_to_json(self, constraints: Sequence[Any], path: str | Path) -> Path:
        """Write constraint sets as a KIMODO ``constraints.json`` (poses on the model's skeleton)."""
        from motiongen.constraints.sets import to_records
        from motiongen.io.constraints_json import write_constraints_json

        return write_constraints_json(to_records(constraints), path)

    # ------------------------------------------------------------------------------------------
    # tasks
    def follow_path(self, prompt: str, path: Any, num_frames: int | None = None, **kwargs: Any) -> Any:
        """Walk a dense 2D path: ``path [T, 2]`` gives the smooth root's (x, z) on every frame
        (``num_frames`` defaults to its length). Other arguments as ``constrained_motion``."""
        arr = np.asarray(path, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
            raise InputError(f"path must be [T, 2] (x, z) rows with T >= 2, got shape {list(arr.shape)}", field="path")
        n = arr.shape[0] if num_frames is None else num_frames
        if n != arr.shape[0]:
            raise InputError(f"the path has {arr.shape[0]} rows for {n} frames; give one row per frame", field="path")
        root = self.root2d_constraint(np.arange(arr.shape[0]), arr)
        return self.constrained_motion(prompt, n, constraints=[root], **kwargs)

    def through_waypoints(
        self, prompt: str, waypoints: Any, frame_indices: Sequence[int], num_frames: int, **kwargs: Any
    ) -> Any:
        """Pass the smooth root through ``waypoints [K, 2]`` (x, z) at ``frame_indices``. The model
        was trained with waypoint sets that include the first frame, so when frame 0 is not listed
        the start (the origin, where generation starts) is added."""
        points = np.asarray(waypoints, dtype=np.float64)
        frames = np.asarray(frame_indices)
        if points.ndim != 2 or points.shape[-1] != 2 or points.shape[0] != frames.size:
            raise InputError(
                f"waypoints must be [K, 2] with one row per frame index ({frames.size}), got {list(points.shape)}",
                field="waypoints",
            )
        if frames.size and np.issubdtype(frames.dtype, np.integer) and 0 not in frames:
            frames = np.concatenate([[0], frames])
            points = np.concatenate([np.zeros((1, 2)), points])
        root = self.root2d_constraint(frames, points)
        return self.constrained_motion(prompt, num_frames, constraints=[root], **kwargs)

    def inbetween(
        self, prompt: str, start: Any, end: Any, num_frames: int, *, context_frames: int = 1, **kwargs: Any
    ) -> Any:
        """Keyframe in-betweening: ``num_frames`` frames whose first ``context_frames`` are the last
        frames of ``start`` and whose last ``context_frames`` are the first frames of ``end``
        (full-body constraints where the two motions are, in world space)."""
        c = self._check_context(context_frames, num_frames)
        first = self.fullbody_keyframe_constraint(
            list(range(c)), motion=start, source_frames=list(range(self._length(start) - c, self._length(start)))
        )
        last = self.fullbody_keyframe_constraint(
            list(range(num_frames - c, num_frames)), motion=end, source_frames=list(range(c))
        )
        return self.constrained_motion(prompt, num_frames, constraints=[first, last], **kwargs)

    def prepend(
        self,
        prompt: str,
        motion: Motion,
        num_frames: int,
        *,
        context_frames: int = 1,
        start_position: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> Any:
        """``num_frames`` new frames that lead into ``motion`` (reach its first pose), then ``motion``.

        The lead-in starts where the model starts (the origin) unless ``start_position`` (x, z) pins
        its first frame; place ``motion`` where it should be reached. ``motion``'s frames are kept
        exactly (post-processing, when on, changes only the lead-in).
        """
        motion = self._as_motion(motion, "motion")
        c = self._check_context(context_frames, num_frames + context_frames)
        n = num_frames + c
        constraints = [self.fullbody_keyframe_constraint(list(range(num_frames, n)), motion=motion, source_frames=list(range(c)))]
        if start_position is not None:
            constraints.append(self.root2d_constraint([0], [list(start_position)]))
        lead = self.constrained_motion(prompt, n, constraints=constraints, **{**kwargs, "postprocess": False})
        return self._join(lead, num_frames, [motion], constraints, kwargs)

    def stitch(
        self,
        first: Motion,
        second: Motion,
        transition_frames: int = 30,
        prompt: str = "a person moves.",
        *,
        context_frames: int = 5,
        align: bool = True,
        **kwargs: Any,
    ) -> Any:
        """``first``, a generated transition of ``transition_frames`` frames, then ``second``.

        The transition is generated with the last ``context_frames`` frames of ``first`` and the
        first ``context_frames`` of ``second`` as full-body keyframes. With ``align``, ``second`` is
        first turned and moved on the floor so that it starts facing where ``first`` ends, at the
        distance the two motions' root speeds would cover in the transition. The copied frames of
        both motions are kept exactly (post-processing, when on, changes only the transition).
        """
        first, second = self._as_motion(first, "first"), self._as_motion(second, "second")
        c = self._check_context(context_frames, transition_frames + 2 * context_frames)
        if align:
            second = self._aligned(first, second, transition_frames)
        n = transition_frames + 2 * c
        start = self.fullbody_keyframe_constraint(
            list(range(c)), motion=first, source_frames=list(range(first.num_frames - c, first.num_frames))
        )
        end = self.fullbody_keyframe_constraint(list(range(n - c, n)), motion=second, source_frames=list(range(c)))
        middle = self.constrained_motion(prompt, n, constraints=[start, end], **{**kwargs, "postprocess": False})
        return self._join(middle, n - c, [second], [start, end], kwargs, before=first, before_overlap=c)

    # ------------------------------------------------------------------------------------------
    def _as_motion(self, value: Any, field: str) -> Motion:
        """A Motion on the model's skeleton and frame rate (a one-sample MotionOutput is accepted):
        the given motions are copied into the result, so this is checked before any generation."""
        if not isinstance(value, Motion) and hasattr(value, "motions") and hasattr(value, "num_samples"):
            if value.num_samples != 1:
                raise InputError(f"the output has {value.num_samples} samples; pass one (out.motions()[k])", field=field)
            value = value.motions()[0]
        if not isinstance(value, Motion):
            raise InputError(f"expected a Motion or a MotionOutput, got {type(value).__name__}", field=field)
        skeleton = self.bundle.skeleton
        if value.skeleton != skeleton:
            raise InputError(
                f"the motion is on skeleton '{value.skeleton.name}'; this model uses '{skeleton.name}' (retarget it "
                "first: motiongen.retarget.retarget_to)",
                field=field,
            )
        if abs(value.fps - self.bundle.fps) > 1e-6:
            raise InputError(
                f"the motion has {value.fps:g} fps; this model uses {self.bundle.fps:g} (motion.resample({self.bundle.fps:g}))",
                field=field,
            )
        return value

    @staticmethod
    def _length(motion: Any) -> int:
        return motion.num_frames if isinstance(motion, Motion) else int(motion.local_rot_mats.shape[1])

    def _check_context(self, context: Any, frames: int) -> int:
        if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 1:
            raise InputError(f"must be an integer >= 1, got {context!r}", field="context_frames")
        if 2 * context > frames:
            raise InputError(f"{context} context frames at each end do not fit in {frames} frames", field="context_frames")
        return int(context)

    def _aligned(self, first: Motion, second: Motion, transition_frames: int) -> Motion:
        """``second`` turned and moved so it continues ``first`` (see :meth:`stitch`)."""
        from motiongen.motion.kimodo_features import root_heading, rotate_motion_yaw

        skeleton = self.bundle.skeleton
        end_heading = float(root_heading(first.joint_positions()[-1], skeleton))
        start_heading = float(root_heading(second.joint_positions()[0], skeleton))
        turned = rotate_motion_yaw(second, end_heading - start_heading)
        window = 10

        def velocity(root: np.ndarray) -> np.ndarray:
            k = min(window, root.shape[0] - 1)
            return (root[-1, [0, 2]] - root[-1 - k, [0, 2]]) / k if k > 0 else np.zeros(2)

        v_end = velocity(first.root_translation)
        v_start = velocity(turned.root_translation[::-1]) * -1
        target = first.root_translation[-1, [0, 2]] + 0.5 * (v_end + v_start) * (transition_frames + 1)
        root = turned.root_translation.copy()
        root[:, [0, 2]] += target - root[0, [0, 2]]
        return Motion(local_rotations=turned.local_rotations, root_translation=root, fps=turned.fps, skeleton=turned.skeleton)

    def _join(
        self,
        generated: Any,
        keep: int,
        after: list[Motion],
        constraints: list[Any],
        kwargs: dict[str, Any],
        *,
        before: Motion | None = None,
        before_overlap: int = 0,
    ) -> Any:
        """One output: ``before`` without its last ``before_overlap`` frames (which the generated
        motion starts with), the generated frames up to ``keep``, then each of ``after``; post-processed
        as a whole with ``constraints`` (moved to the joined timeline) pinning the seams and every
        copied frame pinned to its motion's pose (so only the generated frames change)."""
        import torch

        from motiongen.pipelines.kimodo import ROOT_MARGIN  # kimodo.py imports this module
        from motiongen.constraints.sets import shift_constraints

        feats = self.bundle.features
        parts = []
        offset = 0
        if before is not None:
            parts.append(feats.encode(before)[: before.num_frames - before_overlap])
            offset = before.num_frames - before_overlap
        raw = generated.features  # [B, T, D]
        b = raw.shape[0]
        parts = [np.broadcast_to(p, (b,) + p.shape) for p in parts]
        parts.append(raw[:, :keep])
        for motion in after:
            enc = feats.encode(motion)
            parts.append(np.broadcast_to(enc, (b,) + enc.shape))
        features = np.concatenate(parts, axis=1)
        pinned = shift_constraints(constraints, offset)
        # the given motions stay as given: every copied frame is a full-body key, so post-processing
        # moves only the generated frames (otherwise the seam between a generated end and a copied
        # start is smoothed into the copied motion, shifting its whole root path, and its feet re-planted)
        if before is not None and offset > 0:
            frames = list(range(offset))
            pinned.append(self.fullbody_keyframe_constraint(frames, motion=before, source_frames=frames))
        start = offset + keep
        for motion in after:
            frames = list(range(motion.num_frames))
            pinned.append(
                self.fullbody_keyframe_constraint([start + f for f in frames], motion=motion, source_frames=frames)
            )
            start += motion.num_frames
        info = dict(generated.info)
        info["joined"] = {"before": offset, "generated": [offset, offset + keep], "total": int(features.shape[1])}
        return self._output(
            torch.as_tensor(features),
            generated.prompts,
            info,
            constraints=pinned,
            postprocess=bool(kwargs.get("postprocess", True)),
            root_margin=kwargs.get("root_margin", ROOT_MARGIN),
        )
