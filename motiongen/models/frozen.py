"""Files of a frozen model (the text-motion evaluator, the style classifier): one layout, one version.

A frozen model folder holds:

- ``config.json``: the model's config dict (``format``, ``model``, ``skeleton_name``, ``fps``, ...)
  followed by ``weights_dtype``, ``info`` (training notes) and ``version``;
- ``model.safetensors``: the network's weights (float16 or float32) plus the feature normalisation
  ``normalization.mean`` / ``.std`` ``[D]`` (always float32);
- ``skeleton.json``: the skeleton whose joint positions the model reads;
- ``README.md``: the model card (optional).

``version`` is :func:`tensors_digest` of the config dict and the tensors *as stored*, so a loaded model
reports the version of its file and metrics files can name exactly which weights produced them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from motiongen.errors import InputError
from motiongen.io.atomic import atomic_write, atomic_write_text
from motiongen.skeleton.skeleton import Skeleton

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SKELETON_FILE = "skeleton.json"
CARD_FILE = "README.md"
MEAN_KEY, STD_KEY = "normalization.mean", "normalization.std"
#: Lower bound of a feature's standard deviation: near-constant features must not explode.
MIN_STD = 1e-2
#: ``weights_dtype`` names accepted by :func:`write_frozen_model`.
WEIGHTS_DTYPES: dict[str, torch.dtype] = {"float16": torch.float16, "float32": torch.float32}

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def tensors_digest(config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> str:
    """First 16 hex digits of sha256 over the config JSON and every tensor (name, dtype, bytes)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def freeze(model: ModuleT) -> ModuleT:
    """``model`` in eval mode with every parameter's gradient off (in place; returned for chaining)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def normalization_arrays(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mean`` and ``std`` ``[D]`` as float32, the std floored at :data:`MIN_STD`."""
    return np.asarray(mean, dtype=np.float32), np.maximum(np.asarray(std, dtype=np.float32), MIN_STD)


def normalized_state(model: nn.Module, mean: np.ndarray, std: np.ndarray) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU plus ``normalization.mean`` / ``.std`` ``[D]``: what is hashed
    into ``version`` and (cast by :func:`stored_state`) written to ``model.safetensors``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state[MEAN_KEY] = torch.from_numpy(np.array(mean, copy=True))
    state[STD_KEY] = torch.from_numpy(np.array(std, copy=True))
    return state


def stored_state(state: Mapping[str, torch.Tensor], weights_dtype: str) -> dict[str, torch.Tensor]:
    """``state`` as written to ``model.safetensors``: floating weights cast to ``weights_dtype``.

    Raises:
        InputError: ``weights_dtype`` is neither ``"float16"`` nor ``"float32"`` (field ``weights_dtype``).
    """
    if weights_dtype not in WEIGHTS_DTYPES:
        raise InputError(f"weights_dtype must be float16 or float32, got '{weights_dtype}'", field="weights_dtype")
    dtype = WEIGHTS_DTYPES[weights_dtype]
    # the normalisation stays float32: it scales every input, where float16 rounding would show
    return {k: (v.to(dtype) if v.is_floating_point() and not k.startswith("normalization.") else v).contiguous()
            for k, v in state.items()}


def write_frozen_model(
    folder: str | Path,
    config_dict: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    skeleton: Skeleton,
    *,
    info: Mapping[str, Any],
    weights_dtype: str = "float16",
    card: str | Callable[[str], str] | None = None,
) -> str:
    """Write a frozen model folder (see the module docstring); every file is written atomically.

    Args:
        folder: the folder (created if missing).
        config_dict: the model's hashed config (``format`` first); ``weights_dtype``, ``info`` and
            ``version`` are appended in ``config.json``.
        state: :func:`normalized_state` of the model.
        skeleton: written to ``skeleton.json``.
        info: training notes kept in ``config.json``.
        weights_dtype: ``"float16"`` or ``"float32"`` for the network weights.
        card: ``README.md`` text, or a function of the stored version giving it, or ``None`` for no card.

    Returns:
        The version of the weights as stored (what loading the folder reports).

    Raises:
        InputError: an unknown ``weights_dtype`` (before anything is written).
    """
    from safetensors.torch import save

    stored = stored_state(state, weights_dtype)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    version = tensors_digest(config_dict, stored)
    data = save(stored)
    atomic_write(folder / WEIGHTS_FILE, lambda f: f.write(data))
    config = {**config_dict, "weights_dtype": weights_dtype, "info": dict(info), "version": version}
    atomic_write_text(folder / CONFIG_FILE, json.dumps(config, indent=1) + "\n")
    atomic_write_text(folder / SKELETON_FILE, skeleton.to_json())
    text = card(version) if callable(card) else card
    if text is not None:
        atomic_write_text(folder / CARD_FILE, text)
    return version


@dataclass(frozen=True)
class FrozenModelFiles:
    """What :func:`read_frozen_model` read from a folder.

    Args:
        folder: the folder read.
        config: the whole ``config.json``.
        weights: the network's state dict as float32 (normalisation removed), ready for ``load_state_dict``.
        mean, std: ``[D]`` float32 feature normalisation as stored.
        skeleton: from ``skeleton.json``.
        version: :func:`tensors_digest` of the hashed config keys and the tensors as stored (checked
            against the ``version`` recorded in ``config.json``, when there is one).
    """

    folder: Path
    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    mean: np.ndarray
    std: np.ndarray
    skeleton: Skeleton
    version: str


def read_frozen_model(folder: Path, expected_format: str, what: str, hashed_keys: Sequence[str]) -> FrozenModelFiles:
    """Read and check a folder written by :func:`write_frozen_model`.

    Args:
        folder: a frozen model folder (``config.json`` present).
        expected_format: the ``format`` its ``config.json`` must name.
        what: the kind of model, for messages (``"evaluator"``, ``"style classifier"``).
        hashed_keys: the ``config.json`` keys the version covers (the model's config dict), so that
            other keys (``info``, ``weights_dtype``) can change without changing the version.

    Raises:
        InputError: ``config.json`` is not JSON or not of ``expected_format``, or the weights do not
            match the version it records.
    """
    from safetensors.torch import load_file

    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=folder / CONFIG_FILE) from None
    if not isinstance(config, dict) or config.get("format") != expected_format:
        raise InputError(f"not a motiongen {what} (format {expected_format})", path=folder / CONFIG_FILE)
    state = load_file(str(folder / WEIGHTS_FILE))
    version = tensors_digest({k: config[k] for k in hashed_keys if k in config}, state)
    if config.get("version") not in (None, version):
        raise InputError(
            f"weights do not match the version recorded in {CONFIG_FILE} ({config['version']} != {version})",
            path=folder / WEIGHTS_FILE,
        )
    mean, std = state.pop(MEAN_KEY).float().numpy(), state.pop(STD_KEY).float().numpy()
    return FrozenModelFiles(
        folder=folder,
        config=config,
        weights={k: v.float() for k, v in state.items()},
        mean=mean,
        std=std,
        skeleton=Skeleton.from_dict(json.loads((folder / SKELETON_FILE).read_text())),
        version=version,
    )
