"""The frozen text-motion evaluator: ``TextMotionEvaluator.from_pretrained("motiongen/evaluator-smplx")``.

Folder layout (``save_pretrained``):

- ``config.json``: :class:`~motiongen.models.evaluator.model.EvaluatorConfig` plus ``format``,
  ``skeleton_name``, ``fps``, ``text_encoder`` and ``info`` (training notes);
- ``model.safetensors``: both encoders' weights plus the feature ``normalization.mean`` / ``.std``;
- ``skeleton.json``: the skeleton whose joint positions the motion encoder reads;
- ``README.md``: the model card.

The files are written and read by :mod:`motiongen.models.frozen` (shared with the style classifier).
``version`` is a short sha256 of the config and every stored tensor: metrics files carry it, so two
figures are comparable only when they name the same version.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from motiongen.models import frozen
from motiongen.models.evaluator.features import positions_to_evaluator_features
from motiongen.models.evaluator.model import EvaluatorConfig, TextMotionModel

# these names stay importable from here, where they lived before frozen.py
from motiongen.models.frozen import (  # noqa: F401
    CARD_FILE,
    CONFIG_FILE,
    MIN_STD,
    SKELETON_FILE,
    WEIGHTS_FILE,
    tensors_digest,
)
from motiongen.skeleton.skeleton import Skeleton

EVALUATOR_FORMAT = "motiongen.evaluator/1"
DEFAULT_EVALUATOR = "motiongen/evaluator-smplx"
#: Shipped evaluators: name -> folder under motiongen/assets/models.
KNOWN_EVALUATORS = {DEFAULT_EVALUATOR: "evaluator-smplx"}
#: ``config.json`` keys that ``version`` covers: those of ``TextMotionEvaluator._config_dict``.
_HASHED_CONFIG_KEYS = ("format", "model", "skeleton_name", "fps", "text_encoder")


def resolve_evaluator(name_or_path: str | os.PathLike[str]) -> Path:
    """The evaluator folder of a known name or a path (see
    :func:`~motiongen.pipelines.bundle.resolve_component` for the errors)."""
    from motiongen.pipelines.bundle import resolve_component

    return resolve_component(
        name_or_path, KNOWN_EVALUATORS, "evaluator", "motiongen train evaluator --config configs/evaluator_smplx.yaml"
    )


class TextMotionEvaluator:
    """Frozen text and motion encoders that put captions and motions in one space (unit vectors).

    Args:
        model: the two encoders (put in eval mode here).
        mean, std: ``[D]`` feature normalisation from the training split.
        skeleton: the rig of the joint positions to score.
        fps: frame rate the features are computed at.
        info: training notes (data, steps, validation figures) kept in ``config.json``.
        text_encoder: the MiniLM encoder giving token embeddings (loaded on first use).
    """

    def __init__(
        self,
        model: TextMotionModel,
        mean: np.ndarray,
        std: np.ndarray,
        skeleton: Skeleton,
        fps: float = 30.0,
        info: Mapping[str, Any] | None = None,
        text_encoder: Any = None,
    ) -> None:
        self.model = frozen.freeze(model)
        self.config: EvaluatorConfig = model.config
        self.mean, self.std = frozen.normalization_arrays(mean, std)
        self.skeleton = skeleton
        self.fps = float(fps)
        self.info = dict(info or {})
        self._text_encoder = text_encoder
        self._version: str | None = None

    # ---------------------------------------------------------------------------------------------
    @property
    def text_encoder(self) -> Any:
        if self._text_encoder is None:
            from motiongen.text.minilm import MiniLMEncoder

            self._text_encoder = MiniLMEncoder()
        return self._text_encoder

    def _state(self) -> dict[str, torch.Tensor]:
        return frozen.normalized_state(self.model, self.mean, self.std)

    def _config_dict(self) -> dict[str, Any]:
        return {
            "format": EVALUATOR_FORMAT,
            "model": self.config.to_dict(),
            "skeleton_name": self.skeleton.name,
            "fps": self.fps,
            "text_encoder": {"type": "minilm", "output": "token_embeddings"},
        }

    @property
    def version(self) -> str:
        """Short hash of config and weights as stored (a loaded evaluator: of its file's tensors)."""
        if self._version is None:
            self._version = frozen.tensors_digest(self._config_dict(), self._state())
        return self._version

    # ---------------------------------------------------------------------------------------------
    def normalize(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.std

    def motion_features(self, positions: np.ndarray) -> np.ndarray:
        """Normalised features ``[T', D]`` of one motion ``[T, J, 3]``, cut to the first ``max_frames`` frames."""
        feats = positions_to_evaluator_features(positions[: self.config.max_frames], self.skeleton, self.fps)
        return self.normalize(feats)

    @torch.inference_mode()
    def encode_motion_features(self, features: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """``[N, latent]`` embeddings of normalised feature arrays ``[T_i, D]``."""
        out = []
        for start in range(0, len(features), batch_size):
            chunk = features[start : start + batch_size]
            t = max(f.shape[0] for f in chunk)
            x = np.zeros((len(chunk), t, self.config.motion_dim), dtype=np.float32)
            valid = np.zeros((len(chunk), t), dtype=bool)
            for i, f in enumerate(chunk):
                x[i, : f.shape[0]], valid[i, : f.shape[0]] = f, True
            out.append(self.model.motion(torch.from_numpy(x), torch.from_numpy(valid)).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.config.latent), dtype=np.float32)

    def encode_motions(self, positions: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """``[N, latent]`` unit embeddings of joint-position arrays ``[T_i, J, 3]`` (metres, Y up, floor y = 0).

        Motions longer than ``config.max_frames`` are read from their first ``max_frames`` frames.
        """
        return self.encode_motion_features([self.motion_features(p) for p in positions], batch_size)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """``[N, latent]`` unit embeddings of captions."""
        out = []
        for start in range(0, len(texts), batch_size):
            tokens, valid = self.text_encoder.encode_tokens(texts[start : start + batch_size], self.config.max_text_tokens)
            out.append(self.model.text(torch.from_numpy(tokens), torch.from_numpy(valid)).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.config.latent), dtype=np.float32)

    # ---------------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, *, weights_dtype: str = "float16", card: str | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors``, ``skeleton.json`` (and ``README.md``) to ``folder``."""
        frozen.write_frozen_model(
            folder, self._config_dict(), self._state(), self.skeleton, info=self.info, weights_dtype=weights_dtype,
            card=card,
        )
        return Path(folder)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str] = DEFAULT_EVALUATOR) -> "TextMotionEvaluator":
        """Load a shipped evaluator by name or one saved with :meth:`save_pretrained`."""
        files = frozen.read_frozen_model(
            resolve_evaluator(name_or_path), EVALUATOR_FORMAT, "evaluator", _HASHED_CONFIG_KEYS
        )
        model = TextMotionModel(EvaluatorConfig.from_dict(files.config["model"]))
        model.load_state_dict(files.weights)
        evaluator = cls(model, files.mean, files.std, files.skeleton, files.config.get("fps", 30.0), files.config.get("info"))
        evaluator._version = files.version
        evaluator.info["path"] = str(files.folder)
        return evaluator
