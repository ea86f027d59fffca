"""Validation loss of KIMODO models on one fixed validation set, comparable across models and runs.

The trainer logs ``val_loss`` / ``val_loss_ema`` on a validation set built from the run's *current*
config: when the config changes mid-run (``constraint_probability`` raised at a resume, say) the set
changes with it (other constraint masks, and with them other draws), so the logged figures before and
after the change do not compare. This script rebuilds the trainer's validation set from one config
(the training config plus ``--set`` overrides, exactly as the trainer's ``--set``) and evaluates every
model on it:

- windows, timesteps, noise, text dropout and constraint masks drawn exactly as the trainer draws them
  (:func:`motiongen.train.kimodo.validation_set`, the trainer's own code: split ``val_split``,
  ``val_batches`` batches of ``batch_size`` windows of ``min_frames``-``max_frames`` frames, seeds
  ``seed + 1`` for the windows and ``seed`` for the conditioning), with the same feature cache and
  caption embeddings (``prepare_data``) and the default diffusion schedule;
- normalised with *each model's own* feature statistics, as the trainer normalises with the run's
  statistics (the random draws do not depend on the statistics, the normalised values do). Models with
  identical statistics share one set; models whose statistics differ get one set each, still the same
  windows, timesteps, noise and masks, and the output says so (their losses are in different
  normalised units);
- scored with :func:`motiongen.train.kimodo.validation_breakdown` (the function behind the trainer's
  logged ``val_loss``): the loss over all dims, the 5 root dims and the body dims, and over the
  entries the constraint mask covers (``mask > 0``, the observed values the model is given) and the
  others; and the geometric terms of the decoded joints (:func:`motiongen.train.kimodo.geometric_losses`:
  joint position error in m², joint velocity error in (m/s)², speed² of the foot joints the real motion
  has in contact), which say how the feature error lands on the joints, the feet above all.

Models: a bundle name or folder (``motiongen/kimodo-smplx``: its weights as shipped, fp16 weights read
back as fp32), a trainer checkpoint file (``runs/kimodo-smplx/checkpoints/step-XXXXXXXX.pt``: two rows,
its EMA weights and its raw weights), or a run folder (its latest checkpoint).

    python benchmarks/val_loss.py --config configs/kimodo_smplx.yaml MODEL [MODEL ...]
        [--set key=value ...] [--batches N] [--seed S] [--device cpu] [--threads 1] [--output JSON]

``--batches`` and ``--seed`` are shorthands for ``--set val_batches=N`` and ``--set seed=S`` (the
first N batches of a larger N are the same: the set is drawn in sequence). Prints a table and writes
JSON (default ``benchmarks/results/val_loss.json``) with the machine, the config and its overrides,
the set, and per model the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from machine_info import machine_info

from motiongen.errors import InputError, MotiongenError
from motiongen.io.atomic import atomic_write_text
from motiongen.motion.kimodo_features import FeatureStats
from motiongen.train.config import KimodoTrainConfig, load_train_config

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "val_loss.json"
FIGURES = ("loss", "root", "body", "constrained", "unconstrained", "position", "velocity", "foot_contact")
_STAT_FIELDS = ("global_root_mean", "global_root_std", "body_mean", "body_std", "local_root_mean", "local_root_std")


@dataclass
class ModelEntry:
    """One row: a denoiser (eval mode, built with its own statistics) and where it came from."""

    name: str  # what was given on the command line
    weights: str  # "ema", "raw", or the bundle's info["weights"]
    denoiser: Any
    stats: FeatureStats
    source: str  # "bundle" or "checkpoint"
    path: str
    step: int | None = None
    diffusion: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def stats_digest(stats: FeatureStats) -> str:
    """sha256 of the statistics' arrays (float64): equal digests, identical normalisation."""
    h = hashlib.sha256()
    for name in _STAT_FIELDS:
        h.update(name.encode())
        h.update(np.ascontiguousarray(getattr(stats, name), dtype=np.float64).tobytes())
    return h.hexdigest()


def _stats_difference(a: FeatureStats, b: FeatureStats) -> float:
    return max(float(np.max(np.abs(getattr(a, n) - getattr(b, n)))) for n in _STAT_FIELDS)


def _logged_validation(checkpoint: Path, step: int) -> dict[str, Any] | None:
    """The trainer's own validation record at ``step`` (from the run's metrics.jsonl), if any."""
    from motiongen.train.kimodo import read_metrics

    records = [r for r in read_metrics(checkpoint.parent.parent) if r.get("step") == step and "val_loss" in r]
    return records[-1] if records else None


def load_models(spec: str, device: torch.device) -> list[ModelEntry]:
    """The rows of one MODEL argument: a bundle (one row) or a checkpoint / run folder (EMA and raw)."""
    from motiongen.models.kimodo.config import KimodoDenoiserConfig
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser
    from motiongen.pipelines.bundle import INDEX_FILE, KNOWN_MODELS, KIMODOBundle
    from motiongen.train.kimodo import load_checkpoint, stats_from_dict

    path = Path(spec).expanduser()
    if spec in KNOWN_MODELS or (path.is_dir() and (path / INDEX_FILE).is_file()):
        bundle = KIMODOBundle.from_pretrained(spec, device=device)
        return [ModelEntry(
            name=spec, weights=str(bundle.info.get("weights", "?")), denoiser=bundle.denoiser.eval(),
            stats=bundle.stats, source="bundle", path=str(bundle.info.get("path", spec)),
            step=bundle.info.get("steps"), diffusion=bundle.schedule.config.to_dict(),
            extra={"text_encoder": bundle.text_encoder_spec,
                   "trained_constraint_probability": (bundle.info.get("train_config") or {}).get("constraint_probability")},
        )]
    state = load_checkpoint(path)  # a file, or a run folder's latest checkpoint
    config = KimodoDenoiserConfig.from_dict(state["denoiser_config"])
    stats = stats_from_dict(state["stats"])
    ckpt = Path(state["path"])
    logged = _logged_validation(ckpt, int(state["step"]))
    rows = []
    for weights, key, logged_key in (("ema", "ema", "val_loss_ema"), ("raw", "model", "val_loss")):
        denoiser = TwoStageDenoiser(config, stats)
        denoiser.load_state_dict(state[key])
        rows.append(ModelEntry(
            name=spec, weights=weights, denoiser=denoiser.to(device).eval(), stats=stats, source="checkpoint",
            path=str(ckpt), step=int(state["step"]), diffusion=dict(state.get("diffusion_config") or {}),
            extra={"text_encoder": (state.get("text_encoder") or {}).get("identifier"),
                   "trained_constraint_probability": (state.get("config") or {}).get("constraint_probability"),
                   # the trainer's figure at this step, on the set of the config it ran with then
                   "trainer_logged_val_loss": None if logged is None else logged.get(logged_key)},
        ))
    return rows


def _check_fits(entry: ModelEntry, layout: Any, text_dim: int) -> None:
    cfg = entry.denoiser.config
    if int(cfg.feature_dim) != layout.dim or int(cfg.num_joints) != layout.num_joints:
        raise InputError(f"{entry.name}: the model has feature_dim {cfg.feature_dim} ({cfg.num_joints} joints); the "
                         f"config's data has {layout.dim} ({layout.num_joints} joints)", field="model")
    if int(cfg.text_dim) != int(text_dim):
        raise InputError(f"{entry.name}: the model reads {cfg.text_dim}-dim text; the config's text encoder gives "
                         f"{text_dim}", field="text_encoder")


def evaluate(
    config: KimodoTrainConfig,
    models: Sequence[str | ModelEntry],
    *,
    device: str | torch.device = "cpu",
    data: tuple[Any, Any, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Every model's figures on ``config``'s validation set (see the module docstring).

    Args:
        config: the training config (with any overrides applied).
        models: MODEL arguments (bundle names/folders, checkpoints, run folders) or loaded entries.
        device: where to evaluate; CUDA uses the config's ``amp`` autocast as the trainer does.
        data: ``(feature cache, text encoder, caption embeddings)`` (default: ``prepare_data(config)``).

    Returns ``{"set": {...}, "stats_groups": [...], "models": [{name, weights, step, ..., figures}]}``.
    """
    from motiongen.models.kimodo.config import DiffusionConfig
    from motiongen.models.kimodo.diffusion import CosineSchedule
    from motiongen.train.kimodo import DistInfo, prepare_data, validation_breakdown, validation_set

    dev = torch.device(device)
    entries: list[ModelEntry] = []
    for m in models:
        entries.extend([m] if isinstance(m, ModelEntry) else load_models(str(m), dev))
    cache, encoder, table = data if data is not None else prepare_data(config, DistInfo())
    for e in entries:
        _check_fits(e, cache.layout, int(encoder.dim))
    diffusion = DiffusionConfig()  # what the trainer uses
    schedule = CosineSchedule.from_config(diffusion)
    use_amp = dev.type == "cuda" and config.amp != "none"
    amp_dtype = torch.bfloat16 if config.amp == "bf16" else torch.float16

    def amp() -> Any:
        return torch.autocast("cuda", dtype=amp_dtype) if use_amp else contextlib.nullcontext()

    groups: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        groups.setdefault(stats_digest(e.stats), []).append(i)
    rows: list[dict[str, Any] | None] = [None] * len(entries)
    set_info: dict[str, Any] = {}
    for gi, (digest, members) in enumerate(groups.items()):
        stats = entries[members[0]].stats
        t0 = time.perf_counter()
        batches = validation_set(cache, stats, table, schedule, config)
        if not batches:
            raise InputError(f"no validation set: split '{config.val_split}' is missing or empty, or val_batches is 0",
                             field="val_split")
        build_s = time.perf_counter() - t0
        if not set_info:
            lengths = np.concatenate([b.lengths for b, _ in batches])
            set_info = {
                "split": config.val_split, "clips_in_split": cache.splits[config.val_split].num_clips,
                "batches": len(batches), "windows": int(lengths.size), "frames": int(lengths.sum()),
                "constrained_windows": int(sum(int((c.mask.flatten(1) > 0).any(1).sum()) for _, c in batches)),
                "text_dropped_windows": int(sum(int((c.text.flatten(1) == 0).all(1).sum()) for _, c in batches)),
                "feature_cache": str(cache.root), "text_encoder": getattr(encoder, "identifier", None),
            }
        for i in members:
            e = entries[i]
            t0 = time.perf_counter()
            figures = validation_breakdown(e.denoiser, batches, dev, amp, geometry=(cache.layout, stats))
            rows[i] = {
                "name": e.name, "weights": e.weights, "step": e.step, "source": e.source, "path": e.path,
                "stats_group": gi, "stats_sha256": digest,
                "schedule_matches_trainer": e.diffusion == diffusion.to_dict(),
                **e.extra,
                "figures": {k: figures[k] for k in FIGURES},
                "constrained_entry_fraction": figures["constrained_entries"] / max(figures["entries"], 1.0),
                "seconds": round(time.perf_counter() - t0, 2), "set_build_seconds": round(build_s, 2),
            }
    first = entries[0].stats
    stats_groups = [{"group": gi, "sha256": digest, "models": [f"{entries[i].name} ({entries[i].weights})" for i in m],
                     "max_abs_difference_to_group_0": _stats_difference(entries[m[0]].stats, first)}
                    for gi, (digest, m) in enumerate(groups.items())]
    return {"set": set_info, "stats_identical": len(groups) == 1, "stats_groups": stats_groups, "models": rows}


def format_table(result: dict[str, Any]) -> str:
    lines = ["| model | weights | step | loss | root | body | constrained | unconstrained | position (m²) | velocity ((m/s)²) | foot contact ((m/s)²) | stats |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["models"]:
        f = r["figures"]
        lines.append(f"| {r['name']} | {r['weights']} | {r['step']} | " + " | ".join(f"{f[k]:.5f}" for k in FIGURES)
                     + f" | {r['stats_group']} |")
    s = result["set"]
    lines.append("")
    lines.append(f"set: {s['batches']} batches, {s['windows']} windows, {s['frames']} frames of split '{s['split']}'; "
                 f"{s['constrained_windows']} windows constrained, {s['text_dropped_windows']} without text")
    if result["stats_identical"]:
        lines.append("feature statistics: identical for all models (one validation set)")
    else:
        lines.append("feature statistics DIFFER: one validation set per statistics group (same windows, timesteps, "
                     "noise and masks, normalised differently; losses of different groups are in different units)")
        for g in result["stats_groups"]:
            lines.append(f"  group {g['group']}: {', '.join(g['models'])} (max |diff| to group 0: "
                         f"{g['max_abs_difference_to_group_0']:.3g})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="training config (.yaml or .json)")
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="bundle name or folder, trainer checkpoint file (EMA and raw rows), or run folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, as the trainer's --set (repeatable)")
    p.add_argument("--batches", type=int, help="validation batches (default: the config's val_batches)")
    p.add_argument("--seed", type=int, help="seed of the set (default: the config's seed)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--threads", type=int, default=1, help="torch threads on CPU (default 1)")
    p.add_argument("--output", type=Path, default=DEFAULT_OUT, help=f"JSON file (default {DEFAULT_OUT})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    overrides = list(args.overrides)
    if args.batches is not None:
        overrides.append(f"val_batches={args.batches}")
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    try:
        config = load_train_config(args.config, overrides + ["progress=false"])
        device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                              "cpu" if args.device == "auto" else args.device)
        started = time.perf_counter()
        result = evaluate(config, args.models, device=device)
    except MotiongenError as exc:
        print(f"val_loss: error: {exc}", file=sys.stderr)
        return 2
    report = {
        "benchmark": "val_loss",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(str(device)),
        "config": str(args.config),
        "overrides": overrides,
        "validation_config": {k: config.to_dict()[k] for k in (
            "val_split", "val_batches", "batch_size", "min_frames", "max_frames", "yaw_augment", "seed",
            "text_dropout", "constraint_probability", "constraint_dropout", "text_encoder", "mirrored", "amp")},
        "models_given": list(args.models),
        **result,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    print(format_table(result))
    atomic_write_text(args.output, json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
