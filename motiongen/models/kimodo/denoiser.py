"""KIMODO's two-stage x0 denoiser (reference 1.2, 1.3).

Each stage is the same transformer encoder block over the sequence

    [ text tokens (num_text_tokens) | time token | heading token | motion frames (T) ]

with a sinusoidal position table added to the whole sequence (position 0 is the first text token).
The root stage predicts the 5 global-root features; they are turned into the 4 "local root"
features (heading rate, world xz velocity, height) that replace them in the body stage's input,
and the body stage predicts the remaining ``D - 5`` features. Constraints enter by overwriting the
input (``x * (1 - mask) + observed * mask``) and concatenating the mask.

Parameter names follow KIMODO's checkpoints (``root_model.input_linear``, ``root_model.embed_text``,
``root_model.embed_timestep.time_embed.{0,2}``, ``root_model.linear_first_heading_angle``,
``root_model.seqTransEncoder.layers.N.*``, ``root_model.output_linear``; the same under
``body_model``). The position table and the feature statistics are non-persistent buffers: the
statistics live in the bundle's ``stats/`` folder, not in the weights.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from motiongen.errors import InputError
from motiongen.models.kimodo.config import MAX_POSITIONS, KimodoDenoiserConfig
from motiongen.motion.kimodo_features import GLOBAL_ROOT_DIM, LOCAL_ROOT_DIM, NORM_EPS, FeatureStats


def sinusoidal_table(length: int, width: int, precision: str = "float64") -> torch.Tensor:
    """``[length, width]`` float32 sinusoidal positions: sin on even channels, cos on odd, frequencies ``10000^(-2i/width)``.

    ``precision="float64"`` computes the table in float64 and rounds it; ``"float32"`` computes it
    the way KIMODO's ``PositionalEncoding`` does (``torch.pow`` and the products in float32), whose
    rounding of ``position * freq`` its released weights were trained with.
    """
    if precision == "float32":
        position32 = torch.arange(0, length, dtype=torch.float).unsqueeze(1)
        freq32 = torch.pow(10000.0, -torch.arange(0, width, 2).float() / width)
        table32 = torch.zeros(length, width)
        table32[:, 0::2] = torch.sin(position32 * freq32)
        table32[:, 1::2] = torch.cos(position32 * freq32)
        return table32
    if precision != "float64":
        raise InputError(f"unknown precision {precision!r}; allowed: float64, float32", field="precision")
    position = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float64) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)
    return table.float()


class TimestepEmbedder(nn.Module):
    """Time token ``[B, 1, width]``: ``Linear - SiLU - Linear`` of the position-table row of each timestep."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.time_embed = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, timesteps: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return self.time_embed(table[timesteps])[:, None, :]


class TransformerStage(nn.Module):
    """One stage: ``[B, T, in_dim]`` motion plus conditioning -> ``[B, T, out_dim]``.

    Post-LN encoder (LayerNorm after each residual add, eps 1e-5), exact GELU, batch first;
    nested tensors are disabled so padded batches give the same numbers as unpadded ones.
    """

    def __init__(self, in_dim: int, out_dim: int, config: KimodoDenoiserConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.input_linear = nn.Linear(in_dim, width)
        self.embed_text = nn.Linear(config.text_dim, width)
        self.embed_timestep = TimestepEmbedder(width)
        if config.first_heading_token:
            self.linear_first_heading_angle = nn.Linear(2, width)
        layer = nn.TransformerEncoderLayer(
            width,
            config.heads,
            config.ff,
            config.dropout,
            activation=config.activation,
            batch_first=True,
            norm_first=config.norm_first,
        )
        self.seqTransEncoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.output_linear = nn.Linear(width, out_dim)
        self.register_buffer(
            "position_table", sinusoidal_table(MAX_POSITIONS, width, config.position_table_precision), persistent=False
        )

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        text: torch.Tensor,
        first_heading: torch.Tensor,
        pad_mask: torch.Tensor | None,
        text_valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x [B,T,in_dim]``, ``timesteps [B]`` long, ``text [B, num_text_tokens, text_dim]`` (already
        padded), ``first_heading [B]`` radians, ``pad_mask [B,T]`` bool (True = valid) or None,
        ``text_valid [B, num_text_tokens]`` bool (True = attended; only with ``use_text_mask``)."""
        b, t = x.shape[:2]
        tokens = [self.embed_text(text), self.embed_timestep(timesteps, self.position_table)]
        if self.config.first_heading_token:
            angle = torch.stack([torch.cos(first_heading), torch.sin(first_heading)], -1).to(x.dtype)
            tokens.append(self.linear_first_heading_angle(angle)[:, None, :])
        prefix = torch.cat(tokens, 1)
        seq = torch.cat([prefix, self.input_linear(x)], 1)
        # one table for the whole sequence: motion frame k sits at position prefix + k (reference 1.2 step 6)
        seq = seq + self.position_table[: seq.shape[1]].to(seq.dtype)
        key_padding = None
        hide_text = text_valid is not None and self.config.use_text_mask
        if pad_mask is not None or hide_text:
            # True = ignore; the prefix is always attended unless use_text_mask hides text padding
            key_padding = torch.zeros(b, seq.shape[1], dtype=torch.bool, device=x.device)
            if pad_mask is not None:
                key_padding[:, prefix.shape[1] :] = ~pad_mask
            if hide_text:
                key_padding[:, : text_valid.shape[1]] = ~text_valid.to(torch.bool)
        out = self.seqTransEncoder(seq, src_key_padding_mask=key_padding)
        return self.output_linear(out[:, -t:])


class TwoStageDenoiser(nn.Module):
    """KIMODO's ``TwostageDenoiser``: x0 prediction in normalised feature space.

    Args:
        config: the sizes.
        stats: feature statistics; the global-root and local-root parts are kept (as non-persistent
            buffers) for the root -> local-root conversion between the stages. ``None`` means mean 0,
            std 1 (for tests and untrained models).
    """

    def __init__(self, config: KimodoDenoiserConfig, stats: FeatureStats | None = None) -> None:
        super().__init__()
        self.config = config
        d = config.feature_dim
        if stats is not None and stats.dim != d:
            raise InputError(
                f"feature statistics cover {stats.dim} dims but the config has feature_dim {d}", field="stats"
            )
        # root stage: [x_blend (D), mask (D)] -> global root (5)
        self.root_model = TransformerStage(2 * d, GLOBAL_ROOT_DIM, config)
        # body stage: [local root (4), x_blend[5:] (D-5), mask (D)] -> body (D-5)
        self.body_model = TransformerStage(LOCAL_ROOT_DIM + (d - GLOBAL_ROOT_DIM) + d, d - GLOBAL_ROOT_DIM, config)
        self.set_stats(stats)

    def set_stats(self, stats: FeatureStats | None) -> None:
        """(Re)place the global-root and local-root statistics used between the stages."""

        def pair(mean: np.ndarray | None, std: np.ndarray | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
            if mean is None or std is None:
                return torch.zeros(n), torch.ones(n)
            # same scale as FeatureStats.normalize: sqrt(std^2 + eps)
            return torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(np.sqrt(std**2 + NORM_EPS), dtype=torch.float32)

        g = pair(None if stats is None else stats.global_root_mean, None if stats is None else stats.global_root_std, 5)
        loc = pair(None if stats is None else stats.local_root_mean, None if stats is None else stats.local_root_std, 4)
        device = next(self.parameters()).device
        for name, value in zip(("global_root_mean", "global_root_scale", "local_root_mean", "local_root_scale"), g + loc):
            self.register_buffer(name, value.to(device), persistent=False)

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    @property
    def max_frames(self) -> int:
        return self.config.max_frames

    @property
    def max_sequence_frames(self) -> int:
        """The most frames one forward pass accepts (the position table's limit)."""
        return MAX_POSITIONS - self.config.prefix_tokens

    # ----------------------------------------------------------------------------------------------
    def local_root(self, root: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised local root ``[B, T, 4]`` from a normalised global-root prediction ``[B, T, 5]``.

        Unnormalise with the global-root stats; per frame: heading rate ``fps * wrap(θ[t+1] - θ[t])``
        (θ from the predicted cos/sin), world-frame smooth-root velocity x and z (forward
        difference), and the root height; the last valid frame of each sample copies the one before
        (0 for a single frame); normalise with the local-root stats. This is
        :func:`motiongen.motion.kimodo_features.local_root_features` made aware of padding, so a
        sample's valid frames never read its padded ones.
        """
        fps = self.config.fps
        # float64 stays float64 (exact comparisons); other dtypes compute in float32
        r = (root if root.dtype == torch.float64 else root.float()) * self.global_root_scale + self.global_root_mean
        x, y, z, cos, sin = r.unbind(-1)
        if r.shape[1] > 1:
            # sin/cos of θ[t+1] - θ[t]; atan2 of the pair ignores the scale of un-normalised (cos, sin)
            ds = sin[:, 1:] * cos[:, :-1] - cos[:, 1:] * sin[:, :-1]
            dc = cos[:, 1:] * cos[:, :-1] + sin[:, 1:] * sin[:, :-1]
            fwd = torch.stack([torch.atan2(ds, dc), x[:, 1:] - x[:, :-1], z[:, 1:] - z[:, :-1]], -1) * fps
            fwd = torch.cat([fwd, fwd[:, -1:]], 1)  # [B, T, 3]; the last row is replaced below
            prev = torch.cat([torch.zeros_like(fwd[:, :1]), fwd[:, :-1]], 1)
        else:
            fwd = prev = torch.zeros(r.shape[0], 1, 3, dtype=r.dtype, device=r.device)
        valid = torch.ones_like(x, dtype=torch.bool) if pad_mask is None else pad_mask.bool()
        next_valid = torch.cat([valid[:, 1:], torch.zeros_like(valid[:, :1])], 1)
        last = (valid & ~next_valid)[..., None]
        local = torch.cat([torch.where(last, prev, fwd), y[..., None]], -1)
        return (local - self.local_root_mean) / self.local_root_scale

    def forward(
        self,
        x_t: torch.Tensor,
        timesteps: torch.Tensor,
        text: torch.Tensor,
        observed: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        first_heading: torch.Tensor | float | None = None,
        pad_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the clean sample.

        Args:
            x_t: ``[B, T, D]`` noisy normalised features.
            timesteps: ``[B]`` base diffusion step indices (0 .. num_train_steps-1).
            text: ``[B, L, text_dim]`` text features (``[B, text_dim]`` is one token); zero-padded
                (or cropped, with a warning) to ``num_text_tokens``. Zeros = unconditional.
            observed: ``[B, T, D]`` normalised constraint values (only masked entries matter).
            mask: ``[B, T, D]`` 0/1 constraint mask (bool or float); ``None`` = unconstrained.
            first_heading: ``[B]`` first-frame heading in radians (default 0 = facing +Z).
            pad_mask: ``[B, T]`` bool, True on valid frames; ``None`` = all valid.

        Returns:
            ``[B, T, D]`` normalised x0 prediction ``[root (5) | body (D-5)]``. Padded frames hold
            arbitrary values.
        """
        b, t, d = self._check(x_t, timesteps, text)
        device, dtype = x_t.device, x_t.dtype
        mask = torch.zeros_like(x_t) if mask is None else mask.to(dtype)
        observed = torch.zeros_like(x_t) if observed is None else observed.to(dtype)
        for name, value in (("observed", observed), ("mask", mask)):
            if tuple(value.shape) != (b, t, d):
                raise InputError(f"{name} has shape {list(value.shape)}; expected {[b, t, d]}", field=name)
        if first_heading is None:
            first_heading = torch.zeros(b, device=device)
        first_heading = torch.as_tensor(first_heading, dtype=torch.float32, device=device).expand(b)
        if pad_mask is not None:
            if tuple(pad_mask.shape) != (b, t):
                raise InputError(f"pad_mask has shape {list(pad_mask.shape)}; expected {[b, t]}", field="pad_mask")
            pad_mask = pad_mask.to(device=device, dtype=torch.bool)
        given_tokens = 1 if text.ndim == 2 else text.shape[1]
        text = self._pad_text(text.to(device=device, dtype=dtype))
        text_valid = None
        if self.config.use_text_mask:
            text_valid = (torch.arange(text.shape[1], device=device) < given_tokens)[None].expand(b, -1)

        x_blend = x_t * (1 - mask) + observed * mask
        root = self.root_model(torch.cat([x_blend, mask], -1), timesteps, text, first_heading, pad_mask, text_valid)
        if self.training:
            # KIMODO cuts the gradient between the stages in training; each stage learns its own targets
            with torch.no_grad():
                local = self.local_root(root.detach(), pad_mask)
        else:
            local = self.local_root(root, pad_mask)
        body_in = torch.cat([local.to(x_blend.dtype), x_blend[..., GLOBAL_ROOT_DIM:], mask], -1)
        body = self.body_model(body_in, timesteps, text, first_heading, pad_mask, text_valid)
        return torch.cat([root.to(body.dtype), body], -1)

    # ----------------------------------------------------------------------------------------------
    def _check(self, x_t: torch.Tensor, timesteps: torch.Tensor, text: torch.Tensor) -> tuple[int, int, int]:
        if x_t.ndim != 3 or x_t.shape[-1] != self.config.feature_dim:
            raise InputError(
                f"x_t has shape {list(x_t.shape)}; expected [B, T, {self.config.feature_dim}]", field="x_t"
            )
        b, t, d = x_t.shape
        if not 1 <= t <= self.max_sequence_frames:
            raise InputError(f"{t} frames; the denoiser takes 1 to {self.max_sequence_frames}", field="num_frames")
        if tuple(timesteps.shape) != (b,) or timesteps.dtype.is_floating_point:
            raise InputError(f"timesteps must be an integer tensor of shape [{b}], got {list(timesteps.shape)}", field="timesteps")
        if text.ndim not in (2, 3) or text.shape[0] != b or text.shape[-1] != self.config.text_dim:
            raise InputError(
                f"text has shape {list(text.shape)}; expected [{b}, L, {self.config.text_dim}] or [{b}, {self.config.text_dim}]",
                field="text",
            )
        return b, t, d

    def _pad_text(self, text: torch.Tensor) -> torch.Tensor:
        """``[B, num_text_tokens, text_dim]``: zero rows appended (they embed to the Linear bias), or cropped."""
        if text.ndim == 2:
            text = text[:, None, :]
        n = self.config.num_text_tokens
        if text.shape[1] > n:
            warnings.warn(f"text has {text.shape[1]} tokens; cropping to num_text_tokens={n}", stacklevel=3)
            return text[:, :n]
        if text.shape[1] < n:
            pad = torch.zeros(text.shape[0], n - text.shape[1], text.shape[2], dtype=text.dtype, device=text.device)
            text = torch.cat([text, pad], 1)
        return text
