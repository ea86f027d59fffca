"""NVIDIA's released KIMODO checkpoint folders, read into our formats (reference 1.1-1.3, 2.5, 9.2).

An official checkpoint folder (a Hugging Face snapshot of ``nvidia/Kimodo-<SKEL>-<RP|SEED>-v1``)::

    config.yaml                                  Hydra/OmegaConf config with ``_target_`` entries
    model.safetensors                            keys ``denoiser.backbone.{root_model,body_model}.*``
    stats/motion/{global_root,local_root,body}/{mean,std}.npy

This module maps each piece onto ours: the state-dict keys (an explicit table, both ways), the
three statistics groups onto :class:`~motiongen.motion.kimodo_features.FeatureStats`, and the
config's sizes onto :class:`~motiongen.models.kimodo.config.KimodoDenoiserConfig`. Every error
names the file (and the key or field) at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motiongen.errors import InputError, UnknownNameError
from motiongen.models.kimodo.config import (
    OFFICIAL_SKELETON_JOINTS,
    KimodoDenoiserConfig,
    official_skeleton_name,
)
from motiongen.motion.kimodo_features import (
    GLOBAL_ROOT_DIM,
    LOCAL_ROOT_DIM,
    FeatureStats,
)

#: Prefix of every denoiser key in an official ``model.safetensors`` (the loader strips it).
OFFICIAL_PREFIX = "denoiser.backbone."
STAGES = ("root_model", "body_model")
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
STATS_DIR = "stats/motion"
#: Statistics groups of an official folder and their sizes (``None``: ``D - 5``).
STATS_GROUPS: dict[str, int | None] = {"global_root": GLOBAL_ROOT_DIM, "local_root": LOCAL_ROOT_DIM, "body": None}
#: Sub-module names of one ``nn.TransformerEncoderLayer`` in a checkpoint (reference 1.1).
LAYER_PARAMS = (
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
)


# ==================================================================================================
# Model names (reference 1.1)
# ==================================================================================================
@dataclass(frozen=True)
class OfficialModel:
    """One released model: ``display_name`` (``Kimodo-SOMA-RP-v1``), ``short_key``
    (``kimodo-soma-rp``), the Hugging Face repo, our skeleton name and the training data."""

    display_name: str
    short_key: str
    family: str
    skeleton: str
    dataset: str
    version: str
    licence: str

    @property
    def hf_repo(self) -> str:
        return f"nvidia/{self.display_name}"


_SKELETON_TOKENS = {"soma": ("SOMA", "soma30"), "g1": ("G1", "g1"), "smplx": ("SMPLX", "smplx22")}
_DATASETS = {"rp": "RP", "seed": "SEED"}
_FAMILIES = {"kimodo": "Kimodo", "tmr": "TMR"}
#: (family, skeleton token, dataset) of every released model, and its licence.
_RELEASED = {
    ("kimodo", "soma", "rp"): "NVIDIA Open Model License",
    ("kimodo", "soma", "seed"): "NVIDIA Open Model License",
    ("kimodo", "g1", "rp"): "NVIDIA Open Model License",
    ("kimodo", "g1", "seed"): "NVIDIA Open Model License",
    ("kimodo", "smplx", "rp"): "NVIDIA R&D license (gated; SMPL-X terms apply)",
    ("tmr", "soma", "rp"): "NVIDIA Open Model License",
}
LATEST_VERSION = "v1"


def _model(family: str, skel: str, dataset: str, version: str) -> OfficialModel:
    skel_display, skeleton = _SKELETON_TOKENS[skel]
    return OfficialModel(
        display_name=f"{_FAMILIES[family]}-{skel_display}-{_DATASETS[dataset]}-{version}",
        short_key=f"{family}-{skel}-{dataset}",
        family=family,
        skeleton=skeleton,
        dataset=_DATASETS[dataset],
        version=version,
        licence=_RELEASED[(family, skel, dataset)],
    )


#: Every released model by short key.
OFFICIAL_MODELS = {f"{f}-{s}-{d}": _model(f, s, d, LATEST_VERSION) for f, s, d in _RELEASED}


def known_model_names() -> list[str]:
    """Display names of the released KIMODO denoisers (what ``convert-checkpoint`` converts)."""
    return [m.display_name for m in OFFICIAL_MODELS.values() if m.family == "kimodo"]


def resolve_official_model_name(name: str) -> OfficialModel:
    """The released model ``name`` means, resolved loosely as KIMODO does (reference 1.1).

    Case is ignored; an ``nvidia/`` prefix is dropped; the family defaults to Kimodo, the skeleton
    to SOMA, the dataset to RP and the version to the latest (v1): ``SOMA``, ``g1``, ``SOMA-SEED``,
    ``Kimodo-G1-RP``, ``kimodo-smplx-rp`` and ``nvidia/Kimodo-SOMA-RP-v1`` all resolve.

    Raises:
        UnknownNameError: a name that names no released KIMODO denoiser (lists the known ones).
    """
    text = str(name).strip()
    known = ", ".join(known_model_names())
    if text.lower().startswith("nvidia/"):
        text = text[len("nvidia/") :]
    tokens = [t for t in re.split(r"[-_\s]+", text.lower()) if t]
    family = skel = dataset = version = None
    for token in tokens:
        if token in _FAMILIES and family is None and skel is None:
            family = token
        elif token in _SKELETON_TOKENS and skel is None:
            skel = token
        elif token in _DATASETS and dataset is None:
            dataset = token
        elif re.fullmatch(r"v\d+(\.\d+)*", token) and version is None:
            version = token
        else:
            raise UnknownNameError(f"unknown KIMODO model name {name!r} (at {token!r}); known: {known}")
    if not tokens:
        raise UnknownNameError(f"empty KIMODO model name; known: {known}")
    key = (family or "kimodo", skel or "soma", dataset or "rp")
    if key not in _RELEASED:
        raise UnknownNameError(f"no released model {name!r} ({'-'.join(key)}); known: {known}")
    if key[0] != "kimodo":
        raise UnknownNameError(
            f"{name!r} is the TMR retrieval model (used for metrics), not a KIMODO denoiser; known: {known}"
        )
    return _model(*key, version or LATEST_VERSION)


# ==================================================================================================
# State-dict keys
# ==================================================================================================
def _stage_dims(config: KimodoDenoiserConfig) -> dict[str, tuple[int, int]]:
    """(input, output) widths of each stage (reference 1.3): root ``2D -> 5``, body ``2D - 1 -> D - 5``."""
    d = config.feature_dim
    return {"root_model": (2 * d, GLOBAL_ROOT_DIM), "body_model": (2 * d - 1, d - GLOBAL_ROOT_DIM)}


def official_shapes(config: KimodoDenoiserConfig) -> dict[str, tuple[int, ...]]:
    """Every key of an official checkpoint for ``config`` (with the ``denoiser.backbone.`` prefix)
    and its shape."""
    w, ff = config.width, config.ff
    shapes: dict[str, tuple[int, ...]] = {}
    for stage, (din, dout) in _stage_dims(config).items():
        pre = f"{OFFICIAL_PREFIX}{stage}."
        shapes.update(
            {
                pre + "embed_text.weight": (w, config.text_dim),
                pre + "embed_text.bias": (w,),
                pre + "input_linear.weight": (w, din),
                pre + "input_linear.bias": (w,),
                pre + "output_linear.weight": (dout, w),
                pre + "output_linear.bias": (dout,),
                # KIMODO builds this layer even when input_first_heading_angle is false
                pre + "linear_first_heading_angle.weight": (w, 2),
                pre + "linear_first_heading_angle.bias": (w,),
                pre + "embed_timestep.time_embed.0.weight": (w, w),
                pre + "embed_timestep.time_embed.0.bias": (w,),
                pre + "embed_timestep.time_embed.2.weight": (w, w),
                pre + "embed_timestep.time_embed.2.bias": (w,),
            }
        )
        layer_shapes = {
            "self_attn.in_proj_weight": (3 * w, w),
            "self_attn.in_proj_bias": (3 * w,),
            "self_attn.out_proj.weight": (w, w),
            "self_attn.out_proj.bias": (w,),
            "linear1.weight": (ff, w),
            "linear1.bias": (ff,),
            "linear2.weight": (w, ff),
            "linear2.bias": (w,),
            "norm1.weight": (w,),
            "norm1.bias": (w,),
            "norm2.weight": (w,),
            "norm2.bias": (w,),
        }
        for n in range(config.layers):
            for param in LAYER_PARAMS:
                shapes[f"{pre}seqTransEncoder.layers.{n}.{param}"] = layer_shapes[param]
    return shapes


def kimodo_named_backbone(config: KimodoDenoiserConfig) -> torch.nn.Module:
    """Torch modules named as KIMODO names its ``TwostageDenoiser`` backbone (``root_model`` and
    ``body_model``, each a ``TransformerEncoderBlock``), sized for ``config``, with torch's default
    initialisation (on the default device: build it under ``torch.device("meta")`` for shapes alone).

    Its ``state_dict()``, prefixed with ``denoiser.backbone.``, is a stand-in for an official
    checkpoint (tests, the conversion benchmark); built by torch rather than from
    :func:`official_shapes`, it also checks that table.
    """
    from torch import nn

    w = config.width

    def stage(din: int, dout: int) -> nn.Module:
        m = nn.Module()
        m.embed_text = nn.Linear(config.text_dim, w)
        m.input_linear = nn.Linear(din, w)
        m.output_linear = nn.Linear(w, dout)
        m.linear_first_heading_angle = nn.Linear(2, w)
        m.embed_timestep = nn.Module()
        m.embed_timestep.time_embed = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        layer = nn.TransformerEncoderLayer(w, config.heads, config.ff, 0.0, activation="gelu", batch_first=True)
        m.seqTransEncoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        return m

    backbone = nn.Module()
    for name, (din, dout) in _stage_dims(config).items():
        setattr(backbone, name, stage(din, dout))
    return backbone


def official_key_table(config: KimodoDenoiserConfig) -> dict[str, str | None]:
    """Official key -> our :class:`TwoStageDenoiser` key, for every key of an official checkpoint.

    ``None`` marks an official tensor our model has no place for: only the heading layer when
    ``config.first_heading_token`` is false (KIMODO keeps an unused one).
    """
    table: dict[str, str | None] = {}
    for key in official_shapes(config):
        ours = key[len(OFFICIAL_PREFIX) :]
        if ".linear_first_heading_angle." in key and not config.first_heading_token:
            table[key] = None
        else:
            table[key] = ours
    return table


def our_key_table(config: KimodoDenoiserConfig) -> dict[str, str]:
    """Our key -> official key (the inverse of :func:`official_key_table`)."""
    return {ours: official for official, ours in official_key_table(config).items() if ours is not None}


def ours_to_official(state: Mapping[str, torch.Tensor], config: KimodoDenoiserConfig) -> dict[str, torch.Tensor]:
    """Our state dict under official key names (a model without the heading token gets KIMODO's
    unused heading layer as zeros, so the result loads in KIMODO)."""
    table = our_key_table(config)
    missing = sorted(set(table) - set(state))
    if missing:
        raise InputError(f"state dict lacks {len(missing)} keys of the config: {', '.join(missing)}", field="state_dict")
    out = {table[k]: v for k, v in state.items() if k in table}
    for key, ours in official_key_table(config).items():
        if ours is None:
            out[key] = torch.zeros(official_shapes(config)[key])
    return out


def _describe_problems(missing: list[str], unexpected: list[str], misshaped: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): {', '.join(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected)}")
    if misshaped:
        parts.append(f"{len(misshaped)} mis-shaped key(s): {'; '.join(misshaped)}")
    return "; ".join(parts)


def official_to_ours(
    state: Mapping[str, torch.Tensor], config: KimodoDenoiserConfig, *, path: str | Path | None = None
) -> dict[str, torch.Tensor]:
    """An official state dict (keys with the ``denoiser.backbone.`` prefix) under our key names.

    Raises:
        InputError: naming ``path`` and every missing, unexpected and mis-shaped key (with both shapes).
    """
    shapes = official_shapes(config)
    table = official_key_table(config)
    missing = sorted(k for k in shapes if k not in state)
    unexpected = sorted(k for k in state if k not in shapes)
    misshaped = [
        f"{k} has shape {list(state[k].shape)}, the config needs {list(shapes[k])}"
        for k in sorted(shapes)
        if k in state and tuple(state[k].shape) != shapes[k]
    ]
    if missing or unexpected or misshaped:
        raise InputError(
            f"checkpoint does not match a {config.layers}-layer, width-{config.width} KIMODO denoiser "
            f"(D = {config.feature_dim}, text {config.text_dim}-d): {_describe_problems(missing, unexpected, misshaped)}",
            path=path,
        )
    return {ours: state[k] for k, ours in table.items() if ours is not None}


@dataclass(frozen=True)
class WeightsInfo:
    """What an official weights file holds: float ``dtype`` name, parameter count, and whether our
    loader reads it as it is (``reusable``: exactly the official keys, float32/float16/bfloat16)."""

    path: Path
    dtype: str
    num_parameters: int
    num_bytes: int
    reusable: bool


_FLOAT_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def _open_safetensors(path: Path) -> Any:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise InputError(f"{path.name} missing: not an official KIMODO checkpoint folder", path=path)
    try:
        return safe_open(str(path), framework="pt")
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"unreadable safetensors file ({exc})", path=path) from None


def inspect_official_weights(path: str | Path, config: KimodoDenoiserConfig) -> WeightsInfo:
    """Check ``path``'s keys and shapes against ``config`` without loading the tensors.

    Raises:
        InputError: the file is missing or unreadable, or keys are missing, unexpected or mis-shaped
            (all of them are named, with both shapes).
    """
    path = Path(path)
    shapes = official_shapes(config)
    with _open_safetensors(path) as handle:
        found = {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118 (a safetensors handle)
        dtypes = {handle.get_slice(k).get_dtype() for k in handle.keys()}  # noqa: SIM118 (a safetensors handle)
    missing = sorted(k for k in shapes if k not in found)
    unexpected = sorted(k for k in found if k not in shapes)
    misshaped = [
        f"{k} has shape {list(found[k])}, the config needs {list(shapes[k])}"
        for k in sorted(shapes)
        if k in found and found[k] != shapes[k]
    ]
    if missing or unexpected or misshaped:
        raise InputError(
            f"checkpoint does not match config.yaml's {config.layers}-layer, width-{config.width} denoiser "
            f"(D = {config.feature_dim}, text {config.text_dim}-d): {_describe_problems(missing, unexpected, misshaped)}",
            path=path,
        )
    names = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
    unknown = sorted(d for d in dtypes if d not in names)
    if unknown:
        raise InputError(f"tensors of dtype {', '.join(unknown)}; expected F32, F16 or BF16", path=path)
    dtype = names[next(iter(dtypes))] if len(dtypes) == 1 else "mixed"
    count = sum(int(np.prod(s)) for s in found.values())
    return WeightsInfo(
        path=path,
        dtype=dtype,
        num_parameters=count,
        num_bytes=path.stat().st_size,
        reusable=len(dtypes) == 1 and config.first_heading_token,
    )


def load_official_state_dict(path: str | Path, config: KimodoDenoiserConfig) -> dict[str, torch.Tensor]:
    """Our state dict (float32 tensors, our key names) from an official ``model.safetensors``.

    Raises:
        InputError: naming ``path`` and every missing, unexpected and mis-shaped key.
    """
    path = Path(path)
    inspect_official_weights(path, config)
    with _open_safetensors(path) as handle:
        state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118 (a safetensors handle)
    ours = official_to_ours(state, config, path=path)
    return {k: v.float() for k, v in ours.items()}


def is_official_state_dict(state: Mapping[str, Any]) -> bool:
    """Whether ``state``'s keys are official ones (all carry the ``denoiser.backbone.`` prefix)."""
    return bool(state) and all(k.startswith(OFFICIAL_PREFIX) for k in state)


# ==================================================================================================
# Statistics (reference 2.5)
# ==================================================================================================
def _load_npy(path: Path, size: int) -> np.ndarray:
    if not path.is_file():
        raise InputError("statistics file missing: an official folder has stats/motion/{global_root,local_root,body}/"
                         "{mean,std}.npy", path=path)
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable .npy file ({exc})", path=path) from None
    flat = np.asarray(value, dtype=np.float64).reshape(-1)
    if flat.shape[0] != size:
        raise InputError(f"has shape {list(np.shape(value))}; expected {size} values", path=path)
    if not np.isfinite(flat).all() or (path.stem == "std" and (flat < 0).any()):
        raise InputError("values must be finite (and std >= 0)", path=path)
    return flat


def load_official_stats(folder: str | Path, feature_dim: int) -> FeatureStats:
    """FeatureStats from ``folder/stats/motion/{global_root,local_root,body}/{mean,std}.npy``.

    ``global_root`` (5) normalises dims 0:5, ``body`` (D-5) dims 5:D, ``local_root`` (4) only the
    body stage's local-root input: the same three groups as FeatureStats (reference 2.5, 9.2 item 1).
    ``folder`` is the checkpoint folder (or its ``stats/motion``).
    """
    root = Path(folder)
    if not (root / "global_root").is_dir():
        root = root / STATS_DIR
    values = {}
    for group, size in STATS_GROUPS.items():
        n = feature_dim - GLOBAL_ROOT_DIM if size is None else size
        for kind in ("mean", "std"):
            values[f"{group}_{kind}"] = _load_npy(root / group / f"{kind}.npy", n)
    return FeatureStats(**values)


def save_official_stats(stats: FeatureStats, folder: str | Path) -> Path:
    """Write ``stats`` as ``folder/stats/motion/<group>/{mean,std}.npy`` (float32); returns that folder."""
    root = Path(folder) / STATS_DIR
    for group in STATS_GROUPS:
        (root / group).mkdir(parents=True, exist_ok=True)
        for kind in ("mean", "std"):
            np.save(root / group / f"{kind}.npy", getattr(stats, f"{group}_{kind}").astype(np.float32))
    return root


# ==================================================================================================
# config.yaml
# ==================================================================================================
@dataclass(frozen=True)
class OfficialConfig:
    """What ``config.yaml`` says, in our terms.

    Attributes:
        denoiser: our config with the checkpoint's sizes.
        skeleton: our registry name of the model's skeleton; ``skeleton_target`` KIMODO's class.
        num_base_steps, cfg_type, motion_mask_mode: the diffusion and guidance settings.
        path: the file read.
    """

    denoiser: KimodoDenoiserConfig
    skeleton: str
    skeleton_target: str
    num_base_steps: int
    cfg_type: str
    motion_mask_mode: str
    path: Path
    notes: tuple[str, ...] = field(default_factory=tuple)


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, node) of every mapping in a YAML tree, depth first."""
    if isinstance(node, Mapping):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for k, value in enumerate(node):
            yield from _walk(value, f"{where}[{k}]")


def _target(node: Mapping[str, Any]) -> str:
    value = node.get("_target_")
    return value.rsplit(".", 1)[-1] if isinstance(value, str) else ""


#: Our config field -> the config.yaml backbone key it comes from (for error messages).
_OUR_TO_YAML = {
    "text_dim": "llm_shape",
    "num_text_tokens": "num_text_tokens_override",
    "width": "latent_dim",
    "layers": "num_layers",
    "heads": "num_heads",
    "ff": "ff_size",
    "first_heading_token": "input_first_heading_angle",
}


def read_official_config(path: str | Path) -> OfficialConfig:
    """Read an official ``config.yaml`` (Hydra, ``_target_`` entries) into our config.

    The backbone keys (``llm_shape``, ``latent_dim``, ``ff_size``, ``num_layers``, ``num_heads``) are
    required; ``activation`` (gelu), ``dropout`` (0), ``norm_first`` (false), ``use_text_mask``
    (false), ``num_text_tokens_override`` (``llm_shape[0]``) and ``input_first_heading_angle``
    (false) default as in KIMODO's ``TransformerEncoderBlockConfig``. The skeleton comes from a
    ``_target_`` naming a KIMODO skeleton class, the fps from the motion representation (30).

    Raises:
        InputError: missing file, invalid YAML, a missing or malformed field (named with its
            dotted path), or a setting our denoiser cannot express.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{CONFIG_FILE} missing: not an official KIMODO checkpoint folder", path=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid YAML ({exc})", path=path) from None
    if not isinstance(data, Mapping):
        raise InputError("must hold a YAML mapping", path=path)
    nodes = list(_walk(data))
    backbone_keys = ("latent_dim", "num_layers", "num_heads", "ff_size", "llm_shape")
    backbone = next(((w, n) for w, n in nodes if any(k in n for k in backbone_keys)), None)
    if backbone is None:
        raise InputError(
            f"no denoiser backbone settings (a mapping with {', '.join(backbone_keys)}) found", path=path, field="latent_dim"
        )
    where, kwargs = backbone
    prefix = f"{where}." if where else ""

    def get(key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in kwargs:
            if default is ...:
                raise InputError("missing", path=path, field=prefix + key)
            return default
        value = kwargs[key]
        if isinstance(value, str) and "${" in value:
            raise InputError(f"interpolations are not supported here, got {value!r}", path=path, field=prefix + key)
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise InputError(f"must be a number, got {value!r}", path=path, field=prefix + key)
        if not isinstance(value, kind):
            names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise InputError(f"must be {names}, got {value!r}", path=path, field=prefix + key)
        return value

    llm_shape = get("llm_shape", list)
    if len(llm_shape) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in llm_shape):
        raise InputError(f"must be [tokens, dim] of positive integers, got {llm_shape!r}", path=path, field=prefix + "llm_shape")
    override = get("num_text_tokens_override", (int, type(None)), None)
    skeleton_node = next(((w, n) for w, n in nodes if _target(n).lower().replace("_", "").endswith(
        ("skeleton30", "skeleton34", "skeleton22", "skel30", "skel34", "skel22"))), None)
    if skeleton_node is None:
        # a plain ``skeleton: SOMASkeleton30`` entry
        named = next(((f"{w}.skeleton" if w else "skeleton", n["skeleton"]) for w, n in nodes
                      if isinstance(n.get("skeleton"), str)), None)
        if named is None:
            raise InputError("no skeleton found (a _target_ such as kimodo.skeleton.SOMASkeleton30)", path=path, field="skeleton")
        skeleton_node = (named[0], {"_target_": named[1]})
    try:
        skeleton = official_skeleton_name(_target(skeleton_node[1]))
    except InputError as exc:
        raise InputError(str(exc).split(": ", 1)[-1], path=path, field=skeleton_node[0] or "skeleton") from None
    rep = next((n for _, n in nodes if _target(n).endswith("MotionRep") and "fps" in n), None)
    fps = (rep or {}).get("fps", data.get("fps", 30))
    denoiser_node = next((n for _, n in nodes if "Denoiser" in _target(n)), {})
    if denoiser_node and _target(denoiser_node) != "TwostageDenoiser":
        raise InputError(
            f"denoiser {_target(denoiser_node)!r} is not supported; only KIMODO's TwostageDenoiser", path=path, field="denoiser"
        )
    mask_mode = denoiser_node.get("motion_mask_mode", "concat")
    if mask_mode != "concat":
        raise InputError(
            f"motion_mask_mode {mask_mode!r} is not supported; our denoiser always concatenates the mask (concat)",
            path=path,
            field="motion_mask_mode",
        )
    base_steps = next((n["num_base_steps"] for _, n in nodes if "num_base_steps" in n), 1000)
    cfg_type = next((n["cfg_type"] for _, n in nodes if "cfg_type" in n), "separated")
    joints = OFFICIAL_SKELETON_JOINTS[skeleton]
    notes = []
    pe_dropout = get("pe_dropout", (int, float), 0.0)
    if pe_dropout:
        notes.append(f"pe_dropout {pe_dropout} ignored (inference only)")
    try:
        config = KimodoDenoiserConfig(
            feature_dim=9 + 12 * joints,
            num_joints=joints,
            text_dim=llm_shape[1],
            num_text_tokens=override if override is not None else llm_shape[0],
            width=get("latent_dim", int),
            layers=get("num_layers", int),
            heads=get("num_heads", int),
            ff=get("ff_size", int),
            dropout=float(get("dropout", (int, float), 0.0)),
            max_frames=300,
            fps=fps,
            first_heading_token=get("input_first_heading_angle", bool, False),
            norm_first=get("norm_first", bool, False),
            activation=get("activation", str, "gelu"),
            use_text_mask=get("use_text_mask", bool, False),
            position_table_precision="float32",
        )
    except InputError as exc:
        if exc.path is not None:  # from get(): already names the file and the field
            raise
        official_field = _OUR_TO_YAML.get(exc.field or "", exc.field or "")
        raise InputError(str(exc).split(": ", 1)[-1], path=path, field=prefix + official_field) from None
    if isinstance(base_steps, bool) or not isinstance(base_steps, int) or base_steps < 2:
        raise InputError(f"must be an integer >= 2, got {base_steps!r}", path=path, field="num_base_steps")
    if cfg_type not in ("nocfg", "regular", "separated"):
        raise InputError(f"unknown cfg_type {cfg_type!r}; allowed: nocfg, regular, separated", path=path, field="cfg_type")
    return OfficialConfig(
        denoiser=config,
        skeleton=skeleton,
        skeleton_target=str(skeleton_node[1].get("_target_")),
        num_base_steps=base_steps,
        cfg_type=cfg_type,
        motion_mask_mode=mask_mode,
        path=path,
        notes=tuple(notes),
    )
