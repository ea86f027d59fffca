"""KIMODO ``constraints.json`` files (reference 4.1): typed records in, the same JSON out.

The file is a JSON array of objects, each with a ``type`` and per-frame arrays aligned with
``frame_indices`` (0-based frames of the whole timeline, any order):

=================================================  ==========================================  =======================
type                                               required                                    optional
=================================================  ==========================================  =======================
``root2d``                                         ``smooth_root_2d [K][2]`` (x, z)            ``global_root_heading``
``fullbody``, ``left-hand``, ``right-hand``,       ``local_joints_rot [K][J][3]`` (axis-angle  ``smooth_root_2d``,
``left-foot``, ``right-foot``                      local rotations), ``root_positions [K][3]`` ``global_root_heading``
``end-effector``                                   as above plus ``joint_names``               as above
=================================================  ==========================================  =======================

Units are metres and radians in KIMODO's world, which is ours (Y up, +Z forward): nothing is
converted. ``global_root_heading`` rows are ``(cos, sin)``. Records keep the numbers exactly, so
reading and writing a file reproduces it value for value. Every problem is reported with the file and
the field path, e.g. ``[2].frame_indices[5]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motiongen.errors import InputError, UnknownNameError
from motiongen.io.atomic import atomic_write_text
from motiongen.skeleton.kimodo_assets import END_EFFECTOR_NAMES
from motiongen.skeleton.skeleton import Skeleton

ROOT2D = "root2d"
FULLBODY = "fullbody"
END_EFFECTOR = "end-effector"
#: Types that store a full pose; the named ones constrain one chain (reference 4.2).
POSE_TYPES = (FULLBODY, "left-hand", "right-hand", "left-foot", "right-foot", END_EFFECTOR)
CONSTRAINT_TYPES = (ROOT2D,) + POSE_TYPES

#: Array fields in the order KIMODO writes them, with their per-frame shape (``J`` = joints).
_ARRAY_FIELDS: dict[str, tuple[str, ...]] = {
    "local_joints_rot": ("J", "3"),
    "root_positions": ("3",),
    "smooth_root_2d": ("2",),
    "global_root_heading": ("2",),
}
_FIELD_ORDER = ("type", "frame_indices", "local_joints_rot", "root_positions", "smooth_root_2d", "global_root_heading", "joint_names")
#: Largest frame index accepted when no frame count is given (int32, as KIMODO's tensors).
_MAX_FRAME = 2**31 - 1
#: SOMA constraints may be stored on either SOMA rig (reference 4.1).
_SOMA_JOINT_COUNTS = (30, 77)


@dataclass
class ConstraintRecord:
    """One entry of a ``constraints.json`` file.

    Attributes:
        type: one of :data:`CONSTRAINT_TYPES`.
        frame_indices: ``[K]`` int64 frame numbers on the whole timeline.
        smooth_root_2d: ``[K, 2]`` smoothed-root (x, z), or None.
        global_root_heading: ``[K, 2]`` (cos, sin) heading, or None.
        local_joints_rot: ``[K, J, 3]`` axis-angle local rotations, or None.
        root_positions: ``[K, 3]`` pelvis positions, or None.
        joint_names: end-effector names (``end-effector`` only), or None.
    """

    type: str
    frame_indices: np.ndarray
    smooth_root_2d: np.ndarray | None = None
    global_root_heading: np.ndarray | None = None
    local_joints_rot: np.ndarray | None = None
    root_positions: np.ndarray | None = None
    joint_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        for name in _ARRAY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.asarray(value, dtype=np.float64))
        if self.joint_names is not None:
            self.joint_names = list(self.joint_names)

    @property
    def num_keyframes(self) -> int:
        return int(self.frame_indices.shape[0])

    def to_json(self) -> dict[str, Any]:
        """The entry as KIMODO writes it: plain lists under the same key names."""
        out: dict[str, Any] = {"type": self.type, "frame_indices": [int(f) for f in self.frame_indices]}
        for name in _FIELD_ORDER[2:]:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if name == "joint_names" else value.tolist()
        return out


# --------------------------------------------------------------------------------------------------
# validation


def _allowed_joint_counts(skeleton: Skeleton | None) -> tuple[int, ...] | None:
    if skeleton is None:
        return None
    if skeleton.name in ("soma30", "soma77"):
        return _SOMA_JOINT_COUNTS
    return (skeleton.num_joints,)


def _first_nonfinite(array: np.ndarray) -> str:
    index = np.argwhere(~np.isfinite(array))[0]
    return "".join(f"[{i}]" for i in index)


def validate_constraint_record(
    record: ConstraintRecord,
    *,
    where: str = "",
    path: str | Path | None = None,
    skeleton: Skeleton | None = None,
    num_frames: int | None = None,
) -> ConstraintRecord:
    """Check one record; raises :class:`InputError` naming ``path`` and the field (``where`` + name).

    Args:
        record: the record.
        where: prefix of field paths, e.g. ``"[2]"`` for the third entry of a file.
        path: the file, for messages.
        skeleton: if given, ``local_joints_rot`` must have its joint count (30 or 77 for SOMA).
        num_frames: if given, frame indices must lie in ``0..num_frames-1``.

    Returns:
        ``record`` unchanged.
    """

    def fail(field: str, message: str) -> InputError:
        return InputError(message, path=path, field=f"{where}.{field}" if where else field)

    if record.type not in CONSTRAINT_TYPES:
        raise fail("type", f"unknown constraint type {record.type!r}; allowed: {', '.join(CONSTRAINT_TYPES)}")
    frames = record.frame_indices
    if frames.ndim != 1 or frames.shape[0] == 0:
        raise fail("frame_indices", f"must be a non-empty list of frame numbers, got shape {frames.shape}")
    upper = _MAX_FRAME if num_frames is None else num_frames - 1
    for k, frame in enumerate(frames.tolist()):
        if not 0 <= frame <= upper:
            limit = f"0..{upper}" + ("" if num_frames is None else f" (the motion has {num_frames} frames)")
            raise fail(f"frame_indices[{k}]", f"frame {frame} is out of range; allowed {limit}")
    required = ("smooth_root_2d",) if record.type == ROOT2D else ("local_joints_rot", "root_positions")
    for name in required:
        if getattr(record, name) is None:
            raise fail(name, f"is required for type '{record.type}'")
    if record.type == ROOT2D:
        for name in ("local_joints_rot", "root_positions"):
            if getattr(record, name) is not None:
                raise fail(name, "is not a field of type 'root2d' (it takes smooth_root_2d and global_root_heading)")
    count = frames.shape[0]
    joint_counts = _allowed_joint_counts(skeleton)
    for name, row_shape in _ARRAY_FIELDS.items():
        value = getattr(record, name)
        if value is None:
            continue
        if value.ndim != 1 + len(row_shape):
            raise fail(name, f"has shape {value.shape}; expected [K, {', '.join(row_shape)}]")
        if value.shape[0] != count:
            raise fail(name, f"has {value.shape[0]} rows but frame_indices has {count}; one row per listed frame")
        width = value.shape[-1]
        if name == "smooth_root_2d" and width == 3:
            raise fail(
                name,
                "rows have 3 components; smooth_root_2d holds (x, z) pairs. KIMODO would silently keep (x, y) "
                "of a 3-vector (a known upstream bug), so pass [x, z] explicitly",
            )
        if width != int(row_shape[-1]):
            raise fail(name, f"rows have {width} components; expected {row_shape[-1]}")
        if name == "local_joints_rot":
            joints = value.shape[1]
            if joints == 0 or (joint_counts is not None and joints not in joint_counts):
                allowed = "at least 1" if joint_counts is None else " or ".join(map(str, joint_counts))
                rig = "" if skeleton is None else f" of skeleton '{skeleton.name}'"
                raise fail(name, f"has {joints} joints per frame; expected {allowed}{rig}")
        if not np.isfinite(value).all():
            raise fail(name + _first_nonfinite(value), "is NaN or infinite; values must be finite numbers")
    if record.type == END_EFFECTOR:
        if not record.joint_names:
            raise fail("joint_names", f"is required for type 'end-effector': a non-empty subset of {', '.join(END_EFFECTOR_NAMES)}")
        for k, joint in enumerate(record.joint_names):
            if joint not in END_EFFECTOR_NAMES:
                field = f"{where}.joint_names[{k}]" if where else f"joint_names[{k}]"
                prefix = f"{path}, field '{field}'" if path is not None else f"field '{field}'"
                raise UnknownNameError(f"{prefix}: unknown end effector {joint!r}; allowed: {', '.join(END_EFFECTOR_NAMES)}")
    elif record.joint_names is not None:
        raise fail("joint_names", f"is only a field of type 'end-effector', not '{record.type}'")
    return record


# --------------------------------------------------------------------------------------------------
# reading


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _numbers(value: Any, ndim: int, field: str, path: str | Path | None) -> np.ndarray:
    """A rectangular nested list of ``ndim`` levels of JSON numbers as float64, else InputError at the spot.

    Finiteness is left to :func:`validate_constraint_record`, which also sees records built in code.
    """
    lengths: list[int | None] = [None] * ndim

    def walk(v: Any, level: int, at: str) -> Any:
        if level == ndim:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise InputError(f"expected a number, got {_type_name(v)}", path=path, field=at)
            try:
                return float(v)
            except OverflowError:  # an integer past float range; reported with the non-finite values
                return math.inf
        if not isinstance(v, list):
            raise InputError(f"expected a list ({ndim - level} levels deep), got {_type_name(v)}", path=path, field=at)
        if lengths[level] is None:
            lengths[level] = len(v)
        elif len(v) != lengths[level]:
            raise InputError(f"has {len(v)} entries; the other rows at this level have {lengths[level]}", path=path, field=at)
        return [walk(x, level + 1, f"{at}[{i}]") for i, x in enumerate(v)]

    nested = walk(value, 0, field)
    shape = tuple(n if n is not None else 0 for n in lengths)
    return np.array(nested, dtype=np.float64).reshape(shape)


def _frame_indices(value: Any, field: str, path: str | Path | None) -> np.ndarray:
    if not isinstance(value, list):
        raise InputError(f"expected a list of frame numbers, got {_type_name(value)}", path=path, field=field)
    for k, frame in enumerate(value):
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise InputError(f"expected an integer frame number, got {_type_name(frame)} {frame!r}", path=path, field=f"{field}[{k}]")
        if not 0 <= frame <= _MAX_FRAME:
            # range against num_frames is checked with the record; this bound keeps int64 safe
            raise InputError(f"frame {frame} is out of range 0..{_MAX_FRAME}", path=path, field=f"{field}[{k}]")
    return np.array(value, dtype=np.int64)


def _record_from_json(entry: Any, where: str, path: str | Path | None) -> ConstraintRecord:
    if not isinstance(entry, dict):
        raise InputError(f"expected an object with a 'type', got {_type_name(entry)}", path=path, field=where)
    unknown = sorted(set(entry) - set(_FIELD_ORDER))
    if unknown:
        raise InputError(
            f"unknown field {unknown[0]!r}; allowed fields: {', '.join(_FIELD_ORDER)}", path=path, field=f"{where}.{unknown[0]}"
        )
    for name in ("type", "frame_indices"):
        if name not in entry:
            raise InputError(f"is required in every constraint; types: {', '.join(CONSTRAINT_TYPES)}", path=path, field=f"{where}.{name}")
    arrays = {
        name: _numbers(entry[name], 1 + len(shape), f"{where}.{name}", path)
        for name, shape in _ARRAY_FIELDS.items()
        if name in entry
    }
    names = entry.get("joint_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(f"expected a list of joint-name strings, got {names!r}", path=path, field=f"{where}.joint_names")
    return ConstraintRecord(
        type=entry["type"],
        frame_indices=_frame_indices(entry["frame_indices"], f"{where}.frame_indices", path),
        joint_names=names,
        **arrays,
    )


def parse_constraints_json(
    text: str,
    *,
    path: str | Path | None = None,
    skeleton: Skeleton | None = None,
    num_frames: int | None = None,
) -> list[ConstraintRecord]:
    """Records from the text of a ``constraints.json`` (``path`` only names it in errors).

    Raises:
        InputError: malformed JSON (with the line), a missing or malformed field (with its path), a
            frame out of range, non-finite numbers, a joint count that does not fit ``skeleton``.
        UnknownNameError: an ``end-effector`` joint outside {LeftFoot, RightFoot, LeftHand,
            RightHand, Hips}.
    """
    if num_frames is not None and (not isinstance(num_frames, (int, np.integer)) or isinstance(num_frames, bool) or num_frames < 1):
        raise InputError(f"num_frames must be a positive integer, got {num_frames!r}", field="num_frames")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # e.g. integers past Python's digit limit, deep nesting
        raise InputError(f"malformed JSON: {type(exc).__name__}: {exc}", path=path) from None
    if not isinstance(data, list):
        raise InputError(f"a constraints file is a JSON array of constraint objects, got {_type_name(data)}", path=path)
    records = []
    for i, entry in enumerate(data):
        record = _record_from_json(entry, f"[{i}]", path)
        records.append(validate_constraint_record(record, where=f"[{i}]", path=path, skeleton=skeleton, num_frames=num_frames))
    return records


def read_constraints_json(
    path: str | Path, *, skeleton: Skeleton | None = None, num_frames: int | None = None
) -> list[ConstraintRecord]:
    """Records of the KIMODO ``constraints.json`` at ``path`` (see :func:`parse_constraints_json`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    return parse_constraints_json(text, path=path, skeleton=skeleton, num_frames=num_frames)


# --------------------------------------------------------------------------------------------------
# writing


def constraints_to_json(records: Sequence[ConstraintRecord], *, path: str | Path | None = None) -> str:
    """KIMODO JSON text for ``records`` (validated first; ``path`` only names the file in errors)."""
    for i, record in enumerate(records):
        validate_constraint_record(record, where=f"[{i}]", path=path)
    return json.dumps([record.to_json() for record in records], indent=2, allow_nan=False) + "\n"


def write_constraints_json(records: Sequence[ConstraintRecord], path: str | Path) -> Path:
    """Write ``records`` as a KIMODO ``constraints.json`` (temporary file, then rename); returns the path."""
    path = Path(path)
    return atomic_write_text(path, constraints_to_json(records, path=path))
