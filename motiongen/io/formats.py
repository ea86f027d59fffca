"""Load and save a :class:`Motion` by file extension: the one place that picks a reader or writer.

| extension | read | write |
|---|---|---|
| ``.bvh`` | :func:`motiongen.io.bvh.read_bvh` | :func:`motiongen.io.bvh.write_bvh` |
| ``.amc`` (with its ``.asf``) | :func:`motiongen.io.asf_amc.read_amc` | :func:`motiongen.io.asf_amc.write_amc` |
| ``.npz`` (KIMODO layout) | :func:`motiongen.io.kimodo_npz.read_kimodo_npz` | :func:`motiongen.io.kimodo_npz.write_kimodo_npz` |
"""

from __future__ import annotations

from pathlib import Path

from motiongen.errors import InputError
from motiongen.motion.motion import Motion

READ_SUFFIXES = (".bvh", ".amc", ".npz")
WRITE_SUFFIXES = (".bvh", ".npz")


def load_motion(path: str | Path, *, asf: str | Path | None = None) -> Motion:
    """Read ``path`` (``.bvh``, ``.amc`` with ``asf``, or KIMODO ``.npz``) into a Motion."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise InputError(f"unsupported input format '{suffix}'; readable: {', '.join(READ_SUFFIXES)}", path=path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    if suffix == ".bvh":
        from motiongen.io.bvh import read_bvh

        return _as_kimodo_rig(read_bvh(path))
    if suffix == ".amc":
        from motiongen.io.asf_amc import read_amc, read_asf

        if asf is None:
            raise InputError("an AMC file needs its skeleton: pass the ASF file (--asf FILE)", path=path)
        if not Path(asf).is_file():
            raise InputError("ASF file not found", path=asf)
        return read_amc(path, read_asf(asf))
    from motiongen.io.kimodo_npz import read_kimodo_npz

    return read_kimodo_npz(path)


def save_motion(motion: Motion, path: str | Path) -> Path:
    """Write ``motion`` to ``path`` (``.bvh`` or KIMODO ``.npz``), atomically; returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputError(f"unsupported output format '{suffix}'; writable: {', '.join(WRITE_SUFFIXES)}", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".bvh":
        from motiongen.io.bvh import write_bvh

        write_bvh(motion, path)
    else:
        from motiongen.io.kimodo_npz import write_kimodo_npz

        write_kimodo_npz(motion, path)
    return path


def _as_kimodo_rig(motion: Motion) -> Motion:
    """A BVH of a KIMODO rig (e.g. one we wrote for smplx22) back in the rig's joint order and name.

    BVH lists joints depth first, which is not KIMODO's order; models and the KIMODO NPZ layout
    index joints by the rig's order, so a file whose joints are exactly a rig's is reordered and
    given the rig's name and joint sets (its offsets stay the file's).
    """
    from motiongen.skeleton.kimodo_assets import KIMODO_RIGS, MIRROR_PAIRS
    from motiongen.skeleton.registry import with_sets

    names = set(motion.skeleton.joint_names)
    for rig, (_, table, joint_sets) in KIMODO_RIGS.items():
        order = [name for name, _ in table]
        if set(order) == names:
            skeleton = with_sets(motion.skeleton.reordered(order), rig, joint_sets, MIRROR_PAIRS)
            return motion.reorder_joints(order, skeleton)
    return motion
