"""The SMoG motion autoencoder (MotionCLIP/ACTOR-style transformer, reference smog.md section 2) on ``smplx22``.

Motion in and out as ``motion_135`` frames: the root translation relative to the first frame (3)
followed by the 6D of every joint's local rotation (22 x 6; ``matrix_to_rotation_6d``'s layout). Unlike
SMoG's "translation" row (an ankle offset, reference 2.1 and 7), ours is the real root path.

- **Encoder**: input embedding (``KANLinear`` or ``Linear``) -> a learned ``mu`` and ``sigma`` query
  in front -> sinusoidal positions -> LayerNorm -> transformer encoder -> LayerNorm; the motion latent
  ``z`` is the ``mu`` token (deterministic: SMoG overwrites the sample with ``mu``, no KL).
- **Decoder**: ``z`` layer-normalised without affine parameters (scale-invariant, so a text
  embedding of another norm decodes the same) as the one memory token; zero time queries plus
  positions -> LayerNorm -> non-causal transformer decoder -> LayerNorm -> output layer (``KANLinear``
  or ``Linear``) -> ``[B, T, 135]``, padded frames zeroed.
- ``kan_layers``: ``"none"`` (MotionCLIP), ``"io"`` (SMoG: the input embedding and the output layer,
  exactly two layers, reference 2.4), ``"all"`` (those plus every feed-forward layer of both stacks,
  what SMoG's README claims). ``io_hidden`` (only with ``"none"``) turns the input embedding and the
  output layer into two-layer MLPs of that hidden width: :func:`matched_io_hidden` sizes them to the
  KAN layers' parameter count, the Linear arm of the KAN ablation.

``latent`` equals the text encoder's dimension (384 for MiniLM), as SMoG's equals CLIP's (512): the
motion latent *is* in the text space, so a caption's embedding decodes straight into motion
(:meth:`SMoGAutoencoder.decode`). SMoG's transformer is as wide as its latent; ``width`` (default:
the latent's) lets a CPU-sized model run narrower, with one linear map from the ``mu`` token into
the latent and one from the latent into the decoder's memory.

Features are standardised inside the model (``feature_mean`` / ``feature_std`` buffers, set from
the training windows by :meth:`SMoGAutoencoder.set_feature_statistics`): KAN splines only bend
inside their knot grid (``[-1, 1]`` by default), and raw root paths are metres wide. ``encode``
takes and ``decode`` returns raw ``motion_135`` frames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motiongen.errors import InputError
from motiongen.models.smog.kan import KANConfig, KANLinear, kan_linear_parameter_count

KAN_LAYER_CHOICES = ("none", "io", "all")
#: ``motion_135``: root translation (3) + 22 joints x 6D.
MOTION_135_DIM = 3 + 22 * 6


@dataclass(frozen=True)
class SMoGConfig:
    """Sizes of the autoencoder (``config.json``). SMoG's own: latent 512, 8 + 8 layers, 4 heads, ff 1024."""

    input_dim: int = MOTION_135_DIM
    latent: int = 384
    width: int | None = None
    io_hidden: int | None = None
    layers: int = 4
    heads: int = 4
    ff: int = 768
    dropout: float = 0.1
    max_frames: int = 300
    kan_layers: str = "io"
    kan: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("input_dim", "latent", "layers", "heads", "ff", "max_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"must be an integer >= 1, got {value!r}", field=name)
        for name in ("width", "io_hidden"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InputError(f"must be an integer >= 1 or null, got {value!r}", field=name)
        if self.model_width % self.heads:
            raise InputError(f"width {self.model_width} must be divisible by heads {self.heads}", field="heads")
        if self.io_hidden is not None and self.kan_layers != "none":
            raise InputError("io_hidden (MLP input/output layers) needs kan_layers 'none'", field="io_hidden")
        if self.kan_layers not in KAN_LAYER_CHOICES:
            raise InputError(f"unknown kan_layers '{self.kan_layers}'; allowed: {', '.join(KAN_LAYER_CHOICES)}",
                             field="kan_layers")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise InputError(f"must be a number in [0, 1), got {self.dropout!r}", field="dropout")
        KANConfig.from_dict(self.kan)  # a bad KAN option fails here, naming it

    @property
    def model_width(self) -> int:
        """The transformer's width: ``width``, or the latent's when unset (SMoG's layout)."""
        return self.width or self.latent

    def kan_config(self) -> KANConfig:
        return KANConfig.from_dict(self.kan)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SMoGConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown SMoG config keys {unknown}; known: {sorted(known)}", field="config")
        return cls(**dict(data))


def _sinusoids(length: int, width: int) -> Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: width // 2])
    return table


def _linear(in_features: int, out_features: int, use_kan: bool, kan: KANConfig) -> nn.Module:
    return kan.build(in_features, out_features) if use_kan else nn.Linear(in_features, out_features)


def _io_layer(in_features: int, out_features: int, config: SMoGConfig) -> nn.Module:
    """The input embedding or output layer: KAN, Linear, or a two-layer MLP (``io_hidden``)."""
    if config.io_hidden is not None:
        return nn.Sequential(nn.Linear(in_features, config.io_hidden), nn.GELU(),
                             nn.Linear(config.io_hidden, out_features))
    return _linear(in_features, out_features, config.kan_layers in ("io", "all"), config.kan_config())


def matched_io_hidden(in_features: int, out_features: int, kan: KANConfig) -> int:
    """Hidden width of a ``Linear -> GELU -> Linear`` MLP with (at least) a ``KANLinear``'s parameter count."""
    target = kan_linear_parameter_count(in_features, out_features, kan.grid_size, kan.spline_order,
                                        kan.enable_standalone_scale_spline)
    return max(1, math.ceil((target - out_features) / (in_features + out_features + 1)))


class _FeedForward(nn.Module):
    def __init__(self, config: SMoGConfig, use_kan: bool) -> None:
        super().__init__()
        kan = config.kan_config()
        self.up = _linear(config.model_width, config.ff, use_kan, kan)
        self.down = _linear(config.ff, config.model_width, use_kan, kan)
        self.dropout = nn.Dropout(config.dropout)
        # a KAN edge carries its own nonlinearity; a Linear pair needs one between
        self.activation = nn.Identity() if use_kan else nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.dropout(self.activation(self.up(x))))


class _EncoderLayer(nn.Module):
    """Post-LN encoder layer (PyTorch's default layout, as SMoG) with a pluggable feed-forward block."""

    def __init__(self, config: SMoGConfig, kan_ff: bool) -> None:
        super().__init__()
        width = config.model_width
        self.attention = nn.MultiheadAttention(width, config.heads, dropout=config.dropout, batch_first=True)
        self.feed_forward = _FeedForward(config, kan_ff)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.dropout1, self.dropout2 = nn.Dropout(config.dropout), nn.Dropout(config.dropout)

    def forward(self, x: Tensor, ignore: Tensor | None) -> Tensor:
        x = self.norm1(x + self.dropout1(self.attention(x, x, x, key_padding_mask=ignore, need_weights=False)[0]))
        return self.norm2(x + self.dropout2(self.feed_forward(x)))


class _DecoderLayer(nn.Module):
    """Post-LN decoder layer: self-attention over the time queries (no causal mask), cross-attention to ``z``."""

    def __init__(self, config: SMoGConfig, kan_ff: bool) -> None:
        super().__init__()
        width = config.model_width
        self.self_attention = nn.MultiheadAttention(width, config.heads, dropout=config.dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(width, config.heads, dropout=config.dropout, batch_first=True)
        self.feed_forward = _FeedForward(config, kan_ff)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(3))
        self.dropouts = nn.ModuleList(nn.Dropout(config.dropout) for _ in range(3))

    def forward(self, x: Tensor, memory: Tensor, ignore: Tensor | None) -> Tensor:
        x = self.norms[0](x + self.dropouts[0](self.self_attention(x, x, x, key_padding_mask=ignore, need_weights=False)[0]))
        x = self.norms[1](x + self.dropouts[1](self.cross_attention(x, memory, memory, need_weights=False)[0]))
        return self.norms[2](x + self.dropouts[2](self.feed_forward(x)))


class SMoGAutoencoder(nn.Module):
    """``encode(motion [B, T, 135], valid [B, T]) -> z [B, latent]``; ``decode(z, num_frames | valid) -> [B, T, 135]``."""

    def __init__(self, config: SMoGConfig) -> None:
        super().__init__()
        self.config = config
        all_ff = config.kan_layers == "all"
        width = config.model_width
        self.register_buffer("feature_mean", torch.zeros(config.input_dim))
        self.register_buffer("feature_std", torch.ones(config.input_dim))
        self.input_embedding = _io_layer(config.input_dim, width, config)
        self.mu_query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.sigma_query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.register_buffer("positions", _sinusoids(config.max_frames + 2, width), persistent=False)
        self.encoder_pe_norm = nn.LayerNorm(width)
        self.encoder_layers = nn.ModuleList(_EncoderLayer(config, all_ff) for _ in range(config.layers))
        self.encoder_norm = nn.LayerNorm(width)
        self.decoder_pe_norm = nn.LayerNorm(width)
        self.decoder_layers = nn.ModuleList(_DecoderLayer(config, all_ff) for _ in range(config.layers))
        self.decoder_norm = nn.LayerNorm(width)
        self.output_layer = _io_layer(width, config.input_dim, config)
        narrow = width != config.latent
        self.to_latent = nn.Linear(width, config.latent) if narrow else nn.Identity()
        self.from_latent = nn.Linear(config.latent, width) if narrow else nn.Identity()
        self.dropout = nn.Dropout(config.dropout)

    def set_feature_statistics(self, mean: Tensor, std: Tensor, floor: float = 1e-2) -> None:
        """Standardise features with the training windows' ``mean`` and ``std`` ``[input_dim]``.

        ``std`` is floored at ``floor`` so a near-constant channel is not blown up into noise.
        """
        shape = (self.config.input_dim,)
        if tuple(mean.shape) != shape or tuple(std.shape) != shape:
            raise InputError(f"statistics must have shape {list(shape)}", field="statistics")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise InputError("statistics contain NaN or inf", field="statistics")
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(floor))

    def _check(self, motion: Tensor) -> None:
        if motion.ndim != 3 or motion.shape[-1] != self.config.input_dim:
            raise InputError(f"motion has shape {list(motion.shape)}; expected [B, T, {self.config.input_dim}]",
                             field="motion")
        if motion.shape[1] > self.config.max_frames:
            raise InputError(f"{motion.shape[1]} frames; the model reads at most {self.config.max_frames}", field="motion")

    def encode(self, motion: Tensor, valid: Tensor | None = None) -> Tensor:
        """The motion latent ``z = mu`` ``[B, latent]`` of ``motion [B, T, 135]`` (``valid [B, T]`` bool)."""
        self._check(motion)
        b, t, _ = motion.shape
        x = self.input_embedding((motion - self.feature_mean) / self.feature_std)
        x = torch.cat([self.mu_query.expand(b, -1, -1), self.sigma_query.expand(b, -1, -1), x], 1)
        x = self.dropout(self.encoder_pe_norm(x + self.positions[: t + 2]))
        ignore = None
        if valid is not None:
            ignore = torch.cat([torch.zeros(b, 2, dtype=torch.bool, device=valid.device), ~valid], 1)
        for layer in self.encoder_layers:
            x = layer(x, ignore)
        return self.to_latent(self.encoder_norm(x)[:, 0])

    def decode(self, z: Tensor, num_frames: int | None = None, valid: Tensor | None = None) -> Tensor:
        """``[B, T, 135]`` from latents ``z [B, latent]`` (a motion's, or a caption's text embedding).

        Give ``num_frames`` (all the same length) or ``valid [B, T]`` (per-sample lengths).
        """
        if z.ndim != 2 or z.shape[1] != self.config.latent:
            raise InputError(f"z has shape {list(z.shape)}; expected [B, {self.config.latent}]", field="z")
        if valid is None:
            if num_frames is None or not 1 <= int(num_frames) <= self.config.max_frames:
                raise InputError(f"num_frames must be in [1, {self.config.max_frames}], got {num_frames!r}",
                                 field="num_frames")
            valid = torch.ones(z.shape[0], int(num_frames), dtype=torch.bool, device=z.device)
        b, t = valid.shape
        memory = self.from_latent(F.layer_norm(z, (self.config.latent,)))[:, None]
        x = self.dropout(self.decoder_pe_norm(self.positions[2 : t + 2].expand(b, -1, -1)))
        for layer in self.decoder_layers:
            x = layer(x, memory, ~valid)
        out = self.output_layer(self.decoder_norm(x)) * self.feature_std + self.feature_mean
        return out * valid[..., None]

    def forward(self, motion: Tensor, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(reconstruction [B, T, 135], z [B, latent])``."""
        z = self.encode(motion, valid)
        if valid is None:
            valid = torch.ones(motion.shape[:2], dtype=torch.bool, device=motion.device)
        return self.decode(z, valid=valid), z

    def kan_modules(self) -> list[KANLinear]:
        return [m for m in self.modules() if isinstance(m, KANLinear)]

    def kan_regularization(self) -> Tensor:
        """Sum of the KAN layers' regularisation losses (0 without KAN layers)."""
        terms = [m.regularization_loss() for m in self.kan_modules()]
        return torch.stack(terms).sum() if terms else torch.zeros(())


ALIGNMENT_CHOICES = ("cosine", "infonce", "cosine+infonce")


def text_alignment_loss(
    z: Tensor, text: Tensor, kind: str = "cosine", temperature: float = 0.07, same_text: Tensor | None = None
) -> Tensor:
    """Align motion latents ``z [B, L]`` with their captions' embeddings ``text [B, L]``.

    - ``cosine``: mean ``1 - cos(text, z)``, what SMoG trains with; without negatives the latents
      drift towards the centroid of the (anisotropic) text embeddings, and retrieval stays near
      chance (reference 7.1 b);
    - ``infonce``: symmetric InfoNCE over the batch at ``temperature``; ``same_text [B, B]`` (bool)
      marks pairs sharing a caption, which are not used as negatives of each other;
    - ``cosine+infonce``: their sum: the cosine keeps ``z`` on its caption's embedding (a caption
      decodes into motion), the contrastive term keeps captions apart.
    """
    if kind not in ALIGNMENT_CHOICES:
        raise InputError(f"unknown alignment loss '{kind}'; allowed: {', '.join(ALIGNMENT_CHOICES)}", field="alignment")
    loss = torch.zeros((), device=z.device)
    if kind in ("cosine", "cosine+infonce"):
        loss = loss + (1.0 - F.cosine_similarity(z, text, dim=-1)).mean()
    if kind in ("infonce", "cosine+infonce"):
        logits = F.normalize(text, dim=-1) @ F.normalize(z, dim=-1).T / temperature
        target = torch.arange(z.shape[0], device=z.device)
        if same_text is not None:
            eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
            logits = logits.masked_fill(same_text & ~eye, float("-inf"))
        loss = loss + 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    return loss
