"""Training: KIMODO's denoiser (:func:`train_kimodo`), its config, feature cache and window sampler.

``python -m motiongen.train.kimodo --config configs/kimodo_smplx.yaml`` (or ``torchrun
--nproc_per_node=N -m motiongen.train.kimodo ...``) trains; :func:`export_bundle` turns a checkpoint
into a model folder that :class:`motiongen.pipelines.bundle.KIMODOBundle` loads.
"""

from __future__ import annotations

import os
import sys

if "torch" not in sys.modules:
    # OpenMP worker threads spin while waiting for work by default; on a busy 2-core machine the
    # spinning steals the cores the other thread needs (a training step measured 2-4x slower with
    # 2 threads than with passive waiting). Only effective before torch loads; a user setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "KimodoTrainConfig": "motiongen.train.config",
    "load_train_config": "motiongen.train.config",
    "FeatureCache": "motiongen.train.features",
    "FeatureSplit": "motiongen.train.features",
    "WindowBatch": "motiongen.train.features",
    "WindowSampler": "motiongen.train.features",
    "build_feature_cache": "motiongen.train.features",
    "load_feature_cache": "motiongen.train.features",
    "train_kimodo": "motiongen.train.kimodo",
    "export_bundle": "motiongen.train.kimodo",
    "latest_checkpoint": "motiongen.train.kimodo",
    "load_checkpoint": "motiongen.train.kimodo",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> object:
    # lazy: `python -m motiongen.train.kimodo` must not find the module imported by its package
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'motiongen.train' has no attribute {name!r}")
