"""Acclaim ASF (skeleton) and AMC (motion) files: CMU and HDM05 motion capture in and out.

Skeleton. :func:`read_asf` makes one joint ``root`` plus one joint per bone, placed at the START of its
bone (so ``lfoot`` is the ankle and ``ltoes`` the ball of the foot). A bone's joint is offset from its
parent bone's joint by the parent's ``direction * length``; children of ``root`` sit at the root. ASF
directions are given in world axes, which for VICON/CMU/HDM05 are ours (Y up, the subject faces +Z,
left femur direction has +x, i.e. the subject's left is +X), so no axis change is applied.

Units. ``:units length L`` means file lengths are inches times ``L`` (VICON): metres = value / L *
0.0254, for bone lengths, the root ``position`` and the AMC root translation alike. ``angle deg|rad``
sets the unit of every angle (bone ``axis`` and ``limits``, root ``orientation``, AMC rotations).

Rotations. Each bone has an ``axis a b c ORDER`` frame ``C`` (fixed/extrinsic axes applied in the
listed order: ``R = R_c R_b R_a`` for ``XYZ``) and rotation dofs ``M`` composed in dof order as fixed
axes (``dof rx ry rz`` gives ``Rz Ry Rx``; missing dofs are zero). The Acclaim global rotation of a bone
is ``G = G_parent C M C^T``, so our local rotation is ``L = C M C^T``. The root does the same with the
rotation channels of its ``order`` line and ``C`` from ``orientation`` in its ``axis`` order.

Root translation. The AMC root translation is offset by the ASF root ``position`` (the Acclaim pre-set,
zero in VICON files), giving an absolute root position in metres.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from motiongen.io.atomic import atomic_write_text
from motiongen.errors import InputError
from motiongen.geometry.rotations import euler_to_matrix, matrix_to_euler
from motiongen.motion.motion import Motion
from motiongen.skeleton.registry import ASF_JOINT_SETS, asf_skeleton_with_sets
from motiongen.skeleton.skeleton import Skeleton

PathLike = str | os.PathLike[str]

#: Metres per inch: VICON ASF lengths are inches times the ``:units length`` multiplier.
INCH = 0.0254
ROOT_NAME = "root"
ROTATION_DOFS = ("rx", "ry", "rz")
ROOT_CHANNELS = ("TX", "TY", "TZ", "RX", "RY", "RZ")
AXIS_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
#: Digits written for AMC values: 1e-10 relative, far below the 1e-5 m round-trip tolerance.
_AMC_FORMAT = "%.10g"
#: Stands in for a bone name while parsing a column of AMC lines; no mocap value equals it.
_MARK = -7.25e301


@dataclass(frozen=True, eq=False)
class AsfBone:
    """One ``begin ... end`` block of ``:bonedata``, values as written (file units).

    Attributes:
        name: bone name.
        id: the ``id`` field, or None.
        direction: ``[3]`` bone direction in world axes (as written, not renormalised).
        length: bone length in file length units.
        axis: ``[3]`` angles of the bone frame ``C`` in the file's angle unit.
        axis_order: fixed-axis order of ``axis`` (``"XYZ"``...).
        dof: rotation dofs in file order, each of ``rx``, ``ry``, ``rz``.
        limits: one ``(low, high)`` per dof in the file's angle unit (may be infinite), or empty.
        extra: other lines of the block (``bodymass``, ``cofmass``), tokens kept verbatim.
    """

    name: str
    id: int | None
    direction: np.ndarray
    length: float
    axis: np.ndarray
    axis_order: str = "XYZ"
    dof: tuple[str, ...] = ()
    limits: tuple[tuple[float, float], ...] = ()
    extra: tuple[tuple[str, ...], ...] = ()

    @property
    def dof_axes(self) -> str:
        """The dof axes as upper-case letters in dof order, e.g. ``"XZ"`` for ``dof rx rz``."""
        return "".join(d[1].upper() for d in self.dof)


@dataclass(frozen=True, eq=False)
class AsfRig:
    """A parsed ASF file: the skeleton in our convention plus what AMC conversion and writing need.

    Attributes:
        skeleton: ``root`` plus one joint per bone at the bone's start, offsets in metres (world axes).
            Bones are ordered parents first, keeping the ``:bonedata`` order where it allows.
        bones: ``J - 1`` bones in ``skeleton.joint_names[1:]`` order.
        axes: ``[J, 3, 3]`` bone frames ``C`` (index 0: the root's, from ``orientation``).
        length_unit: the ``:units length`` multiplier (file lengths are inches times it).
        mass_unit: the ``:units mass`` multiplier (kept for writing; no mass is used).
        angle_unit: ``"deg"`` or ``"rad"``.
        root_order: AMC channels of the root in file order, e.g. ``("TX", "TY", "TZ", "RX", "RY", "RZ")``.
        root_axis: fixed-axis order of ``root_orientation``.
        root_position: ``[3]`` root pre-set position in file length units.
        root_orientation: ``[3]`` root pre-set orientation angles in the file's angle unit.
        version, name: ``:version`` and ``:name`` values.
        documentation: the ``:documentation`` lines, verbatim.
        other_lines: lines of sections this reader does not interpret (e.g. ``:skin``), for writing back.
        path: the file read, if any.
    """

    skeleton: Skeleton
    bones: tuple[AsfBone, ...]
    axes: np.ndarray
    length_unit: float = 1.0
    mass_unit: float = 1.0
    angle_unit: str = "deg"
    root_order: tuple[str, ...] = ROOT_CHANNELS
    root_axis: str = "XYZ"
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    root_orientation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    version: str = "1.10"
    name: str = "VICON"
    documentation: tuple[str, ...] = ()
    other_lines: tuple[str, ...] = ()
    path: str | None = None

    @property
    def length_scale(self) -> float:
        """Metres per file length unit: ``0.0254 / length_unit``."""
        return INCH / self.length_unit

    @property
    def degrees(self) -> bool:
        return self.angle_unit == "deg"

    @property
    def dof(self) -> dict[str, tuple[str, ...]]:
        """Rotation dofs per bone name (bones without dofs map to ``()``)."""
        return {b.name: b.dof for b in self.bones}

    @property
    def limits(self) -> dict[str, tuple[tuple[float, float], ...]]:
        """``(low, high)`` per dof per bone name, in the file's angle unit."""
        return {b.name: b.limits for b in self.bones}

    def bone(self, name: str) -> AsfBone:
        for b in self.bones:
            if b.name == name:
                return b
        raise InputError(f"no bone '{name}'; bones: {', '.join(b.name for b in self.bones)}", path=self.path, field="bone")

    def bone_vectors(self) -> np.ndarray:
        """``[J, 3]`` each joint's bone ``direction * length`` in metres (rest, world axes; root zero).

        A joint's bone ends at ``p_j + G_j @ bone_vectors[j]``: the tips of leaf bones (head top, toe
        tips, fingers), which are not joints, are found this way.
        """
        out = np.zeros((len(self.bones) + 1, 3))
        for j, b in enumerate(self.bones, start=1):
            out[j] = b.direction * b.length * self.length_scale
        return out


# --------------------------------------------------------------------------------------------------
# reading


def read_asf(path: PathLike) -> AsfRig:
    """Parse an Acclaim skeleton file into an :class:`AsfRig` (see the module docstring).

    Raises :class:`InputError` naming the file and 1-based line for malformed input: a missing
    ``:bonedata`` or ``:hierarchy``, a bone in ``:hierarchy`` that ``:bonedata`` does not define, a bone
    without a parent, bad numbers, unknown dofs or axis orders.
    """
    path = Path(path)
    return _AsfParser(path, _read_text(path)).parse()


def read_amc(amc_path: PathLike, asf: AsfRig | PathLike | None = None, *, fps: float = 120.0) -> Motion:
    """Read an AMC motion on its ASF skeleton into a :class:`Motion` (``[T, J, 3, 3]``, metres).

    Args:
        amc_path: the ``.amc`` file.
        asf: its skeleton, as an :class:`AsfRig` (read once, reuse it for many files) or an ``.asf`` path.
            None raises :class:`InputError` ("AMC without ASF"): an AMC file cannot be read alone.
        fps: frame rate (AMC files do not record it; CMU and HDM05 are 120).

    Every frame must list the same bones in the same order as the first frame (bones it never
    lists stay at identity). Wrong value counts, unknown bones, non-numeric or non-finite values and
    truncated files raise :class:`InputError` naming the file and 1-based line.
    """
    path = Path(amc_path)
    if asf is None:
        raise InputError("AMC without ASF: pass the skeleton's .asf file (or its AsfRig) to read this motion", path=path, field="asf")
    rig = asf if isinstance(asf, AsfRig) else read_asf(asf)
    if not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps}", field="fps")
    lines = _read_text(path).split("\n")
    count, values = _AmcParser(path, lines, rig).parse()
    rotations, translation = _amc_values_to_pose(values, count, rig)
    return Motion(
        local_rotations=rotations,
        root_translation=translation,
        fps=fps,
        skeleton=rig.skeleton,
        meta={"source": str(path), "format": "amc", "asf": rig.path},
    )


def find_asf(amc_path: PathLike) -> Path:
    """The ASF of an AMC file, found by name: the ``.asf`` in the AMC's folder or a sibling ``asf/``
    folder whose stem is the longest prefix of the AMC's stem followed by ``_`` (CMU ``02_01 - walk.amc``
    -> ``02.asf``; HDM05 ``HDM_bd_sneak_001_120.amc`` -> ``HDM_bd.asf``).

    Raises :class:`InputError` ("AMC without ASF") when there is none (e.g. CMU subject 35).
    """
    path = Path(amc_path)
    folders = [path.parent, path.parent.parent / "asf"]
    best: Path | None = None
    for folder in folders:
        if not folder.is_dir():
            continue
        for candidate in folder.iterdir():
            if candidate.suffix.lower() != ".asf" or not path.stem.startswith(candidate.stem + "_"):
                continue
            if best is None or len(candidate.stem) > len(best.stem):
                best = candidate
    if best is None:
        looked = ", ".join(str(f) for f in folders)
        raise InputError(f"AMC without ASF: no '<subject>.asf' matching this file in {looked}", path=path, field="asf")
    return best


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError("file not found", path=path)
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # VICON headers carry Windows paths in a legacy code page (HDM05: "f\xfcr Bonn")
        return raw.decode("latin-1")


def _tokens(line: str) -> list[str]:
    """Tokens of an ASF line: comments dropped, commas and parentheses are whitespace (Acclaim spec)."""
    line = line.split("#", 1)[0]
    return line.replace(",", " ").replace("(", " ").replace(")", " ").split()


class _AsfParser:
    """Line-by-line ASF state machine; keeps the 1-based line of everything it may report."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.split("\n")
        self.units = {"mass": 1.0, "length": 1.0, "angle": "deg"}
        self.root: dict[str, Any] = {}
        self.bones: list[dict[str, Any]] = []
        self.bone_lines: dict[str, int] = {}
        self.parent_of: dict[str, str] = {}
        self.children: list[tuple[str, str, int]] = []  # (parent, child, line) in file order
        self.sections: dict[str, int] = {}
        self.header = {"version": "1.10", "name": "VICON"}
        self.documentation: list[str] = []
        self.other_lines: list[str] = []

    def error(self, message: str, line: int, field: str | None = None) -> InputError:
        return InputError(message, path=self.path, line=line, field=field)

    def floats(self, toks: list[str], count: int, line: int, what: str, allow_inf: bool = False) -> list[float]:
        if len(toks) != count:
            raise self.error(f"'{what}' needs {count} number(s), got {len(toks)}: {' '.join(toks) or '(none)'}", line, what)
        out = []
        for tok in toks:
            value = _parse_float(tok)
            if value is None or np.isnan(value) or (np.isinf(value) and not allow_inf):
                allowed = "numbers (inf allowed)" if allow_inf else "finite numbers"
                raise self.error(f"'{what}' value '{tok}' is not a number; allowed: {allowed}", line, what)
            out.append(value)
        return out

    def parse(self) -> AsfRig:
        section = None
        bone: dict[str, Any] | None = None
        in_hierarchy = False
        for ln, raw in enumerate(self.lines, start=1):
            stripped = raw.strip()
            if section == "documentation" and not stripped.startswith(":"):
                self.documentation.append(raw.rstrip("\r"))
                continue
            toks = _tokens(raw)
            if not toks:
                continue
            if toks[0].startswith(":"):
                if bone is not None:
                    raise self.error(f"bone block opened at line {bone['line']} has no 'end'", ln)
                key = toks[0][1:].lower()
                self.sections[key] = ln
                section = key
                if key in ("version", "name"):
                    self.header[key] = " ".join(toks[1:])
                elif key not in ("units", "documentation", "root", "bonedata", "hierarchy"):
                    section = "other"
                    self.other_lines.append(stripped)
                continue
            if section == "units":
                self.parse_unit(toks, ln)
            elif section == "root":
                self.parse_root(toks, ln)
            elif section == "bonedata":
                bone = self.parse_bone_line(toks, ln, bone)
            elif section == "hierarchy":
                in_hierarchy = self.parse_hierarchy_line(toks, ln, in_hierarchy)
            elif section == "other":
                self.other_lines.append(stripped)
            else:
                raise self.error(f"'{stripped}' outside any section; expected a keyword such as :units, :root, :bonedata", ln)
        end = _last_line_number(self.lines)
        if bone is not None:
            raise self.error(f"file ends inside the bone block opened at line {bone['line']} (truncated?)", end)
        for key in ("bonedata", "hierarchy"):
            if key not in self.sections:
                raise self.error(f"no :{key} section (an ASF needs :bonedata and :hierarchy)", end, key)
        return self.build()

    def parse_unit(self, toks: list[str], ln: int) -> None:
        key = toks[0].lower()
        if key == "angle":
            unit = {"deg": "deg", "degree": "deg", "degrees": "deg", "rad": "rad", "radian": "rad", "radians": "rad"}.get(
                toks[1].lower() if len(toks) == 2 else ""
            )
            if unit is None:
                raise self.error(f"angle unit '{' '.join(toks[1:])}'; allowed: deg, rad", ln, "angle")
            self.units["angle"] = unit
        elif key in ("mass", "length"):
            value = self.floats(toks[1:], 1, ln, key)[0]
            if value <= 0:
                raise self.error(f"{key} unit must be > 0, got {value}", ln, key)
            self.units[key] = value
        else:
            raise self.error(f"unknown unit '{toks[0]}'; allowed: mass, length, angle", ln, "units")

    def parse_root(self, toks: list[str], ln: int) -> None:
        key = toks[0].lower()
        if key == "order":
            order = tuple(t.upper() for t in toks[1:])
            if any(c not in ROOT_CHANNELS for c in order) or len(set(order)) != len(order):
                raise self.error(f"root order '{' '.join(toks[1:])}'; allowed: distinct channels of {' '.join(ROOT_CHANNELS)}", ln, "order")
            self.root["order"] = order
        elif key == "axis":
            self.root["axis"] = self.axis_order(toks[1:], ln)
        elif key in ("position", "orientation"):
            self.root[key] = self.floats(toks[1:], 3, ln, key)
        else:
            raise self.error(f"unknown root field '{toks[0]}'; allowed: order, axis, position, orientation", ln, "root")

    def axis_order(self, toks: list[str], ln: int) -> str:
        order = toks[0].upper() if len(toks) == 1 else ""
        if order not in AXIS_ORDERS:
            raise self.error(f"axis order '{' '.join(toks)}'; allowed: {', '.join(AXIS_ORDERS)}", ln, "axis")
        return order

    def parse_bone_line(self, toks: list[str], ln: int, bone: dict[str, Any] | None) -> dict[str, Any] | None:
        key = toks[0].lower()
        if key == "begin":
            if bone is not None:
                raise self.error(f"'begin' inside the bone block opened at line {bone['line']} (missing 'end')", ln)
            return {"line": ln, "extra": [], "limits": []}
        if bone is None:
            raise self.error(f"'{toks[0]}' outside a bone block; expected 'begin'", ln)
        if key == "end":
            self.finish_bone(bone, ln)
            return None
        if key == "id":
            if len(toks) != 2 or not toks[1].lstrip("+-").isdigit():
                raise self.error(f"bone id '{' '.join(toks[1:])}' is not an integer", ln, "id")
            bone["id"] = int(toks[1])
        elif key == "name":
            if len(toks) != 2:
                raise self.error(f"bone name must be one word, got '{' '.join(toks[1:])}'", ln, "name")
            bone["name"] = toks[1]
        elif key == "direction":
            bone["direction"] = self.floats(toks[1:], 3, ln, "direction")
        elif key == "length":
            bone["length"] = self.floats(toks[1:], 1, ln, "length")[0]
        elif key == "axis":
            bone["axis"] = self.floats(toks[1:4], 3, ln, "axis")
            bone["axis_order"] = self.axis_order(toks[4:], ln)
        elif key == "dof":
            dofs = tuple(t.lower() for t in toks[1:])
            bad = [d for d in dofs if d not in ROTATION_DOFS]
            if bad or len(set(dofs)) != len(dofs):
                raise self.error(
                    f"dof {' '.join(toks[1:])}: only distinct rotation dofs are supported; allowed: {', '.join(ROTATION_DOFS)}", ln, "dof"
                )
            bone["dof"] = dofs
        elif key == "limits":
            bone["limits"].append(tuple(self.floats(toks[1:], 2, ln, "limits", allow_inf=True)))
            bone["in_limits"] = True
            return bone
        elif bone.get("in_limits") and _parse_float(toks[0]) is not None:
            # continuation lines of a multi-dof "limits" entry: "(low high)"
            bone["limits"].append(tuple(self.floats(toks, 2, ln, "limits", allow_inf=True)))
            return bone
        elif _parse_float(toks[0]) is not None:
            raise self.error(f"numbers '{' '.join(toks)}' without a field name (limits continue only right after 'limits')", ln)
        else:
            bone["extra"].append(tuple(toks))  # bodymass, cofmass: kept for writing back
        bone["in_limits"] = False
        return bone

    def finish_bone(self, bone: dict[str, Any], ln: int) -> None:
        start = int(bone["line"])
        for key in ("name", "direction", "length"):
            if key not in bone:
                raise self.error(f"bone block (lines {start}-{ln}) has no '{key}'", ln, key)
        name = str(bone["name"])
        if name == ROOT_NAME or name in self.bone_lines:
            raise self.error(f"bone name '{name}' is used twice (or is the reserved name '{ROOT_NAME}')", start, "name")
        dof = tuple(bone.get("dof", ()))
        limits = tuple(bone["limits"])
        if limits and len(limits) != len(dof):
            raise self.error(f"bone '{name}' has {len(dof)} dof(s) but {len(limits)} limit pair(s)", ln, "limits")
        self.bone_lines[name] = start
        self.bones.append(
            {
                "bone": AsfBone(
                    name=name,
                    id=bone.get("id"),
                    direction=np.asarray(bone["direction"], dtype=np.float64),
                    length=float(bone["length"]),
                    axis=np.asarray(bone.get("axis", [0.0, 0.0, 0.0]), dtype=np.float64),
                    axis_order=str(bone.get("axis_order", "XYZ")),
                    dof=dof,
                    limits=limits,
                    extra=tuple(bone["extra"]),
                ),
                "line": start,
            }
        )

    def parse_hierarchy_line(self, toks: list[str], ln: int, inside: bool) -> bool:
        key = toks[0].lower()
        if key == "begin" and len(toks) == 1:
            return True
        if key == "end" and len(toks) == 1:
            return False
        if not inside:
            raise self.error(f"'{' '.join(toks)}' in :hierarchy outside 'begin ... end'", ln, "hierarchy")
        if len(toks) < 2:
            raise self.error(f"hierarchy line '{toks[0]}' names no children", ln, "hierarchy")
        parent, kids = toks[0], toks[1:]
        for name in [parent, *kids]:
            if name != ROOT_NAME and name not in self.bone_lines:
                raise self.error(
                    f"bone '{name}' in :hierarchy is not defined in :bonedata; defined: {', '.join(self.bone_lines) or 'none'}", ln, "hierarchy"
                )
        for kid in kids:
            if kid == ROOT_NAME or kid in self.parent_of:
                raise self.error(f"bone '{kid}' is given a parent twice (or is the root)", ln, "hierarchy")
            self.parent_of[kid] = parent
            self.children.append((parent, kid, ln))
        return True

    def build(self) -> AsfRig:
        bones = {b["bone"].name: b for b in self.bones}
        for name, entry in bones.items():
            if name not in self.parent_of:
                raise self.error(f"bone '{name}' is not attached in :hierarchy", entry["line"], "hierarchy")
        # stable topological order: keep the :bonedata order wherever parents already come first
        placed: dict[str, int] = {ROOT_NAME: 0}
        order: list[str] = []
        pending = [b["bone"].name for b in self.bones]
        while pending:
            for n in pending:
                if self.parent_of[n] in placed:
                    placed[n] = len(placed)
                    order.append(n)
            if len(order) + len(pending) == len(self.bones):  # nothing placed in this pass
                line = min(ln for _, kid, ln in self.children if kid in pending)
                raise self.error(f"bones {pending} form a cycle not connected to '{ROOT_NAME}'", line, "hierarchy")
            pending = [n for n in pending if n not in placed]
        ordered = tuple(bones[n]["bone"] for n in order)
        angle = str(self.units["angle"])
        scale = INCH / float(self.units["length"])
        position = np.asarray(self.root.get("position", [0.0, 0.0, 0.0]), dtype=np.float64)
        orientation = np.asarray(self.root.get("orientation", [0.0, 0.0, 0.0]), dtype=np.float64)
        root_axis = str(self.root.get("axis", "XYZ"))
        by_name = {b.name: b for b in ordered}
        offsets = np.zeros((len(ordered) + 1, 3))
        offsets[0] = position * scale
        parents = [-1]
        for j, b in enumerate(ordered, start=1):
            parent = self.parent_of[b.name]
            parents.append(placed[parent])
            if parent != ROOT_NAME:
                offsets[j] = by_name[parent].direction * by_name[parent].length * scale
        angles = np.stack([orientation] + [b.axis for b in ordered])
        orders = [root_axis] + [b.axis_order for b in ordered]
        axes = np.stack([euler_to_matrix(a, o, degrees=angle == "deg", intrinsic=False) for a, o in zip(angles, orders)])
        names = (ROOT_NAME,) + tuple(order)
        skeleton = Skeleton(name=self.path.stem, joint_names=names, parents=tuple(parents), offsets=offsets)
        if all(n in names for group in ASF_JOINT_SETS.values() for n in group):
            # VICON bone names: the registry's joint sets and l/r mirror map apply
            skeleton = asf_skeleton_with_sets(skeleton, self.path.stem)
        return AsfRig(
            skeleton=skeleton,
            bones=ordered,
            axes=axes,
            length_unit=float(self.units["length"]),
            mass_unit=float(self.units["mass"]),
            angle_unit=angle,
            root_order=tuple(self.root.get("order", ROOT_CHANNELS)),
            root_axis=root_axis,
            root_position=position,
            root_orientation=orientation,
            version=self.header["version"],
            name=self.header["name"],
            documentation=tuple(self.documentation),
            other_lines=tuple(self.other_lines),
            path=str(self.path),
        )


def _last_line_number(lines: list[str]) -> int:
    """1-based number of the last line of a text split on newlines (a final newline ends it)."""
    return max(len(lines) - (1 if len(lines) > 1 and lines[-1] == "" else 0), 1)


def _parse_float(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


class _AmcParser:
    """AMC frames to one ``[T, n]`` value array per bone line of a frame.

    The fast path reads the file column by column (every frame lists the same bones in the same
    order): the lines of one bone are joined and parsed by numpy at C speed, with each line's name
    replaced by a marker value so that line boundaries and value counts are checked exactly. If
    anything does not fit, a line-by-line pass finds the first faulty line (or parses an irregular
    but valid file, e.g. tab-separated).
    """

    def __init__(self, path: Path, lines: list[str], rig: AsfRig) -> None:
        self.path = path
        self.lines = lines
        self.rig = rig
        self.counts = {ROOT_NAME: len(rig.root_order)} | {b.name: len(b.dof) for b in rig.bones}

    def error(self, message: str, index: int, field: str | None = None) -> InputError:
        return InputError(message, path=self.path, line=index + 1, field=field)

    def parse(self) -> tuple[int, dict[str, np.ndarray]]:
        """Frame count and ``{bone: [T, n] values}`` for the bones the frames list."""
        lines = self.lines
        start = self.header_end()
        end = len(lines)
        while end > start and not lines[end - 1].strip():
            end -= 1
        if start >= end:
            raise self.error("no frames: the file has no motion data after its header (empty or truncated)", _last_line_number(lines) - 1)
        layout = self.first_frame_layout(start, end)
        values = self.fast(start, end, layout)
        if values is None:
            values = self.slow(start, end, layout)
        return (end - start) // (len(layout) + 1), values

    def header_end(self) -> int:
        """Index of the first data line; checks a ``:DEGREES``/``:RADIANS`` header against the ASF."""
        for i, line in enumerate(self.lines):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if not s.startswith(":"):
                return i
            unit = {":DEGREES": "deg", ":RADIANS": "rad"}.get(s.upper())
            if unit is not None and unit != self.rig.angle_unit:
                raise self.error(f"the AMC says {s} but its ASF has 'angle {self.rig.angle_unit}'", i, "angle")
        return len(self.lines)

    def first_frame_layout(self, start: int, end: int) -> list[tuple[str, int]]:
        """``(bone, value count)`` per line of the first frame, validated against the ASF."""
        self.frame_number(start)
        layout: list[tuple[str, int]] = []
        i = start + 1
        while i < end and not _is_frame_line(self.lines[i]):
            toks = self.lines[i].split()
            if not toks:
                raise self.error("blank line inside a frame", i)
            name = toks[0]
            if name not in self.counts:
                known = ", ".join(self.counts)
                raise self.error(f"unknown bone '{name}' (not in the ASF {self.rig.path}); known: {known}", i, "bone")
            if any(name == n for n, _ in layout):
                raise self.error(f"bone '{name}' appears twice in frame {self.lines[start].strip()}", i, "bone")
            self.check_count(name, len(toks) - 1, i)
            layout.append((name, len(toks) - 1))
            i += 1
        return layout

    def frame_number(self, index: int) -> int:
        toks = self.lines[index].split()
        if len(toks) != 1 or not toks[0].isdigit():
            raise self.error(f"expected a frame number, found '{self.lines[index].strip()}'", index, "frame")
        return int(toks[0])

    def check_count(self, name: str, count: int, index: int) -> None:
        expected = self.counts[name]
        if count != expected:
            dofs = " ".join(self.rig.root_order) if name == ROOT_NAME else " ".join(self.rig.dof[name]) or "none"
            raise self.error(f"bone '{name}' has {count} value(s); its ASF dofs ({dofs}) need {expected}", index, name)

    def fast(self, start: int, end: int, layout: list[tuple[str, int]]) -> dict[str, np.ndarray] | None:
        stride = len(layout) + 1
        if (end - start) % stride:
            return None
        frames = self.lines[start:end:stride]
        count = len(frames)
        if not all(map(str.isdigit, map(str.strip, frames))):
            return None
        numbers = np.array([int(f) for f in frames])
        if np.any(np.diff(numbers) != 1):
            return None
        out: dict[str, np.ndarray] = {}
        for slot, (name, n) in enumerate(layout, start=1):
            column = "\n" + "\n".join(self.lines[start + slot : end : stride])
            marked = column.replace("\n" + name + " ", f"\n{_MARK!r} ")
            if n == 0:
                if any(line.split() != [name] for line in self.lines[start + slot : end : stride]):
                    return None
                out[name] = np.zeros((count, 0))
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    flat = np.fromstring(marked, sep=" ")
            except (ValueError, DeprecationWarning):
                return None
            if flat.size != count * (n + 1):
                return None
            table = flat.reshape(count, n + 1)
            if not (table[:, 0] == _MARK).all() or np.count_nonzero(flat == _MARK) != count:
                return None
            if not np.isfinite(table[:, 1:]).all():
                return None
            out[name] = table[:, 1:]
        return out

    def slow(self, start: int, end: int, layout: list[tuple[str, int]]) -> dict[str, np.ndarray]:
        rows: dict[str, list[list[float]]] = {name: [] for name, _ in layout}
        i = start
        previous = None
        while i < end:
            number = self.frame_number(i)
            if previous is not None and number != previous + 1:
                raise self.error(f"frame {number} follows frame {previous}; frames must count up by 1", i, "frame")
            previous = number
            for slot, (name, n) in enumerate(layout, start=1):
                k = i + slot
                if k >= end:
                    raise self.error(f"file ends inside frame {number} after {slot - 1} of {len(layout)} bone lines (truncated?)", end - 1)
                toks = self.lines[k].split()
                if _is_frame_line(self.lines[k]):
                    raise self.error(f"frame {number} has {slot - 1} bone lines; the first frame (line {start + 1}) has {len(layout)}", k, "frame")
                if not toks or toks[0] != name:
                    found = toks[0] if toks else "(blank line)"
                    if toks and toks[0] not in self.counts:
                        raise self.error(f"unknown bone '{found}' (not in the ASF {self.rig.path}); known: {', '.join(self.counts)}", k, "bone")
                    raise self.error(
                        f"expected bone '{name}' here (every frame lists bones in the order of the first frame, line {start + 1}), found '{found}'", k, "bone"
                    )
                self.check_count(name, len(toks) - 1, k)
                vals = []
                for tok in toks[1:]:
                    value = _parse_float(tok)
                    if value is None or not np.isfinite(value):
                        raise self.error(f"bone '{name}' value '{tok}' is not a finite number", k, name)
                    vals.append(value)
                rows[name].append(vals)
            i += len(layout) + 1
        return {name: np.asarray(r, dtype=np.float64).reshape(len(r), n) for (name, n), r in zip(layout, rows.values())}


def _is_frame_line(line: str) -> bool:
    toks = line.split()
    return len(toks) == 1 and toks[0].isdigit()


def _full_order(axes: str) -> str:
    """A three-axis order starting with ``axes`` (dof order), the unused axes appended."""
    return axes + "".join(a for a in "XYZ" if a not in axes)


def _batched_by_order(
    items: list[tuple[np.ndarray, str]], convert: Callable[[np.ndarray, str], np.ndarray]
) -> list[np.ndarray]:
    """``convert(stacked, order)`` once per distinct three-axis order, results split back per item.

    Each item is ``(array [T, ...], dof axes)``; items whose axes extend to the same full order (see
    :func:`_full_order`) are stacked along their first axis. Batching matters: every rotation call
    crosses into torch, whose per-call cost (thread wake-ups on a busy machine) dwarfs the maths.
    """
    groups: dict[str, list[int]] = {}
    for i, (_, axes) in enumerate(items):
        groups.setdefault(_full_order(axes), []).append(i)
    out: list[np.ndarray] = [np.empty(0)] * len(items)
    for order, members in groups.items():
        result = convert(np.concatenate([items[i][0] for i in members]), order)
        bounds = np.cumsum([0] + [len(items[i][0]) for i in members])
        for i, low, high in zip(members, bounds[:-1], bounds[1:]):
            out[i] = result[low:high]
    return out


def _dofs_to_matrices(items: list[tuple[np.ndarray, str]], degrees: bool) -> list[np.ndarray]:
    """``M [T, 3, 3]`` per ``([T, k] dof angles, axes)``: fixed axes in dof order, first applied first."""
    padded = []
    for angles, axes in items:
        full = np.zeros((angles.shape[0], 3))
        full[:, : len(axes)] = angles  # missing dofs are zero
        padded.append((full, axes))
    return _batched_by_order(padded, lambda a, order: euler_to_matrix(a, order, degrees=degrees, intrinsic=False))


def _matrices_to_dofs(items: list[tuple[np.ndarray, str]], degrees: bool) -> list[np.ndarray]:
    """``[T, k]`` dof angles per ``(M [T, 3, 3], axes)``, the inverse of :func:`_dofs_to_matrices`
    for rotations about the dof axes only (the angles of missing dofs are dropped)."""
    angles = _batched_by_order(items, lambda m, order: matrix_to_euler(m, order, degrees=degrees, intrinsic=False))
    return [a[:, : len(axes)] for a, (_, axes) in zip(angles, items)]


def _root_rotation_axes(rig: AsfRig) -> tuple[str, list[int]]:
    """The root's rotation axes in channel order and their value columns."""
    cols = [k for k, c in enumerate(rig.root_order) if c.startswith("R")]
    return "".join(rig.root_order[k][1] for k in cols), cols


def _amc_values_to_pose(values: dict[str, np.ndarray], count: int, rig: AsfRig) -> tuple[np.ndarray, np.ndarray]:
    """Per-bone AMC values ``{bone: [T, n]}`` to local rotations ``[T, J, 3, 3]`` and root translation ``[T, 3]`` (metres)."""
    joints = rig.skeleton.joint_names
    rotations = np.broadcast_to(np.eye(3), (count, len(joints), 3, 3)).copy()
    translation = np.broadcast_to(rig.root_position * rig.length_scale, (count, 3)).copy()
    dofs: list[tuple[int, np.ndarray, str]] = []  # (joint, [T, k] angles, axes)
    if ROOT_NAME in values:
        root = values[ROOT_NAME]
        for k, channel in enumerate(rig.root_order):
            if channel.startswith("T"):
                translation[:, "XYZ".index(channel[1])] += root[:, k] * rig.length_scale
        axes, cols = _root_rotation_axes(rig)
        dofs.append((0, root[:, cols], axes))
    for j, bone in enumerate(rig.bones, start=1):
        if bone.name in values and bone.dof:
            dofs.append((j, values[bone.name], bone.dof_axes))
    matrices = _dofs_to_matrices([(angles, axes) for _, angles, axes in dofs], rig.degrees)
    for (j, _, _), m in zip(dofs, matrices):
        rotations[:, j] = _conjugate(rig.axes[j], m)
    return rotations, translation


def _conjugate(c: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``C M C^T`` for a frame ``C [3, 3]`` and rotations ``M [T, 3, 3]``."""
    # two flat [3T, 3] x [3, 3] products: numpy's broadcast matmul over T small matrices is far slower
    right = (m.reshape(-1, 3) @ c.T).reshape(m.shape)
    return (right.transpose(0, 2, 1).reshape(-1, 3) @ c.T).reshape(m.shape).transpose(0, 2, 1)


# --------------------------------------------------------------------------------------------------
# writing


def write_asf(rig: AsfRig, path: PathLike) -> None:
    """Write ``rig`` as an ASF file (its own units and values, bones in skeleton order), atomically.

    Numbers are written with full precision, so :func:`read_asf` gives back the same skeleton.
    """
    path = Path(path)
    fmt = _format_number
    out = ["# ASF written by motiongen", f":version {rig.version}", f":name {rig.name}", ":units"]
    out += [f"  mass {fmt(rig.mass_unit)}", f"  length {fmt(rig.length_unit)}", f"  angle {rig.angle_unit}"]
    out += [":documentation", *rig.documentation]
    out += [
        ":root",
        f"   order {' '.join(rig.root_order)}",
        f"   axis {rig.root_axis}",
        f"   position {' '.join(map(fmt, rig.root_position))}",
        f"   orientation {' '.join(map(fmt, rig.root_orientation))}",
        ":bonedata",
    ]
    for bone in rig.bones:
        out += ["  begin"]
        if bone.id is not None:
            out += [f"     id {bone.id}"]
        out += [
            f"     name {bone.name}",
            f"     direction {' '.join(map(fmt, bone.direction))}",
            f"     length {fmt(bone.length)}",
            f"     axis {' '.join(map(fmt, bone.axis))} {bone.axis_order}",
        ]
        if bone.dof:
            out += [f"     dof {' '.join(bone.dof)}"]
        for k, (low, high) in enumerate(bone.limits):
            out += [f"     {'limits' if k == 0 else '      '} ({fmt(low)} {fmt(high)})"]
        out += ["     " + " ".join(toks) for toks in bone.extra]
        out += ["  end"]
    out += [":hierarchy", "  begin"]
    names = rig.skeleton.joint_names
    for j, kids in enumerate(rig.skeleton.children):
        if kids:
            out += [f"    {names[j]} {' '.join(names[k] for k in kids)}"]
    out += ["  end", *rig.other_lines]
    _write_text(path, "\n".join(out) + "\n")


def write_amc(motion: Motion, rig: AsfRig, path: PathLike) -> None:
    """Write ``motion`` as an AMC file on ``rig`` (the inverse of :func:`read_amc`), atomically.

    Each bone's ``M = C^T L C`` is written as Euler angles in its dof order; bones with fewer than three
    dofs write only those, so the file reproduces the motion exactly only when the motion respects
    the dofs (as any motion read from an AMC does). The root translation is written in file units,
    less the ASF root ``position``. Lines are ``root`` then the bones with dofs, in skeleton order.
    AMC has no frame-rate field: ``motion.fps`` is not stored (pass it to :func:`read_amc`).
    """
    path = Path(path)
    names = rig.skeleton.joint_names
    if motion.skeleton.joint_names != names:
        raise InputError(
            f"motion skeleton '{motion.skeleton.name}' has joints {list(motion.skeleton.joint_names)}; the ASF rig needs {list(names)}",
            path=path,
            field="skeleton",
        )
    if motion.joint_translations is not None and not np.isnan(motion.joint_translations).all():
        raise InputError("AMC cannot store per-joint translations; fold them into the skeleton first", path=path, field="joint_translations")
    rot = motion.local_rotations
    axes, cols = _root_rotation_axes(rig)
    lines = [(0, ROOT_NAME, axes)] + [(j, b.name, b.dof_axes) for j, b in enumerate(rig.bones, start=1) if b.dof]
    # M = C^T L C, the inverse of L = C M C^T
    angles = _matrices_to_dofs([(_conjugate(rig.axes[j].T, rot[:, j]), ax) for j, _, ax in lines], rig.degrees)
    root = np.zeros((motion.num_frames, len(rig.root_order)))
    root[:, cols] = angles[0]
    translation = motion.root_translation / rig.length_scale - rig.root_position
    for k, channel in enumerate(rig.root_order):
        if channel.startswith("T"):
            root[:, k] = translation[:, "XYZ".index(channel[1])]
    columns = [root] + angles[1:]
    template = ["%d"] + [" ".join([name] + [_AMC_FORMAT] * col.shape[1]) for (_, name, _), col in zip(lines, columns)]
    frame = "\n".join(template) + "\n"
    table = np.concatenate([np.arange(1, motion.num_frames + 1)[:, None]] + columns, axis=1)
    header = f"# AMC written by motiongen\n:FULLY-SPECIFIED\n{':DEGREES' if rig.degrees else ':RADIANS'}\n"
    body = "".join(frame % (int(row[0]), *row[1:]) for row in table)
    _write_text(path, header + body)


def _format_number(value: float) -> str:
    """Shortest text that reads back as the same float (``-inf``/``inf`` for open limits)."""
    value = float(value)
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _write_text(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        raise InputError("output folder does not exist", path=path)
    atomic_write_text(path, text, make_parents=False)
