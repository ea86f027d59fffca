"""KIMODO output files to SMPL ``motion_135``: the SOMA->SMPL retargeter and its SMPL-X counterpart.

KIMODO writes motion ``.npz`` files on its SOMA rig (30 joints, or 77 with fingers) or on SMPL-X
(22 joints). Evaluators trained on SMPL data read ``motion_135`` (:mod:`motiongen.motion.motion_135`:
``[T, 135]`` float32 at 30 fps, ``trans = pelvis - J_0`` of our ``smplx22`` rest body, I6 rotations).

* :class:`KIMODOSOMAToSMPLRetargeter` retargets SOMA onto ``smplx22`` with the rotation-aware method
  of :mod:`motiongen.retarget.human` (SOMA's calibration pose, canonical joint map, leg-ratio scale,
  feet on the floor), so twist carries over.
* :class:`KIMODOSMPLXToSMPLRetargeter` takes ``smplx22`` files, which need no retargeting: their
  local rotations and pelvis go straight into ``motion_135``.

Both share one interface (``retarget(motion) -> Motion``, ``retarget_file(path) -> [T, 135]``) and
refuse the other's rig with a message naming the class to use. ``retarget_file(path, output=...)``
also writes the result with its layout tag (:func:`write_motion_135_npz`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from motiongen.errors import InputError
from motiongen.io.atomic import atomic_write
from motiongen.io.kimodo_npz import read_kimodo_npz
from motiongen.io.npz import load_npz_arrays
from motiongen.motion.motion import Motion
from motiongen.motion.motion_135 import (
    MOTION_135_DIM,
    MOTION_135_FPS,
    MOTION_135_LAYOUT,
    motion_to_motion_135,
)
from motiongen.retarget.human import check_finite_motion, identify_rig, retarget
from motiongen.skeleton.kimodo_assets import default_assets_dir
from motiongen.skeleton.registry import calibration_pose, get_skeleton
from motiongen.skeleton.skeleton import Skeleton

#: Keys of a file written by :func:`write_motion_135_npz`.
MOTION_135_KEY = "motion_135"
LAYOUT_KEY = "rot6d_layout"
FPS_KEY = "fps"
REST_JOINTS_KEY = "rest_joints"

_SOMA_RIGS = ("soma30", "soma77")
_SMPLX_RIGS = ("smplx22",)


def _rig_description(skeleton: Skeleton) -> str:
    return f"a {skeleton.num_joints}-joint '{skeleton.name}' motion"


class _KIMODOToSMPLRetargeter:
    """Shared machinery: read a KIMODO file, check its rig, map it onto ``smplx22``, pack ``motion_135``.

    Args:
        data_dir: folder with the archives (default ``$MOTIONGEN_DATA`` or ``../shared/data``), as
            :func:`motiongen.skeleton.registry.get_skeleton` takes it.
        cache_dir: unpack cache (default ``$MOTIONGEN_CACHE`` or ``~/.cache/motiongen``).
        ground: lift retargeted motion so its feet meet the floor y = 0 (SOMA only).
    """

    #: rigs this class accepts (registry names)
    accepts: ClassVar[tuple[str, ...]] = ()
    #: the 6D layout of the arrays :meth:`retarget_file` returns
    layout: ClassVar[str] = MOTION_135_LAYOUT
    fps: ClassVar[float] = MOTION_135_FPS

    def __init__(
        self, data_dir: str | Path | None = None, cache_dir: str | Path | None = None, *, ground: bool = True
    ) -> None:
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.ground = ground
        self.target = get_skeleton("smplx22", data_dir, cache_dir)

    # ----------------------------------------------------------------------------------------------
    def _check_rig(self, skeleton: Skeleton, path: str | Path | None = None) -> str:
        """The accepted rig ``skeleton`` is; otherwise an :class:`InputError` naming the right tool."""
        rig = identify_rig(skeleton)
        if rig in self.accepts:
            return rig
        mine = f"{type(self).__name__} takes {' or '.join(self.accepts)} motions"
        if rig in _SOMA_RIGS:
            advice = "use KIMODOSOMAToSMPLRetargeter"
        elif rig in _SMPLX_RIGS:
            advice = "use KIMODOSMPLXToSMPLRetargeter"
        elif rig is not None:
            advice = f"use motiongen.retarget.registered.retarget_to(motion, 'smplx22') for the '{rig}' mocap rig"
        elif skeleton.name == "g1":
            advice = "'g1' is the Unitree G1 robot, not a human body: no SMPL retargeter reads it"
        else:
            advice = (
                "for another human rig, pass a joint map to motiongen.retarget.human.retarget "
                "(motiongen.retarget.joint_map.load_joint_map reads one from JSON)"
            )
        raise InputError(f"{mine}; this is {_rig_description(skeleton)}: {advice}", path=path, field="skeleton")

    def _map(self, motion: Motion, rig: str) -> Motion:
        raise NotImplementedError

    def retarget(self, motion: Motion) -> Motion:
        """``motion`` on ``smplx22`` (same frames and rate); refuses other rigs and NaN/inf."""
        rig = self._check_rig(motion.skeleton)
        check_finite_motion(motion)
        return self._map(motion, rig)

    def read(self, npz_path: str | Path) -> Motion:
        """The KIMODO ``.npz`` at ``npz_path`` as a :class:`Motion` on its own rig, checked to be accepted."""
        assets = default_assets_dir(self.data_dir, self.cache_dir)
        motion = read_kimodo_npz(npz_path, assets_dir=assets)
        self._check_rig(motion.skeleton, npz_path)
        return motion

    def retarget_file(self, npz_path: str | Path, output: str | Path | None = None) -> np.ndarray:
        """``motion_135 [T, 135]`` float32 (30 fps, I6, ``trans = pelvis - J_0``) of a KIMODO ``.npz``.

        ``output``, if given, receives the array with its layout tag (:func:`write_motion_135_npz`).
        """
        frames = motion_to_motion_135(self.retarget(self.read(npz_path)))
        if output is not None:
            write_motion_135_npz(output, frames, self.target)
        return frames


class KIMODOSOMAToSMPLRetargeter(_KIMODOToSMPLRetargeter):
    """KIMODO SOMA motion (``soma30`` or ``soma77``) -> ``smplx22`` -> ``motion_135``.

    Rotation-aware (:func:`motiongen.retarget.human.retarget`): each SMPL joint follows its SOMA
    counterpart's rotation from SOMA's calibration pose, bone directions are then matched exactly, the
    pelvis path is scaled by the leg-length ratio and the feet are put on the floor. SOMA77's finger
    joints have no SMPL-22 counterpart and are dropped.

    >>> retargeter = KIMODOSOMAToSMPLRetargeter()                      # doctest: +SKIP
    >>> frames = retargeter.retarget_file("motion.npz")                # [T, 135] float32, I6
    """

    accepts = _SOMA_RIGS

    def _map(self, motion: Motion, rig: str) -> Motion:
        calibration = calibration_pose(rig, self.data_dir, self.cache_dir)
        return retarget(motion, self.target, calibration=calibration, ground=self.ground)


class KIMODOSMPLXToSMPLRetargeter(_KIMODOToSMPLRetargeter):
    """KIMODO SMPL-X motion (``smplx22``) -> ``motion_135``: the same interface, no retargeting.

    The local rotations and pelvis path are kept as they are; the result is on this retargeter's
    ``smplx22`` body, so ``trans = pelvis - J_0`` refers to the same rest pelvis as the SOMA path.
    """

    accepts = _SMPLX_RIGS

    def _map(self, motion: Motion, rig: str) -> Motion:
        return Motion(
            local_rotations=motion.local_rotations,
            root_translation=motion.root_translation,
            fps=motion.fps,
            skeleton=self.target,
            foot_contacts=motion.foot_contacts,
            meta=dict(motion.meta),
        )


# --------------------------------------------------------------------------------------------------
# files


def write_motion_135_npz(path: str | Path, frames: np.ndarray, body: Skeleton) -> Path:
    """Write ``motion_135 [T, 135]`` with its layout tag, frame rate and body; returns the path.

    Keys: ``motion_135`` (float32), ``rot6d_layout`` (``"I6"``), ``fps`` (30), ``rest_joints [22, 3]``
    (the declared body's rest joints; ``J_0 = rest_joints[0]``). Temporary file, renamed when complete.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != MOTION_135_DIM:
        raise InputError(f"has shape {frames.shape}; expected [T, {MOTION_135_DIM}]", field="motion_135")
    arrays = {
        MOTION_135_KEY: frames,
        LAYOUT_KEY: np.array(MOTION_135_LAYOUT),
        FPS_KEY: np.float32(MOTION_135_FPS),
        REST_JOINTS_KEY: body.rest_positions().astype(np.float32),
    }
    return atomic_write(path, lambda handle: np.savez(handle, **arrays))


def read_motion_135_npz(path: str | Path) -> np.ndarray:
    """``motion_135 [T, 135]`` float32 from a file of :func:`write_motion_135_npz`.

    Refuses a file whose ``rot6d_layout`` is missing or not ``"I6"``: ``motion_135`` arrays carry no
    layout of their own, and C6/R6 data read as I6 decode to plausible, wrong rotations.
    """
    path = Path(path)
    arrays = load_npz_arrays(path, "an .npz archive with 'motion_135' and 'rot6d_layout'")
    for key in (MOTION_135_KEY, LAYOUT_KEY):
        if key not in arrays:
            raise InputError(f"lacks '{key}'; keys present: {', '.join(sorted(arrays)) or 'none'}", path=path, field=key)
    layout = str(arrays[LAYOUT_KEY])
    if layout != MOTION_135_LAYOUT:
        raise InputError(f"stores 6D layout '{layout}'; motion_135 is '{MOTION_135_LAYOUT}'", path=path, field=LAYOUT_KEY)
    frames = arrays[MOTION_135_KEY]
    if frames.ndim != 2 or frames.shape[1] != MOTION_135_DIM or not np.isfinite(frames).all():
        raise InputError(
            f"has shape {frames.shape} (or non-finite values); expected finite [T, {MOTION_135_DIM}]",
            path=path,
            field=MOTION_135_KEY,
        )
    return frames.astype(np.float32)
