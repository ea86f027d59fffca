"""SMoG: a MotionCLIP-style motion autoencoder whose chosen linear layers are KAN layers (reference smog.md)."""

from motiongen.models.smog.kan import (
    BASE_ACTIVATIONS,
    KAN,
    KANConfig,
    KANLinear,
    kan_linear_parameter_count,
    uniform_knot_grid,
)
from motiongen.models.smog.model import (
    MOTION_135_DIM,
    SMoGAutoencoder,
    SMoGConfig,
    matched_io_hidden,
    text_alignment_loss,
)

__all__ = [
    "BASE_ACTIVATIONS",
    "KAN",
    "KANConfig",
    "KANLinear",
    "MOTION_135_DIM",
    "SMoGAutoencoder",
    "SMoGConfig",
    "kan_linear_parameter_count",
    "matched_io_hidden",
    "text_alignment_loss",
    "uniform_knot_grid",
]
