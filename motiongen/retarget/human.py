"""Retargeting between human skeletons: joint mapping, rest-pose alignment, rotation transfer.

The method, per target joint ``j`` that has a source counterpart ``a(j)`` (its *anchor*):

1. **Calibration.** The source is put in a calibration pose that corresponds to "standing", with
   arms wherever its rest pose has them (default: the source rest pose; for rigs whose rest pose is
   not a human pose, such as Bandai's all-bones-along-X bind pose, a standing reference frame). The
   target's rest pose is swung, joint by joint from the root, so that each target bone points where
   the corresponding source bone points in that pose; ``R_j = G0_src[a(j)]^T G0_tgt[j]`` is the fixed
   offset between the two rigs' joint frames.
2. **Rotation transfer.** Every frame, ``G_tgt[j] = G_src[a(j)] R_j``: twist and swing follow the
   source joint.
3. **Direction correction.** The smallest extra rotation (Kabsch when a joint has several mapped
   children) makes each target bone point exactly along the source segment between the anchors, so
   the skeletal pose matches even where the rigs' joint placements differ.

Joints without a counterpart keep the identity local rotation (an extra spine joint bends with its
parent). The root translation is the source anchor's position scaled by the ratio of leg lengths,
and the clip is lifted so its feet stand on the floor (y = 0: the 5th percentile over frames of the
lowest foot joint). All rigs are named through a common vocabulary (the ``smplx22`` joint names), so
any pair of rigs in :data:`CANONICAL_MAPS` can be retargeted in either direction; a custom BVH rig is
supported by passing ``joint_map`` (target joint -> source joint), e.g. read from a small JSON file
(:func:`motiongen.retarget.joint_map.load_joint_map`).

:func:`retarget_positions` is a position-only fallback for diagnostics: hierarchical IK onto the
source's scaled joint positions. It reaches positions but loses twist (see its docstring).
Both refuse a motion holding NaN or inf (:func:`check_finite_motion`) before doing any work.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import best_fit_rotation, rotation_between_vectors
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

_SIDES = ("left", "right")


def _sided(table: Mapping[str, str]) -> dict[str, str]:
    """Expand ``{"{s}_hip": "{S}Leg"}``-style templates for both sides.

    ``{s}``: left/right, ``{S}``: Left/Right, ``{l}``: l/r, ``{L}``: L/R.
    """
    out: dict[str, str] = {}
    for canonical, joint in table.items():
        if "{" not in canonical:
            out[canonical] = joint
            continue
        for side in _SIDES:
            keys = {"s": side, "S": side.capitalize(), "l": side[0], "L": side[0].upper()}
            out[canonical.format(**keys)] = joint.format(**keys)
    return out


#: Canonical joint (``smplx22`` name) -> joint of each registered rig.
CANONICAL_MAPS: dict[str, dict[str, str]] = {
    "smplx22": _sided(
        {
            "pelvis": "pelvis", "spine1": "spine1", "spine2": "spine2", "spine3": "spine3", "neck": "neck",
            "head": "head", "{s}_hip": "{s}_hip", "{s}_knee": "{s}_knee", "{s}_ankle": "{s}_ankle",
            "{s}_foot": "{s}_foot", "{s}_collar": "{s}_collar", "{s}_shoulder": "{s}_shoulder",
            "{s}_elbow": "{s}_elbow", "{s}_wrist": "{s}_wrist",
        }
    ),
    "soma30": _sided(
        {
            "pelvis": "Hips", "spine1": "Spine1", "spine2": "Spine2", "spine3": "Chest", "neck": "Neck1",
            "head": "Head", "{s}_hip": "{S}Leg", "{s}_knee": "{S}Shin", "{s}_ankle": "{S}Foot",
            "{s}_foot": "{S}ToeBase", "{s}_collar": "{S}Shoulder", "{s}_shoulder": "{S}Arm",
            "{s}_elbow": "{S}ForeArm", "{s}_wrist": "{S}Hand",
        }
    ),
    "bandai22": _sided(
        {
            "pelvis": "Hips", "spine1": "Spine", "spine3": "Chest", "neck": "Neck", "head": "Head",
            "{s}_hip": "UpperLeg_{L}", "{s}_knee": "LowerLeg_{L}", "{s}_ankle": "Foot_{L}", "{s}_foot": "Toes_{L}",
            "{s}_collar": "Shoulder_{L}", "{s}_shoulder": "UpperArm_{L}", "{s}_elbow": "LowerArm_{L}",
            "{s}_wrist": "Hand_{L}",
        }
    ),
    # VICON ASF rigs (CMU, HDM05): a joint sits at the start of its bone
    "cmu31": _sided(
        {
            "pelvis": "root", "spine1": "upperback", "spine2": "thorax", "spine3": "lowerneck", "neck": "upperneck",
            "head": "head", "{s}_hip": "{l}femur", "{s}_knee": "{l}tibia", "{s}_ankle": "{l}foot",
            "{s}_foot": "{l}toes", "{s}_collar": "{l}clavicle", "{s}_shoulder": "{l}humerus",
            "{s}_elbow": "{l}radius", "{s}_wrist": "{l}wrist",
        }
    ),
}
CANONICAL_MAPS["soma77"] = CANONICAL_MAPS["soma30"]
CANONICAL_MAPS["hdm05"] = CANONICAL_MAPS["cmu31"]
#: Joints of each registered rig (``cmu31`` and ``hdm05`` share names and count: the first wins).
RIG_JOINT_COUNTS = {"smplx22": 22, "soma30": 30, "soma77": 77, "bandai22": 22, "cmu31": 31, "hdm05": 31}

#: Source segments shorter than this carry no usable direction (e.g. CMU clavicles start at the
#: same point as the neck).
_MIN_SEGMENT = 0.01


def identify_rig(skeleton: Skeleton) -> str | None:
    """The registered rig whose joint names ``skeleton`` has (e.g. a Bandai BVH -> ``bandai22``).

    A rig matches when the skeleton has exactly its joint count and every joint its canonical map
    names; ``None`` when no rig matches.
    """
    if skeleton.name in CANONICAL_MAPS:
        return skeleton.name
    names = set(skeleton.joint_names)
    for rig, table in CANONICAL_MAPS.items():
        if set(table.values()) <= names and RIG_JOINT_COUNTS[rig] == skeleton.num_joints:
            return rig
    return None


def joint_map_between(source: Skeleton, target: Skeleton) -> dict[str, str]:
    """Target joint -> source joint for two registered rigs, through the canonical names."""
    rigs = []
    for skel in (source, target):
        rig = identify_rig(skel)
        if rig is None:
            raise UnknownNameError(
                f"no joint map for skeleton '{skel.name}'; known rigs: {', '.join(CANONICAL_MAPS)} "
                "(pass a joint map {target_joint: source_joint} for other rigs)"
            )
        rigs.append(rig)
    src, tgt = CANONICAL_MAPS[rigs[0]], CANONICAL_MAPS[rigs[1]]
    return {tgt[c]: src[c] for c in tgt if c in src}


def chain_length(skeleton: Skeleton, top: int, bottom: int) -> float:
    """Rest length of the joint chain from ``bottom`` up to its ancestor ``top``."""
    length, j = 0.0, bottom
    while j != top:
        if j <= 0:
            raise InputError(
                f"'{skeleton.joint_names[top]}' is not an ancestor of '{skeleton.joint_names[bottom]}'",
                field="joint_map",
            )
        length += float(np.linalg.norm(skeleton.offsets[j]))
        j = skeleton.parents[j]
    return length


def leg_scale(source: Skeleton, target: Skeleton, joint_map: Mapping[str, str]) -> float:
    """Target over source rest length of the left hip-to-ankle chain, through ``joint_map``.

    Legs set the scale of root motion, so a shorter target takes proportionally shorter steps.
    """
    hip, ankle = target.joint_set("hips")[1], target.joint_set("left_foot")[0]
    for name in (hip, ankle):
        if name not in joint_map:
            raise InputError(f"joint map must map the target's '{name}' (leg length sets the scale)", field="joint_map")
    return chain_length(target, target.index(hip), target.index(ankle)) / chain_length(
        source, source.index(joint_map[hip]), source.index(joint_map[ankle])
    )


def _ranges(indices: np.ndarray) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    parts, start = [], None
    for k, i in enumerate(indices):
        if start is None:
            start = i
        if k + 1 == len(indices) or indices[k + 1] != i + 1:
            parts.append(str(start) if start == i else f"{start}-{i}")
            start = None
    return ", ".join(parts)


def check_finite_motion(motion: Motion) -> None:
    """Raise :class:`InputError` naming the frames and joints where ``motion`` holds NaN or inf.

    :class:`Motion` checks this when it is built, but its arrays can be written to afterwards, and a
    NaN would otherwise spread silently through FK into every joint below it. ``joint_translations``
    may hold NaN by design (no animated offset), so only inf counts there.
    """
    bad = ~np.isfinite(motion.local_rotations).all(axis=(-1, -2))  # [T, J]
    bad[:, 0] |= ~np.isfinite(motion.root_translation).all(-1)
    if motion.joint_translations is not None:
        bad |= np.isinf(motion.joint_translations).any(-1)
    if not bad.any():
        return
    frames = np.flatnonzero(bad.any(-1))
    joints = [motion.skeleton.joint_names[j] for j in np.flatnonzero(bad.any(0))]
    raise InputError(
        f"motion holds NaN or inf in {frames.size} of {motion.num_frames} frames ({_ranges(frames)}), "
        f"joints {', '.join(joints)} (the root's translation counts as '{motion.skeleton.joint_names[0]}')",
        field="motion",
    )


def _anchors(source: Skeleton, target: Skeleton, joint_map: Mapping[str, str] | None) -> tuple[dict[str, str], np.ndarray]:
    """The joint map (default: through the canonical names) and, per target joint, its source joint
    index ``[J_tgt]`` (-1: unmapped)."""
    joint_map = dict(joint_map) if joint_map is not None else joint_map_between(source, target)
    anchor = np.full(target.num_joints, -1)
    for tgt_joint, src_joint in joint_map.items():
        anchor[target.index(tgt_joint)] = source.index(src_joint)
    return joint_map, anchor


def _mapped_descendants(target: Skeleton, mapped: np.ndarray) -> list[list[int]]:
    """For each joint, the nearest mapped joints below it (looking through unmapped ones)."""
    children = target.children
    out: list[list[int]] = []
    for j in range(target.num_joints):
        found, stack = [], list(children[j])
        while stack:
            c = stack.pop()
            if mapped[c]:
                found.append(c)
            else:
                stack.extend(children[c])
        out.append(sorted(found))
    return out


def _align(
    predicted: np.ndarray, rest_vectors: np.ndarray, desired: np.ndarray
) -> np.ndarray:
    """Rotate ``predicted [T,3,3]`` so ``predicted @ rest_vectors[k]`` points along ``desired[:, k]``.

    ``rest_vectors [K,3]``, ``desired [T,K,3]``; segments shorter than ``_MIN_SEGMENT`` are ignored.
    One usable vector: the smallest swing; two or more: the Kabsch best fit of the directions.
    """
    length = np.linalg.norm(desired, axis=-1)  # [T, K]
    usable = length > _MIN_SEGMENT
    current = np.einsum("tij,kj->tki", predicted, rest_vectors)
    current = current / np.linalg.norm(current, axis=-1, keepdims=True).clip(1e-12)
    wanted = desired / length[..., None].clip(1e-12)
    out = predicted.copy()
    count = usable.sum(-1)
    one = count == 1
    if one.any():
        k = usable[one].argmax(-1)
        idx = np.nonzero(one)[0]
        swing = rotation_between_vectors(current[idx, k], wanted[idx, k])
        out[idx] = swing @ predicted[idx]
    many = count >= 2
    if many.any():
        idx = np.nonzero(many)[0]
        fit = best_fit_rotation(current[idx], wanted[idx], usable[idx].astype(np.float64))
        out[idx] = fit @ predicted[idx]
    return out


def retarget(
    motion: Motion,
    target: Skeleton,
    *,
    joint_map: Mapping[str, str] | None = None,
    calibration: np.ndarray | None = None,
    ground: bool = True,
) -> Motion:
    """Retarget ``motion`` onto ``target`` (same frame rate and length).

    Args:
        motion: source motion on any rig the joint map covers.
        target: the target rig (e.g. ``get_skeleton("smplx22")``); needs ``hips`` and ``left_foot`` sets.
        joint_map: target joint -> source joint; default from :data:`CANONICAL_MAPS` by rig names.
        calibration: ``[J_src, 3, 3]`` local rotations of a source pose that matches a standing human
            (see the module docstring); default the source rest pose.
        ground: lift the result so its feet meet the floor y = 0.

    Returns:
        A :class:`Motion` on ``target`` with ``meta["retarget"]`` recording the map and scale.
    """
    check_finite_motion(motion)
    source = motion.skeleton
    joint_map, anchor = _anchors(source, target, joint_map)
    mapped = anchor >= 0
    descendants = _mapped_descendants(target, mapped)
    rest = target.rest_positions()
    placer, placer_offset = root_placement(target, mapped)

    if calibration is None:
        calibration = np.broadcast_to(np.eye(3), (source.num_joints, 3, 3))
    calib_rot, calib_pos = source.forward_kinematics(np.asarray(calibration)[None], np.zeros((1, 3)))
    src_rot, src_pos = motion.forward_kinematics()

    def segments(pos: np.ndarray, j: int) -> np.ndarray:
        return pos[:, anchor[descendants[j]]] - pos[:, anchor[j]][:, None]

    n_frames = motion.num_frames
    calib_tgt = np.zeros((target.num_joints, 3, 3))
    glob = np.zeros((n_frames, target.num_joints, 3, 3))
    for j, p in enumerate(target.parents):
        parent_calib = np.eye(3) if p < 0 else calib_tgt[p]
        if not mapped[j]:
            calib_tgt[j] = parent_calib
            glob[:, j] = np.eye(3) if p < 0 else glob[:, p]
            continue
        rest_vectors = rest[descendants[j]] - rest[j]
        calib_tgt[j] = _align(parent_calib[None], rest_vectors, segments(calib_pos, j))[0] if descendants[j] else parent_calib
        offset = calib_rot[0, anchor[j]].T @ calib_tgt[j]
        predicted = src_rot[:, anchor[j]] @ offset
        glob[:, j] = _align(predicted, rest_vectors, segments(src_pos, j)) if descendants[j] else predicted

    scale = leg_scale(source, target, joint_map)
    root = src_pos[:, anchor[placer]] * scale - placer_offset
    local = target.global_to_local(glob)
    out = Motion(
        local_rotations=local,
        root_translation=root,
        fps=motion.fps,
        skeleton=target,
        meta={**motion.meta, "retarget": {"source": source.name, "scale": scale, "joint_map": joint_map}},
    )
    if ground:
        out = place_on_floor(out)
    return out


def retarget_positions(
    motion: Motion,
    target: Skeleton,
    *,
    joint_map: Mapping[str, str] | None = None,
    ground: bool = True,
) -> Motion:
    """Position-only retargeting (a diagnostic fallback): IK onto the source's scaled joint positions.

    The source's mapped joint positions, scaled about the world origin by the leg ratio (as
    :func:`retarget` scales the root), are the goals. Walking the target from the root down, each mapped
    joint is turned so the bones to its nearest mapped descendants point from where the joint now is
    (placed by its already-solved ancestors) towards their goals: the smallest swing for one
    descendant, the Kabsch fit of the directions for several (pelvis, chest). Bone lengths are the
    target's, so goals are reached exactly only where proportions agree.

    **Twist is lost.** Positions say nothing about rotation about a bone's own axis, so a forearm or
    neck twist is dropped (the swing is the smallest one from the parent's frame), and joints without a
    mapped descendant (the ``smplx22`` head, wrists and toes) keep their parent's orientation. Use
    :func:`retarget` for animation; this is for comparing against it or for sources that have only
    positions. Floor placement is :func:`retarget`'s.

    Args:
        motion: source motion on any rig the joint map covers.
        target: the target rig (needs ``hips`` and ``left_foot`` joint sets for the leg ratio).
        joint_map: target joint -> source joint; default from :data:`CANONICAL_MAPS` by rig names.
        ground: lift the result so its feet meet the floor y = 0.

    Returns:
        A :class:`Motion` on ``target`` (same frames and rate) with ``meta["retarget"]`` recording the
        map, the scale and ``"method": "positions"``.
    """
    check_finite_motion(motion)
    source = motion.skeleton
    joint_map, anchor = _anchors(source, target, joint_map)
    placer, placer_offset = root_placement(target, anchor >= 0)
    scale = leg_scale(source, target, joint_map)
    goals = motion.joint_positions()[:, np.maximum(anchor, 0)] * scale  # [T, J_tgt, 3]; rows of unmapped joints unused
    descendants = _mapped_descendants(target, anchor >= 0)
    rest = target.rest_positions()

    n_frames = motion.num_frames
    glob = np.zeros((n_frames, target.num_joints, 3, 3))
    pos = np.zeros((n_frames, target.num_joints, 3))
    for j, p in enumerate(target.parents):
        if p < 0:
            pos[:, j] = goals[:, placer] - placer_offset
            base = np.broadcast_to(np.eye(3), (n_frames, 3, 3))
        else:
            pos[:, j] = pos[:, p] + glob[:, p] @ target.offsets[j]
            base = glob[:, p]
        if anchor[j] >= 0 and descendants[j]:
            rest_vectors = rest[descendants[j]] - rest[j]
            glob[:, j] = _align(np.array(base), rest_vectors, goals[:, descendants[j]] - pos[:, j][:, None])
        else:
            glob[:, j] = base
    out = Motion(
        local_rotations=target.global_to_local(glob),
        root_translation=pos[:, 0],
        fps=motion.fps,
        skeleton=target,
        meta={
            **motion.meta,
            "retarget": {"source": source.name, "scale": scale, "joint_map": joint_map, "method": "positions"},
        },
    )
    if ground:
        out = place_on_floor(out)
    return out


def root_placement(target: Skeleton, mapped: np.ndarray) -> tuple[int, np.ndarray]:
    """``(joint, offset)``: the target root goes to ``joint``'s goal minus ``offset [3]``.

    A mapped root is placed on its own anchor (offset 0). An unmapped root (Bandai's ``joint_Root``,
    a carrier above the hips) keeps the identity rotation and is placed so that its one mapped joint
    below it lands on that joint's anchor; the joints between are unmapped and keep the identity too,
    so the rest offset between the two is the whole difference.
    """
    if mapped[0]:
        return 0, np.zeros(3)
    below = _mapped_descendants(target, mapped)[0]
    if len(below) != 1:
        raise InputError(
            f"the joint map must map the target root '{target.joint_names[0]}' (or exactly one joint below it; "
            f"it maps {len(below)})",
            field="joint_map",
        )
    rest = target.rest_positions()
    return below[0], rest[below[0]] - rest[0]


def place_on_floor(motion: Motion, percentile: float = 5.0) -> Motion:
    """Shift vertically so the lowest foot joint touches y = 0 (its ``percentile`` over frames)."""
    feet = motion.skeleton.foot_joint_indices
    lowest = motion.joint_positions()[:, feet, 1].min(-1)
    floor = float(np.percentile(lowest, percentile))
    root = motion.root_translation.copy()
    root[:, 1] -= floor
    return Motion(
        local_rotations=motion.local_rotations,
        root_translation=root,
        fps=motion.fps,
        skeleton=motion.skeleton,
        joint_translations=motion.joint_translations,
        foot_contacts=motion.foot_contacts,
        meta=dict(motion.meta),
    )


def bone_direction_cosines(source: Motion, result: Motion, joint_map: Mapping[str, str]) -> dict[str, float]:
    """Mean cosine over frames between each mapped target bone and its source segment.

    Keys are ``"parent>child"``. A target bone counts when both ends are mapped and the source
    segment between their anchors is longer than 1 cm.
    """
    target = result.skeleton
    src_pos, tgt_pos = source.joint_positions(), result.joint_positions()
    out: dict[str, float] = {}
    for child, parent in enumerate(target.parents):
        if parent < 0:
            continue
        names = target.joint_names[parent], target.joint_names[child]
        if names[0] not in joint_map or names[1] not in joint_map:
            continue
        a, b = source.skeleton.index(joint_map[names[0]]), source.skeleton.index(joint_map[names[1]])
        src_vec = src_pos[:, b] - src_pos[:, a]
        tgt_vec = tgt_pos[:, child] - tgt_pos[:, parent]
        n_src, n_tgt = np.linalg.norm(src_vec, axis=-1), np.linalg.norm(tgt_vec, axis=-1)
        ok = (n_src > _MIN_SEGMENT) & (n_tgt > 1e-9)
        if ok.any():
            out[f"{names[0]}>{names[1]}"] = float(((src_vec * tgt_vec).sum(-1)[ok] / (n_src * n_tgt)[ok]).mean())
    if not out:
        raise InputError("no mapped bone with a usable source segment", field="joint_map")
    return out


def branching_bones(skeleton: Skeleton, joint_map: Mapping[str, str]) -> set[str]:
    """Bones leaving a joint with several mapped children (pelvis -> hips/spine, chest -> neck/collars).

    Their directions cannot all be matched by one rigid joint when two rigs place the joint
    differently (SMPL-X's pelvis joint sits 9 cm above its hip joints, Bandai's 2 cm), so quality
    reports give them separately from the limb and spine chain bones.
    """
    mapped_children: dict[int, list[int]] = {}
    for child, parent in enumerate(skeleton.parents):
        if parent >= 0 and skeleton.joint_names[child] in joint_map:
            mapped_children.setdefault(parent, []).append(child)
    return {
        f"{skeleton.joint_names[p]}>{skeleton.joint_names[c]}"
        for p, children in mapped_children.items()
        if len(children) > 1
        for c in children
    }


def bone_direction_cosine(
    source: Motion, result: Motion, joint_map: Mapping[str, str], *, include_branching: bool = False
) -> float:
    """Mean of :func:`bone_direction_cosines` over chain bones (and branching ones if asked)."""
    cosines = bone_direction_cosines(source, result, joint_map)
    skip = set() if include_branching else branching_bones(result.skeleton, joint_map)
    values = [v for k, v in cosines.items() if k not in skip]
    if not values:
        raise InputError("no chain bone is mapped", field="joint_map")
    return float(np.mean(values))
