"""What a pipeline returns: batched motion arrays, and saving them as KIMODO ``.npz``, ``.bvh`` or, for
the Unitree G1, MuJoCo ``.csv``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motiongen.errors import InputError
from motiongen.io.kimodo_npz import KIMODO_NPZ_KEYS, kimodo_arrays, save_kimodo_arrays
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

#: Extra key in the ``.npz`` files we write: the prompts (JSON list); KIMODO's readers ignore it.
PROMPTS_KEY = "motiongen_prompts"
FILE_SUFFIXES = (".npz", ".bvh", ".csv")
#: The files of one sample in a folder output (plus ``.csv`` on the G1).
FOLDER_SUFFIXES = (".npz", ".bvh")


@dataclass
class MotionOutput:
    """A batch of ``B`` generated motions of ``T`` frames (numpy, KIMODO's output keys, reference 1.6).

    Attributes:
        posed_joints: ``[B, T, J, 3]`` float32 joint positions (metres, Y up, +Z forward).
        global_rot_mats: ``[B, T, J, 3, 3]`` float32 global rotations.
        local_rot_mats: ``[B, T, J, 3, 3]`` float32 rotations relative to the parent.
        foot_contacts: ``[B, T, 4]`` bool ``[L heel, L toe, R heel, R toe]``.
        smooth_root_pos: ``[B, T, 3]`` float32 smooth root as predicted (y = pelvis height).
        root_positions: ``[B, T, 3]`` float32 pelvis trajectory.
        global_root_heading: ``[B, T, 2]`` float32 ``(cos, sin)`` as predicted (not re-normalised).
        fps: frame rate.
        skeleton: the rig.
        prompts: the prompts, in time order (several for a multi-prompt motion).
        features: ``[B, T, D]`` float32 unnormalised features the arrays were decoded from, if kept.
        info: provenance: seed, steps, cfg, segments ``[[start, stop, prompt], ...]``, model.
    """

    posed_joints: np.ndarray
    global_rot_mats: np.ndarray
    local_rot_mats: np.ndarray
    foot_contacts: np.ndarray
    smooth_root_pos: np.ndarray
    root_positions: np.ndarray
    global_root_heading: np.ndarray
    fps: float
    skeleton: Skeleton
    prompts: list[str] = field(default_factory=list)
    features: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        b, t, j = self.posed_joints.shape[:3]
        shapes = {
            "posed_joints": (b, t, j, 3),
            "global_rot_mats": (b, t, j, 3, 3),
            "local_rot_mats": (b, t, j, 3, 3),
            "foot_contacts": (b, t, 4),
            "smooth_root_pos": (b, t, 3),
            "root_positions": (b, t, 3),
            "global_root_heading": (b, t, 2),
        }
        if j != self.skeleton.num_joints:
            raise InputError(f"posed_joints has {j} joints; skeleton '{self.skeleton.name}' has {self.skeleton.num_joints}")
        for key, shape in shapes.items():
            value = np.asarray(getattr(self, key))
            value = value.astype(bool) if key == "foot_contacts" else value.astype(np.float32, copy=False)
            if value.shape != shape:
                raise InputError(f"has shape {value.shape}; expected {shape}", field=key)
            setattr(self, key, value)

    @property
    def num_samples(self) -> int:
        return int(self.posed_joints.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.posed_joints.shape[1])

    def __len__(self) -> int:
        return self.num_samples

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """Sample ``index`` as KIMODO's 7 arrays (batch dim stripped, as KIMODO saves one sample)."""
        return {key: getattr(self, key)[index] for key in KIMODO_NPZ_KEYS}

    def motions(self) -> list[Motion]:
        """One :class:`Motion` per sample (local rotations, pelvis trajectory, contacts)."""
        per_sample = self.info.get("sample_prompts")
        info = {k: v for k, v in self.info.items() if k != "sample_prompts"}
        return [
            Motion(
                local_rotations=self.local_rot_mats[b],
                root_translation=self.root_positions[b],
                fps=self.fps,
                skeleton=self.skeleton,
                foot_contacts=self.foot_contacts[b],
                meta={**info, "prompts": [per_sample[b]] if per_sample else list(self.prompts)},
            )
            for b in range(self.num_samples)
        ]

    @classmethod
    def from_motions(cls, motions: Sequence[Motion], *, prompts: Sequence[str] = (), info: dict[str, Any] | None = None) -> "MotionOutput":
        """A batch of motions of one rig, frame rate and length (e.g. retargeted samples).

        The smooth root, heading and contacts are computed from the joint positions
        (:func:`motiongen.io.kimodo_npz.kimodo_arrays`); ``features`` is not kept.
        """
        if not motions:
            raise InputError("no motions", field="motions")
        first = motions[0]
        for m in motions[1:]:
            if m.skeleton != first.skeleton or m.num_frames != first.num_frames or m.fps != first.fps:
                raise InputError("motions of one output share their skeleton, length and frame rate", field="motions")
        per_motion = [kimodo_arrays(m) for m in motions]
        stacked = {key: np.stack([arrays[key] for arrays in per_motion]) for key in KIMODO_NPZ_KEYS}
        return cls(**stacked, fps=first.fps, skeleton=first.skeleton, prompts=list(prompts), info=dict(info or {}))

    # ----------------------------------------------------------------------------------------------
    def output_paths(self, path: str | os.PathLike[str]) -> list[Path]:
        """The files :meth:`save` writes for ``path`` (see there), without writing anything."""
        return output_paths(path, self.num_samples, self.skeleton)

    def save(self, path: str | os.PathLike[str]) -> list[Path]:
        """Write every sample; returns the files written.

        * ``x.npz`` / ``x.bvh``: one sample -> that file; ``B > 1`` samples -> ``x/x_00.npz``,
          ``x/x_01.npz``, ... (KIMODO's layout).
        * ``x.csv`` (G1 motions only): MuJoCo qpos rows (:func:`motiongen.io.mujoco_csv.write_mujoco_csv`),
          with the same numbering for several samples.
        * any other path (an existing folder, or a name without suffix): ``<dir>/sample_00.npz`` and
          ``<dir>/sample_00.bvh`` per sample (and ``<dir>/sample_00.csv`` on the G1).

        ``.npz`` files hold KIMODO's 7 keys (float32, bool contacts, no batch dim) plus the rig
        (``motiongen_skeleton``) and the prompts; ``.bvh`` and ``.csv`` files are written by
        :func:`motiongen.io.formats.save_motion` (BVH: centimetres, ZYX; on SOMA, KIMODO's layout). Each file is written atomically; if
        one fails, the files this call already wrote are removed, so no partial output remains.
        """
        from motiongen.io.formats import save_motion

        targets = self.output_paths(path)
        check_writable(targets)
        written: list[Path] = []
        # folders this call creates are removed again on failure (deepest first)
        new_dirs = sorted({p for t in targets for p in (t.parent, *t.parent.parents) if not p.exists()}, key=lambda p: -len(p.parts))
        motions: list[Motion] | None = None
        per_sample = len(targets) // self.num_samples
        try:
            for k, target in enumerate(targets):
                sample = k // per_sample
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.suffix == ".npz":
                    self._write_npz(sample, target)
                else:  # .bvh (KIMODO's layout on SOMA), .csv (MuJoCo, G1)
                    motions = motions if motions is not None else self.motions()
                    save_motion(motions[sample], target)
                written.append(target)
        except BaseException as exc:
            for done in written:
                done.unlink(missing_ok=True)
            for folder in new_dirs:
                try:
                    folder.rmdir()
                except OSError:
                    pass
            if isinstance(exc, OSError):
                raise InputError(f"cannot write ({exc.strerror or exc})", path=exc.filename or path, field="output") from None
            raise
        return written

    def _write_npz(self, sample: int, path: Path) -> None:
        per_sample = self.info.get("sample_prompts")
        prompts = json.dumps([per_sample[sample]] if per_sample else self.prompts)
        save_kimodo_arrays(self.arrays(sample), self.skeleton, path, extra={PROMPTS_KEY: np.array(prompts)})

    @classmethod
    def concatenate_batch(cls, outputs: Sequence["MotionOutput"]) -> "MotionOutput":
        """Stack outputs of the same length along the batch axis (e.g. batches generated in chunks)."""
        if not outputs:
            raise InputError("no outputs to concatenate", field="outputs")
        first = outputs[0]
        keys = KIMODO_NPZ_KEYS + ("features",)
        stacked = {
            key: None if any(getattr(o, key) is None for o in outputs) else np.concatenate([getattr(o, key) for o in outputs])
            for key in keys
        }
        return cls(**stacked, fps=first.fps, skeleton=first.skeleton, prompts=list(first.prompts), info=dict(first.info))


def output_paths(path: str | os.PathLike[str], num_samples: int, skeleton: Skeleton | None = None) -> list[Path]:
    """The files written for ``num_samples`` samples at ``path`` (:meth:`MotionOutput.save`'s rules);
    ``skeleton`` (default: a human rig) decides whether a ``.csv`` is allowed or added."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    is_g1 = skeleton is not None and "hinges" in skeleton.extras
    if suffix == ".csv" and not is_g1:
        raise InputError(
            "a .csv output holds MuJoCo qpos rows of the Unitree G1; add --skeleton g1, or write .npz or .bvh",
            path=path,
            field="output",
        )
    if suffix in FILE_SUFFIXES:
        if path.is_dir():
            raise InputError(f"is a folder; a {suffix} output must be a file path", path=path, field="output")
        if num_samples == 1:
            return [path]
        folder = path.with_suffix("")
        return [folder / f"{folder.name}_{k:02d}{suffix}" for k in range(num_samples)]
    if suffix and not path.is_dir():
        raise InputError(
            f"unsupported output format '{suffix}'; write .npz (KIMODO), .bvh, .csv (G1), or name a folder "
            "(all of them per sample)",
            path=path,
            field="output",
        )
    suffixes = FOLDER_SUFFIXES + ((".csv",) if is_g1 else ())
    return [path / f"sample_{k:02d}{ext}" for k in range(num_samples) for ext in suffixes]


def check_writable(paths: Sequence[Path]) -> None:
    """Raise :class:`InputError` unless every path can be created: the nearest existing ancestor
    must be a writable folder, and an existing path must be a file (it is replaced)."""
    for path in paths:
        if path.is_dir():
            raise InputError("is a folder; cannot write a file there", path=path, field="output")
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InputError(f"cannot write: '{ancestor}' is not a folder", path=path, field="output")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise InputError(f"cannot write: no write permission in '{ancestor}'", path=path, field="output")
