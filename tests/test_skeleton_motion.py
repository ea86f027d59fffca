"""Skeleton FK and the Motion container on a small synthetic, mirror-symmetric rig."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motiongen.errors import InputError, UnknownNameError
from motiongen.motion import Motion
from motiongen.skeleton import Skeleton

from toy_rig import NAMES, OFFSETS, toy_skeleton


def random_motion(frames: int = 40, fps: float = 30.0, seed: int = 0) -> Motion:
    rng = np.random.default_rng(seed)
    # smooth random rotations: integrate small random angular velocities
    rotvec = np.cumsum(rng.normal(scale=0.05, size=(frames, len(NAMES), 3)), axis=0)
    local = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(frames, len(NAMES), 3, 3)
    root = np.cumsum(rng.normal(scale=0.01, size=(frames, 3)), axis=0) + [0, 0.9, 0]
    return Motion(local, root, fps, toy_skeleton())


def manual_fk(skel: Skeleton, local: np.ndarray, root: np.ndarray) -> np.ndarray:
    pos = np.zeros(local.shape[:-2] + (3,))
    glob = np.zeros_like(local)
    for t in range(local.shape[0]):
        for j, p in enumerate(skel.parents):
            if p < 0:
                glob[t, j], pos[t, j] = local[t, j], root[t]
            else:
                glob[t, j] = glob[t, p] @ local[t, j]
                pos[t, j] = pos[t, p] + glob[t, p] @ skel.offsets[j]
    return pos


def test_fk_matches_loop_and_rest_pose() -> None:
    m = random_motion()
    np.testing.assert_allclose(m.joint_positions(), manual_fk(m.skeleton, m.local_rotations, m.root_translation), atol=1e-12)
    identity = np.broadcast_to(np.eye(3), (1, len(NAMES), 3, 3))
    rest = m.skeleton.forward_kinematics(identity, m.skeleton.offsets[:1])[1][0]
    np.testing.assert_allclose(rest, m.skeleton.rest_positions(), atol=1e-12)


def test_fk_torch_matches_numpy_and_is_differentiable() -> None:
    m = random_motion(frames=5)
    local = torch.tensor(m.local_rotations, requires_grad=True)
    glob, pos = m.skeleton.forward_kinematics(local, torch.tensor(m.root_translation))
    np.testing.assert_allclose(pos.detach().numpy(), m.joint_positions(), atol=1e-12)
    pos.sum().backward()
    assert torch.isfinite(local.grad).all() and local.grad.abs().sum() > 0


def test_global_to_local_inverts_fk() -> None:
    m = random_motion()
    np.testing.assert_allclose(m.skeleton.global_to_local(m.global_rotations()), m.local_rotations, atol=1e-12)


def test_joint_translations_override_offsets() -> None:
    m = random_motion(frames=3)
    jt = np.full((3, len(NAMES), 3), np.nan)
    jt[:, 9] = [0, 0.5, 0]
    m2 = Motion(m.local_rotations, m.root_translation, m.fps, m.skeleton, joint_translations=jt)
    skel2 = m.skeleton.with_offsets(np.where(np.arange(len(NAMES))[:, None] == 9, [0, 0.5, 0], OFFSETS))
    np.testing.assert_allclose(m2.joint_positions(), manual_fk(skel2, m.local_rotations, m.root_translation), atol=1e-12)


def test_resample_120_to_30_takes_every_fourth_frame() -> None:
    m = random_motion(frames=41, fps=120.0)
    r = m.resample(30.0)
    assert r.fps == 30.0 and r.num_frames == 11
    np.testing.assert_allclose(r.local_rotations, m.local_rotations[::4], atol=1e-9)
    np.testing.assert_allclose(r.root_translation, m.root_translation[::4], atol=1e-12)


def test_resample_interpolates_between_frames() -> None:
    m = random_motion(frames=10, fps=30.0)
    r = m.resample(60.0)
    assert r.num_frames == 19
    np.testing.assert_allclose(r.root_translation[1], m.root_translation[:2].mean(0), atol=1e-12)
    # slerp midpoint: equal angle to both neighbours
    a = Rotation.from_matrix(r.local_rotations[1, 3])
    d0 = (a.inv() * Rotation.from_matrix(m.local_rotations[0, 3])).magnitude()
    d1 = (a.inv() * Rotation.from_matrix(m.local_rotations[1, 3])).magnitude()
    assert abs(d0 - d1) < 1e-9


def test_slice_and_concatenate_round_trip() -> None:
    m = random_motion(frames=30)
    parts = [m[0:10], m[10:25], m.slice(25)]
    joined = Motion.concatenate(parts)
    np.testing.assert_allclose(joined.local_rotations, m.local_rotations)
    np.testing.assert_allclose(joined.root_translation, m.root_translation)
    assert m[::2].fps == 15.0 and m[::2].num_frames == 15
    with pytest.raises(InputError, match="frame window"):
        m.slice(5, 100)
    with pytest.raises(InputError, match="fps"):
        Motion.concatenate([m, random_motion(fps=60.0)])


def test_mirror_reflects_positions_and_is_an_involution() -> None:
    m = random_motion()
    mm = m.mirror()
    pos, mpos = m.joint_positions(), mm.joint_positions()
    perm = list(m.skeleton.mirror)
    np.testing.assert_allclose(mpos[:, perm] * [-1, 1, 1], pos, atol=1e-12)
    np.testing.assert_allclose(mm.mirror().local_rotations, m.local_rotations, atol=1e-12)


def test_skeleton_serialises_and_validates() -> None:
    skel = toy_skeleton()
    again = Skeleton.from_dict(skel.to_dict())
    assert again == skel and again.mirror == skel.mirror and again.joint_sets == skel.joint_sets
    assert skel.foot_joint_indices == [3, 4, 7, 8]
    with pytest.raises(UnknownNameError, match="unknown joint 'tail'"):
        skel.index("tail")
    with pytest.raises(InputError, match="parents"):
        Skeleton("bad", ("a", "b"), (-1, 1), np.zeros((2, 3)))
    with pytest.raises(InputError, match="duplicate"):
        Skeleton("bad", ("a", "a"), (-1, 0), np.zeros((2, 3)))


def test_motion_rejects_bad_arrays() -> None:
    skel = toy_skeleton()
    with pytest.raises(InputError, match="local_rotations"):
        Motion(np.zeros((4, 3, 3, 3)), np.zeros((4, 3)), 30, skel)
    local = np.broadcast_to(np.eye(3), (4, len(NAMES), 3, 3)).copy()
    local[2, 1, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Motion(local, np.zeros((4, 3)), 30, skel)
    with pytest.raises(InputError, match="fps"):
        Motion(np.broadcast_to(np.eye(3), (4, len(NAMES), 3, 3)), np.zeros((4, 3)), 0, skel)
