"""Train the SMoG autoencoder: ``motiongen train smog --config configs/smog_smplx.yaml``.

One step (spelled out in :func:`train_smog`):

1. draw ``batch_size`` training clips (uniformly, mirrored copies included), one random caption of
   each and a random window of exactly ``num_frames`` frames (inside the caption's time window when
   it has one), canonicalised as a motion of its own (:mod:`motiongen.models.smog.features`);
2. encode and decode it (:class:`~motiongen.models.smog.model.SMoGAutoencoder`);
3. SMoG's losses (reference smog.md 2.7), :func:`smog_losses`: ``rc`` (MSE of the ``motion_135``
   features), ``rcxyz`` (MSE of forward-kinematics joint positions; SMoG uses SMPL vertices),
   ``vel`` (MSE of the features' frame differences), each weighted 100 as SMoG, plus the text
   alignment of the latent ``z`` with the caption's unit MiniLM embedding (``cosine``, SMoG's,
   ``infonce``, or both) and, optionally, the KAN layers' regulariser;
4. AdamW (SMoG: lr 1e-4, betas (0.9, 0.999), weight decay 0.01, constant LR, no clipping; the
   warm-up + cosine schedule and clipping are available), then the EMA of the weights (exported).

Clips shorter than ``num_frames`` are skipped (the log says how many). Validation on the ``val``
split: the mean of every loss over a fixed set of windows (one per clip, its first caption) and
motion-to-text retrieval R@1 / R@5 among those windows' *distinct* captions, logged beside the
number of motions and candidates and the chance level ``k / candidates``: identical caption strings
are one candidate, so a perfect encoder scores 1 (reference 7.1 a) and the figure is read against
chance, which SMoG's table did not print.

Distributed: ``torchrun --nproc_per_node N -m motiongen.train.smog --config FILE`` trains with
DistributedDataParallel (gloo on CPU, nccl on CUDA, the helpers of :mod:`motiongen.train.kimodo`);
each process draws its own ``batch_size`` windows, so a step averages the gradients of
``batch_size x N`` windows. Rank 0 prepares ``data/``, logs, validates and checkpoints (every
rank's random streams included); every rank resumes from the checkpoint rank 0 picked.

Run folder: ``config.json``, ``metrics.jsonl``, ``checkpoints/step-XXXXXXXX.pt`` and ``data/``
(every clip's world-frame features and every caption's embedding, computed once, reused on resume).
:func:`export_smog` writes the EMA weights as a model folder (``config.json`` format
``motiongen.smog/1``, ``model.safetensors``, ``skeleton.json``, ``README.md``; :class:`~motiongen.pipelines.smog.SMoGPipeline` loads it).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from motiongen import __version__
from motiongen.data.captions import caption_window_frames
from motiongen.errors import InputError, MotiongenError
from motiongen.models.smog.features import canonical_window, positions_from_135, smog_feature_dim, world_135
from motiongen.models.smog.model import ALIGNMENT_CHOICES, SMoGAutoencoder, SMoGConfig, text_alignment_loss
from motiongen.skeleton.skeleton import Skeleton
from motiongen.train.config import DEVICES, apply_overrides, read_config_file
from motiongen.train.loop import decay_groups, load_checkpoint, open_run_dir, save_checkpoint
from motiongen.train.kimodo import (
    SOURCE_LICENCES,
    DistInfo,
    MetricsLog,
    _cpu_cores,
    _device,
    _setup_distributed,
    checkpoint_dir,
    ema_decay_at,
    ema_update,
    latest_checkpoint,
    learning_rate,
    resolve_checkpoint,
    weights_digest,
)

CHECKPOINT_FORMAT = "motiongen.smog_checkpoint/1"
DATA_DIR = "data"
ALIGNMENTS = ALIGNMENT_CHOICES
RETRIEVAL_KS = (1, 5)
#: The built dataset's frame rate (``smplx22-30fps``), the exported model's.
FPS = 30.0
LOSS_NAMES = ("rc", "rcxyz", "vel", "text", "kan_reg")
#: SMoGConfig fields that follow from the data (``input_dim``) and the text encoder (``latent``).
_DERIVED_MODEL_KEYS = ("input_dim", "latent")


@dataclass
class SMoGTrainConfig:
    """Everything a SMoG training run reads (stored in every checkpoint).

    Data: ``output_dir`` (run folder), ``cache`` (motiongen cache with ``datasets/`` and ``text/``),
    ``dataset`` (a built dataset folder; default the full build), ``mirrored`` (train on mirrored
    copies too), ``text_encoder`` (spec for :func:`~motiongen.text.registry.load_text_encoder`; its
    dimension is the latent's). Model: ``model`` sets :class:`SMoGConfig` sizes (not ``input_dim`` or
    ``latent``: derived). Windows: ``batch_size`` windows of exactly ``num_frames`` frames per step
    (at most ``model.max_frames``). Optimisation: AdamW ``lr``/``betas``/``weight_decay``,
    ``warmup_steps`` then cosine to ``lr * min_lr_ratio`` at ``total_steps`` (1.0: constant, as SMoG),
    ``grad_clip`` (null: none, as SMoG), ``ema_decay``. Loss: ``lambda_rc``, ``lambda_rcxyz``,
    ``lambda_vel``, ``lambda_text`` (with ``alignment`` ``cosine``, ``infonce`` or ``cosine+infonce`` at ``temperature``),
    ``lambda_kan_reg``. Bookkeeping: ``val_windows`` (at most this many val clips), ``log_every``,
    ``val_every``, ``checkpoint_every``, ``keep_checkpoints``; ``time_limit_minutes`` stops cleanly
    with a checkpoint; ``threads`` (0: all cores, shared between the processes under torchrun);
    ``device`` (``cpu``, the default, ``cuda`` or ``auto``; under torchrun each process takes the GPU
    of its local rank); ``seed``; ``progress``.
    """

    output_dir: str = "runs/smog-smplx"
    cache: str | None = None
    dataset: str | None = None
    mirrored: bool = True
    text_encoder: Any = "minilm"
    model: dict[str, Any] = field(default_factory=dict)
    num_frames: int = 60
    batch_size: int = 20
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    total_steps: int = 3000
    min_lr_ratio: float = 1.0
    grad_clip: float | None = None
    ema_decay: float = 0.999
    lambda_rc: float = 100.0
    lambda_rcxyz: float = 100.0
    lambda_vel: float = 100.0
    lambda_text: float = 1.0
    lambda_kan_reg: float = 0.0
    alignment: str = "cosine"
    temperature: float = 0.07
    val_windows: int = 256
    log_every: int = 25
    val_every: int = 250
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    time_limit_minutes: float | None = None
    threads: int = 0
    device: str = "cpu"
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (("num_frames", 2), ("batch_size", 2), ("total_steps", 1), ("val_windows", 2),
                          ("log_every", 1), ("val_every", 1), ("checkpoint_every", 1), ("keep_checkpoints", 1)):
            _check_int(name, getattr(self, name), low)
        for name in ("warmup_steps", "threads", "seed"):
            _check_int(name, getattr(self, name), 0)
        for name, low, high in (("lr", 0.0, 1.0), ("weight_decay", 0.0, 1.0), ("min_lr_ratio", 0.0, 1.0),
                                ("ema_decay", 0.0, 1.0), ("lambda_rc", 0.0, math.inf), ("lambda_rcxyz", 0.0, math.inf),
                                ("lambda_vel", 0.0, math.inf), ("lambda_text", 0.0, math.inf),
                                ("lambda_kan_reg", 0.0, math.inf), ("temperature", 1e-6, math.inf)):
            setattr(self, name, _check_float(name, getattr(self, name), low, high))
        for name in ("mirrored", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"must be true or false, got {getattr(self, name)!r}", field=name)
        if isinstance(self.betas, (str, bytes)) or not isinstance(self.betas, Sequence) or len(self.betas) != 2:
            raise InputError(f"must be a pair [beta1, beta2], got {self.betas!r}", field="betas")
        self.betas = tuple(_check_float("betas", b, 0.0, 0.999999) for b in self.betas)  # type: ignore[assignment]
        if self.grad_clip is not None:
            self.grad_clip = _check_float("grad_clip", self.grad_clip, 1e-12, math.inf)
        if self.device not in DEVICES:
            raise InputError(f"must be one of {', '.join(DEVICES)}, got {self.device!r}", field="device")
        if self.alignment not in ALIGNMENTS:
            raise InputError(f"unknown alignment '{self.alignment}'; allowed: {', '.join(ALIGNMENTS)}", field="alignment")
        if not isinstance(self.text_encoder, (str, Mapping)):
            raise InputError("must be a text encoder spec such as 'minilm' or a mapping", field="text_encoder")
        if self.time_limit_minutes is not None and (
            isinstance(self.time_limit_minutes, bool) or not isinstance(self.time_limit_minutes, (int, float))
            or not self.time_limit_minutes > 0
        ):
            raise InputError(f"must be a positive number or null, got {self.time_limit_minutes!r}",
                             field="time_limit_minutes")
        if not isinstance(self.model, Mapping):
            raise InputError("must be a mapping of SMoG sizes", field="model")
        known = [f.name for f in fields(SMoGConfig) if f.name not in _DERIVED_MODEL_KEYS]
        for key in self.model:
            if key not in known:
                raise InputError(f"unknown key; known: {', '.join(known)} (input_dim and latent follow from the "
                                 "data and the text encoder)", field=f"model.{key}")
        sizes = self.model_config(smog_feature_dim(22), text_dim(self.text_encoder))
        if self.num_frames > sizes.max_frames:
            raise InputError(f"{self.num_frames} exceeds model.max_frames {sizes.max_frames}", field="num_frames")

    def model_config(self, input_dim: int, latent: int) -> SMoGConfig:
        """The autoencoder's config for features of ``input_dim`` and a ``latent``-wide text space."""
        try:
            return SMoGConfig(**{**self.model, "input_dim": input_dim, "latent": latent})
        except InputError as exc:
            if exc.field in _DERIVED_MODEL_KEYS or exc.field is None:
                raise
            # KANConfig names its own keys; they live under model.kan
            smog_keys = {f.name for f in fields(SMoGConfig)}
            where = f"model.{exc.field}" if exc.field in smog_keys else f"model.kan.{exc.field}"
            raise InputError(str(exc).split(": ", 1)[-1], field=where) from None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str | Path | None = None) -> "SMoGTrainConfig":
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise InputError(f"unknown key '{key}'; known: {', '.join(known)}", path=path, field=str(key))
        return cls(**dict(data))


def text_dim(spec: Any) -> int:
    """Width of the text encoder ``spec`` names, the latent's (reads its config, loads no weights)."""
    from motiongen.text.registry import load_text_encoder

    try:
        return int(load_text_encoder(spec, cache_dir=False).dim)
    except MotiongenError as exc:
        raise InputError(str(exc), field="text_encoder") from None


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"must be an integer >= {low}, got {value!r}", field=name)
    return value


def _check_float(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise InputError(f"must be a number in [{low}, {high}], got {value!r}", field=name)
    return float(value)


def load_smog_config(path: str | Path, overrides: Mapping[str, Any] | Sequence[str] | None = None) -> SMoGTrainConfig:
    """Read a SMoG training config (YAML or JSON) and apply ``key=value`` overrides (``model.layers=2``)."""
    data = apply_overrides(read_config_file(path), overrides, known=[f.name for f in fields(SMoGTrainConfig)])
    return SMoGTrainConfig.from_dict(data, path=path)


# ==================================================================================================
# Data: world-frame features of every clip and the embedding of every caption, once per run folder
# ==================================================================================================
@dataclass
class ClipSplit:
    """One split as the trainer reads it.

    ``frames[i]`` ``[T_i, D]`` world-frame features and ``headings[i]`` ``[T_i]`` (see
    :func:`~motiongen.models.smog.features.world_135`); ``caption_ids[i]`` index the caption table;
    ``caption_windows[i][k]`` is caption ``k``'s ``(start, end)`` frames, or None for the whole clip.
    """

    frames: list[np.ndarray]
    headings: list[np.ndarray]
    caption_ids: list[list[int]]
    caption_windows: list[list[tuple[int, int] | None]]
    clip_ids: list[str]

    def long_enough(self, num_frames: int) -> np.ndarray:
        """Indices of the clips with at least ``num_frames`` frames."""
        return np.array([i for i, f in enumerate(self.frames) if len(f) >= num_frames], dtype=np.int64)


@dataclass
class CaptionTable:
    """Every caption once, with its unit text embedding ``[N, dim]`` float32."""

    texts: list[str]
    embeddings: np.ndarray
    encoder_spec: Any
    encoder_identifier: str


def _dataset_folder(cfg: SMoGTrainConfig) -> Path:
    from motiongen.train.features import dataset_source

    _, path = dataset_source(cache=cfg.cache, dataset=cfg.dataset)
    return path


def _text_encoder(cfg: SMoGTrainConfig) -> Any:
    from motiongen.text.registry import load_text_encoder

    return load_text_encoder(cfg.text_encoder, cache_dir=None if cfg.cache is None else Path(cfg.cache) / "text")


def _fingerprint(folder: Path, mirrored: bool, encoder_identifier: str) -> str:
    manifest = (folder / "manifest.json").read_bytes()
    extra = f"|mirrored={mirrored}|text={encoder_identifier}|smog-features=1"
    return hashlib.sha256(manifest + extra.encode()).hexdigest()[:16]


def read_split(folder: Path, split: str, mirrored: bool, progress: bool) -> tuple[ClipSplit, list[list[str]]]:
    """Every clip of ``split`` in a built dataset ``folder`` as :func:`world_135` features, with its captions
    (``caption_ids`` left empty: the caller indexes the captions)."""
    from tqdm import tqdm

    from motiongen.data.dataset import MotionDataset

    ds = MotionDataset(split=split, mirrored=mirrored, root=folder)
    out = ClipSplit([], [], [], [], [])
    captions: list[list[str]] = []
    for i in tqdm(range(len(ds)), desc=f"smog features ({split})", disable=not progress, unit="clip"):
        motion, caps = ds[i]
        if motion.num_frames < 2 or not caps:
            continue
        frames, heading = world_135(motion)
        windows = list(motion.meta.get("caption_windows") or [])
        if len(windows) != len(caps):
            windows = [None] * len(caps)
        out.frames.append(frames)
        out.headings.append(heading)
        out.caption_windows.append([caption_window_frames(w, motion.fps, motion.num_frames) for w in windows])
        out.clip_ids.append(str(motion.meta["clip_id"]))
        captions.append(list(caps))
    return out, captions


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def prepare_smog_data(
    cfg: SMoGTrainConfig, run_dir: Path, *, progress: bool = True
) -> tuple[dict[str, ClipSplit], CaptionTable, Skeleton]:
    """``({"train", "val"} splits, caption table, skeleton)``, from ``run_dir/data`` when up to date."""
    from motiongen.data.dataset import SKELETON_FILE as DATASET_SKELETON

    folder = _dataset_folder(cfg)
    skeleton = Skeleton.from_dict(json.loads((folder / DATASET_SKELETON).read_text()))
    encoder = _text_encoder(cfg)
    spec = getattr(encoder, "spec", None) or cfg.text_encoder
    data_dir = run_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    cached = data_dir / f"clips-{_fingerprint(folder, cfg.mirrored, encoder.identifier)}.npz"
    splits: dict[str, ClipSplit] = {}
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            for split in ("train", "val"):
                offsets = z[f"{split}_offsets"]
                frames, headings = z[f"{split}_frames"], z[f"{split}_headings"]
                cut = [slice(offsets[i], offsets[i + 1]) for i in range(len(offsets) - 1)]
                windows = [[None if w is None else (int(w[0]), int(w[1])) for w in clip]
                           for clip in meta[f"{split}_windows"]]
                splits[split] = ClipSplit([frames[s] for s in cut], [headings[s] for s in cut],
                                          meta[f"{split}_captions"], windows, meta[f"{split}_ids"])
            table = CaptionTable(meta["texts"], z["embeddings"], spec, encoder.identifier)
        return splits, table, skeleton
    raw = {s: read_split(folder, s, cfg.mirrored and s == "train", progress) for s in ("train", "val")}
    texts = sorted({c for _, caps in raw.values() for clip in caps for c in clip})
    index = {t: i for i, t in enumerate(texts)}
    embeddings = _unit_rows(np.asarray(encoder.encode(texts), dtype=np.float32).reshape(len(texts), encoder.dim))
    meta: dict[str, Any] = {"texts": texts}
    arrays: dict[str, np.ndarray] = {"embeddings": embeddings}
    dim = smog_feature_dim(skeleton.num_joints)
    for split, (clips, caps) in raw.items():
        clips.caption_ids = [[index[c] for c in clip] for clip in caps]
        meta[f"{split}_captions"], meta[f"{split}_ids"] = clips.caption_ids, clips.clip_ids
        meta[f"{split}_windows"] = [[None if w is None else list(w) for w in clip] for clip in clips.caption_windows]
        arrays[f"{split}_frames"] = np.concatenate(clips.frames) if clips.frames else np.zeros((0, dim), np.float32)
        arrays[f"{split}_headings"] = np.concatenate(clips.headings) if clips.headings else np.zeros(0)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(f) for f in clips.frames]).astype(np.int64)
        splits[split] = clips
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = cached.with_name(cached.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cached)
    return splits, CaptionTable(texts, embeddings, spec, encoder.identifier), skeleton


# ==================================================================================================
# Windows and batches
# ==================================================================================================
@dataclass
class SMoGBatch:
    """``motion [B, T, D]`` canonical windows, ``valid [B, T]``, ``text [B, latent]`` unit caption
    embeddings and the caption indices ``[B]`` they came from."""

    motion: torch.Tensor
    valid: torch.Tensor
    text: torch.Tensor
    caption_ids: np.ndarray

    def to(self, device: torch.device) -> "SMoGBatch":
        """The same batch with its tensors on ``device`` (the caption indices stay a numpy array)."""
        return SMoGBatch(self.motion.to(device), self.valid.to(device), self.text.to(device), self.caption_ids)


#: ``(clip, start frame, caption id)`` of one window.
Pick = tuple[int, int, int]


def window_start_range(clip_frames: int, num_frames: int, caption_window: tuple[int, int] | None) -> tuple[int, int]:
    """Lowest and highest start (inclusive) of a ``num_frames`` window for a caption.

    Inside the caption's time window when it is long enough; otherwise a window that covers the
    captioned part (clamped to the clip).
    """
    last = clip_frames - num_frames
    if caption_window is None:
        return 0, last
    w0, w1 = caption_window
    if w1 - w0 >= num_frames:
        return w0, w1 - num_frames
    return max(0, w1 - num_frames), min(w0, last)


def random_picks(split: ClipSplit, eligible: np.ndarray, count: int, num_frames: int, rng: np.random.Generator) -> list[Pick]:
    """``count`` random windows: a clip uniformly among ``eligible``, a random caption and start."""
    clips = rng.choice(eligible, size=count, replace=len(eligible) < count)
    picks = []
    for c in clips:
        k = int(rng.integers(len(split.caption_ids[c])))
        lo, hi = window_start_range(len(split.frames[c]), num_frames, split.caption_windows[c][k])
        picks.append((int(c), int(rng.integers(lo, hi + 1)), int(split.caption_ids[c][k])))
    return picks


def validation_picks(split: ClipSplit, num_frames: int, limit: int, seed: int = 0) -> list[Pick]:
    """A fixed window per long-enough clip (at most ``limit`` clips, seeded): its first caption."""
    rng = np.random.default_rng(seed)
    eligible = split.long_enough(num_frames)
    if len(eligible) > limit:
        eligible = np.sort(rng.choice(eligible, size=limit, replace=False))
    picks = []
    for c in eligible:
        lo, hi = window_start_range(len(split.frames[c]), num_frames, split.caption_windows[c][0])
        picks.append((int(c), int(rng.integers(lo, hi + 1)), int(split.caption_ids[c][0])))
    return picks


def make_batch(split: ClipSplit, table: CaptionTable, picks: Sequence[Pick], num_frames: int) -> SMoGBatch:
    """Canonical windows of ``picks`` with their captions' embeddings."""
    motion = np.stack([canonical_window(split.frames[c], split.headings[c], s, num_frames) for c, s, _ in picks])
    ids = np.array([cap for _, _, cap in picks], dtype=np.int64)
    return SMoGBatch(
        torch.from_numpy(motion), torch.ones(motion.shape[:2], dtype=torch.bool),
        torch.from_numpy(table.embeddings[ids]), ids,
    )


def feature_statistics(
    split: ClipSplit, eligible: np.ndarray, num_frames: int, *, windows: int = 4096, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(mean, std)`` ``[D]`` of ``windows`` random canonical training windows (seeded).

    Canonical windows, not whole clips: a window's root path starts at the origin facing +Z, so its
    translation spread differs from the clips' world paths.
    """
    rng = np.random.default_rng([seed, 1])
    picks = random_picks(split, eligible, windows, num_frames, rng)
    frames = np.concatenate([canonical_window(split.frames[c], split.headings[c], s, num_frames) for c, s, _ in picks])
    return torch.from_numpy(frames.mean(0)), torch.from_numpy(frames.std(0))


# ==================================================================================================
# Losses (reference smog.md 2.7)
# ==================================================================================================
def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(a - b)^2`` over the entries of the frames where ``mask [B, T]`` is True."""
    weight = mask.reshape(*mask.shape, *([1] * (a.ndim - mask.ndim))).to(a.dtype)
    per_frame = a[0, 0].numel()
    return ((a - b) ** 2 * weight).sum() / (weight.sum() * per_frame).clamp_min(1.0)


def reconstruction_losses(
    target: torch.Tensor, output: torch.Tensor, valid: torch.Tensor, skeleton: Skeleton
) -> dict[str, torch.Tensor]:
    """SMoG's ``rc``, ``rcxyz`` and ``vel`` between features ``[B, T, D]`` over ``valid [B, T]`` frames.

    ``rcxyz`` compares the skeleton's joint positions, root path included (SMoG: SMPL vertices
    without translation, as its "translation" is no root path).
    """
    with torch.no_grad():
        target_positions = positions_from_135(target, skeleton)
    # SMoG masks velocities with mask[..., 1:]; both ends must be real frames, the same for prefix masks
    pairs = valid[:, 1:] & valid[:, :-1]
    return {
        "rc": _masked_mse(output, target, valid),
        "rcxyz": _masked_mse(positions_from_135(output, skeleton), target_positions, valid),
        "vel": _masked_mse(output[:, 1:] - output[:, :-1], target[:, 1:] - target[:, :-1], pairs),
    }


def smog_losses(
    model: torch.nn.Module, batch: SMoGBatch, skeleton: Skeleton, cfg: SMoGTrainConfig
) -> dict[str, torch.Tensor]:
    """Every loss term (unweighted, :data:`LOSS_NAMES`) and ``total``, their weighted sum.

    ``model`` is a :class:`SMoGAutoencoder` or its DistributedDataParallel wrapper (whose forward
    all-reduces the gradients in backward).
    """
    return _losses_and_latent(model, batch, skeleton, cfg)[0]


def _losses_and_latent(
    model: torch.nn.Module, batch: SMoGBatch, skeleton: Skeleton, cfg: SMoGTrainConfig
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    output, z = model(batch.motion, batch.valid)
    losses = reconstruction_losses(batch.motion, output, batch.valid, skeleton)
    ids = torch.from_numpy(batch.caption_ids).to(z.device)
    losses["text"] = text_alignment_loss(z, batch.text, kind=cfg.alignment, temperature=cfg.temperature,
                                         same_text=ids[:, None] == ids[None, :])
    # the regulariser walks every spline weight, so it is only computed when it counts; a DDP
    # wrapper does not expose it, its module does (the gradients still meet in the same backward)
    autoencoder = getattr(model, "module", model)
    losses["kan_reg"] = autoencoder.kan_regularization() if cfg.lambda_kan_reg > 0 else torch.zeros(())
    losses["total"] = (cfg.lambda_rc * losses["rc"] + cfg.lambda_rcxyz * losses["rcxyz"] + cfg.lambda_vel * losses["vel"]
                       + cfg.lambda_text * losses["text"] + cfg.lambda_kan_reg * losses["kan_reg"])
    return losses, z


# ==================================================================================================
# Validation
# ==================================================================================================
def motion_to_text_retrieval(
    z: np.ndarray, text: np.ndarray, truth: np.ndarray, ks: Sequence[int] = RETRIEVAL_KS
) -> dict[str, float]:
    """Motion-to-text recall at ``ks`` by cosine: motion ``i`` ``z [N, L]`` against candidate texts ``[M, L]``.

    ``truth [N]`` is the index of motion ``i``'s caption among the candidates; a hit at ``k`` is the
    true caption among the ``k`` most similar (ties count against). Returns ``r{k}`` and
    ``r{k}_chance`` (``min(k, M) / M``), ``n`` (motions) and ``candidates`` (``M``), plus the mean
    cosine of the true pairs and of all other pairs (their gap shows how much the latent tells
    captions apart, reference 7.1 b).
    """
    zn = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    tn = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    sim = zn @ tn.T
    true = sim[np.arange(len(z)), truth]
    rank = (sim >= true[:, None]).sum(1) - 1
    m = text.shape[0]
    out: dict[str, float] = {"n": float(len(z)), "candidates": float(m)}
    for k in ks:
        out[f"r{k}"] = float(np.mean(rank < k))
        out[f"r{k}_chance"] = min(k, m) / m
    others = (sim.sum() - true.sum()) / max(1, sim.size - len(z))
    out.update(cos_pair=float(true.mean()), cos_others=float(others))
    return out


@torch.no_grad()
def validate(
    model: SMoGAutoencoder, split: ClipSplit, table: CaptionTable, picks: Sequence[Pick], skeleton: Skeleton,
    cfg: SMoGTrainConfig,
) -> dict[str, float]:
    """Mean of every loss over the fixed windows ``picks`` and motion-to-text retrieval among their
    distinct captions (keys ``val_*``)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    latents = []
    for start in range(0, len(picks), cfg.batch_size):
        batch = make_batch(split, table, picks[start : start + cfg.batch_size], cfg.num_frames).to(device)
        losses, z = _losses_and_latent(model, batch, skeleton, cfg)
        n = len(batch.caption_ids)
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + float(value) * n
        latents.append(z.cpu().numpy())
    model.train(was_training)
    out = {f"val_{'loss' if k == 'total' else k}": v / len(picks) for k, v in sums.items()}
    captions = np.array([cap for _, _, cap in picks], dtype=np.int64)
    candidates, truth = np.unique(captions, return_inverse=True)
    retrieval = motion_to_text_retrieval(np.concatenate(latents), table.embeddings[candidates], truth)
    out.update({f"val_{'retrieval_' if k in ('n', 'candidates') else ''}{k}": v for k, v in retrieval.items()})
    return out


# ==================================================================================================
# Training
# ==================================================================================================
def train_smog(cfg: SMoGTrainConfig, *, resume: bool = True, log: Callable[[str], None] | None = None) -> Path:
    """Train (or continue) the SMoG autoencoder described by ``cfg``; returns the latest checkpoint path.

    Launched by ``torchrun`` (``WORLD_SIZE > 1``) every process runs this: it joins a process group
    (gloo on CPU, nccl on CUDA), wraps the model in DistributedDataParallel and draws its own
    windows (``default_rng([seed, rank])``), so a step sees ``batch_size x world_size`` windows.
    Rank 0 alone prepares the data cache (the others wait, then read it), logs, validates the EMA
    and writes checkpoints (with every rank's random state); every rank resumes from the
    checkpoint rank 0 picked. Under torchrun ``metrics.jsonl`` also gets a ``start`` event and an
    ``end`` event with each rank's weight, EMA and window digests.
    """
    want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    info = _setup_distributed("cuda" if want_cuda else "cpu")
    say = log or (lambda msg: print(msg, file=sys.stderr))
    saved_threads = torch.get_num_threads()
    try:
        # rank 0 speaks for the run: the others would repeat every line
        path = _train_smog(cfg, info, resume, say if info.is_main else (lambda msg: None))
        if info.initialized_here:
            # leave together (only on success: a rank that failed must not wait for the others), so
            # that no rank tears the group down while rank 0 still writes
            torch.distributed.barrier()
        return path
    finally:
        torch.set_num_threads(saved_threads)
        if info.initialized_here:
            torch.distributed.destroy_process_group()


def _train_smog(cfg: SMoGTrainConfig, info: DistInfo, resume: bool, log: Callable[[str], None]) -> Path:
    """The training run of :func:`train_smog` in this process (rank ``info.rank`` of ``info.world_size``)."""
    from tqdm import tqdm

    run_dir = Path(cfg.output_dir)
    done = open_run_dir(run_dir, resume=resume, total_steps=cfg.total_steps, log=log) if info.is_main else None
    done = _from_main(info, done)
    if done is not None:
        return done
    if info.distributed:
        threads = cfg.threads or max(1, _cpu_cores() // info.world_size)
    else:
        threads = cfg.threads or max(1, torch.get_num_threads())
    torch.set_num_threads(threads)
    device = _device(cfg, info)  # type: ignore[arg-type]  # reads cfg.device only
    if device.type == "cuda":
        torch.cuda.set_device(device)  # nccl's object collectives use the current device
    if info.is_main:
        splits, table, skeleton = prepare_smog_data(cfg, run_dir, progress=cfg.progress)
    info.barrier()
    if not info.is_main:
        splits, table, skeleton = prepare_smog_data(cfg, run_dir, progress=False)  # reads rank 0's cache
    train, val = splits["train"], splits["val"]
    eligible = train.long_enough(cfg.num_frames)
    if len(eligible) == 0:
        raise InputError(f"no training clip has {cfg.num_frames} frames", field="num_frames")
    val_picks = validation_picks(val, cfg.num_frames, cfg.val_windows, cfg.seed)
    log(f"{len(train.frames) - len(eligible)} of {len(train.frames)} training clips and "
        f"{len(val.frames) - len(val.long_enough(cfg.num_frames))} of {len(val.frames)} val clips are shorter "
        f"than num_frames {cfg.num_frames} and skipped")
    model_cfg = cfg.model_config(train.frames[0].shape[1], int(table.embeddings.shape[1]))
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = SMoGAutoencoder(model_cfg)
    model.set_feature_statistics(*feature_statistics(train, eligible, cfg.num_frames, seed=cfg.seed))
    model.to(device)
    ema = copy.deepcopy(model).eval()
    optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    if info.distributed:
        rng = np.random.default_rng([cfg.seed, info.rank])
        torch.manual_seed(_torch_seed(cfg.seed, info.rank))  # dropout masks differ between ranks
    else:
        rng = np.random.default_rng(cfg.seed)
    step = 0
    # the resume point: rank 0 picks it, every rank loads that same file
    found = latest_checkpoint(run_dir) if resume and info.is_main else None
    ckpt = _from_main(info, found)
    if ckpt is not None:
        state = load_checkpoint(ckpt, CHECKPOINT_FORMAT, "a SMoG", model_cfg.to_dict())
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
        # checkpoints before distributed training hold one (rank 0's) stream
        streams = state.get("rank_rng") or [{"rng": state["rng"], "torch_rng": state["torch_rng"]}]
        if len(streams) == info.world_size:
            _restore_streams(streams[info.rank], rng, device)
        else:
            # another world size: fresh streams, distinct per rank and per resume point
            rng = np.random.default_rng([cfg.seed, info.rank, step])
            torch.manual_seed(_torch_seed(cfg.seed, info.rank, step))
            log(f"the checkpoint holds the random streams of {len(streams)} process(es), this run has "
                f"{info.world_size}: fresh streams from [seed, rank, step]")
        log(f"resuming from {ckpt} at step {step}")
    train_model: torch.nn.Module = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=info.is_main, resume_step=step if ckpt else None)
    params = sum(p.numel() for p in model.parameters())
    effective_batch = cfg.batch_size * info.world_size
    if info.is_main:
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
    if info.distributed:
        metrics.write({"step": step, "event": "start", "world_size": info.world_size, "batch_size": cfg.batch_size,
                       "effective_batch_size": effective_batch, "threads": threads, "device": str(device),
                       "resumed_from": None if ckpt is None else str(ckpt)})
        processes = f"{info.world_size} processes x {threads} thread(s) on {device}"
        per_process = f" per process (effective batch {effective_batch} windows per step)"
    else:
        processes, per_process = f"{threads} thread(s)", ""
    log(f"SMoG training: {params / 1e6:.2f} M parameters (kan_layers {model_cfg.kan_layers}), {processes}, "
        f"batch {cfg.batch_size} x {cfg.num_frames} frames{per_process}, {len(eligible)} training clips, "
        f"{len(val_picks)} val windows, {len(table.texts)} captions, steps {step} -> {cfg.total_steps}")
    notes = _data_notes(cfg, train, val, table, len(eligible), len(val_picks))

    def checkpoint_state(streams: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "step": step, "model": model.state_dict(), "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": streams[0]["rng"], "torch_rng": streams[0]["torch_rng"],
            "rank_rng": streams, "world_size": info.world_size,
            "config": cfg.to_dict(), "model_config": model_cfg.to_dict(), "skeleton": skeleton.to_dict(),
            "fps": FPS, "num_frames": cfg.num_frames,
            "text_encoder": {"spec": table.encoder_spec, "identifier": table.encoder_identifier},
            "data": notes, "motiongen_version": __version__, "hardware": hardware,
        }

    hardware = {"device": str(device), "processes": info.world_size, "threads_per_process": threads,
                "cpu_count": os.cpu_count(), "platform": platform.platform(),
                "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}
    started = time.perf_counter()
    model.train()
    bar = tqdm(total=cfg.total_steps, initial=step, disable=not (cfg.progress and info.is_main), unit="step",
               desc="smog")
    running: dict[str, list[float]] = {}
    windows_drawn = hashlib.sha256()  # tells the ranks' windows apart in the end event
    last_path = ckpt
    while step < cfg.total_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)  # type: ignore[arg-type]
        picks = random_picks(train, eligible, cfg.batch_size, cfg.num_frames, rng)
        windows_drawn.update(np.asarray(picks, dtype=np.int64).tobytes())
        batch = make_batch(train, table, picks, cfg.num_frames).to(device)
        losses = smog_losses(train_model, batch, skeleton, cfg)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()  # under DDP: the gradients averaged over the ranks
        # an infinite bound measures the norm without clipping (SMoG clips nothing)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf))
        optimizer.step()
        ema_update(ema, model, ema_decay_at(step, cfg.ema_decay))
        step += 1
        for key, value in losses.items():
            running.setdefault(key, []).append(float(value.detach()))
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.total_steps:
            names = [("loss" if k == "total" else k) for k in running]
            window_means = [float(np.mean(v)) for v in running.values()]
            means = dict(zip(names, _mean_over_ranks(info, window_means, device), strict=True))
            metrics.write({"step": step, **means, "lr": learning_rate(step - 1, cfg),  # type: ignore[arg-type]
                           "grad_norm": grad_norm, "elapsed_s": round(time.perf_counter() - started, 2)})
            bar.set_postfix(loss=f"{means['loss']:.3f}")
            running = {}
        if info.is_main and val_picks and (step % cfg.val_every == 0 or step == cfg.total_steps):
            figures = validate(ema, val, table, val_picks, skeleton, cfg)
            metrics.write({"step": step, **{k: round(v, 6) for k, v in figures.items()}})
            log(f"step {step}: " + _format_validation(figures))
        timed_out = cfg.time_limit_minutes is not None and _any_rank(
            info, time.perf_counter() - started > cfg.time_limit_minutes * 60, device)  # every rank stops alike
        if step % cfg.checkpoint_every == 0 or step == cfg.total_steps or timed_out:
            last_path = checkpoint_dir(run_dir) / f"step-{step:08d}.pt"
            streams = _gather(info, _random_streams(rng, device))
            if info.is_main:
                save_checkpoint(last_path, checkpoint_state(streams), cfg.keep_checkpoints, run_dir)
            info.barrier()
        if timed_out:
            log(f"time limit of {cfg.time_limit_minutes} minutes reached at step {step}")
            break
    bar.close()
    if last_path is None:
        raise MotiongenError("no training step was run and no checkpoint exists")
    if info.distributed:
        # DDP keeps the replicas identical, so must the EMAs be; and each rank drew its own windows
        digests = _gather(info, [weights_digest(model), weights_digest(ema), windows_drawn.hexdigest()])
        metrics.write({"step": step, "event": "end", "checkpoint": str(last_path),
                       "rank_weight_sha256": [d[0] for d in digests], "rank_ema_sha256": [d[1] for d in digests],
                       "rank_data_sha256": [d[2] for d in digests]})
        if len({(d[0], d[1]) for d in digests}) != 1:
            log("warning: the ranks' final weights differ")
    return last_path


def _from_main(info: DistInfo, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (picklable; the value itself in a single process)."""
    if not info.distributed:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _gather(info: DistInfo, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` in a single process)."""
    if not info.distributed:
        return [value]
    out: list[Any] = [None] * info.world_size
    torch.distributed.all_gather_object(out, value)
    return out


def _mean_over_ranks(info: DistInfo, values: list[float], device: torch.device) -> list[float]:
    """The ranks' mean of each of ``values`` (unchanged in a single process)."""
    if not info.distributed:
        return values
    total = torch.tensor(values, dtype=torch.float64, device=device)  # nccl reduces device tensors only
    torch.distributed.all_reduce(total)
    return (total / info.world_size).tolist()


def _any_rank(info: DistInfo, flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds on any rank."""
    if not info.distributed:
        return flag
    value = torch.tensor([float(flag)], device=device)
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX)
    return bool(value.item() > 0)


def _torch_seed(*entropy: int) -> int:
    """A torch seed mixed from ``entropy`` (``seed, rank[, step]``): distinct streams per rank."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def _random_streams(rng: np.random.Generator, device: torch.device) -> dict[str, Any]:
    """This process's random state: the window generator's and torch's (dropout), CUDA's on a GPU."""
    streams: dict[str, Any] = {"rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        streams["cuda_rng"] = torch.cuda.get_rng_state(device)
    return streams


def _restore_streams(streams: Mapping[str, Any], rng: np.random.Generator, device: torch.device) -> None:
    """Put back what :func:`_random_streams` saved."""
    rng.bit_generator.state = streams["rng"]
    torch.set_rng_state(streams["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in streams:
        torch.cuda.set_rng_state(streams["cuda_rng"], device)


def _format_validation(figures: Mapping[str, float]) -> str:
    losses = ", ".join(f"{k[4:]} {figures[k]:.4f}" for k in ("val_loss", "val_rc", "val_rcxyz", "val_vel", "val_text"))
    n, m = int(figures["val_retrieval_n"]), int(figures["val_retrieval_candidates"])
    recall = ", ".join(f"R@{k} {figures[f'val_r{k}']:.3f} (chance {figures[f'val_r{k}_chance']:.3f})" for k in RETRIEVAL_KS)
    return f"{losses}; motion->text {recall} over {n} motions, {m} distinct captions"


def _data_notes(
    cfg: SMoGTrainConfig, train: ClipSplit, val: ClipSplit, table: CaptionTable, train_used: int, val_used: int
) -> dict[str, Any]:
    sources = sorted({cid.split("/", 1)[0] for cid in train.clip_ids})
    return {
        "dataset": str(_dataset_folder(cfg).name),
        "train_clips": len(train.clip_ids), "train_clips_used": train_used, "val_clips": len(val.clip_ids),
        "val_windows": val_used, "train_frames": int(sum(len(f) for f in train.frames)),
        "captions": len(table.texts), "train_captions": len({c for clip in train.caption_ids for c in clip}),
        "mirrored": cfg.mirrored, "sources": sources,
    }


# ==================================================================================================
# Export
# ==================================================================================================
def export_smog(checkpoint: str | Path, out_dir: str | Path, *, weights_dtype: str = "float32") -> Path:
    """Write a checkpoint's EMA autoencoder as a model folder (:meth:`SMoGPipeline.save_pretrained`).

    Args:
        checkpoint: a checkpoint file or a run folder (its latest checkpoint).
        out_dir: the folder (``config.json``, ``model.safetensors``, ``skeleton.json``, ``README.md``),
            replaced as a whole once everything is written.
        weights_dtype: ``float32`` or ``float16`` (parameters only; buffers such as KAN knot grids and
            feature statistics stay float32).
    """
    from motiongen.pipelines.smog import SMoGPipeline
    from motiongen.train.kimodo import read_metrics

    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path, CHECKPOINT_FORMAT, "a SMoG")
    model_cfg = SMoGConfig.from_dict(state["model_config"])
    model = SMoGAutoencoder(model_cfg)
    model.load_state_dict(state["ema"])
    skeleton = Skeleton.from_dict(state["skeleton"])
    run_dir = path.parent.parent
    rows = [r for r in read_metrics(run_dir) if r.get("step", 0) <= state["step"]]
    val = [r for r in rows if "val_loss" in r]
    hardware = state.get("hardware")
    if hardware is None:  # checkpoints from before the trainer recorded it: this machine, at export
        hardware = {"device": state["config"].get("device", "cpu"), "processes": int(state.get("world_size", 1)),
                    "threads_per_process": state["config"].get("threads") or "all", "cpu_count": os.cpu_count(),
                    "platform": platform.platform() + ", recorded at export", "gpu": None}
    info = {
        "steps": int(state["step"]), "weights": "ema", "num_frames": int(state["num_frames"]), "data": state["data"],
        "validation": val[-1] if val else None, "trained_with": f"motiongen {state.get('motiongen_version')}",
        "train_config": state["config"], "licence": _licence(state["data"]["sources"]),
        "parameters": sum(p.numel() for p in model.parameters()),
        "text_encoder_identifier": state["text_encoder"]["identifier"],
        "hardware": hardware, "wall_time_s": round(wall_time_seconds(rows), 1),
    }
    if int(state.get("world_size", 1)) > 1:
        info["world_size"] = int(state["world_size"])  # the batch per step was batch_size x world_size
    pipe = SMoGPipeline(model, skeleton, state["fps"], state["text_encoder"]["spec"], info=info,
                        model_card=_model_card(model_cfg, info))
    return pipe.save_pretrained(out_dir, weights_dtype=weights_dtype)


def _licence(sources: Sequence[str]) -> str:
    if "bandai" in sources:
        return "CC BY-NC 4.0 (non-commercial; trained on Bandai Namco data)"
    return "see the data sources' licences"


def _hardware_line(hardware: Mapping[str, Any] | None) -> str:
    if not hardware:
        return "not recorded by the trainer"
    where = hardware.get("gpu") or f"CPU ({hardware.get('cpu_count')} cores, {hardware.get('platform')})"
    return f"{hardware['processes']} process(es) x {hardware['threads_per_process']} thread(s) on {where}"


def wall_time_seconds(rows: Sequence[Mapping[str, Any]]) -> float:
    """Training wall time from a metrics log: ``elapsed_s`` restarts at 0 in every session (resume),
    so the time is the sum of each session's last ``elapsed_s``."""
    total, last = 0.0, 0.0
    for row in rows:
        if "elapsed_s" not in row:
            continue
        elapsed = float(row["elapsed_s"])
        if elapsed < last:
            total += last
        last = elapsed
    return total + last


def _model_card(cfg: SMoGConfig, info: Mapping[str, Any]) -> str:
    data, train_cfg = info["data"], info["train_config"]
    val = info.get("validation") or {}
    lines = [
        f"# SMoG motion autoencoder (KAN layers `{cfg.kan_layers}`)",
        "",
        "A SMoG-style motion autoencoder (MotionCLIP transformer with KAN layers, reference `smog.md`) whose motion",
        "latent lives in the text encoder's space, so a caption's embedding decodes straight into a motion.",
        "",
        f"- motion: `motion_135` frames on `smplx22` at 30 fps (canonical root translation + 6D local rotations); "
        f"trained on windows of exactly {info['num_frames']} frames, decodes up to {cfg.max_frames}",
        f"- model: {cfg.layers} + {cfg.layers} transformer layers, {cfg.heads} heads, width {cfg.model_width}, "
        f"latent {cfg.latent} (= the text embedding), ff {cfg.ff}, KAN layers `{cfg.kan_layers}`"
        + (f", MLP input/output layers of hidden width {cfg.io_hidden}" if cfg.io_hidden else "")
        + f"; {info['parameters'] / 1e6:.2f} M parameters",
        f"- objective: {train_cfg['lambda_rc']:g} rc + {train_cfg['lambda_rcxyz']:g} rcxyz + {train_cfg['lambda_vel']:g} vel "
        f"+ {train_cfg['lambda_text']:g} text ({train_cfg['alignment']}) + {train_cfg['lambda_kan_reg']:g} KAN regulariser",
        f"- training: {info['steps']} steps of batch {train_cfg['batch_size']}"
        + (f" x {info['world_size']} processes" if info.get("world_size", 1) > 1 else "")
        + ", EMA weights; training split only "
        f"({data['train_clips_used']} of {data['train_clips']} clips long enough, mirrored copies included; "
        f"{data['train_captions']} distinct captions)",
        f"- hardware: {_hardware_line(info.get('hardware'))}; wall time {info['wall_time_s'] / 60:.0f} min "
        "(summed over the run's sessions, from its metrics log)",
        "",
        "## Validation (val split; one fixed window per clip, its first caption)",
        "",
    ]
    if val:
        n, m = int(val["val_retrieval_n"]), int(val["val_retrieval_candidates"])
        lines += [
            "| rc | rcxyz | vel | text | motion->text R@1 | chance | R@5 | chance |",
            "|---|---|---|---|---|---|---|---|",
            f"| {val['val_rc']:.4f} | {val['val_rcxyz']:.4f} | {val['val_vel']:.4f} | {val['val_text']:.4f} "
            f"| {val['val_r1']:.3f} | {val['val_r1_chance']:.3f} | {val['val_r5']:.3f} | {val['val_r5_chance']:.3f} |",
            "",
            f"(step {val['step']}; cosine between the motion latent and {m} distinct caption embeddings, "
            f"{n} motions; not comparable with HumanML3D R-precision, reference smog.md 7.11)",
        ]
    else:
        lines.append("No validation figures (no val window long enough).")
    lines += [
        "",
        "## Limitations",
        "",
        "- decoding is deterministic: one caption gives one motion of the requested length; a seed changes nothing",
        f"- trained only on {info['num_frames']}-frame windows; other lengths are extrapolation",
        "",
        "## Data and licence",
        "",
        *(f"- {SOURCE_LICENCES[s]}" for s in data["sources"] if s in SOURCE_LICENCES),
        "",
        f"Licence of the weights: {info['licence']}.",
        "",
    ]
    return "\n".join(lines)


# ==================================================================================================
# Command line
# ==================================================================================================
def run_from_args(args: argparse.Namespace) -> int:
    from motiongen.train.arguments import config_overrides

    overrides = config_overrides(args)
    cfg = load_smog_config(args.config, overrides)
    path = train_smog(cfg, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun rank 0 exports and reports
    if args.export:
        folder = export_smog(path, args.export, weights_dtype="float16" if args.fp16_weights else "float32")
        print(f"exported {path} -> {folder}")
    print(f"checkpoint {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from motiongen.train.arguments import build_smog_parser, run_command

    return run_command(build_smog_parser, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
