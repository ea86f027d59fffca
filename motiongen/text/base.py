"""What every text encoder shares: the protocol, caption sanitising, and the disk embedding cache.

A text encoder turns captions into one pooled vector each: ``encode(texts) -> [N, dim]`` float32.
The empty caption encodes to zeros, which is what KIMODO feeds as "no text" (classifier-free
guidance and text dropout), so an encoder never runs its network on it.

Captions go through :func:`sanitize_text` before they are encoded or looked up, so "walks forward"
and " Walks forward. " share one cache entry and one embedding.

:class:`EmbeddingCache` keeps one ``.npy`` per (encoder identifier, sha256 of the sanitised text) in a
sharded folder; files appear by atomic rename, so processes may fill it at the same time.
:class:`CachedTextEncoder` wraps any encoder with it and batch-encodes only the captions it lacks.

Nothing here imports torch or transformers: the heavy libraries load on an encoder's first
``encode``, not on ``import motiongen.text``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from motiongen.data.archives import default_cache_dir
from motiongen.errors import InputError

__all__ = [
    "TextEncoder",
    "sanitize_text",
    "EmbeddingCache",
    "CachedTextEncoder",
    "default_text_cache_dir",
    "text_key",
]


@runtime_checkable
class TextEncoder(Protocol):
    """A caption encoder: ``encode(texts) -> np.ndarray [N, dim]`` float32, one pooled vector per text.

    ``identifier`` is a stable string naming the model and every option that changes its output
    (e.g. ``"minilm:all-MiniLM-L6-v2"``); caches and artifacts key on it. An empty text (after
    :func:`sanitize_text`) encodes to zeros.
    """

    identifier: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - protocol
        ...


# --- sanitising ----------------------------------------------------------------------------------

_KEEP_AT_END = set(".!?\")]'")
_SENTENCE_START = re.compile(r"([.!?]\s+)(\w)")


def sanitize_text(text: str, *, lower: bool = False) -> str:
    """Normalise a caption as KIMODO does before encoding and cache look-up (reference 6.3).

    Whitespace is stripped and collapsed, leading non-alphanumeric characters dropped, the first
    letter upper-cased, trailing non-alphanumerics dropped except ``.!?")]'``, a ``.`` appended when
    the text does not end in ``.!?``, and each sentence's first letter upper-cased. Text with
    nothing alphanumeric becomes ``""`` (the unconditional caption).

    KIMODO uses ``str.capitalize``, which also lower-cases everything after the first character;
    that loses case a cased encoder (CLIP, Llama) can use, so it happens only with ``lower=True``.
    The result is a fixed point: ``sanitize_text(sanitize_text(t)) == sanitize_text(t)``.
    """
    if not isinstance(text, str):
        raise InputError(f"a caption must be a string, got {type(text).__name__}", field="text")
    s = " ".join(text.split())
    start = 0
    while start < len(s) and not s[start].isalnum():
        start += 1
    s = s[start:]
    if not s:
        return ""
    s = s.capitalize() if lower else s[0].upper() + s[1:]
    end = len(s)
    while end > 0 and not (s[end - 1].isalnum() or s[end - 1] in _KEEP_AT_END):
        end -= 1
    s = s[:end]
    if s[-1] not in ".!?":
        s += "."
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), s)


def text_key(text: str) -> str:
    """sha256 hex digest of ``text`` (UTF-8): the cache key of an already sanitised caption."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_text_cache_dir() -> Path:
    """``$MOTIONGEN_CACHE/text`` (``~/.cache/motiongen/text`` when unset)."""
    return default_cache_dir() / "text"


# --- disk cache ----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EmbeddingCache:
    """Embeddings on disk, one ``.npy`` per (encoder identifier, text).

    Layout: ``folder/<encoder>/<k[:2]>/<k>.npy`` with ``k = sha256(text)`` and ``<encoder>`` the
    identifier made file-name safe plus a short hash of it (two identifiers never share a folder).
    ``folder/<encoder>/IDENTIFIER`` holds the full identifier for people browsing the cache.

    Each file is written to a temporary name in its final folder and renamed into place
    (``os.replace`` is atomic on POSIX and Windows), so a reader sees either no file or a complete
    one, and two processes writing the same entry at once leave one of their two complete files.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def encoder_dir(self, identifier: str) -> Path:
        """The folder holding ``identifier``'s entries."""
        if not identifier:
            raise InputError("encoder identifier must not be empty", field="identifier")
        safe = _UNSAFE.sub("_", identifier).strip("._")[:80]
        return self.folder / f"{safe}-{text_key(identifier)[:8]}"

    def path(self, identifier: str, text: str) -> Path:
        """File of the entry for ``text`` (not necessarily present)."""
        key = text_key(text)
        return self.encoder_dir(identifier) / key[:2] / f"{key}.npy"

    def get(self, identifier: str, text: str, dim: int | None = None) -> np.ndarray | None:
        """The stored vector ``[dim]`` float32, or None when absent or unreadable.

        A file that does not load as a 1-D float32 array (of length ``dim`` when given) counts as
        absent, so the caller re-encodes and overwrites it.
        """
        try:
            vec = np.load(self.path(identifier, text), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vec.dtype != np.float32 or vec.ndim != 1 or (dim is not None and vec.shape[0] != dim):
            return None
        return vec

    def get_many(self, identifier: str, texts: Sequence[str], dim: int | None = None) -> list[np.ndarray | None]:
        """:meth:`get` for each text, in order."""
        return [self.get(identifier, t, dim) for t in texts]

    def put(self, identifier: str, text: str, vector: np.ndarray) -> Path:
        """Store ``vector`` (``[dim]``) for ``text`` atomically; returns the file written."""
        vec = np.ascontiguousarray(vector, dtype=np.float32)
        if vec.ndim != 1:
            raise InputError(f"an embedding must be 1-D [dim], got shape {tuple(vec.shape)}", field="vector")
        target = self.path(identifier, text)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._note_identifier(target.parent.parent, identifier)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, vec, allow_pickle=False)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return target

    def put_many(self, identifier: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """:meth:`put` row ``i`` of ``vectors`` ``[N, dim]`` for ``texts[i]``."""
        if len(texts) != len(vectors):
            raise InputError(f"{len(texts)} texts but {len(vectors)} vectors", field="vectors")
        for text, vec in zip(texts, vectors):
            self.put(identifier, text, vec)

    @staticmethod
    def _note_identifier(folder: Path, identifier: str) -> None:
        note = folder / "IDENTIFIER"
        if note.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(identifier + "\n")
        os.replace(tmp, note)


class CachedTextEncoder:
    """Any :class:`TextEncoder` with an :class:`EmbeddingCache` in front.

    ``encode`` sanitises the texts, reads what the cache has, encodes the missing unique captions
    in one call to the wrapped encoder (which therefore never loads its model when everything is
    cached), stores them and assembles ``[N, dim]`` float32. Empty captions are zeros and never
    touch the cache. If the cache folder cannot be written (read-only home, full disk), encoding
    still works: a warning is issued once and the cache is only read.

    Args:
        encoder: the encoder to wrap.
        cache_dir: cache folder; default :func:`default_text_cache_dir`.
    """

    def __init__(self, encoder: TextEncoder, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.cache = EmbeddingCache(cache_dir if cache_dir is not None else default_text_cache_dir())
        self._write_failed = False

    @property
    def identifier(self) -> str:
        return self.encoder.identifier

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def spec(self) -> dict[str, Any] | None:
        """The wrapped encoder's ``spec`` (what :func:`~motiongen.text.load_text_encoder` takes)."""
        return getattr(self.encoder, "spec", None)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, dim]`` float32 embeddings of ``texts`` (see the class docstring)."""
        clean = sanitize_all(texts)
        out = np.zeros((len(clean), self.dim), dtype=np.float32)
        unique = list(dict.fromkeys(t for t in clean if t))
        found: dict[str, np.ndarray] = {}
        missing = []
        for text in unique:
            vec = self.cache.get(self.identifier, text, self.dim)
            if vec is None:
                missing.append(text)
            else:
                found[text] = vec
        if missing:
            # one caption per call: padded batches change the float summation order (~1e-7), and an
            # embedding that depended on its batch-mates would make cached results depend on history
            vecs = np.concatenate([np.asarray(self.encoder.encode([text]), dtype=np.float32) for text in missing])
            if vecs.shape != (len(missing), self.dim):
                raise RuntimeError(
                    f"encoder {self.identifier} returned shape {vecs.shape}, expected {(len(missing), self.dim)}"
                )
            found.update(zip(missing, vecs))
            self._store(missing, vecs)
        for i, text in enumerate(clean):
            if text:
                out[i] = found[text]
        return out

    def _store(self, texts: Sequence[str], vecs: np.ndarray) -> None:
        if self._write_failed:
            return
        try:
            self.cache.put_many(self.identifier, texts, vecs)
        except OSError as exc:
            self._write_failed = True
            warnings.warn(
                f"text embedding cache {self.cache.folder} is not writable ({exc}); not caching", stacklevel=3
            )

    def __repr__(self) -> str:
        return f"CachedTextEncoder({self.encoder!r}, cache_dir={str(self.cache.folder)!r})"


# --- helpers for the concrete encoders -------------------------------------------------------------


def sanitize_all(texts: Sequence[str]) -> list[str]:
    """:func:`sanitize_text` of each text; a lone string is refused (it would encode per character)."""
    if isinstance(texts, str):
        raise InputError("encode() takes a list of captions, got a single string; wrap it in a list", field="texts")
    return [sanitize_text(t) for t in texts]


def encode_nonempty(texts: Sequence[str], dim: int, run: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Sanitise ``texts``, run ``run`` on the non-empty ones only, put zeros for the empty ones."""
    clean = sanitize_all(texts)
    out = np.zeros((len(clean), dim), dtype=np.float32)
    idx = [i for i, t in enumerate(clean) if t]
    if idx:
        out[idx] = np.asarray(run([clean[i] for i in idx]), dtype=np.float32)
    return out


_MODELS: dict[tuple, Any] = {}
_MODELS_LOCK = threading.Lock()


def cached_model(key: tuple, load: Callable[[], Any]) -> Any:
    """The model ``load()`` returns, loaded once per process per ``key`` (loading takes seconds)."""
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


@contextlib.contextmanager
def offline_quiet() -> Iterator[None]:
    """While loading local weights: no network look-ups, no progress bars, only errors logged.

    ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` make a wrong folder fail at once instead of trying
    the Hub (which hangs on machines without network). huggingface_hub reads them once, at import,
    so the libraries are imported first (their state follows the user's environment) and the
    offline flag is also set on huggingface_hub for the duration; everything is restored after.
    """
    restore: list[Callable[[], None]] = []
    try:
        from huggingface_hub import constants as hub_constants
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover - both come with sentence-transformers
        hub_constants = tlog = None
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {name: os.environ.get(name) for name in names}
    try:
        os.environ.update({name: "1" for name in names})
        if hub_constants is not None:
            offline = hub_constants.HF_HUB_OFFLINE
            hub_constants.HF_HUB_OFFLINE = True
            restore.append(lambda: setattr(hub_constants, "HF_HUB_OFFLINE", offline))
        if tlog is not None:
            if tlog.is_progress_bar_enabled():
                tlog.disable_progress_bar()
                restore.append(tlog.enable_progress_bar)
            verbosity = tlog.get_verbosity()
            tlog.set_verbosity_error()
            restore.append(lambda: tlog.set_verbosity(verbosity))
        yield
    finally:
        for undo in reversed(restore):
            undo()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def folder_fingerprint(folder: Path, extra: Sequence[str] = ()) -> str:
    """A short hash naming the model in ``folder`` without reading gigabytes of weights.

    Covers every ``*.json``/``*.txt``/``*.model`` file in full (configs, tokenizer) and, for each
    weight file, its name, size and first and last MiB; ``extra`` strings (options) are mixed in.
    """
    h = hashlib.sha256()
    for item in extra:
        h.update(item.encode("utf-8") + b"\0")
    chunk = 1 << 20
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(q.startswith(".") for q in p.relative_to(folder).parts)
    )
    for path in files:
        rel = path.relative_to(folder).as_posix()
        h.update(rel.encode("utf-8") + b"\0")
        if path.suffix in (".json", ".txt", ".model"):
            h.update(path.read_bytes())
        elif path.suffix in (".safetensors", ".bin", ".pt", ".pth"):
            size = path.stat().st_size
            h.update(str(size).encode())
            with path.open("rb") as fh:
                h.update(fh.read(chunk))
                if size > chunk:
                    fh.seek(max(chunk, size - chunk))
                    h.update(fh.read(chunk))
    return h.hexdigest()[:12]


def check_device(device: Any) -> str:
    """``device`` as a torch device string; InputError when malformed or not present here."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"not a torch device: {device!r} (use 'cpu', 'cuda' or 'cuda:N')", field="device") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for but CUDA is not available here; use 'cpu'", field="device")
    return str(dev)
