"""Text encoders by name: ``load_text_encoder("minilm")``, ``"clip:/path"``, ``"llm2vec:/path"`` or a dict.

The dict form is what artifacts store (``model_index.json``): ``{"type": "minilm"}``,
``{"type": "clip", "path": "...", "normalize": true}``, ``{"type": "llm2vec", "path": "...",
"load_in_8bit": false, ...}``; each encoder's ``spec`` property gives it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from motiongen.errors import InputError, UnknownNameError
from motiongen.text.base import CachedTextEncoder, TextEncoder
from motiongen.text.clip import CLIPTextEncoder
from motiongen.text.llm2vec import LLM2VecEncoder
from motiongen.text.minilm import MiniLMEncoder

DEFAULT_TEXT_ENCODER = "minilm"
#: encoder type -> (class, whether it needs a path, options a dict spec may set)
_TYPES: dict[str, tuple[type, bool, tuple[str, ...]]] = {
    "minilm": (MiniLMEncoder, False, ("device", "batch_size")),
    "clip": (CLIPTextEncoder, True, ("device", "normalize", "batch_size")),
    "llm2vec": (
        LLM2VecEncoder,
        True,
        ("device", "load_in_8bit", "dtype", "instruction", "chat_template", "adapters", "max_length", "batch_size"),
    ),
}
KNOWN_SPECS = ("minilm", "clip:PATH", "llm2vec:PATH")


def load_text_encoder(
    spec: str | Mapping[str, Any] | TextEncoder = DEFAULT_TEXT_ENCODER,
    cache_dir: str | Path | None | Literal[False] = None,
    *,
    device: str | None = None,
    root: str | Path | None = None,
) -> TextEncoder:
    """Build the text encoder ``spec`` names, with the disk embedding cache in front.

    Args:
        spec: ``"minilm"`` (default; also its identifier ``"minilm:all-MiniLM-L6-v2"``),
            ``"clip:/path/to/folder"``, ``"llm2vec:/path/to/folder"``, a dict
            ``{"type": ..., "path": ..., options}``, or an encoder (returned as it is).
        cache_dir: embedding cache folder; None: ``$MOTIONGEN_CACHE/text``; False: no cache.
        device: torch device for the encoder, overriding a ``device`` in the spec.
        root: folder that a relative ``path`` in a dict spec is relative to (the artifact's).

    Raises:
        UnknownNameError: unknown encoder type (the message lists the known ones).
        InputError: malformed spec or option. DataNotFoundError: the model folder is missing or empty.
    """
    if isinstance(spec, TextEncoder) and not isinstance(spec, (str, Mapping)):
        return spec
    kind, options = _parse(spec, root)
    if device is not None:
        options["device"] = device
    cls = _TYPES[kind][0]
    encoder = cls(**options)
    if cache_dir is False:
        return encoder
    return CachedTextEncoder(encoder, cache_dir)


def _unknown(kind: str) -> UnknownNameError:
    return UnknownNameError(f"unknown text encoder {kind!r}; known: {', '.join(KNOWN_SPECS)}")


def _parse(spec: Any, root: str | Path | None) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        text = spec.strip()
        kind, sep, rest = text.partition(":")
        kind = kind.strip().lower()
        if kind not in _TYPES:
            raise _unknown(text)
        needs_path = _TYPES[kind][1]
        if not needs_path:
            if sep and rest.strip() not in ("", MiniLMEncoder.identifier.partition(":")[2]):
                raise _unknown(text)
            return kind, {}
        if not rest.strip():
            raise InputError(
                f"text encoder {kind!r} needs a model folder: use '{kind}:/path/to/folder'", field="text_encoder"
            )
        return kind, {"path": Path(rest.strip()).expanduser()}
    if isinstance(spec, Mapping):
        if "type" not in spec or not isinstance(spec["type"], str):
            raise InputError(
                f"a text encoder spec needs a string 'type' ({', '.join(_TYPES)}), got {dict(spec)!r}", field="type"
            )
        kind = spec["type"].strip().lower()
        if kind not in _TYPES:
            raise _unknown(spec["type"])
        _, needs_path, allowed = _TYPES[kind]
        options: dict[str, Any] = {}
        for key, value in spec.items():
            if key == "type":
                continue
            if key == "path" and needs_path:
                path = Path(str(value)).expanduser()
                if root is not None and not path.is_absolute():
                    path = Path(root) / path
                options["path"] = path
            elif key in allowed:
                options[key] = value
            else:
                known = (["path"] if needs_path else []) + list(allowed)
                raise InputError(
                    f"unknown option for text encoder {kind!r}; allowed: {', '.join(known)}", field=str(key)
                )
        if needs_path and "path" not in options:
            raise InputError(f"text encoder {kind!r} needs a 'path' to its model folder", field="path")
        return kind, options
    raise InputError(
        f"a text encoder spec is a name ({', '.join(KNOWN_SPECS)}) or a dict, got {type(spec).__name__}",
        field="text_encoder",
    )
