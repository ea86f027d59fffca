"""The viewer's manifest protocol: what ``motiongen view ROOT`` plays and how it draws it.

A viewer folder ``ROOT`` holds

* ``ROOT/_manifest.json``: panels, cases and everything the page needs besides the motions;
* ``ROOT/_captions.json``: ``{case_id: [caption, ...]}`` (the captions again, for tools that want
  only them);
* one folder per panel (``gt/``, ``condition/``, ``generated/``, ``generated_native/``, or ``.`` for
  loose files) with one ``<case_id>.npz`` per case, in KIMODO's 7-key layout
  (:mod:`motiongen.io.kimodo_npz`; the rig in ``motiongen_skeleton``). ``.bvh`` files are read too.

The manifest (``format`` :data:`MANIFEST_FORMAT`, ``version`` :data:`MANIFEST_VERSION`)::

    {"format": "motiongen-viewer", "version": 1, "title": "...", "fps": 30.0,
     "units": "m", "up": "+y", "forward": "+z",
     "panels": [{"name": "gt", "role": "reference", "color": "#4f8ef7", "folder": "gt", "label": "..."}, ...],
     "overlay_colors": {"root_path": "#ff2fd0", ...},
     "cases": [{
        "id": "sample_00", "captions": ["a person walks."], "task": "constraints", "num_frames": 150,
        "files": {"generated": "generated/sample_00.npz", "condition": "condition/sample_00.npz"},
        "segments": [[0, 150, "a person walks."]],
        "frame_semantics": {"constrained": [[0, 1], [60, 61]], "keyframes": [0, 60],
                            "endpoints": [0], "continuous": []},
        "condition_overlays": {
            "root_trajectory": {"frames": [...], "points": [[x, z], ...], "dense": false},
            "joint_targets": [{"joint": "right_wrist", "chain": "RightHand", "frames": [...],
                               "positions": [[x, y, z], ...]}],
            "keyframes": [0, 60]},
        "panel_visible_ranges": {"condition": [[0, 1], [60, 61]]},
        "missing_panels": {"gt": "generated from text: there is no ground-truth motion"},
        "diagnostics": {"continuity": {...}, "constraint_error": {...}}}]}

Frame ranges are half-open ``[start, stop)`` lists; frames are 0-based at ``fps``. Every panel of
``panels`` is, for each case, either in ``files`` or in ``missing_panels`` with the reason.
Panel roles: ``reference`` (ground truth), ``condition`` (the constrained poses, shown only on
``panel_visible_ranges``), ``generated``, ``generated_native`` (the model's own rig, before
retargeting). Coordinates are our world's: Y up, +Z forward, metres.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError

MANIFEST_NAME = "_manifest.json"
CAPTIONS_NAME = "_captions.json"
MANIFEST_FORMAT = "motiongen-viewer"
MANIFEST_VERSION = 1
#: Folder of per-case KIMODO ``constraints.json`` files that ``viz manifest`` reads (``<case>.json``).
CONSTRAINTS_FOLDER = "constraints"
PANEL_ROLES = ("reference", "condition", "generated", "generated_native")
MOTION_SUFFIXES = (".npz", ".bvh")
FPS = 30.0
#: A run of at least this many consecutive constrained frames is continuous control, not keyframes.
CONTINUOUS_MIN_FRAMES = 3

CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

#: Colours of the overlays (flat, unlit on the page, so a screenshot shows them exactly).
OVERLAY_COLORS = {
    "root_path": "#ff2fd0",
    "root_start": "#22c55e",
    "root_end": "#ef4444",
    "cursor": "#ffd400",
    "joint_target": "#00c8ff",
    "keyframe": "#ffd400",
}
#: Colours for panels found in folders the protocol does not name.
EXTRA_PANEL_COLORS = ("#a855f7", "#14b8a6", "#f97316", "#64748b", "#eab308", "#ec4899")


@dataclass(frozen=True)
class Panel:
    """One column of the viewer: a role, a colour and the folder its ``<case>.npz`` files are in."""

    name: str
    role: str
    color: str
    folder: str
    label: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role, "color": self.color, "folder": self.folder,
                "label": self.label or self.name}


DEFAULT_PANELS = (
    Panel("gt", "reference", "#4f8ef7", "gt", "ground truth"),
    Panel("condition", "condition", "#f5a623", "condition", "condition"),
    Panel("generated", "generated", "#e4572e", "generated", "generated"),
    Panel("generated_native", "generated_native", "#2bb673", "generated_native", "generated (native rig)"),
)
PANELS_BY_NAME = {p.name: p for p in DEFAULT_PANELS}


# ==================================================================================================
# conditions: what a case's generation was told, in display form
@dataclass(frozen=True)
class JointTarget:
    """Positions a joint was asked to reach: ``frames [K]`` and ``positions [K, 3]`` (metres)."""

    joint: str
    chain: str
    frames: np.ndarray
    positions: np.ndarray


@dataclass(frozen=True)
class Condition:
    """The constraints of one case, as the viewer shows them.

    Attributes:
        num_frames: length ``T`` of the constrained timeline.
        skeleton: the rig of the stored poses (None when there are none).
        pose_frames: ``[K]`` frames with a whole stored pose (full-body keyframes, copied context).
        pose_local_rot_mats: ``[K, J, 3, 3]`` their local rotations.
        pose_root_positions: ``[K, 3]`` their pelvis positions.
        root_frames: ``[R]`` frames with a floor target of the smooth root.
        root_points: ``[R, 2]`` those targets (x, z).
        joint_targets: end-effector targets, one per constrained joint and set.
        other_frames: ``[F]`` further constrained frames with nothing to draw.
    """

    num_frames: int
    skeleton: Any = None
    pose_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pose_local_rot_mats: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3, 3)))
    pose_root_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    root_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    root_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    joint_targets: tuple[JointTarget, ...] = ()
    other_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def constrained_frames(self) -> np.ndarray:
        """Sorted unique ``[F]`` frames on which anything is constrained."""
        parts = [self.pose_frames, self.root_frames, self.other_frames, *(t.frames for t in self.joint_targets)]
        return np.unique(np.concatenate([np.asarray(p, np.int64) for p in parts])) if parts else np.zeros(0, np.int64)

    def pose_positions(self) -> np.ndarray:
        """Joint positions ``[K, J, 3]`` of the stored poses."""
        if self.pose_frames.size == 0:
            return np.zeros((0, 0, 3))
        return self.skeleton.forward_kinematics(self.pose_local_rot_mats, self.pose_root_positions)[1]


def _check_frames(frames: np.ndarray, num_frames: int, what: str) -> np.ndarray:
    frames = np.asarray(frames, dtype=np.int64).reshape(-1)
    bad = frames[(frames < 0) | (frames >= num_frames)]
    if bad.size:
        raise InputError(f"{what}: frame {int(bad[0])} is outside the {num_frames}-frame motion; frames must be in "
                         f"[0, {num_frames - 1}]", field="frame_indices")
    return frames


def condition_from_constraints(constraints: Sequence[Any], num_frames: int) -> Condition:
    """A :class:`Condition` from constraint sets (:mod:`motiongen.constraints.sets`).

    Full-body sets become stored poses (the condition panel and keyframe markers), end-effector
    sets joint targets on their chain's joints, root-2D sets the root trajectory. Frames must lie
    in ``[0, num_frames)``.
    """
    from motiongen.constraints.masks import END_EFFECTORS
    from motiongen.constraints.sets import EndEffectorConstraintSet, FullBodyConstraintSet, Root2DConstraintSet

    if num_frames < 1:
        raise InputError(f"num_frames must be >= 1, got {num_frames}", field="num_frames")
    skeleton = None
    pose_frames: list[np.ndarray] = []
    pose_rot: list[np.ndarray] = []
    pose_root: list[np.ndarray] = []
    root_frames: list[np.ndarray] = []
    root_points: list[np.ndarray] = []
    targets: list[JointTarget] = []
    for k, con in enumerate(constraints):
        label = f"constraints[{k}] ({getattr(con, 'type', type(con).__name__)})"
        if isinstance(con, Root2DConstraintSet):
            root_frames.append(_check_frames(con.frame_indices, num_frames, label))
            root_points.append(np.asarray(con.smooth_root_2d, np.float64))
        elif isinstance(con, (FullBodyConstraintSet, EndEffectorConstraintSet)):
            frames = _check_frames(con.frame_indices, num_frames, label)
            if skeleton is not None and con.skeleton != skeleton:
                raise InputError(f"{label}: poses are on '{con.skeleton.name}', earlier ones on '{skeleton.name}'",
                                 field="skeleton")
            skeleton = con.skeleton
            if isinstance(con, FullBodyConstraintSet):
                pose_frames.append(frames)
                pose_rot.append(np.asarray(con.local_rot_mats, np.float64))
                pose_root.append(np.asarray(con.root_positions, np.float64))
                continue
            positions = con.posed_joints
            for chain in con.joint_names:
                key = END_EFFECTORS[chain]
                names = (skeleton.joint_names[0],) if key is None else skeleton.joint_set(key)
                for name in names:
                    j = skeleton.index(name)
                    targets.append(JointTarget(name, chain, frames, positions[:, j].copy()))
        else:
            raise InputError(f"{label}: not a constraint set", field="constraints")
    if pose_frames:
        frames = np.concatenate(pose_frames)
        order = np.argsort(frames, kind="stable")
        frames, first = np.unique(frames[order], return_index=True)
        rot = np.concatenate(pose_rot)[order][first]
        root = np.concatenate(pose_root)[order][first]
    else:
        frames, rot, root = np.zeros(0, np.int64), np.zeros((0, 0, 3, 3)), np.zeros((0, 3))
    if root_frames:
        rf = np.concatenate(root_frames)
        order = np.argsort(rf, kind="stable")
        rf, first = np.unique(rf[order], return_index=True)
        rp = np.concatenate(root_points)[order][first]
    else:
        rf, rp = np.zeros(0, np.int64), np.zeros((0, 2))
    return Condition(num_frames, skeleton, frames, rot, root, rf, rp, tuple(targets))


# ==================================================================================================
# frame sets, overlays, diagnostics
def frame_ranges(frames: Sequence[int] | np.ndarray) -> list[list[int]]:
    """Sorted frames as half-open runs: ``[0, 1, 2, 7] -> [[0, 3], [7, 8]]``."""
    arr = np.unique(np.asarray(frames, dtype=np.int64).reshape(-1))
    if arr.size == 0:
        return []
    breaks = np.nonzero(np.diff(arr) > 1)[0]
    starts = np.concatenate([[arr[0]], arr[breaks + 1]])
    stops = np.concatenate([arr[breaks], [arr[-1]]]) + 1
    return [[int(a), int(b)] for a, b in zip(starts, stops, strict=True)]


def _sources(condition: Condition) -> list[np.ndarray]:
    """The frame sets of each kind of constraint, judged separately (a keyframe inside a dense path
    is still a keyframe)."""
    return [condition.pose_frames, condition.root_frames, condition.other_frames,
            *(np.asarray(t.frames) for t in condition.joint_targets)]


def frame_semantics(condition: Condition) -> dict[str, Any]:
    """Which frames are constrained and how: ``constrained`` (ranges of all), ``keyframes`` (frames
    of a constraint in runs shorter than :data:`CONTINUOUS_MIN_FRAMES`), ``continuous`` (ranges of
    longer runs: a dense path, copied context) and ``endpoints`` (constrained first / last frames)."""
    keyframes: set[int] = set()
    continuous: set[int] = set()
    for frames in _sources(condition):
        for a, b in frame_ranges(frames):
            (keyframes if b - a < CONTINUOUS_MIN_FRAMES else continuous).update(range(a, b))
    ends = {0, condition.num_frames - 1}
    return {
        "constrained": frame_ranges(condition.constrained_frames),
        "keyframes": sorted(keyframes),
        "endpoints": sorted(int(f) for f in set(condition.constrained_frames.tolist()) & ends),
        "continuous": frame_ranges(sorted(continuous)),
    }


def _round(values: np.ndarray, digits: int = 4) -> list[Any]:
    return np.round(np.asarray(values, np.float64), digits).tolist()


def condition_overlays(condition: Condition) -> dict[str, Any]:
    """The overlays of :data:`the manifest <MANIFEST_FORMAT>`: the root trajectory (``dense`` when it
    pins every frame of its span), joint targets and keyframe markers (full-body pose frames)."""
    root = None
    if condition.root_frames.size:
        span = int(condition.root_frames[-1] - condition.root_frames[0] + 1)
        root = {
            "frames": condition.root_frames.tolist(),
            "points": _round(condition.root_points),
            "dense": bool(condition.root_frames.size >= CONTINUOUS_MIN_FRAMES and condition.root_frames.size == span),
        }
    targets = [
        {"joint": t.joint, "chain": t.chain, "frames": np.asarray(t.frames).tolist(), "positions": _round(t.positions)}
        for t in condition.joint_targets
    ]
    return {"root_trajectory": root, "joint_targets": targets, "keyframes": condition.pose_frames.tolist()}


def _event_frames(condition: Condition) -> list[int]:
    """Frames where a seam can show: keyframes and the ends of continuous runs."""
    sem = frame_semantics(condition)
    out = set(sem["keyframes"])
    for a, b in sem["continuous"]:
        out.update((a, b - 1))
    return sorted(out)


def continuity(positions: np.ndarray, frames: Sequence[int], joint_names: Sequence[str]) -> dict[str, Any]:
    """Largest joint jump around each of ``frames`` in ``positions [T, J, 3]``.

    A frame's jump is the largest displacement of any joint from the frame before it to the frame
    after it (one step each way, metres); ``typical_jump_m`` is the median over all frames of the
    largest per-frame displacement, and ``ratio`` the jump over it (a seam shows as a ratio well
    above 1).
    """
    positions = np.asarray(positions, np.float64)
    t = positions.shape[0]
    step = np.linalg.norm(np.diff(positions, axis=0), axis=-1) if t > 1 else np.zeros((0, positions.shape[1]))
    typical = float(np.median(step.max(axis=1))) if step.size else 0.0
    rows = []
    for f in frames:
        if not 0 <= f < t or step.size == 0:
            continue
        around = step[max(f - 1, 0): min(f + 1, t - 1)]  # steps (f-1 -> f) and (f -> f+1)
        j = int(np.argmax(around.max(axis=0)))
        jump = float(around[:, j].max())
        rows.append({"frame": int(f), "max_jump_m": round(jump, 4), "joint": str(joint_names[j]),
                     "ratio": round(jump / typical, 2) if typical > 1e-9 else None})
    return {"typical_jump_m": round(typical, 4), "frames": rows}


def constraint_error(positions: np.ndarray, condition: Condition, smooth_root: np.ndarray | None = None) -> dict[str, Any]:
    """How far ``positions [T', J, 3]`` are from the condition (metres): full-body keyframes (mean and
    max joint distance), joint targets (max) and the root's floor targets (max xz distance of
    ``smooth_root [T', 3]`` when given, else of the pelvis). Constrained frames past ``T'`` (a motion
    shorter than the case's timeline) are left out."""
    positions = np.asarray(positions, np.float64)
    t = positions.shape[0]
    out: dict[str, Any] = {}
    on_rig = condition.skeleton is not None and positions.shape[1] == condition.skeleton.num_joints
    keep = condition.pose_frames < t
    if on_rig and keep.any():
        d = np.linalg.norm(positions[condition.pose_frames[keep]] - condition.pose_positions()[keep], axis=-1)
        out["fullbody_mean_m"] = round(float(d.mean()), 4)
        out["fullbody_max_m"] = round(float(d.max()), 4)
    if on_rig and condition.joint_targets:
        worst = None
        for target in condition.joint_targets:
            inside = np.asarray(target.frames) < t
            if inside.any():
                j = condition.skeleton.index(target.joint)
                err = float(np.linalg.norm(positions[target.frames[inside], j] - target.positions[inside], axis=-1).max())
                worst = err if worst is None else max(worst, err)
        if worst is not None:
            out["joint_targets_max_m"] = round(worst, 4)
    inside = condition.root_frames < t
    if inside.any():
        root = positions[:, 0] if smooth_root is None else np.asarray(smooth_root, np.float64)
        d = np.linalg.norm(root[condition.root_frames[inside]][:, [0, 2]] - condition.root_points[inside], axis=-1)
        out["root_xz_max_m"] = round(float(d.max()), 4)
        out["root_reference"] = "pelvis" if smooth_root is None else "smooth_root"
    return out


def condition_motion(condition: Condition, fps: float = FPS) -> Any:
    """A ``[T]``-frame :class:`Motion` showing the stored poses: each frame holds the nearest stored
    pose (the viewer shows the condition panel only on ``pose_frames``)."""
    from motiongen.motion.motion import Motion

    if condition.pose_frames.size == 0:
        raise InputError("the condition has no stored poses to show", field="condition")
    frames = condition.pose_frames
    t = np.arange(condition.num_frames)
    right = np.clip(np.searchsorted(frames, t), 0, frames.size - 1)
    left = np.clip(right - 1, 0, frames.size - 1)
    nearest = np.where(np.abs(frames[left] - t) <= np.abs(frames[right] - t), left, right)
    return Motion(local_rotations=condition.pose_local_rot_mats[nearest],
                  root_translation=condition.pose_root_positions[nearest], fps=fps, skeleton=condition.skeleton)


def write_condition_panel(path: str | Path, condition: Condition) -> Path:
    """Write :func:`condition_motion` as a KIMODO ``.npz`` (atomically); returns the path."""
    from motiongen.io.kimodo_npz import write_kimodo_npz

    return write_kimodo_npz(condition_motion(condition), path)


# ==================================================================================================
# cases and manifests
def build_case(
    case_id: str,
    *,
    captions: Sequence[str],
    task: str,
    num_frames: int,
    files: Mapping[str, str],
    condition: Condition | None = None,
    positions: np.ndarray | None = None,
    joint_names: Sequence[str] | None = None,
    smooth_root: np.ndarray | None = None,
    missing_panels: Mapping[str, str] | None = None,
    segments: Sequence[Sequence[Any]] | None = None,
    diagnostics: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One case entry of the manifest.

    Args:
        case_id: file stem of the case's motions (letters, digits, ``._-``).
        captions: the prompts / captions.
        task: what was done, e.g. ``text_to_motion``, ``constraints``, ``inbetween``, ``path``, or an
            edit: ``local_edit``, ``style_edit``, ``compose``.
        num_frames: timeline length ``T``.
        files: ``{panel: path relative to ROOT}``.
        condition: the constraints, giving frame semantics, overlays, the condition panel's
            visible frames and (with ``positions``) the continuity and constraint-error diagnostics.
        positions: ``[T', J, 3]`` generated joint positions, for the diagnostics (``T' <= T``: a
            shorter motion than the timeline is measured where it has frames).
        joint_names: ``[J]`` names for ``positions``.
        smooth_root: ``[T, 3]`` the generated smooth root, for the root-target error.
        missing_panels: ``{panel: reason}``.
        segments: ``[[start, stop, prompt], ...]`` of a multi-prompt motion.
        diagnostics: further per-case numbers (JSON values).
    """
    if condition is None:
        condition = Condition(num_frames)
    elif condition.num_frames != num_frames:
        raise InputError(f"the condition has {condition.num_frames} frames, the case {num_frames}", field="condition")
    diag: dict[str, Any] = {}
    if positions is not None:
        positions = np.asarray(positions, np.float64)
        names = list(joint_names) if joint_names is not None else [f"joint_{j}" for j in range(positions.shape[1])]
        if condition.constrained_frames.size:
            diag["continuity"] = continuity(positions, _event_frames(condition), names)
            diag["constraint_error"] = constraint_error(positions, condition, smooth_root)
    diag.update(dict(diagnostics or {}))
    case: dict[str, Any] = {
        "id": case_id,
        "captions": [str(c) for c in captions],
        "task": task,
        "num_frames": int(num_frames),
        "files": dict(files),
        "frame_semantics": frame_semantics(condition),
        "condition_overlays": condition_overlays(condition),
        "panel_visible_ranges": {},
        "missing_panels": dict(missing_panels or {}),
        "diagnostics": diag,
    }
    if condition.pose_frames.size:
        case["panel_visible_ranges"]["condition"] = frame_ranges(condition.pose_frames)
    if segments:
        case["segments"] = [[int(a), int(b), str(p)] for a, b, p in segments]
    return case


def build_manifest(
    cases: Sequence[Mapping[str, Any]], panels: Sequence[Panel] = DEFAULT_PANELS, *, title: str = "", fps: float = FPS
) -> dict[str, Any]:
    """The manifest dict (not yet checked; :func:`write_manifest` checks and writes it)."""
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "title": title,
        "fps": float(fps),
        "units": "m",
        "up": "+y",
        "forward": "+z",
        "panels": [p.to_dict() for p in panels],
        "overlay_colors": dict(OVERLAY_COLORS),
        "cases": [dict(c) for c in cases],
    }


def write_manifest(root: str | Path, manifest: Mapping[str, Any]) -> Path:
    """Check ``manifest`` against ``root`` (:func:`validate_manifest`) and write ``_manifest.json``
    and ``_captions.json`` there (each atomically); returns the manifest's path."""
    from motiongen.io.atomic import atomic_write_text

    root = Path(root)
    checked = validate_manifest(manifest, root)
    captions = {case["id"]: case["captions"] for case in checked["cases"]}
    atomic_write_text(root / CAPTIONS_NAME, json.dumps(captions, indent=1, ensure_ascii=False) + "\n")
    return atomic_write_text(root / MANIFEST_NAME, json.dumps(checked, indent=1, ensure_ascii=False) + "\n")


def load_manifest(root: str | Path) -> dict[str, Any]:
    """Read and check ``ROOT/_manifest.json``."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise InputError(f"no {MANIFEST_NAME} here; build one with 'motiongen viz manifest {root}'", path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON ({exc})", path=path) from None
    try:
        return validate_manifest(data, Path(root))
    except InputError as exc:
        raise InputError(str(exc), path=path) from None


# ==================================================================================================
# validation
def safe_relative_path(value: Any, field_name: str) -> str:
    """``value`` as a POSIX path inside ROOT: relative, no ``..``, no backslash or NUL."""
    if not isinstance(value, str) or not value:
        raise InputError(f"must be a non-empty relative path, got {value!r}", field=field_name)
    parts = value.split("/")
    if value.startswith("/") or "\\" in value or "\x00" in value or ".." in parts or re.match(r"^[A-Za-z]:", value):
        raise InputError(f"'{value}' must be a relative path inside the viewer folder (no '..', no absolute path)",
                         field=field_name)
    return "/".join(p for p in parts if p not in ("", ".")) or "."


def _ranges(value: Any, num_frames: int, where: str) -> list[list[int]]:
    if not isinstance(value, list):
        raise InputError(f"must be a list of [start, stop) ranges, got {type(value).__name__}", field=where)
    for i, r in enumerate(value):
        ok = isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in r)
        if not ok or not 0 <= r[0] < r[1] <= num_frames:
            raise InputError(f"{r!r} is not a range [start, stop) with 0 <= start < stop <= {num_frames}",
                             field=f"{where}[{i}]")
    return value


def _frames_list(value: Any, num_frames: int, where: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InputError("must be a list of frame numbers", field=where)
    bad = [v for v in value if not 0 <= v < num_frames]
    if bad:
        raise InputError(f"frame {bad[0]} is outside [0, {num_frames - 1}]", field=where)
    return value


def _finite_rows(value: Any, width: int, count: int, where: str) -> None:
    arr = np.asarray(value, dtype=object)
    try:
        num = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        num = None
    if num is None or num.shape != (count, width) or not np.isfinite(num).all() or arr.dtype == bool:
        raise InputError(f"must be {count} rows of {width} finite numbers", field=where)


def _check_case(case: Any, k: int, panels: Mapping[str, Mapping[str, Any]], root: Path | None) -> dict[str, Any]:
    where = f"cases[{k}]"
    if not isinstance(case, dict):
        raise InputError("must be an object", field=where)
    cid = case.get("id")
    if not isinstance(cid, str) or not CASE_ID_PATTERN.match(cid):
        raise InputError(f"id {cid!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                         field=f"{where}.id")
    where = f"cases[{k}] ('{cid}')"
    captions = case.get("captions", [])
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise InputError("must be a list of strings", field=f"{where}.captions")
    if not isinstance(case.get("task", ""), str):
        raise InputError("must be a string", field=f"{where}.task")
    t = case.get("num_frames")
    if not isinstance(t, int) or isinstance(t, bool) or t < 1:
        raise InputError(f"must be an integer >= 1, got {t!r}", field=f"{where}.num_frames")
    files = case.get("files")
    if not isinstance(files, dict):
        raise InputError("must be an object {panel: path}", field=f"{where}.files")
    missing = case.get("missing_panels", {})
    if not isinstance(missing, dict) or not all(isinstance(v, str) and v.strip() for v in missing.values()):
        raise InputError("must be an object {panel: reason} with a non-empty reason", field=f"{where}.missing_panels")
    for name in list(files) + list(missing):
        if name not in panels:
            raise InputError(f"unknown panel '{name}'; the manifest's panels: {', '.join(panels)}", field=f"{where}.files")
    for name, rel in files.items():
        rel = files[name] = safe_relative_path(rel, f"{where}.files.{name}")
        if Path(rel).suffix.lower() not in MOTION_SUFFIXES:
            raise InputError(f"'{rel}' must be a {' or '.join(MOTION_SUFFIXES)} file", field=f"{where}.files.{name}")
        if root is not None and not (root / rel).is_file():
            raise InputError(f"file '{rel}' does not exist under {root}; list the panel in missing_panels with the reason",
                             field=f"{where}.files.{name}")
        if name in missing:
            raise InputError(f"panel '{name}' has a file and is listed as missing", field=f"{where}.missing_panels")
    for name in panels:
        if name not in files and name not in missing:
            raise InputError(f"panel '{name}' has neither a file nor a reason in missing_panels", field=f"{where}.files")
    sem = case.setdefault("frame_semantics", {"constrained": [], "keyframes": [], "endpoints": [], "continuous": []})
    if not isinstance(sem, dict):
        raise InputError("must be an object", field=f"{where}.frame_semantics")
    for key in ("constrained", "continuous"):
        _ranges(sem.setdefault(key, []), t, f"{where}.frame_semantics.{key}")
    for key in ("keyframes", "endpoints"):
        _frames_list(sem.setdefault(key, []), t, f"{where}.frame_semantics.{key}")
    over = case.setdefault("condition_overlays", {"root_trajectory": None, "joint_targets": [], "keyframes": []})
    if not isinstance(over, dict):
        raise InputError("must be an object", field=f"{where}.condition_overlays")
    root_traj = over.setdefault("root_trajectory", None)
    if root_traj is not None:
        w = f"{where}.condition_overlays.root_trajectory"
        if not isinstance(root_traj, dict):
            raise InputError("must be an object or null", field=w)
        frames = _frames_list(root_traj.get("frames"), t, f"{w}.frames")
        _finite_rows(root_traj.get("points"), 2, len(frames), f"{w}.points")
        root_traj["dense"] = bool(root_traj.get("dense", False))
    targets = over.setdefault("joint_targets", [])
    if not isinstance(targets, list):
        raise InputError("must be a list", field=f"{where}.condition_overlays.joint_targets")
    for i, target in enumerate(targets):
        w = f"{where}.condition_overlays.joint_targets[{i}]"
        if not isinstance(target, dict) or not isinstance(target.get("joint"), str):
            raise InputError("must be an object with a joint name", field=w)
        frames = _frames_list(target.get("frames"), t, f"{w}.frames")
        _finite_rows(target.get("positions"), 3, len(frames), f"{w}.positions")
    _frames_list(over.setdefault("keyframes", []), t, f"{where}.condition_overlays.keyframes")
    ranges = case.setdefault("panel_visible_ranges", {})
    if not isinstance(ranges, dict):
        raise InputError("must be an object {panel: ranges}", field=f"{where}.panel_visible_ranges")
    for name, value in ranges.items():
        if name not in panels:
            raise InputError(f"unknown panel '{name}'", field=f"{where}.panel_visible_ranges")
        _ranges(value, t, f"{where}.panel_visible_ranges.{name}")
    if not isinstance(case.setdefault("diagnostics", {}), dict):
        raise InputError("must be an object", field=f"{where}.diagnostics")
    segments = case.get("segments")
    if segments is not None:
        ok = isinstance(segments, list) and all(
            isinstance(s, list) and len(s) == 3 and isinstance(s[0], int) and isinstance(s[1], int) and isinstance(s[2], str)
            and 0 <= s[0] < s[1] <= t for s in segments
        )
        if not ok:
            raise InputError(f"must be [[start, stop, prompt], ...] within [0, {t}]", field=f"{where}.segments")
    return case


def validate_manifest(manifest: Mapping[str, Any], root: str | Path | None = None) -> dict[str, Any]:
    """Check a manifest (see the module docstring); returns a normalised deep copy.

    With ``root``, every listed file must exist under it. Raises :class:`InputError` naming the
    field, e.g. ``cases[3] ('walk').files.gt``.
    """
    if not isinstance(manifest, Mapping):
        raise InputError(f"a manifest is a JSON object, got {type(manifest).__name__}", field="manifest")
    data = json.loads(json.dumps(manifest))  # a deep copy, and proof that it is plain JSON
    if data.get("format") != MANIFEST_FORMAT:
        raise InputError(f"must be '{MANIFEST_FORMAT}', got {data.get('format')!r}", field="format")
    if data.get("version") != MANIFEST_VERSION:
        raise InputError(f"version {data.get('version')!r} is not supported; this viewer reads version {MANIFEST_VERSION}",
                         field="version")
    fps = data.setdefault("fps", FPS)
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not math.isfinite(fps) or fps <= 0:
        raise InputError(f"must be a positive number, got {fps!r}", field="fps")
    panels = data.get("panels")
    if not isinstance(panels, list) or not panels:
        raise InputError("must be a non-empty list of panels", field="panels")
    by_name: dict[str, dict[str, Any]] = {}
    for i, panel in enumerate(panels):
        w = f"panels[{i}]"
        if not isinstance(panel, dict) or not isinstance(panel.get("name"), str) or not CASE_ID_PATTERN.match(panel["name"]):
            raise InputError("must be an object with a name of letters, digits, '.', '_' or '-'", field=w)
        if panel["name"] in by_name:
            raise InputError(f"panel name '{panel['name']}' is used twice", field=f"{w}.name")
        if panel.get("role") not in PANEL_ROLES:
            raise InputError(f"role {panel.get('role')!r} is not one of {', '.join(PANEL_ROLES)}", field=f"{w}.role")
        if not isinstance(panel.get("color"), str) or not _COLOR.match(panel["color"]):
            raise InputError(f"color {panel.get('color')!r} must be '#rrggbb'", field=f"{w}.color")
        panel["folder"] = safe_relative_path(panel.get("folder", panel["name"]), f"{w}.folder")
        panel.setdefault("label", panel["name"])
        by_name[panel["name"]] = panel
    colors = data.setdefault("overlay_colors", dict(OVERLAY_COLORS))
    if not isinstance(colors, dict) or not all(isinstance(v, str) and _COLOR.match(v) for v in colors.values()):
        raise InputError("must map overlay names to '#rrggbb' colours", field="overlay_colors")
    for key, value in OVERLAY_COLORS.items():
        colors.setdefault(key, value)
    cases = data.get("cases")
    if not isinstance(cases, list):
        raise InputError("must be a list of cases", field="cases")
    root_path = None if root is None else Path(root)
    seen: set[str] = set()
    for k, case in enumerate(cases):
        _check_case(case, k, by_name, root_path)
        if case["id"] in seen:
            raise InputError(f"case id '{case['id']}' is used twice", field=f"cases[{k}].id")
        seen.add(case["id"])
    return data
