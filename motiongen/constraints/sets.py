"""Constraint sets: what a user pins, on which frames (reference 4.1, 4.2).

Three kinds, each a frozen dataclass of per-keyframe arrays aligned with ``frame_indices`` (0-based
frames of the whole timeline, any order, no repeats):

- :class:`FullBodyConstraintSet`: whole poses (local rotations + pelvis position) at chosen frames.
- :class:`EndEffectorConstraintSet`: the same stored poses, of which only the named chains count
  (``LeftHand``, ``RightHand``, ``LeftFoot``, ``RightFoot``, ``Hips``): their joint positions and the
  rotation of each chain's base joint.
- :class:`Root2DConstraintSet`: the smoothed root's floor position (x, z) at chosen frames, a dense
  path (every frame) or sparse waypoints, optionally with the heading.

Each set writes into KIMODO's feature space (:func:`constraint_features`: unnormalised
``observed [T, D]`` and a bool ``mask [T, D]``; positions relative to the smooth root's xz, which a
pose constraint therefore also pins, as KIMODO's smooth-root representation requires) and into the
post-processing targets (:func:`pose_targets`). Constraints that pin the same feature of the same frame
to different values are rejected (:class:`ConstraintConflictError`).

Sets convert to and from KIMODO ``constraints.json`` records (:func:`from_records`,
:func:`to_records`). Records stored on another rig (SOMA's 30 or 77 joints for our ``smplx22``
model) are mapped through the retargeting code (:func:`map_pose_to_skeleton`): joint rotations by the
canonical joint map, pelvis height by the leg-length ratio, floor positions (x, z) kept as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.constraints.masks import END_EFFECTORS, end_effector_joints
from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
)
from motiongen.io.constraints_json import ConstraintRecord, validate_constraint_record
from motiongen.motion.kimodo_features import KimodoFeatures, root_heading
from motiongen.skeleton.skeleton import Skeleton

#: KIMODO JSON type of a single-chain end-effector set (other subsets are written as ``end-effector``).
SINGLE_CHAIN_TYPES = {
    ("LeftHand",): "left-hand",
    ("RightHand",): "right-hand",
    ("LeftFoot",): "left-foot",
    ("RightFoot",): "right-foot",
}
_TYPE_TO_CHAIN = {v: k for k, v in SINGLE_CHAIN_TYPES.items()}
#: Two constraints "agree" on a feature when their values differ by less than this (metres, or
#: unit-vector components): the same pose stored twice, as KIMODO's example files do, agrees.
CONFLICT_TOLERANCE = 1e-4


class ConstraintConflictError(InputError):
    """Two constraints pin the same feature of the same frame to different values."""


def _label(index: int | None, kind: str) -> str:
    return f"constraints[{index}] ({kind})" if index is not None else kind


def _as_frames(value: Any, label: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{label}: frame_indices must be a non-empty 1-D list of frame numbers, got shape {list(arr.shape)}", field="frame_indices")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"{label}: frame_indices must be integers, got {arr.dtype}", field="frame_indices")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise InputError(f"{label}: frame index {int(arr[arr < 0][0])} is negative; frames start at 0", field="frame_indices")
    values, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise InputError(f"{label}: frame {int(values[counts > 1][0])} is listed twice", field="frame_indices")
    return arr


def _as_array(value: Any, shape: tuple[int, ...], label: str, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{label}: {name} must be an array of numbers", field=name) from None
    if arr.shape != shape:
        raise InputError(f"{label}: {name} has shape {list(arr.shape)}; expected {list(shape)}", field=name)
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise InputError(f"{label}: {name}{list(bad)} is not a finite number", field=name)
    return arr


def _check_rotations(rot: np.ndarray, label: str) -> None:
    eye = np.swapaxes(rot, -1, -2) @ rot
    err = np.abs(eye - np.eye(3)).max(axis=(-1, -2))
    det = np.linalg.det(rot)
    if np.any(err > 1e-4) or np.any(det < 0):
        bad = tuple(int(i) for i in np.argwhere((err > 1e-4) | (det < 0))[0])
        raise InputError(f"{label}: local_rot_mats{list(bad)} is not a rotation matrix", field="local_rot_mats")


# ==================================================================================================
@dataclass(frozen=True, eq=False)
class Root2DConstraintSet:
    """The smoothed root's floor position at chosen frames: a dense path or sparse waypoints.

    Attributes:
        frame_indices: ``[K]`` frames.
        smooth_root_2d: ``[K, 2]`` (x, z) in metres.
        global_root_heading: ``[K, 2]`` (cos, sin) of the heading (0 faces +Z), or None.
    """

    frame_indices: np.ndarray
    smooth_root_2d: np.ndarray
    global_root_heading: np.ndarray | None = None
    type: str = field(default="root2d", init=False)

    def __post_init__(self) -> None:
        label = "root2d"
        frames = _as_frames(self.frame_indices, label)
        object.__setattr__(self, "frame_indices", frames)
        object.__setattr__(self, "smooth_root_2d", _as_array(self.smooth_root_2d, (len(frames), 2), label, "smooth_root_2d"))
        if self.global_root_heading is not None:
            heading = _as_array(self.global_root_heading, (len(frames), 2), label, "global_root_heading")
            norm = np.linalg.norm(heading, axis=-1)
            if np.any(norm < 1e-6):
                raise InputError(f"{label}: global_root_heading rows must be (cos, sin), got a zero row", field="global_root_heading")
            object.__setattr__(self, "global_root_heading", heading / norm[:, None])

    @property
    def num_keyframes(self) -> int:
        return int(self.frame_indices.shape[0])

    def with_frames(self, frame_indices: np.ndarray, keep: np.ndarray | None = None) -> Root2DConstraintSet:
        """A copy at new frame numbers (``keep``: a bool ``[K]`` selection applied first)."""
        keep = np.ones(self.num_keyframes, bool) if keep is None else keep
        heading = None if self.global_root_heading is None else self.global_root_heading[keep]
        return Root2DConstraintSet(np.asarray(frame_indices), self.smooth_root_2d[keep], heading)

    def translated(self, dx: float, dz: float) -> Root2DConstraintSet:
        return Root2DConstraintSet(self.frame_indices, self.smooth_root_2d + [dx, dz], self.global_root_heading)


@dataclass(frozen=True, eq=False)
class _PoseConstraintSet:
    """Stored whole poses at chosen frames (shared by full-body and end-effector sets)."""

    skeleton: Skeleton
    frame_indices: np.ndarray
    local_rot_mats: np.ndarray
    root_positions: np.ndarray
    smooth_root_2d: np.ndarray | None = None

    def __post_init__(self) -> None:
        label = self.type
        frames = _as_frames(self.frame_indices, label)
        k, j = len(frames), self.skeleton.num_joints
        object.__setattr__(self, "frame_indices", frames)
        rot = np.asarray(self.local_rot_mats, dtype=np.float64) if not isinstance(self.local_rot_mats, np.ndarray) else self.local_rot_mats
        if rot.shape[-2:] != (3, 3) and rot.shape == (k, j, 3):
            rot = axis_angle_to_matrix(np.asarray(rot, dtype=np.float64))  # axis-angle accepted as KIMODO stores it
        rot = _as_array(rot, (k, j, 3, 3), label, "local_rot_mats")
        _check_rotations(rot, label)
        object.__setattr__(self, "local_rot_mats", rot)
        root = _as_array(self.root_positions, (k, 3), label, "root_positions")
        object.__setattr__(self, "root_positions", root)
        smooth = root[:, [0, 2]].copy() if self.smooth_root_2d is None else _as_array(self.smooth_root_2d, (k, 2), label, "smooth_root_2d")
        object.__setattr__(self, "smooth_root_2d", smooth)

    type = "pose"

    @property
    def num_keyframes(self) -> int:
        return int(self.frame_indices.shape[0])

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global rotations ``[K, J, 3, 3]`` and joint positions ``[K, J, 3]`` of the stored poses."""
        return self.skeleton.forward_kinematics(self.local_rot_mats, self.root_positions)

    @property
    def posed_joints(self) -> np.ndarray:
        return self.forward_kinematics()[1]

    def _replace_frames(self, frame_indices: np.ndarray, keep: np.ndarray | None, **extra: Any) -> Any:
        keep = np.ones(self.num_keyframes, bool) if keep is None else keep
        return replace(
            self,
            frame_indices=np.asarray(frame_indices),
            local_rot_mats=self.local_rot_mats[keep],
            root_positions=self.root_positions[keep],
            smooth_root_2d=self.smooth_root_2d[keep],
            **extra,
        )

    def with_frames(self, frame_indices: np.ndarray, keep: np.ndarray | None = None) -> Any:
        """A copy at new frame numbers (``keep``: a bool ``[K]`` selection applied first)."""
        return self._replace_frames(frame_indices, keep)

    def translated(self, dx: float, dz: float) -> Any:
        root = self.root_positions + [dx, 0.0, dz]
        return replace(self, root_positions=root, smooth_root_2d=self.smooth_root_2d + [dx, dz])


@dataclass(frozen=True, eq=False)
class FullBodyConstraintSet(_PoseConstraintSet):
    """Whole poses at chosen frames.

    Attributes:
        skeleton: the rig of the poses (the model's).
        frame_indices: ``[K]`` frames.
        local_rot_mats: ``[K, J, 3, 3]`` local rotations (``[K, J, 3]`` axis-angle is accepted).
        root_positions: ``[K, 3]`` pelvis positions.
        smooth_root_2d: ``[K, 2]`` smoothed-root (x, z); default the pelvis (x, z).
    """

    type = "fullbody"


@dataclass(frozen=True, eq=False)
class EndEffectorConstraintSet(_PoseConstraintSet):
    """Hands, feet or hips of stored poses at chosen frames.

    Attributes (as :class:`FullBodyConstraintSet`, plus):
        joint_names: KIMODO end-effector names, a non-empty subset of ``LeftHand``, ``RightHand``,
            ``LeftFoot``, ``RightFoot``, ``Hips``. Each constrains its chain's joint positions and its
            chain base's global rotation (for ``smplx22``: the wrist, or the ankle and toe with the
            ankle's rotation).
    """

    joint_names: tuple[str, ...] = ("RightHand",)

    def __post_init__(self) -> None:
        names = (self.joint_names,) if isinstance(self.joint_names, str) else tuple(self.joint_names)
        if not names:
            raise InputError("end-effector: joint_names is empty; name at least one end effector", field="joint_names")
        for name in names:
            if name not in END_EFFECTORS:
                raise UnknownNameError(f"end-effector: unknown joint name '{name}'; known: {', '.join(END_EFFECTORS)}")
        if len(set(names)) != len(names):
            raise InputError(f"end-effector: joint_names {list(names)} repeats a name", field="joint_names")
        object.__setattr__(self, "joint_names", names)
        super().__post_init__()

    @property
    def type(self) -> str:  # type: ignore[override]
        return SINGLE_CHAIN_TYPES.get(self.joint_names, "end-effector")


ConstraintSet = FullBodyConstraintSet | EndEffectorConstraintSet | Root2DConstraintSet
CONSTRAINT_SET_TYPES = (FullBodyConstraintSet, EndEffectorConstraintSet, Root2DConstraintSet)


# ==================================================================================================
def check_constraints(
    constraints: Sequence[ConstraintSet], num_frames: int, skeleton: Skeleton | None = None
) -> list[ConstraintSet]:
    """Validate a constraint list against a motion length (and the model's skeleton).

    Raises :class:`InputError` naming the constraint (``constraints[i] (type)``) and the field for a
    frame past the end, a pose on another skeleton or an object that is not a constraint set.
    """
    if isinstance(constraints, CONSTRAINT_SET_TYPES):
        constraints = [constraints]
    out = []
    for i, c in enumerate(constraints):
        if not isinstance(c, CONSTRAINT_SET_TYPES):
            raise InputError(
                f"constraints[{i}] is a {type(c).__name__}; expected a FullBody, EndEffector or Root2D constraint set",
                field="constraints",
            )
        label = _label(i, c.type)
        late = c.frame_indices[c.frame_indices >= num_frames]
        if late.size:
            raise InputError(
                f"{label}: frame {int(late[0])} is past the end; frames must be in [0, {num_frames - 1}]",
                field="frame_indices",
            )
        if skeleton is not None and isinstance(c, _PoseConstraintSet) and c.skeleton != skeleton:
            raise InputError(
                f"{label}: poses are on skeleton '{c.skeleton.name}' ({c.skeleton.num_joints} joints); the model uses "
                f"'{skeleton.name}' ({skeleton.num_joints} joints); map them with constraints_from_json or map_pose_to_skeleton",
                field="skeleton",
            )
        out.append(c)
    return out


def _columns(feats: KimodoFeatures, block: slice, joints: Sequence[int], width: int) -> list[int]:
    return [block.start + width * j + c for j in joints for c in range(width)]


def _entries(
    c: ConstraintSet, feats: KimodoFeatures, rotations: bool = False
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """``(frames [K], columns [C], values [K, C])``: the feature entries one set pins (with
    ``rotations``, a full-body set also pins every joint's global rotation and an end-effector set
    the rotations of every joint from the root down to each chain base)."""
    sr, hd = feats.smooth_root_pos, feats.global_root_heading
    if isinstance(c, Root2DConstraintSet):
        cols = [sr.start, sr.start + 2]
        values = [c.smooth_root_2d]
        if c.global_root_heading is not None:
            cols += [hd.start, hd.start + 1]
            values.append(c.global_root_heading)
        return c.frame_indices, cols, np.concatenate(values, axis=-1)
    glob, pos = c.forward_kinematics()
    k = c.num_keyframes
    sx, sz = c.smooth_root_2d[:, 0], c.smooth_root_2d[:, 1]
    angle = root_heading(pos, c.skeleton)
    root_block = np.stack([sx, c.root_positions[:, 1], sz, np.cos(angle), np.sin(angle)], -1)
    relative = pos - np.stack([sx, np.zeros(k), sz], -1)[:, None, :]
    if isinstance(c, EndEffectorConstraintSet):
        chains = [end_effector_joints(feats, name) for name in c.joint_names]
        joints = sorted({j for chain in chains for j in chain})
        bases = sorted({chain[0] for chain in chains})
        if rotations:
            # every joint between the root and each chain base too (arm, collar and spine for a hand;
            # the leg for a foot), as the stored pose has them: imputing the base alone leaves the body
            # to reach it, which the model does late or not at all
            parents = c.skeleton.parents
            chain = set()
            for b in bases:
                j = parents[b]
                while j >= 0:
                    chain.add(j)
                    j = parents[j]
            bases = sorted(set(bases) | chain)
    else:
        joints = list(range(feats.num_joints))
        bases = joints if rotations else []
    cols = list(range(sr.start, sr.stop)) + list(range(hd.start, hd.stop))
    cols += _columns(feats, feats.local_joints_positions, joints, 3)
    values = [root_block, relative[:, joints].reshape(k, -1)]
    if bases:
        cols += _columns(feats, feats.global_rot_data, bases, 6)
        values.append(matrix_to_rotation_6d(glob[:, bases]).reshape(k, -1))
    return c.frame_indices, cols, np.concatenate(values, axis=-1)


def constraint_features(
    constraints: Sequence[ConstraintSet], feats: KimodoFeatures, num_frames: int, *, rotations: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised ``observed [T, D]`` float64 and ``mask [T, D]`` bool for the model (reference 4.2).

    ``rotations=True`` adds the global rotations of full-body poses, which KIMODO's model input
    leaves out but which imputation during sampling can use (the stored poses have them).

    Raises :class:`ConstraintConflictError` when two constraints pin one feature of one frame to values
    that differ by more than :data:`CONFLICT_TOLERANCE`, and :class:`InputError` for frames past the end.
    """
    constraints = check_constraints(constraints, num_frames, feats.skeleton)
    observed = np.zeros((num_frames, feats.dim))
    mask = np.zeros((num_frames, feats.dim), dtype=bool)
    owner = np.full((num_frames, feats.dim), -1)
    for i, c in enumerate(constraints):
        frames, cols, values = _entries(c, feats, rotations)
        rows = frames[:, None]
        taken = mask[rows, cols]
        differ = taken & (np.abs(observed[rows, cols] - values) > CONFLICT_TOLERANCE)
        if differ.any():
            k, col = (int(v) for v in np.argwhere(differ)[0])
            other = int(owner[frames[k], cols[col]])
            block = next(name for name, sl in feats.blocks.items() if sl.start <= cols[col] < sl.stop)
            raise ConstraintConflictError(
                f"{_label(i, c.type)} and {_label(other, constraints[other].type)} pin {block} of frame "
                f"{int(frames[k])} to different values ({observed[frames[k], cols[col]]:.4f} vs {values[k, col]:.4f})",
                field="constraints",
            )
        observed[rows, cols] = values
        mask[rows, cols] = True
        owner[rows, cols] = np.where(taken, owner[rows, cols], i)
    return observed, mask


# ==================================================================================================
# KIMODO constraints.json records


def map_pose_to_skeleton(
    local_rot_mats: np.ndarray,
    root_positions: np.ndarray,
    source: Skeleton,
    target: Skeleton,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Poses ``[K, J_src, 3, 3]`` + pelvis ``[K, 3]`` on ``source`` -> the same on ``target``.

    Rotations go through :func:`motiongen.retarget.human.retarget` (canonical joint map, the rigs'
    calibration poses); the pelvis keeps its floor position (x, z) and its height is scaled by the
    ratio of leg lengths. Raises :class:`UnknownNameError` when either rig has no joint map.
    """
    from motiongen.motion.motion import Motion
    from motiongen.retarget.human import identify_rig, retarget
    from motiongen.skeleton.registry import calibration_pose

    rig = identify_rig(source)
    calibration = calibration_pose(rig, data_dir, cache_dir) if rig else None
    motion = Motion(local_rotations=local_rot_mats, root_translation=root_positions, fps=30.0, skeleton=source)
    mapped = retarget(motion, target, calibration=calibration, ground=False)
    root = np.asarray(root_positions, dtype=np.float64).copy()
    root[:, 1] = mapped.root_translation[:, 1]
    return mapped.local_rotations, root


def _record_skeleton(
    count: int, target: Skeleton, label: str, data_dir: str | Path | None, cache_dir: str | Path | None
) -> Skeleton:
    """The rig a record's ``count``-joint poses are on: the model's, or a registered rig mapped from."""
    if count == target.num_joints:
        return target
    from motiongen.skeleton.registry import get_skeleton

    by_count = {30: "soma30", 77: "soma77", 34: "g1", 22: "smplx22"}
    name = by_count.get(count)
    if name is None:
        raise InputError(
            f"{label}: local_joints_rot stores {count} joints per pose; skeleton '{target.name}' has "
            f"{target.num_joints} and no registered rig has {count} (SOMA: 30 or 77)",
            field="local_joints_rot",
        )
    return get_skeleton(name, data_dir, cache_dir)


def from_records(
    records: Sequence[ConstraintRecord],
    skeleton: Skeleton,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> list[ConstraintSet]:
    """Constraint sets on ``skeleton`` from KIMODO records (:mod:`motiongen.io.constraints_json`).

    Poses stored on another registered rig are mapped (:func:`map_pose_to_skeleton`); a rig with no
    joint map to ``skeleton`` (e.g. G1 poses for a ``smplx22`` model) raises :class:`InputError`
    naming the record and the joints that have no counterpart.
    """
    from motiongen.retarget.human import CANONICAL_MAPS, identify_rig

    out: list[ConstraintSet] = []
    for i, rec in enumerate(records):
        label = _label(i, rec.type)
        validate_constraint_record(rec, where=f"constraints[{i}]")
        if rec.type == "root2d":
            out.append(Root2DConstraintSet(rec.frame_indices, rec.smooth_root_2d, rec.global_root_heading))
            continue
        rot = axis_angle_to_matrix(np.asarray(rec.local_joints_rot, dtype=np.float64))
        root = np.asarray(rec.root_positions, dtype=np.float64)
        source = _record_skeleton(rot.shape[1], skeleton, label, data_dir, cache_dir)
        if source != skeleton:
            rigs = (identify_rig(source), identify_rig(skeleton))
            if None in rigs:
                have = CANONICAL_MAPS.get(rigs[1] or "", {})
                missing = [j for j in skeleton.joint_names if j not in have.values()]
                raise InputError(
                    f"{label}: poses are on '{source.name}', which has no joint map to '{skeleton.name}' "
                    f"(no counterpart for {', '.join(missing[:6]) or 'any joint'}); give poses on '{skeleton.name}'",
                    field="local_joints_rot",
                )
            rot, root = map_pose_to_skeleton(rot, root, source, skeleton, data_dir=data_dir, cache_dir=cache_dir)
        smooth = rec.smooth_root_2d
        if rec.type == "fullbody":
            out.append(FullBodyConstraintSet(skeleton, rec.frame_indices, rot, root, smooth))
        else:
            names = _TYPE_TO_CHAIN.get(rec.type) or tuple(rec.joint_names or ())
            out.append(EndEffectorConstraintSet(skeleton, rec.frame_indices, rot, root, smooth, joint_names=names))
    return out


def to_records(constraints: Sequence[ConstraintSet]) -> list[ConstraintRecord]:
    """KIMODO records of ``constraints`` (axis-angle local rotations on the sets' own skeleton)."""
    out = []
    for c in check_constraints(constraints, np.iinfo(np.int32).max):
        if isinstance(c, Root2DConstraintSet):
            out.append(ConstraintRecord("root2d", c.frame_indices, smooth_root_2d=c.smooth_root_2d, global_root_heading=c.global_root_heading))
            continue
        out.append(
            ConstraintRecord(
                c.type,
                c.frame_indices,
                smooth_root_2d=c.smooth_root_2d,
                local_joints_rot=matrix_to_axis_angle(c.local_rot_mats),
                root_positions=c.root_positions,
                joint_names=list(c.joint_names) if c.type == "end-effector" else None,
            )
        )
    return out


# ==================================================================================================
# timeline helpers for multi-prompt segments


def crop_constraints(constraints: Sequence[ConstraintSet], start: int, stop: int) -> list[ConstraintSet]:
    """The keyframes in ``[start, stop)``, renumbered from 0 (sets left empty are dropped)."""
    out = []
    for c in constraints:
        keep = (c.frame_indices >= start) & (c.frame_indices < stop)
        if keep.any():
            out.append(c.with_frames(c.frame_indices[keep] - start, keep))
    return out


def shift_constraints(constraints: Sequence[ConstraintSet], offset: int) -> list[ConstraintSet]:
    """Every keyframe moved ``offset`` frames later (negative: earlier; results must stay >= 0)."""
    return [c.with_frames(c.frame_indices + offset) for c in constraints]


def translate_constraints(constraints: Sequence[ConstraintSet], dx: float, dz: float) -> list[ConstraintSet]:
    """Every position moved by ``(dx, 0, dz)`` on the floor."""
    return [c.translated(dx, dz) for c in constraints]


# ==================================================================================================
# post-processing targets

#: KIMODO end-effector name -> the post-processing target key (reference 1.8: ``Hips`` has none).
_POST_KEYS = {"LeftHand": "left_hand", "RightHand": "right_hand", "LeftFoot": "left_foot", "RightFoot": "right_foot"}


def pose_targets(constraints: Sequence[ConstraintSet], num_frames: int, skeleton: Skeleton) -> Any:
    """:class:`motiongen.postprocess.PoseTargets` of ``constraints`` over ``num_frames`` frames.

    Full-body and end-effector frames take the stored pose as it is (KIMODO's post-processing moves
    its pelvis onto the smooth-root target, reference 1.8; we keep the pose exact); 2D-root frames
    keep the pelvis (x, z) near ``smooth_root_2d``. Call :func:`constraint_features` first to reject conflicts.
    """
    from motiongen.postprocess import PoseTargets

    constraints = check_constraints(constraints, num_frames, skeleton)
    targets = PoseTargets.empty(num_frames, skeleton.num_joints)
    posed_by = np.full(num_frames, -1)
    for i, c in enumerate(constraints):
        frames = c.frame_indices
        if isinstance(c, _PoseConstraintSet):
            # one stored pose per frame: the post-processor reaches every constrained chain of that pose
            for k, f in enumerate(frames):
                other = int(posed_by[f])
                if other >= 0 and np.abs(targets.local_rot_mats[f] - c.local_rot_mats[k]).max() > CONFLICT_TOLERANCE:
                    raise ConstraintConflictError(
                        f"{_label(i, c.type)} and {_label(other, constraints[other].type)} store different poses "
                        f"for frame {int(f)}; give one pose per frame",
                        field="constraints",
                    )
                posed_by[f] = i
        targets.smooth_root_2d[frames] = c.smooth_root_2d
        if isinstance(c, Root2DConstraintSet):
            targets.root2d[frames] = True
            continue
        targets.local_rot_mats[frames] = c.local_rot_mats
        targets.root_positions[frames] = c.root_positions
        if isinstance(c, FullBodyConstraintSet):
            targets.fullbody[frames] = True
        else:
            for name in c.joint_names:
                if name in _POST_KEYS and _POST_KEYS[name] in skeleton.joint_sets:
                    targets.end_effectors.setdefault(_POST_KEYS[name], np.zeros(num_frames, bool))[frames] = True
    return targets
