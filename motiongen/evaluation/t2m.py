"""Text-to-motion evaluation: the HumanML3D protocol (reference ``smog.md`` 8.3) with our own evaluator.

Test items are the test split's clips (no mirrored copies) with at least ``min_frames`` frames, read
from their first ``max_frames`` frames (the evaluator's and the generator's limit, 10 s). One
**replication** (seed ``r``):

1. shuffle the items and keep a whole number of batches of 32 (drop_last); draw one of each
   item's captions (the protocol's loader picks one at random);
2. generate one motion per (caption, ground-truth length) with the method under test;
3. embed captions, real motions and generated motions with the frozen evaluator;
4. FID (real test motions vs generated), R-precision top-1/2/3 and MM-Dist in batches of 32
   (caption -> generated motion, Euclidean), diversity over 300 pairs of generated motions;
5. multimodality: ``mm_captions`` captions drawn from the items, ``mm_repeats`` motions each,
   ``mm_pairs`` pairs per caption.

The **real** row runs the same code with the real motion in place of the generated one (so its FID
is 0 by construction, and its R-precision is the evaluator's own, the ceiling a method can reach);
the **floor** row is the FID of the training split's real motions against the test split's.
Replications are summarised by mean and 95% interval (``1.96 * std / sqrt(n)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from motiongen.errors import InputError
from motiongen.metrics.quality import quality_summary
from motiongen.metrics.t2m import (
    DIVERSITY_PAIRS,
    MULTIMODALITY_PAIRS,
    R_PRECISION_BATCH,
    diversity,
    fid,
    matching_score,
    mean_and_interval,
    multimodality,
    r_precision,
)

MIN_FRAMES = 40
MAX_FRAMES = 300
MM_CAPTIONS = 100
MM_REPEATS = 30


@dataclass
class TestItem:
    """One real test clip: joint positions ``[T, J, 3]`` (at most ``MAX_FRAMES``) and its captions."""

    clip_id: str
    positions: np.ndarray
    captions: list[str]

    @property
    def frames(self) -> int:
        return int(self.positions.shape[0])


@dataclass
class GeneratedMotion:
    """What a method returns per prompt: joint positions ``[T, J, 3]`` and, when it predicts them,
    foot contacts ``[T, 4]`` (bool)."""

    positions: np.ndarray
    foot_contacts: np.ndarray | None = None


class MotionGenerator(Protocol):
    """A method under test: ``generator(prompts, lengths, seed) -> [GeneratedMotion]`` (one per prompt)."""

    name: str

    def __call__(self, prompts: Sequence[str], lengths: Sequence[int], seed: int) -> list[GeneratedMotion]: ...


def load_items(clips: Any, *, min_frames: int = MIN_FRAMES, max_frames: int = MAX_FRAMES,
               limit: int | None = None) -> list[TestItem]:
    """Test items from a dataset split (``MotionDataset`` or ``(Motion, captions)`` pairs), in order;
    clips shorter than ``min_frames`` or without captions are left out; ``limit`` keeps the first ones."""
    items = []
    for motion, captions in clips:
        if motion.num_frames < min_frames or not captions:
            continue
        clip = motion.slice(0, min(motion.num_frames, max_frames))
        items.append(TestItem(str(motion.meta.get("clip_id", len(items))), clip.joint_positions(), list(captions)))
        if limit is not None and len(items) >= limit:
            break
    return items


class PipelineGenerator:
    """A pipeline's ``text_to_motions`` as a method under test (its defaults: post-processing on; for
    KIMODO the bundle's recommended guidance and ``steps`` DDIM steps, which SMoG's deterministic
    decoder ignores)."""

    def __init__(self, pipe: Any, *, steps: int = 25, cfg: Any = None, postprocess: bool = True,
                 batch_size: int = 8, progress: bool = False) -> None:
        self.pipe, self.steps, self.cfg, self.postprocess = pipe, steps, cfg, postprocess
        self.batch_size, self.progress = batch_size, progress
        info = pipe.bundle.info if hasattr(pipe, "bundle") else pipe.info
        self.name = str(info.get("name") or info.get("path") or type(pipe).__name__)

    def __call__(self, prompts: Sequence[str], lengths: Sequence[int], seed: int) -> list[GeneratedMotion]:
        outs = self.pipe.text_to_motions(
            list(prompts), [int(n) for n in lengths], seed=seed, steps=self.steps, cfg=self.cfg,
            postprocess=self.postprocess, batch_size=self.batch_size, progress=self.progress,
        )
        return [GeneratedMotion(o.posed_joints[0], None if o.foot_contacts is None else o.foot_contacts[0] > 0.5)
                for o in outs]


def replication_plan(items: Sequence[TestItem], seed: int, batch_size: int = R_PRECISION_BATCH) -> tuple[np.ndarray, list[str]]:
    """``(item order, caption per position)`` of replication ``seed``: a shuffled whole number of batches."""
    if len(items) < batch_size:
        raise InputError(f"{len(items)} test items; R-precision needs at least {batch_size}", field="items")
    rng = np.random.default_rng([seed, 1])
    order = rng.permutation(len(items))[: len(items) // batch_size * batch_size]
    captions = [items[i].captions[int(rng.integers(len(items[i].captions)))] for i in order]
    return order, captions


def retrieval_figures(text_emb: np.ndarray, motion_emb: np.ndarray, real_emb: np.ndarray,
                      rng: np.random.Generator, *, diversity_pairs: int = DIVERSITY_PAIRS) -> dict[str, float]:
    """FID (``real_emb`` vs ``motion_emb``), R-precision top-1/2/3, MM-Dist, diversity of one replication."""
    top = r_precision(text_emb, motion_emb, batch_size=R_PRECISION_BATCH, top_k=3)
    return {
        "fid": fid(real_emb, motion_emb),
        "r_precision_top1": float(top[0]),
        "r_precision_top2": float(top[1]),
        "r_precision_top3": float(top[2]),
        "mm_dist": matching_score(text_emb, motion_emb, batch_size=R_PRECISION_BATCH),
        "diversity": diversity(motion_emb, min(diversity_pairs, len(motion_emb)), rng=rng),
    }


def mean_quality(motions: Sequence[GeneratedMotion], skeleton: Any, fps: float) -> dict[str, float]:
    """:func:`~motiongen.metrics.quality.quality_summary` averaged over motions (per-motion means)."""
    rows = [quality_summary(m.positions, skeleton, fps, m.foot_contacts) for m in motions]
    keys = sorted(set().union(*rows)) if rows else []
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}


def run_replication(
    items: Sequence[TestItem],
    real_emb: np.ndarray,
    evaluator: Any,
    generator: MotionGenerator | None,
    seed: int,
    *,
    mm_captions: int = MM_CAPTIONS,
    mm_repeats: int = MM_REPEATS,
    mm_pairs: int = MULTIMODALITY_PAIRS,
    diversity_pairs: int = DIVERSITY_PAIRS,
    keep_motions: bool = False,
) -> dict[str, Any]:
    """One replication's figures; ``generator=None`` scores the real motions (the real row).

    ``real_emb`` ``[len(items), latent]`` are the evaluator's embeddings of the items' motions.
    With ``keep_motions`` the generated motions are returned under ``"motions"`` (for quality).
    """
    order, captions = replication_plan(items, seed)
    rng = np.random.default_rng([seed, 2])
    text_emb = evaluator.encode_texts(captions)
    out: dict[str, Any] = {"seed": seed, "samples": len(order)}
    if generator is None:
        out.update(retrieval_figures(text_emb, real_emb[order], real_emb, rng, diversity_pairs=diversity_pairs))
        return out
    motions = generator(captions, [items[i].frames for i in order], seed)
    motion_emb = evaluator.encode_motions([m.positions for m in motions])
    out.update(retrieval_figures(text_emb, motion_emb, real_emb, rng, diversity_pairs=diversity_pairs))
    if mm_captions > 0 and mm_repeats > 1:
        picks = rng.choice(len(order), size=min(mm_captions, len(order)), replace=False)
        prompts = [captions[p] for p in picks for _ in range(mm_repeats)]
        lengths = [items[order[p]].frames for p in picks for _ in range(mm_repeats)]
        mm = generator(prompts, lengths, seed + 100_000)
        emb = evaluator.encode_motions([m.positions for m in mm]).reshape(len(picks), mm_repeats, -1)
        out["multimodality"] = multimodality(emb, min(mm_pairs, mm_repeats), rng=rng)
    if keep_motions:
        out["motions"] = motions
    return out


def summarise_replications(replications: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95% interval of every figure over the replications that measured it (multimodality is
    measured in the first ``mm_replications`` only)."""
    keys = ("fid", "r_precision_top1", "r_precision_top2", "r_precision_top3", "mm_dist", "diversity", "multimodality")
    return {k: mean_and_interval([r[k] for r in replications if k in r]) for k in keys if any(k in r for r in replications)}


def floor_figures(train_emb: np.ndarray, test_emb: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """The floor row: FID of real training motions against real test motions, and their diversity."""
    return {"fid": fid(test_emb, train_emb), "diversity": diversity(train_emb, min(DIVERSITY_PAIRS, len(train_emb)), rng=rng)}

