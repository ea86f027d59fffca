"""The frozen text-motion evaluator: ``TextMotionEvaluator.from_pretrained("motiongen/evaluator-smplx")``.

Folder layout (``save_pretrained``):

- ``config.json``: :class:`~motiongen.models.evaluator.model.EvaluatorConfig` plus ``format``,
  ``skeleton_name``, ``fps``, ``text_encoder`` and ``info`` (training notes);
- ``model.safetensors``: both encoders' weights plus the feature ``normalization.mean`` / ``.std``;
- ``skeleton.json``: the skeleton whose joint positions the motion encoder reads;
- ``README.md``: the model card.

``version`` is a short sha256 of the config and every stored tensor: metrics files carry it, so two
figures are comparable only when they name the same version.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from motiongen.errors import InputError
from motiongen.io.atomic import atomic_write, atomic_write_text
from motiongen.models.evaluator.features import positions_to_evaluator_features
from motiongen.models.evaluator.model import EvaluatorConfig, TextMotionModel
from motiongen.skeleton.skeleton import Skeleton

EVALUATOR_FORMAT = "motiongen.evaluator/1"
DEFAULT_EVALUATOR = "motiongen/evaluator-smplx"
#: Shipped evaluators: name -> folder under motiongen/assets/models.
KNOWN_EVALUATORS = {DEFAULT_EVALUATOR: "evaluator-smplx"}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SKELETON_FILE = "skeleton.json"
CARD_FILE = "README.md"
_MEAN_KEY, _STD_KEY = "normalization.mean", "normalization.std"
#: Lower bound of a feature's standard deviation: near-constant features must not explode.
MIN_STD = 1e-2


def resolve_evaluator(name_or_path: str | os.PathLike[str]) -> Path:
    """The evaluator folder of a known name or a path (see
    :func:`~motiongen.pipelines.bundle.resolve_component` for the errors)."""
    from motiongen.pipelines.bundle import resolve_component

    return resolve_component(
        name_or_path, KNOWN_EVALUATORS, "evaluator", "motiongen train evaluator --config configs/evaluator_smplx.yaml"
    )


def tensors_digest(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> str:
    """First 16 hex digits of sha256 over the config JSON and every tensor (name, dtype, bytes)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


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
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.config: EvaluatorConfig = model.config
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.maximum(np.asarray(std, dtype=np.float32), MIN_STD)
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
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        state[_MEAN_KEY] = torch.from_numpy(self.mean.copy())
        state[_STD_KEY] = torch.from_numpy(self.std.copy())
        return state

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
            self._version = tensors_digest(self._config_dict(), self._state())
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
        from safetensors.torch import save

        if weights_dtype not in ("float16", "float32"):
            raise InputError(f"weights_dtype must be float16 or float32, got '{weights_dtype}'", field="weights_dtype")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dtype = torch.float16 if weights_dtype == "float16" else torch.float32
        state = {k: (v.to(dtype) if v.is_floating_point() and not k.startswith("normalization.") else v).contiguous()
                 for k, v in self._state().items()}
        data = save(state)
        atomic_write(folder / WEIGHTS_FILE, lambda f: f.write(data))
        config = {**self._config_dict(), "weights_dtype": weights_dtype, "info": self.info}
        config["version"] = tensors_digest(self._config_dict(), state)
        atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=1) + "\n")
        atomic_write_text(folder / SKELETON_FILE, self.skeleton.to_json())
        if card is not None:
            atomic_write_text(folder / CARD_FILE, card)
        return folder

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str] = DEFAULT_EVALUATOR) -> "TextMotionEvaluator":
        """Load a shipped evaluator by name or one saved with :meth:`save_pretrained`."""
        from safetensors.torch import load_file

        folder = resolve_evaluator(name_or_path)
        try:
            config = json.loads((folder / CONFIG_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg})", path=folder / CONFIG_FILE) from None
        if config.get("format") != EVALUATOR_FORMAT:
            raise InputError(f"not a motiongen evaluator (format {EVALUATOR_FORMAT})", path=folder / CONFIG_FILE)
        state = load_file(str(folder / WEIGHTS_FILE))
        stored = {k: config[k] for k in ("format", "model", "skeleton_name", "fps", "text_encoder") if k in config}
        version = tensors_digest(stored, state)
        if config.get("version") not in (None, version):
            raise InputError(
                f"weights do not match the version recorded in {CONFIG_FILE} ({config['version']} != {version})",
                path=folder / WEIGHTS_FILE,
            )
        model = TextMotionModel(EvaluatorConfig.from_dict(config["model"]))
        mean, std = state.pop(_MEAN_KEY).numpy(), state.pop(_STD_KEY).numpy()
        model.load_state_dict({k: v.float() for k, v in state.items()})
        skeleton = Skeleton.from_dict(json.loads((folder / SKELETON_FILE).read_text()))
        evaluator = cls(model, mean, std, skeleton, config.get("fps", 30.0), config.get("info"))
        evaluator._version = version
        evaluator.info["path"] = str(folder)
        return evaluator

