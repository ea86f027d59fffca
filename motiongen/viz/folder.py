"""Viewer folders from files: what ``motiongen viz manifest DIR``, ``motiongen generate -o DIR/`` and
``motiongen eval`` (:func:`write_view_folder`) write, and how the server reads a motion file for the
page (:func:`read_viewer_motion`).

The protocol itself (panels, cases, checks) is :mod:`motiongen.viz.manifest`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError
from motiongen.viz.manifest import (
    CAPTIONS_NAME,
    CASE_ID_PATTERN,
    CONSTRAINTS_FOLDER,
    DEFAULT_PANELS,
    EXTRA_PANEL_COLORS,
    MANIFEST_NAME,
    MOTION_SUFFIXES,
    PANELS_BY_NAME,
    Condition,
    Panel,
    build_case,
    build_manifest,
    condition_from_constraints,
    condition_motion,
    safe_relative_path,
    validate_manifest,
    write_condition_panel,
    write_manifest,
)


# ==================================================================================================
# motions for the page
@dataclass(frozen=True)
class ViewerMotion:
    """What the page draws of one file: ``positions [T, J, 3]`` float32 and the bones."""

    positions: np.ndarray
    joint_names: list[str]
    parents: list[int]
    skeleton: str
    prompts: list[str]
    smooth_root: np.ndarray | None = None


def _skeleton_for_count(j: int) -> Any:
    """The registered KIMODO rig with ``j`` joints, if its assets can be loaded, else None."""
    from motiongen.skeleton.kimodo_assets import KIMODO_RIG_BY_JOINT_COUNT

    if j not in KIMODO_RIG_BY_JOINT_COUNT:
        return None
    from motiongen.errors import MotiongenError
    from motiongen.skeleton.registry import get_skeleton

    try:
        return get_skeleton(KIMODO_RIG_BY_JOINT_COUNT[j])
    except (MotiongenError, OSError):
        return None


def read_viewer_motion(path: str | Path) -> ViewerMotion:
    """Joint positions and bones of a KIMODO ``.npz`` (any layout :mod:`motiongen.io.kimodo_npz`
    reads: ``posed_joints`` / ``joints_pos``, optional batch of 1) or a ``.bvh`` file.

    The rig comes from the file's ``motiongen_skeleton``, else from the registry by joint count
    (``smplx22``, ``soma30``, ``soma77``, ``g1``), else joints are drawn without bones.
    """
    import zipfile

    from motiongen.io.kimodo_npz import SKELETON_KEY
    from motiongen.pipelines.output import PROMPTS_KEY

    path = Path(path)
    if path.suffix.lower() == ".bvh":
        from motiongen.io.formats import load_motion

        motion = load_motion(path)
        sk = motion.skeleton
        return ViewerMotion(motion.joint_positions().astype(np.float32), list(sk.joint_names), list(sk.parents), sk.name, [])
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files
                      if k in ("posed_joints", "joints_pos", "smooth_root_pos", SKELETON_KEY, PROMPTS_KEY)}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError) as exc:
        raise InputError(f"not a readable .npz archive ({exc})", path=path) from None
    positions = arrays.get("posed_joints", arrays.get("joints_pos"))
    if positions is None:
        raise InputError("lacks 'posed_joints' (or 'joints_pos')", path=path, field="posed_joints")
    if positions.ndim == 4 and positions.shape[0] == 1:
        positions = positions[0]
    if positions.ndim != 3 or positions.shape[-1] != 3 or positions.shape[0] < 1:
        raise InputError(f"has shape {positions.shape}; expected [T, J, 3]", path=path, field="posed_joints")
    if not (np.issubdtype(positions.dtype, np.number) and np.isfinite(positions).all()):
        raise InputError("must hold finite numbers", path=path, field="posed_joints")
    j = positions.shape[1]
    names, parents, skeleton_name = [f"joint_{k}" for k in range(j)], [-1] * j, "unknown"
    if SKELETON_KEY in arrays:
        try:
            sk = json.loads(str(arrays[SKELETON_KEY]))
            names, parents, skeleton_name = list(sk["joint_names"]), [int(p) for p in sk["parents"]], str(sk.get("name", ""))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"unreadable skeleton description ({exc})", path=path, field=SKELETON_KEY) from None
    else:
        rig = _skeleton_for_count(j)
        if rig is not None:
            names, parents, skeleton_name = list(rig.joint_names), list(rig.parents), rig.name
    if len(names) != j or len(parents) != j or not all(-1 <= p < j for p in parents):
        raise InputError(f"the skeleton has {len(names)} joints, the motion {j}", path=path, field=SKELETON_KEY)
    prompts: list[str] = []
    if PROMPTS_KEY in arrays:
        try:
            loaded = json.loads(str(arrays[PROMPTS_KEY]))
            prompts = [str(p) for p in loaded] if isinstance(loaded, list) else [str(loaded)]
        except json.JSONDecodeError:
            prompts = [str(arrays[PROMPTS_KEY])]
    smooth = arrays.get("smooth_root_pos")
    if smooth is not None:
        smooth = smooth[0] if smooth.ndim == 3 and smooth.shape[0] == 1 else smooth
        ok = smooth.shape == (positions.shape[0], 3) and np.issubdtype(smooth.dtype, np.number) and np.isfinite(smooth).all()
        smooth = smooth.astype(np.float64) if ok else None
    return ViewerMotion(positions.astype(np.float32), names, parents, skeleton_name, prompts, smooth)


# ==================================================================================================
# a manifest for existing files (``motiongen viz manifest DIR``)
def _npz_stems(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    out: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in MOTION_SUFFIXES and not path.name.startswith((".", "_")):
            # a case's .npz wins over a .bvh of the same name (generate writes both)
            if path.stem not in out or path.suffix.lower() == ".npz":
                out[path.stem] = path
    return out


def _scan_panels(root: Path) -> list[tuple[Panel, dict[str, Path]]]:
    found: list[tuple[Panel, dict[str, Path]]] = []
    extra = 0
    known = {p.folder for p in DEFAULT_PANELS}
    folders = [p.folder for p in DEFAULT_PANELS] + sorted(
        d.name for d in root.iterdir()
        if d.is_dir() and d.name not in known and d.name != CONSTRAINTS_FOLDER and not d.name.startswith((".", "_"))
    )
    for folder in folders:
        stems = _npz_stems(root / folder)
        if not stems:
            continue
        panel = PANELS_BY_NAME.get(folder)
        if panel is None:
            if not CASE_ID_PATTERN.match(folder):
                continue
            panel = Panel(folder, "generated", EXTRA_PANEL_COLORS[extra % len(EXTRA_PANEL_COLORS)], folder, folder)
            extra += 1
        found.append((panel, stems))
    loose = _npz_stems(root)
    if loose:
        if any(p.name == "generated" for p, _ in found):
            found.append((Panel("files", "generated", EXTRA_PANEL_COLORS[extra % len(EXTRA_PANEL_COLORS)], ".", "files"), loose))
        else:
            found.append((Panel("generated", "generated", PANELS_BY_NAME["generated"].color, ".", "generated"), loose))
    return found


def _read_captions(root: Path) -> dict[str, list[str]]:
    path = root / CAPTIONS_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise InputError("must be an object {case_id: [caption, ...]}", path=path)
    return {str(k): [str(c) for c in (v if isinstance(v, list) else [v])] for k, v in data.items()}


def scan_folder(root: str | Path, *, write_condition: bool = False) -> dict[str, Any]:
    """A manifest for the motion files already in ``root`` (checked, not written).

    Panels are the protocol's folders that hold motion files (``gt/``, ``condition/``,
    ``generated/``, ``generated_native/``), any other folder of motion files (role ``generated``),
    and loose files in ``root`` itself. Cases are the file stems; a panel without the case's file is
    listed in ``missing_panels``. Captions come from ``_captions.json``, else the prompts stored in
    the ``.npz``. A KIMODO ``constraints/<case>.json`` gives the case its overlays and diagnostics;
    with ``write_condition`` its full-body poses are also written to ``condition/<case>.npz``.
    """
    from motiongen.io.constraints_json import read_constraints_json

    root = Path(root)
    if not root.is_dir():
        raise InputError("is not a folder", path=root)
    found = _scan_panels(root)
    if not found:
        raise InputError(f"holds no motion files ({', '.join(MOTION_SUFFIXES)}) in itself or in panel folders", path=root)
    captions = _read_captions(root)
    for _, stems in found:
        for stem, path in stems.items():
            if not CASE_ID_PATTERN.match(stem):
                raise InputError("a case's file name may hold letters, digits, '.', '_' and '-' only (it names the case "
                                 "in URLs); rename it", path=path)
    ids = sorted({stem for _, stems in found for stem in stems})
    panels = [p for p, _ in found]
    cfolder = root / CONSTRAINTS_FOLDER
    constraint_files = {p.stem: p for p in sorted(cfolder.glob("*.json"))} if cfolder.is_dir() else {}
    condition_panel = next((p for p in panels if p.role == "condition"), None)
    # first pass: files, motions and conditions (a condition panel may be added on the way)
    pending = []
    for cid in ids:
        files: dict[str, str] = {}
        motions: dict[str, ViewerMotion] = {}
        for panel, stems in found:
            if cid in stems:
                files[panel.name] = safe_relative_path(stems[cid].relative_to(root).as_posix(), "files")
                motions[panel.name] = read_viewer_motion(stems[cid])
        num_frames = max(m.positions.shape[0] for m in motions.values())
        condition = None
        if cid in constraint_files:
            condition = _condition_from_file(constraint_files[cid], read_constraints_json, root, files, panels, num_frames)
            if condition.pose_frames.size and write_condition and (condition_panel is None or condition_panel.name not in files):
                if condition_panel is None:
                    condition_panel = PANELS_BY_NAME["condition"]
                    panels.insert(1 if panels[0].role == "reference" else 0, condition_panel)
                target = root / condition_panel.folder / f"{cid}.npz"
                write_condition_panel(target, condition)
                files[condition_panel.name] = target.relative_to(root).as_posix()
                motions[condition_panel.name] = read_viewer_motion(target)
        pending.append((cid, files, motions, num_frames, condition))
    # second pass: every panel without a file gets its reason
    cases = []
    for cid, files, motions, num_frames, condition in pending:
        missing: dict[str, str] = {}
        for panel in panels:
            if panel.name in files:
                continue
            reason = f"no file {panel.folder}/{cid}.npz" if panel.folder != "." else f"no file {cid}.npz"
            if panel.role == "condition" and (condition is None or condition.pose_frames.size == 0):
                reason = "no full-body keyframes to show" if condition is not None else "no constraints for this case"
            missing[panel.name] = reason
        main = next((motions[p.name] for p in panels if p.name in motions and p.role.startswith("generated")),
                    next(iter(motions.values())))
        cases.append(build_case(
            cid,
            captions=captions.get(cid) or main.prompts,
            task="constraints" if condition is not None else "motion",
            num_frames=num_frames,
            files=files,
            condition=condition,
            positions=main.positions if condition is not None else None,
            joint_names=main.joint_names,
            smooth_root=main.smooth_root,
            missing_panels=missing,
            diagnostics={
                "frames_per_panel": {name: int(m.positions.shape[0]) for name, m in motions.items()},
                "skeletons": {name: f"{m.skeleton} ({m.positions.shape[1]} joints)" for name, m in motions.items()},
            },
        ))
    manifest = build_manifest(cases, panels, title=root.resolve().name)
    return validate_manifest(manifest, root)


def _condition_from_file(path: Path, reader: Any, root: Path, files: Mapping[str, str], panels: Sequence[Panel],
                         num_frames: int) -> Condition:
    """The constraints of ``path`` on the rig of the case's generated (else first) file."""
    from motiongen.constraints.sets import from_records
    from motiongen.io.formats import load_motion

    records = reader(path)
    order = sorted(files, key=lambda n: 0 if next(p for p in panels if p.name == n).role.startswith("generated") else 1)
    skeleton = load_motion(root / files[order[0]]).skeleton
    try:
        return condition_from_constraints(from_records(records, skeleton), num_frames)
    except InputError as exc:
        raise InputError(str(exc), path=path) from None


def write_folder_manifest(root: str | Path) -> Path:
    """Scan ``root`` (:func:`scan_folder`, writing condition panels) and write its manifest."""
    manifest = scan_folder(root, write_condition=True)
    return write_manifest(root, manifest)


# ==================================================================================================
# ``motiongen generate ... -o DIR/``
def write_output_manifest(
    folder: str | Path,
    output: Any,
    written: Sequence[Path],
    *,
    task: str,
    constraints: Sequence[Any] = (),
    reference: Any = None,
    diagnostics: Mapping[str, Any] | None = None,
) -> Path:
    """The viewer files for a batch written into ``folder`` by :meth:`MotionOutput.save`.

    One case per sample (``sample_00`` ...: the ``.npz`` files in ``written``, kept where they are, as
    the ``generated`` panel with folder ``.``); with constraints, their overlays and diagnostics, the
    full-body poses as the ``condition`` panel (``condition/<case>.npz``) and the constraints
    themselves as ``constraints/<case>.json`` (KIMODO's format), so that ``motiongen viz manifest``
    rebuilds the overlays from the folder alone. Returns the manifest.

    Args:
        folder: the output folder.
        output: the :class:`~motiongen.pipelines.output.MotionOutput` that was saved.
        written: the files :meth:`save` wrote (``.npz`` and ``.bvh`` per sample, in sample order).
        task: ``text_to_motion``, ``multi_prompt``, ``constraints``, ``inbetween``, ``stitch``,
            ``prepend``, ``path``, ``waypoints``, or an edit (``motiongen edit``): ``local_edit``,
            ``style_edit``, ``compose``.
        constraints: the constraint sets on the output's timeline (may be empty).
        reference: a :class:`~motiongen.motion.motion.Motion` of the output's length shown as the
            ``gt`` (reference) panel of every case, e.g. the source of an edit (``gt/<case>.npz``).
        diagnostics: further per-case numbers (JSON values), e.g. ``{"edit": {...}}``.
    """
    from motiongen.constraints.sets import to_records
    from motiongen.io.constraints_json import write_constraints_json

    folder = Path(folder)
    npz = [Path(p) for p in written if Path(p).suffix == ".npz"]
    if len(npz) != output.num_samples:
        raise InputError(f"expected one .npz per sample ({output.num_samples}), got {len(npz)}", field="written")
    t = output.num_frames
    condition = condition_from_constraints(constraints, t) if constraints else None
    panels = [Panel("generated", "generated", PANELS_BY_NAME["generated"].color, ".", "generated")]
    if condition is not None and condition.pose_frames.size:
        panels.insert(0, PANELS_BY_NAME["condition"])
    if reference is not None:
        if reference.num_frames != t:
            raise InputError(f"the reference has {reference.num_frames} frames, the output {t}", field="reference")
        gt = PANELS_BY_NAME["gt"]
        panels.insert(0, Panel(gt.name, gt.role, gt.color, gt.folder, "source"))
    per_sample = output.info.get("sample_prompts")
    provenance = {key: output.info[key] for key in ("model", "seed", "steps", "cfg_type", "cfg_weights", "postprocess")
                  if output.info.get(key) is not None}
    joint_names = list(output.skeleton.joint_names)
    cases = []
    for b, path in enumerate(npz):
        case_id = path.stem
        files = {"generated": path.relative_to(folder).as_posix()}
        if constraints:
            write_constraints_json(to_records(constraints), folder / CONSTRAINTS_FOLDER / f"{case_id}.json")
        if reference is not None:
            from motiongen.io.kimodo_npz import write_kimodo_npz

            target = folder / PANELS_BY_NAME["gt"].folder / f"{case_id}.npz"
            write_kimodo_npz(reference, target)
            files["gt"] = target.relative_to(folder).as_posix()
        if any(p.name == "condition" for p in panels):
            target = folder / PANELS_BY_NAME["condition"].folder / f"{case_id}.npz"
            write_condition_panel(target, condition)
            files["condition"] = target.relative_to(folder).as_posix()
        cases.append(build_case(
            case_id,
            captions=[per_sample[b]] if per_sample else list(output.prompts),
            task=task,
            num_frames=t,
            files=files,
            condition=condition,
            positions=output.posed_joints[b],
            joint_names=joint_names,
            smooth_root=output.smooth_root_pos[b],
            segments=output.info.get("segments"),
            diagnostics={"generation": {**provenance, "sample": b}, **dict(diagnostics or {})},
        ))
    return write_manifest(folder, build_manifest(cases, panels, title=folder.resolve().name))


# ==================================================================================================
# positions-only files and folders written from arrays (``motiongen eval``)
#: Largest |coordinate| (metres) a positions-only file stores as float16: float16's spacing below
#: 16 m is at most 2**-7 m, so no joint moves by more than 4 mm; farther motions are kept in float32.
FLOAT16_EXTENT_M = 16.0


def write_positions_npz(path: str | Path, positions: np.ndarray, skeleton: Any, *, prompts: Sequence[str] = ()) -> Path:
    """Write a viewer motion file holding joint positions only; returns the path.

    Keys: ``posed_joints [T, J, 3]`` (float16 when every coordinate lies within
    :data:`FLOAT16_EXTENT_M`, else float32), ``motiongen_skeleton`` (the rig) and, when given,
    ``motiongen_prompts``. Compressed, written to a temporary file and renamed. :func:`read_viewer_motion`
    reads it; the KIMODO loaders and ``motiongen render`` do not (there are no rotations).
    """
    from motiongen.io.atomic import atomic_write
    from motiongen.io.kimodo_npz import SKELETON_KEY
    from motiongen.pipelines.output import PROMPTS_KEY

    positions = np.asarray(positions, np.float64)
    if positions.ndim != 3 or positions.shape[0] < 1 or positions.shape[2] != 3:
        raise InputError(f"has shape {positions.shape}; expected [T, J, 3] with T >= 1", field="positions")
    if positions.shape[1] != skeleton.num_joints:
        raise InputError(f"has {positions.shape[1]} joints; the skeleton '{skeleton.name}' has {skeleton.num_joints}",
                         field="positions")
    if not np.isfinite(positions).all():
        raise InputError("must hold finite numbers", field="positions")
    dtype = np.float16 if np.abs(positions).max() <= FLOAT16_EXTENT_M else np.float32
    arrays = {"posed_joints": positions.astype(dtype), SKELETON_KEY: np.array(skeleton.to_json())}
    if prompts:
        arrays[PROMPTS_KEY] = np.array(json.dumps([str(p) for p in prompts]))
    return atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))


@dataclass(frozen=True)
class ViewCase:
    """One case of a viewer folder written from arrays (:func:`write_view_folder`).

    Attributes:
        case_id: the case's file stem (letters, digits, ``._-``).
        captions: its captions / prompts.
        task: what was done, e.g. ``text_to_motion`` or ``constraints``.
        motions: ``{panel: positions [T, J, 3]}``; panels of :data:`DEFAULT_PANELS` except
            ``condition`` (``gt``, ``generated``, ``generated_native``).
        skeleton: the rig of every motion (and of the condition's poses).
        condition: the constraints: overlays, frame semantics, the ``condition`` panel (its full-body
            poses), and the continuity and constraint-error diagnostics of the ``generated`` motion.
        smooth_root: ``[T, 3]`` the generated motion's smooth root (for the root-target error).
        missing: ``{panel: reason}`` for panels without a motion (else a generic reason).
        diagnostics: further per-case figures (JSON values).
    """

    case_id: str
    captions: Sequence[str]
    task: str
    motions: Mapping[str, np.ndarray]
    skeleton: Any
    condition: Condition | None = None
    smooth_root: np.ndarray | None = None
    missing: Mapping[str, str] = field(default_factory=dict)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)


_DEFAULT_MISSING = {
    "gt": "no ground-truth motion for this case",
    "condition": "no full-body keyframes to show",
    "generated": "no generated motion for this case",
    "generated_native": "generated on the evaluated rig: there is no other native rig",
}


def check_view_target(root: str | Path) -> Path:
    """``root`` if :func:`write_view_folder` may (re)write it: absent, an empty folder, or a viewer
    folder (one with ``_manifest.json``). Anything else is the user's and is refused."""
    root = Path(root)
    if root.exists() and not (root.is_dir() and (not any(root.iterdir()) or (root / MANIFEST_NAME).is_file())):
        raise InputError(f"exists and is not a viewer folder (no {MANIFEST_NAME}); move it away, or skip the viewer "
                         "folder (--no-view)", path=root, field="output")
    return root


def _replace_folder(target: Path, built: Path) -> None:
    """Put the complete folder ``built`` in place of ``target`` (the old one is removed after)."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    built.rename(target)
    if old.exists():
        shutil.rmtree(old)


def _view_panels(cases: Sequence[ViewCase]) -> list[Panel]:
    """The protocol's panels the cases use, in the protocol's order."""
    used = {name for case in cases for name in case.motions}
    unknown = sorted(used - set(PANELS_BY_NAME) | (used & {"condition"}))
    if unknown:
        raise InputError(f"panel(s) {unknown} cannot hold a motion here; allowed: gt, generated, generated_native "
                         "(the condition panel comes from the condition)", field="motions")
    if any(c.condition is not None and c.condition.pose_frames.size for c in cases):
        used.add("condition")
    return [p for p in DEFAULT_PANELS if p.name in used]


def _write_view_case(root: Path, case: ViewCase, panels: Sequence[Panel]) -> dict[str, Any]:
    """Write ``case``'s motion files under ``root`` and return its manifest entry."""
    condition = case.condition
    motions = {name: np.asarray(pos, np.float64) for name, pos in case.motions.items()}
    if condition is not None and condition.pose_frames.size:
        motions["condition"] = condition_motion(condition).joint_positions()
    if not motions:
        raise InputError("has no motion to show", field=f"cases['{case.case_id}'].motions")
    num_frames = condition.num_frames if condition is not None else max(m.shape[0] for m in motions.values())
    files: dict[str, str] = {}
    for panel in panels:
        if panel.name in motions:
            rel = f"{panel.folder}/{case.case_id}.npz"
            write_positions_npz(root / rel, motions[panel.name], case.skeleton, prompts=case.captions)
            files[panel.name] = rel
    missing = {p.name: case.missing.get(p.name, _DEFAULT_MISSING[p.name]) for p in panels if p.name not in files}
    generated = motions.get("generated")
    return build_case(
        case.case_id,
        captions=case.captions,
        task=case.task,
        num_frames=num_frames,
        files=files,
        condition=condition,
        positions=generated,
        joint_names=list(case.skeleton.joint_names),
        smooth_root=case.smooth_root,
        missing_panels=missing,
        diagnostics={"frames_per_panel": {name: int(m.shape[0]) for name, m in motions.items()}, **case.diagnostics},
    )


def write_view_folder(root: str | Path, cases: Sequence[ViewCase], *, title: str = "") -> Path:
    """Write ``cases`` as the viewer folder ``root`` (positions-only ``.npz`` per panel and case, the
    manifest and captions); returns the manifest's path.

    Panels are those of :data:`DEFAULT_PANELS` that some case fills. The folder is built beside
    ``root`` and put in its place when complete, so an interrupted write leaves the old folder (or
    none), and files of an earlier, larger run do not linger. ``root`` must pass
    :func:`check_view_target`.
    """
    root = check_view_target(root)
    if not cases:
        raise InputError("no cases to write", field="cases")
    ids = [c.case_id for c in cases]
    bad = [i for i in ids if not CASE_ID_PATTERN.match(i)]
    if bad:
        raise InputError(f"case id {bad[0]!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit", field="cases")
    if len(set(ids)) != len(ids):
        raise InputError("case ids must be unique", field="cases")
    panels = _view_panels(cases)
    built = root.with_name(f".{root.name}.partial")
    if built.exists():
        shutil.rmtree(built)
    built.mkdir(parents=True)
    try:
        entries = [_write_view_case(built, case, panels) for case in cases]
        write_manifest(built, build_manifest(entries, panels, title=title))
        _replace_folder(root, built)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return root / MANIFEST_NAME
