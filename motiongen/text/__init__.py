"""Text encoders for text-conditioned generation, and their disk embedding cache.

``load_text_encoder("minilm")`` (the default, offline, 384-d), ``"clip:/path"`` or
``"llm2vec:/path"`` returns an encoder with ``encode(texts) -> [N, dim]`` float32, cached on disk
under ``$MOTIONGEN_CACHE/text``. Models load on first use; importing this package is cheap.
"""

from motiongen.text.base import (
    CachedTextEncoder,
    EmbeddingCache,
    TextEncoder,
    default_text_cache_dir,
    sanitize_text,
    text_key,
)
from motiongen.text.clip import CLIPTextEncoder
from motiongen.text.llm2vec import LLM2VecEncoder
from motiongen.text.minilm import MiniLMEncoder, minilm_model_path
from motiongen.text.registry import DEFAULT_TEXT_ENCODER, load_text_encoder

__all__ = [
    "TextEncoder",
    "sanitize_text",
    "text_key",
    "EmbeddingCache",
    "CachedTextEncoder",
    "default_text_cache_dir",
    "MiniLMEncoder",
    "minilm_model_path",
    "CLIPTextEncoder",
    "LLM2VecEncoder",
    "DEFAULT_TEXT_ENCODER",
    "load_text_encoder",
]
