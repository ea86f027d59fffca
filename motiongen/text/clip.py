"""CLIP text embeddings from a local folder (e.g. a saved ``openai/clip-vit-base-patch32``).

The folder is checked when the encoder is built (cheap: file names and ``config.json``); the model
loads on the first :meth:`CLIPTextEncoder.encode`. The embedding is CLIP's projected, pooled text
embedding (``text_embeds``, ``[N, projection_dim]``), L2-normalised unless ``normalize=False``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motiongen.errors import DataNotFoundError, InputError
from motiongen.text.base import cached_model, check_device, encode_nonempty, folder_fingerprint, offline_quiet

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


def check_model_folder(path: str | Path, kind: str, expected: str) -> Path:
    """``path`` as a folder holding ``config.json`` and weights, else DataNotFoundError saying what is expected."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataNotFoundError(f"{kind} model folder not found: {folder}; expected {expected}")
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json")
    if not any(any(folder.glob(p)) for p in WEIGHT_PATTERNS):
        missing.append("weights (*.safetensors or pytorch_model.bin)")
    if missing:
        raise DataNotFoundError(f"{kind} model folder {folder} lacks {' and '.join(missing)}; expected {expected}")
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    """``folder/config.json`` as a dict; InputError naming the file when it is not a JSON object."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the model config: {exc}", path=path) from exc
    if not isinstance(config, dict):
        raise InputError("the model config must be a JSON object", path=path)
    return config


_CLIP_EXPECTED = (
    "a local CLIP folder with config.json (model_type 'clip' or 'clip_text_model'), model.safetensors "
    "and tokenizer files (vocab.json + merges.txt or tokenizer.json), e.g. a saved openai/clip-vit-base-patch32"
)


class CLIPTextEncoder:
    """CLIP text tower (``CLIPTextModelWithProjection`` + ``CLIPTokenizer``) from ``path``.

    Args:
        path: the local model folder.
        device: torch device.
        normalize: L2-normalise the embeddings (CLIP compares them by cosine).
        batch_size: texts per forward pass.
    """

    def __init__(self, path: str | Path, device: str = "cpu", normalize: bool = True, batch_size: int = 64) -> None:
        self.path = check_model_folder(path, "CLIP", _CLIP_EXPECTED)
        config = read_config(self.path)
        model_type = config.get("model_type")
        if model_type == "clip":
            text_config = config.get("text_config") or {}
            dim = text_config.get("projection_dim", config.get("projection_dim", 512))
        elif model_type == "clip_text_model":
            dim = config.get("projection_dim", 512)
        else:
            raise InputError(
                f"model_type is {model_type!r}, expected 'clip' or 'clip_text_model' for a CLIP text encoder",
                path=self.path / "config.json",
                field="model_type",
            )
        if not any((self.path / f).is_file() for f in ("tokenizer.json", "vocab.json")):
            raise DataNotFoundError(f"CLIP model folder {self.path} has no tokenizer files; expected {_CLIP_EXPECTED}")
        self.dim = int(dim)
        self.device = check_device(device)
        self.normalize = bool(normalize)
        self.batch_size = int(batch_size)
        options = [] if self.normalize else ["raw"]
        fingerprint = folder_fingerprint(self.path, options)
        self.identifier = f"clip:{self.path.name}@{fingerprint}" + ("" if self.normalize else ":raw")
        self._model: Any = None

    @property
    def spec(self) -> dict[str, Any]:
        """What :func:`~motiongen.text.load_text_encoder` takes to build this encoder again."""
        spec: dict[str, Any] = {"type": "clip", "path": str(self.path)}
        if not self.normalize:
            spec["normalize"] = False
        return spec

    def _load(self) -> tuple[Any, Any]:
        def load() -> tuple[Any, Any]:
            try:
                with offline_quiet():
                    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

                    tokenizer = CLIPTokenizer.from_pretrained(str(self.path), local_files_only=True)
                    model = CLIPTextModelWithProjection.from_pretrained(str(self.path), local_files_only=True)
            except (OSError, ValueError, KeyError) as exc:
                raise InputError(
                    f"cannot load a CLIP text model: {exc}; expected {_CLIP_EXPECTED}", path=self.path
                ) from exc
            return tokenizer, model.to(self.device).eval()

        return cached_model(("clip", str(self.path.resolve()), self.device), load)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, dim]`` float32 (zeros for empty texts) of the sanitised ``texts``."""
        import torch

        def run(batch: list[str]) -> np.ndarray:
            if self._model is None:
                self._model = self._load()
            tokenizer, model = self._model
            max_length = int(getattr(model.config, "max_position_embeddings", 77))
            out = []
            for start in range(0, len(batch), self.batch_size):
                tokens = tokenizer(
                    batch[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                ).to(self.device)
                with torch.inference_mode():
                    emb = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).text_embeds
                emb = emb.float()
                if self.normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
                out.append(emb.cpu().numpy())
            return np.concatenate(out, axis=0)

        return encode_nonempty(texts, self.dim, run)

    def __repr__(self) -> str:
        return f"CLIPTextEncoder({str(self.path)!r}, device={self.device!r})"
