"""SMoG: a MotionCLIP-style motion autoencoder whose chosen linear layers are KAN layers (reference smog.md)."""

from motiongen.models.smog.kan import (
    BASE_ACTIVATIONS,
    KAN,
    KANConfig,
    KANLinear,
    kan_linear_parameter_count,
    uniform_knot_grid,
)

__all__ = ["BASE_ACTIVATIONS", "KAN", "KANConfig", "KANLinear", "kan_linear_parameter_count", "uniform_knot_grid"]
