"""Load whichever pipeline a model folder holds: ``load_pipeline("motiongen/smog-smplx")``."""

from __future__ import annotations

import os
from typing import Any

import torch

from motiongen.pipelines import DEFAULT_MODEL
from motiongen.pipelines.bundle import resolve_model


def load_pipeline(name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, *, device: str | torch.device = "cpu",
                  **options: Any) -> Any:
    """A :class:`~motiongen.pipelines.smog.SMoGPipeline` for a SMoG folder, else a
    :class:`~motiongen.pipelines.kimodo.KIMODOPipeline` (``options`` go to ``from_pretrained``)."""
    from motiongen.pipelines.kimodo import KIMODOPipeline
    from motiongen.pipelines.smog import SMoGPipeline, is_smog_folder

    root = resolve_model(name_or_path)
    if is_smog_folder(root):
        return SMoGPipeline.from_pretrained(root, device=device, **options)
    return KIMODOPipeline.from_pretrained(root, device=device, **options)
