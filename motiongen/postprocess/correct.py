"""KIMODO's ``CorrectMotion``: make a generated motion meet its constraints and plant its feet.

The pipeline (reference section 1.8), each step a :func:`~motiongen.postprocess.trajectory.correct_trajectory`
call or an analytic IK followed by one:

1. root height pinned on full-body frames;
2. root ground position pinned on full-body frames (to the pose's own pelvis, where KIMODO uses
   ``smooth_root_2d``) and kept within ``root_margin`` of the pose's pelvis on end-effector frames
   and of ``smooth_root_2d`` on root-2D frames;
3. every joint's local rotation (6-channel form) pinned on full-body frames;
4. end-effector IK: two-bone IK on (grandparent, parent, chain base) to the target position, the
   chain base's global rotation set to the target's, then the three joints re-smoothed with the IK
   frames pinned;
4b. (ours) the pelvis lowered where a contact lock's point lies beyond the leg's reach
   (:func:`lower_pelvis_to_reach`), the ankles kept where they were: otherwise step 5 lets such a
   foot go and it slides;
5. foot clean-up: legs locked onto a fixed ankle point during each contact interval (two-bone IK
   with a reach falloff), toes held at floor height (one-bone IK on the ankle), each re-smoothed.
   Unlike KIMODO, a dictated frame up to :data:`DICTATED_NEIGHBOUR_FRAMES` frames from a contact
   interval (not only the adjacent one) supplies its lock point, and an interval between two
   dictated frames whose ankle points nearly agree is locked too (:data:`SQUEEZED_CONTACT_MAX_GAP`).
   Also unlike KIMODO, the lock holds the foot's pivot rather than one ankle point: the ankle while
   the heel is down, the toe while only the toe is (:func:`_pivot_slip`), so a foot rolling off its
   toe keeps the toe planted (on a real walk with its own contacts, KIMODO's rule drags the rolling
   toe). And ours: after each lock, the free frames keep the ankle and toe heights they had before
   it, where the re-smoothed lock lowered the swinging foot (:func:`_keep_swing_clearance` after
   the leg lock, a one-bone turn of the ankle after the toe lock), less the eased share of what the
   lock pressed the contact itself down (:func:`_clearance_heights`), so a toe pressed to the floor
   is not left a frame's step away from a neighbour restored to its old height.

Before step 1 (ours, not KIMODO's), when no constraint dictates the pelvis (no full-body, root-2D
or effector frame): the pelvis is moved by the opposite of the ground slide of the planted feet
(:func:`root_following_planted_feet`), so that the stride carries the body: a generated stance foot
that slides with the pelvis is otherwise out of the locked leg's reach, and the foot lock of step 5
lets it go. With a dictated pelvis, steps 1-2 would pull the moved pelvis back onto its targets,
which on the validation windows made the motion near the keys faster (continuity p95 1.81 -> 2.23
for full-body keys) without planting the feet better, so it is skipped there. Bridging the shift
back to zero on the dictated frames instead (less a natural cubic spline through its values there,
so only the uneven part of the slip between keys goes) was tried too: it takes the slip out of the
stance frames and hands it to the others, so the body speeds up where no foot slides; on the test
windows foot skate fell by 0.003-0.015 m/s and the continuity p95 rose (waypoints 1.08 -> 1.43).

Everything is float64 numpy and vectorised over frames; the IK runs once per effector or foot on
all its frames together.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from motiongen.errors import InputError
from motiongen.postprocess.ik import (
    channels_to_rotation,
    one_bone_ik,
    reach_falloff,
    rotation_to_channels,
    slerp_rotation,
    two_bone_ik,
)
from motiongen.postprocess.trajectory import correct_trajectory, smooth_boundaries
from motiongen.skeleton.skeleton import Skeleton

#: End-effector keys: joint-set names whose first joint is the pinned chain base.
EFFECTOR_KEYS = ("left_hand", "right_hand", "left_foot", "right_foot")
#: Bend hints in the middle joint's local frame (elbows bend back, knees forward), as KIMODO.
BEND_HINTS = {
    "left_hand": (0.0, 0.0, -0.1),
    "right_hand": (0.0, 0.0, -0.1),
    "left_foot": (0.0, 0.0, 0.1),
    "right_foot": (0.0, 0.0, 0.1),
}
#: (wp, wv, wa) of each corrector step.
ROOT_Y_WEIGHTS = (0.01, 1.0, 1.0)
ROOT_XZ_WEIGHTS = (0.001, 1.0, 10.0)
ROTATION_WEIGHTS = (0.01, 1.0, 10.0)
#: Height of the lowest rest joint above the floor in KIMODO's working rig (metres).
ABOVE_GROUND = 0.007
SOMA_ABOVE_GROUND = 0.02
#: Foot-contact columns (heel, toe) of each side in ``foot_contacts [T, 4]``.
_FOOT_COLUMNS = {"left_foot": (0, 1), "right_foot": (2, 3)}
#: Fixed-point iterations projecting a planted toe to floor height at constant bone length.
_TOE_ITERATIONS = 10
#: Largest ankle turn (radians) the toe clean-up makes on one frame. A planted toe that needs more
#: (the ankle high above the floor, or the toe straight below it, where the projection's direction
#: is unstable) is not a skating toe but a contact the model mispredicted; forcing it would snap the
#: foot within a frame, so such frames are left to the re-smoothing (KIMODO applies every one).
MAX_TOE_TURN = math.radians(30.0)
#: Frames over which the reach-falloff weight is eased (see :func:`_smooth_in_time`).
FALLOFF_EASE_FRAMES = 4
#: A contact interval between two dictated frames (full-body keys, that foot's effector keys) is
#: locked onto the line between the two dictated ankle points when they lie at most this far apart
#: on the ground (metres): the foot stays planted from one key to the next. KIMODO drops every such
#: interval, which leaves a standing character between two full-body keys skating freely; farther
#: apart, the foot really moved and the contact labels are wrong, so the interval is still left alone.
SQUEEZED_CONTACT_MAX_GAP = 0.10
#: A dictated frame at most this many frames before (after) a contact interval counts as its
#: neighbour: the foot is locked onto the dictated point. KIMODO looks at the adjacent frame only;
#: with a key two frames past the interval's end, the free frame between had to carry the leg from
#: the lock point (the middle of a sliding contact) to the key's pose alone, a pop of up to 30 cm
#: per frame on the validation windows.
DICTATED_NEIGHBOUR_FRAMES = 5
#: Frames over which a planted foot's own height change (a toe pressed down to the floor, an ankle
#: held at a key's height) eases out into the free frames next to it before the swing-clearance
#: steps restore the heights those frames had (see :func:`_clearance_heights`).
CLEARANCE_EASE_FRAMES = 4
#: Step 4b (:func:`lower_pelvis_to_reach`): the most the pelvis is lowered (metres) so that a locked
#: leg reaches its planted foot ...
MAX_PELVIS_DROP = 0.08
#: ... to this share of the leg's length (the contact lock's reach falloff starts at 99 %) ...
REACH_SHARE = 0.99
#: ... held and eased over this many frames each side.
PELVIS_DROP_EASE_FRAMES = 10
#: ... and it tapers to zero (a smoothstep, still at the frame) over this many frames before and after
#: a frame that dictates the pelvis height or a pose.
PELVIS_DROP_TAPER_FRAMES = 11
#: Step 0 (root from planted feet): a foot joint counts as planted on a contact frame when it is
#: lower than this (metres, the contact heuristic's height) ...
PLANTED_MAX_HEIGHT = 0.10
#: ... and slides slower than this over the ground (m/s): faster, it is a swing the model labelled
#: as a contact, and taking it as the body's support would fling the pelvis.
PLANTED_MAX_SPEED = 1.5
#: Frames each side of the moving average over the per-frame slip (steps in the slip are not
#: passed on to the pelvis as jolts).
SLIP_SMOOTH_FRAMES = 2


@dataclass
class PoseTargets:
    """Per-frame post-processing targets on one skeleton (T frames)."""

    fullbody: np.ndarray  # [T] bool: whole pose pinned
    root2d: np.ndarray  # [T] bool: pelvis xz within root_margin of smooth_root_2d
    end_effectors: dict[str, np.ndarray]  # joint-set key ('left_hand','right_hand','left_foot','right_foot') -> [T] bool
    local_rot_mats: np.ndarray  # [T, J, 3, 3] target local rotations (used on fullbody / end-effector frames)
    root_positions: np.ndarray  # [T, 3] target pelvis (used on fullbody / end-effector frames)
    smooth_root_2d: np.ndarray  # [T, 2] target (x, z) (used on fullbody / end-effector / root2d frames)

    @classmethod
    def empty(cls, num_frames: int, num_joints: int) -> PoseTargets:
        """No constraint on any frame: identity rotations, zero positions, all masks false."""
        t, j = int(num_frames), int(num_joints)
        return cls(
            fullbody=np.zeros(t, dtype=bool),
            root2d=np.zeros(t, dtype=bool),
            end_effectors={key: np.zeros(t, dtype=bool) for key in EFFECTOR_KEYS},
            local_rot_mats=np.broadcast_to(np.eye(3), (t, j, 3, 3)).copy(),
            root_positions=np.zeros((t, 3)),
            smooth_root_2d=np.zeros((t, 2)),
        )

    @property
    def num_frames(self) -> int:
        return int(np.shape(self.fullbody)[0])

    def effector_union(self) -> np.ndarray:
        """``[T]`` bool: frames with any end-effector target."""
        out = np.zeros(self.num_frames, dtype=bool)
        for mask in self.end_effectors.values():
            out |= mask
        return out

    def target_root(self) -> np.ndarray:
        """``[T, 3]`` pelvis targets: the stored poses' own pelvis.

        KIMODO replaces the pose's pelvis (x, z) by ``smooth_root_2d`` here (reference 9.2, 3); that
        moves a full-body keyframe off its own pose by the pelvis sway (about 2 cm on real motion)
        and makes a step at the keyframe, so the pose is kept as given instead.
        """
        return np.array(self.root_positions, dtype=np.float64)

    def target_ground(self) -> np.ndarray:
        """``[T, 2]`` pelvis (x, z) targets: the pose's pelvis on full-body and end-effector frames,
        ``smooth_root_2d`` elsewhere."""
        ground = np.array(self.smooth_root_2d, dtype=np.float64)
        posed = self.fullbody | self.effector_union()
        ground[posed] = np.asarray(self.root_positions, dtype=np.float64)[posed][:, [0, 2]]
        return ground


# ==================================================================================================
# Validation
# ==================================================================================================
def _array(value: object, shape: tuple[int, ...], name: str, dtype: type = np.float64) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot read as a {np.dtype(dtype).name} array: {exc}", field=name) from None
    if arr.shape != shape:
        want = "[" + ", ".join(str(s) for s in shape) + "]"
        raise InputError(f"has shape {list(arr.shape)}; expected {want}", field=name)
    return arr


def _finite(arr: np.ndarray, name: str, frames: np.ndarray | None = None) -> None:
    """Raise naming the first frame where ``arr`` (restricted to ``frames``) is NaN or inf."""
    values = arr.reshape(arr.shape[0], -1)
    bad = ~np.isfinite(values).all(axis=1)
    if frames is not None:
        bad &= frames
    if bad.any():
        raise InputError(f"NaN or inf on frame {int(np.flatnonzero(bad)[0])}", field=name)


def _check_targets(targets: PoseTargets, t: int, j: int, skeleton: Skeleton) -> PoseTargets:
    """Validated float64/bool copy of ``targets``; values are checked only on the frames that use them."""
    fullbody = _array(targets.fullbody, (t,), "targets.fullbody", bool)
    root2d = _array(targets.root2d, (t,), "targets.root2d", bool)
    effectors: dict[str, np.ndarray] = {}
    for key, mask in dict(targets.end_effectors).items():
        if key not in EFFECTOR_KEYS:
            raise InputError(f"unknown end effector '{key}'; allowed: {', '.join(EFFECTOR_KEYS)}", field="targets.end_effectors")
        effectors[key] = _array(mask, (t,), f"targets.end_effectors['{key}']", bool)
        if effectors[key].any():
            base = skeleton.index(skeleton.joint_set(key)[0])
            parent = skeleton.parents[base]
            if parent < 0 or skeleton.parents[parent] < 0:
                raise InputError(
                    f"end effector '{key}' needs a chain of three joints above '{skeleton.joint_names[base]}'",
                    field="targets.end_effectors",
                )
    posed = fullbody.copy()
    for mask in effectors.values():
        posed |= mask
    rots = _array(targets.local_rot_mats, (t, j, 3, 3), "targets.local_rot_mats")
    root = _array(targets.root_positions, (t, 3), "targets.root_positions")
    smooth = _array(targets.smooth_root_2d, (t, 2), "targets.smooth_root_2d")
    _finite(rots, "targets.local_rot_mats", posed)
    _finite(root, "targets.root_positions", posed)
    _finite(smooth, "targets.smooth_root_2d", posed | root2d)
    return PoseTargets(fullbody, root2d, effectors, rots, root, smooth)


def _check_scalar(value: float, name: str, minimum: float | None = None) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"must be a number, got {value!r}", field=name) from None
    if not np.isfinite(out) or (minimum is not None and out < minimum):
        limit = "" if minimum is None else f" >= {minimum}"
        raise InputError(f"must be a finite number{limit}, got {value!r}", field=name)
    return out


# ==================================================================================================
# Rig facts and small helpers
# ==================================================================================================
def min_heights(skeleton: Skeleton) -> np.ndarray:
    """Rest-pose joint heights ``[J]`` with the lowest rest joint at KIMODO's above-ground offset.

    KIMODO's working rig lifts its rest pose so the lowest joint sits 7 mm (SOMA: 2 cm) above the
    floor; a planted ankle or toe is not pushed below its height there.
    """
    heights = skeleton.rest_positions()[:, 1]
    offset = SOMA_ABOVE_GROUND if skeleton.name.lower().startswith("soma") else ABOVE_GROUND
    return heights - heights.min() + offset


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` frame (inclusive) of each run of true values in ``mask [T]``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))


def _parent_global(glob: np.ndarray, frames: np.ndarray, parent: int) -> np.ndarray:
    """Global rotation ``[F, 3, 3]`` of ``parent`` on ``frames`` (identity above the root)."""
    if parent < 0:
        return np.broadcast_to(np.eye(3), (len(frames), 3, 3))
    return glob[frames, parent]


def _resmooth(before: np.ndarray, after: np.ndarray, joints: list[int], pinned: np.ndarray) -> np.ndarray:
    """Spread an IK edit smoothly over time: ``[T, J, 3, 3]`` local rotations.

    ``after`` holds the IK result on the ``pinned`` frames (and equals ``before`` on other pinned
    frames, e.g. full-body keys); ``before`` is the motion the IK started from. The corrector pins
    the ``joints`` to ``after`` there and moves their neighbouring frames by a smoothly decaying
    share of the change, so a locked foot or a reached hand does not pop in and out.
    """
    t = before.shape[0]
    ref = rotation_to_channels(before[:, joints]).reshape(t, -1)
    tgt = rotation_to_channels(after[:, joints]).reshape(t, -1)
    solved = correct_trajectory(ref, tgt, np.where(pinned, 0.0, np.nan), ROTATION_WEIGHTS)
    out = before.copy()
    out[:, joints] = channels_to_rotation(solved.reshape(t, len(joints), 6))
    return out


def _chain(skeleton: Skeleton, joint: int) -> tuple[int, int, int]:
    """(grandparent, parent, joint): the two-bone chain ending at ``joint``."""
    parent = skeleton.parents[joint]
    return skeleton.parents[parent], parent, joint


def _two_bone_locals(
    glob: np.ndarray,
    pos: np.ndarray,
    skeleton: Skeleton,
    joint: int,
    frames: np.ndarray,
    target: np.ndarray,
    hint_local: tuple[float, float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-bone IK of the chain ending at ``joint`` toward ``target [F, 3]`` on ``frames [F]``.

    Returns the new local rotations ``[F, 3, 3]`` of the grandparent and the parent and their new
    global rotations (for setting the end joint's global rotation afterwards).
    """
    g, p, j = _chain(skeleton, joint)
    hint = pos[frames, p] + glob[frames, p] @ np.asarray(hint_local, dtype=np.float64)
    delta_g, delta_p = two_bone_ik(pos[frames, g], pos[frames, p], pos[frames, j], target, hint)
    glob_g = delta_g @ glob[frames, g]
    glob_p = delta_p @ glob[frames, p]
    local_g = np.swapaxes(_parent_global(glob, frames, skeleton.parents[g]), -1, -2) @ glob_g
    local_p = np.swapaxes(glob_g, -1, -2) @ glob_p
    return local_g, local_p, glob_g, glob_p


# ==================================================================================================
# Pipeline steps
# ==================================================================================================
def root_following_planted_feet(
    local_rot_mats: np.ndarray,
    root_positions: np.ndarray,
    skeleton: Skeleton,
    foot_contacts: np.ndarray,
    fps: float,
    threshold: float = 0.5,
) -> np.ndarray:
    """The pelvis positions ``[T, 3]`` moved so that the planted feet stop sliding over the ground.

    Per frame, the slip is the mean ground step (x, z) of the planted foot joints
    (``skeleton.foot_joint_indices``; a joint is planted when its ``foot_contacts`` column is above
    ``threshold``, it is below :data:`PLANTED_MAX_HEIGHT` and it slides slower than
    :data:`PLANTED_MAX_SPEED`), averaged over ``2 * SLIP_SMOOTH_FRAMES + 1`` frames; the pelvis
    ground path is moved by minus the accumulated slip, so a foot that slid with the body stays
    where it landed and the body moves by what the stance leg pushes. Frames without a planted foot
    (flight, jumps) keep the pelvis velocity. Heights are unchanged; a motion whose planted feet do
    not slide keeps its path.
    """
    root = np.array(root_positions, dtype=np.float64)
    t = root.shape[0]
    if t < 2:
        return root
    pos = skeleton.forward_kinematics(np.asarray(local_rot_mats, dtype=np.float64), root)[1]
    feet = pos[:, skeleton.foot_joint_indices]  # [T, 4, 3]
    step = np.diff(feet[..., [0, 2]], axis=0)  # [T-1, 4, 2] ground motion per frame
    planted = (
        (np.asarray(foot_contacts)[:-1] > threshold)
        & (feet[:-1, :, 1] < PLANTED_MAX_HEIGHT)
        & (np.linalg.norm(step, axis=-1) * fps < PLANTED_MAX_SPEED)
    )
    count = planted.sum(1)
    slip = np.zeros((t - 1, 2))
    has = count > 0
    slip[has] = (step[has] * planted[has][..., None]).sum(1) / count[has][:, None]
    k = SLIP_SMOOTH_FRAMES
    if k > 0:
        kernel = np.ones(2 * k + 1) / (2 * k + 1)
        slip = np.stack([np.convolve(np.pad(slip[:, i], k, mode="edge"), kernel, mode="valid") for i in range(2)], 1)
    root[1:, [0, 2]] -= np.cumsum(slip, axis=0)
    return root


def _correct_root(root: np.ndarray, targets: PoseTargets, root_margin: float) -> np.ndarray:
    """Steps 1-2: root height pinned on full-body frames; ground position pinned / kept in margin."""
    root = root.copy()
    fullbody = targets.fullbody
    if fullbody.any():
        margin = np.where(fullbody, 0.0, np.nan)
        root[:, 1] = correct_trajectory(root[:, 1:2], targets.root_positions[:, 1:2], margin, ROOT_Y_WEIGHTS)[:, 0]
    soft = (targets.root2d | targets.effector_union()) & ~fullbody
    if fullbody.any() or soft.any():
        margin = np.full(len(root), np.nan)
        margin[soft] = root_margin
        margin[fullbody] = 0.0
        # boundary smoothing only on the full-body / root-2D runs, as KIMODO (not on effector frames)
        ref = smooth_boundaries(root[:, [0, 2]], fullbody | targets.root2d)
        root[:, [0, 2]] = correct_trajectory(ref, targets.target_ground(), margin, ROOT_XZ_WEIGHTS)
    return root


def _correct_rotations(local: np.ndarray, targets: PoseTargets) -> np.ndarray:
    """Step 3: every joint's local rotation pinned to the target on full-body frames."""
    fullbody = targets.fullbody
    if not fullbody.any():
        return local
    t, j = local.shape[:2]
    ref = smooth_boundaries(rotation_to_channels(local).reshape(t, j * 6), fullbody)
    tgt = rotation_to_channels(targets.local_rot_mats).reshape(t, j * 6)
    solved = correct_trajectory(ref, tgt, np.where(fullbody, 0.0, np.nan), ROTATION_WEIGHTS)
    return channels_to_rotation(solved.reshape(t, j, 6))


def _effector_ik(local: np.ndarray, root: np.ndarray, skeleton: Skeleton, targets: PoseTargets) -> np.ndarray:
    """Step 4: each end effector's chain base reaches the target's position and global rotation."""
    fullbody = targets.fullbody
    wanted = {key: mask & ~fullbody for key, mask in targets.end_effectors.items() if (mask & ~fullbody).any()}
    if not wanted:
        return local
    posed = np.flatnonzero(targets.effector_union() & ~fullbody)
    target_glob = np.zeros((len(root), skeleton.num_joints, 3, 3))
    target_pos = np.zeros((len(root), skeleton.num_joints, 3))
    target_glob[posed], target_pos[posed] = skeleton.forward_kinematics(
        targets.local_rot_mats[posed], targets.target_root()[posed]
    )
    for key, mask in wanted.items():
        frames = np.flatnonzero(mask)
        joint = skeleton.index(skeleton.joint_set(key)[0])
        g, p, j = _chain(skeleton, joint)
        glob, pos = skeleton.forward_kinematics(local, root)
        new = local.copy()
        new[frames, g], new[frames, p], _, glob_p = _two_bone_locals(
            glob, pos, skeleton, joint, frames, target_pos[frames, joint], BEND_HINTS[key]
        )
        new[frames, j] = np.swapaxes(glob_p, -1, -2) @ target_glob[frames, joint]
        local = _resmooth(local, new, [g, p, j], mask | fullbody)
    return local


def _masked_frames(targets: PoseTargets, key: str) -> np.ndarray:
    """``[T]`` frames where a foot is already dictated: full-body keys and that foot's effector keys."""
    mask = targets.fullbody.copy()
    if key in targets.end_effectors:
        mask |= targets.end_effectors[key]
    return mask


def _lock_goals(
    pos: np.ndarray,
    skeleton: Skeleton,
    targets: PoseTargets,
    contacts: np.ndarray,
    threshold: float,
    key: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Where the contact lock of step 5a holds the ``key`` foot's ankle (``pos [T, J, 3]``: the
    motion's joint positions): ``(use [T] bool, goal [T, 3])``.

    On each contact interval the foot's pivot (:func:`_pivot_slip`) stays on the point it has at the
    middle frame, or at the nearby dictated frame; between two nearby dictated frames the ankle
    follows the line between theirs; an interval between two dictated frames whose ankle points lie
    farther apart is not locked.
    """
    heel, toe = _FOOT_COLUMNS[key]
    ankle = skeleton.index(skeleton.joint_set(key)[0])
    masked = _masked_frames(targets, key)
    active = (np.minimum(contacts[:, heel] + contacts[:, toe], 1.0) > threshold) & ~masked
    t = len(pos)
    goal = np.zeros((t, 3))
    use = np.zeros(t, dtype=bool)
    if not active.any():
        return use, goal
    floor = min_heights(skeleton)[ankle]
    toe_joint = _toe_joint(skeleton, key, ankle)
    # heel up, toe down: the foot rolls over its toe, so the toe is the point that must not slide
    pivot_on_toe = (contacts[:, toe] > threshold) & ~(contacts[:, heel] > threshold)
    k = DICTATED_NEIGHBOUR_FRAMES
    for start, end in _runs(active):
        # the nearest dictated frame within k frames before / after the interval, or None
        prior = np.flatnonzero(masked[max(start - k, 0) : start])
        later = np.flatnonzero(masked[end + 1 : end + 1 + k])
        before = None if prior.size == 0 else max(start - k, 0) + int(prior[-1])
        after = None if later.size == 0 else end + 1 + int(later[0])
        if before is not None and after is not None:
            first, last = pos[before, ankle], pos[after, ankle]
            if np.linalg.norm((last - first)[[0, 2]]) > SQUEEZED_CONTACT_MAX_GAP:
                continue  # the foot moved between the keys: leave it to the resmoothing
            use[start : end + 1] = True
            share = (np.arange(start, end + 1) - before)[:, None] / (after - before)
            goal[start : end + 1] = first + share * (last - first)
            continue
        use[start : end + 1] = True
        if before is not None:  # held from the key's ankle point on
            slide = _pivot_slip(pos, ankle, toe_joint, pivot_on_toe, before, end, before)[start - before :]
            goal[start : end + 1] = pos[start : end + 1, ankle] - slide
        elif after is not None:
            slide = _pivot_slip(pos, ankle, toe_joint, pivot_on_toe, start, after, after)[: end - start + 1]
            goal[start : end + 1] = pos[start : end + 1, ankle] - slide
        else:
            mid = (start + end) // 2
            goal[start : end + 1] = pos[start : end + 1, ankle] - _pivot_slip(pos, ankle, toe_joint, pivot_on_toe, start, end, mid)
            # the ground position is locked; the height follows the motion, but not below the rest height
            goal[start : end + 1, 1] = np.maximum(pos[start : end + 1, ankle, 1], floor)
    return use, goal


def _contact_leg_ik(
    local: np.ndarray,
    root: np.ndarray,
    skeleton: Skeleton,
    targets: PoseTargets,
    contacts: np.ndarray,
    threshold: float,
    key: str,
) -> np.ndarray:
    """Step 5a: hold the foot planted through each contact interval (two-bone IK with reach falloff)
    on the goals of :func:`_lock_goals`."""
    ankle = skeleton.index(skeleton.joint_set(key)[0])
    hip, knee, _ = _chain(skeleton, ankle)
    glob, pos = skeleton.forward_kinematics(local, root)
    use, goal = _lock_goals(pos, skeleton, targets, contacts, threshold, key)
    frames = np.flatnonzero(use)
    if frames.size == 0:
        return local
    t = len(local)
    masked = _masked_frames(targets, key)
    local_hip, local_knee, _, _ = _two_bone_locals(
        glob, pos, skeleton, ankle, frames, goal[frames], BEND_HINTS[key]
    )
    weight = _smooth_in_time(reach_falloff(pos[frames, hip], pos[frames, knee], pos[frames, ankle], goal[frames]), frames, t)
    new = local.copy()
    new[frames, hip] = slerp_rotation(local[frames, hip], local_hip, weight)
    new[frames, knee] = slerp_rotation(local[frames, knee], local_knee, weight)
    # the ankle keeps its global rotation, so the foot does not tilt with the leg
    glob_knee = _parent_global(glob, frames, skeleton.parents[hip]) @ new[frames, hip] @ new[frames, knee]
    new[frames, ankle] = np.swapaxes(glob_knee, -1, -2) @ glob[frames, ankle]
    held = _resmooth(local, new, [hip, knee, ankle], use | masked)
    return _keep_swing_clearance(held, root, skeleton, ankle, pos[:, ankle, 1], use | masked, BEND_HINTS[key])


def lower_pelvis_to_reach(
    local: np.ndarray,
    root: np.ndarray,
    skeleton: Skeleton,
    targets: PoseTargets,
    contacts: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Step 4b (ours): lower the pelvis where a leg cannot reach the point its contact lock holds
    (:func:`_lock_goals`), by up to :data:`MAX_PELVIS_DROP`; returns new ``(local, root)``.

    A dictated pelvis path carries the hips on at the constraint's pace while the generated stance
    foot lags; locked to where it landed, the foot ends up beyond the leg's reach, and the lock lets
    it go (it slides). Lowering the hips a few centimetres, as a person does by bending the knees,
    brings it back in reach. Per frame the drop is the least that puts every locked ankle within
    :data:`REACH_SHARE` of its leg's length (frames that need more than the cap get none); it is
    held over :data:`PELVIS_DROP_EASE_FRAMES` frames each side and eased, and tapers to zero at the
    frames that dictate the pelvis height (full-body keys) or a pose (end-effector keys). The legs
    keep their ankles where they were (two-bone IK, the foot's global rotation kept), so only the
    pelvis, the upper body with it, and the knees' bend change.
    """
    t = len(root)
    glob, pos = skeleton.forward_kinematics(local, root)
    need = np.zeros(t)
    legs = []
    for key in ("left_foot", "right_foot"):
        ankle = skeleton.index(skeleton.joint_set(key)[0])
        hip, knee, _ = _chain(skeleton, ankle)
        legs.append((key, ankle))
        use, goal = _lock_goals(pos, skeleton, targets, contacts, threshold, key)
        frames = np.flatnonzero(use)
        if frames.size == 0:
            continue
        reach = REACH_SHARE * (
            np.linalg.norm(pos[frames, knee] - pos[frames, hip], axis=-1)
            + np.linalg.norm(pos[frames, ankle] - pos[frames, knee], axis=-1)
        )
        offset = goal[frames] - pos[frames, hip]
        ground = np.linalg.norm(offset[:, [0, 2]], axis=-1)
        drop = -offset[:, 1] - np.sqrt(np.maximum(reach**2 - ground**2, 0.0))
        drop[(ground >= reach) | (drop > MAX_PELVIS_DROP)] = 0.0  # lowering cannot bring it in reach
        need[frames] = np.maximum(need[frames], np.maximum(drop, 0.0))
    if not need.any():
        return local, root
    drop = _eased_hold(need, PELVIS_DROP_EASE_FRAMES)
    dictated = targets.fullbody | targets.effector_union()
    if dictated.any():
        gap = np.abs(np.arange(t)[:, None] - np.flatnonzero(dictated)[None, :]).min(1)
        share = np.clip(gap / PELVIS_DROP_TAPER_FRAMES, 0.0, 1.0)
        drop *= share * share * (3.0 - 2.0 * share)
    frames = np.flatnonzero(drop > 1e-5)
    if frames.size == 0:
        return local, root
    lowered = root.copy()
    lowered[:, 1] -= drop
    new = local.copy()
    glob_low, pos_low = skeleton.forward_kinematics(local, lowered)
    for key, ankle in legs:
        hip = _chain(skeleton, ankle)[0]
        new[frames, hip], new[frames, skeleton.parents[ankle]], _, glob_knee = _two_bone_locals(
            glob_low, pos_low, skeleton, ankle, frames, pos[frames, ankle], BEND_HINTS[key]
        )
        new[frames, ankle] = np.swapaxes(glob_knee, -1, -2) @ glob[frames, ankle]
    return new, lowered


def _eased_hold(values: np.ndarray, frames: int) -> np.ndarray:
    """``values [T]`` held at their largest over ``frames`` frames each side (a moving maximum),
    then averaged over a raised-cosine window as wide: never below ``values``, and eased in time."""
    k = int(frames)
    if k <= 0:
        return values.copy()
    padded = np.pad(values, k, mode="edge")
    held = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1).max(-1)
    window = 0.5 * (1.0 + np.cos(np.pi * np.arange(-k, k + 1) / (k + 1)))
    window /= window.sum()
    return np.convolve(np.pad(held, k, mode="edge"), window, mode="valid")


def _keep_swing_clearance(
    after: np.ndarray,
    root: np.ndarray,
    skeleton: Skeleton,
    ankle: int,
    old_y: np.ndarray,
    pinned: np.ndarray,
    hint: tuple[float, float, float],
) -> np.ndarray:
    """Lift the ankle back to its height before the lock (``old_y [T]``) on the free frames where
    the re-smoothed lock (``after``) lowered it, keeping its new ground position: ``[T, J, 3, 3]``
    local rotations.

    Holding a foot back on the ground straightens the leg, and the re-smoothing carries that into
    the swing next to the contact, where the foot then sweeps low over the floor while it catches
    up; the swing keeps the clearance the motion gave it instead.
    """
    glob, pos = skeleton.forward_kinematics(after, root)
    keep_y = _clearance_heights(old_y, pos[:, ankle, 1], pinned)
    frames = np.flatnonzero(~pinned & (pos[:, ankle, 1] < keep_y - 1e-4))
    if frames.size == 0:
        return after
    goal = pos[frames, ankle].copy()
    goal[:, 1] = keep_y[frames]
    hip, knee, _ = _chain(skeleton, ankle)
    new = after.copy()
    new[frames, hip], new[frames, knee], _, glob_knee = _two_bone_locals(glob, pos, skeleton, ankle, frames, goal, hint)
    new[frames, ankle] = np.swapaxes(glob_knee, -1, -2) @ glob[frames, ankle]
    lifted = pinned.copy()
    lifted[frames] = True
    return _resmooth(after, new, [hip, knee, ankle], lifted)


def _clearance_heights(old_y: np.ndarray, new_y: np.ndarray, pinned: np.ndarray) -> np.ndarray:
    """``[T]`` heights the swing-clearance steps keep a joint at on the free frames: its height before
    the lock (``old_y [T]``) less the eased share of how far the lock lowered it on the nearest
    ``pinned`` frames (``new_y [T]``: its height after the lock), over ``CLEARANCE_EASE_FRAMES``.

    A contact the lock presses down (a toe a few centimetres up, predicted planted) would otherwise
    drop and rise again between one free frame and the next; eased, the foot lowers into it. A lock
    that only holds the foot's ground position has no such share, and the free frames get back
    their full height.
    """
    n = CLEARANCE_EASE_FRAMES
    pressed = np.pad(np.where(pinned, np.maximum(old_y - new_y, 0.0), 0.0), n)
    share = np.zeros_like(old_y)
    t = len(old_y)
    for offset in range(-n, n + 1):
        weight = 0.5 * (1.0 + math.cos(math.pi * offset / (n + 1)))
        share = np.maximum(share, weight * pressed[n + offset : n + offset + t])
    return old_y - share


def _pivot_slip(
    pos: np.ndarray, ankle: int, toe: int, pivot_on_toe: np.ndarray, start: int, end: int, anchor: int
) -> np.ndarray:
    """``[end - start + 1, 3]`` displacement of the planted point from frame ``anchor`` to each frame
    of ``start..end``: the sum of the per-frame steps of the pivot, the toe on steps where only the
    toe is down (``pivot_on_toe [T]``, on both frames of the step), else the ankle.

    Subtracting it from the ankle's path keeps a rolling foot's pivot in place: while the heel is
    down the ankle stays on the anchor frame's ankle point, and as the heel lifts the ankle rises
    and swings forward about a fixed toe, where a fixed ankle would drag the toe backwards or, out
    of reach, let the whole foot slide.
    """
    step = np.diff(pos[start : end + 1][:, [ankle, toe]], axis=0)  # [n-1, 2, 3]
    on_toe = pivot_on_toe[start:end] & pivot_on_toe[start + 1 : end + 1]
    pivot_step = np.where(on_toe[:, None], step[:, 1], step[:, 0])
    travelled = np.concatenate([np.zeros((1, 3)), np.cumsum(pivot_step, axis=0)])
    return travelled - travelled[anchor - start]


def _smooth_in_time(weight: np.ndarray, frames: np.ndarray, num_frames: int) -> np.ndarray:
    """The reach-falloff ``weight`` of ``frames`` eased over time: a moving minimum, then a moving
    mean, over ``FALLOFF_EASE_FRAMES`` frames each side, among ``frames`` only.

    The falloff drops from 1 to 0 within 1 % of the leg's reach, so where the pelvis carries the
    goal out of reach it would switch the IK off between two frames and snap the leg (KIMODO's
    per-frame weight does); eased, the leg lets go over a few frames.
    """
    k = FALLOFF_EASE_FRAMES
    full = np.full(num_frames + 2 * k, np.nan)
    full[frames + k] = weight
    windows = np.lib.stride_tricks.sliding_window_view(full, 2 * k + 1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows lie outside ``frames``
        eroded = np.pad(np.nanmin(windows, -1), k, constant_values=np.nan)
        eased = np.nanmean(np.lib.stride_tricks.sliding_window_view(eroded, 2 * k + 1), -1)
    return eased[frames]


def _toe_joint(skeleton: Skeleton, key: str, ankle: int) -> int:
    """The toe joint of a foot chain: the set's second joint, else the ankle's first child."""
    names = skeleton.joint_set(key)
    if len(names) > 1 and skeleton.parents[skeleton.index(names[1])] == ankle:
        return skeleton.index(names[1])
    children = skeleton.children[ankle]
    if not children:
        raise InputError(f"foot chain '{key}' has no joint below '{skeleton.joint_names[ankle]}'", field="skeleton")
    return children[0]


def _contact_toe_ik(
    local: np.ndarray,
    root: np.ndarray,
    skeleton: Skeleton,
    targets: PoseTargets,
    contacts: np.ndarray,
    threshold: float,
    key: str,
) -> np.ndarray:
    """Step 5b: hold a planted toe at floor height by turning the ankle (one-bone IK)."""
    toe_column = _FOOT_COLUMNS[key][1]
    ankle = skeleton.index(skeleton.joint_set(key)[0])
    toe = _toe_joint(skeleton, key, ankle)
    masked = _masked_frames(targets, key)
    active = (contacts[:, toe_column] > threshold) & ~masked
    t = len(local)
    use = np.zeros(t, dtype=bool)
    for start, end in _runs(active):
        if (start > 0 and masked[start - 1]) or (end < t - 1 and masked[end + 1]):
            continue  # next to a dictated frame: the dictated pose wins
        use[start : end + 1] = True
    frames = np.flatnonzero(use)
    if frames.size == 0:
        return local
    glob, pos = skeleton.forward_kinematics(local, root)
    # KIMODO uses the right toe's rest height for both feet
    right_toe = _toe_joint(skeleton, "right_foot", skeleton.index(skeleton.joint_set("right_foot")[0]))
    floor = min_heights(skeleton)[right_toe]
    a, b = pos[frames, ankle], pos[frames, toe]
    delta = one_bone_ik(a, b, _at_height(a, b, np.full(len(frames), floor)))
    turn = np.arccos(np.clip((np.trace(delta, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0))
    small = turn <= MAX_TOE_TURN
    frames, delta = frames[small], delta[small]
    use = np.zeros(t, dtype=bool)
    use[frames] = True
    if frames.size == 0:
        return local
    new = local.copy()
    new[frames, ankle] = np.swapaxes(glob[frames, skeleton.parents[ankle]], -1, -2) @ delta @ glob[frames, ankle]
    held = _resmooth(local, new, [ankle], use | masked)
    # the re-smoothed turn tilts the toe down in the swing next to the contact as well: lift it back
    old_y = pos[:, toe, 1]
    glob, pos = skeleton.forward_kinematics(held, root)
    keep_y = _clearance_heights(old_y, pos[:, toe, 1], use | masked)
    lower = np.flatnonzero(~(use | masked) & (pos[:, toe, 1] < keep_y - 1e-4))
    if lower.size == 0:
        return held
    a, b = pos[lower, ankle], pos[lower, toe]
    delta = one_bone_ik(a, b, _at_height(a, b, keep_y[lower]))
    lifted = held.copy()
    lifted[lower, ankle] = np.swapaxes(glob[lower, skeleton.parents[ankle]], -1, -2) @ delta @ glob[lower, ankle]
    pinned = use | masked
    pinned[lower] = True
    return _resmooth(held, lifted, [ankle], pinned)


def _at_height(a: np.ndarray, b: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Points ``[F, 3]`` at bone length ``|b - a|`` from ``a [F, 3]``, near ``b [F, 3]`` and at
    ``height [F]``, or straight below (above) ``a`` where that height is out of reach."""
    length = np.linalg.norm(b - a, axis=-1, keepdims=True)
    goal = b.copy()
    for _ in range(_TOE_ITERATIONS):
        # alternate "at the height" and "at bone length from the ankle"; converges to the point at
        # that height at bone length, or to straight below the ankle when it is out of reach
        goal[:, 1] = height
        offset = goal - a
        goal = a + offset * (length / np.maximum(np.linalg.norm(offset, axis=-1, keepdims=True), 1e-9))
    return goal


# ==================================================================================================
# Entry point
# ==================================================================================================
def correct_motion(
    local_rot_mats: np.ndarray,
    root_positions: np.ndarray,
    skeleton: Skeleton,
    foot_contacts: np.ndarray,
    targets: PoseTargets | None = None,
    *,
    root_margin: float = 0.02,
    contact_threshold: float = 0.5,
    fix_feet: bool = True,
    fps: float = 30.0,
    root_from_feet: bool = True,
    lower_pelvis: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Post-process a motion: meet the constraints exactly and clean up foot skate (KIMODO 1.8).

    Args:
        local_rot_mats: ``[T, J, 3, 3]`` local rotations (rest orientation identity).
        root_positions: ``[T, 3]`` pelvis positions (metres, Y up).
        skeleton: the rig (needs the ``left_foot``/``right_foot`` joint sets when ``fix_feet``, and
            the set of every end effector used).
        foot_contacts: ``[T, 4]`` contacts (left heel, left toe, right heel, right toe), bool or
            probabilities compared with ``contact_threshold``.
        targets: per-frame constraints; None corrects nothing but the feet.
        root_margin: radius (m) of the pelvis ground-position ball on root-2D and effector frames.
        contact_threshold: a contact value above it counts as planted.
        fix_feet: run the foot clean-up (step 5, and step 0 when ``root_from_feet``).
        fps: frame rate of the motion (for step 0's speed bound).
        root_from_feet: step 0, :func:`root_following_planted_feet` (with ``fix_feet``, and only
            when ``targets`` dictate the pelvis on no frame).
        lower_pelvis: step 4b, :func:`lower_pelvis_to_reach` (with ``fix_feet``).

    Returns:
        ``(local_rot_mats [T, J, 3, 3], root_positions [T, 3])``, new float64 arrays. On full-body
        frames the pose equals the target's (pelvis included); on effector
        frames the chain base joint reaches the target's position (when in reach) and global
        rotation; on root-2D frames the pelvis lies within ``root_margin`` of ``smooth_root_2d``.

    Raises:
        InputError: a wrong shape, or NaN/inf in an input (in ``targets`` only on the frames that use
            the value), naming the field.
    """
    if not isinstance(skeleton, Skeleton):
        raise InputError(f"expected a Skeleton, got {type(skeleton).__name__}", field="skeleton")
    rots = np.asarray(local_rot_mats, dtype=np.float64)
    if rots.ndim != 4 or rots.shape[0] < 1:
        raise InputError(
            f"has shape {list(rots.shape)}; expected [T, {skeleton.num_joints}, 3, 3] with T >= 1", field="local_rot_mats"
        )
    t, j = rots.shape[0], skeleton.num_joints
    rots = _array(rots, (t, j, 3, 3), "local_rot_mats")
    root = _array(root_positions, (t, 3), "root_positions")
    contacts = _array(foot_contacts, (t, 4), "foot_contacts")
    _finite(rots, "local_rot_mats")
    _finite(root, "root_positions")
    _finite(contacts, "foot_contacts")
    root_margin = _check_scalar(root_margin, "root_margin", 0.0)
    contact_threshold = _check_scalar(contact_threshold, "contact_threshold")
    targets = PoseTargets.empty(t, j) if targets is None else _check_targets(targets, t, j, skeleton)

    fps = _check_scalar(fps, "fps", 0.0)
    if fps <= 0:
        raise InputError(f"must be a positive frame rate, got {fps!r}", field="fps")
    dictated_root = targets.fullbody | targets.root2d | targets.effector_union()
    if fix_feet and root_from_feet and not dictated_root.any():
        root = root_following_planted_feet(rots, root, skeleton, contacts, fps, contact_threshold)
    root = _correct_root(root, targets, root_margin)
    local = _correct_rotations(rots, targets)
    local = _effector_ik(local, root, skeleton, targets)
    if fix_feet:
        if lower_pelvis:
            local, root = lower_pelvis_to_reach(local, root, skeleton, targets, contacts, contact_threshold)
        for key in ("left_foot", "right_foot"):
            local = _contact_leg_ik(local, root, skeleton, targets, contacts, contact_threshold, key)
        for key in ("left_foot", "right_foot"):
            local = _contact_toe_ik(local, root, skeleton, targets, contacts, contact_threshold, key)
    return local, root
