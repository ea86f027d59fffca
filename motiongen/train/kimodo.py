"""Train the KIMODO denoiser: ``train_kimodo(config)``, ``python -m motiongen.train.kimodo --config FILE``.

One training step (the loop in :func:`train_kimodo` spells it out):

1. draw a batch of windows (:class:`~motiongen.train.features.WindowSampler`): normalised x0,
   pad mask, caption embedding, first-frame heading;
2. conditioning (:func:`make_conditioning`): a base timestep per window, Gaussian noise,
   ``x_t = q_sample(x0, t, noise)``, the caption zeroed with probability ``text_dropout``, a random
   constraint mask (:func:`motiongen.constraints.masks.random_constraint_mask`) with probability
   ``constraint_probability`` and dropped again with ``constraint_dropout``, ``observed = x0 * mask``;
3. ``x0_pred = denoiser(x_t, t, text, observed, mask, first_heading, pad_mask)``; the loss is the
   MSE to x0 over the valid frames (KIMODO predicts x0);
4. AdamW step with warm-up + cosine learning rate and global-norm gradient clipping, then the EMA
   of the weights (the EMA is what gets exported).

Distributed: launched by ``torchrun`` (``WORLD_SIZE > 1``), each process joins a process group
(gloo on CPU, nccl on CUDA), wraps the model in DistributedDataParallel and draws its own windows
(seed + rank). Rank 0 builds the caches, logs, validates and writes checkpoints; every rank resumes
from the same checkpoint. On CPU each process gets ``cores / world size`` torch threads.

Run folder (``output_dir``): ``config.json``, ``metrics.jsonl`` (one JSON object per log line,
validation and events), ``checkpoints/step-XXXXXXXX.pt`` (model, EMA, optimizer, scheduler, step,
RNG states of every rank, config, statistics, skeleton, text encoder, data and hardware notes),
written to a temporary file and renamed. :func:`export_bundle` turns a checkpoint into a
:class:`~motiongen.pipelines.bundle.KIMODOBundle` folder with a model card.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import hashlib
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from motiongen.io.atomic import atomic_write
from motiongen import __version__
from motiongen.errors import InputError
from motiongen.motion.kimodo_features import FeatureStats, KimodoFeatures
from motiongen.skeleton.skeleton import Skeleton
from motiongen.train.config import KimodoTrainConfig, apply_overrides, load_train_config
from motiongen.train.features import (
    FeatureCache,
    WindowBatch,
    WindowSampler,
    build_feature_cache,
)

CHECKPOINT_FORMAT = "motiongen.kimodo_checkpoint/1"
CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"
_CKPT_NAME = re.compile(r"^step-(\d{8,})\.pt$")
_LOCAL_PATH_KEYS = ("output_dir", "cache", "dataset", "compact", "features_dir", "text_cache")
_STAT_FIELDS = ("global_root_mean", "global_root_std", "body_mean", "body_std", "local_root_mean", "local_root_std")

#: Licence and credit of each training source (shared/data/README.md); the model card lists those used.
SOURCE_LICENCES = {
    "bandai": "Bandai Namco Research Motion Dataset, CC BY-NC 4.0 (non-commercial)",
    "cmu": "CMU Graphics Lab Motion Capture Database (free for all uses; credit the database)",
    "hdm05": "HDM05, MPI Informatik, CC BY-SA 3.0",
}
CAPTION_CREDITS = (
    "Captions: KIT-ML sentences (Plappert et al. 2016, via Mathux/TMR, MIT), CMU trial descriptions, "
    "HDM05 class names and Bandai content/style labels turned into sentences by motiongen."
)


# ==================================================================================================
# Schedules and helpers
# ==================================================================================================
def learning_rate(step: int, config: KimodoTrainConfig) -> float:
    """LR of step ``step`` (0-based): linear warm-up to ``lr``, then cosine to ``lr * min_lr_ratio``.

    Computed from the step alone (no scheduler state), so raising ``total_steps`` on resume simply
    stretches the remaining cosine.
    """
    lr, warmup, total = config.lr, config.warmup_steps, config.total_steps
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, max(0.0, (step - warmup) / max(1, total - warmup)))
    return lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def ema_decay_at(step: int, decay: float) -> float:
    """EMA decay after ``step`` updates: ramps up so the EMA forgets the random init quickly."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for every parameter (in place)."""
    ema_params = list(ema.parameters())
    params = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)


def stats_to_dict(stats: FeatureStats) -> dict[str, Any]:
    """Picklable arrays of ``stats`` (stored in checkpoints)."""
    out: dict[str, Any] = {name: np.asarray(getattr(stats, name), dtype=np.float64) for name in _STAT_FIELDS}
    out.update(num_frames=stats.num_frames, num_clips=stats.num_clips)
    return out


def stats_from_dict(data: Mapping[str, Any]) -> FeatureStats:
    return FeatureStats(**{name: np.asarray(data[name]) for name in _STAT_FIELDS},
                        num_frames=int(data.get("num_frames", 0)), num_clips=int(data.get("num_clips", 0)))


def weights_digest(module: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """sha256 of a module's (or a state dict's) tensors: to check that DDP ranks hold identical weights."""
    state = module.state_dict() if isinstance(module, nn.Module) else module
    h = hashlib.sha256()
    for name, p in sorted(state.items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# ==================================================================================================
# Distributed setup
# ==================================================================================================
@dataclass
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()


def _setup_distributed(device_kind: str) -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    import torch.distributed as dist

    here = False
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=60))
        here = True
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local, initialized_here=here)


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _device(config: KimodoTrainConfig, info: DistInfo) -> torch.device:
    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("device 'cuda' requested but CUDA is not available", field="device")
        return torch.device("cuda", info.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


# ==================================================================================================
# Conditioning and loss
# ==================================================================================================
@dataclass
class Conditioning:
    """Everything the denoiser gets besides the batch's text/heading/pad mask."""

    t: torch.Tensor  # [B] long
    x_t: torch.Tensor  # [B, T, D]
    text: torch.Tensor  # [B, 1, text_dim] (zeros where dropped)
    observed: torch.Tensor  # [B, T, D]
    mask: torch.Tensor  # [B, T, D] float 0/1

    def to(self, device: torch.device) -> "Conditioning":
        return Conditioning(*(v.to(device) for v in (self.t, self.x_t, self.text, self.observed, self.mask)))


def make_conditioning(
    batch: WindowBatch,
    schedule: Any,
    layout: KimodoFeatures,
    config: KimodoTrainConfig,
    rng: np.random.Generator,
    generator: torch.Generator,
) -> Conditioning:
    """Timesteps, noised sample, text dropout and random constraints for ``batch`` (CPU tensors)."""
    from motiongen.constraints.masks import random_constraint_mask

    b, t, d = batch.x0.shape
    steps = torch.randint(0, schedule.num_train_steps, (b,), generator=generator)
    noise = torch.randn(batch.x0.shape, generator=generator)
    x_t = schedule.q_sample(batch.x0, steps, noise)
    mask = np.zeros((b, t, d), dtype=np.float32)
    for i, length in enumerate(batch.lengths):
        if rng.random() < config.constraint_probability and not rng.random() < config.constraint_dropout:
            mask[i, :length] = random_constraint_mask(layout, int(length), rng)
    keep = torch.from_numpy(rng.random(b) >= config.text_dropout).float()
    mask_t = torch.from_numpy(mask)
    return Conditioning(steps, x_t, batch.text * keep[:, None, None], batch.x0 * mask_t, mask_t)


def masked_losses(
    pred: torch.Tensor, x0: torch.Tensor, pad_mask: torch.Tensor, root_weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, root, body)``: x0 MSE over valid frames (all dims, the 5 root dims, the body dims).

    ``root_weight`` weights the root dims in ``loss`` (see ``KimodoTrainConfig.root_loss_weight``);
    1 gives the plain MSE over all dims.
    """
    valid = pad_mask[..., None].to(pred.dtype)
    err = (pred.float() - x0) ** 2 * valid
    frames = valid.sum().clamp_min(1.0)
    d = x0.shape[-1]
    root_sum, body_sum = err[..., :5].sum(), err[..., 5:].sum()
    root = root_sum / (frames * 5)
    body = body_sum / (frames * (d - 5))
    if root_weight == 1.0:
        return err.sum() / (frames * d), root, body
    return (root_weight * root_sum + body_sum) / (frames * (root_weight * 5 + d - 5)), root, body


def geometric_losses(
    pred: torch.Tensor,
    x0: torch.Tensor,
    pad_mask: torch.Tensor,
    layout: KimodoFeatures,
    stats: FeatureStats,
) -> torch.Tensor:
    """``[position, velocity, foot contact]`` losses of normalised predictions ``pred [B, T, D]``.

    Both ``pred`` and ``x0`` are decoded as sampling decodes them (:meth:`KimodoFeatures.decode`:
    6D rotations through FK from the predicted root), so the terms measure the joints a user gets:

    - position: mean over valid frames and joints of the squared joint position error (m^2);
    - velocity: the same for the forward-difference joint velocity ((m/s)^2), over frame pairs
      that are both valid;
    - foot contact: mean squared speed ((m/s)^2) of the four foot joints over the (valid pair,
      foot joint) entries where ``x0``'s contact label is set, i.e. a planted foot must not move
      (MDM's foot-contact loss). 0 when the batch has no contact.
    """
    valid = pad_mask.to(torch.float32)
    pair = valid[:, 1:] * valid[:, :-1]
    fps = float(layout.fps)
    pos = layout.decode(pred.float(), stats)["posed_joints"]
    with torch.no_grad():
        real = layout.decode(x0.float(), stats)
    pos_err = ((pos - real["posed_joints"]) ** 2).sum(-1).mean(-1)
    vel = (pos[:, 1:] - pos[:, :-1]) * fps
    vel_real = (real["posed_joints"][:, 1:] - real["posed_joints"][:, :-1]) * fps
    vel_err = ((vel - vel_real) ** 2).sum(-1).mean(-1)
    contact = real["foot_contacts"][:, :-1].to(torch.float32) * pair[..., None]
    foot_speed2 = (vel[:, :, layout.skeleton.foot_joint_indices] ** 2).sum(-1)
    return torch.stack([
        (pos_err * valid).sum() / valid.sum().clamp_min(1.0),
        (vel_err * pair).sum() / pair.sum().clamp_min(1.0),
        (foot_speed2 * contact).sum() / contact.sum().clamp_min(1.0),
    ])


# ==================================================================================================
# Checkpoints and metrics
# ==================================================================================================
def checkpoint_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINT_DIR


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """``[(step, path)]`` of the run's checkpoints, oldest first."""
    folder = checkpoint_dir(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the latest checkpoint of a run folder."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        found = latest_checkpoint(path) or (latest_checkpoint(path.parent) if path.name == CHECKPOINT_DIR else None)
        if found is not None:
            return found
        raise InputError("no checkpoints in this run folder", path=path)
    raise InputError("checkpoint file or run folder does not exist", path=path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train_kimodo` (CPU tensors)."""
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for corrupt files
        raise InputError(f"cannot read checkpoint ({exc})", path=path) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"not a motiongen KIMODO checkpoint (format {CHECKPOINT_FORMAT})", path=path)
    state["path"] = str(path)
    return state


class MetricsLog:
    """``metrics.jsonl``: appended on rank 0; on resume, lines after the checkpoint's step are dropped
    (they belong to steps that are trained again), so the log reads as one continuous run."""

    def __init__(self, path: Path, *, enabled: bool, resume_step: int | None) -> None:
        self.path = path
        self.enabled = enabled
        if not enabled:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        keep: list[str] = []
        if resume_step is not None and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    if int(json.loads(line).get("step", 0)) <= resume_step:
                        keep.append(line)
                except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                    continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in keep))
        os.replace(tmp, path)

    def write(self, record: Mapping[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def read_metrics(output_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of a run's ``metrics.jsonl``."""
    path = Path(output_dir) / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def _rng_state(rng: np.random.Generator, generator: torch.Generator) -> dict[str, Any]:
    state = {"numpy": rng.bit_generator.state, "torch_generator": generator.get_state(), "torch_global": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: Mapping[str, Any], rng: np.random.Generator, generator: torch.Generator) -> None:
    rng.bit_generator.state = state["numpy"]
    generator.set_state(state["torch_generator"])
    torch.set_rng_state(state["torch_global"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ==================================================================================================
# Data
# ==================================================================================================
def prepare_data(config: KimodoTrainConfig, info: DistInfo) -> tuple[FeatureCache, Any, np.ndarray]:
    """``(feature cache, text encoder, caption embeddings)``; rank 0 builds what is missing first."""
    from motiongen.text.registry import load_text_encoder

    def build() -> FeatureCache:
        return build_feature_cache(
            cache=config.cache, dataset=config.dataset, compact=config.compact, features_dir=config.features_dir,
            mirrored=config.mirrored, workers=max(1, config.num_workers), progress=config.progress and info.is_main,
        )

    text_cache = config.text_cache or (str(Path(config.cache) / "text") if config.cache else None)
    encoder = load_text_encoder(config.text_encoder, cache_dir=text_cache)
    if info.is_main:
        cache = build()
        table = cache.caption_embeddings(encoder, progress=config.progress)
    info.barrier()
    if not info.is_main:
        cache = build()
        table = cache.caption_embeddings(encoder)
    return cache, encoder, table


def _data_info(cache: FeatureCache, config: KimodoTrainConfig) -> dict[str, Any]:
    """What the model was trained on (for the model card)."""
    info: dict[str, Any] = {
        "dataset": cache.manifest.get("dataset"),
        "feature_cache": str(cache.root),
        "splits": {k: {"clips": s.num_clips, "frames": s.num_frames} for k, s in cache.splits.items()},
        "captions": len(cache.captions),
        "mirrored": config.mirrored,
    }
    stats_file = Path(str(cache.manifest.get("dataset", ""))) / "stats.json"
    if stats_file.is_file():
        try:
            stats = json.loads(stats_file.read_text())
            info["sources"] = {k: v for k, v in stats.get("by_source", {}).items() if v.get("clips")}
        except (OSError, json.JSONDecodeError):
            pass
    if "sources" not in info:
        ids = cache.splits["train"].clip_ids
        info["sources"] = {s: {"clips": n} for s in SOURCE_LICENCES if (n := sum(i.split("/")[0] == s for i in ids))}
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _hardware(device: torch.device, info: DistInfo, threads: int) -> dict[str, Any]:
    hw: dict[str, Any] = {
        "device": str(device),
        "world_size": info.world_size,
        "threads_per_process": threads,
        "cpu_cores": _cpu_cores(),
        "cpu": _cpu_name(),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        hw["gpu"] = torch.cuda.get_device_name(device)
    return hw


# ==================================================================================================
# Training
# ==================================================================================================
def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            # matrices decay; biases and LayerNorm gains do not (decaying them only hurts)
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _check_same_architecture(saved: Mapping[str, Any], current: Mapping[str, Any], path: str) -> None:
    from motiongen.models.kimodo.config import KimodoDenoiserConfig

    # a checkpoint from before a config field existed was trained with that field's default
    saved = KimodoDenoiserConfig.from_dict(dict(saved)).to_dict()
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise InputError(
                f"the checkpoint was trained with {key}={saved.get(key)!r} but the config gives {current.get(key)!r}; "
                "use the same model sizes to resume, or start over with --no-resume",
                path=path, field=f"model.{key}",
            )


def conditioned_batches(
    sampler: WindowSampler,
    count: int,
    batch_size: int,
    schedule: Any,
    layout: KimodoFeatures,
    config: KimodoTrainConfig,
    seed: int,
) -> list[tuple[WindowBatch, Conditioning]]:
    """``count`` fixed (batch, conditioning) pairs drawn with ``sampler`` and a seeded conditioning RNG.

    The validation set: fixed windows, timesteps, noise, text dropout and masks, so successive
    validation losses compare like with like.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 999_983]))
    generator = torch.Generator().manual_seed(seed + 999_983)
    out = []
    for _ in range(count):
        batch = sampler.sample(batch_size)
        out.append((batch, make_conditioning(batch, schedule, layout, config, rng, generator)))
    return out


def evaluate_loss(
    model: nn.Module,
    batches: Sequence[tuple[WindowBatch, Conditioning]],
    device: torch.device | str = "cpu",
    amp: Any = contextlib.nullcontext,
) -> float:
    """Frame-weighted mean x0 loss of ``model`` (in eval mode) over fixed ``batches``."""
    return _validate(model, batches, torch.device(device), amp)


def validation_set(
    cache: FeatureCache,
    stats: FeatureStats,
    table: np.ndarray | None,
    schedule: Any,
    config: KimodoTrainConfig,
) -> list[tuple[WindowBatch, Conditioning]]:
    """The trainer's fixed validation set: ``config.val_batches`` batches of ``config.batch_size``
    windows of the ``config.val_split`` split, normalised with ``stats``.

    Windows drawn with ``default_rng(seed + 1)``, conditioning (timesteps, noise, text dropout,
    constraint masks with ``constraint_probability`` / ``constraint_dropout``) with
    :func:`conditioned_batches` seeded by ``seed``. The random draws do not depend on ``stats``;
    the normalised values (x0, hence x_t and the observed values) do. Empty when the split is
    missing or empty or ``val_batches`` is 0.
    """
    split = cache.splits.get(config.val_split)
    if config.val_batches <= 0 or split is None or split.num_clips == 0:
        return []
    sampler = WindowSampler(split, stats, table, min_frames=config.min_frames, max_frames=config.max_frames,
                            rng=np.random.default_rng(config.seed + 1), yaw_augment=config.yaw_augment)
    return conditioned_batches(sampler, config.val_batches, config.batch_size, schedule, cache.layout, config,
                               config.seed)


@torch.no_grad()
def validation_breakdown(
    model: nn.Module,
    batches: Sequence[tuple[WindowBatch, Conditioning]],
    device: torch.device | str = "cpu",
    amp: Any = contextlib.nullcontext,
    geometry: tuple[KimodoFeatures, FeatureStats] | None = None,
) -> dict[str, float]:
    """The validation loss of ``model`` (in eval mode) over fixed ``batches``, split by part.

    Returns ``loss`` (the trainer's ``val_loss``: mean x0 squared error over all valid entries),
    ``root`` / ``body`` (the 5 root dims / the body dims), ``constrained`` / ``unconstrained``
    (the valid entries whose constraint mask is > 0 / == 0; NaN if there are none), and the
    counts ``frames``, ``entries``, ``constrained_entries``. Each figure is a mean over entries of
    the whole set (for ``loss``, ``root``, ``body`` the same as the frame-weighted mean of the
    per-batch :func:`masked_losses`, which is how it is computed). With ``geometry`` (layout and
    statistics) also ``position``, ``velocity``, ``foot_contact``: the :func:`geometric_losses`
    averaged over batches weighted by their valid frames (NaN without ``geometry``).
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    sums = {"loss": 0.0, "root": 0.0, "body": 0.0, "constrained": 0.0, "unconstrained": 0.0}
    geo_sum = torch.zeros(3, dtype=torch.float64)
    frames = entries = constrained = 0.0
    for batch, cond in batches:
        with amp():
            pred = model(cond.x_t.to(device), cond.t.to(device), cond.text.to(device), cond.observed.to(device),
                         cond.mask.to(device), batch.first_heading.to(device), batch.pad_mask.to(device))
        x0, pad = batch.x0.to(device), batch.pad_mask.to(device)
        loss, root, body = masked_losses(pred, x0, pad)
        n = float(batch.pad_mask.sum())
        d = x0.shape[-1]
        sums["loss"] += float(loss) * n
        sums["root"] += float(root) * n
        sums["body"] += float(body) * n
        if geometry is not None:
            geo_sum += geometric_losses(pred, x0, pad, *geometry).double().cpu() * n
        # masked_losses of the selected entries only (the others zeroed in both): its loss times
        # frames * d is their summed squared error
        picked = (cond.mask.to(device) > 0).to(pred.dtype)
        on, _, _ = masked_losses(pred * picked, x0 * picked, pad)
        off, _, _ = masked_losses(pred * (1 - picked), x0 * (1 - picked), pad)
        sums["constrained"] += float(on) * n * d
        sums["unconstrained"] += float(off) * n * d
        frames += n
        entries += n * d
        constrained += float((picked * pad[..., None]).sum())
    model.train(was_training)
    free = entries - constrained
    return {
        "loss": sums["loss"] / max(frames, 1.0),
        "root": sums["root"] / max(frames, 1.0),
        "body": sums["body"] / max(frames, 1.0),
        "constrained": sums["constrained"] / constrained if constrained else float("nan"),
        "unconstrained": sums["unconstrained"] / free if free else float("nan"),
        **{name: float(value) / max(frames, 1.0) if geometry is not None else float("nan")
           for name, value in zip(("position", "velocity", "foot_contact"), geo_sum)},
        "frames": frames,
        "entries": entries,
        "constrained_entries": constrained,
    }


def _validate(model: nn.Module, batches: Sequence[tuple[WindowBatch, Conditioning]], device: torch.device, amp: Any) -> float:
    return validation_breakdown(model, batches, device, amp)["loss"]


def autocast_precision(amp: str, device: torch.device) -> str:
    """The autocast the run uses for ``amp`` (``none``, ``bf16``, ``fp16``) on ``device``: bf16 and
    fp16 (with a gradient scaler) on CUDA and CPU, ``none`` on other devices (e.g. MPS)."""
    if amp in ("bf16", "fp16") and device.type in ("cuda", "cpu"):
        return amp
    return "none"


def train_step(
    train_model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: WindowBatch,
    cond: Conditioning,
    config: KimodoTrainConfig,
    step: int,
    *,
    amp: Any = contextlib.nullcontext,
    scaler: Any = None,
    geometry: tuple[KimodoFeatures, FeatureStats] | None = None,
) -> tuple[torch.Tensor, float]:
    """One optimisation step; returns (``[loss, root, body, position, velocity, foot]`` detached,
    gradient norm).

    ``loss`` is the x0 loss plus the weighted :func:`geometric_losses`, which need ``geometry``
    (the feature layout and statistics) when any of their weights is set; they are 0 otherwise.
    ``train_model`` may be the DistributedDataParallel wrapper (its backward all-reduces the
    gradients); the EMA follows the unwrapped module. A step whose gradient norm is not finite is
    skipped (the norm is of the all-reduced gradients, so every rank skips it alike).
    """
    model = getattr(train_model, "module", train_model)
    with amp():
        pred = train_model(cond.x_t, cond.t, cond.text, cond.observed, cond.mask, batch.first_heading, batch.pad_mask)
    loss, root_loss, body_loss = masked_losses(pred, batch.x0, batch.pad_mask, config.root_loss_weight)
    weights = config.geometric_loss_weights
    if any(weights):
        if geometry is None:
            raise ValueError("geometric loss weights are set but train_step got no geometry (layout, stats)")
        geo = geometric_losses(pred, batch.x0, batch.pad_mask, *geometry)
        loss = loss + (geo * torch.tensor(weights, device=geo.device)).sum()
    else:
        geo = torch.zeros(3, device=loss.device)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
    if math.isfinite(grad_norm):
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        ema_update(ema, model, ema_decay_at(step, config.ema_decay))
    if scaler is not None:
        scaler.update()
    return torch.cat([torch.stack([loss.detach(), root_loss.detach(), body_loss.detach()]), geo.detach()]).float(), grad_norm


def train_kimodo(
    config: KimodoTrainConfig | str | Path,
    *,
    resume: bool = True,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
) -> Path:
    """Train (or continue training) a KIMODO denoiser; returns the last checkpoint's path.

    Args:
        config: a :class:`KimodoTrainConfig` or a YAML/JSON config file.
        resume: continue from the latest checkpoint in ``output_dir`` (model, EMA, optimizer,
            step, RNG states; the config's ``total_steps`` may differ from the checkpoint's, which
            extends or shortens the cosine). ``False`` starts over and removes the run folder's
            old checkpoints and metrics.
        overrides: config overrides (see :func:`motiongen.train.config.load_train_config`).
    """
    from motiongen.models.kimodo.config import DiffusionConfig
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser
    from motiongen.models.kimodo.diffusion import CosineSchedule

    if isinstance(config, KimodoTrainConfig):
        cfg = config if overrides is None else KimodoTrainConfig.from_dict(apply_overrides(config.to_dict(), overrides))
    else:
        cfg = load_train_config(config, overrides)
    started = time.perf_counter()
    want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    info = _setup_distributed("cuda" if want_cuda else "cpu")
    saved_threads = torch.get_num_threads()
    try:
        path = _train(cfg, info, resume, started, TwoStageDenoiser, CosineSchedule, DiffusionConfig)
        if info.initialized_here:
            # tear down together (only on success: a rank that failed must not wait for the others):
            # a rank that destroyed its group while the other still wrote its checkpoint and log was
            # seen to abort in gloo's teardown ("terminate called without an active exception")
            torch.distributed.barrier()
        return path
    finally:
        # leave the process as it was (train_kimodo may be called from a larger program)
        torch.set_num_threads(saved_threads)
        torch.set_flush_denormal(False)
        if info.initialized_here:
            torch.distributed.destroy_process_group()


def _train(cfg: KimodoTrainConfig, info: DistInfo, resume: bool, started: float, Denoiser: Any, Schedule: Any, DiffusionConfig: Any) -> Path:
    device = _device(cfg, info)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # nccl's object collectives use the current device
    threads = cfg.threads or max(1, _cpu_cores() // info.world_size)
    if device.type == "cpu":
        torch.set_num_threads(threads)
        # denormals appear as Adam's second moments and the EMA decay towards zero; on x86 they are
        # a hundred times slower than normal floats
        torch.set_flush_denormal(True)
    out = Path(cfg.output_dir)
    log = _Printer(info.is_main)

    cache, encoder, table = prepare_data(cfg, info)
    layout = cache.layout
    den_cfg = cfg.denoiser_config(feature_dim=layout.dim, num_joints=layout.num_joints, text_dim=int(encoder.dim))
    diffusion = DiffusionConfig()
    schedule = Schedule.from_config(diffusion)

    # resume point: rank 0 picks it, every rank loads that same file
    ckpt_path: str | None = None
    if info.is_main:
        if resume:
            found = latest_checkpoint(out)
            ckpt_path = None if found is None else str(found)
        else:
            for _, old in list_checkpoints(out):
                old.unlink()
    if info.distributed:
        box = [ckpt_path]
        torch.distributed.broadcast_object_list(box, src=0)
        ckpt_path = box[0]
    state = load_checkpoint(ckpt_path) if ckpt_path else None

    init_bundle = None
    if state is None and cfg.init_from:
        from motiongen.pipelines.bundle import KIMODOBundle

        init_bundle = KIMODOBundle.from_pretrained(cfg.init_from)
        _check_same_architecture(init_bundle.config.to_dict(), den_cfg.to_dict(), cfg.init_from)
    if state is not None:
        _check_same_architecture(state["denoiser_config"], den_cfg.to_dict(), ckpt_path or "")
        # the model keeps normalising with the statistics it was trained with
        stats = stats_from_dict(state["stats"])
    elif init_bundle is not None:
        stats = init_bundle.stats
    else:
        stats = cache.stats(cfg.max_frames, yaw_augment=cfg.yaw_augment) if info.is_main else None
        info.barrier()
        if stats is None:
            stats = cache.stats(cfg.max_frames, yaw_augment=cfg.yaw_augment)

    torch.manual_seed(cfg.seed)  # identical init on every rank (DDP also broadcasts rank 0's)
    model = Denoiser(den_cfg, stats).to(device)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        _param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), eps=1e-8,
        fused=device.type == "cuda",
    )
    precision = autocast_precision(cfg.amp, device)
    if precision != cfg.amp:
        log(f"amp {cfg.amp} runs on CUDA and CPU only; training in float32 on {device}")
    amp_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    # fp16's narrow range underflows small gradients: scale the loss (the scaler skips inf steps)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def amp() -> Any:
        return torch.autocast(device.type, dtype=amp_dtype) if precision != "none" else contextlib.nullcontext()

    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, info.rank]))
    generator = torch.Generator().manual_seed(cfg.seed * 7919 + info.rank)
    torch.manual_seed(cfg.seed + 1000 * (info.rank + 1))  # dropout differs per rank
    step = 0
    wall_before = 0.0
    frames_seen = 0
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        wall_before = float(state.get("wall_time_s", 0.0))
        frames_seen = int(state.get("frames_seen", 0))
        rngs = state.get("rng") or []
        if len(rngs) == info.world_size:
            _restore_rng(rngs[info.rank], rng, generator)
        else:
            # a different world size: fresh, still distinct, streams for this resume point
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, info.rank, step]))
            generator.manual_seed(cfg.seed * 7919 + info.rank + 104729 * step)
        log(f"resuming from {ckpt_path} at step {step}")
    elif init_bundle is not None:
        weights = init_bundle.denoiser.state_dict()
        model.load_state_dict(weights)
        ema.load_state_dict(weights)
        step = int(init_bundle.info.get("steps", 0))
        wall_before = float(init_bundle.info.get("wall_time_s", 0.0))
        frames_seen = int(init_bundle.info.get("frames_seen", 0))
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, info.rank, step]))
        generator.manual_seed(cfg.seed * 7919 + info.rank + 104729 * step)
        log(f"starting from the weights of {cfg.init_from} (step {step}); optimizer state starts fresh")

    train_model: nn.Module = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    sampler = WindowSampler(
        cache.splits["train"], stats, table, min_frames=cfg.min_frames, max_frames=cfg.max_frames, rng=rng,
        yaw_augment=cfg.yaw_augment,
    )
    # a fixed set (windows, timesteps, noise, masks): the curve compares like with like
    val_batches = validation_set(cache, stats, table, schedule, cfg) if info.is_main else []

    metrics = MetricsLog(out / METRICS_FILE, enabled=info.is_main, resume_step=step if state is not None else None)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        params = sum(p.numel() for p in model.parameters())
        metrics.write({"step": step, "event": "start", "params": params, "world_size": info.world_size,
                       "threads": threads, "device": str(device), "amp": precision, "resumed_from": ckpt_path,
                       "train_clips": cache.splits["train"].num_clips, "train_frames": cache.splits["train"].num_frames})
        log(f"KIMODO training: {params / 1e6:.2f} M parameters, {info.world_size} process(es) x {threads} thread(s) "
            f"on {device}, batch {cfg.batch_size} x {info.world_size}, windows {cfg.min_frames}-{cfg.max_frames} frames, "
            f"steps {step} -> {cfg.total_steps}")

    hardware = _hardware(device, info, threads)
    data_info = _data_info(cache, cfg)
    data_hash = hashlib.sha256()

    def checkpoint(final: bool = False) -> Path:
        path = checkpoint_dir(out) / f"step-{step:08d}.pt"
        local = _rng_state(rng, generator)
        if info.distributed:
            gathered: list[Any] = [None] * info.world_size
            torch.distributed.all_gather_object(gathered, local)
        else:
            gathered = [local]
        if info.is_main:
            state = {
                "format": CHECKPOINT_FORMAT,
                "motiongen_version": __version__,
                "step": step,
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": {"kind": "warmup_cosine", "lr": cfg.lr, "warmup_steps": cfg.warmup_steps,
                              "total_steps": cfg.total_steps, "min_lr_ratio": cfg.min_lr_ratio,
                              "last_lr": learning_rate(max(step - 1, 0), cfg)},
                "scaler": None if scaler is None else scaler.state_dict(),
                "rng": gathered,
                "world_size": info.world_size,
                "config": cfg.to_dict(),
                "denoiser_config": den_cfg.to_dict(),
                "diffusion_config": diffusion.to_dict(),
                "stats": stats_to_dict(stats),
                "skeleton": layout.skeleton.to_dict(),
                "fps": layout.fps,
                "text_encoder": {"spec": getattr(encoder, "spec", None) or cfg.text_encoder,
                                 "identifier": encoder.identifier, "dim": int(encoder.dim)},
                "data": data_info,
                "hardware": hardware,
                "wall_time_s": wall_before + (time.perf_counter() - started),
                "frames_seen": frames_seen,
                "final": final,
                "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            }
            atomic_write(path, lambda handle: torch.save(state, handle))
            for _, old in list_checkpoints(out)[: -cfg.keep_checkpoints]:
                old.unlink(missing_ok=True)
        info.barrier()
        return path

    def reduce(values: list[float]) -> list[float]:
        if not info.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)  # nccl reduces device tensors only
        torch.distributed.all_reduce(t)
        return t.tolist()

    def stop_now() -> bool:
        if cfg.time_limit_minutes is None:
            return False
        flag = float(time.perf_counter() - started > cfg.time_limit_minutes * 60.0)
        return reduce([flag])[0] > 0  # every rank stops at the same step

    from tqdm import tqdm

    bar = tqdm(total=cfg.total_steps, initial=step, disable=not (cfg.progress and info.is_main), unit="step",
               file=sys.stderr, dynamic_ncols=True)
    window = {"n": 0.0, "frames": 0.0, "gn": 0.0, "skipped": 0.0}
    losses = torch.zeros(6, device=device)
    window_start = time.perf_counter()
    last_saved = step if state is not None else -1
    model.train()
    stopped_early = False
    try:
        while step < cfg.total_steps:
            lr = learning_rate(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # 1. windows  2. noise, dropouts, constraints  3.-4. x0 loss, AdamW step, EMA
            batch = sampler.sample(cfg.batch_size)
            cond = make_conditioning(batch, schedule, layout, cfg, rng, generator)
            data_hash.update(batch.clips.tobytes() + batch.lengths.tobytes())
            step_losses, grad_norm = train_step(
                train_model, ema, optimizer, batch.to(device), cond.to(device), cfg, step, amp=amp, scaler=scaler,
                geometry=(layout, stats),
            )
            step += 1
            frames = float(batch.lengths.sum())
            frames_seen += int(frames) * info.world_size
            # summed as tensors: no device sync per step (on CUDA); read at log time
            losses = losses + step_losses
            if not math.isfinite(grad_norm):
                window["skipped"] += 1
            window["gn"] += grad_norm if math.isfinite(grad_norm) else 0.0
            window["n"] += 1
            window["frames"] += frames
            bar.update(1)

            if step % cfg.log_every == 0 or step == cfg.total_steps:
                loss_sum, root_sum, body_sum, pos_sum, vel_sum, foot_sum, n, frame_sum, skipped = reduce(
                    losses.tolist() + [window["n"], window["frames"], window["skipped"]]
                )
                losses = torch.zeros(6, device=device)
                elapsed = time.perf_counter() - window_start
                record = {
                    "step": step,
                    "loss": loss_sum / n,
                    "loss_root": root_sum / n,
                    "loss_body": body_sum / n,
                    **({"loss_position": pos_sum / n, "loss_velocity": vel_sum / n, "loss_foot_contact": foot_sum / n}
                       if any(cfg.geometric_loss_weights) else {}),
                    "lr": lr,
                    "grad_norm": window["gn"] / window["n"],
                    "ema_decay": ema_decay_at(step - 1, cfg.ema_decay),
                    "steps_per_s": window["n"] / elapsed,
                    "frames_per_s": frame_sum / elapsed,
                    "skipped_steps": int(skipped),
                    "elapsed_s": round(time.perf_counter() - started, 2),
                }
                metrics.write(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.2e}", it_s=f"{record['steps_per_s']:.2f}")
                window = {k: 0.0 for k in window}
                window_start = time.perf_counter()
                if stop_now():
                    stopped_early = True
                    log(f"time limit of {cfg.time_limit_minutes} minutes reached at step {step}")
                    break
            if val_batches and (step % cfg.val_every == 0 or step == cfg.total_steps):
                t0 = time.perf_counter()
                geometric = any(cfg.geometric_loss_weights)
                ema_figures = validation_breakdown(ema, val_batches, device, amp,
                                                   geometry=(layout, stats) if geometric else None)
                metrics.write({"step": step, "val_loss": _validate(model, val_batches, device, amp),
                               "val_loss_ema": ema_figures["loss"],
                               **({f"val_{k}_ema": ema_figures[k] for k in ("position", "velocity", "foot_contact")}
                                  if geometric else {}),
                               "val_seconds": round(time.perf_counter() - t0, 2)})
                window_start += time.perf_counter() - t0  # validation time is not training speed
            if step % cfg.checkpoint_every == 0 and step < cfg.total_steps:
                checkpoint()
                last_saved = step
    except KeyboardInterrupt:
        if not info.distributed and step > 0 and step != last_saved:
            bar.close()
            log(f"interrupted: saving a checkpoint at step {step}")
            checkpoint()
        raise
    finally:
        bar.close()

    path = checkpoint(final=not stopped_early) if step != last_saved else checkpoint_dir(out) / f"step-{step:08d}.pt"
    # DDP keeps the replicas identical; check it, and that each rank drew its own windows
    digests = [weights_digest(model), data_hash.hexdigest()]
    if info.distributed:
        gathered: list[Any] = [None] * info.world_size
        torch.distributed.all_gather_object(gathered, digests)
    else:
        gathered = [digests]
    total_wall = wall_before + (time.perf_counter() - started)
    metrics.write({"step": step, "event": "end", "checkpoint": str(path), "wall_time_s": round(total_wall, 2),
                   "rank_weight_sha256": [g[0] for g in gathered], "rank_data_sha256": [g[1] for g in gathered],
                   "frames_seen": frames_seen})
    if len({g[0] for g in gathered}) != 1:
        log("warning: the ranks' final weights differ")
    log(f"done: step {step}, checkpoint {path}")
    return path


class _Printer:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)


# ==================================================================================================
# Export
# ==================================================================================================
def _geometric_terms_text(train_cfg: Mapping[str, Any]) -> str:
    """The model card's words for the geometric loss terms (empty when none was on)."""
    terms = [(name, float(train_cfg.get(f"{key}_loss_weight", 0.0) or 0.0))
             for name, key in (("joint positions", "position"), ("joint velocities", "velocity"),
                               ("foot-contact speed", "foot_contact"))]
    on = [f"{name} {weight:g}" for name, weight in terms if weight]
    return f", plus geometric terms on the decoded joints ({', '.join(on)})" if on else ""


def _model_card(state: Mapping[str, Any], use_ema: bool, params: int) -> str:
    cfg = state["denoiser_config"]
    data = state.get("data", {})
    hw = state.get("hardware", {})
    sources = data.get("sources", {})
    licences = [SOURCE_LICENCES[s] for s in sources if s in SOURCE_LICENCES]
    non_commercial = "bandai" in sources
    splits = data.get("splits", {})
    hours = {k: round(v.get("frames", 0) / float(state.get("fps", 30.0)) / 3600.0, 2) for k, v in splits.items()}
    train_cfg = state.get("config", {})
    source_text = ", ".join(f"{k} ({v.get('clips')} clips)" for k, v in sources.items()) or "see info"
    lines = [
        "# motiongen KIMODO text-to-motion model",
        "",
        "A small two-stage diffusion denoiser in the style of NVIDIA KIMODO (root stage, then body stage),",
        f"trained from scratch with motiongen on the {state['skeleton'].get('name', 'smplx22')} skeleton at "
        f"{state.get('fps', 30.0):g} fps.",
        "",
        "## Model",
        "",
        f"- denoiser: width {cfg['width']}, {cfg['layers']} layers per stage, {cfg['heads']} heads, ff {cfg['ff']}, "
        f"{params / 1e6:.2f} M parameters; up to {cfg['max_frames']} frames per prompt",
        f"- weights: {'EMA' if use_ema else 'raw (non-EMA)'} weights of step {state['step']}",
        f"- diffusion: x0 prediction, cosine schedule, {state.get('diffusion_config', {}).get('num_train_steps', 1000)} "
        "steps; sample with deterministic DDIM and classifier-free guidance",
        f"- text encoder: {state.get('text_encoder', {}).get('identifier')} (referenced, not stored)",
        "",
        "## Training",
        "",
        f"- steps: {state['step']} (batch {train_cfg.get('batch_size')} x {hw.get('world_size', 1)} process(es), "
        f"windows {train_cfg.get('min_frames')}-{train_cfg.get('max_frames')} frames, lr {train_cfg.get('lr')}, "
        f"warm-up {train_cfg.get('warmup_steps')}, cosine to step {train_cfg.get('total_steps')})",
        f"- objective: x0 MSE, root dims weighted {train_cfg.get('root_loss_weight', 1.0):g}"
        f"{_geometric_terms_text(train_cfg)}; text dropout "
        f"{train_cfg.get('text_dropout')}, random constraints on {train_cfg.get('constraint_probability')} of the "
        f"windows (dropped again on {train_cfg.get('constraint_dropout')}); settings of the last resume (the "
        "config file's comments record earlier values)",
        f"- frames seen: {state.get('frames_seen', 0)}",
        f"- hardware: {hw.get('device')} ({hw.get('cpu', '')}), {hw.get('world_size', 1)} process(es) x "
        f"{hw.get('threads_per_process')} thread(s){', ' + hw['gpu'] if hw.get('gpu') else ''}",
        f"- wall time: {state.get('wall_time_s', 0.0) / 60.0:.1f} min",
        f"- data: {source_text}; "
        f"splits {json.dumps(splits)} (hours {json.dumps(hours)}; train counts the mirrored copies: "
        f"{data.get('mirrored')})",
        "",
        "## Licence and credits",
        "",
    ]
    lines += [f"- {x}" for x in licences]
    lines.append(f"- {CAPTION_CREDITS}")
    lines.append("- Architecture after NVIDIA KIMODO (Apache-2.0); motiongen code Apache-2.0.")
    lines += [
        "",
        "**Licence of these weights: "
        + ("CC BY-NC 4.0 (non-commercial use only), inherited from the Bandai Namco training data.**"
           if non_commercial else "the most restrictive of the data licences above.**"),
        "",
        "## Limitations",
        "",
        "Trained on a few hours of motion capture with short, templated captions, on CPU for a short time:",
        "expect plausible locomotion and common actions, weak adherence to unusual prompts. Not comparable to",
        "published HumanML3D numbers (different data, splits and evaluator).",
    ]
    return "\n".join(lines) + "\n"


def model_info(state: Mapping[str, Any], use_ema: bool) -> dict[str, Any]:
    """Provenance stored in the bundle's ``model_index.json`` ``info``."""
    data = state.get("data", {})
    sources = data.get("sources", {})
    return {
        "trained_with": f"motiongen {state.get('motiongen_version')}",
        "steps": int(state["step"]),
        "weights": "ema" if use_ema else "raw",
        # names, not this machine's paths: the info ships inside the bundle
        "data": {"dataset": Path(str(data.get("dataset", ""))).name, "sources": sources,
                 "captions": data.get("captions"), "mirrored": data.get("mirrored")},
        "splits": data.get("splits"),
        "hardware": state.get("hardware"),
        "wall_time_s": round(float(state.get("wall_time_s", 0.0)), 1),
        "frames_seen": int(state.get("frames_seen", 0)),
        "licence": "CC BY-NC 4.0 (non-commercial; Bandai Namco data)" if "bandai" in sources else
        "; ".join(SOURCE_LICENCES[s] for s in sources if s in SOURCE_LICENCES),
        "train_config": {k: v for k, v in (state.get("config") or {}).items() if k not in _LOCAL_PATH_KEYS},
    }


def export_bundle(
    checkpoint: str | Path, out_dir: str | Path, *, use_ema: bool = True, weights_dtype: str = "float32"
) -> Path:
    """Write a :class:`~motiongen.pipelines.bundle.KIMODOBundle` folder from a training checkpoint.

    Args:
        checkpoint: a checkpoint file or a run folder (its latest checkpoint).
        out_dir: the bundle folder (replaced atomically).
        use_ema: export the EMA weights (default) or the raw ones.
        weights_dtype: ``float32`` or ``float16`` (half the size; loaded back as float32).

    Returns the bundle folder.
    """
    from motiongen.models.kimodo.config import DiffusionConfig, KimodoDenoiserConfig
    from motiongen.pipelines.bundle import KIMODOBundle

    state = load_checkpoint(checkpoint)
    config = KimodoDenoiserConfig.from_dict(state["denoiser_config"])
    stats = stats_from_dict(state["stats"])
    skeleton = Skeleton.from_dict(state["skeleton"])
    text = state.get("text_encoder", {}).get("spec") or {"type": "minilm"}
    if isinstance(text, str):
        from motiongen.text.registry import load_text_encoder

        text = getattr(load_text_encoder(text, cache_dir=False), "spec", None) or {"type": text}
    weights = state["ema" if use_ema else "model"]
    params = sum(int(v.numel()) for v in weights.values())
    bundle = KIMODOBundle.create(
        config, stats, skeleton, text_encoder_spec=text,
        diffusion=DiffusionConfig.from_dict(state.get("diffusion_config") or {}),
        model_card=_model_card(state, use_ema, params), info=model_info(state, use_ema), state_dict=weights,
    )
    return bundle.save_pretrained(out_dir, weights_dtype=weights_dtype)


# ==================================================================================================
# Command line (torchrun -m motiongen.train.kimodo --config FILE)
# ==================================================================================================
def run_from_args(args: argparse.Namespace) -> int:
    from motiongen.train.arguments import config_overrides

    overrides = config_overrides(args)
    path = train_kimodo(args.config, resume=args.resume, overrides=overrides)
    if args.export and int(os.environ.get("RANK", "0")) == 0:
        out = export_bundle(path, args.export, weights_dtype="float16" if args.fp16_weights else "float32")
        print(f"exported {out}")
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from motiongen.train.arguments import build_parser, run_command

    return run_command(build_parser, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
