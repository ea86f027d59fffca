"""Motion post-processing: the trajectory corrector, analytic IK and KIMODO's CorrectMotion on real clips."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motiongen.errors import InputError
from motiongen.geometry import axis_angle_to_matrix
from motiongen.metrics.quality import foot_skate_from_height
from motiongen.motion.kimodo_features import foot_contacts_from_positions
from motiongen.postprocess import (
    PoseTargets,
    correct_motion,
    correct_trajectory,
    smooth_boundaries,
)
from motiongen.postprocess.correct import min_heights
from motiongen.postprocess.ik import (
    channels_to_rotation,
    look_rotation,
    one_bone_ik,
    rotation_to_channels,
    two_bone_ik,
)
from motiongen.postprocess.trajectory import quadratic_form


# ==================================================================================================
# correct_trajectory
# ==================================================================================================
def _curve(n: int, channels: int, seed: int) -> np.ndarray:
    """A smooth random curve ``[n, channels]`` (a few sines per channel)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n)[:, None]
    freq = rng.uniform(0.5, 3.0, (3, channels))
    phase = rng.uniform(0, 2 * np.pi, (3, channels))
    amp = rng.uniform(0.1, 1.0, (3, channels))
    return (amp[None] * np.sin(2 * np.pi * freq[None] * t[..., None] + phase[None])).sum(1)


def test_no_constraints_returns_the_reference() -> None:
    ref = _curve(50, 3, 0)
    for margin in (np.full(50, np.nan), -np.ones(50)):
        out = correct_trajectory(ref, np.full_like(ref, np.nan), margin)
        assert np.array_equal(out, ref)


def test_pins_are_exact_and_the_change_is_smooth() -> None:
    ref = _curve(120, 2, 1)
    target = ref + _curve(120, 2, 2)  # targets far from the reference
    margin = np.full(120, np.nan)
    pins = [10, 40, 41, 42, 90]
    margin[pins] = 0.0
    out = correct_trajectory(ref, target, margin, (0.01, 1.0, 10.0))
    assert np.array_equal(out[pins], target[pins])
    # a naive overwrite jumps at the pins; the corrector spreads the change over the neighbours
    naive = ref.copy()
    naive[pins] = target[pins]
    accel_out = np.abs(np.diff(out, n=2, axis=0)).max()
    accel_naive = np.abs(np.diff(naive, n=2, axis=0)).max()
    assert accel_out < 0.2 * accel_naive
    # far from every pin the curve is (nearly) the reference again
    assert np.abs(out[70] - ref[70]).max() < np.abs(target[70] - ref[70]).max()


def test_balls_hold_within_a_millimetre() -> None:
    n = 300
    ref = _curve(n, 2, 3)
    target = ref + 0.3 * _curve(n, 2, 4)
    margin = np.full(n, np.nan)
    margin[50:120] = 0.02
    margin[::37] = 0.05
    margin[200] = 0.0
    for weights in ((0.001, 1.0, 10.0), (0.01, 1.0, 1.0)):
        out = correct_trajectory(ref, target, margin, weights, polish=False)  # ADMM alone
        dist = np.linalg.norm(out - target, axis=1)
        balls = margin > 0
        assert (dist[balls] <= margin[balls] + 1e-3).all(), (dist[balls] - margin[balls]).max()
        assert dist[200] == 0.0
        # the balls are active: without them the curve would stay on the reference, far away
        assert np.linalg.norm(ref - target, axis=1)[balls].max() > 0.1


def test_polish_rescues_a_hard_ball_problem() -> None:
    # frame-to-frame noisy targets: 100 ADMM iterations leave centimetres outside the balls
    rng = np.random.default_rng(0)
    n = 200
    ref = _curve(n, 2, 5)
    target = ref + rng.normal(size=ref.shape) * 0.3
    margin = np.full(n, np.nan)
    margin[40:100] = 0.02
    raw = correct_trajectory(ref, target, margin, (0.001, 1.0, 10.0), polish=False)
    polished = correct_trajectory(ref, target, margin, (0.001, 1.0, 10.0))
    excess_raw = (np.linalg.norm(raw - target, axis=1) - margin)[40:100].max()
    excess = (np.linalg.norm(polished - target, axis=1) - margin)[40:100].max()
    assert excess_raw > 5e-3 and excess < 2e-3


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    channels=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    weights=st.sampled_from([(0.01, 1.0, 1.0), (0.001, 1.0, 10.0), (0.5, 0.0, 3.0), (1.0, 2.0, 0.0)]),
)
def test_pins_only_matches_a_dense_kkt_solve(n: int, channels: int, seed: int, weights: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(n, channels))
    target = rng.normal(size=(n, channels))
    pinned = rng.random(n) < 0.3
    margin = np.where(pinned, 0.0, np.nan)
    out = correct_trajectory(ref, target, margin, weights)
    if not pinned.any():
        assert np.array_equal(out, ref)
        return
    # minimise (x - r)ᵀ Q (x - r) s.t. E x = t_P: [[2Q, Eᵀ], [E, 0]] [x; λ] = [2Q r; t_P]
    q = quadratic_form(n, weights).toarray()
    e = np.eye(n)[pinned]
    k = int(pinned.sum())
    kkt = np.block([[2 * q, e.T], [e, np.zeros((k, k))]])
    rhs = np.vstack([2 * q @ ref, target[pinned]])
    dense = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:n]
    np.testing.assert_allclose(out, dense, atol=1e-8)


def test_smooth_boundaries_replaces_run_edges_by_the_neighbour_mean() -> None:
    values = np.array([0.0, 1.0, 9.0, 3.0, 4.0, 5.0, 9.0, 9.0, 9.0, 9.0, 10.0])[:, None]
    mask = np.array([0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)
    out = smooth_boundaries(values, mask)
    expected = values.copy()
    expected[2] = (1.0 + 3.0) / 2  # a one-frame run
    expected[6] = (5.0 + 9.0) / 2  # the left edge of a longer run, read from the input
    # frame 10 is masked but has no right neighbour: left alone; frames 7-9 are inside the run
    np.testing.assert_array_equal(out, expected)
    assert np.array_equal(smooth_boundaries(values, np.ones(11, bool)), values)


# ==================================================================================================
# IK and rotation helpers
# ==================================================================================================
def _random_chains(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Chains ``a -> b -> c`` ``[n, 3]`` and a hint in the chain's plane on the side of ``b``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 3))
    b = a + rng.normal(size=(n, 3)) * 0.3
    c = b + rng.normal(size=(n, 3)) * 0.3
    ac = c - a
    foot = a + ((b - a) * ac).sum(1, keepdims=True) / (ac * ac).sum(1, keepdims=True) * ac
    hint = b + 0.5 * (b - foot)  # beyond b, away from the line a-c
    return a, b, c, hint


def _apply(a, b, c, delta_root, delta_mid):
    b2 = a + np.einsum("nij,nj->ni", delta_root, b - a)
    c2 = b2 + np.einsum("nij,nj->ni", delta_mid, c - b)
    return b2, c2


def test_two_bone_ik_reaches_reachable_targets() -> None:
    a, b, c, hint = _random_chains(500, 0)
    l1 = np.linalg.norm(b - a, axis=1)
    l2 = np.linalg.norm(c - b, axis=1)
    rng = np.random.default_rng(1)
    direction = rng.normal(size=(500, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    lo, hi = np.abs(l1 - l2), l1 + l2
    target = a + direction * (lo + (hi - lo) * rng.uniform(0.02, 0.98, 500))[:, None]
    delta_root, delta_mid = two_bone_ik(a, b, c, target, hint)
    b2, c2 = _apply(a, b, c, delta_root, delta_mid)
    assert np.linalg.norm(c2 - target, axis=1).max() < 1e-6
    np.testing.assert_allclose(np.linalg.norm(b2 - a, axis=1), l1, atol=1e-9)
    for delta in (delta_root, delta_mid):
        np.testing.assert_allclose(delta @ np.swapaxes(delta, 1, 2), np.broadcast_to(np.eye(3), delta.shape), atol=1e-9)
        np.testing.assert_allclose(np.linalg.det(delta), 1.0, atol=1e-9)
    # the middle joint ends on the hint's side of the line from the root to the target (the hint
    # turned with the chain: the bend plane is chosen before the swing onto the target)
    hint_turned = a + np.einsum("nij,nj->ni", delta_root, hint - a)
    side = np.einsum("ni,ni->n", np.cross(target - a, b2 - a), np.cross(target - a, hint_turned - a))
    assert (side > 0).all()


def test_two_bone_ik_unreachable_target_lies_on_the_ray_at_0999_reach() -> None:
    a, b, c, hint = _random_chains(200, 2)
    reach = np.linalg.norm(b - a, axis=1) + np.linalg.norm(c - b, axis=1)
    rng = np.random.default_rng(3)
    direction = rng.normal(size=(200, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    target = a + direction * (reach * rng.uniform(1.01, 3.0, 200))[:, None]
    _, c2 = _apply(a, b, c, *two_bone_ik(a, b, c, target, hint))
    np.testing.assert_allclose(c2, a + direction * 0.999 * reach[:, None], atol=1e-9)


def test_one_bone_ik_and_rotation_channels() -> None:
    rng = np.random.default_rng(4)
    a, b, target = rng.normal(size=(3, 50, 3))
    delta = one_bone_ik(a, b, target)
    turned = np.einsum("nij,nj->ni", delta, b - a)
    want = (target - a) / np.linalg.norm(target - a, axis=1, keepdims=True) * np.linalg.norm(b - a, axis=1, keepdims=True)
    np.testing.assert_allclose(turned, want, atol=1e-9)
    rot = axis_angle_to_matrix(rng.normal(size=(50, 3)))
    np.testing.assert_allclose(channels_to_rotation(rotation_to_channels(rot)), rot, atol=1e-12)
    # look_rotation: z along forward, y as close to up as orthogonality allows; degenerate up handled
    r = look_rotation(np.array([0.0, 0.0, 2.0]), np.array([0.0, 1.0, 0.3]))
    np.testing.assert_allclose(r, np.eye(3), atol=1e-12)
    r = look_rotation(np.array([0.0, 1.0, 0.0]), np.array([0.0, 3.0, 0.0]))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(r[:, 2], [0.0, 1.0, 0.0], atol=1e-12)


# ==================================================================================================
# correct_motion on real clips
# ==================================================================================================
@pytest.fixture(scope="module")
def clips(data_dir, cache_dir):
    """Real smplx22 clips: a standing one (both feet planted almost throughout) and a walk."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    found = {}
    for index in range(len(dataset)):
        motion, _ = dataset[index]
        contacts = foot_contacts_from_positions(motion.joint_positions(), motion.skeleton, motion.fps)
        if "_walk_" in motion.meta["clip_id"]:
            found.setdefault("walk", motion)
        elif motion.num_frames >= 200 and contacts[:, [1, 3]].mean() > 0.9:
            found.setdefault("standing", motion)
    assert set(found) == {"walk", "standing"}, f"expected a walk and a standing clip, got {sorted(found)}"
    assert found["standing"].skeleton.name == "smplx22"
    return found


def _perturb(motion, root_amplitude: float, joints: tuple[str, ...], angle: float = 0.2, seed: int = 0):
    """A "generated" copy of ``motion``: a smooth root drift and smooth extra rotations of some joints."""
    skeleton = motion.skeleton
    t = np.arange(motion.num_frames) / motion.num_frames
    root = motion.root_translation.copy()
    root[:, 0] += root_amplitude * np.sin(2 * np.pi * 1.3 * t + 0.4)
    root[:, 2] += root_amplitude * np.cos(2 * np.pi * 0.9 * t)
    local = motion.local_rotations.copy()
    rng = np.random.default_rng(seed)
    for name in joints:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        theta = angle * np.sin(2 * np.pi * rng.uniform(0.7, 1.7) * t + rng.uniform(0, 2 * np.pi))
        j = skeleton.index(name)
        local[:, j] = local[:, j] @ axis_angle_to_matrix(axis[None] * theta[:, None])
    return local, root


def _rotation_angle(r0: np.ndarray, r1: np.ndarray) -> np.ndarray:
    cos = (np.trace(np.swapaxes(r0, -1, -2) @ r1, axis1=-2, axis2=-1) - 1) / 2
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _targets_from(motion) -> PoseTargets:
    targets = PoseTargets.empty(motion.num_frames, motion.skeleton.num_joints)
    targets.local_rot_mats = motion.local_rotations.copy()
    targets.root_positions = motion.root_translation.copy()
    targets.smooth_root_2d = motion.root_translation[:, [0, 2]].copy()
    return targets


def _limb_extension(positions: np.ndarray, skeleton, joint: int) -> np.ndarray:
    """``[T]`` distance chain-root -> joint over the chain's length (1 = straight)."""
    p = skeleton.parents[joint]
    g = skeleton.parents[p]
    upper = np.linalg.norm(positions[:, p] - positions[:, g], axis=1)
    reach = upper + np.linalg.norm(positions[:, joint] - positions[:, p], axis=1)
    return np.linalg.norm(positions[:, joint] - positions[:, g], axis=1) / reach


def test_correct_motion_meets_targets_on_a_perturbed_real_clip(clips) -> None:
    motion = clips["standing"]
    skeleton, n = motion.skeleton, motion.num_frames
    real_glob, real_pos = motion.forward_kinematics()
    contacts = foot_contacts_from_positions(real_pos, skeleton, motion.fps)
    local, root = _perturb(motion, 0.03, ("spine2", "right_shoulder", "left_elbow", "neck", "left_knee"))
    gen_pos = skeleton.forward_kinematics(local, root)[1]

    targets = _targets_from(motion)
    targets.fullbody[[30, 150, 151, 152, 153]] = True
    targets.root2d[90:110] = True
    targets.end_effectors["right_hand"][60:66] = True
    targets.end_effectors["right_hand"][180] = True
    targets.end_effectors["left_foot"][120] = True
    # the targets must be in reach of the perturbed chains: a bent (waving) arm, a standing leg
    # (a straight arm would be out of reach once the spine has moved the shoulder, and two-bone IK
    # then stops 0.999 of the arm's length short, as KIMODO's)
    right_wrist = skeleton.index("right_wrist")
    assert _limb_extension(real_pos, skeleton, right_wrist)[targets.end_effectors["right_hand"]].max() < 0.9

    out_local, out_root = correct_motion(local, root, skeleton, contacts, targets, root_margin=0.02)
    out_glob, out_pos = skeleton.forward_kinematics(out_local, out_root)

    fullbody = targets.fullbody
    assert np.abs(gen_pos[fullbody] - real_pos[fullbody]).max() > 0.05  # the perturbation was real
    assert np.abs(out_pos[fullbody] - real_pos[fullbody]).max() < 1e-3
    for key, mask in targets.end_effectors.items():
        if not mask.any():
            continue
        j = skeleton.index(skeleton.joint_set(key)[0])
        assert np.linalg.norm(out_pos[mask, j] - real_pos[mask, j], axis=1).max() < 5e-3, key
        assert np.degrees(_rotation_angle(out_glob[mask, j], real_glob[mask, j])).max() < 0.1, key
    pelvis_xz = out_root[targets.root2d][:, [0, 2]]
    assert np.linalg.norm(pelvis_xz - targets.smooth_root_2d[targets.root2d], axis=1).max() <= 0.02 + 1e-3
    assert np.linalg.norm(gen_pos[targets.root2d, 0][:, [0, 2]] - targets.smooth_root_2d[targets.root2d], axis=1).max() > 0.025

    # no pops: near every constrained frame the fastest joint is not much faster than in the real clip
    constrained = fullbody | targets.root2d | targets.effector_union()
    near = np.zeros(n - 1, dtype=bool)
    for frame in np.flatnonzero(constrained):
        near[max(frame - 5, 0) : frame + 5] = True
    speed_out = np.linalg.norm(np.diff(out_pos, axis=0), axis=-1).max(axis=1)
    speed_real = np.linalg.norm(np.diff(real_pos, axis=0), axis=-1).max(axis=1)
    assert speed_out[near].max() <= 1.5 * speed_real[near].max()
    # ... nor does any joint jolt: IK edits are spread over the neighbouring frames
    accel_out = np.linalg.norm(np.diff(out_pos, n=2, axis=0), axis=-1).max()
    accel_real = np.linalg.norm(np.diff(real_pos, n=2, axis=0), axis=-1).max()
    assert accel_out <= 1.25 * accel_real

    # the clean-up does not add skate (the root drift made the planted feet slide)
    skate_gen = foot_skate_from_height(gen_pos, skeleton, motion.fps)
    assert foot_skate_from_height(out_pos, skeleton, motion.fps) <= skate_gen


def test_fix_feet_stops_sliding_feet_and_leaves_planted_ones(clips) -> None:
    motion = clips["standing"]
    skeleton = motion.skeleton
    real_pos = motion.joint_positions()
    contacts = foot_contacts_from_positions(real_pos, skeleton, motion.fps)
    local, root = _perturb(motion, 0.03, ("spine2", "neck", "right_shoulder", "left_elbow"))
    gen_pos = skeleton.forward_kinematics(local, root)[1]
    out_pos = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts))[1]
    skate_real = foot_skate_from_height(real_pos, skeleton, motion.fps)
    skate_gen = foot_skate_from_height(gen_pos, skeleton, motion.fps)
    skate_out = foot_skate_from_height(out_pos, skeleton, motion.fps)
    assert skate_gen > 2 * skate_real  # the drift made the feet slide
    assert skate_out < 0.5 * skate_gen
    # the upper body is left alone by the foot clean-up
    head = skeleton.index("head")
    np.testing.assert_allclose(out_pos[:, head] - out_pos[:, 0], gen_pos[:, head] - gen_pos[:, 0], atol=1e-9)
    # on the real clip itself (mocap, feet already planted) the skate does not grow
    fixed = correct_motion(motion.local_rotations, motion.root_translation, skeleton, contacts)
    real_out = skeleton.forward_kinematics(*fixed)[1]
    assert foot_skate_from_height(real_out, skeleton, motion.fps) <= skate_real + 1e-4


def test_a_foot_planted_between_two_full_body_keys_is_locked(clips) -> None:
    """A standing clip keyed at its first and last frame: the contact interval between the keys is
    locked onto the keys' ankle points (KIMODO drops it and leaves the foot sliding), without a pop at
    the keys; when the keyed ankle points lie farther apart than SQUEEZED_CONTACT_MAX_GAP the foot
    moved between them and the interval is left alone."""
    from motiongen.postprocess.correct import SQUEEZED_CONTACT_MAX_GAP

    motion = clips["standing"]
    skeleton, n = motion.skeleton, motion.num_frames
    real_pos = motion.joint_positions()
    contacts = foot_contacts_from_positions(real_pos, skeleton, motion.fps)
    local, root = _perturb(motion, 0.03, ("spine2", "neck", "right_shoulder", "left_elbow"))
    gen_pos = skeleton.forward_kinematics(local, root)[1]
    targets = _targets_from(motion)
    targets.fullbody[[0, n - 1]] = True
    ankles = skeleton.indices([skeleton.joint_set("left_foot")[0], skeleton.joint_set("right_foot")[0]])
    inner = slice(1, n - 1)
    # the real feet stay put from key to key, and are in contact in between
    assert np.linalg.norm((real_pos[-1, ankles] - real_pos[0, ankles])[:, [0, 2]], axis=-1).max() < SQUEEZED_CONTACT_MAX_GAP
    assert contacts[inner][:, [1, 3]].mean() > 0.9

    out_pos = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts, targets))[1]
    skate = {name: foot_skate_from_height(pos[inner], skeleton, motion.fps)
             for name, pos in (("real", real_pos), ("generated", gen_pos), ("corrected", out_pos))}
    assert skate["generated"] > 2 * skate["real"]
    assert skate["corrected"] < 0.5 * skate["generated"], skate
    assert np.abs(out_pos[targets.fullbody] - real_pos[targets.fullbody]).max() < 1e-3
    speed_out = np.linalg.norm(np.diff(out_pos, axis=0), axis=-1).max(axis=1)
    speed_gen = np.linalg.norm(np.diff(gen_pos, axis=0), axis=-1).max(axis=1)
    for near in (slice(0, 5), slice(n - 6, n - 1)):
        assert speed_out[near].max() <= 1.5 * speed_gen[near].max()

    # the last key moved 30 cm sideways: the ankles' key points are too far apart to lock between
    moved = _targets_from(motion)
    moved.fullbody[[0, n - 1]] = True
    moved.root_positions[-1, 0] += 0.3
    apart_pos = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts, moved))[1]
    assert foot_skate_from_height(apart_pos[inner], skeleton, motion.fps) > 0.8 * skate["generated"]


def test_a_key_just_after_a_sliding_contact_does_not_make_the_foot_pop(clips, monkeypatch) -> None:
    """A walk whose left-foot contact is labelled 6 frames into the swing (a sliding contact, as the
    model predicts them), keyed on its own pose two frames after that contact: the interval is locked
    onto the key's ankle point, so the leg does not have to cross from the middle of the slide to the
    key in one frame (KIMODO's adjacent-frame rule, which DICTATED_NEIGHBOUR_FRAMES = 1 reproduces, does)."""
    from motiongen.postprocess import correct

    motion = clips["walk"]
    skeleton, n = motion.skeleton, motion.num_frames
    gen_pos = motion.joint_positions()
    contacts = foot_contacts_from_positions(gen_pos, skeleton, motion.fps)
    left = contacts[:, :2].any(1)
    ends = [e for e in range(20, n - 12) if left[e - 10 : e + 1].all() and not left[e + 1 : e + 9].any()]
    assert ends, "the walk has a left-foot contact of 10+ frames followed by a swing"
    end = ends[0] + 6
    contacts[ends[0] + 1 : end + 1, :2] = True
    key = end + 2
    local, root = motion.local_rotations, motion.root_translation
    targets = _targets_from(motion)  # the key is the motion's own pose, as imputation makes it
    targets.fullbody[key] = True
    near = slice(key - 6, key + 5)

    def largest_step_near_key() -> float:
        out_pos = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts, targets))[1]
        return float(np.linalg.norm(np.diff(out_pos, axis=0), axis=-1)[near].max())

    generated = float(np.linalg.norm(np.diff(gen_pos, axis=0), axis=-1)[near].max())
    assert largest_step_near_key() <= 1.5 * generated
    monkeypatch.setattr(correct, "DICTATED_NEIGHBOUR_FRAMES", 1)
    assert largest_step_near_key() > 2.0 * generated  # the adjacent-frame rule pops


def test_root_following_planted_feet_takes_out_a_slide_and_keeps_a_real_walk(clips) -> None:
    from motiongen.postprocess.correct import root_following_planted_feet

    motion = clips["walk"]
    skeleton, fps = motion.skeleton, motion.fps
    local, root = motion.local_rotations, motion.root_translation
    real_pos = motion.joint_positions()
    contacts = foot_contacts_from_positions(real_pos, skeleton, fps)

    def ground_speed(r: np.ndarray) -> np.ndarray:
        return np.diff(r[:, [0, 2]], axis=0) * fps

    # a real walk's planted feet hardly slide: its pelvis path is kept (within 5 cm/s per frame on average)
    kept = root_following_planted_feet(local, root, skeleton, contacts, fps)
    np.testing.assert_array_equal(kept[:, 1], root[:, 1])
    assert np.linalg.norm(ground_speed(kept) - ground_speed(root), axis=1).mean() < 0.05
    # the same walk gliding 0.8 m/s sideways (feet sliding with the body): the glide is taken out
    drifted = root.copy()
    drifted[:, 0] += 0.8 * np.arange(motion.num_frames) / fps
    fixed = root_following_planted_feet(local, drifted, skeleton, contacts, fps)
    assert np.abs(ground_speed(drifted)[:, 0] - ground_speed(root)[:, 0]).mean() == pytest.approx(0.8)
    assert np.abs(ground_speed(fixed)[:, 0] - ground_speed(root)[:, 0]).mean() < 0.15
    skate = {name: foot_skate_from_height(skeleton.forward_kinematics(local, r)[1], skeleton, fps)
             for name, r in (("real", root), ("drifted", drifted), ("fixed", fixed))}
    assert skate["fixed"] < 0.5 * skate["drifted"] and skate["fixed"] < 1.2 * skate["real"], skate
    # no planted foot (a jump's flight, or no contacts at all): the pelvis keeps its path exactly
    none = root_following_planted_feet(local, drifted, skeleton, np.zeros_like(contacts), fps)
    np.testing.assert_array_equal(none, drifted)
    # correct_motion runs it first (with fix_feet), and not when asked not to
    out_root = correct_motion(local, drifted, skeleton, contacts, fps=fps, lower_pelvis=False)[1]
    np.testing.assert_allclose(out_root, fixed, atol=1e-12)
    np.testing.assert_array_equal(correct_motion(local, drifted, skeleton, contacts, root_from_feet=False)[1][:, [0, 2]], drifted[:, [0, 2]])
    # a constrained pelvis (here a root path on every frame: the drifted one) is left to the constraints
    path = PoseTargets.empty(motion.num_frames, skeleton.num_joints)
    path.smooth_root_2d = drifted[:, [0, 2]].copy()
    path.root2d[:] = True
    on_path = correct_motion(local, drifted, skeleton, contacts, path, fps=fps)[1]
    np.testing.assert_allclose(on_path[:, [0, 2]], drifted[:, [0, 2]], atol=1e-9)
    with pytest.raises(InputError) as err:
        correct_motion(local, drifted, skeleton, contacts, fps=0)
    assert err.value.field == "fps"


def test_the_pelvis_lowers_so_that_a_walk_on_a_faster_path_keeps_its_feet_planted(clips) -> None:
    """A real walk whose dictated path runs 0.25 m/s ahead of its legs: its locked stance feet fall
    out of the legs' reach and slide. Lowering the pelvis a few centimetres (step 4b) brings them back
    in reach, so the weight-bearing feet slide less; the path, the full-body key and the swing's
    ankles are kept, and the pelvis moves smoothly and never more than MAX_PELVIS_DROP."""
    from motiongen.metrics.quality import foot_skate_from_contacts
    from motiongen.postprocess.correct import MAX_PELVIS_DROP, PELVIS_DROP_TAPER_FRAMES

    motion = clips["walk"]
    skeleton, fps, n = motion.skeleton, motion.fps, motion.num_frames
    local, root = motion.local_rotations, motion.root_translation
    contacts = foot_contacts_from_positions(motion.joint_positions(), skeleton, fps)
    forward = root[-1] - root[0]
    forward[1] = 0.0
    ahead = root + 0.25 * np.arange(n)[:, None] / fps * forward / np.linalg.norm(forward)
    targets = PoseTargets.empty(n, skeleton.num_joints)
    targets.smooth_root_2d = ahead[:, [0, 2]].copy()
    targets.root2d[:] = True
    key = n // 2
    targets.fullbody[key] = True
    targets.local_rot_mats[key] = local[key]
    targets.root_positions[key] = ahead[key]

    def corrected(lower: bool) -> tuple[np.ndarray, np.ndarray]:
        out_local, out_root = correct_motion(local, ahead, skeleton, contacts, targets, fps=fps, lower_pelvis=lower)
        return out_root, skeleton.forward_kinematics(out_local, out_root)[1]

    kept_root, kept = corrected(False)
    low_root, low = corrected(True)
    slide = {name: foot_skate_from_contacts(p, skeleton, fps, contacts) for name, p in (("kept", kept), ("lowered", low))}
    assert slide["lowered"] < 0.7 * slide["kept"], slide
    np.testing.assert_allclose(low_root[:, [0, 2]], kept_root[:, [0, 2]], atol=1e-12)  # the path is the constraint's
    drop = kept_root[:, 1] - low_root[:, 1]
    assert drop.max() > 0.01 and drop.min() > -1e-12 and drop.max() <= MAX_PELVIS_DROP + 1e-9
    assert np.abs(np.diff(drop)).max() < 0.015  # metres per frame: eased, no jolt
    assert drop[key] == 0.0 and np.abs(drop[key - 1 : key + 2]).max() < 0.03 * MAX_PELVIS_DROP  # tapered to zero at the key ...
    assert np.abs(drop[key - PELVIS_DROP_TAPER_FRAMES : key + PELVIS_DROP_TAPER_FRAMES + 1]).max() > 0.0
    np.testing.assert_allclose(low[key], kept[key], atol=1e-9)  # ... whose pose is exact
    # the real walk on its own path barely needs it: its planted feet are in reach
    own = PoseTargets.empty(n, skeleton.num_joints)
    own.smooth_root_2d = root[:, [0, 2]].copy()
    own.root2d[:] = True
    own_root = correct_motion(local, root, skeleton, contacts, own, fps=fps)[1]
    assert np.abs(own_root[:, 1] - root[:, 1]).mean() < 0.2 * drop.mean()


def test_a_rolling_foot_is_held_at_its_toe_and_a_real_walk_keeps_its_skate(clips, monkeypatch) -> None:
    """Heel up, toe down: the lock follows the toe, not the ankle. On the real walk itself (its own
    heuristic contacts) KIMODO's rule, one ankle point per contact interval, pulls the lifting heel
    back and drags the planted toe; with the pivot the toe stays put and the skate does not rise."""
    import motiongen.postprocess.correct as correct_module

    motion = clips["walk"]
    skeleton, fps = motion.skeleton, motion.fps
    local, root = motion.local_rotations, motion.root_translation
    real_pos = motion.joint_positions()
    contacts = foot_contacts_from_positions(real_pos, skeleton, fps)
    toes = skeleton.indices([skeleton.joint_set("left_foot")[1], skeleton.joint_set("right_foot")[1]])
    rolling = contacts[:, [1, 3]] & ~contacts[:, [0, 2]]
    rolling = rolling[:-1] & rolling[1:]
    assert rolling.sum() > 20  # the clip has heel-off phases to test on

    def rolling_toe_speed(pos: np.ndarray) -> float:
        return float((np.linalg.norm(np.diff(pos[:, toes], axis=0), axis=-1) * fps)[rolling].mean())

    fixed = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts, root_from_feet=False))[1]
    assert rolling_toe_speed(fixed) < 0.5 * rolling_toe_speed(real_pos)
    assert foot_skate_from_height(fixed, skeleton, fps) <= foot_skate_from_height(real_pos, skeleton, fps)
    # KIMODO's rule (the ankle is the pivot throughout) on the same walk: the rolling toe is dragged
    pivot_slip = correct_module._pivot_slip
    monkeypatch.setattr(correct_module, "_pivot_slip",
                        lambda pos, a, t, on_toe, *rest: pivot_slip(pos, a, t, np.zeros_like(on_toe), *rest))
    ankle_locked = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts, root_from_feet=False))[1]
    assert rolling_toe_speed(ankle_locked) > 2 * rolling_toe_speed(fixed)
    monkeypatch.undo()
    # the pivot's path: the ankle's while the heel is down, the toe's on rolling frames
    pos = real_pos
    ankle, toe = skeleton.index("left_ankle"), skeleton.index("left_foot")
    pivot_on_toe = contacts[:, 1] & ~contacts[:, 0]
    start = int(np.flatnonzero(pivot_on_toe[3:] & ~pivot_on_toe[2:-1])[0]) + 3  # a run's first frame, 3 or later
    end = start + int(np.argmin(pivot_on_toe[start:])) - 1  # the run's last frame
    assert end > start
    slide = correct_module._pivot_slip(pos, ankle, toe, pivot_on_toe, start - 3, end, start - 3)
    np.testing.assert_allclose(slide[:4], pos[start - 3 : start + 1, ankle] - pos[start - 3, ankle], atol=1e-12)
    np.testing.assert_allclose(slide[4:] - slide[3], pos[start + 1 : end + 1, toe] - pos[start, toe], atol=1e-12)
    # anchored at the last frame instead: the same path, shifted to zero there
    shifted = correct_module._pivot_slip(pos, ankle, toe, pivot_on_toe, start - 3, end, end)
    np.testing.assert_allclose(shifted, slide - slide[-1], atol=1e-12)


def test_the_swing_next_to_a_locked_foot_keeps_its_clearance(clips, monkeypatch) -> None:
    """A real walk gliding 0.2 m/s (its feet slide with the body): holding the feet back straightens
    the legs, and without the clearance step the re-smoothing carries that into the swing, which
    then sweeps centimetres lower over the floor; with it the swing keeps its height."""
    import motiongen.postprocess.correct as correct_module

    motion = clips["walk"]
    skeleton, fps = motion.skeleton, motion.fps
    local, root = motion.local_rotations, motion.root_translation
    contacts = foot_contacts_from_positions(motion.joint_positions(), skeleton, fps)
    forward = root[-1] - root[0]
    forward[1] = 0.0
    glide = root + 0.2 * np.arange(motion.num_frames)[:, None] / fps * forward / np.linalg.norm(forward)
    raw = skeleton.forward_kinematics(local, glide)[1]

    def corrected() -> np.ndarray:
        return skeleton.forward_kinematics(*correct_motion(local, glide, skeleton, contacts, root_from_feet=False))[1]

    cleared = corrected()
    monkeypatch.setattr(correct_module, "_keep_swing_clearance", lambda after, *rest: after)
    lowered = corrected()
    monkeypatch.undo()
    for heel, toe, names in ((0, 1, ("left_ankle", "left_foot")), (2, 3, ("right_ankle", "right_foot"))):
        free = ~(contacts[:, heel] | contacts[:, toe])
        ankle, toe_joint = skeleton.indices(names)
        # within the eased share of what the lock pressed the contact frames down (a few mm here)
        assert (cleared[free, ankle, 1] - raw[free, ankle, 1]).min() > -2e-3
        assert (cleared[free, toe_joint, 1] - raw[free, toe_joint, 1]).min() > -5e-3
        assert (lowered[free, ankle, 1] - raw[free, ankle, 1]).min() < -0.03
    skate = {name: foot_skate_from_height(p, skeleton, fps) for name, p in (("raw", raw), ("lowered", lowered), ("cleared", cleared))}
    assert skate["lowered"] > skate["raw"] > skate["cleared"], skate


def test_fix_feet_slows_planted_toes_in_a_walk(clips) -> None:
    """On a walk the contact frames' toe speed drops."""
    motion = clips["walk"]
    skeleton = motion.skeleton
    real_pos = motion.joint_positions()
    contacts = foot_contacts_from_positions(real_pos, skeleton, motion.fps)
    local, root = _perturb(motion, 0.03, ("spine2", "neck"))
    gen_pos = skeleton.forward_kinematics(local, root)[1]
    out_pos = skeleton.forward_kinematics(*correct_motion(local, root, skeleton, contacts))[1]
    toes = skeleton.indices([skeleton.joint_set("left_foot")[1], skeleton.joint_set("right_foot")[1]])
    planted = contacts[:-1][:, [1, 3]] & contacts[1:][:, [1, 3]]

    def planted_speed(pos: np.ndarray) -> float:
        speed = np.linalg.norm(np.diff(pos[:, toes], axis=0), axis=-1) * motion.fps
        return float(speed[planted].mean())

    assert planted_speed(out_pos) < 0.75 * planted_speed(gen_pos)
    # locking and releasing the feet adds no jolt: the correction itself changes smoothly
    legs = skeleton.indices(["left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot"])
    change = out_pos[:, legs] - gen_pos[:, legs]
    assert np.abs(change).max() > 0.01
    assert np.linalg.norm(np.diff(change, n=2, axis=0), axis=-1).max() < 0.015  # m / frame²
    # planted toes are held at the rig's toe height above the floor (7 mm for smplx22)
    floor = min_heights(skeleton)[skeleton.index("right_foot")]
    assert abs(floor - 0.007) < 1e-9
    toe_y = out_pos[:, toes, 1][contacts[:, [1, 3]]]
    assert np.abs(toe_y - floor).max() < 1e-3


def test_correct_motion_without_targets_or_feet_is_the_identity_and_handles_one_frame(clips) -> None:
    motion = clips["standing"]
    skeleton = motion.skeleton
    contacts = np.ones((motion.num_frames, 4), dtype=bool)
    local, root = correct_motion(motion.local_rotations, motion.root_translation, skeleton, contacts, fix_feet=False)
    np.testing.assert_array_equal(local, motion.local_rotations)
    np.testing.assert_array_equal(root, motion.root_translation)
    # T = 1 with a full-body key: the pose becomes the key
    one = _targets_from(motion.slice(40, 41))
    one.fullbody[0] = True
    local, root = correct_motion(motion.local_rotations[:1], motion.root_translation[:1] + 0.1, skeleton, contacts[:1], one)
    np.testing.assert_allclose(local, motion.local_rotations[40:41], atol=1e-9)
    np.testing.assert_allclose(root, motion.root_translation[40:41], atol=1e-12)


def test_correct_motion_is_fast(clips) -> None:
    motion = clips["standing"]
    skeleton = motion.skeleton
    # 300 frames: the clip followed by its start played backwards (continuous at the seam)
    order = np.concatenate([np.arange(motion.num_frames), np.arange(motion.num_frames - 2, -1, -1)])[:300]
    assert len(order) == 300
    local, root = _perturb(motion.slice(0), 0.03, ("spine2", "neck"))
    local, root = local[order], root[order]
    contacts = foot_contacts_from_positions(motion.joint_positions()[order], skeleton, motion.fps)
    targets = PoseTargets.empty(300, skeleton.num_joints)
    targets.local_rot_mats = motion.local_rotations[order]
    targets.root_positions = motion.root_translation[order]
    targets.smooth_root_2d = motion.root_translation[order][:, [0, 2]]
    targets.fullbody[[0, 100, 299]] = True
    targets.root2d[150:200] = True
    targets.end_effectors["right_hand"][60:70] = True
    targets.end_effectors["left_foot"][250] = True
    correct_motion(local, root, skeleton, contacts, targets)  # warm caches
    start = time.perf_counter()
    correct_motion(local, root, skeleton, contacts, targets)
    assert time.perf_counter() - start < 1.0


# ==================================================================================================
# Bad input
# ==================================================================================================
def test_bad_input_raises_input_error_naming_the_field(clips) -> None:
    motion = clips["standing"].slice(0, 20)
    skeleton = motion.skeleton
    local, root = motion.local_rotations, motion.root_translation
    contacts = np.zeros((20, 4), dtype=bool)

    def field_of(**changes) -> str:
        args = {"local_rot_mats": local, "root_positions": root, "skeleton": skeleton, "foot_contacts": contacts}
        args.update(changes)
        with pytest.raises(InputError) as info:
            correct_motion(**args)
        return info.value.field

    bad_local = local.copy()
    bad_local[3, 5, 0, 0] = np.nan
    assert field_of(local_rot_mats=bad_local) == "local_rot_mats"
    assert field_of(local_rot_mats=local[:, :10]) == "local_rot_mats"
    bad_root = root.copy()
    bad_root[7, 1] = np.inf
    assert field_of(root_positions=bad_root) == "root_positions"
    assert field_of(root_positions=root[:19]) == "root_positions"
    assert field_of(foot_contacts=contacts[:, :2]) == "foot_contacts"
    assert field_of(root_margin=float("nan")) == "root_margin"

    targets = _targets_from(motion)
    targets.root2d[5] = True
    targets.smooth_root_2d[5, 0] = np.nan
    assert field_of(targets=targets) == "targets.smooth_root_2d"
    targets = _targets_from(motion)
    targets.local_rot_mats[2] = np.nan  # not used on frame 2: fine
    correct_motion(local, root, skeleton, contacts, targets)
    targets.fullbody[2] = True
    assert field_of(targets=targets) == "targets.local_rot_mats"
    targets = _targets_from(motion)
    targets.end_effectors["left_elbow"] = np.ones(20, dtype=bool)
    assert field_of(targets=targets) == "targets.end_effectors"
    targets = _targets_from(motion)
    targets.fullbody = np.zeros(19, dtype=bool)
    assert field_of(targets=targets) == "targets.fullbody"

    ref = np.zeros((10, 2))
    with pytest.raises(InputError) as info:
        correct_trajectory(ref, np.zeros((10, 3)), np.zeros(10))
    assert info.value.field == "target"
    with pytest.raises(InputError) as info:
        correct_trajectory(ref, np.zeros((10, 2)), np.zeros(9))
    assert info.value.field == "margin"
    target = np.zeros((10, 2))
    target[4] = np.nan
    margin = np.full(10, np.nan)
    margin[4] = 0.0
    with pytest.raises(InputError) as info:
        correct_trajectory(ref, target, margin)
    assert info.value.field == "target"
    with pytest.raises(InputError) as info:
        correct_trajectory(ref, np.zeros((10, 2)), margin, (0.0, 1.0, 1.0))
    assert info.value.field == "weights"


def test_falloff_is_eased_over_time_and_within_contact_frames_only() -> None:
    from motiongen.postprocess.correct import FALLOFF_EASE_FRAMES, _smooth_in_time

    # one contact run of 20 frames whose goal leaves the leg's reach at frame 10: the per-frame falloff
    # jumps 1 -> 0; eased, no step between neighbouring frames is larger than one window's share
    frames = np.arange(5, 25)
    weight = (frames < 15).astype(float)
    eased = _smooth_in_time(weight, frames, 30)
    assert np.abs(np.diff(eased)).max() <= 1.0 / (2 * FALLOFF_EASE_FRAMES + 1) + 1e-12
    assert eased[0] == 1.0 and eased[-1] == 0.0  # the run's ends keep their own weight (not eroded by gaps)
    # two runs: frames outside them do not count, so a fully reached short run stays fully reached
    frames = np.array([0, 1, 2, 10, 11, 12])
    np.testing.assert_array_equal(_smooth_in_time(np.ones(6), frames, 15), np.ones(6))


def test_toe_clean_up_does_not_snap_a_lifted_foot(clips) -> None:
    """A toe predicted planted while the foot is far above the floor is a mispredicted contact: the
    ankle turns by at most MAX_TOE_TURN (plus what the re-smoothing carries), not straight down."""
    from motiongen.postprocess.correct import MAX_TOE_TURN

    motion = clips["standing"]
    skeleton = motion.skeleton
    root = motion.root_translation + [0.0, 0.3, 0.0]  # feet 30 cm up in the air
    contacts = np.ones((motion.num_frames, 4), dtype=bool)
    local, _ = correct_motion(motion.local_rotations, root, skeleton, contacts)
    glob_before = skeleton.forward_kinematics(motion.local_rotations, root)[0]
    glob_after = skeleton.forward_kinematics(local, root)[0]
    for name in ("left_ankle", "right_ankle"):
        j = skeleton.index(name)
        rel = np.swapaxes(glob_before[:, j], -1, -2) @ glob_after[:, j]
        turn = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
        assert turn.max() <= MAX_TOE_TURN + 1e-6, name


def test_a_toe_pressed_to_the_floor_eases_in_and_out_without_a_pop(clips, monkeypatch) -> None:
    """A short toe contact predicted on a standing foot whose toe is a few centimetres up: the toe
    clean-up presses it to the floor, and the free frames next to it lower into that instead of
    the clearance step snapping them back to their old height on the very next frame."""
    import motiongen.postprocess.correct as correct_module

    motion = clips["standing"]
    skeleton = motion.skeleton
    root = motion.root_translation + [0.0, 0.04, 0.0]  # the whole body 4 cm up
    contacts = np.zeros((motion.num_frames, 4), dtype=bool)
    first, last = 40, 43
    contacts[first : last + 1, 3] = True  # right toe "planted" on four frames
    toe = skeleton.index(skeleton.joint_set("right_foot")[1])
    before = skeleton.forward_kinematics(motion.local_rotations, root)[1][:, toe, 1]

    def toe_heights() -> np.ndarray:
        local, new_root = correct_motion(motion.local_rotations, root, skeleton, contacts, root_from_feet=False)
        return skeleton.forward_kinematics(local, new_root)[1][:, toe, 1]

    eased = toe_heights()
    pressed = float((before - eased)[first : last + 1].min())
    assert pressed > 0.03  # the contact frames were pressed down towards the floor
    eased_step = np.abs(np.diff(eased)).max()
    assert eased_step < 0.4 * pressed, (eased_step, pressed)
    # free frames beyond the ease get their old height back
    far = np.r_[: first - correct_module.CLEARANCE_EASE_FRAMES - 1, last + correct_module.CLEARANCE_EASE_FRAMES + 2 : len(eased)]
    np.testing.assert_allclose(eased[far], before[far], atol=2e-3)
    # without the ease (no share of the press) the neighbours snap back within a frame
    monkeypatch.setattr(correct_module, "CLEARANCE_EASE_FRAMES", 0)
    snapped_step = np.abs(np.diff(toe_heights())).max()
    assert snapped_step > 0.8 * pressed, (snapped_step, pressed)
