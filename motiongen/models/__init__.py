"""Generative motion models (model, scheduler and sampling loop kept separate, diffusers-style)."""

from motiongen.models.kimodo import (
    CosineSchedule,
    DiffusionConfig,
    KimodoDenoiserConfig,
    TwoStageDenoiser,
    ddim_sample,
    guided_x0,
)

__all__ = ["CosineSchedule", "DiffusionConfig", "KimodoDenoiserConfig", "TwoStageDenoiser", "ddim_sample", "guided_x0"]
