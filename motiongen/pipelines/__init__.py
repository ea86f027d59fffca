"""Pipelines: a trained model bundle plus the sampling loop behind one call.

    from motiongen.pipelines import KIMODOPipeline
    pipe = KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx")
    pipe.text_to_motion("A person walks forward.", num_frames=150, seed=0).save("walk.npz")

Names are imported lazily, so ``import motiongen.pipelines`` (e.g. by the CLI parser) does not
load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The shipped text-to-motion model (``motiongen/assets/models/kimodo-smplx`` in the package).
DEFAULT_MODEL = "motiongen/kimodo-smplx"

_LAZY = {
    "KIMODOBundle": "motiongen.pipelines.bundle",
    "resolve_model": "motiongen.pipelines.bundle",
    "KIMODOPipeline": "motiongen.pipelines.kimodo",
    "resolve_cfg": "motiongen.pipelines.kimodo",
    "MotionOutput": "motiongen.pipelines.output",
    "SMoGPipeline": "motiongen.pipelines.smog",
    "load_pipeline": "motiongen.pipelines.loading",
}

__all__ = [
    "DEFAULT_MODEL",
    "KIMODOBundle",
    "KIMODOPipeline",
    "MotionOutput",
    "SMoGPipeline",
    "load_pipeline",
    "resolve_cfg",
    "resolve_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'motiongen.pipelines' has no attribute {name!r}")
