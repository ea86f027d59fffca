"""Train the text-motion evaluator: ``motiongen train evaluator --config configs/evaluator_smplx.yaml``.

One step (spelled out in :func:`train_evaluator`):

1. draw ``batch_size`` training clips, a random crop of each (``min_frames`` .. the evaluator's
   ``max_frames``) and one of its captions;
2. embed both sides (:class:`~motiongen.models.evaluator.model.TextMotionModel`): motion features
   normalised with the training split's mean and std, caption tokens from the frozen MiniLM;
3. symmetric InfoNCE with near-duplicate captions removed from the negatives
   (:func:`~motiongen.models.evaluator.model.duplicate_caption_mask`);
4. AdamW with warm-up + cosine LR and gradient clipping, then the EMA of the weights (exported).

Only the training split is read for training and normalisation; validation (InfoNCE loss and
R-precision in batches of 32 on the ``val`` split) picks nothing, it is logged. The test split is
never touched here: it is what the evaluator judges later.

Run folder: ``config.json``, ``metrics.jsonl``, ``checkpoints/step-XXXXXXXX.pt`` and ``data/``
(features and caption tokens computed once, reused on resume).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from motiongen import __version__
from motiongen.errors import InputError, MotiongenError
from motiongen.io.atomic import atomic_write_text
from motiongen.models.evaluator.evaluator import TextMotionEvaluator
from motiongen.models.evaluator.features import evaluator_feature_dim, positions_to_evaluator_features
from motiongen.models.evaluator.model import (
    EvaluatorConfig,
    TextMotionModel,
    duplicate_caption_mask,
    filtered_info_nce,
    side_words,
)
from motiongen.train.config import apply_overrides, read_config_file
from motiongen.train.loop import decay_groups, load_checkpoint, open_run_dir, save_checkpoint
from motiongen.train.kimodo import (
    SOURCE_LICENCES,
    MetricsLog,
    checkpoint_dir,
    ema_decay_at,
    ema_update,
    latest_checkpoint,
    learning_rate,
    resolve_checkpoint,
)

CHECKPOINT_FORMAT = "motiongen.evaluator_checkpoint/1"
DATA_DIR = "data"
_DERIVED_MODEL_KEYS = ("motion_dim", "text_dim")


@dataclass
class EvaluatorTrainConfig:
    """Everything an evaluator training run reads (stored in every checkpoint).

    Data: ``output_dir`` (run folder), ``cache`` (motiongen cache with ``datasets/``), ``dataset`` (a
    built dataset folder; default the full build), ``mirrored`` (train on mirrored copies too).
    Model: ``model`` sets :class:`EvaluatorConfig` sizes (not ``motion_dim``/``text_dim``: derived).
    Batches: ``batch_size`` clips per step, crops of ``min_frames`` .. ``model.max_frames`` frames.
    Optimisation: AdamW ``lr``/``weight_decay``, ``warmup_steps``, cosine to ``lr * min_lr_ratio`` at
    ``total_steps``, ``grad_clip``, ``ema_decay``. Negatives: ``duplicate_threshold`` (caption cosine
    above which, with the same side words, a pair is no negative). Logging: ``log_every``,
    ``val_every``, ``checkpoint_every``, ``keep_checkpoints``; ``time_limit_minutes`` stops cleanly
    with a checkpoint; ``threads`` (0: all cores); ``seed``; ``progress``.
    """

    output_dir: str = "runs/evaluator-smplx"
    cache: str | None = None
    dataset: str | None = None
    mirrored: bool = True
    model: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 128
    min_frames: int = 40
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 150
    total_steps: int = 3000
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    duplicate_threshold: float = 0.8
    log_every: int = 25
    val_every: int = 250
    checkpoint_every: int = 250
    keep_checkpoints: int = 2
    time_limit_minutes: float | None = None
    threads: int = 0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 2), ("min_frames", 2), ("total_steps", 1), ("log_every", 1),
                          ("val_every", 1), ("checkpoint_every", 1), ("keep_checkpoints", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"must be an integer >= {low}, got {value!r}", field=name)
        for name in ("warmup_steps", "threads", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"must be an integer >= 0, got {value!r}", field=name)
        for name, low, high in (("lr", 0.0, 1.0), ("weight_decay", 0.0, 1.0), ("min_lr_ratio", 0.0, 1.0),
                                ("grad_clip", 0.0, math.inf), ("ema_decay", 0.0, 1.0),
                                ("duplicate_threshold", -1.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
                raise InputError(f"must be a number in [{low}, {high}], got {value!r}", field=name)
            setattr(self, name, float(value))
        if not isinstance(self.model, Mapping):
            raise InputError("must be a mapping of evaluator sizes", field="model")
        known = [f.name for f in fields(EvaluatorConfig) if f.name not in _DERIVED_MODEL_KEYS]
        for key in self.model:
            if key not in known:
                raise InputError(f"unknown key; known: {', '.join(known)}", field=f"model.{key}")
        if self.time_limit_minutes is not None and not (
            isinstance(self.time_limit_minutes, (int, float)) and self.time_limit_minutes > 0
        ):
            raise InputError(f"must be a positive number or null, got {self.time_limit_minutes!r}",
                             field="time_limit_minutes")
        if self.min_frames > self.model_config(1, 1).max_frames:
            raise InputError(f"{self.min_frames} exceeds model.max_frames", field="min_frames")

    def model_config(self, motion_dim: int, text_dim: int) -> EvaluatorConfig:
        return EvaluatorConfig(**{**self.model, "motion_dim": motion_dim, "text_dim": text_dim})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str | Path | None = None) -> "EvaluatorTrainConfig":
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise InputError(f"unknown key '{key}'; known: {', '.join(known)}", path=path, field=str(key))
        return cls(**dict(data))


def load_evaluator_config(
    path: str | Path, overrides: Mapping[str, Any] | Sequence[str] | None = None
) -> EvaluatorTrainConfig:
    """Read an evaluator training config (YAML or JSON) and apply ``key=value`` overrides."""
    data = apply_overrides(read_config_file(path), overrides, known=[f.name for f in fields(EvaluatorTrainConfig)])
    return EvaluatorTrainConfig.from_dict(data, path=path)


# ==================================================================================================
# Data: features of every clip and token embeddings of every caption, computed once per run folder
# ==================================================================================================
@dataclass
class TextMotionSplit:
    """One split as the trainer reads it: raw features ``[T_i, D]`` and caption indices per clip."""

    features: list[np.ndarray]
    caption_ids: list[list[int]]
    clip_ids: list[str]


@dataclass
class CaptionTable:
    """Every caption once: MiniLM tokens (float16), valid masks, sentence vectors and side words."""

    texts: list[str]
    tokens: np.ndarray
    valid: np.ndarray
    sentences: np.ndarray
    sides: list[tuple[str, ...]]


def _dataset_folder(cfg: EvaluatorTrainConfig) -> Path:
    from motiongen.train.features import dataset_source

    kind, path = dataset_source(cache=cfg.cache, dataset=cfg.dataset)
    return path


def _fingerprint(folder: Path, mirrored: bool) -> str:
    manifest = (folder / "manifest.json").read_bytes()
    return hashlib.sha256(manifest + f"|mirrored={mirrored}|features=1".encode()).hexdigest()[:16]


def _split_features(folder: Path, split: str, mirrored: bool, progress: bool) -> tuple[list[np.ndarray], list[list[str]], list[str]]:
    from tqdm import tqdm

    from motiongen.data.dataset import MotionDataset

    ds = MotionDataset(split=split, mirrored=mirrored, root=folder)
    feats, captions, ids = [], [], []
    for i in tqdm(range(len(ds)), desc=f"evaluator features ({split})", disable=not progress, unit="clip"):
        motion, caps = ds[i]
        if motion.num_frames < 2 or not caps:
            continue
        feats.append(positions_to_evaluator_features(motion.joint_positions(), motion.skeleton, motion.fps))
        captions.append(list(caps))
        ids.append(str(motion.meta["clip_id"]))
    return feats, captions, ids


def prepare_evaluator_data(
    cfg: EvaluatorTrainConfig, run_dir: Path, *, progress: bool = True
) -> tuple[dict[str, TextMotionSplit], CaptionTable, Any]:
    """``({"train", "val"} splits, caption table, skeleton)``, from ``run_dir/data`` when up to date."""
    from motiongen.data.dataset import SKELETON_FILE
    from motiongen.skeleton.skeleton import Skeleton
    from motiongen.text.minilm import MiniLMEncoder
    from motiongen.text.registry import load_text_encoder

    folder = _dataset_folder(cfg)
    skeleton = Skeleton.from_dict(json.loads((folder / SKELETON_FILE).read_text()))
    data_dir = run_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    key = _fingerprint(folder, cfg.mirrored)
    cached = data_dir / f"clips-{key}.npz"
    max_tokens = cfg.model_config(1, 1).max_text_tokens
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            table = CaptionTable(meta["texts"], z["tokens"], z["valid"], z["sentences"], [side_words(t) for t in meta["texts"]])
            splits = {}
            for split in ("train", "val"):
                flat, offsets = z[f"{split}_features"], z[f"{split}_offsets"]
                feats = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
                splits[split] = TextMotionSplit(feats, meta[f"{split}_captions"], meta[f"{split}_ids"])
        return splits, table, skeleton
    raw = {s: _split_features(folder, s, cfg.mirrored and s == "train", progress) for s in ("train", "val")}
    texts = sorted({c for s in raw.values() for caps in s[1] for c in caps})
    index = {t: i for i, t in enumerate(texts)}
    encoder = MiniLMEncoder()
    tokens = np.zeros((len(texts), max_tokens, encoder.dim), dtype=np.float16)
    valid = np.zeros((len(texts), max_tokens), dtype=bool)
    step = 256
    from tqdm import tqdm

    for start in tqdm(range(0, len(texts), step), desc="caption tokens", disable=not progress, unit="batch"):
        t, v = encoder.encode_tokens(texts[start : start + step], max_tokens)
        tokens[start : start + step], valid[start : start + step] = t.astype(np.float16), v
    sentences = load_text_encoder("minilm", cache_dir=None if cfg.cache is None else Path(cfg.cache) / "text").encode(texts)
    meta: dict[str, Any] = {"texts": texts}
    arrays: dict[str, np.ndarray] = {"tokens": tokens, "valid": valid, "sentences": sentences.astype(np.float32)}
    splits = {}
    for split, (feats, caps, ids) in raw.items():
        ids_per_clip = [[index[c] for c in clip] for clip in caps]
        meta[f"{split}_captions"], meta[f"{split}_ids"] = ids_per_clip, ids
        arrays[f"{split}_features"] = np.concatenate(feats) if feats else np.zeros((0, evaluator_feature_dim(skeleton.num_joints)), np.float32)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(f) for f in feats]).astype(np.int64)
        splits[split] = TextMotionSplit(feats, ids_per_clip, ids)
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = cached.with_name(cached.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cached)
    table = CaptionTable(texts, tokens, valid, sentences.astype(np.float32), [side_words(t) for t in texts])
    return splits, table, skeleton


def feature_statistics(split: TextMotionSplit) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over every frame of the split (float64 sums)."""
    flat = np.concatenate(split.features).astype(np.float64)
    return flat.mean(0).astype(np.float32), flat.std(0).astype(np.float32)


# ==================================================================================================
# Batches
# ==================================================================================================
@dataclass
class PairBatch:
    features: torch.Tensor  # [B, T, D] normalised
    valid: torch.Tensor  # [B, T]
    tokens: torch.Tensor  # [B, L, text_dim]
    token_valid: torch.Tensor  # [B, L]
    duplicates: torch.Tensor  # [B, B]


def make_batch(
    split: TextMotionSplit,
    table: CaptionTable,
    clips: Sequence[int],
    mean: np.ndarray,
    std: np.ndarray,
    max_frames: int,
    threshold: float,
    *,
    rng: np.random.Generator | None = None,
    min_frames: int = 40,
) -> PairBatch:
    """Pairs for ``clips``: with ``rng`` a random crop and caption each, else the first ``max_frames``
    frames and the first caption (validation)."""
    crops, captions = [], []
    for c in clips:
        f = split.features[c]
        t = f.shape[0]
        if rng is None:
            crops.append(f[:max_frames])
            captions.append(split.caption_ids[c][0])
            continue
        length = int(rng.integers(min(min_frames, t), min(t, max_frames) + 1))
        start = int(rng.integers(0, t - length + 1))
        crops.append(f[start : start + length])
        captions.append(split.caption_ids[c][int(rng.integers(len(split.caption_ids[c])))])
    t_max = max(x.shape[0] for x in crops)
    x = np.zeros((len(crops), t_max, crops[0].shape[1]), dtype=np.float32)
    valid = np.zeros((len(crops), t_max), dtype=bool)
    for i, crop in enumerate(crops):
        x[i, : len(crop)], valid[i, : len(crop)] = (crop - mean) / std, True
    ids = np.asarray(captions)
    sentences = torch.from_numpy(table.sentences[ids])
    duplicates = duplicate_caption_mask(sentences, [table.texts[i] for i in ids], threshold)
    duplicates |= torch.from_numpy(ids[:, None] == ids[None, :])
    duplicates.fill_diagonal_(False)
    return PairBatch(
        torch.from_numpy(x), torch.from_numpy(valid),
        torch.from_numpy(table.tokens[ids].astype(np.float32)), torch.from_numpy(table.valid[ids]), duplicates,
    )


def pair_loss(model: TextMotionModel, batch: PairBatch) -> torch.Tensor:
    motion = model.motion(batch.features, batch.valid)
    text = model.text(batch.tokens, batch.token_valid)
    return filtered_info_nce(text, motion, batch.duplicates, model.config.temperature)


@torch.no_grad()
def validate(
    model: TextMotionModel, split: TextMotionSplit, table: CaptionTable, mean: np.ndarray, std: np.ndarray,
    threshold: float, *, seed: int = 0,
) -> dict[str, float]:
    """InfoNCE loss (batches of 128, first caption, first ``max_frames`` frames) and R-precision
    top-1/2/3 in batches of 32 (text -> motion, Euclidean, clips in one fixed shuffled order)."""
    from motiongen.metrics.t2m import r_precision

    model.eval()
    order = np.random.default_rng(seed).permutation(len(split.features))
    losses, motions, texts = [], [], []
    for start in range(0, len(order), 128):
        batch = make_batch(split, table, order[start : start + 128], mean, std, model.config.max_frames, threshold)
        m = model.motion(batch.features, batch.valid)
        t = model.text(batch.tokens, batch.token_valid)
        if len(m) > 1:
            losses.append((filtered_info_nce(t, m, batch.duplicates, model.config.temperature).item(), len(m)))
        motions.append(m.numpy())
        texts.append(t.numpy())
    model.train()
    out = {"val_loss": sum(l * n for l, n in losses) / max(1, sum(n for _, n in losses))}
    motions_all, texts_all = np.concatenate(motions), np.concatenate(texts)
    if len(motions_all) >= 32:
        top = r_precision(texts_all, motions_all, batch_size=32, top_k=3)
        out.update({f"val_r{k + 1}": float(top[k]) for k in range(3)})
    return out


# ==================================================================================================
# Training
# ==================================================================================================
def train_evaluator(cfg: EvaluatorTrainConfig, *, resume: bool = True, log: Any = None) -> Path:
    """Train (or continue) the evaluator described by ``cfg``; returns the latest checkpoint path."""
    from tqdm import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr))
    run_dir = Path(cfg.output_dir)
    done = open_run_dir(run_dir, resume=resume, total_steps=cfg.total_steps, log=log)
    if done is not None:
        return done
    threads = cfg.threads or max(1, torch.get_num_threads())
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        splits, table, skeleton = prepare_evaluator_data(cfg, run_dir, progress=cfg.progress)
        train, val = splits["train"], splits["val"]
        if len(train.features) < cfg.batch_size:
            raise InputError(
                f"the training split has {len(train.features)} clips, fewer than batch_size {cfg.batch_size}",
                field="batch_size",
            )
        model_cfg = cfg.model_config(train.features[0].shape[1], table.tokens.shape[2])
        mean, std = feature_statistics(train)
        std = np.maximum(std, 1e-2)
        torch.manual_seed(cfg.seed)
        model = TextMotionModel(model_cfg)
        ema = copy.deepcopy(model).eval()
        groups = decay_groups(model, cfg.weight_decay, lambda name, p: p.ndim < 2 or name.endswith("summary"))
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))
        rng = np.random.default_rng(cfg.seed)
        step = 0
        ckpt = latest_checkpoint(run_dir) if resume else None
        if ckpt is not None:
            state = load_checkpoint(ckpt, CHECKPOINT_FORMAT, "an evaluator", model_cfg.to_dict())
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"])
            mean, std = state["mean"], state["std"]
            step = int(state["step"])
            log(f"resuming from {ckpt} at step {step}")
        metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=True, resume_step=step if ckpt else None)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
        params = sum(p.numel() for p in model.parameters())
        log(f"evaluator training: {params / 1e6:.2f} M parameters, {threads} thread(s), batch {cfg.batch_size}, "
            f"{len(train.features)} training clips, {len(table.texts)} captions, steps {step} -> {cfg.total_steps}")

        def checkpoint_state() -> dict[str, Any]:
            return {
                "format": CHECKPOINT_FORMAT, "step": step, "model": model.state_dict(), "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "config": cfg.to_dict(), "model_config": model_cfg.to_dict(), "mean": mean, "std": std,
                "skeleton": skeleton.to_dict(), "fps": 30.0, "data": _data_notes(cfg, train, val, table),
                "motiongen_version": __version__,
            }

        started = time.perf_counter()
        model.train()
        bar = tqdm(total=cfg.total_steps, initial=step, disable=not cfg.progress, unit="step", desc="evaluator")
        running: list[float] = []
        last_path = ckpt
        while step < cfg.total_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, cfg)  # type: ignore[arg-type]
            clips = rng.choice(len(train.features), size=cfg.batch_size, replace=False)
            batch = make_batch(train, table, clips, mean, std, model_cfg.max_frames, cfg.duplicate_threshold,
                               rng=rng, min_frames=cfg.min_frames)
            loss = pair_loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
            optimizer.step()
            ema_update(ema, model, ema_decay_at(step, cfg.ema_decay))
            step += 1
            running.append(loss.item())
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.total_steps:
                metrics.write({"step": step, "loss": float(np.mean(running)), "lr": learning_rate(step - 1, cfg),  # type: ignore[arg-type]
                               "grad_norm": grad_norm, "elapsed_s": round(time.perf_counter() - started, 2)})
                bar.set_postfix(loss=f"{np.mean(running):.3f}")
                running = []
            if step % cfg.val_every == 0 or step == cfg.total_steps:
                figures = validate(ema, val, table, mean, std, cfg.duplicate_threshold)
                metrics.write({"step": step, **{k: round(v, 5) for k, v in figures.items()}})
                log(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()))
            timed_out = cfg.time_limit_minutes is not None and time.perf_counter() - started > cfg.time_limit_minutes * 60
            if step % cfg.checkpoint_every == 0 or step == cfg.total_steps or timed_out:
                last_path = checkpoint_dir(run_dir) / f"step-{step:08d}.pt"
                save_checkpoint(last_path, checkpoint_state(), cfg.keep_checkpoints, run_dir)
            if timed_out:
                log(f"time limit of {cfg.time_limit_minutes} minutes reached at step {step}")
                break
        bar.close()
        if last_path is None:
            raise MotiongenError("no training step was run and no checkpoint exists")
        return last_path
    finally:
        torch.set_num_threads(saved_threads)


def _data_notes(cfg: EvaluatorTrainConfig, train: TextMotionSplit, val: TextMotionSplit, table: CaptionTable) -> dict[str, Any]:
    sources = sorted({cid.split("/", 1)[0] for cid in train.clip_ids})
    return {
        "dataset": str(_dataset_folder(cfg).name),
        "train_clips": len(train.clip_ids), "val_clips": len(val.clip_ids),
        "train_frames": int(sum(len(f) for f in train.features)), "captions": len(table.texts),
        "mirrored": cfg.mirrored, "sources": sources,
    }


# ==================================================================================================
# Export
# ==================================================================================================
def export_evaluator(checkpoint: str | Path, out_dir: str | Path, *, weights_dtype: str = "float16") -> Path:
    """Write the checkpoint's EMA encoders as an evaluator folder (with a model card)."""
    from motiongen.skeleton.skeleton import Skeleton
    from motiongen.train.kimodo import read_metrics

    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path, CHECKPOINT_FORMAT, "an evaluator")
    model = TextMotionModel(EvaluatorConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["ema"])
    run_dir = path.parent.parent
    val = [r for r in read_metrics(run_dir) if "val_loss" in r and r["step"] <= state["step"]]
    info = {
        "steps": int(state["step"]), "weights": "ema", "data": state["data"],
        "validation": val[-1] if val else None, "trained_with": f"motiongen {state.get('motiongen_version')}",
        "train_config": state["config"],
        "licence": "CC BY-NC 4.0 (non-commercial; trained on Bandai Namco data)",
    }
    evaluator = TextMotionEvaluator(model, state["mean"], state["std"], Skeleton.from_dict(state["skeleton"]),
                                    state.get("fps", 30.0), info)
    folder = evaluator.save_pretrained(out_dir, weights_dtype=weights_dtype)
    # the card names the version of the weights as stored (float16), which only a reload gives
    stored = TextMotionEvaluator.from_pretrained(folder)
    atomic_write_text(Path(folder) / "README.md", _model_card(stored, info))
    return folder


def _model_card(evaluator: TextMotionEvaluator, info: Mapping[str, Any]) -> str:
    cfg = evaluator.config
    params = sum(p.numel() for p in evaluator.model.parameters())
    val = info.get("validation") or {}
    data = info["data"]
    lines = [
        "# motiongen/evaluator-smplx",
        "",
        "A frozen text-motion evaluator (TMR-style contrastive encoders) that `motiongen eval` uses to score",
        "generated motions: FID, R-precision, MM-Dist, diversity and multimodality are computed on its embeddings.",
        "Figures computed with it are comparable only with figures that name the same evaluator version.",
        "",
        "- motion encoder: joint positions -> heading-relative features "
        f"({cfg.motion_dim}-d per frame, `motiongen.models.evaluator.features`), {cfg.frames_per_token} frames per token, "
        f"{cfg.motion_layers}-layer transformer, width {cfg.width}; up to {cfg.max_frames} frames (30 fps)",
        f"- text encoder: frozen all-MiniLM-L6-v2 token embeddings (up to {cfg.max_text_tokens} word pieces) -> "
        f"{cfg.text_layers}-layer transformer, width {cfg.width}",
        f"- shared space: {cfg.latent}-d unit vectors; {params / 1e6:.2f} M parameters (float16 weights)",
        f"- objective: symmetric InfoNCE (temperature {cfg.temperature}); negatives whose captions are near-duplicates "
        "(MiniLM sentence cosine above the threshold and the same left/right words) are removed",
        f"- training: {info['steps']} steps of batch {info['train_config']['batch_size']}, EMA weights; "
        f"training split only ({data['train_clips']} clips incl. mirrored copies, {data['captions']} distinct captions); "
        "the test split is never read",
        f"- version: `{evaluator.version}`",
        "",
        "## Validation (val split; first caption per clip, first 300 frames)",
        "",
    ]
    if val:
        lines += [
            "| R-precision top-1 | top-2 | top-3 | InfoNCE loss | chance top-3 |",
            "|---|---|---|---|---|",
            f"| {val.get('val_r1', float('nan')):.3f} | {val.get('val_r2', float('nan')):.3f} | "
            f"{val.get('val_r3', float('nan')):.3f} | {val['val_loss']:.3f} | {3 / 32:.3f} |",
            "",
            f"(batches of 32, text -> motion, Euclidean distance; step {val['step']})",
        ]
    lines += [
        "",
        "## Data and licence",
        "",
        *(f"- {SOURCE_LICENCES[s]}" for s in data["sources"] if s in SOURCE_LICENCES),
        "",
        "Trained on Bandai Namco data, so the weights inherit CC BY-NC 4.0: non-commercial use only.",
        "",
    ]
    return "\n".join(lines)


# ==================================================================================================
# Command line
# ==================================================================================================
def run_from_args(args: argparse.Namespace) -> int:
    from motiongen.train.arguments import config_overrides

    overrides = config_overrides(args)
    cfg = load_evaluator_config(args.config, overrides)
    path = train_evaluator(cfg, resume=args.resume)
    if args.export:
        folder = export_evaluator(path, args.export)
        print(f"exported {path} -> {folder}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from motiongen.train.arguments import build_evaluator_parser, run_command

    return run_command(build_evaluator_parser, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
