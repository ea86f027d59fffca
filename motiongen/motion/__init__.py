"""Motion container and feature representations."""

from motiongen.motion.motion import Motion

__all__ = ["Motion"]
