"""Style classification accuracy on a split of the built dataset: :func:`style_test_accuracy`.

Which clip belongs to which head is read from the Bandai labels the dataset builder keeps in
``clips.jsonl`` (``labels = {"dataset": 1|2, "style": ..., ...}``): dataset 2 -> ``bandai-7``,
dataset 1 -> ``bandai-15`` (:data:`~motiongen.models.style.classifier.BANDAI_HEADS`). The trainer
reads its labels through the same functions, so training and scoring cannot disagree on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from motiongen.errors import InputError
from motiongen.models.style.classifier import BANDAI_HEADS, StyleClassifier


def record_style(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(head, style)`` of a clip record, or None for a clip without a Bandai style label."""
    labels = record.get("labels") or {}
    head = BANDAI_HEADS.get(labels.get("dataset")) if record.get("source") == "bandai" else None
    style = labels.get("style")
    if head is None or not isinstance(style, str):
        return None
    return head, style


def labelled_items(dataset: Any) -> list[tuple[int, str, str]]:
    """``[(item index, head, style)]`` of every styled clip of a
    :class:`~motiongen.data.dataset.MotionDataset` (in item order; mirrored items included when the
    dataset has them: a mirrored clip keeps its style)."""
    by_id = {r["id"]: r for r in dataset.records}
    out = []
    for i, clip_id in enumerate(dataset.clip_ids):
        record = by_id.get(clip_id) or by_id.get(clip_id.removesuffix("#mirror"))
        found = record_style(record) if record is not None else None
        if found is not None:
            out.append((i, *found))
    return out


def style_label_sets(records: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Head -> sorted style names found in ``records`` (heads in :data:`BANDAI_HEADS` order, only
    those with at least one clip)."""
    styles: dict[str, set[str]] = {}
    for record in records:
        found = record_style(record)
        if found is not None:
            styles.setdefault(found[0], set()).add(found[1])
    return {head: sorted(styles[head]) for head in BANDAI_HEADS.values() if head in styles}


def accuracy_report(true: Sequence[int], predicted: Sequence[int], styles: Sequence[str]) -> dict[str, Any]:
    """Accuracy of class indices ``predicted`` against ``true`` over ``styles``.

    Returns ``clips``, ``accuracy`` (None without clips), ``chance`` (1 / C), ``styles``,
    ``per_style`` (style -> ``clips``, ``correct``, ``accuracy``: the recall, None without clips) and
    ``confusion`` (``[C, C]`` counts, rows the true style, columns the predicted one).
    """
    c = len(styles)
    t = np.asarray(true, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (t, p), 1)
    per_style = {}
    for k, style in enumerate(styles):
        n = int(confusion[k].sum())
        per_style[style] = {"clips": n, "correct": int(confusion[k, k]), "accuracy": confusion[k, k] / n if n else None}
    return {
        "clips": int(t.size),
        "accuracy": float((t == p).mean()) if t.size else None,
        "chance": 1.0 / c,
        "styles": list(styles),
        "per_style": {s: {**v, "accuracy": None if v["accuracy"] is None else float(v["accuracy"])} for s, v in per_style.items()},
        "confusion": confusion.tolist(),
    }


def style_test_accuracy(
    classifier: StyleClassifier,
    cache: str | Path | None = None,
    split: str = "test",
    *,
    root: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Accuracy of ``classifier`` on every unmirrored styled clip of ``split``, each classified whole.

    Args:
        classifier: the classifier to score.
        cache: motiongen cache holding the full build (default ``$MOTIONGEN_CACHE``).
        split: ``train``, ``val`` or ``test``.
        root: a built dataset folder instead (e.g. a subset build).
        progress: show a progress bar.

    Returns:
        ``split``, ``dataset`` (folder name), ``classifier_version`` and ``heads``: per label set of the
        classifier, :func:`accuracy_report` (``clips`` 0 and ``accuracy`` None where the split has no
        clip of that head) plus ``unknown_style_clips`` (clips whose style the head does not know,
        left out of the figures).
    """
    from tqdm import tqdm

    from motiongen.data.dataset import MotionDataset
    from motiongen.train.features import dataset_source

    folder = Path(root) if root is not None else dataset_source(cache=cache)[1]
    dataset = MotionDataset(split=split, mirrored=False, root=folder)
    if abs(dataset.fps - classifier.fps) > 1e-6:
        raise InputError(f"the dataset is at {dataset.fps:g} fps, the classifier reads {classifier.fps:g} fps", field="fps")
    label_sets = classifier.label_sets
    items = labelled_items(dataset)
    heads: dict[str, Any] = {}
    for head, styles in label_sets.items():
        index = {s: k for k, s in enumerate(styles)}
        mine = [(i, style) for i, h, style in items if h == head]
        known = [(i, index[style]) for i, style in mine if style in index]
        positions = [dataset[i][0].joint_positions() for i, _ in
                     tqdm(known, desc=f"style {head} ({split})", disable=not progress, unit="clip")]
        probabilities = classifier.predict_proba(positions, head) if positions else np.zeros((0, len(styles)))
        report = accuracy_report([k for _, k in known], probabilities.argmax(-1).tolist(), styles)
        heads[head] = {**report, "unknown_style_clips": len(mine) - len(known)}
    return {"split": split, "dataset": folder.name, "classifier_version": classifier.version, "heads": heads}
