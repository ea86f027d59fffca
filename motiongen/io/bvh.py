"""BVH (Biovision Hierarchy) reading and writing.

Convention: a BVH file is read in its own axes, which for every file this project meets (Bandai,
KIMODO's exports) are motiongen's: Y up, +Z forward, the character's left = +X. Lengths are converted
from the file's unit to metres (``units``), angles are degrees in the file and rotation matrices in a
:class:`~motiongen.motion.motion.Motion`. Rotation channels compose intrinsically in the order listed:
``Zrotation Xrotation Yrotation`` means ``R = Rz Rx Ry``. The root's position channels are its absolute
position (its OFFSET is not added); a non-root joint's position channels replace its OFFSET frame by
frame and are kept in ``Motion.joint_translations`` (NaN rows for joints without them).

The file's layout (channels and rotation order per joint, End Site offsets, unit) is kept in
``motion.meta["bvh"]`` so that ``write_bvh(read_bvh(f), out)`` writes the same layout back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.io.atomic import atomic_write_text
from motiongen.errors import InputError
from motiongen.geometry import EULER_ORDERS, euler_to_matrix, matrix_to_euler
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

#: Metres per file unit for the named units.
UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254}
#: ``units="auto"`` reads a file as centimetres when its skeleton spans more than this many units.
AUTO_CM_EXTENT = 10.0
CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
DEFAULT_ROTATION_ORDER = "ZYX"  # KIMODO's BVH export order

_CANONICAL = {name.upper(): name for name in CHANNEL_NAMES}
_AXIS = {"X": 0, "Y": 1, "Z": 2}
# ASCII whitespace as bytes.split() and np.fromstring see it
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True
_MOTION_LINE = re.compile(rb"^[ \t]*MOTION[ \t\r\v\f]*$", re.MULTILINE | re.IGNORECASE)
_FRAMES_LINE = re.compile(r"^\s*Frames\s*:\s*(\S+)\s*$", re.IGNORECASE)
_FRAME_TIME_LINE = re.compile(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$", re.IGNORECASE)
# tolerances for "the layout can carry this motion": below what 6 decimals in cm/degrees resolve
_POSITION_TOL_M = 1e-7
_ANGLE_TOL_DEG = 1e-5


@dataclass
class _Joint:
    name: str
    parent: int
    line: int
    offset: list[float] | None = None
    channels: list[str] | None = None
    end_site: list[float] | None = None


@dataclass
class _Layout:
    """Per-joint channel lists (motion's joint order) plus the End Site offsets in metres."""

    channels: list[list[str]]
    end_sites: dict[str, list[float]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# units and frame rate


def units_to_scale(units: str | float, *, allow_auto: bool = False) -> float | None:
    """Metres per file unit for ``units`` (``"m"``, ``"cm"``, ``"mm"``, ``"inch"`` or a positive
    number); ``None`` for ``"auto"`` when ``allow_auto``."""
    if isinstance(units, str):
        key = units.strip().lower()
        if key == "auto" and allow_auto:
            return None
        if key in UNIT_SCALES:
            return UNIT_SCALES[key]
        allowed = (["auto"] if allow_auto else []) + list(UNIT_SCALES) + ["a positive number (metres per unit)"]
        raise InputError(f"unknown units '{units}'; allowed: {', '.join(allowed)}", field="units")
    if isinstance(units, bool) or not isinstance(units, (int, float, np.floating, np.integer)):
        raise InputError(f"units must be a unit name or a number, got {type(units).__name__}", field="units")
    scale = float(units)
    if not (np.isfinite(scale) and scale > 0):
        raise InputError(f"units scale must be a positive finite number of metres per unit, got {units}", field="units")
    return scale


def _units_label(scale: float) -> str:
    for name, value in UNIT_SCALES.items():
        if value == scale:
            return name
    return repr(scale)


def frame_time_to_fps(frame_time: float) -> float:
    """``1 / frame_time`` rounded to 6 decimals, snapped to the integer when within 1e-4 of it
    (``0.0333333`` -> ``30.0``)."""
    fps = round(1.0 / frame_time, 6)
    nearest = round(fps)
    if nearest > 0 and abs(fps - nearest) < 1e-4:
        return float(nearest)
    return fps


# ------------------------------------------------------------------------------------------------
# reading


def read_bvh(path: str | Path, *, units: str | float = "auto", skeleton_name: str | None = None) -> Motion:
    """Read a BVH file into a :class:`Motion` (metres, rotation matrices, Y up as in the file).

    Args:
        path: the ``.bvh`` file.
        units: the file's length unit: ``"auto"`` (centimetres when the skeleton at rest or on the
            first frame spans more than :data:`AUTO_CM_EXTENT` units, else metres), ``"m"``, ``"cm"``,
            ``"mm"``, ``"inch"`` or a float (metres per unit).
        skeleton_name: name of the returned skeleton; the file stem by default.

    Returns:
        A motion with ``local_rotations [T, J, 3, 3]``, ``root_translation [T, 3]``, fps from
        ``Frame Time``, ``joint_translations [T, J, 3]`` when a non-root joint has position channels,
        and ``meta["bvh"]`` describing the layout (see module docstring). Joints are in file order
        (depth first); End Sites are not joints.

    Raises:
        InputError: malformed file, naming the file and the 1-based line.
    """
    path = Path(path)
    scale = units_to_scale(units, allow_auto=True)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such BVH file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read BVH file: {exc.strerror or exc}", path=path) from None
    if not data.strip():
        raise InputError("empty file; expected a BVH file starting with HIERARCHY", path=path, line=1)

    found = _MOTION_LINE.search(data)
    header_end = found.start() if found else len(data)
    motion_line = data.count(b"\n", 0, header_end) + 1
    header = data[:header_end].decode("utf-8", errors="replace")
    joints = _HierarchyParser(header, path, motion_line).parse()
    if found is None:
        raise InputError("no MOTION section after the hierarchy", path=path, line=motion_line)
    frames, frame_time, body_start, body_line = _motion_header(data, found.end(), motion_line, path)
    num_channels = sum(len(j.channels or []) for j in joints)
    values = _frame_values(data[body_start:], frames, num_channels, body_line, joints, path)
    return _to_motion(joints, values, frame_time, scale, skeleton_name or path.stem, path)


def _tokenize(text: str) -> list[tuple[str, int]]:
    """Whitespace-separated words with their 1-based line; braces are words even when glued on."""
    tokens = []
    for number, line in enumerate(text.split("\n"), start=1):
        for word in line.replace("{", " { ").replace("}", " } ").split():
            tokens.append((word, number))
    return tokens


class _HierarchyParser:
    """Recursive descent over the HIERARCHY section's words."""

    def __init__(self, text: str, path: Path, end_line: int) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.path = path
        self.end_line = end_line  # the MOTION line, or the last line when there is none
        self.joints: list[_Joint] = []
        self.first_line: dict[str, int] = {}

    def _error(self, message: str, line: int) -> InputError:
        return InputError(message, path=self.path, line=line)

    def _take(self, expected: str) -> tuple[str, int]:
        if self.pos >= len(self.tokens):
            raise self._error(f"the HIERARCHY section ends before {expected}", self.end_line)
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _expect(self, word: str, context: str) -> int:
        token, line = self._take(f"'{word}' {context}")
        if token.upper() != word.upper():
            raise self._error(f"expected '{word}' {context}, found '{token}'", line)
        return line

    def _number(self, what: str) -> float:
        token, line = self._take(what)
        try:
            value = float(token)
        except ValueError:
            raise self._error(f"{what}: '{token}' is not a number", line) from None
        if not np.isfinite(value):
            raise self._error(f"{what}: '{token}' is not finite", line)
        return value

    def parse(self) -> list[_Joint]:
        if not self.tokens:
            raise self._error("no HIERARCHY section before MOTION", self.end_line)
        token, line = self.tokens[0]
        if token.upper() != "HIERARCHY":
            raise self._error(f"expected 'HIERARCHY' at the start of the file, found '{token}'", line)
        self.pos = 1
        token, line = self._take("'ROOT'")
        if token.upper() != "ROOT":
            raise self._error(f"expected 'ROOT' after HIERARCHY, found '{token}'", line)
        self._joint(-1, line, "ROOT")
        if self.pos < len(self.tokens):
            token, line = self.tokens[self.pos]
            if token == "}":
                raise self._error("unbalanced braces: '}' without a matching '{'", line)
            if token.upper() == "ROOT":
                raise self._error("a second ROOT; only single-root hierarchies are supported", line)
            raise self._error(f"expected 'MOTION' after the hierarchy, found '{token}'", line)
        return self.joints

    def _joint(self, parent: int, line: int, keyword: str) -> None:
        words = []
        while self.pos < len(self.tokens) and self.tokens[self.pos][1] == line and self.tokens[self.pos][0] != "{":
            words.append(self.tokens[self.pos][0])
            self.pos += 1
        if not words:
            raise self._error(f"{keyword} without a joint name", line)
        name = " ".join(words)
        if name in self.first_line:
            raise self._error(f"duplicate joint name '{name}' (first defined at line {self.first_line[name]})", line)
        self.first_line[name] = line
        joint = _Joint(name=name, parent=parent, line=line)
        index = len(self.joints)
        self.joints.append(joint)
        self._expect("{", f"after joint '{name}'")
        closing = f"the '}}' closing joint '{name}' (opened at line {line}): unbalanced braces"
        while True:
            token, at = self._take(closing)
            key = token.upper()
            if key == "}":
                break
            if key == "OFFSET":
                if joint.offset is not None:
                    raise self._error(f"joint '{name}' has a second OFFSET", at)
                joint.offset = [self._number(f"OFFSET {axis} of joint '{name}'") for axis in "XYZ"]
            elif key == "CHANNELS":
                if joint.channels is not None:
                    raise self._error(f"joint '{name}' has a second CHANNELS line", at)
                joint.channels = self._channels(name)
            elif key == "JOINT":
                self._joint(index, at, "JOINT")
            elif key == "END":
                self._end_site(joint, at)
            else:
                raise self._error(
                    f"unexpected '{token}' in joint '{name}'; expected OFFSET, CHANNELS, JOINT, End Site or '}}'", at
                )
        if joint.offset is None:
            raise self._error(f"joint '{name}' has no OFFSET", line)
        if joint.channels is None:
            raise self._error(f"joint '{name}' has no CHANNELS line", line)

    def _channels(self, name: str) -> list[str]:
        token, line = self._take(f"the channel count of joint '{name}'")
        try:
            count = int(token)
        except ValueError:
            raise self._error(f"channel count of joint '{name}': '{token}' is not an integer (0..6)", line) from None
        if not 0 <= count <= 6:
            raise self._error(f"channel count of joint '{name}' is {count}; allowed 0..6", line)
        channels: list[str] = []
        for _ in range(count):
            token, at = self._take(f"the {count} channel names of joint '{name}'")
            canonical = _CANONICAL.get(token.upper())
            if canonical is None:
                raise self._error(
                    f"unknown channel '{token}' of joint '{name}'; allowed: {', '.join(CHANNEL_NAMES)}", at
                )
            if canonical in channels:
                raise self._error(f"channel '{token}' listed twice for joint '{name}'", at)
            channels.append(canonical)
        return channels

    def _end_site(self, joint: _Joint, line: int) -> None:
        self._expect("Site", "after 'End'")
        if joint.end_site is not None:
            raise self._error(f"joint '{joint.name}' has a second End Site", line)
        self._expect("{", "after 'End Site'")
        self._expect("OFFSET", f"in the End Site of joint '{joint.name}'")
        joint.end_site = [self._number(f"End Site OFFSET {axis} of joint '{joint.name}'") for axis in "XYZ"]
        self._expect("}", f"closing the End Site of joint '{joint.name}' (opened at line {line})")


def _motion_header(data: bytes, pos: int, motion_line: int, path: Path) -> tuple[int, float, int, int]:
    """Parse ``Frames:`` and ``Frame Time:`` after MOTION; returns them, the byte offset where frame
    lines start and that line's number."""
    line = motion_line
    pos = _line_end(data, pos)

    def next_nonblank(expected: str) -> tuple[str, int]:
        nonlocal pos, line
        while pos < len(data):
            end = _line_end(data, pos)
            line += 1
            text = data[pos:end].decode("utf-8", errors="replace")
            pos = end
            if text.strip():
                return text, line
        raise InputError(f"file ends where '{expected}' was expected", path=path, line=line + 1)

    text, frames_line = next_nonblank("Frames: N")
    match = _FRAMES_LINE.match(text)
    if not match:
        raise InputError(f"expected 'Frames: N' after MOTION, found '{text.strip()[:40]}'", path=path, line=frames_line)
    try:
        frames = int(match.group(1))
    except ValueError:
        raise InputError(f"Frames: '{match.group(1)}' is not an integer", path=path, line=frames_line) from None
    if frames < 1:
        raise InputError(f"Frames: {frames}; a motion needs at least 1 frame", path=path, line=frames_line)
    text, time_line = next_nonblank("Frame Time: SECONDS")
    match = _FRAME_TIME_LINE.match(text)
    if not match:
        raise InputError(f"expected 'Frame Time: SECONDS', found '{text.strip()[:40]}'", path=path, line=time_line)
    try:
        frame_time = float(match.group(1))
    except ValueError:
        raise InputError(f"Frame Time: '{match.group(1)}' is not a number", path=path, line=time_line) from None
    if not (np.isfinite(frame_time) and 0 < frame_time < 1e6):
        raise InputError(
            f"Frame Time: {match.group(1)}; allowed a positive number of seconds below 1e6", path=path, line=time_line
        )
    return frames, frame_time, pos, time_line + 1


def _line_end(data: bytes, pos: int) -> int:
    """Offset just past the newline ending the line that starts at ``pos`` (or the end of ``data``)."""
    end = data.find(b"\n", pos)
    return len(data) if end < 0 else end + 1


def _frame_values(
    body: bytes, frames: int, channels: int, first_line: int, joints: list[_Joint], path: Path
) -> np.ndarray:
    """The frame lines as ``[frames, channels]`` float64, checked line by line without a Python loop.

    Blank lines are skipped; every other line must hold exactly ``channels`` finite numbers.
    """
    raw = np.frombuffer(body, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    line_starts = np.concatenate(([0], newlines + 1))
    whitespace = _WHITESPACE[raw]
    word_start = ~whitespace
    word_start[1:] &= whitespace[:-1]
    word_positions = np.flatnonzero(word_start)
    counts = np.diff(np.searchsorted(word_positions, np.concatenate((line_starts, [raw.size]))))
    lines = np.flatnonzero(counts > 0)  # indices (from first_line) of non-blank lines

    checked = lines[:frames]
    wrong = np.flatnonzero(counts[checked] != channels)
    if wrong.size:
        k = int(wrong[0])
        raise InputError(
            f"frame {k} has {int(counts[checked[k]])} values; the hierarchy declares {channels} channels",
            path=path,
            line=first_line + int(checked[k]),
        )
    if lines.size < frames:
        last = first_line + int(lines[-1]) if lines.size else first_line - 1
        raise InputError(
            f"'Frames: {frames}' but the file has only {lines.size} frame lines (truncated?)", path=path, line=last + 1
        )
    if lines.size > frames:
        raise InputError(
            f"more frame lines than 'Frames: {frames}' declares", path=path, line=first_line + int(lines[frames])
        )
    if channels == 0:
        return np.zeros((frames, 0))
    try:
        values = np.fromstring(body, dtype=np.float64, sep=" ")
    except ValueError:
        values = np.zeros(0)
    if values.size != frames * channels:
        _raise_first_unparsable(body, line_starts, lines, first_line, path)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        frame, column = divmod(int(bad[0]), channels)
        joint, channel = _channel_name(joints, column)
        raise InputError(
            f"frame {frame}, joint '{joint}' {channel} is {values[bad[0]]}; values must be finite",
            path=path,
            line=first_line + int(lines[frame]),
        )
    return values.reshape(frames, channels)


def _raise_first_unparsable(
    body: bytes, line_starts: np.ndarray, lines: np.ndarray, first_line: int, path: Path
) -> None:
    """Slow path, only on error: find the frame line numpy cannot read as numbers."""
    for index in lines:
        start = int(line_starts[index])
        text = body[start:_line_end(body, start)]
        for word in text.split():
            try:
                float(np.fromstring(word, dtype=np.float64, sep=" ")[0])
            except (ValueError, IndexError):
                shown = word.decode("utf-8", errors="replace")[:40]
                raise InputError(f"'{shown}' is not a number", path=path, line=first_line + int(index)) from None
    raise InputError("frame values could not be read as numbers", path=path, line=first_line)


def _channel_name(joints: list[_Joint], column: int) -> tuple[str, str]:
    for joint in joints:
        channels = joint.channels or []
        if column < len(channels):
            return joint.name, channels[column]
        column -= len(channels)
    raise IndexError(column)


def _padded_order(channels: list[str]) -> str:
    """Rotation order of a channel list, completed with the unlisted axes (held at angle 0)."""
    listed = "".join(c[0] for c in channels if c.endswith("rotation"))
    return listed + "".join(a for a in "XYZ" if a not in listed)


def _to_motion(
    joints: list[_Joint], values: np.ndarray, frame_time: float, scale: float | None, name: str, path: Path
) -> Motion:
    frames = values.shape[0]
    num = len(joints)
    offsets = np.array([j.offset for j in joints], dtype=np.float64)
    parents = tuple(j.parent for j in joints)
    layout = [list(j.channels or []) for j in joints]

    position = np.broadcast_to(offsets, (frames, num, 3)).copy()
    angles = np.zeros((frames, num, 3))
    orders = [_padded_order(ch) for ch in layout]
    pos_joint, pos_axis, pos_col, rot_joint, rot_slot, rot_col = [], [], [], [], [], []
    column = 0
    for j, channels in enumerate(layout):
        for channel in channels:
            if channel.endswith("position"):
                pos_joint.append(j), pos_axis.append(_AXIS[channel[0]]), pos_col.append(column)
            else:
                rot_joint.append(j), rot_slot.append(orders[j].index(channel[0])), rot_col.append(column)
            column += 1
    position[:, pos_joint, pos_axis] = values[:, pos_col]
    angles[:, rot_joint, rot_slot] = values[:, rot_col]
    rotations = np.empty((frames, num, 3, 3))
    for order in set(orders):
        members = [j for j in range(num) if orders[j] == order]
        rotations[:, members] = euler_to_matrix(angles[:, members], order, degrees=True)

    animated = sorted({j for j in pos_joint if j > 0})
    joint_translations = None
    if animated:
        joint_translations = np.full((frames, num, 3), np.nan)
        joint_translations[:, animated] = position[:, animated]

    skeleton = Skeleton(name=name, joint_names=tuple(j.name for j in joints), parents=parents, offsets=offsets)
    if scale is None:
        extent = _extent(skeleton, rotations[0], position[0, 0], joint_translations)
        scale = UNIT_SCALES["cm"] if extent > AUTO_CM_EXTENT else UNIT_SCALES["m"]
    meta: dict[str, Any] = {
        "source": str(path),
        "bvh": {
            "joint_names": list(skeleton.joint_names),
            "channels": layout,
            "rotation_orders": ["".join(c[0] for c in ch if c.endswith("rotation")) for ch in layout],
            "end_sites": {j.name: [v * scale for v in j.end_site] for j in joints if j.end_site is not None},
            "scale": scale,
            "units": _units_label(scale),
            "frame_time": frame_time,
        },
    }
    return Motion(
        local_rotations=rotations,
        root_translation=position[:, 0] * scale,
        fps=frame_time_to_fps(frame_time),  # positive: _motion_header bounds frame_time below 1e6 s
        skeleton=skeleton.with_offsets(offsets * scale),
        joint_translations=None if joint_translations is None else joint_translations * scale,
        meta=meta,
    )


def _extent(
    skeleton: Skeleton, rotations: np.ndarray, root: np.ndarray, joint_translations: np.ndarray | None
) -> float:
    """Largest span over the axes of the rest pose and of the first frame, in file units."""
    with np.errstate(all="ignore"):
        _, first = skeleton.forward_kinematics(
            rotations, root, None if joint_translations is None else joint_translations[0]
        )
        spans = [np.ptp(skeleton.rest_positions(), axis=0).max(), np.ptp(first, axis=0).max()]
    return float(np.nan_to_num(max(spans), nan=np.inf))


# ------------------------------------------------------------------------------------------------
# writing


def write_bvh(
    motion: Motion,
    path: str | Path,
    *,
    units: str | float | None = None,
    rotation_order: str | None = None,
    decimals: int = 6,
) -> Path:
    """Write ``motion`` as a BVH file (HIERARCHY + MOTION); returns the path written.

    Convention: the file keeps motiongen's axes (Y up, +Z forward, character's left = +X); lengths are
    written in ``units`` (default: the unit the motion was read in, ``meta["bvh"]``, else centimetres),
    angles in degrees, rotation channels intrinsic in the order listed. The root's position channels
    hold its absolute position. Joints are written depth first (children in index order), which is
    the order :func:`read_bvh` returns them in.

    Layout: ``motion.meta["bvh"]`` (from :func:`read_bvh`) when it matches the skeleton and can carry
    the motion, else 6 channels on the root (``Xposition Yposition Zposition`` + rotation), 3 rotation
    channels elsewhere and position channels on joints with ``joint_translations``. ``rotation_order``
    (e.g. ``"ZXY"``) overrides the rotation channels of every joint; otherwise the source layout's or
    ``"ZYX"`` (KIMODO's). Leaf joints get an End Site (the source's offset, else zero).

    The file is written to a temporary file in the same folder and renamed when complete, so a failed
    write leaves no partial file (and an existing file untouched).

    Raises:
        InputError: non-finite or non-rotation values, bad ``units``/``rotation_order``/``decimals``,
            joint names that BVH cannot hold.
    """
    path = Path(path)
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)) or not 0 <= decimals <= 12:
        raise InputError(f"decimals must be an integer in 0..12, got {decimals!r}", field="decimals")
    order = None
    if rotation_order is not None:
        order = str(rotation_order).upper()
        if order not in EULER_ORDERS:
            raise InputError(
                f"unknown rotation order '{rotation_order}'; allowed: {', '.join(EULER_ORDERS)}", field="rotation_order"
            )
    _check_writable(motion)
    source = _source_layout(motion)
    if units is None:
        scale = source[1] if source is not None else UNIT_SCALES["cm"]
    else:
        scale = units_to_scale(units)
    assert scale is not None

    layout, values = None, None
    if source is not None:
        layout = source[0]
        if order is not None:
            layout = _Layout([_with_rotation_order(ch, order) for ch in layout.channels], layout.end_sites)
        values = _channel_values(motion, layout.channels, scale)
    if values is None:
        end_sites = layout.end_sites if layout is not None else {}
        layout = _Layout(_default_channels(motion, order or DEFAULT_ROTATION_ORDER), end_sites)
        values = _channel_values(motion, layout.channels, scale)
        assert values is not None  # the default layout carries every motion
    assert layout is not None

    text = hierarchy_text(motion.skeleton, layout.channels, scale, decimals, layout.end_sites)
    text += f"MOTION\nFrames: {motion.num_frames}\nFrame Time: {_frame_time_text(motion)}\n"
    text += _frames_text(values, decimals)
    atomic_write_text(path, text)
    return path


def _check_writable(motion: Motion) -> None:
    if not isinstance(motion, Motion):
        raise InputError(f"expected a Motion, got {type(motion).__name__}", field="motion")
    if not (np.isfinite(motion.fps) and motion.fps > 0):
        raise InputError(f"fps must be a positive number, got {motion.fps}", field="fps")
    if motion.num_frames < 1:
        raise InputError("a BVH file needs at least 1 frame; the motion has none", field="local_rotations")
    for name, array in (("local_rotations", motion.local_rotations), ("root_translation", motion.root_translation)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            raise InputError(f"{name} is not finite at index {tuple(int(i) for i in bad[0])}", field=name)
    if motion.joint_translations is not None and np.isinf(motion.joint_translations).any():
        raise InputError("joint_translations contain inf (NaN means 'use the offset')", field="joint_translations")
    rot = motion.local_rotations
    error = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).max(axis=(-1, -2))
    bad = np.argwhere((error > 1e-4) | (np.linalg.det(rot) < 0))
    if bad.size:
        frame, joint = (int(i) for i in bad[0])
        raise InputError(
            f"local_rotations[{frame}, {joint}] (joint '{motion.skeleton.joint_names[joint]}') "
            "is not a rotation matrix",
            field="local_rotations",
        )
    for name in motion.skeleton.joint_names:
        if not name or " ".join(name.split()) != name or "{" in name or "}" in name:
            raise InputError(
                f"joint name '{name}' cannot be written to BVH (empty, braces, or leading/repeated whitespace)",
                field="joint_names",
            )


def _source_layout(motion: Motion) -> tuple[_Layout, float] | None:
    """The layout and unit scale ``read_bvh`` stored, when they still describe ``motion``'s skeleton."""
    info = motion.meta.get("bvh")
    if not isinstance(info, dict):
        return None
    names = motion.skeleton.joint_names
    channels = info.get("channels")
    if list(info.get("joint_names") or []) != list(names):
        return None
    if not isinstance(channels, list) or len(channels) != len(names):
        return None
    for ch in channels:
        if not isinstance(ch, list) or len(set(ch)) != len(ch) or any(c not in CHANNEL_NAMES for c in ch):
            return None
    end_sites = {}
    for name, offset in dict(info.get("end_sites") or {}).items():
        array = np.asarray(offset, dtype=np.float64)
        if name in names and array.shape == (3,) and np.isfinite(array).all():
            end_sites[name] = [float(v) for v in array]
    scale = info.get("scale", UNIT_SCALES["cm"])
    try:
        units_to_scale(scale)
    except InputError:
        scale = UNIT_SCALES["cm"]
    return _Layout([list(ch) for ch in channels], end_sites), float(scale)


def _with_rotation_order(channels: list[str], order: str) -> list[str]:
    """``channels`` with its rotation channels replaced by all three in ``order`` (where the first was)."""
    rotations = [f"{axis}rotation" for axis in order]
    first = next((i for i, c in enumerate(channels) if c.endswith("rotation")), len(channels))
    before = [c for c in channels[:first] if not c.endswith("rotation")]
    after = [c for c in channels[first:] if not c.endswith("rotation")]
    return before + rotations + after


def _default_channels(motion: Motion, order: str) -> list[list[str]]:
    rotations = [f"{axis}rotation" for axis in order]
    positions = ["Xposition", "Yposition", "Zposition"]
    jt = motion.joint_translations
    animated = np.zeros(motion.skeleton.num_joints, dtype=bool) if jt is None else ~np.isnan(jt).all(axis=(0, 2))
    return [positions + rotations if j == 0 or animated[j] else list(rotations) for j in range(len(animated))]


def _depth_first(skeleton: Skeleton) -> list[int]:
    children = skeleton.children
    out, stack = [], [0]
    while stack:
        j = stack.pop()
        out.append(j)
        stack.extend(reversed(children[j]))
    return out


def _channel_values(motion: Motion, channels: list[list[str]], scale: float) -> np.ndarray | None:
    """``[T, C]`` channel values in file units and degrees, columns in depth-first joint order, or
    ``None`` when the layout would lose part of the motion (an animated axis without its channel)."""
    skeleton = motion.skeleton
    frames, num = motion.num_frames, skeleton.num_joints
    position = np.broadcast_to(skeleton.offsets, (frames, num, 3)).copy()
    if motion.joint_translations is not None:
        jt = motion.joint_translations
        position = np.where(np.isnan(jt), position, jt)
    position[:, 0] = motion.root_translation
    orders = [_padded_order(ch) for ch in channels]
    angles = np.empty((frames, num, 3))
    for order in set(orders):
        members = [j for j in range(num) if orders[j] == order]
        angles[:, members] = matrix_to_euler(motion.local_rotations[:, members], order, degrees=True)

    table = np.concatenate((position / scale, angles), axis=2)  # [T, J, 6]: x, y, z, 3 angles by slot
    columns = []
    for j in _depth_first(skeleton):
        listed = set(channels[j])
        for axis in range(3):
            if f"{'XYZ'[axis]}position" not in listed:
                if np.abs(position[:, j, axis] - skeleton.offsets[j, axis]).max() > _POSITION_TOL_M:
                    return None
        for slot, axis in enumerate(orders[j]):
            if f"{axis}rotation" not in listed and np.abs(angles[:, j, slot]).max() > _ANGLE_TOL_DEG:
                return None
        for channel in channels[j]:
            k = _AXIS[channel[0]] if channel.endswith("position") else 3 + orders[j].index(channel[0])
            columns.append(j * 6 + k)
    return table.reshape(frames, num * 6)[:, columns]


def _number_text(values: np.ndarray, decimals: int) -> np.ndarray:
    # round first so that tiny negatives do not print as "-0.000000"
    return np.round(values, decimals) + 0.0


def hierarchy_text(
    skeleton: Skeleton,
    channels: Sequence[Sequence[str]],
    scale: float,
    decimals: int,
    end_sites: Mapping[str, Any] | None,
) -> str:
    """The HIERARCHY section, joints depth first (children in index order).

    ``channels[j]`` are joint ``j``'s channel names; offsets are written in units of ``scale`` metres
    with ``decimals`` places. ``end_sites`` maps joint names to End Site offsets (metres): those joints
    and every leaf get an End Site (a leaf without an entry a zero one); ``None`` writes no End Sites
    (KIMODO's SOMA files have none).
    """
    children = skeleton.children
    offsets = _number_text(skeleton.offsets / scale, decimals)
    fmt = f"%.{decimals}f %.{decimals}f %.{decimals}f"
    lines = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {skeleton.joint_names[j]}")
        lines.append(pad + "{")
        lines.append(f"{pad}\tOFFSET " + fmt % tuple(offsets[j]))
        lines.append(f"{pad}\tCHANNELS {len(channels[j])}" + "".join(" " + c for c in channels[j]))
        for child in children[j]:
            emit(child, depth + 1)
        if end_sites is not None:
            end_site = end_sites.get(skeleton.joint_names[j])
            if end_site is not None or not children[j]:
                site = _number_text(np.asarray(end_site if end_site is not None else [0.0, 0.0, 0.0]) / scale, decimals)
                lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET " + fmt % tuple(site), f"{pad}\t}}"])
        lines.append(pad + "}")

    emit(0, 0)
    return "\n".join(lines) + "\n"


def _frame_time_text(motion: Motion) -> str:
    # keep the source's Frame Time text when it still reads back as this motion's fps
    info = motion.meta.get("bvh")
    source = info.get("frame_time") if isinstance(info, dict) else None
    if isinstance(source, (int, float)) and source > 0 and frame_time_to_fps(float(source)) == motion.fps:
        return repr(float(source))
    return f"{1.0 / motion.fps:.9g}"


def _frames_text(values: np.ndarray, decimals: int) -> str:
    """All frame lines at once: one C-level ``%`` over the whole table instead of a loop per value."""
    frames, channels = values.shape
    if channels == 0:
        return "\n" * frames
    line = " ".join([f"%.{decimals}f"] * channels) + "\n"
    return (line * frames) % tuple(_number_text(values, decimals).ravel().tolist())
