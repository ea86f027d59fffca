"""KIMODO text-to-motion model: configs, the two-stage denoiser, the cosine schedule, CFG and the DDIM loop."""

from motiongen.models.kimodo.config import MAX_POSITIONS, DiffusionConfig, KimodoDenoiserConfig
from motiongen.models.kimodo.denoiser import TransformerStage, TwoStageDenoiser, sinusoidal_table
from motiongen.models.kimodo.diffusion import CosineSchedule
from motiongen.models.kimodo.guidance import CFG_TYPES, cfg_weights_for, guided_x0
from motiongen.models.kimodo.sampler import ddim_sample

__all__ = [
    "CFG_TYPES",
    "MAX_POSITIONS",
    "CosineSchedule",
    "DiffusionConfig",
    "KimodoDenoiserConfig",
    "TransformerStage",
    "TwoStageDenoiser",
    "cfg_weights_for",
    "ddim_sample",
    "guided_x0",
    "sinusoidal_table",
]
