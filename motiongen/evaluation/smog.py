"""SMoG's own figures on a held-out split: reconstruction and motion-to-text retrieval.

One fixed window of the model's training length per clip long enough (seeded, its first caption),
canonicalised as in training (:func:`~motiongen.models.smog.features.canonical_window`). For each
model:

- **reconstruction** of the window through ``encode`` -> ``decode``: SMoG's ``rc`` / ``rcxyz`` /
  ``vel`` (MSE, :func:`~motiongen.train.smog.reconstruction_losses`) and, readable, the mean joint
  position error (MPJPE, root path included) and the mean root position error, in cm;
- **motion-to-text retrieval**: each window's latent against the text embeddings of the windows'
  *distinct* first captions (identical strings are one candidate, so a perfect encoder scores 1):
  R@1 and R@5 with ``N`` motions and ``M`` candidates, and chance ``k / M`` beside them.

SMoG's published R@k ranks among all 2405 validation texts and prints no chance level, which is
what its R@1 equals (reference smog.md 7.1); these figures state both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motiongen.errors import InputError


@dataclass
class HeldOutWindows:
    """The windows a model is scored on: clips, caption table, and ``(clip, start, caption)`` picks."""

    clips: Any
    table: Any
    picks: list[tuple[int, int, int]]
    num_frames: int
    split: str


def held_out_windows(
    dataset_root: str | Path, split: str, text_encoder: Any, num_frames: int = 60, *, limit: int | None = None,
    seed: int = 0, progress: bool = False,
) -> HeldOutWindows:
    """One window of ``num_frames`` per clip of ``split`` long enough (at most ``limit`` clips, seeded),
    with the unit text embeddings of every caption of those clips."""
    from motiongen.train.smog import CaptionTable, read_split, validation_picks

    clips, captions = read_split(Path(dataset_root), split, mirrored=False, progress=progress)
    texts = sorted({c for clip in captions for c in clip})
    index = {t: i for i, t in enumerate(texts)}
    clips.caption_ids = [[index[c] for c in clip] for clip in captions]
    picks = validation_picks(clips, num_frames, limit or len(clips.frames), seed)
    if len(picks) < 2:
        raise InputError(f"split '{split}' has {len(picks)} clip(s) of {num_frames}+ frames; retrieval needs 2",
                         field="split")
    vectors = np.asarray(text_encoder.encode(texts), dtype=np.float32).reshape(len(texts), -1)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    table = CaptionTable(texts, vectors, getattr(text_encoder, "spec", None), str(text_encoder.identifier))
    return HeldOutWindows(clips, table, picks, num_frames, split)


@torch.no_grad()
def evaluate_autoencoder(model: Any, skeleton: Any, windows: HeldOutWindows, *, batch_size: int = 64) -> dict[str, float]:
    """Reconstruction and retrieval figures of a :class:`~motiongen.models.smog.model.SMoGAutoencoder`
    (evaluation mode) on ``windows`` (see the module docstring for every key)."""
    from motiongen.models.smog.features import positions_from_135
    from motiongen.train.smog import (
        make_batch,
        motion_to_text_retrieval,
        reconstruction_losses,
    )

    if model.config.latent != windows.table.embeddings.shape[1]:
        raise InputError(f"the model's latent is {model.config.latent}-d; the captions were embedded "
                         f"{windows.table.embeddings.shape[1]}-d", field="text_encoder")
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    latents = []
    for start in range(0, len(windows.picks), batch_size):
        picks: Sequence[tuple[int, int, int]] = windows.picks[start : start + batch_size]
        batch = make_batch(windows.clips, windows.table, picks, windows.num_frames)
        output, z = model(batch.motion, batch.valid)
        figures = {k: float(v) for k, v in reconstruction_losses(batch.motion, output, batch.valid, skeleton).items()}
        real, recon = positions_from_135(batch.motion, skeleton), positions_from_135(output, skeleton)
        figures["mpjpe_cm"] = 100.0 * float((real - recon).norm(dim=-1).mean())
        figures["root_error_cm"] = 100.0 * float((real[..., 0, :] - recon[..., 0, :]).norm(dim=-1).mean())
        for key, value in figures.items():
            sums[key] = sums.get(key, 0.0) + value * len(picks)
        latents.append(z.cpu().numpy())
    model.train(was_training)
    out = {key: value / len(windows.picks) for key, value in sums.items()}
    captions = np.array([cap for _, _, cap in windows.picks], dtype=np.int64)
    candidates, truth = np.unique(captions, return_inverse=True)
    out.update(motion_to_text_retrieval(np.concatenate(latents), windows.table.embeddings[candidates], truth))
    return out


def evaluator_retrieval(evaluator: Any, skeleton: Any, windows: HeldOutWindows) -> dict[str, float]:
    """The same retrieval by the text-motion evaluator (:class:`~motiongen.models.evaluator.TextMotionEvaluator`)
    on the same real windows and captions: the reference row, what a contrastive encoder pair reaches."""
    from motiongen.models.smog.features import positions_from_135
    from motiongen.train.smog import make_batch, motion_to_text_retrieval

    batch = make_batch(windows.clips, windows.table, windows.picks, windows.num_frames)
    positions = positions_from_135(batch.motion, skeleton).numpy()
    motions = evaluator.encode_motions(list(positions))
    captions = np.array([cap for _, _, cap in windows.picks], dtype=np.int64)
    candidates, truth = np.unique(captions, return_inverse=True)
    texts = evaluator.encode_texts([windows.table.texts[i] for i in candidates])
    return motion_to_text_retrieval(motions, texts, truth)


def parameter_counts(model: Any) -> dict[str, int]:
    """Trainable parameters in all and in the input embedding + output layer (what the KAN ablation swaps)."""
    def count(module: Any) -> int:
        return sum(p.numel() for p in module.parameters())

    return {"total": count(model), "io_layers": count(model.input_embedding) + count(model.output_layer)}


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.0f} min"


def ablation_table(result: Mapping[str, Any]) -> str:
    """The markdown table of a ``benchmarks/smog_ablation.py`` result (printed, and in the README)."""
    w = result["windows"]
    lines = [
        "| model | parameters (I/O layers) | steps x batch | training wall time | rc | rcxyz | MPJPE cm | root cm "
        "| motion->text R@1 | chance | R@5 | chance |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    reference = result.get("reference")
    if reference:
        f = reference["figures"]
        lines.append(f"| {reference['label']} | – | – | – | – | – | – | – | {f['r1']:.3f} | {f['r1_chance']:.3f} "
                     f"| {f['r5']:.3f} | {f['r5_chance']:.3f} |")
    for r in result["rows"]:
        f, p = r["figures"], r["parameters"]
        lines.append(
            f"| {r['label']} (`{r['kan_layers']}`) | {p['total'] / 1e6:.2f} M ({p['io_layers'] / 1e3:.0f} k) "
            f"| {r['steps']} x {r['batch_size']} | {_minutes(r.get('train_wall_time_s'))} | {f['rc']:.4f} | {f['rcxyz']:.4f} | {f['mpjpe_cm']:.1f} "
            f"| {f['root_error_cm']:.1f} | {f['r1']:.3f} | {f['r1_chance']:.3f} | {f['r5']:.3f} | {f['r5_chance']:.3f} |")
    lines += ["", f"Split `{result['split']}` of `{result['dataset']}`: N = {w['motions']} test motions (one "
                  f"{w['frames']}-frame window per clip), ranked against M = {w['candidates']} distinct captions "
                  f"(their {w['caption']} captions, embedded by `{result['text_encoder']}`); chance = k / M. "
                  "Training wall time is from each model's metrics log (both arms ran at the same time on the "
                  "same 2-core machine, one thread each, so they shared its load). The SMoG rows rank by cosine in the model's own latent space (motions encoded, captions as "
                  "text embeddings); the reference row ranks the same real windows and captions with the "
                  + (f"evaluator `{reference['evaluator']}` (version `{reference['version']}`)" if reference else
                     "evaluator (not run)") + ", what a contrastive encoder pair reaches."]
    return "\n".join(lines)
