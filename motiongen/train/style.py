"""Train the style classifier: ``motiongen train style-classifier --config configs/style_classifier_smplx.yaml``.

One step (spelled out in :func:`train_style_classifier`):

1. draw ``batch_size`` windows of ``model.window`` frames from training clips, the batch shared evenly
   between the heads (``bandai-7``: dataset 2, ~4800 clips with mirrored copies; ``bandai-15``:
   dataset 1, ~270), so the small label set is not drowned by the large one; each window a random
   crop, optionally resampled by a random rate (``time_stretch``, velocities scaled to match);
2. run the shared trunk once, each head on its own windows; the loss is the mean over heads of their
   cross-entropy;
3. AdamW with warm-up + cosine LR (:func:`motiongen.train.kimodo.learning_rate`) and gradient clipping.

Every ``val_every`` steps each unmirrored ``val`` clip is classified whole (sliding windows, as
:meth:`~motiongen.models.style.classifier.StyleClassifier.predict_proba` reads clips); the weights
with the best mean accuracy over the heads are kept in the checkpoints and are the ones exported. The
test split is never read for training or selection: :func:`export_style_classifier` measures it once,
on the exported weights, for the model card.

Run folder: ``config.json``, ``metrics.jsonl``, ``checkpoints/step-XXXXXXXX.pt`` and ``data/``
(every clip's features, computed once and reused on resume).
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
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from motiongen import __version__
from motiongen.errors import InputError, MotiongenError
from motiongen.evaluation.style import accuracy_report, labelled_items, style_label_sets
from motiongen.models.evaluator.features import evaluator_feature_dim
from motiongen.models.style.classifier import (
    MIN_STD,
    StyleClassifier,
    StyleClassifierConfig,
    StyleNet,
    clip_probabilities,
    style_features,
)
from motiongen.train.config import apply_overrides, read_config_file
from motiongen.train.kimodo import (
    SOURCE_LICENCES,
    MetricsLog,
    checkpoint_dir,
    latest_checkpoint,
    learning_rate,
    resolve_checkpoint,
)
from motiongen.train.loop import (
    decay_groups,
    load_checkpoint,
    open_run_dir,
    save_checkpoint,
)

CHECKPOINT_FORMAT = "motiongen.style_classifier_checkpoint/1"
DATA_DIR = "data"
#: StyleClassifierConfig fields that follow from the data, not from the training config.
_DERIVED_MODEL_KEYS = ("feature_dim", "label_sets")
_FEATURES_VERSION = 1


@dataclass
class StyleTrainConfig:
    """Everything a style classifier training run reads (stored in every checkpoint).

    Data: ``output_dir`` (run folder), ``cache`` (motiongen cache with ``datasets/``), ``dataset`` (a
    built dataset folder or build name; default the full build), ``mirrored`` (train on the mirrored
    copies too: style does not change in a mirror). Model: ``model`` sets
    :class:`~motiongen.models.style.classifier.StyleClassifierConfig` sizes (``width``, ``layers``,
    ``kernel``, ``dropout``, ``window``; the feature size and label sets come from the data).
    Batches: ``batch_size`` windows per step, split evenly between the heads; ``time_stretch`` x
    resamples each window by a random rate in ``[1 - x, 1 + x]`` (0: off). Optimisation: AdamW
    ``lr``/``weight_decay``, ``warmup_steps``, cosine to ``lr * min_lr_ratio`` at ``total_steps``,
    ``grad_clip``, ``label_smoothing``. Bookkeeping: ``log_every``, ``val_every`` (validation and best
    weights), ``checkpoint_every``, ``keep_checkpoints``; ``time_limit_minutes`` stops cleanly with a
    checkpoint; ``threads`` (0: all cores); ``seed``; ``progress``.
    """

    output_dir: str = "runs/style-classifier-smplx"
    cache: str | None = None
    dataset: str | None = None
    mirrored: bool = True
    model: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    time_stretch: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    total_steps: int = 3000
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    log_every: int = 50
    val_every: int = 200
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    time_limit_minutes: float | None = None
    threads: int = 0
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 2), ("total_steps", 1), ("log_every", 1), ("val_every", 1),
                          ("checkpoint_every", 1), ("keep_checkpoints", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"must be an integer >= {low}, got {value!r}", field=name)
        for name in ("warmup_steps", "threads", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"must be an integer >= 0, got {value!r}", field=name)
        for name, low, high in (("lr", 0.0, 1.0), ("weight_decay", 0.0, 1.0), ("min_lr_ratio", 0.0, 1.0),
                                ("grad_clip", 0.0, math.inf), ("time_stretch", 0.0, 0.5),
                                ("label_smoothing", 0.0, 0.5)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
                raise InputError(f"must be a number in [{low}, {high}], got {value!r}", field=name)
            setattr(self, name, float(value))
        if not isinstance(self.mirrored, bool) or not isinstance(self.progress, bool):
            raise InputError("must be true or false", field="mirrored" if not isinstance(self.mirrored, bool) else "progress")
        if not isinstance(self.model, Mapping):
            raise InputError("must be a mapping of classifier sizes", field="model")
        known = [f.name for f in fields(StyleClassifierConfig) if f.name not in _DERIVED_MODEL_KEYS]
        for key in self.model:
            if key not in known:
                raise InputError(f"unknown key; known: {', '.join(known)}", field=f"model.{key}")
        if self.time_limit_minutes is not None and not (
            isinstance(self.time_limit_minutes, (int, float)) and not isinstance(self.time_limit_minutes, bool)
            and self.time_limit_minutes > 0
        ):
            raise InputError(f"must be a positive number or null, got {self.time_limit_minutes!r}",
                             field="time_limit_minutes")
        self.model_config(133, {"a": ["x", "y"]})  # sizes out of range fail here, before any data is read

    @property
    def window(self) -> int:
        return int(self.model.get("window", StyleClassifierConfig.window))

    def model_config(self, feature_dim: int, label_sets: Mapping[str, Sequence[str]]) -> StyleClassifierConfig:
        return StyleClassifierConfig(
            **{**self.model, "feature_dim": feature_dim, "label_sets": {h: list(s) for h, s in label_sets.items()}}
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str | Path | None = None) -> "StyleTrainConfig":
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise InputError(f"unknown key '{key}'; known: {', '.join(known)}", path=path, field=str(key))
        return cls(**dict(data))


def load_style_config(path: str | Path, overrides: Mapping[str, Any] | Sequence[str] | None = None) -> StyleTrainConfig:
    """Read a style classifier training config (YAML or JSON) and apply ``key=value`` overrides."""
    data = apply_overrides(read_config_file(path), overrides, known=[f.name for f in fields(StyleTrainConfig)])
    return StyleTrainConfig.from_dict(data, path=path)


# ==================================================================================================
# Data: every styled clip's features, computed once per run folder
# ==================================================================================================
@dataclass
class StyleSplit:
    """One split as the trainer reads it: raw features ``[T_i >= window, D]``, head and class per clip."""

    features: list[np.ndarray]
    heads: list[str]
    labels: list[int]
    clip_ids: list[str]

    def of_head(self, head: str) -> list[int]:
        """Indices of the clips of ``head``."""
        return [i for i, h in enumerate(self.heads) if h == head]


def _dataset_folder(cfg: StyleTrainConfig) -> Path:
    from motiongen.train.features import dataset_source

    return dataset_source(cache=cfg.cache, dataset=cfg.dataset)[1]


def _fingerprint(folder: Path, cfg: StyleTrainConfig) -> str:
    manifest = (folder / "manifest.json").read_bytes()
    key = f"|mirrored={cfg.mirrored}|window={cfg.window}|style-features={_FEATURES_VERSION}"
    return hashlib.sha256(manifest + key.encode()).hexdigest()[:16]


def _split_features(
    folder: Path, split: str, mirrored: bool, label_sets: Mapping[str, Sequence[str]], window: int, progress: bool
) -> StyleSplit:
    from tqdm import tqdm

    from motiongen.data.dataset import MotionDataset

    ds = MotionDataset(split=split, mirrored=mirrored, root=folder)
    index = {head: {s: k for k, s in enumerate(styles)} for head, styles in label_sets.items()}
    # a val clip whose style the training split never shows has no class to be scored against
    items = [(i, h, index[h][s]) for i, h, s in labelled_items(ds) if h in index and s in index[h]]
    out = StyleSplit([], [], [], [])
    for i, head, label in tqdm(items, desc=f"style features ({split})", disable=not progress, unit="clip"):
        motion, _ = ds[i]
        if motion.num_frames < 2:
            continue
        out.features.append(style_features(motion.joint_positions(), motion.skeleton, motion.fps, window))
        out.heads.append(head)
        out.labels.append(label)
        out.clip_ids.append(str(motion.meta["clip_id"]))
    return out


def prepare_style_data(
    cfg: StyleTrainConfig, run_dir: Path, *, progress: bool = True
) -> tuple[dict[str, StyleSplit], dict[str, list[str]], Any, float]:
    """``({"train", "val"} splits, label sets, skeleton, fps)``, from ``run_dir/data`` when up to date.

    The label sets are the sorted styles of each head's training clips (the data, not a typed list).
    """
    from motiongen.data.dataset import SKELETON_FILE, read_clip_records
    from motiongen.skeleton.skeleton import Skeleton

    folder = _dataset_folder(cfg)
    skeleton = Skeleton.from_dict(json.loads((folder / SKELETON_FILE).read_text()))
    data_dir = run_dir / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    cached = data_dir / f"style-{_fingerprint(folder, cfg)}.npz"
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            splits = {}
            for split in ("train", "val"):
                flat, offsets = z[f"{split}_features"], z[f"{split}_offsets"]
                feats = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
                splits[split] = StyleSplit(feats, meta[f"{split}_heads"], meta[f"{split}_labels"], meta[f"{split}_ids"])
        return splits, meta["label_sets"], skeleton, float(meta["fps"])
    label_sets = style_label_sets([r for r in read_clip_records(folder) if r["split"] == "train"])
    if not label_sets:
        raise InputError(f"the training split of '{folder}' has no clip with a Bandai style label", field="dataset")
    for head, styles in label_sets.items():
        if len(styles) < 2:
            raise InputError(f"head '{head}' has a single style ({styles[0]}) in the training split; "
                             "a classifier needs at least 2", field="dataset")
    splits = {
        split: _split_features(folder, split, cfg.mirrored and split == "train", label_sets, cfg.window, progress)
        for split in ("train", "val")
    }
    with np.load(folder / "train.npz") as z:
        fps = float(z["fps"])
    meta: dict[str, Any] = {"label_sets": label_sets, "fps": fps}
    arrays: dict[str, np.ndarray] = {}
    width = evaluator_feature_dim(skeleton.num_joints)
    for split, data in splits.items():
        meta[f"{split}_heads"], meta[f"{split}_labels"], meta[f"{split}_ids"] = data.heads, data.labels, data.clip_ids
        arrays[f"{split}_features"] = np.concatenate(data.features) if data.features else np.zeros((0, width), np.float32)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(f) for f in data.features]).astype(np.int64)
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = cached.with_name(cached.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cached)
    return splits, label_sets, skeleton, fps


def feature_statistics(split: StyleSplit) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std over every frame of the split (float64 sums)."""
    flat = np.concatenate(split.features).astype(np.float64)
    return flat.mean(0).astype(np.float32), flat.std(0).astype(np.float32)


# ==================================================================================================
# Batches
# ==================================================================================================
def velocity_dims(feature_dim: int) -> np.ndarray:
    """bool ``[D]``: the evaluator-feature dims that are rates (root velocity, turn rate, joint
    velocities), which scale with playback speed; positions and the root height do not."""
    joints = (feature_dim - 1) // 6
    mask = np.zeros(feature_dim, dtype=bool)
    mask[1:4] = True
    mask[4 + 3 * (joints - 1) :] = True
    return mask


def random_window(
    features: np.ndarray, window: int, rng: np.random.Generator, stretch: float, rates: np.ndarray
) -> np.ndarray:
    """A random crop ``[window, D]`` of clip features ``[T >= window, D]``; with ``stretch > 0`` the
    crop spans ``window * r`` frames (``r`` uniform in ``[1 - stretch, 1 + stretch]``, limited by the
    clip), resampled linearly to ``window`` frames with the rate dims (``rates``) scaled by ``r``."""
    t = features.shape[0]
    if stretch <= 0:
        start = int(rng.integers(0, t - window + 1))
        return features[start : start + window]
    rate = float(rng.uniform(1.0 - stretch, 1.0 + stretch))
    span = min(float(t - 1), (window - 1) * rate)
    start = float(rng.uniform(0.0, t - 1 - span))
    times = start + np.linspace(0.0, span, window)
    low = np.minimum(np.floor(times).astype(np.int64), t - 2)
    frac = (times - low)[:, None].astype(np.float32)
    out = features[low] * (1.0 - frac) + features[low + 1] * frac
    out[:, rates] *= span / (window - 1)
    return out


def sample_batch(
    split: StyleSplit,
    head_clips: Mapping[str, Sequence[int]],
    batch_size: int,
    window: int,
    mean: np.ndarray,
    std: np.ndarray,
    rng: np.random.Generator,
    stretch: float = 0.0,
) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Normalised windows ``[B, window, D]`` and, per head, ``(rows of the batch, class targets)``.

    Heads share the batch evenly (the first heads take the remainder); clips are drawn uniformly,
    with replacement, within each head.
    """
    heads = [h for h, clips in head_clips.items() if clips]
    rates = velocity_dims(mean.shape[0])
    windows, rows = [], {}
    for k, head in enumerate(heads):
        n = batch_size // len(heads) + (1 if k < batch_size % len(heads) else 0)
        picks = rng.choice(np.asarray(head_clips[head]), size=n, replace=True)
        first = len(windows)
        windows += [random_window(split.features[c], window, rng, stretch, rates) for c in picks]
        targets = torch.tensor([split.labels[c] for c in picks], dtype=torch.long)
        rows[head] = (torch.arange(first, len(windows)), targets)
    x = (np.stack(windows) - mean) / std
    return torch.from_numpy(x.astype(np.float32)), rows


def batch_losses(
    model: StyleNet, x: torch.Tensor, rows: Mapping[str, tuple[torch.Tensor, torch.Tensor]], label_smoothing: float = 0.0
) -> dict[str, torch.Tensor]:
    """Cross-entropy per head (the trunk runs once over the whole batch)."""
    pooled = model.embed(x)
    return {
        head: F.cross_entropy(model.heads[head](pooled[index]), target, label_smoothing=label_smoothing)
        for head, (index, target) in rows.items()
    }


def validate(model: StyleNet, split: StyleSplit, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """Per head: :func:`~motiongen.evaluation.style.accuracy_report` over the split's clips, each
    classified whole; ``mean_accuracy`` over the heads that have clips (None when none has)."""
    heads: dict[str, Any] = {}
    for head, styles in model.config.label_sets.items():
        clips = split.of_head(head)
        feats = [(split.features[c] - mean) / std for c in clips]
        predicted = clip_probabilities(model, feats, head).argmax(-1).tolist() if feats else []
        heads[head] = accuracy_report([split.labels[c] for c in clips], predicted, styles)
    scored = [h["accuracy"] for h in heads.values() if h["accuracy"] is not None]
    return {"mean_accuracy": float(np.mean(scored)) if scored else None, "heads": heads}


# ==================================================================================================
# Training
# ==================================================================================================
def train_style_classifier(
    cfg: StyleTrainConfig, *, resume: bool = True, log: Callable[[str], None] | None = None
) -> Path:
    """Train (or continue) the style classifier described by ``cfg``; returns the latest checkpoint."""
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
        splits, label_sets, skeleton, fps = prepare_style_data(cfg, run_dir, progress=cfg.progress)
        train, val = splits["train"], splits["val"]
        head_clips = {head: train.of_head(head) for head in label_sets}
        model_cfg = cfg.model_config(train.features[0].shape[1], label_sets)
        mean, std = feature_statistics(train)
        std = np.maximum(std, MIN_STD)
        torch.manual_seed(cfg.seed)
        model = StyleNet(model_cfg)
        optimizer = torch.optim.AdamW(decay_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.99))
        rng = np.random.default_rng(cfg.seed)
        step = 0
        best: dict[str, Any] | None = None
        ckpt = latest_checkpoint(run_dir) if resume else None
        if ckpt is not None:
            state = load_checkpoint(ckpt, CHECKPOINT_FORMAT, "a style classifier", model_cfg.to_dict())
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            rng.bit_generator.state = state["rng"]
            torch.set_rng_state(state["torch_rng"])
            mean, std = state["mean"], state["std"]
            step, best = int(state["step"]), state["best"]
            log(f"resuming from {ckpt} at step {step}")
        metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=True, resume_step=step if ckpt else None)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
        notes = _data_notes(cfg, train, val, label_sets)
        params = sum(p.numel() for p in model.parameters())
        log(f"style classifier training: {params / 1e3:.0f} k parameters, {threads} thread(s), batch {cfg.batch_size}, "
            + ", ".join(f"{h}: {len(c)} training clips" for h, c in head_clips.items())
            + f", steps {step} -> {cfg.total_steps}")

        def checkpoint_state() -> dict[str, Any]:
            return {
                "format": CHECKPOINT_FORMAT, "step": step, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                "config": cfg.to_dict(), "model_config": model_cfg.to_dict(), "mean": mean, "std": std,
                "skeleton": skeleton.to_dict(), "fps": fps, "data": notes, "best": best,
                "motiongen_version": __version__,
            }

        started = time.perf_counter()
        model.train()
        bar = tqdm(total=cfg.total_steps, initial=step, disable=not cfg.progress, unit="step", desc="style classifier")
        running: dict[str, list[float]] = {}
        last_path = ckpt
        while step < cfg.total_steps:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, cfg)  # type: ignore[arg-type]
            x, rows = sample_batch(train, head_clips, cfg.batch_size, model_cfg.window, mean, std, rng, cfg.time_stretch)
            losses = batch_losses(model, x, rows, cfg.label_smoothing)
            loss = torch.stack(list(losses.values())).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf))
            optimizer.step()
            step += 1
            for name, value in [("loss", loss), *((f"loss_{h}", v) for h, v in losses.items())]:
                running.setdefault(name, []).append(float(value.item()))
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.total_steps:
                means = {k: round(float(np.mean(v)), 5) for k, v in running.items()}
                metrics.write({"step": step, **means, "lr": learning_rate(step - 1, cfg),  # type: ignore[arg-type]
                               "grad_norm": round(grad_norm, 4), "elapsed_s": round(time.perf_counter() - started, 2)})
                bar.set_postfix(loss=f"{means['loss']:.3f}")
                running = {}
            if step % cfg.val_every == 0 or step == cfg.total_steps:
                figures = validate(model, val, mean, std)
                model.train()
                mean_accuracy = figures["mean_accuracy"]
                if mean_accuracy is not None and (best is None or mean_accuracy > best["mean_accuracy"]):
                    best = {"step": step, "mean_accuracy": mean_accuracy, "heads": _head_summary(figures["heads"]),
                            "model": copy.deepcopy(model.state_dict())}
                record = {"step": step, "val_mean_accuracy": mean_accuracy,
                          **{f"val_accuracy_{h}": r["accuracy"] for h, r in figures["heads"].items()},
                          "best_step": None if best is None else best["step"]}
                metrics.write(record)
                log(f"step {step}: val accuracy " + ", ".join(
                    f"{h} {_text(r['accuracy'])} ({r['clips']} clips)" for h, r in figures["heads"].items())
                    + f"; best step {record['best_step']}")
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


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _head_summary(heads: Mapping[str, Any]) -> dict[str, Any]:
    """What the model card and ``info`` keep of a per-head accuracy report."""
    return {
        head: {"accuracy": r["accuracy"], "clips": r["clips"], "chance": r["chance"],
               "per_style": {s: v["accuracy"] for s, v in r["per_style"].items()},
               "per_style_clips": {s: v["clips"] for s, v in r["per_style"].items()}}
        for head, r in heads.items()
    }


def _data_notes(cfg: StyleTrainConfig, train: StyleSplit, val: StyleSplit, label_sets: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dataset": _dataset_folder(cfg).name,
        "train_clips": len(train.clip_ids),
        "train_clips_per_head": {h: len(train.of_head(h)) for h in label_sets},
        "val_clips_per_head": {h: len(val.of_head(h)) for h in label_sets},
        "train_frames": int(sum(len(f) for f in train.features)),
        "mirrored": cfg.mirrored,
        "sources": ["bandai"],
    }


# ==================================================================================================
# Export
# ==================================================================================================
def export_style_classifier(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    weights_dtype: str = "float16",
    measure_test: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write the checkpoint's best-validation weights as a classifier folder with a model card.

    With ``measure_test`` (and the run's dataset still there), the exported weights, as stored, are
    then scored once on the test split (:func:`~motiongen.evaluation.style.style_test_accuracy`) and
    the figures added to ``info`` and the card; they choose nothing.
    """
    from motiongen.evaluation.style import style_test_accuracy
    from motiongen.skeleton.skeleton import Skeleton

    log = log or (lambda msg: print(msg, file=sys.stderr))
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path, CHECKPOINT_FORMAT, "a style classifier")
    model = StyleNet(StyleClassifierConfig.from_dict(state["model_config"]))
    best = state.get("best")
    model.load_state_dict(best["model"] if best else state["model"])
    info: dict[str, Any] = {
        "steps": int(state["step"]),
        "weights": "best-val" if best else "last (no validation clips)",
        "best_step": best["step"] if best else None,
        "validation": {"split": "val", "step": best["step"], "mean_accuracy": best["mean_accuracy"],
                       "heads": best["heads"]} if best else None,
        "data": state["data"],
        "trained_with": f"motiongen {state.get('motiongen_version')}",
        "train_config": state["config"],
        "licence": "CC BY-NC 4.0 (non-commercial; trained on Bandai Namco data)",
        "credits": [SOURCE_LICENCES["bandai"]],
    }
    classifier = StyleClassifier(model, state["mean"], state["std"], Skeleton.from_dict(state["skeleton"]),
                                 state.get("fps", 30.0), info)
    folder = classifier.save_pretrained(out_dir, weights_dtype=weights_dtype)
    if not measure_test:
        return folder
    cfg = StyleTrainConfig.from_dict(state["config"])
    try:
        dataset = _dataset_folder(cfg)
    except MotiongenError as exc:
        log(f"test accuracy not measured: {exc}")
        return folder
    stored = StyleClassifier.from_pretrained(folder)
    result = style_test_accuracy(stored, root=dataset, split="test")
    stored.info = {**info, "test": {"split": "test", "dataset": result["dataset"], "heads": _head_summary(result["heads"])}}
    stored.save_pretrained(folder, weights_dtype=weights_dtype)
    return folder


# ==================================================================================================
# Command line
# ==================================================================================================
def run_from_args(args: argparse.Namespace) -> int:
    from motiongen.train.arguments import config_overrides

    cfg = load_style_config(args.config, config_overrides(args))
    path = train_style_classifier(cfg, resume=args.resume)
    if args.export:
        folder = export_style_classifier(path, args.export)
        info = StyleClassifier.from_pretrained(folder).info
        print(f"exported {path} (weights of step {info['best_step']}) -> {folder}")
        for split in ("validation", "test"):
            for head, r in ((info.get(split) or {}).get("heads") or {}).items():
                print(f"  {split} {head}: accuracy {_text(r['accuracy'])} on {r['clips']} clips (chance {r['chance']:.3f})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from motiongen.train.arguments import build_style_parser, run_command

    return run_command(build_style_parser, run_from_args, argv)


if __name__ == "__main__":
    sys.exit(main())
