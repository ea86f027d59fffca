"""Fixed, deterministic train/val/test splits with no leakage between them.

Every clip belongs to a leakage group (:attr:`ClipSource.group`), and a whole group lands in one
split, so no take, subject or actor is seen in two splits. The rules, per source:

- **Bandai**: the data has no actor labels, so a group is a take. In dataset 2 take numbers run
  per content and style, and all styles of one content's take number are kept together, so a take
  number never straddles splits. Dataset 1 has a single take (``001``) per content and style for
  most contents, and its styles are separate performances, so there a group is one file; grouping
  its take numbers across styles would put whole contents (dash, guide, kick) outside training. A
  group goes to train/val/test when the stable hash of its key (SHA-256 of the group key, as a
  fraction of 2^64) is below 0.8 / 0.9 / 1.0, which gives close to 80/10/10 by frames.
- **CMU**: a group is a subject. Twelve usable subjects, one of them (105) more than half the
  frames, are too few for hashing to come near 80/10/10, so subjects are placed largest first
  (weight = AMC file size, proportional to frame count; ties broken by the stable hash) into the
  split furthest below its share of 80/10/10 of the frames.
- **HDM05**: a group is an actor. The archive's own split is kept for test (``mm``, ``tr``); of its
  three training actors ``bd`` and ``bk`` train and ``dg`` is validation, so validation, like test,
  is an unseen actor. An actor not listed falls back to the hash rule.

The assignment depends only on the discovered clips (never on a build's ``limit_per_source``), so a
subset build has the same split for every clip as the full build.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

from motiongen.data.sources import ClipSource

SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
HDM05_ACTOR_SPLITS: dict[str, str] = {"bd": "train", "bk": "train", "dg": "val", "mm": "test", "tr": "test"}


def stable_hash(key: str) -> int:
    """A 64-bit integer from SHA-256 of ``key``: the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def stable_fraction(key: str) -> float:
    """``stable_hash(key)`` mapped to ``[0, 1)``."""
    return stable_hash(key) / 2.0**64


def hash_split(key: str, fractions: Mapping[str, float] = SPLIT_FRACTIONS) -> str:
    """The split whose cumulative share of ``[0, 1)`` contains ``stable_fraction(key)``."""
    u = stable_fraction(key)
    edge = 0.0
    for split in SPLITS:
        edge += fractions[split]
        if u < edge:
            return split
    return SPLITS[-1]


def balanced_group_splits(weights: Mapping[str, float], fractions: Mapping[str, float] = SPLIT_FRACTIONS) -> dict[str, str]:
    """Groups -> splits, largest group first into the split furthest below its share of the weight."""
    total = float(sum(weights.values()))
    filled = dict.fromkeys(SPLITS, 0.0)
    out: dict[str, str] = {}
    for group in sorted(weights, key=lambda g: (-weights[g], stable_hash(g))):
        split = max(SPLITS, key=lambda s: (fractions[s] * total - filled[s], -SPLITS.index(s)))
        out[group] = split
        filled[split] += weights[group]
    return out


def group_weights(clips: Iterable[ClipSource]) -> dict[str, float]:
    """Sum of clip weights per leakage group."""
    weights: dict[str, float] = defaultdict(float)
    for clip in clips:
        weights[clip.group] += clip.weight
    return dict(weights)


def assign_splits(clips: Sequence[ClipSource]) -> dict[str, str]:
    """``clip_id -> split`` for all ``clips`` by the rules in the module docstring."""
    cmu_splits = balanced_group_splits(group_weights(c for c in clips if c.source == "cmu"))
    out: dict[str, str] = {}
    for clip in clips:
        if clip.source == "cmu":
            out[clip.clip_id] = cmu_splits[clip.group]
        elif clip.source == "hdm05" and clip.labels.get("actor") in HDM05_ACTOR_SPLITS:
            out[clip.clip_id] = HDM05_ACTOR_SPLITS[str(clip.labels["actor"])]
        else:
            out[clip.clip_id] = hash_split(clip.group)
    return out
