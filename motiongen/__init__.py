"""motiongen: controllable human and humanoid motion generation.

``from motiongen import KIMODOPipeline, SMoGPipeline, KIMODOBundle, Motion`` (loaded on first use, so importing
``motiongen`` stays cheap).
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "KIMODOPipeline": "motiongen.pipelines.kimodo",
    "KIMODOBundle": "motiongen.pipelines.bundle",
    "SMoGPipeline": "motiongen.pipelines.smog",
    "load_pipeline": "motiongen.pipelines.loading",
    "MotionOutput": "motiongen.pipelines.output",
    "Motion": "motiongen.motion.motion",
    "Skeleton": "motiongen.skeleton.skeleton",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'motiongen' has no attribute {name!r}")
