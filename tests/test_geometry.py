"""Round-trip, cross-check (scipy) and gradient tests of the rotation conversions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from motiongen.errors import InputError
from motiongen.geometry import (
    EULER_ORDERS,
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    best_fit_rotation,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_euler,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    quaternion_multiply,
    quaternion_slerp,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
    rotation_6d_to_matrix,
    rotation_between_vectors,
)

RNG = np.random.default_rng(0)
MATS = Rotation.random(500, random_state=1).as_matrix()  # [500, 3, 3]


def scipy_quat_wxyz(r: Rotation) -> np.ndarray:
    q = np.roll(r.as_quat(), 1, axis=-1)
    return q * np.sign(q[..., :1] + 1e-300)


@pytest.mark.parametrize("order", EULER_ORDERS)
@pytest.mark.parametrize("intrinsic", [True, False])
def test_euler_matches_scipy_and_round_trips(order: str, intrinsic: bool) -> None:
    angles = RNG.uniform(-np.pi, np.pi, (400, 3))
    angles[:, 1] = RNG.uniform(-1.5, 1.5, 400)
    mats = euler_to_matrix(angles, order, intrinsic=intrinsic)
    # scipy: upper-case letters are intrinsic rotations, lower-case extrinsic
    ref = Rotation.from_euler(order if intrinsic else order.lower(), angles).as_matrix()
    np.testing.assert_allclose(mats, ref, atol=1e-12)
    back = matrix_to_euler(mats, order, intrinsic=intrinsic)
    np.testing.assert_allclose(back, angles, atol=1e-9)


@pytest.mark.parametrize("order", EULER_ORDERS)
def test_euler_gimbal_lock_reproduces_matrix(order: str) -> None:
    angles = RNG.uniform(-np.pi, np.pi, (100, 3))
    angles[:, 1] = np.where(RNG.random(100) < 0.5, np.pi / 2, -np.pi / 2)
    mats = euler_to_matrix(angles, order)
    np.testing.assert_allclose(euler_to_matrix(matrix_to_euler(mats, order), order), mats, atol=1e-9)


def test_euler_degrees_and_bad_order() -> None:
    deg = np.array([[30.0, -45.0, 60.0]])
    np.testing.assert_allclose(euler_to_matrix(deg, "ZXY", degrees=True), euler_to_matrix(np.deg2rad(deg), "ZXY"))
    np.testing.assert_allclose(matrix_to_euler(euler_to_matrix(deg, "ZXY", degrees=True), "ZXY", degrees=True), deg)
    with pytest.raises(InputError, match="order"):
        euler_to_matrix(deg, "XXY")


def test_quaternion_matches_scipy_including_half_turns() -> None:
    half_turns = Rotation.from_rotvec(np.pi * np.eye(3)).as_matrix()
    mats = np.concatenate([MATS, half_turns])
    q = matrix_to_quaternion(mats)
    ref = scipy_quat_wxyz(Rotation.from_matrix(mats))
    # q and -q are the same rotation; compare up to sign
    np.testing.assert_allclose(np.abs((q * ref).sum(-1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(q), mats, atol=1e-12)


def test_axis_angle_round_trip_and_scipy() -> None:
    rotvec = Rotation.from_matrix(MATS).as_rotvec()
    np.testing.assert_allclose(axis_angle_to_matrix(rotvec), MATS, atol=1e-12)
    np.testing.assert_allclose(matrix_to_axis_angle(MATS), rotvec, atol=1e-9)
    q = axis_angle_to_quaternion(rotvec)
    np.testing.assert_allclose(quaternion_to_axis_angle(q), rotvec, atol=1e-9)
    tiny = np.array([[1e-9, -2e-9, 3e-10], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(quaternion_to_axis_angle(axis_angle_to_quaternion(tiny)), tiny, atol=1e-15)


def test_6d_round_trip_and_gram_schmidt() -> None:
    six = matrix_to_rotation_6d(MATS)
    assert six.shape == (500, 6)
    np.testing.assert_allclose(rotation_6d_to_matrix(six), MATS, atol=1e-12)
    noisy = six + RNG.normal(scale=0.05, size=six.shape)
    rot = rotation_6d_to_matrix(noisy)
    np.testing.assert_allclose(rot @ np.swapaxes(rot, -1, -2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)


def test_numpy_dtype_and_batch_shapes_are_kept() -> None:
    batch = MATS[:24].reshape(2, 3, 4, 3, 3).astype(np.float32)
    q = matrix_to_quaternion(batch)
    assert q.shape == (2, 3, 4, 4) and q.dtype == np.float32
    t = torch.from_numpy(batch)
    qt = matrix_to_quaternion(t)
    assert isinstance(qt, torch.Tensor) and qt.dtype == torch.float32
    np.testing.assert_allclose(qt.numpy(), q, atol=1e-6)


def test_multiply_matches_matrix_product() -> None:
    q1, q2 = matrix_to_quaternion(MATS[:100]), matrix_to_quaternion(MATS[100:200])
    np.testing.assert_allclose(quaternion_to_matrix(quaternion_multiply(q1, q2)), MATS[:100] @ MATS[100:200], atol=1e-12)


def test_slerp_endpoints_midpoint_and_shorter_arc() -> None:
    q0, q1 = matrix_to_quaternion(MATS[:50]), matrix_to_quaternion(MATS[50:100])
    np.testing.assert_allclose(np.abs((quaternion_slerp(q0, q1, 0.0) * q0).sum(-1)), 1, atol=1e-12)
    np.testing.assert_allclose(np.abs((quaternion_slerp(q0, q1, 1.0) * q1).sum(-1)), 1, atol=1e-12)
    mid = quaternion_slerp(q0, q1, 0.5)
    # the midpoint is equally far (in angle) from both ends
    d0 = np.abs((mid * q0).sum(-1))
    d1 = np.abs((mid * q1).sum(-1))
    np.testing.assert_allclose(d0, d1, atol=1e-12)
    # slerp to -q1 is the same path
    np.testing.assert_allclose(np.abs((quaternion_slerp(q0, -q1, 0.3) * quaternion_slerp(q0, q1, 0.3)).sum(-1)), 1, atol=1e-12)


def test_rotation_between_vectors_including_opposite() -> None:
    a = RNG.normal(size=(200, 3))
    b = RNG.normal(size=(200, 3))
    b[:5] = -a[:5] * 3.0  # exactly opposite
    b[5:8] = a[5:8] * 2.0  # parallel
    r = rotation_between_vectors(a, b)
    got = np.einsum("nij,nj->ni", r, a / np.linalg.norm(a, axis=-1, keepdims=True))
    np.testing.assert_allclose(got, b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(r[5:8], np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-9)


def test_best_fit_rotation_recovers_known_rotation() -> None:
    points = RNG.normal(size=(20, 6, 3))
    rot = MATS[:20]
    moved = np.einsum("nij,nkj->nki", rot, points)
    np.testing.assert_allclose(best_fit_rotation(points, moved), rot, atol=1e-9)


@pytest.mark.parametrize(
    "fn,make",
    [
        (axis_angle_to_matrix, lambda: torch.randn(8, 3, dtype=torch.float64)),
        (matrix_to_axis_angle, lambda: torch.from_numpy(MATS[:8].copy())),
        (matrix_to_quaternion, lambda: torch.from_numpy(MATS[:8].copy())),
        (quaternion_to_matrix, lambda: torch.randn(8, 4, dtype=torch.float64)),
        (rotation_6d_to_matrix, lambda: torch.randn(8, 6, dtype=torch.float64)),
        (lambda x: euler_to_matrix(x, "ZXY"), lambda: torch.rand(8, 3, dtype=torch.float64)),
        (lambda x: matrix_to_euler(x, "ZYX"), lambda: torch.from_numpy(MATS[:8].copy())),
        (axis_angle_to_quaternion, lambda: 1e-8 * torch.randn(8, 3, dtype=torch.float64)),
    ],
)
def test_gradients_are_correct(fn, make) -> None:
    torch.manual_seed(0)
    x = make().requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-10, 10), min_size=3, max_size=3), st.sampled_from(EULER_ORDERS))
def test_property_matrix_euler_matrix(values: list[float], order: str) -> None:
    mat = axis_angle_to_matrix(np.array(values))
    np.testing.assert_allclose(euler_to_matrix(matrix_to_euler(mat, order), order), mat, atol=1e-9)
