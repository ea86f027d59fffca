"""The one skeleton type: joint names, parents, rest offsets, semantic joint sets, and FK.

Conventions (KIMODO's, reference section 3.1): every joint's rest orientation is the identity, so a
rest offset is the child's rest position minus its parent's, expressed in world axes (Y up, +Z
forward, character's left = +X, metres). The root's offset is its rest position. Forward kinematics:

    G_root = L_root,          p_root = root_translation  (absolute: the root rest offset is not added)
    G_j    = G_parent L_j,    p_j    = p_parent + G_parent offset_j

A joint whose local translation is animated (a BVH joint with position channels) may have its offset
replaced frame by frame through ``joint_translations``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from motiongen.errors import InputError, UnknownNameError

Array = np.ndarray | torch.Tensor

#: Semantic sets every skeleton may name; values are joint-name tuples.
#: ``left_foot``/``right_foot``: foot chain, ankle first then toe (KIMODO's foot-contact joints).
#: ``left_hand``/``right_hand``: hand chain, wrist first. ``hips``: (right hip, left hip) for heading.
SEMANTIC_SETS = ("left_foot", "right_foot", "left_hand", "right_hand", "hips")


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree with rest offsets and named joint sets.

    Attributes:
        name: registry name (``smplx22``, ``bandai22``, ...) or a free name for a custom rig.
        joint_names: ``J`` unique names, parents before children.
        parents: ``J`` parent indices, ``-1`` for the root (index 0).
        offsets: ``[J, 3]`` float64 rest offsets in metres (see module docstring).
        joint_sets: semantic sets (:data:`SEMANTIC_SETS`) as tuples of joint names.
        mirror: ``J`` indices: the left/right counterpart of each joint (itself on the midline).
        extras: JSON-serialisable per-skeleton data (e.g. G1 hinge axes and limits).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    joint_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    mirror: tuple[int, ...] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(self.joint_names)
        parents = tuple(int(p) for p in self.parents)
        offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1, 3)
        object.__setattr__(self, "joint_names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "offsets", offsets)
        n = len(names)
        if n == 0:
            raise InputError("a skeleton needs at least one joint", field="joint_names")
        if len(set(names)) != n:
            dup = sorted({x for x in names if names.count(x) > 1})
            raise InputError(f"duplicate joint names {dup}", field="joint_names")
        if len(parents) != n or offsets.shape[0] != n:
            raise InputError(
                f"{n} joint names but {len(parents)} parents and {offsets.shape[0]} offsets", field="parents"
            )
        if parents[0] != -1:
            raise InputError("joint 0 must be the root (parent -1)", field="parents")
        for j, p in enumerate(parents[1:], start=1):
            if not 0 <= p < j:
                raise InputError(
                    f"joint {j} ('{names[j]}') has parent {p}; parents must come before children (0..{j - 1})",
                    field="parents",
                )
        if not np.isfinite(offsets).all():
            raise InputError("offsets contain NaN or inf", field="offsets")
        sets = {k: tuple(v) for k, v in dict(self.joint_sets).items()}
        for key, joints in sets.items():
            for joint in joints:
                if joint not in names:
                    raise UnknownNameError(f"joint set '{key}' names unknown joint '{joint}' of skeleton '{self.name}'")
        object.__setattr__(self, "joint_sets", sets)
        if self.mirror is not None:
            mirror = tuple(int(m) for m in self.mirror)
            if sorted(mirror) != list(range(n)) or any(mirror[mirror[j]] != j for j in range(n)):
                raise InputError("mirror must be an involutive permutation of joint indices", field="mirror")
            object.__setattr__(self, "mirror", mirror)
        object.__setattr__(self, "extras", dict(self.extras))

    # ----------------------------------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint: str) -> int:
        """Index of ``joint``; raises :class:`UnknownNameError` listing the known names."""
        try:
            return self.joint_names.index(joint)
        except ValueError:
            raise UnknownNameError(
                f"unknown joint '{joint}' for skeleton '{self.name}'; known: {', '.join(self.joint_names)}"
            ) from None

    def indices(self, joints: Sequence[str]) -> list[int]:
        return [self.index(j) for j in joints]

    def joint_set(self, key: str) -> tuple[str, ...]:
        if key not in self.joint_sets:
            raise UnknownNameError(
                f"skeleton '{self.name}' has no joint set '{key}'; it has: {', '.join(self.joint_sets) or 'none'}"
            )
        return self.joint_sets[key]

    @property
    def foot_joint_indices(self) -> list[int]:
        """The four foot-contact joints in KIMODO order: left ankle, left toe, right ankle, right toe."""
        return self.indices(self.joint_set("left_foot")[:2] + self.joint_set("right_foot")[:2])

    @property
    def children(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.joint_names]
        for j, p in enumerate(self.parents):
            if p >= 0:
                out[p].append(j)
        return out

    def rest_positions(self) -> np.ndarray:
        """Global rest ("neutral") joint positions ``[J, 3]``, root at its rest offset."""
        pos = np.zeros_like(self.offsets)
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] if p < 0 else pos[p] + self.offsets[j]
        return pos

    def bone_lengths(self) -> np.ndarray:
        """Length of each joint's offset from its parent ``[J]`` (0 for the root)."""
        lengths = np.linalg.norm(self.offsets, axis=-1)
        lengths[0] = 0.0
        return lengths

    # ----------------------------------------------------------------------------------------------
    def forward_kinematics(
        self,
        local_rotations: Array,
        root_translation: Array,
        joint_translations: Array | None = None,
    ) -> tuple[Array, Array]:
        """Global rotations ``[..., J, 3, 3]`` and positions ``[..., J, 3]`` from local rotations.

        Args:
            local_rotations: ``[..., J, 3, 3]`` rotation matrices relative to the parent.
            root_translation: ``[..., 3]`` absolute root position.
            joint_translations: optional ``[..., J, 3]`` local translations replacing the rest offsets
                (NaN rows keep the offset), for rigs with animated joint positions.

        numpy in gives numpy out, torch in gives torch out (differentiable).
        """
        is_torch = isinstance(local_rotations, torch.Tensor)
        if is_torch:
            offsets = torch.as_tensor(self.offsets, dtype=local_rotations.dtype, device=local_rotations.device)
            root_translation = torch.as_tensor(root_translation, dtype=local_rotations.dtype)
        else:
            local_rotations = np.asarray(local_rotations)
            offsets = self.offsets.astype(local_rotations.dtype)
            root_translation = np.asarray(root_translation, dtype=local_rotations.dtype)
        if local_rotations.shape[-3:] != (self.num_joints, 3, 3):
            raise InputError(
                f"local rotations have shape {tuple(local_rotations.shape)}; expected [..., {self.num_joints}, 3, 3]",
                field="local_rotations",
            )
        glob: list[Any] = [None] * self.num_joints
        pos: list[Any] = [None] * self.num_joints
        for j, p in enumerate(self.parents):
            if p < 0:
                glob[j] = local_rotations[..., j, :, :]
                pos[j] = root_translation
                continue
            off = offsets[j]
            if joint_translations is not None:
                jt = joint_translations[..., j, :]
                has = ~(torch.isnan(jt) if is_torch else np.isnan(jt))
                if bool(has.any()):
                    off = torch.where(has, jt, off) if is_torch else np.where(has, jt, off)
            glob[j] = glob[p] @ local_rotations[..., j, :, :]
            pos[j] = pos[p] + (glob[p] @ off[..., None])[..., 0]
        stack = torch.stack if is_torch else np.stack
        return stack(glob, -3), stack(pos, -2)

    def global_to_local(self, global_rotations: Array) -> Array:
        """Local rotations ``L_j = G_parent^T G_j`` from global ``[..., J, 3, 3]``."""
        is_torch = isinstance(global_rotations, torch.Tensor)
        parents = list(self.parents)
        parent_rot = global_rotations[..., [max(p, 0) for p in parents], :, :]
        local = parent_rot.transpose(-1, -2) @ global_rotations if is_torch else np.swapaxes(parent_rot, -1, -2) @ global_rotations
        local[..., 0, :, :] = global_rotations[..., 0, :, :]
        return local

    # ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; model artifacts carry this so they run without the archives."""
        return {
            "name": self.name,
            "joint_names": list(self.joint_names),
            "parents": list(self.parents),
            "offsets": [[float(v) for v in row] for row in self.offsets],
            "joint_sets": {k: list(v) for k, v in self.joint_sets.items()},
            "mirror": list(self.mirror) if self.mirror is not None else None,
            "extras": self.extras,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Skeleton":
        missing = [k for k in ("name", "joint_names", "parents", "offsets") if k not in data]
        if missing:
            raise InputError(f"skeleton description lacks {missing}", field=missing[0])
        return cls(
            name=str(data["name"]),
            joint_names=tuple(data["joint_names"]),
            parents=tuple(data["parents"]),
            offsets=np.asarray(data["offsets"], dtype=np.float64),
            joint_sets={k: tuple(v) for k, v in dict(data.get("joint_sets") or {}).items()},
            mirror=tuple(data["mirror"]) if data.get("mirror") is not None else None,
            extras=dict(data.get("extras") or {}),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Skeleton):
            return NotImplemented
        return (
            self.name == other.name
            and self.joint_names == other.joint_names
            and self.parents == other.parents
            and np.allclose(self.offsets, other.offsets, atol=1e-9)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.joint_names, self.parents))

    def reordered(self, joint_names: Sequence[str], name: str | None = None) -> "Skeleton":
        """The same rig with its joints listed in ``joint_names`` order (parents before children)."""
        order = self.indices(joint_names)
        if sorted(order) != list(range(self.num_joints)):
            raise InputError(f"a reordering must list each of the {self.num_joints} joints once", field="joint_names")
        new_index = {old: new for new, old in enumerate(order)}
        return Skeleton(
            name=name or self.name,
            joint_names=tuple(joint_names),
            parents=tuple(-1 if self.parents[o] < 0 else new_index[self.parents[o]] for o in order),
            offsets=self.offsets[order],
            joint_sets=self.joint_sets,
            mirror=None if self.mirror is None else tuple(new_index[self.mirror[o]] for o in order),
            extras=self.extras,
        )

    def with_offsets(self, offsets: np.ndarray, name: str | None = None) -> "Skeleton":
        """Same tree and sets with other rest offsets (e.g. another actor's proportions)."""
        return Skeleton(
            name=name or self.name,
            joint_names=self.joint_names,
            parents=self.parents,
            offsets=offsets,
            joint_sets=self.joint_sets,
            mirror=self.mirror,
            extras=self.extras,
        )


def mirror_indices_by_name(joint_names: Sequence[str], pairs: Sequence[tuple[str, str]]) -> tuple[int, ...]:
    """Mirror permutation from name substitutions, e.g. ``[("left", "right"), ("Left", "Right"), ("_L", "_R")]``.

    A joint whose substituted name does not exist mirrors onto itself (a midline joint).
    """
    index = {n: i for i, n in enumerate(joint_names)}
    out = []
    for name in joint_names:
        target = name
        for a, b in pairs:
            if a in name:
                target = name.replace(a, b)
                break
            if b in name:
                target = name.replace(b, a)
                break
        out.append(index.get(target, index[name]))
    return tuple(out)
