"""Motion in-betweening on the LAFAN1 protocol: L2Q, L2P, NPSS and the two baselines.

Protocol (Harvey et al. 2020, public ``ubisoft-laforge-animation-dataset`` benchmark code; see
``reference/benchmarks.md``): test windows of 65 frames taken every 40 frames; ``context = 10``
given frames, a transition of ``N`` frames (5, 15, 30, 45) to fill, then the target frame
``context + N``. Only the transition frames are scored, on global joint positions and global joint
rotations after every window is canonicalised at its last context frame (turned about Y to face +Z,
root xz moved to the origin) with the ground truth's transform:

- **L2Q**: mean over windows and frames of the L2 norm of the difference of the global quaternions
  ``[J * 4]``;
- **L2P**: the same on global positions ``[J * 3]`` after normalising every coordinate by the
  training set's per joint, per axis mean and std (:func:`position_stats`, 50-frame windows every
  20 frames);
- **NPSS**: normalised power spectrum similarity (Gopalakrishnan et al. 2019) of the global
  quaternion channels.

Baselines: zero-velocity (hold the last context frame) and interpolation (root position lerped,
local rotations slerped between the last context frame and the target frame, then FK).

Where this differs from the LAFAN1 code, and why:

- Heading comes from the hips (:func:`motiongen.motion.kimodo_features.root_heading`, the
  project's convention) instead of LAFAN1's root-bone axis, which is specific to its rig.
- The canonical translation puts the root's xz at the origin *at the canonical frame*; LAFAN1
  subtracts the window's mean root xz. Both the training statistics and the scored windows use
  ours, so L2P stays self-consistent; the absolute values of L2P differ slightly from LAFAN1's.
- A window fits a clip when ``start + window <= frames``; LAFAN1's loop uses ``<``, which drops a
  window that ends exactly on the clip's last frame.
- L2Q compares every predicted quaternion with the ground truth's in the same hemisphere (``q`` and
  ``-q`` are one rotation), so it is a function of rotations only; LAFAN1 relies on the data being
  continuous in time, which gives the same value unless a prediction turns away from the ground
  truth by more than 180 degrees along its path.
- NPSS takes, as LAFAN1's ``fast_npss`` (and the original NPSS code) do, the *real part* of the
  FFT squared as the power; kept so that values are comparable with the published table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from tqdm import tqdm

from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import (
    matrix_to_quaternion,
    quaternion_multiply,
    quaternion_slerp,
    quaternion_to_matrix,
)
from motiongen.motion.kimodo_features import root_heading
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

#: LAFAN1 test windows: 65 frames every 40 frames, 10 context frames, these transition lengths.
TEST_WINDOW = 65
TEST_OFFSET = 40
CONTEXT = 10
TRANSITIONS = (5, 15, 30, 45)
#: LAFAN1 computes the L2P normalisation on 50-frame training windows every 20 frames.
STATS_WINDOW = 50
STATS_OFFSET = 20
#: Floor (metres) on a coordinate's std, so a coordinate that never moves in the training windows
#: does not turn L2P into a division by zero.
MIN_STD = 1e-4
#: Windows per forward-kinematics batch when scoring (bounds memory on large test splits).
_FK_CHUNK = 512

#: An in-betweening method: ``(context_and_target, context, transition) -> predictions``. Each input
#: motion holds ``context + transition + 1`` frames (the transition frames are present but must be
#: ignored); each prediction is a full motion of the same length, of which only frames
#: ``context .. context + transition - 1`` are scored.
InbetweenMethod = Callable[[list[Motion], int, int], list[Motion]]
MotionSource = Iterable[Any]


# ==================================================================================================
# Windows
# ==================================================================================================
@dataclass(frozen=True)
class InbetweenWindow:
    """One test window: ``motion`` is frames ``start .. start + window - 1`` of clip ``clip_id``."""

    clip_id: str
    start: int
    motion: Motion


def _check_positive_int(value: Any, field: str) -> int:
    """``value`` as an int, or :class:`InputError` naming ``field`` when it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"must be a positive integer, got {value!r}", field=field)
    return int(value)


def _iter_motions(source: MotionSource) -> Iterable[Motion]:
    """The motions of ``source``: ``Motion`` items, or ``(Motion, captions)`` items as a
    :class:`~motiongen.data.dataset.MotionDataset` yields them."""
    for index, item in enumerate(source):
        motion = item[0] if isinstance(item, tuple) and item else item
        if not isinstance(motion, Motion):
            raise InputError(f"item {index} is a {type(item).__name__}, not a Motion", field="motions")
        yield motion


def _window_starts(num_frames: int, window: int, offset: int) -> np.ndarray:
    """First frames ``[W]`` of the ``window``-frame windows every ``offset`` frames that fit in a clip."""
    return np.arange(0, max(num_frames - window + 1, 0), offset)


def extract_windows(
    motions: MotionSource, window: int = TEST_WINDOW, offset: int = TEST_OFFSET
) -> list[InbetweenWindow]:
    """Windows of ``window`` frames taken every ``offset`` frames from each clip, in clip order.

    ``motions`` holds :class:`Motion` objects or ``(Motion, captions)`` pairs (a ``MotionDataset``).
    A clip shorter than ``window`` gives none; ``clip_id`` is ``motion.meta["clip_id"]`` (the clip's
    position in ``motions`` when it has none).
    """
    window = _check_positive_int(window, "window")
    offset = _check_positive_int(offset, "offset")
    windows = []
    for index, motion in enumerate(_iter_motions(motions)):
        clip_id = str(motion.meta.get("clip_id", index))
        for start in _window_starts(motion.num_frames, window, offset).tolist():
            windows.append(InbetweenWindow(clip_id, start, motion.slice(start, start + window)))
    return windows


# ==================================================================================================
# Canonical frame
# ==================================================================================================
@dataclass(frozen=True)
class CanonicalTransform:
    """Per window, a turn about the world Y axis and a horizontal shift.

    Attributes:
        headings: ``[B]`` heading (radians) at the canonical frame; applying turns by ``-heading``.
        origins: ``[B, 3]`` root position at the canonical frame with y = 0; applying subtracts it
            first, so the turn is about the root's vertical axis.
    """

    headings: np.ndarray
    origins: np.ndarray

    def _turn(self) -> np.ndarray:
        """``R_y(-heading)`` ``[B, 3, 3]`` (``R_y(a)`` turns +Z towards +X by ``a``)."""
        c, s = np.cos(-self.headings), np.sin(-self.headings)
        zero, one = np.zeros_like(c), np.ones_like(c)
        return np.stack([c, zero, s, zero, one, zero, -s, zero, c], axis=-1).reshape(-1, 3, 3)

    def apply_positions(self, positions: np.ndarray) -> np.ndarray:
        """Positions ``[B, T, J, 3]`` moved into the canonical frame."""
        shifted = positions - self.origins[:, None, None, :]
        return np.einsum("bij,btkj->btki", self._turn(), shifted)

    def apply_quaternions(self, global_quats: np.ndarray) -> np.ndarray:
        """Global rotations ``[B, T, J, 4]`` (w, x, y, z) turned into the canonical frame."""
        half = -0.5 * self.headings
        yaw = np.stack([np.cos(half), np.zeros_like(half), np.sin(half), np.zeros_like(half)], axis=-1)
        return quaternion_multiply(np.broadcast_to(yaw[:, None, None, :], global_quats.shape), global_quats)


def _check_batch(array: Any, last: int, joints: int | None, field: str) -> np.ndarray:
    """``array`` as float64 ``[B, T, J, last]``, or :class:`InputError` naming ``field``."""
    out = np.asarray(array, dtype=np.float64)
    if out.ndim != 4 or out.shape[-1] != last or (joints is not None and out.shape[2] != joints):
        expected = f"[B, T, {joints if joints is not None else 'J'}, {last}]"
        raise InputError(f"has shape {out.shape}; expected {expected}", field=field)
    if not np.isfinite(out).all():
        raise InputError("contains NaN or inf", field=field)
    return out


def canonical_transform(positions: np.ndarray, skeleton: Skeleton, frame: int) -> CanonicalTransform:
    """The transform that makes each window of ``positions [B, T, J, 3]`` face +Z with its root xz
    at the origin at ``frame`` (LAFAN1's ``rotate_at_frame``, with the project's hips heading)."""
    positions = _check_batch(positions, 3, skeleton.num_joints, "positions")
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or not 0 <= frame < positions.shape[1]:
        raise InputError(f"frame {frame!r} is outside 0..{positions.shape[1] - 1}", field="frame")
    at_frame = positions[:, frame]
    origins = at_frame[:, 0] * np.array([1.0, 0.0, 1.0])
    return CanonicalTransform(headings=np.asarray(root_heading(at_frame, skeleton), dtype=np.float64), origins=origins)


def canonicalize(
    positions: np.ndarray, global_quats: np.ndarray, skeleton: Skeleton, frame: int
) -> tuple[np.ndarray, np.ndarray]:
    """Global positions ``[B, T, J, 3]`` and rotations ``[B, T, J, 4]`` of each window turned about Y
    and shifted in xz so that at ``frame`` (the last context frame) the root faces +Z (heading 0)
    with its xz at the origin. Heights and the motion relative to the root are unchanged."""
    positions = _check_batch(positions, 3, skeleton.num_joints, "positions")
    global_quats = _check_batch(global_quats, 4, skeleton.num_joints, "global_quats")
    if global_quats.shape[:2] != positions.shape[:2]:
        raise InputError(
            f"has {global_quats.shape[:2]} windows and frames; positions have {positions.shape[:2]}",
            field="global_quats",
        )
    transform = canonical_transform(positions, skeleton, frame)
    return transform.apply_positions(positions), transform.apply_quaternions(global_quats)


# ==================================================================================================
# Metrics
# ==================================================================================================
def remove_quat_discontinuities(quats: np.ndarray) -> np.ndarray:
    """Quaternions ``[..., T, J, 4]`` with signs flipped so that each frame's quaternion lies in the
    same hemisphere as the previous frame's (non-negative dot product); frame 0 is kept."""
    q = np.asarray(quats, dtype=np.float64)
    if q.ndim < 3 or q.shape[-1] != 4:
        raise InputError(f"has shape {q.shape}; expected [..., T, J, 4]", field="quats")
    # flipping frame t-1 flips its dot with frame t, so the sign each frame needs is a running product
    steps = np.where(np.sum(q[..., 1:, :, :] * q[..., :-1, :, :], axis=-1) < 0, -1.0, 1.0)
    signs = np.concatenate([np.ones_like(steps[..., :1, :]), np.cumprod(steps, axis=-2)], axis=-2)
    return q * signs[..., None]


def _into_hemisphere_of(quats: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``quats`` with each quaternion negated where its dot product with ``reference``'s is negative."""
    return np.where(np.sum(quats * reference, axis=-1, keepdims=True) < 0, -quats, quats)


def _continuous_from(quats: np.ndarray, reference_first: np.ndarray) -> np.ndarray:
    """``quats [B, T, J, 4]`` made continuous in time, starting in the hemisphere of
    ``reference_first [B, J, 4]`` (sign is the only freedom a continuous path has)."""
    first = _into_hemisphere_of(quats[:, :1], reference_first[:, None])
    return remove_quat_discontinuities(np.concatenate([first, quats[:, 1:]], axis=1))


def _check_pair(pred: Any, gt: Any, last: int, field: str) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, gt)`` as float64 ``[B, T, J, last]`` arrays of one shape."""
    gt_array = _check_batch(gt, last, None, f"gt_{field}")
    pred_array = _check_batch(pred, last, None, f"pred_{field}")
    if pred_array.shape != gt_array.shape:
        raise InputError(f"has shape {pred_array.shape}; ground truth has {gt_array.shape}", field=f"pred_{field}")
    if gt_array.shape[0] == 0 or gt_array.shape[1] == 0:
        raise InputError("has no windows or no frames to score", field=f"gt_{field}")
    return pred_array, gt_array


def l2q(pred_quats: np.ndarray, gt_quats: np.ndarray) -> float:
    """L2Q: mean over windows and frames of ``||q_pred - q_gt||`` over all ``J * 4`` components.

    Both ``[B, T, J, 4]`` global quaternions (w, x, y, z) of the transition frames; the ground truth is
    made continuous in time and every predicted quaternion is put in the ground truth's hemisphere.
    """
    pred, gt = _check_pair(pred_quats, gt_quats, 4, "quats")
    gt = remove_quat_discontinuities(gt)
    pred = _into_hemisphere_of(pred, gt)
    return float(np.mean(np.sqrt(np.sum((pred - gt) ** 2, axis=(-2, -1)))))


def l2p(pred_pos: np.ndarray, gt_pos: np.ndarray, stats: PositionStats) -> float:
    """L2P: mean over windows and frames of the L2 norm over ``J * 3`` coordinates of the difference
    of canonicalised global positions ``[B, T, J, 3]``, each normalised as ``(x - mean) / std``."""
    pred, gt = _check_pair(pred_pos, gt_pos, 3, "pos")
    if gt.shape[2] != stats.mean.shape[0]:
        raise InputError(f"has {gt.shape[2]} joints; the statistics have {stats.mean.shape[0]}", field="gt_pos")
    difference = stats.normalize(pred) - stats.normalize(gt)
    return float(np.mean(np.sqrt(np.sum(difference**2, axis=(-2, -1)))))


def _normalised_power_cdf(channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cdf [B, T, D], total power [B, D])`` of channels ``[B, T, D]`` along time.

    The power is the squared real part of the FFT (LAFAN1's ``fast_npss``); a channel with no power
    at all (identically zero) gets a zero spectrum rather than 0 / 0.
    """
    power = np.real(np.fft.fft(channels, axis=1)) ** 2
    total = power.sum(axis=1)
    normalised = np.divide(power, total[:, None, :], out=np.zeros_like(power), where=total[:, None, :] > 0)
    return np.cumsum(normalised, axis=1), total


def npss(pred_quats: np.ndarray, gt_quats: np.ndarray) -> float:
    """NPSS of global quaternions ``[B, T, J, 4]`` over the transition frames (lower is better).

    Per channel (``J * 4`` per window): the power spectrum along time normalised to sum 1, its
    cumulative sum, and the earth mover's distance ``sum_t |cdf_gt - cdf_pred|``; the result is the
    average of these distances weighted by each ground-truth channel's total power (normalised over
    all channels and windows). Both sequences are made continuous in time first, the prediction
    starting in the ground truth's hemisphere, so sign flips do not show up as high frequencies.
    """
    pred, gt = _check_pair(pred_quats, gt_quats, 4, "quats")
    gt = remove_quat_discontinuities(gt)
    pred = _continuous_from(pred, gt[:, 0])
    b, t = gt.shape[:2]
    cdf_gt, weights = _normalised_power_cdf(gt.reshape(b, t, -1))
    cdf_pred, _ = _normalised_power_cdf(pred.reshape(b, t, -1))
    emd = np.abs(cdf_gt - cdf_pred).sum(axis=1)
    if weights.sum() <= 0:
        return 0.0
    return float(np.sum(emd * weights) / np.sum(weights))


# ==================================================================================================
# Normalisation statistics
# ==================================================================================================
@dataclass(frozen=True)
class PositionStats:
    """Per joint, per axis mean and std ``[J, 3]`` of canonicalised global positions (metres) over the
    training windows, for L2P. ``window``, ``offset``, ``context`` say how they were computed,
    ``frames`` how many window-frames they average and ``skeleton`` the rig's name."""

    mean: np.ndarray
    std: np.ndarray
    window: int = STATS_WINDOW
    offset: int = STATS_OFFSET
    context: int = CONTEXT
    frames: int = 0
    skeleton: str = ""

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        if mean.ndim != 2 or mean.shape[1] != 3:
            raise InputError(f"has shape {mean.shape}; expected [J, 3]", field="mean")
        if std.shape != mean.shape:
            raise InputError(f"has shape {std.shape}; mean has {mean.shape}", field="std")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise InputError("statistics contain NaN or inf", field="mean" if not np.isfinite(mean).all() else "std")
        if (std <= 0).any():
            raise InputError("every standard deviation must be positive", field="std")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def normalize(self, positions: np.ndarray) -> np.ndarray:
        """``(positions - mean) / std`` for positions ``[..., J, 3]``."""
        return (positions - self.mean) / self.std

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists of floats), read back by :meth:`from_dict`."""
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "window": self.window,
            "offset": self.offset,
            "context": self.context,
            "frames": self.frames,
            "skeleton": self.skeleton,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PositionStats:
        for key in ("mean", "std"):
            if key not in data:
                raise InputError("missing from the position statistics", field=key)
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
            window=int(data.get("window", STATS_WINDOW)),
            offset=int(data.get("offset", STATS_OFFSET)),
            context=int(data.get("context", CONTEXT)),
            frames=int(data.get("frames", 0)),
            skeleton=str(data.get("skeleton", "")),
        )


def position_stats(
    train_motions: MotionSource,
    window: int = STATS_WINDOW,
    offset: int = STATS_OFFSET,
    context: int = CONTEXT,
    progress: bool = False,
) -> PositionStats:
    """Mean and std ``[J, 3]`` of global positions over ``window``-frame training windows taken every
    ``offset`` frames, each canonicalised at its last context frame ``context - 1`` (as LAFAN1's
    ``get_train_stats``). Stds are population stds floored at :data:`MIN_STD`.

    ``train_motions`` holds :class:`Motion` objects or ``(Motion, captions)`` pairs; all on one skeleton.
    """
    window = _check_positive_int(window, "window")
    offset = _check_positive_int(offset, "offset")
    context = _check_positive_int(context, "context")
    if context > window:
        raise InputError(f"must be at most the window ({window} frames), got {context}", field="context")
    skeleton: Skeleton | None = None
    count, mean, m2 = 0, np.zeros(0), np.zeros(0)
    total = len(train_motions) if hasattr(train_motions, "__len__") else None
    bar = tqdm(_iter_motions(train_motions), total=total, desc="position stats", unit="clip", disable=not progress)
    for motion in bar:
        starts = _window_starts(motion.num_frames, window, offset)
        if len(starts) == 0:
            continue
        if skeleton is None:
            skeleton = motion.skeleton
            mean, m2 = np.zeros((skeleton.num_joints, 3)), np.zeros((skeleton.num_joints, 3))
        elif motion.skeleton != skeleton:
            raise InputError(f"mixes skeletons '{skeleton.name}' and '{motion.skeleton.name}'", field="train_motions")
        positions = motion.joint_positions()[starts[:, None] + np.arange(window)]
        positions = canonical_transform(positions, skeleton, context - 1).apply_positions(positions)
        batch = positions.reshape(-1, skeleton.num_joints, 3)
        # merge this clip's moments into the running ones (Chan et al.): stable, and memory stays
        # one clip's windows however large the training split is
        batch_mean = batch.mean(axis=0)
        delta = batch_mean - mean
        merged = count + len(batch)
        mean = mean + delta * (len(batch) / merged)
        m2 = m2 + ((batch - batch_mean) ** 2).sum(axis=0) + delta**2 * (count * len(batch) / merged)
        count = merged
    if skeleton is None:
        raise InputError(f"no training clip has at least {window} frames", field="train_motions")
    return PositionStats(
        mean=mean,
        std=np.maximum(np.sqrt(m2 / count), MIN_STD),
        window=window,
        offset=offset,
        context=context,
        frames=count,
        skeleton=skeleton.name,
    )


# ==================================================================================================
# Baselines
# ==================================================================================================
def _check_lengths(motion: Motion, context: int, transition: int, field: str) -> None:
    """:class:`InputError` unless ``motion`` holds the context, the transition and the target frame."""
    needed = context + transition + 1
    if motion.num_frames < needed:
        raise InputError(
            f"a motion has {motion.num_frames} frames; context {context} + transition {transition}"
            f" + target needs {needed}",
            field=field,
        )


def _with_transition(
    motion: Motion,
    rotations: np.ndarray,
    root: np.ndarray,
    context: int,
    joint_translations: np.ndarray | None,
) -> Motion:
    """A copy of ``motion`` whose frames ``context .. context + N - 1`` are replaced; foot contacts are
    dropped because they would describe the replaced frames wrongly."""
    n = rotations.shape[0]
    local = motion.local_rotations.copy()
    local[context : context + n] = rotations
    translation = motion.root_translation.copy()
    translation[context : context + n] = root
    joints = None
    if motion.joint_translations is not None and joint_translations is not None:
        joints = motion.joint_translations.copy()
        joints[context : context + n] = joint_translations
    return replace(
        motion,
        local_rotations=local,
        root_translation=translation,
        joint_translations=joints,
        foot_contacts=None,
        meta=dict(motion.meta),
    )


def _zero_velocity_motion(motion: Motion, context: int, transition: int) -> Motion:
    """``motion`` with every transition frame a copy of the last context frame."""
    _check_lengths(motion, context, transition, "motions")
    last = context - 1

    def hold(values: np.ndarray) -> np.ndarray:
        return np.repeat(values[last : last + 1], transition, axis=0)

    joints = None if motion.joint_translations is None else hold(motion.joint_translations)
    return _with_transition(motion, hold(motion.local_rotations), hold(motion.root_translation), context, joints)


def _interpolation_motion(motion: Motion, context: int, transition: int) -> Motion:
    """``motion`` with the transition frames interpolated between the last context frame and the
    target frame: root position (and any animated joint translations) lerped, local rotations slerped,
    at fractions ``k / (N + 1)``, ``k = 1 .. N``."""
    _check_lengths(motion, context, transition, "motions")
    start, target = context - 1, context + transition
    fractions = np.arange(1, transition + 1) / (transition + 1)
    joints = motion.skeleton.num_joints
    quats = matrix_to_quaternion(motion.local_rotations[[start, target]])
    slerped = quaternion_slerp(
        np.broadcast_to(quats[0], (transition, joints, 4)),
        np.broadcast_to(quats[1], (transition, joints, 4)),
        np.broadcast_to(fractions[:, None], (transition, joints)),
    )

    def lerp(values: np.ndarray) -> np.ndarray:
        w = fractions.reshape((-1,) + (1,) * (values.ndim - 1))
        return values[start] * (1 - w) + values[target] * w

    joint_translations = None if motion.joint_translations is None else lerp(motion.joint_translations)
    root = lerp(motion.root_translation)
    return _with_transition(motion, quaternion_to_matrix(slerped), root, context, joint_translations)


def zero_velocity_method(motions: list[Motion], context: int, transition: int) -> list[Motion]:
    """The zero-velocity baseline as an :data:`InbetweenMethod`."""
    return [_zero_velocity_motion(m, context, transition) for m in motions]


def interpolation_method(motions: list[Motion], context: int, transition: int) -> list[Motion]:
    """The interpolation baseline (LAFAN1's ``interpolate_local``) as an :data:`InbetweenMethod`."""
    return [_interpolation_motion(m, context, transition) for m in motions]


ZERO_VELOCITY: InbetweenMethod = zero_velocity_method
INTERPOLATION: InbetweenMethod = interpolation_method
BASELINES: dict[str, InbetweenMethod] = {"zero_velocity": ZERO_VELOCITY, "interpolation": INTERPOLATION}


def baseline_method(name: str) -> InbetweenMethod:
    """The baseline ``name`` (``zero_velocity`` or ``interpolation``) as an :data:`InbetweenMethod`."""
    if name not in BASELINES:
        raise UnknownNameError(f"unknown in-betweening baseline '{name}'; known: {', '.join(BASELINES)}")
    return BASELINES[name]


# ==================================================================================================
# Scoring
# ==================================================================================================
def _window_motions(windows: Sequence[InbetweenWindow | Motion]) -> list[Motion]:
    """The motions of ``windows`` (windows or motions), checked to be non-empty and on one skeleton."""
    motions = [w.motion if isinstance(w, InbetweenWindow) else w for w in windows]
    if not motions:
        raise InputError("no windows to evaluate", field="windows")
    for index, motion in enumerate(motions):
        if not isinstance(motion, Motion):
            kind = type(motion).__name__
            raise InputError(f"item {index} is a {kind}, not an InbetweenWindow or Motion", field="windows")
        if motion.skeleton != motions[0].skeleton:
            raise InputError(
                f"window {index} is on skeleton '{motion.skeleton.name}', not '{motions[0].skeleton.name}'",
                field="windows",
            )
    return motions


def _global_frames(motions: Sequence[Motion], frames: slice) -> tuple[np.ndarray, np.ndarray]:
    """Global positions ``[B, F, J, 3]`` and quaternions ``[B, F, J, 4]`` of ``frames`` of each motion."""
    skeleton = motions[0].skeleton
    local = np.stack([m.local_rotations[frames] for m in motions])
    root = np.stack([m.root_translation[frames] for m in motions])
    joint_translations = None
    if any(m.joint_translations is not None for m in motions):
        nan = np.full(local.shape[1:3] + (3,), np.nan)
        joint_translations = np.stack(
            [nan if m.joint_translations is None else m.joint_translations[frames] for m in motions]
        )
    rotations, positions = skeleton.forward_kinematics(local, root, joint_translations)
    return positions, matrix_to_quaternion(rotations)


def _scored_arrays(
    predictions: Sequence[Motion], ground_truth: Sequence[Motion], context: int, transition: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(pred positions, pred quats, gt positions, gt quats)`` of the transition frames, ``[B, N, J, 3|4]``,
    canonicalised at frame ``context - 1`` with each ground-truth window's transform."""
    # FK only over the canonical frame and the transition frames; windows in chunks bound memory
    frames = slice(context - 1, context + transition)
    skeleton = ground_truth[0].skeleton
    parts: list[tuple[np.ndarray, ...]] = []
    for begin in range(0, len(ground_truth), _FK_CHUNK):
        gt_pos, gt_quat = _global_frames(ground_truth[begin : begin + _FK_CHUNK], frames)
        pred_pos, pred_quat = _global_frames(predictions[begin : begin + _FK_CHUNK], frames)
        transform = canonical_transform(gt_pos, skeleton, 0)
        parts.append(
            tuple(
                array[:, 1:]
                for array in (
                    transform.apply_positions(pred_pos),
                    transform.apply_quaternions(pred_quat),
                    transform.apply_positions(gt_pos),
                    transform.apply_quaternions(gt_quat),
                )
            )
        )
    pred_pos, pred_quat, gt_pos, gt_quat = (np.concatenate(arrays) for arrays in zip(*parts))
    return pred_pos, pred_quat, gt_pos, gt_quat


def _baseline_arrays(
    windows: Sequence[InbetweenWindow | Motion], context: int, transition: int, method: InbetweenMethod
) -> tuple[np.ndarray, np.ndarray]:
    """``method``'s transition frames on ``windows`` as positions ``[B, N, J, 3]`` and quaternions
    ``[B, N, J, 4]``, canonicalised with each window's transform at frame ``context - 1``."""
    context, transition = _check_positive_int(context, "context"), _check_positive_int(transition, "transition")
    ground_truth = _window_motions(windows)
    for motion in ground_truth:
        _check_lengths(motion, context, transition, "windows")
    predictions = method(ground_truth, context, transition)
    pred_pos, pred_quat, _, _ = _scored_arrays(predictions, ground_truth, context, transition)
    return pred_pos, pred_quat


def zero_velocity(
    windows: Sequence[InbetweenWindow | Motion], context: int = CONTEXT, *, transition: int
) -> tuple[np.ndarray, np.ndarray]:
    """Zero-velocity prediction of the transition frames ``context .. context + N - 1``: global
    positions ``[B, N, J, 3]`` and quaternions ``[B, N, J, 4]``, canonicalised at frame ``context - 1``
    with each window's transform (as :func:`evaluate_inbetweening` scores them)."""
    return _baseline_arrays(windows, context, transition, ZERO_VELOCITY)


def interpolation(
    windows: Sequence[InbetweenWindow | Motion], context: int = CONTEXT, *, transition: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolation prediction of the transition frames (root lerp, local slerp between frame
    ``context - 1`` and the target ``context + N``, then FK): global positions ``[B, N, J, 3]`` and
    quaternions ``[B, N, J, 4]`` in the same canonical frame as :func:`zero_velocity`."""
    return _baseline_arrays(windows, context, transition, INTERPOLATION)


def transition_ground_truth(
    windows: Sequence[InbetweenWindow | Motion], context: int = CONTEXT, *, transition: int
) -> tuple[np.ndarray, np.ndarray]:
    """The true transition frames, ``[B, N, J, 3]`` positions and ``[B, N, J, 4]`` quaternions, in the
    canonical frame of :func:`zero_velocity` and :func:`interpolation` (to score their arrays)."""
    return _baseline_arrays(windows, context, transition, lambda motions, _c, _n: list(motions))


def _copy(motion: Motion) -> Motion:
    """A deep copy of ``motion``'s arrays, so a method cannot alter the ground truth in place."""
    return replace(
        motion,
        local_rotations=motion.local_rotations.copy(),
        root_translation=motion.root_translation.copy(),
        joint_translations=None if motion.joint_translations is None else motion.joint_translations.copy(),
        foot_contacts=None if motion.foot_contacts is None else motion.foot_contacts.copy(),
        meta=dict(motion.meta),
    )


def _check_predictions(predictions: Any, ground_truth: Sequence[Motion]) -> list[Motion]:
    """``predictions`` as a list, or :class:`InputError` unless it matches ``ground_truth`` one to one."""
    if not isinstance(predictions, Sequence) or len(predictions) != len(ground_truth):
        count = len(predictions) if isinstance(predictions, Sequence) else type(predictions).__name__
        raise InputError(f"returned {count} predictions for {len(ground_truth)} windows", field="method")
    for index, (pred, gt) in enumerate(zip(predictions, ground_truth)):
        if not isinstance(pred, Motion):
            raise InputError(f"prediction {index} is a {type(pred).__name__}, not a Motion", field="method")
        if pred.num_frames != gt.num_frames or pred.skeleton != gt.skeleton:
            raise InputError(
                f"prediction {index} has {pred.num_frames} frames on '{pred.skeleton.name}'; "
                f"expected {gt.num_frames} on '{gt.skeleton.name}'",
                field="method",
            )
    return list(predictions)


def evaluate_inbetweening(
    windows: Sequence[InbetweenWindow | Motion],
    method: InbetweenMethod,
    stats: PositionStats,
    transitions: Sequence[int] = TRANSITIONS,
    context: int = CONTEXT,
    progress: bool = False,
) -> dict[str, dict[str, float | int]]:
    """Score ``method`` on the LAFAN1 protocol for each transition length ``N``.

    For each ``N`` every window is cut to its first ``context + N + 1`` frames and the list of these
    (copies) is given to ``method(motions, context, N)``, which returns full predicted motions of the
    same lengths. Global positions and rotations of the predicted and true transition frames
    (``context .. context + N - 1``) are canonicalised with the ground truth's transform at frame
    ``context - 1`` and scored.

    Returns:
        ``{str(N): {"l2p": float, "l2q": float, "npss": float, "windows": int}}``.
    """
    motions = _window_motions(windows)
    context = _check_positive_int(context, "context")
    if stats.mean.shape[0] != motions[0].skeleton.num_joints:
        raise InputError(
            f"has {stats.mean.shape[0]} joints; skeleton '{motions[0].skeleton.name}'"
            f" has {motions[0].skeleton.num_joints}",
            field="stats",
        )
    transitions = [_check_positive_int(n, "transitions") for n in transitions]
    shortest = min(m.num_frames for m in motions)
    for n in transitions:
        if context + n + 1 > shortest:
            raise InputError(
                f"transition {n} with context {context} needs {context + n + 1} frames;"
                f" the shortest window has {shortest}",
                field="transitions",
            )
    results: dict[str, dict[str, float | int]] = {}
    for n in tqdm(transitions, desc="in-betweening", unit="length", disable=not progress):
        ground_truth = [m.slice(0, context + n + 1) for m in motions]
        predictions = _check_predictions(method([_copy(m) for m in ground_truth], context, n), ground_truth)
        pred_pos, pred_quat, gt_pos, gt_quat = _scored_arrays(predictions, ground_truth, context, n)
        results[str(n)] = {
            "l2p": l2p(pred_pos, gt_pos, stats),
            "l2q": l2q(pred_quat, gt_quat),
            "npss": npss(pred_quat, gt_quat),
            "windows": len(ground_truth),
        }
    return results
