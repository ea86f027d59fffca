"""Joint maps for custom rigs, read from a small JSON file and checked against both skeletons.

The file maps each target joint to its source joint, either flat or under one key::

    {"pelvis": "Hips", "left_hip": "LeftUpLeg", ...}
    {"joint_map": {"pelvis": "Hips", ...}, "description": "Mixamo -> smplx22"}

Every problem is reported at once, naming every joint at fault: duplicate keys, unknown keys of the
wrapped form, non-string values, target joints the target skeleton lacks, source joints the source
skeleton lacks, and a map that leaves out the target's root or any joint of its legs (hip to ankle:
the legs set the scale of root motion and carry the body).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motiongen.errors import InputError
from motiongen.skeleton.skeleton import Skeleton

JOINT_MAP_KEY = "joint_map"
#: keys the wrapped form may hold besides ``joint_map``
OPTIONAL_KEYS = ("description",)


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads` that refuses repeated keys (JSON allows them)."""
    seen: dict[str, Any] = {}
    repeated: list[str] = []
    for key, value in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen[key] = value
    if repeated:
        raise _DuplicateKeys(repeated)
    return seen


class _DuplicateKeys(Exception):
    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys)
        self.keys = keys


def _leg_chain(target: Skeleton, side: str) -> list[str]:
    """Target joints from the ``side`` hip down to its ankle, hip first."""
    foot = target.joint_set(f"{side}_foot")[0]
    hips = set(target.joint_set("hips"))
    chain, j = [], target.index(foot)
    while j >= 0:
        chain.append(target.joint_names[j])
        if target.joint_names[j] in hips:
            return chain[::-1]
        j = target.parents[j]
    raise InputError(
        f"skeleton '{target.name}': its '{side}_foot' joint '{foot}' is not below any joint of its 'hips' set",
        field="joint_sets",
    )


def required_target_joints(target: Skeleton) -> list[str]:
    """The target joints a joint map must cover: both legs from hip to ankle (the root, or one joint
    below it, is checked by :func:`motiongen.retarget.human.root_placement`)."""
    missing_sets = [key for key in ("hips", "left_foot", "right_foot") if key not in target.joint_sets]
    if missing_sets:
        raise InputError(
            f"target skeleton '{target.name}' has no joint sets {missing_sets}; retargeting needs its hips and feet "
            "to scale root motion by leg length",
            field="joint_sets",
        )
    required: list[str] = []
    for side in ("left", "right"):
        required += [name for name in _leg_chain(target, side) if name not in required]
    return required


def _is_below(skeleton: Skeleton, joint: int, ancestor: int) -> bool:
    while joint > ancestor:
        joint = skeleton.parents[joint]
    return joint == ancestor


def validate_joint_map(
    joint_map: Mapping[str, Any], source: Skeleton, target: Skeleton, *, path: str | Path | None = None
) -> dict[str, str]:
    """``joint_map`` (target joint -> source joint) checked against both rigs; every fault named at once.

    Raises :class:`InputError` (``field="joint_map"``) listing non-string values, unknown target and
    source joints (with the known names), target root or leg joints left out, and leg chains whose
    source joints are not a chain (an ankle's source joint not below the hip's).
    """
    problems: list[str] = []
    not_strings = [key for key, value in joint_map.items() if not isinstance(value, str)]
    if not_strings:
        problems.append(
            "values must be source joint names (strings); not for "
            + ", ".join(f"'{k}' ({type(joint_map[k]).__name__})" for k in not_strings)
        )
    names = {key: value for key, value in joint_map.items() if isinstance(value, str)}
    unknown_target = [key for key in names if key not in target.joint_names]
    if unknown_target:
        problems.append(
            f"target skeleton '{target.name}' has no joints {unknown_target} (known: {', '.join(target.joint_names)})"
        )
    unknown_source = sorted({value for value in names.values() if value not in source.joint_names})
    if unknown_source:
        problems.append(
            f"source skeleton '{source.name}' has no joints {unknown_source} (known: {', '.join(source.joint_names)})"
        )
    left_out = [joint for joint in required_target_joints(target) if joint not in joint_map]
    if left_out:
        problems.append(
            f"the map must cover the target's legs (hip to ankle); it leaves out {left_out}"
        )
    from motiongen.retarget.human import root_placement

    try:
        root_placement(target, np.array([name in names for name in target.joint_names]))
    except InputError as exc:
        problems.append(str(exc).split(": ", 1)[-1])
    if not problems:
        for side in ("left", "right"):
            chain = _leg_chain(target, side)
            hip, ankle = source.index(names[chain[0]]), source.index(names[chain[-1]])
            if not _is_below(source, ankle, hip):
                problems.append(
                    f"'{chain[-1]}' maps to '{names[chain[-1]]}', which is not below '{names[chain[0]]}' "
                    f"(the map of '{chain[0]}') in the source skeleton '{source.name}'"
                )
    if problems:
        raise InputError("; ".join(problems), path=path, field=JOINT_MAP_KEY)
    return dict(names)


def load_joint_map(path: str | Path, source: Skeleton, target: Skeleton) -> dict[str, str]:
    """Read a joint map ``{target_joint: source_joint}`` (or ``{"joint_map": {...}}``) from JSON.

    Args:
        path: the JSON file.
        source: the rig motions are retargeted from.
        target: the rig they are retargeted onto.

    Returns:
        The map, ready for :func:`motiongen.retarget.human.retarget` ``(joint_map=...)``.

    Raises:
        InputError: unreadable or malformed JSON (with its line), duplicate keys, unknown keys of the
            wrapped form, or any fault :func:`validate_joint_map` finds; messages name every joint at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("joint map file not found", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"unreadable joint map ({exc})", path=path) from None
    try:
        data = json.loads(text, object_pairs_hook=_pairs_without_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg}, column {exc.colno})", path=path, line=exc.lineno) from None
    except _DuplicateKeys as exc:
        raise InputError(f"duplicate keys {exc.keys}: each joint may be mapped once", path=path, field=JOINT_MAP_KEY) from None
    if not isinstance(data, dict):
        raise InputError(
            f"holds a JSON {type(data).__name__}; expected an object {{target_joint: source_joint}}", path=path
        )
    if JOINT_MAP_KEY in data:
        unknown = [key for key in data if key != JOINT_MAP_KEY and key not in OPTIONAL_KEYS]
        if unknown:
            allowed = ", ".join((JOINT_MAP_KEY,) + OPTIONAL_KEYS)
            raise InputError(f"unknown keys {unknown} beside '{JOINT_MAP_KEY}' (allowed: {allowed})", path=path)
        data = data[JOINT_MAP_KEY]
        if not isinstance(data, dict):
            raise InputError(
                f"holds a JSON {type(data).__name__}; expected an object {{target_joint: source_joint}}",
                path=path,
                field=JOINT_MAP_KEY,
            )
    if not data:
        raise InputError("the joint map is empty", path=path, field=JOINT_MAP_KEY)
    return validate_joint_map(data, source, target, path=path)
