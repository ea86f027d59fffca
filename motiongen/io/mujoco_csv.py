"""MuJoCo qpos CSV of the Unitree G1 (reference 5.2), in and out of :class:`Motion`.

One row per frame, 36 comma-separated columns, no header, ``%.18e`` (``np.savetxt``):

| columns | content |
|---|---|
| 0-2 | root (pelvis) position in MuJoCo's world: **z up, x forward**, metres |
| 3-6 | root quaternion **w, x, y, z** in MuJoCo's world |
| 7-35 | the 29 hinge angles in ``g1.xml`` order (= MuJoCo qpos order), radians |

Axes: our world is ``M`` times MuJoCo's, ``M = MUJOCO_TO_KIMODO = [[0,1,0],[0,0,1],[1,0,0]]``, so
``p_mj = M^T p`` (``(x, y, z)_mj = (z, x, y)_ours``) and ``R_mj = M^T R M``.

Hinges: ``skeleton.extras["hinges"]`` (read from ``g1.xml`` by
:func:`motiongen.skeleton.kimodo_assets.g1_hinges`) gives each hinge joint ``<x>_skel`` its axis,
rest rotation (the XML body ``quat`` in our axes) and range. The local rotation of a hinge joint at
MuJoCo angle ``q`` is ``L = rest_rotation @ Rot(axis, q)``; the five other joints (pelvis = root,
the toe bases, the hand rolls) are not in the file: the pelvis carries the root pose, the other four
are dropped on writing and read back as identity.

Angle extraction (:func:`g1_hinge_angles`): by default (``method="nearest"``) the angle is the
twist of ``R' = rest^T L`` about the hinge axis, ``q = atan2(a . vee(R' - R'^T), tr R' - a^T R' a)``:
the angle whose hinge rotation is nearest ``R'`` in the Frobenius norm. It is exact when ``L`` is a
pure hinge rotation about its axis (every motion read from a CSV or solved by
:func:`motiongen.retarget.g1.retarget_to_g1`), and the least-squares projection otherwise (a motion
generated directly on the G1, whose joints may rotate off-axis). ``method="kimodo"`` is KIMODO's own
export projection (reference 5.2: Euler-style angles of ``F L``, ``F = rest^T``, dotted with
``normalize(F axis)``); it reproduces KIMODO's numbers but is not exact for pure hinge rotations
where the rest rotation tilts the axis (hip roll reads ``q cos 10deg``, shoulder pitch ``q cos 16deg``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from motiongen.errors import InputError
from motiongen.geometry import matrix_to_quaternion, quaternion_to_matrix
from motiongen.io.atomic import atomic_write_text
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import MUJOCO_TO_KIMODO
from motiongen.skeleton.skeleton import Skeleton

#: Columns of one qpos row: 3 root position + 4 root quaternion + 29 hinges.
QPOS_COLUMNS = 36
#: The frame rate a qpos CSV means (it stores none): KIMODO's.
CSV_FPS = 30.0
#: Hinges of the G1 (columns 7..35).
G1_HINGE_COUNT = 29
#: Written angles may exceed a joint range by this much (float round-off of an angle solved at its
#: limit); they are then written clamped to the range.
LIMIT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class G1Hinges:
    """The G1 hinge table as arrays, in ``g1.xml`` (qpos) order.

    Attributes:
        names: the 29 skeleton joints ``<x>_skel``.
        mujoco_names: the 29 MuJoCo joints ``<x>_joint``.
        joints: ``[29]`` skeleton indices of the hinge joints.
        axes: ``[29, 3]`` unit hinge axes in our world axes (in the joint's frame after its rest rotation).
        rest: ``[29, 3, 3]`` rest rotations (XML body quats in our axes).
        ranges: ``[29, 2]`` ``[lo, hi]`` in radians.
    """

    names: tuple[str, ...]
    mujoco_names: tuple[str, ...]
    joints: np.ndarray
    axes: np.ndarray
    rest: np.ndarray
    ranges: np.ndarray

    def rotations(self, angles: np.ndarray) -> np.ndarray:
        """Local rotations ``[..., 29, 3, 3] = rest @ Rot(axis, q)`` of hinge angles ``[..., 29]``."""
        q = np.asarray(angles, dtype=np.float64)[..., None, None]
        k = _skew(self.axes)  # [29, 3, 3]
        hinge = np.eye(3) + np.sin(q) * k + (1.0 - np.cos(q)) * (k @ k)
        return self.rest @ hinge


def _skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices ``[..., 3, 3]`` of vectors ``[..., 3]``."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(v.shape[:-1] + (3, 3))


def is_g1(skeleton: Skeleton) -> bool:
    """Whether ``skeleton`` carries the G1 hinge table (``extras["hinges"]``) for all 29 hinges."""
    hinges = skeleton.extras.get("hinges")
    return isinstance(hinges, dict) and len(hinges) == G1_HINGE_COUNT and all(name in skeleton.joint_names for name in hinges)


def g1_hinge_table(skeleton: Skeleton) -> G1Hinges:
    """The hinge table of a G1 skeleton; raises :class:`InputError` for any other rig."""
    if not is_g1(skeleton):
        raise InputError(
            f"skeleton '{skeleton.name}' is not the Unitree G1 (it lacks the 29-hinge table of g1.xml); "
            "the MuJoCo CSV holds G1 motion only: retarget first (motiongen retarget FILE --to g1)",
            field="skeleton",
        )
    hinges = skeleton.extras["hinges"]
    names = tuple(hinges)
    return G1Hinges(
        names=names,
        mujoco_names=tuple(str(h.get("mujoco_joint", n.removesuffix("_skel") + "_joint")) for n, h in hinges.items()),
        joints=np.array(skeleton.indices(names)),
        axes=np.array([h["axis"] for h in hinges.values()], dtype=np.float64),
        rest=np.array([h["rest_rotation"] for h in hinges.values()], dtype=np.float64),
        ranges=np.array([h["range"] for h in hinges.values()], dtype=np.float64),
    )


def _check_finite(motion: Motion) -> None:
    if not np.isfinite(motion.local_rotations).all():
        frame = int(np.nonzero(~np.isfinite(motion.local_rotations).reshape(motion.num_frames, -1).all(-1))[0][0])
        raise InputError(f"local rotations hold NaN or inf (first at frame {frame})", field="local_rotations")
    if not np.isfinite(motion.root_translation).all():
        frame = int(np.nonzero(~np.isfinite(motion.root_translation).all(-1))[0][0])
        raise InputError(f"root translation holds NaN or inf (first at frame {frame})", field="root_translation")


def g1_hinge_angles(motion: Motion, *, method: Literal["nearest", "kimodo"] = "nearest") -> np.ndarray:
    """MuJoCo hinge angles ``[T, 29]`` (radians, ``g1.xml`` order) of a G1 motion.

    Args:
        motion: a motion on the G1 (``get_skeleton("g1")``).
        method: ``"nearest"`` (default): the twist about the hinge axis, exact for pure hinge
            rotations and the Frobenius-nearest hinge angle otherwise; ``"kimodo"``: KIMODO's export
            projection (see the module docstring).
    """
    hinges = g1_hinge_table(motion.skeleton)
    _check_finite(motion)
    local = motion.local_rotations[:, hinges.joints]  # [T, 29, 3, 3]
    if method == "nearest":
        relative = np.swapaxes(hinges.rest, -1, -2) @ local
        skew = relative - np.swapaxes(relative, -1, -2)
        vee = np.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], axis=-1)
        a = hinges.axes
        sine = (vee * a).sum(-1)
        along = np.einsum("ja,tjab,jb->tj", a, relative, a)
        cosine = np.trace(relative, axis1=-2, axis2=-1) - along
        return np.arctan2(sine, cosine)
    if method == "kimodo":
        frame = np.swapaxes(hinges.rest, -1, -2)
        r = frame @ local
        euler = np.stack(
            [np.arctan2(r[..., 2, 1], r[..., 2, 2]), np.arctan2(r[..., 0, 2], r[..., 0, 0]), np.arctan2(r[..., 1, 0], r[..., 1, 1])],
            axis=-1,
        )
        axis = np.einsum("jab,jb->ja", frame, hinges.axes)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        return (euler * axis).sum(-1)
    raise InputError(f"unknown method '{method}'; allowed: nearest, kimodo", field="method")


def g1_qpos(motion: Motion) -> np.ndarray:
    """MuJoCo qpos rows ``[T, 36]`` of a G1 motion (root position, root quaternion w,x,y,z, hinges).

    Hinge angles are extracted with :func:`g1_hinge_angles` (``"nearest"``); no limit check here.
    """
    angles = g1_hinge_angles(motion)
    m = MUJOCO_TO_KIMODO
    position = motion.root_translation @ m  # p_mj = M^T p, row-vector form
    root = motion.local_rotations[:, 0]
    quaternion = matrix_to_quaternion(m.T @ root @ m)
    return np.concatenate([position, quaternion, angles], axis=-1)


def g1_motion_from_qpos(qpos: np.ndarray, skeleton: Skeleton, fps: float = 30.0) -> Motion:
    """A G1 Motion from MuJoCo qpos rows ``[T, 36]`` (see the module docstring for the layout).

    The root quaternion is normalised (a zero quaternion is an error); the toe bases and hand rolls
    get identity local rotations.
    """
    hinges = g1_hinge_table(skeleton)
    qpos = np.asarray(qpos, dtype=np.float64)
    if qpos.ndim != 2 or qpos.shape[1] != QPOS_COLUMNS or qpos.shape[0] == 0:
        raise InputError(f"qpos has shape {qpos.shape}; expected [T >= 1, {QPOS_COLUMNS}]", field="qpos")
    if not np.isfinite(qpos).all():
        row, col = (int(v[0]) for v in np.nonzero(~np.isfinite(qpos)))
        raise InputError(f"qpos holds NaN or inf (frame {row}, column {col})", field="qpos")
    norm = np.linalg.norm(qpos[:, 3:7], axis=-1)
    if (norm < 1e-9).any():
        raise InputError(f"root quaternion (columns 3-6) is zero at frame {int(np.argmax(norm < 1e-9))}", field="qpos")
    m = MUJOCO_TO_KIMODO
    local = np.broadcast_to(np.eye(3), (qpos.shape[0], skeleton.num_joints, 3, 3)).copy()
    local[:, 0] = m @ quaternion_to_matrix(qpos[:, 3:7] / norm[:, None]) @ m.T
    local[:, hinges.joints] = hinges.rotations(qpos[:, 7:])
    return Motion(local_rotations=local, root_translation=qpos[:, :3] @ m.T, fps=fps, skeleton=skeleton)


def g1_clamp_to_limits(motion: Motion) -> Motion:
    """KIMODO's "real robot" projection (reference 5.2): every hinge angle extracted
    (:func:`g1_hinge_angles`), clamped to its ``g1.xml`` range and its rotation rebuilt; the root is
    kept. For G1 motion from elsewhere (a model generating on the G1) before
    :func:`write_mujoco_csv`, which refuses out-of-range angles. Off-axis parts of the local
    rotations are dropped, as the CSV would drop them."""
    hinges = g1_hinge_table(motion.skeleton)
    qpos = g1_qpos(motion)
    qpos[:, 7:] = np.clip(qpos[:, 7:], hinges.ranges[:, 0], hinges.ranges[:, 1])
    local = g1_motion_from_qpos(qpos, motion.skeleton, motion.fps).local_rotations
    local[:, 0] = motion.local_rotations[:, 0]  # the root exactly, not through a quaternion
    return Motion(
        local_rotations=local,
        root_translation=motion.root_translation,
        fps=motion.fps,
        skeleton=motion.skeleton,
        foot_contacts=motion.foot_contacts,
        meta=dict(motion.meta),
    )


def _check_limits(angles: np.ndarray, hinges: G1Hinges, tolerance: float) -> np.ndarray:
    """``angles`` clamped to the ranges; raises naming the first hinge past its range by more than ``tolerance``."""
    lo, hi = hinges.ranges[:, 0], hinges.ranges[:, 1]
    outside = (angles < lo - tolerance) | (angles > hi + tolerance)
    if outside.any():
        frame, joint = (int(v[0]) for v in np.nonzero(outside))
        raise InputError(
            f"hinge '{hinges.names[joint]}' is {angles[frame, joint]:.6f} rad at frame {frame}, outside its "
            f"g1.xml range [{lo[joint]}, {hi[joint]}] rad ({int(outside.sum())} values out of range in all); "
            "retarget with motiongen.retarget.g1.retarget_to_g1, which keeps every joint in range, or clamp "
            "(write_mujoco_csv(..., clamp=True); --clamp-limits on the command line)",
            field=hinges.names[joint],
        )
    return np.clip(angles, lo, hi)


def write_mujoco_csv(motion: Motion, path: str | Path, *, clamp: bool = False) -> Path:
    """Write a G1 motion as MuJoCo qpos rows (module docstring layout), atomically; returns the path.

    Converts out of our world (Y up, +Z forward) into MuJoCo's (Z up, +X forward). The file stores
    no frame rate and means 30 fps (KIMODO's), so other rates are resampled to 30 first (slerp keeps
    a hinge rotation on its axis and between its two angles). ``clamp``: project out-of-range hinges
    into their ranges first (:func:`g1_clamp_to_limits`) instead of refusing them.

    Raises:
        InputError: a motion not on the G1, NaN/inf values, or (without ``clamp``) a hinge angle
            outside its ``g1.xml`` range (naming the joint, frame and range). Nothing is written then.
    """
    hinges = g1_hinge_table(motion.skeleton)
    _check_finite(motion)
    motion = motion.resample(CSV_FPS)
    if clamp:
        motion = g1_clamp_to_limits(motion)
    qpos = g1_qpos(motion)
    qpos[:, 7:] = _check_limits(qpos[:, 7:], hinges, LIMIT_TOLERANCE)
    buffer = io.StringIO()
    np.savetxt(buffer, qpos, delimiter=",", fmt="%.18e")
    return atomic_write_text(path, buffer.getvalue())


def read_mujoco_csv(path: str | Path, skeleton: Skeleton | None = None, fps: float = 30.0) -> Motion:
    """Read MuJoCo qpos rows of the G1 (module docstring layout) into a Motion in our world.

    Args:
        path: the ``.csv`` file.
        skeleton: the G1 rig; default ``get_skeleton("g1")`` (needs the kimodo-assets archive).
        fps: frame rate (the file stores none; KIMODO writes 30).

    Raises:
        InputError: a missing file, a row without 36 numeric columns (naming the line), or NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    if skeleton is None:
        from motiongen.skeleton.registry import get_skeleton

        skeleton = get_skeleton("g1")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text CSV file ({exc.reason})", path=path) from None
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != QPOS_COLUMNS:
            raise InputError(
                f"has {len(cells)} columns; a G1 MuJoCo qpos row has {QPOS_COLUMNS} (root position 3, root "
                f"quaternion w,x,y,z 4, hinge angles {G1_HINGE_COUNT})",
                path=path,
                line=number,
            )
        try:
            values = [float(cell) for cell in cells]
        except ValueError:
            raise InputError("holds a value that is not a number", path=path, line=number) from None
        if not np.isfinite(values).all():
            raise InputError("holds NaN or inf", path=path, line=number)
        rows.append(values)
    if not rows:
        raise InputError(f"holds no rows; expected one row of {QPOS_COLUMNS} numbers per frame", path=path)
    try:
        motion = g1_motion_from_qpos(np.array(rows), skeleton, fps)
    except InputError as exc:
        raise InputError(str(exc), path=path) from None
    motion.meta["source"] = str(path)
    return motion
