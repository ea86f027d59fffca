"""motiongen: controllable human and humanoid motion generation."""

__version__ = "0.1.0"
