"""``motiongen convert-checkpoint``: an official KIMODO checkpoint folder -> a motiongen KIMODO bundle.

    motiongen convert-checkpoint --model-name Kimodo-SOMA-RP-v1 --checkpoint-dir ckpt/Kimodo-SOMA-RP-v1 \\
        --text-encoders-dir $TEXT_ENCODERS_DIR --out-dir models/kimodo-soma-rp --copy-mode hardlink --verify

The official folder (``config.yaml``, ``model.safetensors``, ``stats/motion/...``; reference 1.1)
becomes our artifact (:class:`~motiongen.pipelines.bundle.KIMODOBundle` layout): the weights are
copied, hard-linked or symlinked when our loader reads the file as it is (the official key names
are understood), else converted to our names; the three statistics groups become FeatureStats;
the skeleton comes from the registry; a README card and a text-encoder reference are written.

``--verify`` reloads the artifact and runs, on identical fixed-seed inputs, (a) one denoiser pass
and (b) a short DDIM generation with classifier-free guidance, through OUR model and through
:class:`ReferenceKimodoDenoiser`: a separate, minimal forward written from the reference spec,
built from plain torch modules under the official names and loaded straight from the official
``model.safetensors`` and ``.npy`` statistics. It prints the largest difference and fails above
:data:`VERIFY_TOLERANCE`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from motiongen.errors import InputError

#: Largest |difference| --verify accepts between our model and the reference forward.
VERIFY_TOLERANCE = 1e-5
#: Precisions --verify can compare in (float64 by default; see :func:`verify_conversion`).
VERIFY_DTYPES = ("float64", "float32")
COPY_MODES = ("copy", "hardlink", "symlink")
#: KIMODO's LLM2Vec folders, relative to ``TEXT_ENCODERS_DIR`` (reference 6.1).
LLM2VEC_BASE = "McGill-NLP/LLM2Vec-Meta-Llama-3-8B-Instruct-mntp"
LLM2VEC_SUPERVISED = "McGill-NLP/LLM2Vec-Meta-Llama-3-8B-Instruct-mntp-supervised"
_WEIGHT_GLOBS = ("*.safetensors", "*.bin")


# ==================================================================================================
# Text-encoder reference
# ==================================================================================================
def _has_weights(folder: Path) -> bool:
    return any(any(folder.glob(pattern)) for pattern in _WEIGHT_GLOBS)


def _check_hidden_size(folder: Path, text_dim: int) -> None:
    config = folder / "config.json"
    if not config.is_file():
        return
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the text encoder's config ({exc})", path=config) from None
    size = data.get("hidden_size") if isinstance(data, dict) else None
    if isinstance(size, int) and size != text_dim:
        raise InputError(
            f"text encoder gives {size}-d vectors but the checkpoint's embed_text takes {text_dim}-d",
            path=config,
            field="hidden_size",
        )


def text_encoder_reference(
    text_dim: int,
    *,
    text_encoders_dir: str | Path | None = None,
    no_text_encoder: bool = False,
    text_encoders_repo: str | None = None,
) -> dict[str, Any]:
    """The bundle's text-encoder reference (``model_index.json`` ``text_encoder``).

    ``text_encoders_dir``: KIMODO's ``TEXT_ENCODERS_DIR`` layout (``DIR/McGill-NLP/LLM2Vec-...-mntp``
    plus ``...-mntp-supervised``, also accepted one level up without ``McGill-NLP/``), or one model
    folder (``config.json`` + weights, adapters merged). Each folder must hold weights
    (``*.safetensors`` / ``*.bin``); a ``hidden_size`` in ``config.json`` must equal ``text_dim``.

    ``no_text_encoder``: reference ``text_encoders_repo`` (a folder, made absolute, or a repo name,
    kept as written: the bundle resolves a relative path against its own folder) without checking
    it; default KIMODO's LLM2Vec repo.
    """
    if no_text_encoder:
        if text_encoders_dir is not None:
            raise InputError("give --text-encoders-dir or --no-text-encoder, not both", field="--no-text-encoder")
        name = (text_encoders_repo or LLM2VEC_BASE).strip()
        if not name:
            raise InputError("must name a folder or a repository", field="--text-encoders-repo")
        folder = Path(name).expanduser()
        spec: dict[str, Any] = {"type": "llm2vec", "path": str(folder.resolve()) if folder.is_dir() else name}
        if text_encoders_repo is None:
            spec["adapters"] = [LLM2VEC_SUPERVISED]
        return spec
    if text_encoders_repo is not None:
        raise InputError("--text-encoders-repo goes with --no-text-encoder", field="--text-encoders-repo")
    if text_encoders_dir is None:
        raise InputError("give --text-encoders-dir DIR or --no-text-encoder", field="--text-encoders-dir")
    root = Path(text_encoders_dir).expanduser()
    if not root.is_dir():
        raise InputError("text-encoders folder does not exist", path=root, field="--text-encoders-dir")
    candidates = [(root / LLM2VEC_BASE, root / LLM2VEC_SUPERVISED)]
    candidates.append((root / Path(LLM2VEC_BASE).name, root / Path(LLM2VEC_SUPERVISED).name))
    base, supervised = next(((b, s) for b, s in candidates if b.is_dir()), (None, None))
    if base is None:
        if not (root / "config.json").is_file():
            raise InputError(
                f"no LLM2Vec model here: expected {LLM2VEC_BASE} (and {Path(LLM2VEC_SUPERVISED).name}) inside it, "
                "as KIMODO's TEXT_ENCODERS_DIR, or a model folder with config.json and weights",
                path=root,
                field="--text-encoders-dir",
            )
        base, supervised = root, None
    if not _has_weights(base):
        raise InputError("text-encoder folder has no weights (*.safetensors or *.bin)", path=base, field="--text-encoders-dir")
    _check_hidden_size(base, text_dim)
    spec = {"type": "llm2vec", "path": str(base.resolve())}
    if supervised is not None and supervised.is_dir():
        if not _has_weights(supervised):
            raise InputError(
                "text-encoder adapter folder has no weights (*.safetensors or *.bin)", path=supervised, field="--text-encoders-dir"
            )
        spec["adapters"] = [str(supervised.resolve())]
    return spec


# ==================================================================================================
# Conversion
# ==================================================================================================
@dataclass
class ConversionReport:
    """What :func:`convert_checkpoint` did: the artifact, how the weights got there, the sizes,
    seconds per phase, and (with verify) the largest differences."""

    out_dir: Path
    model: str
    skeleton: str
    weights: str  # copy | hardlink | symlink | converted
    weights_dtype: str
    num_parameters: int
    weights_bytes: int
    seconds: dict[str, float] = field(default_factory=dict)
    verify: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "model": self.model,
            "skeleton": self.skeleton,
            "weights": self.weights,
            "weights_dtype": self.weights_dtype,
            "num_parameters": self.num_parameters,
            "weights_bytes": self.weights_bytes,
            "seconds": self.seconds,
            "verify": self.verify,
        }


def _sampling_for(cfg_type: str) -> dict[str, Any]:
    """KIMODO's defaults (reference 1.5): the config's cfg_type with weights 2 (2, 2 separated)."""
    plain: list[Any] = {"nocfg": ["nocfg"], "regular": ["regular", 2.0], "separated": ["separated", [2.0, 2.0]]}[cfg_type]
    return {"cfg": plain, "constrained_cfg": ["separated", [2.0, 2.0]]}


def _model_card(model: Any, official: Any, weights: str, info: Any, text_spec: dict[str, Any], params: int) -> str:
    cfg = official.denoiser
    sizes = (
        f"two stages x {cfg.layers} post-LN layers, width {cfg.width}, {cfg.heads} heads, ff {cfg.ff}, {cfg.activation}, "
        f"{cfg.num_text_tokens} text tokens of {cfg.text_dim}-d"
    )
    lines = [
        f"# {model.display_name} (converted to motiongen)",
        "",
        (
            f"NVIDIA's KIMODO model `{model.hf_repo}` (short key `{model.short_key}`), converted from an official "
            "checkpoint folder by `motiongen convert-checkpoint`. Weights and statistics are NVIDIA's; this folder "
            "only changes their layout."
        ),
        "",
        f"- licence: {model.licence} (see the model's Hugging Face page); not covered by motiongen's licence",
        f"- skeleton: {official.skeleton} (KIMODO `{official.skeleton_target}`), {cfg.fps:g} fps, features D = {cfg.feature_dim}",
        f"- denoiser: {sizes}; {params / 1e6:.1f} M parameters",
        f"- weights: {weights} from the official `model.safetensors` ({info.dtype}, official key names)"
        if weights != "converted"
        else f"- weights: converted to motiongen key names (float32) from the official `model.safetensors` ({info.dtype})",
        "- statistics: `stats/motion/{global_root,local_root,body}` -> `stats/feature_stats.npz`",
        f"- diffusion: cosine schedule, {official.num_base_steps} base steps, x0 prediction; KIMODO samples 100 DDIM steps",
        (
            f"- text encoder (referenced, not stored): `{json.dumps(text_spec)}`. KIMODO's weights expect LLM2Vec "
            "(Llama-3-8B-Instruct, MNTP + supervised adapters) embeddings; check embeddings against KIMODO's before "
            "relying on them (reference 6.1)."
        ),
    ]
    if official.notes:
        lines.append(f"- notes: {'; '.join(official.notes)}")
    return "\n".join(lines) + "\n"


def convert_checkpoint(
    model_name: str,
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    *,
    text_encoders_dir: str | Path | None = None,
    no_text_encoder: bool = False,
    text_encoders_repo: str | None = None,
    copy_mode: str = "copy",
    verify: bool = False,
    verify_frames: int = 40,
    verify_steps: int = 3,
    verify_dtype: str = "float64",
    seed: int = 0,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    log: Any = print,
) -> ConversionReport:
    """Convert the official checkpoint folder ``checkpoint_dir`` of ``model_name`` into the bundle ``out_dir``.

    Args:
        model_name: a released model, resolved loosely (``Kimodo-SOMA-RP-v1``, ``soma``, ``g1-seed``).
        checkpoint_dir: folder with ``config.yaml``, ``model.safetensors`` and ``stats/motion/``.
        out_dir: the bundle folder to write (replaced as a whole if it is one already).
        text_encoders_dir, no_text_encoder, text_encoders_repo: see :func:`text_encoder_reference`.
        copy_mode: how a reusable weights file is placed: ``copy``, ``hardlink`` or ``symlink``.
        verify: compare our reloaded model with the reference forward (:func:`verify_conversion`).
        verify_frames, verify_steps, verify_dtype, seed: the verification inputs and precision.
        data_dir, cache_dir: where the skeleton archives are (defaults as elsewhere).
        log: called with progress lines.

    Raises:
        InputError: missing files, mismatched keys/shapes, a config or skeleton that does not match.
        UnknownNameError: an unknown model name (lists the known ones).
    """
    from motiongen.models.kimodo.config import DiffusionConfig
    from motiongen.models.kimodo.official import (
        CONFIG_FILE,
        WEIGHTS_FILE,
        inspect_official_weights,
        load_official_state_dict,
        load_official_stats,
        read_official_config,
        resolve_official_model_name,
    )
    from motiongen.pipelines.bundle import KIMODOBundle
    from motiongen.skeleton.registry import get_skeleton

    if copy_mode not in COPY_MODES:
        raise InputError(f"unknown copy mode {copy_mode!r}; allowed: {', '.join(COPY_MODES)}", field="--copy-mode")
    model = resolve_official_model_name(model_name)
    source = Path(checkpoint_dir).expanduser()
    if not source.is_dir():
        raise InputError("checkpoint folder does not exist", path=source, field="--checkpoint-dir")
    out = Path(out_dir).expanduser()
    if out.resolve() == source.resolve():
        raise InputError("the output folder must differ from the checkpoint folder", path=out, field="--out-dir")
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    official = read_official_config(source / CONFIG_FILE)
    if official.skeleton != model.skeleton:
        raise InputError(
            f"config.yaml's skeleton {official.skeleton_target!r} ({official.skeleton}) is not the skeleton of "
            f"{model.display_name} ({model.skeleton})",
            path=official.path,
            field="skeleton",
        )
    config = official.denoiser
    info = inspect_official_weights(source / WEIGHTS_FILE, config)
    stats = load_official_stats(source, config.feature_dim)
    skeleton = get_skeleton(model.skeleton, data_dir, cache_dir)
    text_spec = text_encoder_reference(
        config.text_dim,
        text_encoders_dir=text_encoders_dir,
        no_text_encoder=no_text_encoder,
        text_encoders_repo=text_encoders_repo,
    )
    seconds["read"] = time.perf_counter() - start
    log(
        f"read {source}: {model.display_name}, {official.skeleton}, {info.num_parameters / 1e6:.1f} M parameters "
        f"({info.dtype}, {info.num_bytes / 1e9:.2f} GB)"
    )

    start = time.perf_counter()
    weights = copy_mode if info.reusable else "converted"
    state = None
    if not info.reusable:
        state = load_official_state_dict(source / WEIGHTS_FILE, config)
    bundle_info = {
        "converted_from": {
            "model": model.display_name,
            "hf_repo": model.hf_repo,
            "short_key": model.short_key,
            "checkpoint_dir": str(source.resolve()),
            "weights": weights,
            "weights_dtype": info.dtype,
            "num_parameters": info.num_parameters,
        },
        "licence": model.licence,
    }
    card = _model_card(model, official, weights, info, text_spec, info.num_parameters)
    create_args: dict[str, Any] = {
        "text_encoder_spec": text_spec,
        "diffusion": DiffusionConfig(num_train_steps=official.num_base_steps),
        "model_card": card,
        "info": bundle_info,
        "sampling": _sampling_for(official.cfg_type),
    }
    if state is None:
        # the weights file is placed as it is: the denoiser only has to exist, not hold values
        with torch.device("meta"):
            bundle = KIMODOBundle.create(config, stats, skeleton, **create_args)
    else:
        bundle = KIMODOBundle.create(config, stats, skeleton, state_dict=state, **create_args)
    seconds["build"] = time.perf_counter() - start

    start = time.perf_counter()
    if state is None:
        bundle.save_pretrained(
            out, weights_dtype=info.dtype, weights_source=source / WEIGHTS_FILE, weights_mode=copy_mode
        )
    else:
        bundle.save_pretrained(out, weights_dtype="float16" if info.dtype == "float16" else "float32")
    del bundle, state
    seconds["write"] = time.perf_counter() - start
    log(f"wrote {out} (weights: {weights})")
    report = ConversionReport(
        out_dir=out,
        model=model.display_name,
        skeleton=official.skeleton,
        weights=weights,
        weights_dtype=info.dtype,
        num_parameters=info.num_parameters,
        weights_bytes=info.num_bytes,
        seconds=seconds,
    )
    if verify:
        report.verify = verify_conversion(
            out, source, frames=verify_frames, steps=verify_steps, seed=seed, dtype=verify_dtype, log=log
        )
        seconds.update({f"verify_{k}": v for k, v in report.verify["seconds"].items()})
    return report


# ==================================================================================================
# Reference forward (independent of motiongen.models.kimodo.denoiser; written from the spec)
# ==================================================================================================
def kimodo_position_table(length: int, width: int) -> torch.Tensor:
    """KIMODO's ``PositionalEncoding`` table ``[length, width]``, computed as it does in float32."""
    pe = torch.zeros(length, width)
    position = torch.arange(0, length, dtype=torch.float).unsqueeze(1)
    div_term = torch.pow(10000.0, -torch.arange(0, width, 2).float() / width)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


class ReferenceBlock(nn.Module):
    """KIMODO's ``TransformerEncoderBlock`` (reference 1.2), module names as in its checkpoints."""

    def __init__(self, din: int, dout: int, sizes: dict[str, Any]) -> None:
        super().__init__()
        w = sizes["latent_dim"]
        self.sizes = sizes
        self.embed_text = nn.Linear(sizes["llm_dim"], w)
        self.input_linear = nn.Linear(din, w)
        self.output_linear = nn.Linear(w, dout)
        self.linear_first_heading_angle = nn.Linear(2, w)
        self.embed_timestep = nn.Module()
        self.embed_timestep.time_embed = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        layer = nn.TransformerEncoderLayer(
            d_model=w,
            nhead=sizes["num_heads"],
            dim_feedforward=sizes["ff_size"],
            dropout=0.0,
            activation=sizes["activation"],
            batch_first=True,
            norm_first=sizes["norm_first"],
        )
        self.seqTransEncoder = nn.TransformerEncoder(layer, num_layers=sizes["num_layers"], enable_nested_tensor=False)

    def forward(
        self,
        x: torch.Tensor,
        x_pad_mask: torch.Tensor,
        text_feat: torch.Tensor,
        text_pad_mask: torch.Tensor,
        timesteps: torch.Tensor,
        first_heading_angle: torch.Tensor,
        pe: torch.Tensor,
    ) -> torch.Tensor:
        """``x [B,T,din]``, ``x_pad_mask [B,T]`` (True = valid), ``text_feat [B,L,llm_dim]`` with
        ``text_pad_mask [B,L]``, ``timesteps [B]``, ``first_heading_angle [B]`` -> ``[B,T,dout]``."""
        b = x.shape[0]
        n = self.sizes["num_text_tokens"]
        h = self.input_linear(x)
        # zero-pad (or crop) the text to exactly n tokens
        padded = torch.zeros(b, n, text_feat.shape[2], dtype=x.dtype)
        padded_mask = torch.zeros(b, n, dtype=torch.bool)
        keep = min(n, text_feat.shape[1])
        padded[:, :keep] = text_feat[:, :keep]
        padded_mask[:, :keep] = text_pad_mask[:, :keep]
        emb_text = self.embed_text(padded)
        emb_time = self.embed_timestep.time_embed(pe[timesteps].to(x.dtype))[:, None]
        if not self.sizes["use_text_mask"]:
            padded_mask = torch.ones(b, n, dtype=torch.bool)
        prefix = [emb_text, emb_time]
        prefix_mask = [padded_mask, torch.ones(b, 1, dtype=torch.bool)]
        if self.sizes["input_first_heading_angle"]:
            # KIMODO's heading angles are float32 tensors: cos/sin in float32, the layer in the model's dtype
            heading = first_heading_angle.float()
            angle = torch.stack([torch.cos(heading), torch.sin(heading)], -1).to(x.dtype)
            prefix.append(self.linear_first_heading_angle(angle)[:, None])
            prefix_mask.append(torch.ones(b, 1, dtype=torch.bool))
        start = sum(p.shape[1] for p in prefix)
        seq = torch.cat([*prefix, h], 1)
        key_padding = ~torch.cat([*prefix_mask, x_pad_mask], 1)
        seq = seq + pe[: seq.shape[1]].to(seq.dtype)
        out = self.seqTransEncoder(seq, src_key_padding_mask=key_padding)
        return self.output_linear(out[:, start:])


class ReferenceKimodoDenoiser(nn.Module):
    """KIMODO's ``TwostageDenoiser`` (reference 1.3) with its normalisation (2.5), from the spec.

    Built from an official folder by :meth:`from_checkpoint`: sizes from ``config.yaml``, weights
    loaded (strict) from ``model.safetensors`` after stripping ``denoiser.backbone.``, statistics
    from the ``.npy`` files.
    """

    def __init__(self, sizes: dict[str, Any], stats: dict[str, np.ndarray]) -> None:
        super().__init__()
        d = sizes["motion_rep_dim"]
        self.sizes = sizes
        self.root_model = ReferenceBlock(2 * d, 5, sizes)
        self.body_model = ReferenceBlock(d - 5 + 4 + d, d - 5, sizes)
        self.stats = self._float32_stats(stats)
        self.pe = kimodo_position_table(5000, sizes["latent_dim"])

    @classmethod
    def from_checkpoint(cls, folder: str | Path) -> ReferenceKimodoDenoiser:
        from safetensors.torch import load_file

        from motiongen.models.kimodo.official import read_official_config

        folder = Path(folder)
        cfg = read_official_config(folder / "config.yaml").denoiser
        sizes = {
            "motion_rep_dim": cfg.feature_dim,
            "latent_dim": cfg.width,
            "llm_dim": cfg.text_dim,
            "num_text_tokens": cfg.num_text_tokens,
            "num_layers": cfg.layers,
            "num_heads": cfg.heads,
            "ff_size": cfg.ff,
            "activation": cfg.activation,
            "norm_first": cfg.norm_first,
            "use_text_mask": cfg.use_text_mask,
            "input_first_heading_angle": cfg.first_heading_token,
            "fps": cfg.fps,
        }
        stats = {}
        for group in ("global_root", "local_root", "body"):
            for kind in ("mean", "std"):
                stats[f"{group}_{kind}"] = np.load(folder / "stats" / "motion" / group / f"{kind}.npy").reshape(-1)
        with torch.device("meta"):
            model = cls(sizes, stats)
        state = load_file(str(folder / "model.safetensors"))
        prefix = "denoiser.backbone."
        state = {k[len(prefix) :]: v.float() for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        model.stats = cls._float32_stats(stats)
        model.pe = kimodo_position_table(5000, sizes["latent_dim"])
        return model.eval()

    @staticmethod
    def _float32_stats(stats: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Means and scales ``sqrt(std^2 + 1e-5)`` as the float32 tensors a float32 model holds."""
        out = {}
        for group in ("global_root", "local_root"):
            std = np.asarray(stats[f"{group}_std"], dtype=np.float64)
            out[f"{group}_mean"] = torch.as_tensor(np.asarray(stats[f"{group}_mean"], dtype=np.float32))
            out[f"{group}_scale"] = torch.as_tensor(np.sqrt(std**2 + 1e-5).astype(np.float32))
        return out

    def _scale(self, group: str) -> torch.Tensor:
        return self.stats[f"{group}_scale"]

    def to_dtype(self, dtype: torch.dtype) -> ReferenceKimodoDenoiser:
        """Weights, statistics and position table in ``dtype`` (statistics and table are float32
        quantities, cast)."""
        self.to(dtype)
        self.stats = {k: v.to(dtype) for k, v in self.stats.items()}
        self.pe = self.pe.to(dtype)
        return self

    def global_root_to_local_root(self, root: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B,T,5]`` root prediction -> normalised ``[B,T,4]`` local root (reference 1.3)."""
        fps = self.sizes["fps"]
        r = root * self._scale("global_root") + self.stats["global_root_mean"]
        angle = torch.atan2(r[..., 4], r[..., 3])
        d_angle = angle[:, 1:] - angle[:, :-1]
        rot_vel = fps * torch.atan2(torch.sin(d_angle), torch.cos(d_angle))
        vel_xz = fps * (r[:, 1:, [0, 2]] - r[:, :-1, [0, 2]])
        local = torch.zeros(r.shape[0], r.shape[1], 4, dtype=r.dtype)
        local[:, :-1, 0] = rot_vel
        local[:, :-1, 1:3] = vel_xz
        local[:, :, 3] = r[..., 1]
        for k, n in enumerate(lengths.tolist()):
            if n >= 2:  # the last valid frame copies the one before
                local[k, n - 1, :3] = local[k, n - 2, :3]
        return (local - self.stats["local_root_mean"]) / self._scale("local_root")

    def forward(
        self,
        x: torch.Tensor,
        x_pad_mask: torch.Tensor,
        text_feat: torch.Tensor,
        text_pad_mask: torch.Tensor,
        timesteps: torch.Tensor,
        first_heading_angle: torch.Tensor,
        motion_mask: torch.Tensor,
        observed_motion: torch.Tensor,
    ) -> torch.Tensor:
        """KIMODO's ``TwostageDenoiser.forward``: normalised x0 ``[B,T,D]``."""
        x = x * (1 - motion_mask) + observed_motion * motion_mask
        root = self.root_model(
            torch.cat([x, motion_mask], -1), x_pad_mask, text_feat, text_pad_mask, timesteps, first_heading_angle, self.pe
        )
        local = self.global_root_to_local_root(root, x_pad_mask.sum(-1))
        body_in = torch.cat([local, x[..., 5:], motion_mask], -1)
        body = self.body_model(body_in, x_pad_mask, text_feat, text_pad_mask, timesteps, first_heading_angle, self.pe)
        return torch.cat([root, body], -1)


def reference_ddim(
    model: ReferenceKimodoDenoiser,
    *,
    text: torch.Tensor,
    lengths: Sequence[int],
    observed: torch.Tensor,
    mask: torch.Tensor,
    first_heading: torch.Tensor,
    steps: int,
    cfg_weights: tuple[float, float],
    num_base_steps: int,
    seed: int,
) -> torch.Tensor:
    """KIMODO's DDIM (reference 1.4) with ``separated`` guidance (1.5), from the spec: ``[B, T, D]``."""
    n = num_base_steps
    s = np.arange(n + 1, dtype=np.float64) / n
    abar_fn = np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = np.minimum(1 - abar_fn[1:] / abar_fn[:-1], 0.999)
    alphas_cumprod = np.cumprod(1 - betas)
    taus = [n - 1] if steps == 1 else [min(round(k * (n - 1) / (steps - 1)), n - 1) for k in range(steps)]
    abar = [max(float(alphas_cumprod[t]), 1e-9) for t in taus]
    b, t_max = text.shape[0], max(lengths)
    x_pad_mask = torch.arange(t_max)[None] < torch.tensor(list(lengths))[:, None]
    text_mask = torch.ones(b, text.shape[1], dtype=torch.bool)
    x = torch.randn((b, t_max, model.sizes["motion_rep_dim"]), generator=torch.Generator().manual_seed(seed))
    x = x.to(text.dtype)
    with torch.no_grad():
        for k in range(steps - 1, -1, -1):
            tk = torch.full((b,), taus[k], dtype=torch.long)
            branches = [(text, torch.zeros_like(mask)), (text * 0, mask), (text * 0, torch.zeros_like(mask))]
            text_only, constraint_only, uncond = (
                model(x, x_pad_mask, txt, text_mask, tk, first_heading, msk, observed) for txt, msk in branches
            )
            x0 = uncond + cfg_weights[0] * (text_only - uncond) + cfg_weights[1] * (constraint_only - uncond)
            if k == 0:
                x = x0
                break
            a, a_prev = abar[k], abar[k - 1]
            eps = (x / math.sqrt(a) - x0) / math.sqrt(1 / a - 1)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    return x


# ==================================================================================================
# Verification
# ==================================================================================================
def _verify_inputs(d: int, text_dim: int, frames: int, num_base_steps: int, seed: int) -> dict[str, Any]:
    """Fixed-seed inputs: 2 samples (the second shorter, so padding is exercised), a sparse constraint mask."""
    g = torch.Generator().manual_seed(seed + 1)
    lengths = [frames, max(2, frames - frames // 4)]
    b = len(lengths)
    return {
        "lengths": lengths,
        "pad_mask": torch.arange(frames)[None] < torch.tensor(lengths)[:, None],
        "x": torch.randn(b, frames, d, generator=g),
        "observed": torch.randn(b, frames, d, generator=g),
        "mask": (torch.rand(b, frames, d, generator=g) < 0.15).float(),
        "text": torch.randn(b, 1, text_dim, generator=g),
        "timesteps": torch.tensor([num_base_steps - 1, num_base_steps // 3]),
        "heading": (torch.rand(b, generator=g) * 2 - 1) * math.pi,
    }


def _our_ddim(
    model: nn.Module,
    schedule: Any,
    *,
    text: torch.Tensor,
    lengths: Sequence[int],
    observed: torch.Tensor,
    mask: torch.Tensor,
    first_heading: torch.Tensor,
    steps: int,
    cfg_weights: tuple[float, float],
    seed: int,
) -> torch.Tensor:
    """Our sampler in ``text.dtype``: :func:`ddim_sample` for float32; for float64 the same loop
    from our parts (``guided_x0``, ``CosineSchedule.ddim_step``), since ``ddim_sample`` runs float32."""
    from motiongen.models.kimodo.guidance import guided_x0
    from motiongen.models.kimodo.sampler import ddim_sample

    generator = torch.Generator().manual_seed(seed)
    if text.dtype == torch.float32:
        return ddim_sample(
            model, schedule, text=text, num_frames=list(lengths), observed=observed, mask=mask,
            first_heading=first_heading, steps=steps, cfg_type="separated", cfg_weights=cfg_weights, generator=generator,
        )
    b, t_max, d = text.shape[0], max(lengths), model.config.feature_dim
    pad_mask = torch.arange(t_max)[None] < torch.tensor(list(lengths))[:, None]
    # the noise ddim_sample draws (float32 on the generator), then cast
    x = torch.randn((b, t_max, d), generator=generator, dtype=torch.float32).to(text.dtype)
    timesteps = schedule.ddim_timesteps(steps)
    with torch.no_grad():
        for k in range(len(timesteps) - 1, -1, -1):
            t = timesteps[k].repeat(b)
            x0 = guided_x0(model, x, t, text, observed, mask, first_heading, pad_mask, "separated", cfg_weights)
            x = schedule.ddim_step(x, x0, k, timesteps)
    return x * pad_mask[..., None]


def _max_valid_diff(a: torch.Tensor, b: torch.Tensor, pad_mask: torch.Tensor) -> float:
    diff = (a.double() - b.double()).abs()[pad_mask]
    return float(diff.max()) if diff.numel() else 0.0


def verify_conversion(
    out_dir: str | Path,
    checkpoint_dir: str | Path,
    *,
    frames: int = 40,
    steps: int = 3,
    seed: int = 0,
    cfg_weights: tuple[float, float] = (2.0, 2.0),
    dtype: str = "float64",
    log: Any = print,
) -> dict[str, Any]:
    """Compare our model reloaded from ``out_dir`` with :class:`ReferenceKimodoDenoiser` on ``checkpoint_dir``.

    (a) one denoiser pass on random noisy inputs with a constraint mask, two timesteps and a padded
    sample; (b) ``steps`` DDIM steps with separated guidance from the same seeded noise, given text
    embeddings (no text encoder). Differences are over valid frames.

    ``dtype``: both models run in ``"float64"`` (default) or ``"float32"``. Float32 rounding is
    amplified by the model itself: the body stage reads finite differences of the root stage's
    output (``fps * delta / std``, ~100x) and separated guidance weighs branches by up to 7, so two
    correct float32 implementations whose operations round differently drift apart by ~1e-5 to 1e-4
    within a few DDIM steps. In float64 that drift is ~1e-12, and anything above the tolerance is a
    real difference (a key, a layout, the position table).

    Returns:
        ``{"denoiser_max_abs_diff", "ddim_max_abs_diff", "max_abs_diff", "tolerance", "passed",
        "frames", "steps", "seed", "seconds": {phase: s}}``.
    """
    from motiongen.pipelines.bundle import KIMODOBundle

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise InputError(f"must be an integer >= 2, got {frames!r}", field="--verify-frames")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"must be an integer >= 1, got {steps!r}", field="--verify-steps")
    if dtype not in VERIFY_DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; allowed: {', '.join(VERIFY_DTYPES)}", field="--verify-dtype")
    torch_dtype = getattr(torch, dtype)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    bundle = KIMODOBundle.from_pretrained(out_dir)
    ours = bundle.denoiser.eval().to(torch_dtype)
    seconds["load_ours"] = time.perf_counter() - start
    start = time.perf_counter()
    reference = ReferenceKimodoDenoiser.from_checkpoint(checkpoint_dir).to_dtype(torch_dtype)
    seconds["load_reference"] = time.perf_counter() - start
    frames = min(frames, bundle.max_frames)
    inputs = _verify_inputs(
        bundle.config.feature_dim, bundle.config.text_dim, frames, bundle.schedule.num_train_steps, seed
    )
    for name in ("x", "observed", "mask", "text"):
        inputs[name] = inputs[name].to(torch_dtype)
    b = inputs["x"].shape[0]

    start = time.perf_counter()
    with torch.no_grad():
        mine = ours(
            inputs["x"], inputs["timesteps"], inputs["text"], inputs["observed"], inputs["mask"],
            inputs["heading"], inputs["pad_mask"],
        )
        theirs = reference(
            inputs["x"], inputs["pad_mask"], inputs["text"], torch.ones(b, 1, dtype=torch.bool), inputs["timesteps"],
            inputs["heading"], inputs["mask"], inputs["observed"],
        )
    pass_diff = _max_valid_diff(mine, theirs, inputs["pad_mask"])
    seconds["denoiser_pass"] = time.perf_counter() - start
    log(f"verify ({dtype}): one denoiser pass ({b} samples, {frames} frames, padded): "
        f"max |ours - reference| = {pass_diff:.3g}")

    start = time.perf_counter()
    mine = _our_ddim(
        ours, bundle.schedule, text=inputs["text"], lengths=inputs["lengths"], observed=inputs["observed"],
        mask=inputs["mask"], first_heading=inputs["heading"], steps=steps, cfg_weights=cfg_weights, seed=seed,
    )
    theirs = reference_ddim(
        reference, text=inputs["text"], lengths=inputs["lengths"], observed=inputs["observed"], mask=inputs["mask"],
        first_heading=inputs["heading"], steps=steps, cfg_weights=cfg_weights,
        num_base_steps=bundle.schedule.num_train_steps, seed=seed,
    )
    ddim_diff = _max_valid_diff(mine, theirs, inputs["pad_mask"])
    seconds["ddim"] = time.perf_counter() - start
    log(f"verify ({dtype}): {steps}-step DDIM, separated guidance {cfg_weights[0]:g}/{cfg_weights[1]:g}: "
        f"max |ours - reference| = {ddim_diff:.3g}")
    worst = max(pass_diff, ddim_diff)
    passed = bool(worst <= VERIFY_TOLERANCE)
    log(f"verify: largest difference {worst:.3g} ({'within' if passed else 'ABOVE'} {VERIFY_TOLERANCE:g})")
    return {
        "denoiser_max_abs_diff": pass_diff,
        "ddim_max_abs_diff": ddim_diff,
        "max_abs_diff": worst,
        "tolerance": VERIFY_TOLERANCE,
        "passed": passed,
        "frames": frames,
        "steps": steps,
        "seed": seed,
        "dtype": dtype,
        "seconds": seconds,
    }


# ==================================================================================================
# CLI
# ==================================================================================================
def cmd_convert_checkpoint(args: argparse.Namespace) -> int:
    """Run the conversion; 0 on success, 1 when ``--verify`` finds a difference above the tolerance."""
    report = convert_checkpoint(
        args.model_name,
        args.checkpoint_dir,
        args.out_dir,
        text_encoders_dir=args.text_encoders_dir,
        no_text_encoder=args.no_text_encoder,
        text_encoders_repo=args.text_encoders_repo,
        copy_mode=args.copy_mode,
        verify=args.verify,
        verify_frames=args.verify_frames,
        verify_steps=args.verify_steps,
        verify_dtype=args.verify_dtype,
        seed=args.seed,
        data_dir=args.source,
        cache_dir=args.cache,
    )
    if report.verify is not None and not report.verify["passed"]:
        print(f"motiongen: verification failed: largest difference {report.verify['max_abs_diff']:.3g} "
              f"> {VERIFY_TOLERANCE:g}")
        return 1
    return 0
