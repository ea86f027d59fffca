"""AMASS-style SMPL-X ``.npz`` files (reference 5.3), in and out of :class:`Motion`.

A file we write holds two key sets, so that both kinds of readers find what they look for:

* the classic AMASS SMPL-X layout: ``poses [T, 165]`` (axis-angle: root orientation 3, body 63,
  jaw 3, eyes 6, hands 90), ``trans [T, 3]``, ``betas [16]``, ``num_betas``, ``gender`` and
  ``mocap_framerate`` (AMASS's spelling);
* KIMODO's own export keys: ``root_orient [T, 3]``, ``pose_body [T, 63]``, ``pose_hand [T, 90]``
  (SMPL-X mean hands on every frame), ``pose_jaw [T, 3]``, ``pose_eye [T, 6]`` (zeros),
  ``surface_model_type`` (``"smplx"``), ``mocap_frame_rate`` and ``mocap_time_length`` (seconds).

Axes: AMASS is Z up with the body facing +Y. Our world (Y up, +Z forward, metres) maps to it by
KIMODO's ``A = [[-1, 0, 0], [0, 0, 1], [0, 1, 0]]``: ``root_orient = aa(A R_root)`` and
``trans = A pelvis - J0``, where ``J0`` is the ``smplx22`` rest pelvis (the rig's root offset,
about ``(0.0023, -0.3723, 0.0123)``): SMPL-X rotates the body about ``J0`` and then adds ``trans``.
Body joint rotations are local, so they need no conversion.

Reading accepts either key set (``poses`` wins when both are present) and real AMASS files with
``poses [T, 156]`` (SMPL-H, 52 joints), ``[T, 165]`` (SMPL-X, 55 joints) or ``[T, 72]`` (SMPL, 24
joints): only the first 22 joints, which all three body models share, are used, on our ``smplx22``
rig. A real AMASS body has its own shape, so its pelvis sits at ``trans + J0(betas)``; we use the
rig's ``J0`` and do not evaluate the body model, which moves such a clip by the difference of the
two rest pelvises (millimetres to a few centimetres).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError
from motiongen.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from motiongen.io.atomic import atomic_write
from motiongen.io.npz import load_npz_arrays
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import (
    SMPLX22_JOINTS,
    default_assets_dir,
    load_kimodo_skeleton,
    load_smplx_betas,
    load_smplx_mean_hands,
)
from motiongen.skeleton.skeleton import Skeleton

#: Our world (Y up, +Z forward) -> AMASS's (Z up, +Y forward); a proper rotation (det +1).
KIMODO_TO_AMASS = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
#: Body joints read and written: pelvis + 21, the first 22 joints of SMPL, SMPL-H and SMPL-X.
BODY_JOINTS = 22
#: ``poses`` widths read -> the body model they come from.
POSES_WIDTHS = {66: "22 body joints", 72: "SMPL, 24 joints", 156: "SMPL-H, 52 joints", 165: "SMPL-X, 55 joints"}
#: Default rate when a file names none (KIMODO's, and the rate of every file KIMODO writes).
DEFAULT_FPS = 30.0
GENDERS = ("neutral", "male", "female")
DEFAULT_NUM_BETAS = 16

#: Every key :func:`write_amass_npz` writes, classic AMASS keys first, then KIMODO's.
AMASS_NPZ_KEYS = (
    "poses",
    "trans",
    "betas",
    "num_betas",
    "gender",
    "mocap_framerate",
    "root_orient",
    "pose_body",
    "pose_hand",
    "pose_jaw",
    "pose_eye",
    "surface_model_type",
    "mocap_frame_rate",
    "mocap_time_length",
)
_SMPLX22_NAMES = tuple(name for name, _ in SMPLX22_JOINTS)


# ------------------------------------------------------------------------------------------------
# writing


def write_amass_npz(
    motion: Motion,
    path: str | Path,
    *,
    betas: np.ndarray | None = None,
    gender: str = "neutral",
    assets_dir: str | Path | None = None,
) -> Path:
    """Write an ``smplx22`` motion as an AMASS-style SMPL-X ``.npz``; returns the path written.

    Converts out of our world into AMASS's (Z up, +Y forward; see module docstring); keeps the
    motion's frame rate (stored in ``mocap_framerate`` and ``mocap_frame_rate``). Arrays are float64
    like AMASS's; the file is uncompressed (``np.savez``), written to a temporary file beside
    ``path`` and renamed when complete.

    Args:
        motion: ``[T, 22]`` motion on ``smplx22``.
        path: the ``.npz`` to write.
        betas: ``[B]`` SMPL-X shape coefficients; default the first 16 of KIMODO's ``beta.npy``.
        gender: ``"neutral"``, ``"male"`` or ``"female"``.
        assets_dir: the ``kimodo-assets`` folder for the default betas and the mean hand pose
            (default: the archive's, see :func:`~motiongen.skeleton.kimodo_assets.default_assets_dir`).

    Raises:
        InputError: another rig, non-finite or non-rotation values, bad ``betas`` or ``gender``.
    """
    path = Path(path)
    _check_smplx_motion(motion)
    if gender not in GENDERS:
        raise InputError(f"unknown gender {gender!r}; allowed: {', '.join(GENDERS)}", field="gender")
    shape = None if betas is None else _checked_betas(betas)
    assets = Path(assets_dir) if assets_dir is not None else default_assets_dir()
    if shape is None:
        shape = load_smplx_betas(assets, DEFAULT_NUM_BETAS)
    arrays = amass_arrays(motion, shape, gender, load_smplx_mean_hands(assets))
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def amass_arrays(motion: Motion, betas: np.ndarray, gender: str, mean_hands: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of :data:`AMASS_NPZ_KEYS` for an ``smplx22`` motion (no validation; see
    :func:`write_amass_npz`).

    Args:
        motion: ``[T, 22]`` motion.
        betas: ``[B]`` shape coefficients.
        gender: body model gender.
        mean_hands: ``[90]`` hand pose written on every frame.
    """
    frames = motion.num_frames
    root = KIMODO_TO_AMASS @ motion.local_rotations[:, 0]
    root_orient = matrix_to_axis_angle(root)  # [T, 3]
    pose_body = matrix_to_axis_angle(motion.local_rotations[:, 1:BODY_JOINTS]).reshape(frames, 63)
    pose_jaw = np.zeros((frames, 3))
    pose_eye = np.zeros((frames, 6))
    pose_hand = np.broadcast_to(np.asarray(mean_hands, dtype=np.float64), (frames, 90)).copy()
    pelvis_rest = motion.skeleton.offsets[0]
    trans = motion.root_translation @ KIMODO_TO_AMASS.T - pelvis_rest
    fps = np.array(motion.fps, dtype=np.float64)
    return {
        "poses": np.concatenate([root_orient, pose_body, pose_jaw, pose_eye, pose_hand], axis=1),
        "trans": trans,
        "betas": np.asarray(betas, dtype=np.float64),
        "num_betas": np.array(len(betas), dtype=np.int64),
        "gender": np.array(gender),
        "mocap_framerate": fps,
        "root_orient": root_orient,
        "pose_body": pose_body,
        "pose_hand": pose_hand,
        "pose_jaw": pose_jaw,
        "pose_eye": pose_eye,
        "surface_model_type": np.array("smplx"),
        "mocap_frame_rate": fps.copy(),
        "mocap_time_length": np.array(frames / motion.fps, dtype=np.float64),
    }


def _check_smplx_motion(motion: Motion) -> None:
    """Refuse what the SMPL-X layout cannot hold: another rig, non-finite or non-rotation values."""
    if not isinstance(motion, Motion):
        raise InputError(f"expected a Motion, got {type(motion).__name__}", field="motion")
    skeleton = motion.skeleton
    if skeleton.name != "smplx22" or skeleton.joint_names != _SMPLX22_NAMES:
        raise InputError(
            f"AMASS SMPL-X export needs a motion on 'smplx22' (22 SMPL-X body joints); got '{skeleton.name}' "
            f"with {skeleton.num_joints} joints; retarget it first (motiongen.retarget.registered.retarget_to)",
            field="skeleton",
        )
    # Motion checks at construction, but its arrays may have been edited since
    for name, array in (("local_rotations", motion.local_rotations), ("root_translation", motion.root_translation)):
        bad = np.argwhere(~np.isfinite(array))
        if bad.size:
            raise InputError(f"{name} is not finite at index {tuple(int(i) for i in bad[0])}", field=name)
    if motion.num_frames < 1:
        raise InputError("the motion has no frames", field="local_rotations")
    rot = motion.local_rotations
    error = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).max(axis=(-1, -2))
    bad = np.argwhere((error > 1e-4) | (np.linalg.det(rot) < 0))
    if bad.size:
        frame, joint = (int(i) for i in bad[0])
        raise InputError(
            f"local_rotations[{frame}, {joint}] (joint '{skeleton.joint_names[joint]}') is not a rotation matrix",
            field="local_rotations",
        )


def _checked_betas(betas: np.ndarray) -> np.ndarray:
    """``betas`` as a float64 ``[B]`` array, 1 <= B <= 300 (SMPL-X's count), finite."""
    try:
        array = np.asarray(betas, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("betas must be a 1-D array of numbers", field="betas") from None
    if array.ndim != 1 or not 1 <= array.shape[0] <= 300:
        raise InputError(f"betas has shape {array.shape}; expected [B] with 1 <= B <= 300", field="betas")
    if not np.isfinite(array).all():
        raise InputError("betas contain NaN or inf", field="betas")
    return array


# ------------------------------------------------------------------------------------------------
# reading


def read_amass_npz(
    path: str | Path,
    skeleton: Skeleton | None = None,
    *,
    assets_dir: str | Path | None = None,
) -> Motion:
    """Read an AMASS-style ``.npz`` (either key set, or a real AMASS SMPL/SMPL-H/SMPL-X file).

    Converts from AMASS's axes into ours (module docstring). ``poses`` is used when present, else
    ``root_orient`` + ``pose_body``; the frame rate is ``mocap_framerate`` or ``mocap_frame_rate``
    (30 when the file names none).

    Args:
        path: the ``.npz`` file.
        skeleton: a 22-joint SMPL-X body rig (default the registered ``smplx22``); its root offset
            is the rest pelvis ``J0``.
        assets_dir: ``kimodo-assets`` folder to load ``smplx22`` from instead of the registry's.

    Returns:
        Motion ``[T, 22]`` with ``meta`` holding ``source``, ``betas``, ``gender`` (when present) and
        ``amass_keys`` (``"poses"`` or ``"kimodo"``: the key set read).

    Raises:
        InputError: unreadable file, missing keys, wrong shapes, non-finite values.
    """
    path = Path(path)
    arrays = _load_arrays(path)
    rig = _smplx_rig(skeleton, assets_dir)
    body, keys = _body_axis_angles(arrays, path)
    frames = body.shape[0]
    trans = _numbers(arrays, "trans", path)
    if trans.shape != (frames, 3):
        raise InputError(f"has shape {trans.shape}; expected [{frames}, 3] (T from the poses)", path=path, field="trans")
    local = axis_angle_to_matrix(body)  # [T, 22, 3, 3]
    local[:, 0] = KIMODO_TO_AMASS.T @ local[:, 0]
    pelvis = (trans + rig.offsets[0]) @ KIMODO_TO_AMASS  # row form of A^T (trans + J0)
    meta: dict[str, Any] = {"source": str(path), "amass_keys": keys}
    if "betas" in arrays:
        meta["betas"] = _numbers(arrays, "betas", path).reshape(-1).tolist()
    if "gender" in arrays:
        meta["gender"] = _text(arrays["gender"])
    return Motion(local_rotations=local, root_translation=pelvis, fps=_frame_rate(arrays, path), skeleton=rig, meta=meta)


def _smplx_rig(skeleton: Skeleton | None, assets_dir: str | Path | None) -> Skeleton:
    if skeleton is None:
        if assets_dir is not None:
            return load_kimodo_skeleton("smplx22", assets_dir)
        from motiongen.skeleton.registry import get_skeleton

        return get_skeleton("smplx22")
    if skeleton.num_joints != BODY_JOINTS:
        raise InputError(
            f"skeleton '{skeleton.name}' has {skeleton.num_joints} joints; AMASS files are read onto a "
            f"{BODY_JOINTS}-joint SMPL-X body rig (smplx22)",
            field="skeleton",
        )
    return skeleton


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    return load_npz_arrays(path, "an AMASS .npz archive of named arrays")


def _numbers(arrays: Mapping[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    if key not in arrays:
        raise InputError(f"lacks '{key}'; keys present: {', '.join(sorted(arrays)) or 'none'}", path=path, field=key)
    value = arrays[key]
    if not np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.complexfloating):
        raise InputError(f"holds dtype {value.dtype}; expected real numbers", path=path, field=key)
    value = value.astype(np.float64)
    bad = np.argwhere(~np.isfinite(value))
    if bad.size:
        raise InputError(f"is not finite at index {tuple(int(i) for i in bad[0])}", path=path, field=key)
    return value


def _body_axis_angles(arrays: Mapping[str, np.ndarray], path: Path) -> tuple[np.ndarray, str]:
    """Axis-angles ``[T, 22, 3]`` of the body joints (AMASS axes for the root) and the key set used."""
    if "poses" in arrays:
        poses = _numbers(arrays, "poses", path)
        if poses.ndim != 2 or poses.shape[1] not in POSES_WIDTHS or poses.shape[0] < 1:
            widths = ", ".join(f"{w} ({what})" for w, what in POSES_WIDTHS.items())
            raise InputError(f"has shape {poses.shape}; expected [T >= 1, W] with W one of {widths}", path=path, field="poses")
        return poses[:, : 3 * BODY_JOINTS].reshape(-1, BODY_JOINTS, 3), "poses"
    if "root_orient" in arrays and "pose_body" in arrays:
        root = _numbers(arrays, "root_orient", path)
        body = _numbers(arrays, "pose_body", path)
        if root.ndim != 2 or root.shape[1:] != (3,) or root.shape[0] < 1:
            raise InputError(f"has shape {root.shape}; expected [T >= 1, 3]", path=path, field="root_orient")
        if body.shape != (root.shape[0], 3 * (BODY_JOINTS - 1)):
            raise InputError(
                f"has shape {body.shape}; expected [{root.shape[0]}, {3 * (BODY_JOINTS - 1)}] like root_orient",
                path=path,
                field="pose_body",
            )
        return np.concatenate([root, body], axis=1).reshape(-1, BODY_JOINTS, 3), "kimodo"
    raise InputError(
        "holds neither 'poses' nor 'root_orient' + 'pose_body'; keys present: " + (", ".join(sorted(arrays)) or "none"),
        path=path,
        field="poses",
    )


def _frame_rate(arrays: Mapping[str, np.ndarray], path: Path) -> float:
    for key in ("mocap_framerate", "mocap_frame_rate"):
        if key in arrays:
            value = _numbers(arrays, key, path)
            if value.size != 1 or not value.reshape(-1)[0] > 0:
                raise InputError(f"is {value.tolist()}; expected one positive frame rate", path=path, field=key)
            return float(value.reshape(-1)[0])
    return DEFAULT_FPS


def _text(value: np.ndarray) -> str:
    """A string stored as a 0-d str or bytes array (AMASS files hold either)."""
    item = value.reshape(-1)[0] if value.size else ""
    return item.decode("utf-8", errors="replace") if isinstance(item, bytes) else str(item)
