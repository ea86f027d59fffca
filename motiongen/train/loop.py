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


def open_run_dir(run_dir: Path, *, resume: bool, total_steps: int, log: Callable[[str], None]) -> Path | None:
    """Create ``run_dir`` (clearing its checkpoints and metrics log when not resuming); return the
    latest checkpoint when it already reached ``total_steps`` (nothing left to train), else None."""
    from motiongen.train.kimodo import latest_checkpoint

    if not resume and run_dir.exists():
        for _, old in list_checkpoints(run_dir):
            old.unlink()
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    done = latest_checkpoint(run_dir) if resume else None
    if done is not None and torch.load(done, map_location="cpu", weights_only=False)["step"] >= total_steps:
        log(f"{done} is at total_steps {total_steps} already; nothing to train")
        return done
    return None


def load_checkpoint(
    path: Path, checkpoint_format: str, what: str, model_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A trainer checkpoint's state, checked: its ``format`` is ``checkpoint_format`` (``what`` names
    the kind in the error: "a SMoG") and, when given, its model sizes are ``model_config``."""
    from motiongen.errors import InputError

    state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != checkpoint_format:
        raise InputError(f"not {what} checkpoint (format {checkpoint_format})", path=path)
    if model_config is not None and state["model_config"] != dict(model_config):
        raise InputError("the config's model sizes differ from the checkpoint's; use --no-resume", path=path)
    return state

