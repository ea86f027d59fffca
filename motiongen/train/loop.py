"""Small pieces every trainer here shares: AdamW parameter groups and checkpoint files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from motiongen.train.kimodo import list_checkpoints


def decay_groups(
    model: nn.Module,
    weight_decay: float,
    no_decay: Callable[[str, nn.Parameter], bool] = lambda name, p: p.ndim < 2,
) -> list[dict[str, Any]]:
    """AdamW groups: ``weight_decay`` on the weights, none where ``no_decay(name, p)`` (by default
    biases and LayerNorm gains, the AdamW convention)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if no_decay(name, p) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def save_checkpoint(path: Path, state: Mapping[str, Any], keep: int, run_dir: Path) -> None:
    """Write ``state`` to ``path`` through a temporary file, then keep only the newest ``keep``
    checkpoints of ``run_dir``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(dict(state), tmp)
    tmp.replace(path)
    for _, old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
