"""LLM2Vec text embeddings (KIMODO's encoder, reference 6.1) from a local folder.

KIMODO encodes captions with LLM2Vec on Llama-3-8B-Instruct: the decoder runs with **bidirectional**
attention, each caption is prefixed with an (empty) instruction, and the embedding is the mean of
the last hidden states over the caption's tokens only (instruction and padding left out). The
folder must hold a transformers decoder whose LLM2Vec adapters are already merged (e.g. the MNTP
model with the supervised adapter merged and saved), or the base folder plus ``adapters=[...]``
(PEFT folders merged in order at load time; needs the ``peft`` package).

Differences from the ``llm2vec`` package, on purpose:

- Position ids count only real tokens, so a caption's embedding does not depend on how much left
  padding its batch needs (the ``llm2vec`` package numbers pad positions too; KIMODO's text
  service encodes one caption per request, i.e. without padding, which is what this reproduces).
- Long captions are truncated at ``max_length`` tokens rather than shortened word by word.

The Llama-3 chat wrapping (``<|start_header_id|>user<|end_header_id|>\\n\\n ... <|eot_id|>``) is
applied, as ``llm2vec`` does for a local folder, when ``config.json`` records
``_name_or_path == "meta-llama/Meta-Llama-3-8B-Instruct"``; ``chat_template=True/False`` forces it.
Check embeddings against the reference before reusing KIMODO's released weights (reference 6.1).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motiongen.errors import DataNotFoundError, InputError
from motiongen.text.base import cached_model, check_device, encode_nonempty, folder_fingerprint, offline_quiet
from motiongen.text.clip import check_model_folder, read_config

LLAMA3_INSTRUCT = "meta-llama/Meta-Llama-3-8B-Instruct"
CHAT_PREFIX = "<|start_header_id|>user<|end_header_id|>\n\n"
CHAT_SUFFIX = "<|eot_id|>"
#: Decoders whose transformers implementation builds its mask with ``create_causal_mask`` (which
#: turns bidirectional when ``config.is_causal`` is False) - the families LLM2Vec supports.
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "gemma")
POOLING_MODES = ("mean",)

_EXPECTED = (
    "a local folder with a transformers decoder (config.json with model_type in "
    f"{', '.join(SUPPORTED_MODEL_TYPES)}), *.safetensors weights and tokenizer files (tokenizer.json), "
    "e.g. McGill-NLP/LLM2Vec-Meta-Llama-3-8B-Instruct-mntp with its supervised adapter merged"
)


class LLM2VecEncoder:
    """LLM2Vec sentence embeddings: ``encode(texts) -> [N, hidden_size]`` float32 (4096 for Llama-3-8B).

    Args:
        path: the local model folder (see the module docstring).
        device: torch device.
        load_in_8bit: quantise the decoder to 8 bits (needs CUDA and the ``bitsandbytes`` package).
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``; default bfloat16 on CUDA (as KIMODO),
            float32 on CPU.
        instruction: LLM2Vec instruction put before each caption and left out of the pooling
            (KIMODO: empty).
        chat_template: wrap in the Llama-3 chat template; None decides from config.json as above.
        adapters: PEFT adapter folders merged into the decoder in order.
        max_length: token limit; default from ``llm2vec_config.json`` in the folder, else 512.
        batch_size: texts per forward pass.
    """

    def __init__(
        self,
        path: str | Path,
        device: str = "cpu",
        load_in_8bit: bool = False,
        *,
        dtype: str | None = None,
        instruction: str = "",
        chat_template: bool | None = None,
        adapters: Sequence[str | Path] = (),
        max_length: int | None = None,
        batch_size: int = 8,
    ) -> None:
        self.path = check_model_folder(path, "LLM2Vec", _EXPECTED)
        config = read_config(self.path)
        model_type = config.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise InputError(
                f"model_type is {model_type!r}; LLM2Vec supports {', '.join(SUPPORTED_MODEL_TYPES)}",
                path=self.path / "config.json",
                field="model_type",
            )
        if not any((self.path / f).is_file() for f in ("tokenizer.json", "tokenizer.model")):
            raise DataNotFoundError(f"LLM2Vec model folder {self.path} has no tokenizer files; expected {_EXPECTED}")
        if not isinstance(config.get("hidden_size"), int):
            raise InputError(
                "config.json has no integer hidden_size", path=self.path / "config.json", field="hidden_size"
            )
        self.dim = int(config["hidden_size"])

        extra = self._llm2vec_config()
        pooling = extra.get("pooling_mode", "mean")
        if pooling not in POOLING_MODES:
            raise InputError(
                f"pooling_mode {pooling!r} is not supported; allowed: {', '.join(POOLING_MODES)}",
                path=self.path / "llm2vec_config.json",
                field="pooling_mode",
            )
        self.max_length = int(max_length if max_length is not None else extra.get("max_length", 512))
        if self.max_length < 2:
            raise InputError(f"max_length must be >= 2, got {self.max_length}", field="max_length")

        self.device = check_device(device)
        self.load_in_8bit = bool(load_in_8bit)
        if self.load_in_8bit:
            if not self.device.startswith("cuda"):
                raise InputError(
                    f"8-bit loading needs a CUDA device, got device {self.device!r}; use load_in_8bit=False on CPU",
                    field="load_in_8bit",
                )
            if importlib.util.find_spec("bitsandbytes") is None:
                raise InputError(
                    "8-bit loading needs the 'bitsandbytes' package (pip install bitsandbytes)", field="load_in_8bit"
                )
        if dtype is None:
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        if dtype not in ("float32", "bfloat16", "float16"):
            raise InputError(f"dtype {dtype!r} not allowed; use float32, bfloat16 or float16", field="dtype")
        self.dtype = dtype
        self.instruction = str(instruction).strip()
        self.chat_template = (
            config.get("_name_or_path") == LLAMA3_INSTRUCT if chat_template is None else bool(chat_template)
        )
        self.adapters = tuple(check_model_folder_adapter(a) for a in adapters)
        self.batch_size = int(batch_size)

        # Options that change the numbers are part of the identifier; device, dtype and 8-bit are
        # not (they only perturb the last digits), so caches are shared across machines.
        options = [f"inst={self.instruction}", f"chat={self.chat_template}", f"max={self.max_length}"]
        options += [f"adapter={folder_fingerprint(a)}" for a in self.adapters]
        fingerprint = folder_fingerprint(self.path, options)
        self.identifier = f"llm2vec:{self.path.name}@{fingerprint}"
        self._model: Any = None

    @property
    def spec(self) -> dict[str, Any]:
        """What :func:`~motiongen.text.load_text_encoder` takes to build this encoder again."""
        spec: dict[str, Any] = {
            "type": "llm2vec",
            "path": str(self.path),
            "chat_template": self.chat_template,
            "max_length": self.max_length,
        }
        if self.instruction:
            spec["instruction"] = self.instruction
        if self.adapters:
            spec["adapters"] = [str(a) for a in self.adapters]
        return spec

    def _llm2vec_config(self) -> dict[str, Any]:
        path = self.path / "llm2vec_config.json"
        if not path.is_file():
            return {}
        try:
            extra = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the LLM2Vec config: {exc}", path=path) from exc
        if not isinstance(extra, dict):
            raise InputError("the LLM2Vec config must be a JSON object", path=path)
        return extra

    def split_text(self, text: str) -> tuple[str, str]:
        """``(prefix, part)``: the model reads ``prefix + part`` and pools over ``part``'s tokens."""
        prefix = f"{self.instruction} " if self.instruction else ""
        part = text.strip()
        if self.chat_template:
            return CHAT_PREFIX + prefix, part + CHAT_SUFFIX
        return prefix, part

    def _load(self) -> tuple[Any, Any]:
        def load() -> tuple[Any, Any]:
            import torch

            try:
                with offline_quiet():
                    from transformers import AutoConfig, AutoModel, AutoTokenizer

                    tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
                    config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
                    # transformers' create_causal_mask builds a bidirectional mask when the config
                    # says is_causal=False: LLM2Vec's bidirectional Llama without a patched class.
                    config.is_causal = False
                    kwargs: dict[str, Any] = {
                        "config": config,
                        "local_files_only": True,
                        "dtype": getattr(torch, self.dtype),
                    }
                    if self.load_in_8bit:
                        from transformers import BitsAndBytesConfig

                        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
                        kwargs["device_map"] = {"": self.device}
                    model = AutoModel.from_pretrained(str(self.path), **kwargs)
                    model = self._merge_adapters(model)
            except (OSError, ValueError, KeyError) as exc:
                raise InputError(f"cannot load an LLM2Vec model: {exc}; expected {_EXPECTED}", path=self.path) from exc
            # SDPA falls back to the attention module's own is_causal flag when the mask is
            # skipped (no padding), so the flag must go too.
            for module in model.modules():
                if hasattr(module, "is_causal"):
                    module.is_causal = False
            if not self.load_in_8bit:
                model = model.to(self.device)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            return tokenizer, model.eval()

        key = ("llm2vec", str(self.path.resolve()), self.device, self.dtype, self.load_in_8bit, self.adapters)
        return cached_model(key, load)

    def _merge_adapters(self, model: Any) -> Any:
        if not self.adapters:
            return model
        if importlib.util.find_spec("peft") is None:
            raise InputError("LLM2Vec adapters need the 'peft' package (pip install peft)", field="adapters")
        from peft import PeftModel

        for adapter in self.adapters:
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[N, dim]`` float32 (zeros for empty texts) of the sanitised ``texts``."""
        import torch

        def run(batch: list[str]) -> np.ndarray:
            if self._model is None:
                self._model = self._load()
            tokenizer, model = self._model
            out = []
            for start in range(0, len(batch), self.batch_size):
                pieces = [self.split_text(t) for t in batch[start : start + self.batch_size]]
                tokens = tokenizer(
                    [p + q for p, q in pieces],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                valid = tokens["attention_mask"].to(torch.long)
                # the caption's own tokens are the last ones of each (left-padded) row
                n_text = torch.tensor(
                    [len(tokenizer(q, add_special_tokens=False)["input_ids"]) for _, q in pieces], dtype=torch.long
                )
                n_text = torch.minimum(n_text, valid.sum(dim=1)).clamp(min=1)
                length = valid.shape[1]
                pool = (torch.arange(length)[None, :] >= (length - n_text)[:, None]).to(torch.float32)
                positions = (valid.cumsum(dim=1) - 1).clamp(min=0)
                with torch.inference_mode():
                    hidden = model(
                        input_ids=tokens["input_ids"].to(self.device),
                        attention_mask=valid.to(self.device),
                        position_ids=positions.to(self.device),
                    ).last_hidden_state.float()
                pool = pool.to(hidden.device)
                emb = (hidden * pool[..., None]).sum(dim=1) / pool.sum(dim=1, keepdim=True)
                out.append(emb.cpu().numpy())
            return np.concatenate(out, axis=0)

        return encode_nonempty(texts, self.dim, run)

    def __repr__(self) -> str:
        return f"LLM2VecEncoder({str(self.path)!r}, device={self.device!r})"


def check_model_folder_adapter(path: str | Path) -> Path:
    """A PEFT adapter folder (``adapter_config.json`` present), else DataNotFoundError naming it."""
    folder = Path(path).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise DataNotFoundError(
            f"LLM2Vec adapter folder {folder} has no adapter_config.json; expected a PEFT adapter folder"
        )
    return folder
