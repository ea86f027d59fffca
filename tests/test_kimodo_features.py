"""KIMODO feature representation: layout, encode/decode, contacts, smooth root, normalisation, yaw.

Real-data tests use the shipped KIMODO SOMA30 example motions; the rest run on a small synthetic rig.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motiongen.errors import InputError
from motiongen.motion import Motion
from motiongen.motion.kimodo_features import (
    FeatureStats,
    KimodoFeatures,
    canonicalize,
    foot_contacts_from_positions,
    local_root_features,
    root_heading,
    rotate_features_yaw,
    rotate_motion_yaw,
    smooth_root_position,
    smooth_root_positions,
)
from motiongen.skeleton import Skeleton
from motiongen.skeleton.registry import get_skeleton

from toy_rig import NAMES, toy_skeleton


def random_motion(frames: int = 60, seed: int = 0, fps: float = 30.0) -> Motion:
    """Smooth random rotations and a wandering root that travels a few metres."""
    rng = np.random.default_rng(seed)
    rotvec = np.cumsum(rng.normal(scale=0.06, size=(frames, len(NAMES), 3)), axis=0)
    local = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(frames, len(NAMES), 3, 3)
    velocity = np.cumsum(rng.normal(scale=0.01, size=(frames, 3)), axis=0) * [1, 0.1, 1] + [0.01, 0, 0.04]
    root = np.cumsum(velocity, axis=0) + [0.3, 0.9, -0.2]
    return Motion(local, root, fps, toy_skeleton("toy_kimodo"))


@pytest.fixture(scope="module")
def soma_examples(data_dir: Path, cache_dir: Path, raw) -> tuple[Skeleton, list[tuple[str, Motion, dict]]]:
    """The shipped SOMA30 examples as Motions (local = parentᵀ global, root = posed pelvis)."""
    skeleton = get_skeleton("soma30", data_dir, cache_dir)
    paths = sorted((raw("kimodo") / "kimodo-assets/examples/kimodo-soma-rp").glob("*/motion.npz"))
    assert len(paths) == 8
    out = []
    for path in paths:
        with np.load(path) as data:
            arrays = {k: data[k] for k in ("posed_joints", "global_rot_mats", "foot_contacts")}
        local = skeleton.global_to_local(arrays["global_rot_mats"].astype(np.float64))
        root = arrays["posed_joints"][:, 0].astype(np.float64)
        motion = Motion(local, root, 30.0, skeleton, foot_contacts=arrays["foot_contacts"])
        out.append((path.parent.name, motion, arrays))
    return skeleton, out


# ==================================================================================================
# Layout
# ==================================================================================================
def test_layout_dimensions_and_slices() -> None:
    rep = KimodoFeatures(toy_skeleton("toy_kimodo"))
    j = len(NAMES)
    assert rep.dim == 9 + 12 * j
    sizes = {name: sl.stop - sl.start for name, sl in rep.blocks.items()}
    assert sizes == {
        "smooth_root_pos": 3, "global_root_heading": 2, "local_joints_positions": 3 * j,
        "global_rot_data": 6 * j, "velocities": 3 * j, "foot_contacts": 4,
    }
    starts = [sl.start for sl in rep.blocks.values()]
    stops = [sl.stop for sl in rep.blocks.values()]
    assert starts[0] == 0 and stops[-1] == rep.dim and starts[1:] == stops[:-1]
    assert (rep.root.start, rep.root.stop, rep.body.start, rep.body.stop) == (0, 5, 5, rep.dim)


def test_encode_block_contents_synthetic() -> None:
    motion = random_motion()
    rep = KimodoFeatures(motion.skeleton)
    feats = rep.encode(motion)
    assert feats.dtype == np.float32 and feats.shape == (len(motion), rep.dim)
    pos = motion.joint_positions()
    smooth = feats[:, rep.smooth_root_pos]
    np.testing.assert_allclose(smooth[:, 1], pos[:, 0, 1], atol=1e-6)  # y = raw pelvis height
    local = feats[:, rep.local_joints_positions].reshape(len(motion), -1, 3)
    np.testing.assert_allclose(local + smooth[:, None] * [1, 0, 1], pos, atol=2e-6)
    velocities = feats[:, rep.velocities].reshape(len(motion), -1, 3)
    np.testing.assert_allclose(velocities[1:-1], 30 * (pos[2:] - pos[1:-1]), atol=1e-4)
    np.testing.assert_array_equal(feats[-1, rep.velocities], feats[-2, rep.velocities])
    heading = np.arctan2(feats[:, 4], feats[:, 3])
    np.testing.assert_allclose(heading, root_heading(pos, motion.skeleton), atol=1e-6)
    assert set(np.unique(feats[:, rep.foot_contacts])) <= {0.0, 1.0}


# ==================================================================================================
# Real data: the shipped KIMODO SOMA30 examples
# ==================================================================================================
def test_soma_examples_roundtrip_heading_contacts(soma_examples) -> None:
    skeleton, examples = soma_examples
    rep = KimodoFeatures(skeleton)
    assert rep.dim == 369
    motions = [m for _, m, _ in examples]
    batch = rep.encode_batch(motions)
    np.testing.assert_array_equal(batch[0], rep.encode(motions[0]))  # batched smoothing = per clip
    for (name, motion, arrays), feats in zip(examples, batch):
        assert feats.shape == (len(motion), 369), name
        decoded = rep.decode(feats)
        err = np.abs(decoded["posed_joints"] - arrays["posed_joints"]).max()
        assert err < 1e-4, f"{name}: decoded joints off by {err} m"
        np.testing.assert_array_equal(decoded["foot_contacts"], arrays["foot_contacts"])
        theta0 = float(root_heading(arrays["posed_joints"][0].astype(np.float64), skeleton))
        assert abs(theta0) < 0.05, name
        contacts = foot_contacts_from_positions(arrays["posed_joints"], skeleton, fps=30.0)
        agreement = (contacts == arrays["foot_contacts"]).mean()
        assert agreement >= 0.90, f"{name}: contact heuristic agrees on {agreement:.3f}"


def test_soma_yaw_rotation_equals_encoding_rotated_motion(soma_examples) -> None:
    skeleton, examples = soma_examples
    rep = KimodoFeatures(skeleton)
    _, motion, _ = examples[-1]
    angle = 2.1
    rotated = rep.rotate_yaw(rep.encode(motion), angle)
    np.testing.assert_allclose(rotated, rep.encode(rotate_motion_yaw(motion, angle)), atol=1e-5)


# ==================================================================================================
# Synthetic round trips, torch, batching
# ==================================================================================================
def test_synthetic_roundtrip_and_decode_motion() -> None:
    motion = random_motion(frames=45, seed=3)
    rep = KimodoFeatures(motion.skeleton)
    feats = rep.encode(motion)
    decoded = rep.decode(feats)
    assert np.abs(decoded["posed_joints"] - motion.joint_positions()).max() < 1e-4
    back = rep.decode_motion(feats)
    assert isinstance(back, Motion) and back.fps == 30.0 and back.skeleton == motion.skeleton
    np.testing.assert_allclose(back.local_rotations, motion.local_rotations, atol=1e-5)
    np.testing.assert_allclose(back.root_translation, motion.root_translation, atol=1e-5)


def test_decode_torch_batched_and_differentiable() -> None:
    rep = KimodoFeatures(toy_skeleton("toy_kimodo"))
    clips = np.stack([rep.encode(random_motion(frames=20, seed=s)) for s in range(3)]).astype(np.float64)
    x = torch.tensor(clips, requires_grad=True)
    out = rep.decode(x)
    assert out["posed_joints"].shape == (3, 20, len(NAMES), 3)
    out["posed_joints"].square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the 6D block and the root entry drive the pose; velocities are not used in decoding
    assert x.grad[..., rep.global_rot_data].abs().sum() > 0
    assert x.grad[..., rep.velocities].abs().sum() == 0
    for b in range(3):
        single = rep.decode(clips[b])
        np.testing.assert_allclose(out["posed_joints"][b].detach().numpy(), single["posed_joints"], atol=1e-10)
        np.testing.assert_allclose(out["local_rot_mats"][b].detach().numpy(), single["local_rot_mats"], atol=1e-10)


def test_encode_and_decode_reject_mismatches() -> None:
    motion = random_motion(frames=10)
    rep = KimodoFeatures(motion.skeleton)
    with pytest.raises(InputError, match="fps"):
        rep.encode(motion.resample(20.0))
    other = motion.skeleton.with_offsets(motion.skeleton.offsets * 1.1, name="bigger")
    with pytest.raises(InputError, match="skeleton"):
        rep.encode(Motion(motion.local_rotations, motion.root_translation, 30.0, other))
    with pytest.raises(InputError, match=str(rep.dim)):
        rep.decode(np.zeros((5, rep.dim - 1)))


def test_local_root_features_turning_walk() -> None:
    # pelvis circles at 1.5 rad/s while facing along the path; the heading wraps through ±π
    frames, fps, omega = 150, 30.0, 1.5
    t = np.arange(frames) / fps
    local = np.tile(np.eye(3), (frames, len(NAMES), 1, 1))
    local[:, 0] = Rotation.from_rotvec(np.outer(omega * t, [0, 1, 0])).as_matrix()
    root = np.stack([2 * np.sin(omega * t), np.full(frames, 0.9), 2 * np.cos(omega * t)], axis=-1)
    motion = Motion(local, root, fps, toy_skeleton("toy_kimodo"))
    rep = KimodoFeatures(motion.skeleton, fps)
    feats = rep.encode(motion)
    local_root = rep.local_root_features(feats)
    assert local_root.shape == (frames, 4)
    np.testing.assert_allclose(local_root[:, 0], omega, atol=1e-4)
    smooth = feats[:, [0, 2]].astype(np.float64)
    np.testing.assert_allclose(local_root[:-1, 1:3], fps * np.diff(smooth, axis=0), atol=1e-3)
    np.testing.assert_allclose(local_root[:, 3], 0.9, atol=1e-6)
    torch_version = local_root_features(torch.tensor(feats, dtype=torch.float64), fps)
    np.testing.assert_allclose(torch_version.numpy(), local_root_features(feats.astype(np.float64), fps), atol=1e-12)


def test_contact_heuristic_planted_and_moving_feet() -> None:
    skeleton = toy_skeleton("toy_kimodo")
    frames = 10
    pos = np.zeros((frames, len(NAMES), 3))
    pos[:, :, 1] = 0.5
    pos[:, 3:5, 1] = 0.05  # left foot low and still
    pos[:, 7:9, 1] = 0.05
    pos[:, 7:9, 2] = np.arange(frames)[:, None] * 0.02  # right foot low but sliding at 0.6 m/s
    contacts = foot_contacts_from_positions(pos, skeleton, fps=30.0)
    assert contacts[:, :2].all() and not contacts[:, 2:].any()
    pos[:, 3:5, 1] = 0.2  # lifted: no contact even though still
    assert not foot_contacts_from_positions(pos, skeleton, fps=30.0)[:, :2].any()


# ==================================================================================================
# Yaw rotation and canonicalisation
# ==================================================================================================
def test_rotate_features_yaw_matches_rotated_motion_numpy_and_torch() -> None:
    motion = random_motion(frames=50, seed=5)
    rep = KimodoFeatures(motion.skeleton)
    feats = rep.encode(motion)
    for angle in (0.7, -2.5, np.pi):
        expected = rep.encode(rotate_motion_yaw(motion, angle))
        np.testing.assert_allclose(rotate_features_yaw(feats, angle), expected, atol=1e-5)
    stacked = torch.tensor(np.stack([feats, feats]), dtype=torch.float64)
    turned = rotate_features_yaw(stacked, torch.tensor([0.7, -2.5], dtype=torch.float64))
    np.testing.assert_allclose(turned[1].numpy(), rep.encode(rotate_motion_yaw(motion, -2.5)), atol=1e-5)
    np.testing.assert_allclose(turned[0].numpy(), rotate_features_yaw(feats, 0.7), atol=1e-6)


def test_canonicalize_zero_heading_and_origin() -> None:
    motion = rotate_motion_yaw(random_motion(frames=30, seed=7), 1.2)
    canon = canonicalize(motion)
    pos, canon_pos = motion.joint_positions(), canon.joint_positions()
    assert abs(float(root_heading(canon_pos[0], canon.skeleton))) < 1e-9
    np.testing.assert_allclose(canon.root_translation[0, [0, 2]], 0.0, atol=1e-12)
    np.testing.assert_allclose(canon.root_translation[:, 1], motion.root_translation[:, 1])
    # a rigid motion of the whole clip: distances between joints and frames are unchanged
    flat, canon_flat = pos.reshape(-1, 3), canon_pos.reshape(-1, 3)
    distances = np.linalg.norm(flat[1:] - flat[0], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(canon_flat[1:] - canon_flat[0], axis=-1), distances, atol=1e-9)
    assert abs(float(root_heading(pos[0], motion.skeleton))) > 0.5


# ==================================================================================================
# Smooth root
# ==================================================================================================
def test_smooth_root_leads_straight_line_by_half_a_frame() -> None:
    frames = 300
    line = np.stack([np.zeros(frames), 0.04 * np.arange(frames)], axis=-1)
    smooth = smooth_root_position(line)
    lead = smooth[:, 1] - line[:, 1]
    assert abs(lead[frames // 2] - 0.02) < 1e-3
    np.testing.assert_allclose(smooth[:, 0], 0.0, atol=1e-12)
    # the quirk is exactly one extra midpoint pass over the finest solve
    plain = smooth_root_position(line, match_kimodo_quirk=False)
    np.testing.assert_allclose(smooth[:-2], (plain[:-2] + plain[1:-1]) / 2, atol=1e-12)
    assert abs(plain[frames // 2, 1] - line[frames // 2, 1]) < 1e-3


def test_smooth_root_stays_within_margin_on_noisy_curve() -> None:
    rng = np.random.default_rng(11)
    frames = 240
    t = np.linspace(0, 2 * np.pi, frames)
    raw = np.stack([3 * np.sin(t), 2 * np.sin(2 * t)], axis=-1) + rng.normal(scale=0.03, size=(frames, 2))
    plain = smooth_root_position(raw, match_kimodo_quirk=False)
    assert np.linalg.norm(plain - raw, axis=-1).max() <= 0.06 + 1e-4
    # smoother than the input: far less acceleration energy
    assert np.square(np.diff(plain, 2, axis=0)).sum() < 0.05 * np.square(np.diff(raw, 2, axis=0)).sum()
    quirk = smooth_root_position(raw)
    half_step = np.linalg.norm(np.diff(raw, axis=0), axis=-1) / 2
    assert (np.linalg.norm(quirk[:-2] - raw[:-2], axis=-1) <= 0.06 + half_step[:-1] + 1e-4).all()


@pytest.mark.parametrize("frames", [1, 2, 3, 17, 300])
def test_smooth_root_short_and_long_sequences(frames: int) -> None:
    raw = np.cumsum(np.random.default_rng(frames).normal(scale=0.05, size=(frames, 2)), axis=0)
    out = smooth_root_position(raw)
    assert out.shape == (frames, 2) and np.isfinite(out).all()
    plain = smooth_root_position(raw, match_kimodo_quirk=False)
    assert np.linalg.norm(plain - raw, axis=-1).max() <= 0.06 + 1e-4
    if frames == 1:
        np.testing.assert_array_equal(out, raw)


def test_smooth_root_batched_equals_per_clip_and_validates() -> None:
    rng = np.random.default_rng(2)
    clips = [np.cumsum(rng.normal(scale=0.04, size=(n, 2)), axis=0) for n in (2, 5, 40, 90)]
    batched = smooth_root_positions(clips)
    for clip, out in zip(clips, batched):
        np.testing.assert_array_equal(out, smooth_root_position(clip))
    stacked = smooth_root_position(np.stack([clips[2], clips[2] + 1.0]))
    np.testing.assert_allclose(stacked[1] - stacked[0], 1.0, atol=1e-9)
    with pytest.raises(InputError, match="margin"):
        smooth_root_position(clips[2], margin=0.0)
    with pytest.raises(InputError, match="root_xz"):
        smooth_root_position(np.zeros((10, 3)))


# ==================================================================================================
# Normalisation statistics
# ==================================================================================================
def test_feature_stats_compute_normalize_save_load(tmp_path: Path) -> None:
    rep = KimodoFeatures(toy_skeleton("toy_kimodo"))
    clips = [rep.encode(random_motion(frames=n, seed=s)) for s, n in enumerate((12, 30, 21))]
    stats = FeatureStats.compute(iter(clips))
    allf = np.concatenate(clips).astype(np.float64)
    np.testing.assert_allclose(np.concatenate([stats.global_root_mean, stats.body_mean]), allf.mean(0), atol=1e-9)
    np.testing.assert_allclose(np.concatenate([stats.global_root_std, stats.body_std]), allf.std(0), atol=1e-9)
    local = np.concatenate([local_root_features(c) for c in clips]).astype(np.float64)
    np.testing.assert_allclose(stats.local_root_std, local.std(0), atol=1e-9)
    assert (stats.num_frames, stats.num_clips, stats.dim) == (63, 3, rep.dim)

    x = clips[1]
    xn = stats.normalize(x)
    np.testing.assert_allclose(stats.unnormalize(xn), x, atol=1e-5)
    root_scale = np.sqrt(stats.global_root_std**2 + 1e-5)
    body_scale = np.sqrt(stats.body_std[:4] ** 2 + 1e-5)
    np.testing.assert_allclose(xn[:, :5], (x[:, :5] - stats.global_root_mean) / root_scale, rtol=1e-5, atol=1e-5)
    # dims 5:9 use the body stats, not the local-root stats (reference 9.2 item 1)
    np.testing.assert_allclose(xn[:, 5:9], (x[:, 5:9] - stats.body_mean[:4]) / body_scale, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.normalize(x[:, 5:], block="body"), xn[:, 5:], atol=1e-6)
    xt = torch.tensor(x, dtype=torch.float64)
    np.testing.assert_allclose(stats.normalize(xt).numpy(), xn, atol=1e-5)
    np.testing.assert_allclose(stats.unnormalize(stats.normalize(xt)).numpy(), x, atol=1e-9)
    lr = local_root_features(x)
    np.testing.assert_allclose(stats.unnormalize(stats.normalize(lr, block="local_root"), block="local_root"), lr, atol=1e-5)
    # decode can take normalised features directly
    np.testing.assert_allclose(rep.decode(xn, stats=stats)["posed_joints"], rep.decode(x)["posed_joints"], atol=1e-4)

    path = stats.save(tmp_path / "stats.npz")
    loaded = FeatureStats.load(path)
    np.testing.assert_array_equal(loaded.body_std, stats.body_std)
    assert (loaded.num_frames, loaded.num_clips) == (63, 3)
    summary = json.loads(path.with_suffix(".json").read_text())
    assert summary["dim"] == rep.dim and len(summary["local_root_mean"]) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json", "stats.npz"]
    (tmp_path / "bad.npz").write_text("not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        FeatureStats.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="block"):
        stats.normalize(x, block="local_root")
    with pytest.raises(InputError, match="no feature clips"):
        FeatureStats.compute([])
