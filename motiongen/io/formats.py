"""Load and save a :class:`Motion` by file extension (or an explicit format): the one place that
picks a reader or writer.

| format | extension | read | write |
|---|---|---|---|
| ``bvh`` | ``.bvh`` | :func:`motiongen.io.bvh.read_bvh`, KIMODO's SOMA files :func:`motiongen.io.soma_bvh.read_soma_bvh` | :func:`motiongen.io.bvh.write_bvh`; ``soma30``/``soma77`` in KIMODO's layout, :func:`motiongen.io.soma_bvh.write_soma_bvh` |
| ``amc`` | ``.amc`` (with its ``.asf``) | :func:`motiongen.io.asf_amc.read_amc` | - |
| ``kimodo`` | ``.npz`` | :func:`motiongen.io.kimodo_npz.read_kimodo_npz` | :func:`motiongen.io.kimodo_npz.write_kimodo_npz` (any rig) |
| ``amass`` | ``.npz`` | :func:`motiongen.io.amass_npz.read_amass_npz` | :func:`motiongen.io.amass_npz.write_amass_npz` (``smplx22``) |
| ``mujoco-csv`` | ``.csv`` | :func:`motiongen.io.mujoco_csv.read_mujoco_csv` | :func:`motiongen.io.mujoco_csv.write_mujoco_csv` (``g1``) |

A ``.npz`` is read as AMASS when it holds ``poses`` or ``pose_body`` and no ``posed_joints``, else as
KIMODO's layout; it is written in KIMODO's layout unless ``format="amass"``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from motiongen.errors import InputError
from motiongen.motion.motion import Motion

READ_SUFFIXES = (".bvh", ".amc", ".npz", ".csv")
WRITE_SUFFIXES = (".bvh", ".npz", ".csv")
#: Output formats by name, and the extension each one takes.
WRITE_FORMATS = {"bvh": ".bvh", "kimodo": ".npz", "amass": ".npz", "mujoco-csv": ".csv"}
_DEFAULT_FORMAT = {".bvh": "bvh", ".npz": "kimodo", ".csv": "mujoco-csv"}


def load_motion(path: str | Path, *, asf: str | Path | None = None) -> Motion:
    """Read ``path`` (``.bvh``, ``.amc`` with ``asf``, KIMODO or AMASS ``.npz``, G1 MuJoCo ``.csv``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise InputError(f"unsupported input format '{suffix}'; readable: {', '.join(READ_SUFFIXES)}", path=path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    if suffix == ".bvh":
        from motiongen.io.bvh import read_bvh
        from motiongen.io.soma_bvh import ROOT_NAME, read_soma_bvh
        from motiongen.skeleton.kimodo_assets import SOMA77_JOINTS

        motion = read_bvh(path)
        if set(motion.skeleton.joint_names) == {ROOT_NAME} | {name for name, _ in SOMA77_JOINTS}:
            return read_soma_bvh(path)  # KIMODO's own SOMA BVH: a Root carrier and standard-T-pose frames
        return _as_kimodo_rig(motion)
    if suffix == ".amc":
        from motiongen.io.asf_amc import read_amc, read_asf

        if asf is None:
            raise InputError("an AMC file needs its skeleton: pass the ASF file (--asf FILE)", path=path)
        if not Path(asf).is_file():
            raise InputError("ASF file not found", path=asf)
        return read_amc(path, read_asf(asf))
    if suffix == ".csv":
        from motiongen.io.mujoco_csv import read_mujoco_csv

        return read_mujoco_csv(path)
    if _is_amass(path):
        from motiongen.io.amass_npz import read_amass_npz

        return read_amass_npz(path)
    from motiongen.io.kimodo_npz import read_kimodo_npz

    return read_kimodo_npz(path)


def _is_amass(path: Path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"not a readable .npz file ({exc})", path=path) from None
    return "posed_joints" not in keys and bool(keys & {"poses", "pose_body"})


def output_format(path: str | Path, format: str | None = None) -> str:  # noqa: A002 (the option's name)
    """The writer ``save_motion`` uses for ``path``: ``format`` if given (checked against the
    extension), else the extension's default."""
    suffix = Path(path).suffix.lower()
    if format is None:
        if suffix not in _DEFAULT_FORMAT:
            raise InputError(f"unsupported output format '{suffix}'; writable: {', '.join(WRITE_SUFFIXES)}", path=path)
        return _DEFAULT_FORMAT[suffix]
    if format not in WRITE_FORMATS:
        raise InputError(f"unknown format '{format}'; known: {', '.join(WRITE_FORMATS)}", field="format")
    if WRITE_FORMATS[format] != suffix:
        raise InputError(f"a {format} file ends in {WRITE_FORMATS[format]}, not '{suffix or '(none)'}'", path=path, field="format")
    return format


def save_motion(motion: Motion, path: str | Path, *, format: str | None = None, clamp_limits: bool = False) -> Path:  # noqa: A002
    """Write ``motion`` to ``path`` in ``format`` (default from the extension, see the module table),
    atomically (no partial file on failure); returns the path. ``clamp_limits`` (``mujoco-csv`` only):
    project G1 hinges that leave their range into it instead of refusing the motion."""
    path = Path(path)
    chosen = output_format(path, format)
    if clamp_limits and chosen != "mujoco-csv":
        raise InputError("clamping to joint limits applies to G1 .csv output only", field="clamp_limits")
    path.parent.mkdir(parents=True, exist_ok=True)
    if chosen == "bvh" and motion.skeleton.name in ("soma30", "soma77"):
        from motiongen.io.soma_bvh import write_soma_bvh

        write_soma_bvh(motion, path)  # the file KIMODO's tools read (reference 5.4)
        return path
    if chosen == "bvh":
        from motiongen.io.bvh import write_bvh

        write_bvh(motion, path)
        return path
    if chosen == "amass":
        from motiongen.io.amass_npz import write_amass_npz

        write_amass_npz(motion, path)
        return path
    if chosen == "mujoco-csv":
        from motiongen.io.mujoco_csv import write_mujoco_csv

        write_mujoco_csv(motion, path, clamp=clamp_limits)
        return path
    from motiongen.io.kimodo_npz import write_kimodo_npz

    write_kimodo_npz(motion, path)
    return path


def _as_kimodo_rig(motion: Motion) -> Motion:
    """A BVH of a registered rig back as that rig: its name, joint sets and mirror map.

    BVH lists joints depth first, which is not KIMODO's order; models and the KIMODO NPZ layout
    index joints by the rig's order, so a file whose joints are exactly a KIMODO rig's (e.g. one we
    wrote for smplx22) is reordered too. A mocap rig's file (``bandai22``, ``cmu31``) keeps its order:
    those rigs are addressed by joint name. The offsets stay the file's.
    """
    from motiongen.retarget.human import identify_rig
    from motiongen.skeleton.kimodo_assets import KIMODO_RIGS, MIRROR_PAIRS
    from motiongen.skeleton.registry import BANDAI_JOINT_SETS, asf_skeleton_with_sets, with_sets

    names = set(motion.skeleton.joint_names)
    for rig, (_, table, joint_sets) in KIMODO_RIGS.items():
        order = [name for name, _ in table]
        if set(order) == names:
            skeleton = with_sets(motion.skeleton.reordered(order), rig, joint_sets, MIRROR_PAIRS)
            return motion.reorder_joints(order, skeleton)
    rig = identify_rig(motion.skeleton)
    if rig == "bandai22":
        return motion.reorder_joints(motion.skeleton.joint_names, with_sets(motion.skeleton, rig, BANDAI_JOINT_SETS, [("_L", "_R")]))
    if rig in ("cmu31", "hdm05"):
        return motion.reorder_joints(motion.skeleton.joint_names, asf_skeleton_with_sets(motion.skeleton, rig))
    return motion
