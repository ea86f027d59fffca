"""The one motion container that every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from motiongen.errors import InputError
from motiongen.geometry import matrix_to_quaternion, quaternion_slerp, quaternion_to_matrix
from motiongen.skeleton.skeleton import Skeleton

#: Reflection across the character's sagittal plane in world axes (left = +X).
_MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclass
class Motion:
    """Skeletal animation: local rotations, root translation, frame rate and skeleton.

    Attributes:
        local_rotations: ``[T, J, 3, 3]`` float rotation matrices relative to the parent (rest
            orientation identity, see :mod:`motiongen.skeleton.skeleton`).
        root_translation: ``[T, 3]`` absolute root position in metres (Y up, +Z forward).
        fps: frames per second.
        skeleton: the rig the rotations refer to.
        joint_translations: optional ``[T, J, 3]`` animated local translations replacing rest offsets
            (NaN where a joint has none), kept so that rigs with per-joint position channels
            round-trip exactly.
        foot_contacts: optional ``[T, 4]`` bool contacts (left heel, left toe, right heel, right toe).
        meta: free-form provenance (source file, captions, ...).
    """

    local_rotations: np.ndarray
    root_translation: np.ndarray
    fps: float
    skeleton: Skeleton
    joint_translations: np.ndarray | None = None
    foot_contacts: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.local_rotations = np.asarray(self.local_rotations, dtype=np.float64)
        self.root_translation = np.asarray(self.root_translation, dtype=np.float64)
        t = self.local_rotations.shape[0] if self.local_rotations.ndim == 4 else -1
        j = self.skeleton.num_joints
        if self.local_rotations.shape != (t, j, 3, 3):
            raise InputError(
                f"local_rotations has shape {self.local_rotations.shape}; expected [T, {j}, 3, 3]",
                field="local_rotations",
            )
        if self.root_translation.shape != (t, 3):
            raise InputError(
                f"root_translation has shape {self.root_translation.shape}; expected [{t}, 3]", field="root_translation"
            )
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"fps must be a positive number, got {self.fps}", field="fps")
        self.fps = float(self.fps)
        if not np.isfinite(self.local_rotations).all():
            raise InputError("local_rotations contain NaN or inf", field="local_rotations")
        if not np.isfinite(self.root_translation).all():
            raise InputError("root_translation contains NaN or inf", field="root_translation")
        if self.joint_translations is not None:
            self.joint_translations = np.asarray(self.joint_translations, dtype=np.float64)
            if self.joint_translations.shape != (t, j, 3):
                raise InputError(
                    f"joint_translations has shape {self.joint_translations.shape}; expected [{t}, {j}, 3]",
                    field="joint_translations",
                )
        if self.foot_contacts is not None:
            self.foot_contacts = np.asarray(self.foot_contacts, dtype=bool)
            if self.foot_contacts.shape != (t, 4):
                raise InputError(
                    f"foot_contacts has shape {self.foot_contacts.shape}; expected [{t}, 4]", field="foot_contacts"
                )

    # ----------------------------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.local_rotations.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds (``num_frames / fps``)."""
        return self.num_frames / self.fps

    def __len__(self) -> int:
        return self.num_frames

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """Global rotations ``[T, J, 3, 3]`` and joint positions ``[T, J, 3]``."""
        return self.skeleton.forward_kinematics(self.local_rotations, self.root_translation, self.joint_translations)

    def joint_positions(self) -> np.ndarray:
        """Global joint positions ``[T, J, 3]`` in metres."""
        return self.forward_kinematics()[1]

    def global_rotations(self) -> np.ndarray:
        return self.forward_kinematics()[0]

    # ----------------------------------------------------------------------------------------------
    def slice(self, start: int, stop: int | None = None, step: int = 1) -> "Motion":
        """Frames ``[start:stop:step]``; raises for an empty or out-of-range window.

        As numpy slicing, the new motion's arrays are views of this one's (no copy): writing into
        them in place changes both motions, so copy the arrays first when editing a slice.
        """
        stop = self.num_frames if stop is None else stop
        if not (0 <= start < stop <= self.num_frames) or step < 1:
            raise InputError(
                f"frame window [{start}, {stop}) step {step} is outside 0..{self.num_frames}", field="frames"
            )
        sl = slice(start, stop, step)
        return replace(
            self,
            local_rotations=self.local_rotations[sl],
            root_translation=self.root_translation[sl],
            fps=self.fps / step,
            joint_translations=None if self.joint_translations is None else self.joint_translations[sl],
            foot_contacts=None if self.foot_contacts is None else self.foot_contacts[sl],
            meta=dict(self.meta),
        )

    def __getitem__(self, item: slice) -> "Motion":
        if not isinstance(item, slice):
            raise TypeError("Motion supports slicing only, e.g. motion[10:40]")
        start, stop, step = item.indices(self.num_frames)
        return self.slice(start, stop, step)

    @staticmethod
    def concatenate(motions: Sequence["Motion"]) -> "Motion":
        """Join motions end to end in time; they must share skeleton and frame rate."""
        if not motions:
            raise InputError("nothing to concatenate", field="motions")
        first = motions[0]
        for k, m in enumerate(motions[1:], start=1):
            if m.skeleton != first.skeleton:
                raise InputError(f"motion {k} has skeleton '{m.skeleton.name}', not '{first.skeleton.name}'", field="motions")
            if abs(m.fps - first.fps) > 1e-6:
                raise InputError(f"motion {k} has {m.fps} fps, not {first.fps}", field="motions")
        has_jt = any(m.joint_translations is not None for m in motions)
        has_fc = all(m.foot_contacts is not None for m in motions)

        def jt(m: Motion) -> np.ndarray:
            if m.joint_translations is not None:
                return m.joint_translations
            return np.full((m.num_frames, first.skeleton.num_joints, 3), np.nan)

        return Motion(
            local_rotations=np.concatenate([m.local_rotations for m in motions]),
            root_translation=np.concatenate([m.root_translation for m in motions]),
            fps=first.fps,
            skeleton=first.skeleton,
            joint_translations=np.concatenate([jt(m) for m in motions]) if has_jt else None,
            foot_contacts=np.concatenate([m.foot_contacts for m in motions]) if has_fc else None,
            meta=dict(first.meta),
        )

    def resample(self, fps: float = 30.0) -> "Motion":
        """Resample to ``fps``: rotations by slerp, translations linearly; the duration is kept.

        The new frame ``k`` samples time ``k / fps``; frames past the last source sample are not
        extrapolated, so the result has ``floor((T - 1) * fps / self.fps) + 1`` frames.
        """
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"target fps must be positive, got {fps}", field="fps")
        if abs(fps - self.fps) < 1e-9:
            return replace(self, meta=dict(self.meta))
        t = self.num_frames
        n = int(np.floor((t - 1) * fps / self.fps + 1e-9)) + 1
        src = np.arange(n) * (self.fps / fps)
        i0 = np.clip(np.floor(src).astype(int), 0, t - 1)
        i1 = np.clip(i0 + 1, 0, t - 1)
        w = src - i0
        q = matrix_to_quaternion(self.local_rotations)
        rot = quaternion_to_matrix(quaternion_slerp(q[i0], q[i1], np.broadcast_to(w[:, None], (n, q.shape[1]))))

        def lerp(x: np.ndarray) -> np.ndarray:
            ww = w.reshape((-1,) + (1,) * (x.ndim - 1))
            return x[i0] * (1 - ww) + x[i1] * ww

        contacts = None
        if self.foot_contacts is not None:
            contacts = self.foot_contacts[np.clip(np.round(src).astype(int), 0, t - 1)]
        return Motion(
            local_rotations=rot,
            root_translation=lerp(self.root_translation),
            fps=fps,
            skeleton=self.skeleton,
            joint_translations=None if self.joint_translations is None else lerp(self.joint_translations),
            foot_contacts=contacts,
            meta=dict(self.meta),
        )

    def mirror(self) -> "Motion":
        """Left-right mirror across the world plane x = 0 (the character's sagittal plane at rest).

        Rotations become ``M R M`` with ``M = diag(-1, 1, 1)`` and swap with their counterpart joint;
        translations negate x. Exact when the skeleton's rest pose is itself mirror-symmetric.
        """
        if self.skeleton.mirror is None:
            raise InputError(f"skeleton '{self.skeleton.name}' has no mirror map", field="skeleton")
        perm = list(self.skeleton.mirror)
        rot = _MIRROR @ self.local_rotations[:, perm] @ _MIRROR
        jt = None
        if self.joint_translations is not None:
            jt = self.joint_translations[:, perm] * np.array([-1.0, 1.0, 1.0])
        contacts = None if self.foot_contacts is None else self.foot_contacts[:, [2, 3, 0, 1]]
        return Motion(
            local_rotations=rot,
            root_translation=self.root_translation * np.array([-1.0, 1.0, 1.0]),
            fps=self.fps,
            skeleton=self.skeleton,
            joint_translations=jt,
            foot_contacts=contacts,
            meta=dict(self.meta),
        )

    def reorder_joints(self, joint_names: Sequence[str], skeleton: Skeleton | None = None) -> "Motion":
        """The same motion with joints in ``joint_names`` order (e.g. a BVH's depth-first order back
        to a registered rig's); ``skeleton`` replaces the reordered rig (same names and order)."""
        order = self.skeleton.indices(joint_names)
        new_skeleton = self.skeleton.reordered(joint_names)
        if skeleton is not None:
            if skeleton.joint_names != new_skeleton.joint_names or skeleton.parents != new_skeleton.parents:
                raise InputError(f"skeleton '{skeleton.name}' does not match the reordered joints", field="skeleton")
            new_skeleton = skeleton
        return Motion(
            local_rotations=self.local_rotations[:, order],
            root_translation=self.root_translation,
            fps=self.fps,
            skeleton=new_skeleton,
            joint_translations=None if self.joint_translations is None else self.joint_translations[:, order],
            foot_contacts=self.foot_contacts,
            meta=dict(self.meta),
        )
