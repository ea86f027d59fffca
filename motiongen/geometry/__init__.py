"""Rotation conversions (numpy and torch, batched). See :mod:`motiongen.geometry.rotations`."""

from motiongen.geometry.rotations import (
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

__all__ = [
    "EULER_ORDERS",
    "axis_angle_to_matrix",
    "axis_angle_to_quaternion",
    "best_fit_rotation",
    "euler_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_euler",
    "matrix_to_quaternion",
    "matrix_to_rotation_6d",
    "quaternion_multiply",
    "quaternion_slerp",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "rotation_6d_to_matrix",
    "rotation_between_vectors",
]
