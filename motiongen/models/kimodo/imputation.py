"""Imputation of constraints into a denoising step's x0 estimate.

``hard``: the constrained entries are overwritten (classic inpainting); on sparse frames this leaves
a step in every other frame's trajectory that the model must bridge, which pops when the estimate
was far off. ``smooth``: each constrained feature channel is moved onto its targets by the smallest
*smooth* change (KIMODO's trajectory corrector, reference 1.8: pins on the constrained frames,
velocity and acceleration of the change penalised), so the frames around a keyframe move with it.
The change is measured from a reference in which the model's own values on the pinned frames are
replaced by interpolation from the free frames around them: a model that already copies the target
onto the keyframe but not onto its neighbours leaves a step there, and that step must count as
part of the correction. Channels pinned on the same frames are solved together.
"""

from __future__ import annotations

import numpy as np
import torch

from motiongen.postprocess.trajectory import correct_trajectory

IMPUTE_MODES = ("hard", "smooth")
#: Weights (position, velocity, acceleration) of the change: a small position weight lets a
#: correction spread over many frames (KIMODO's root xz weights).
SMOOTH_WEIGHTS = (0.001, 1.0, 10.0)


def impute_hard(x0: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x0`` with the masked entries replaced by ``observed`` (all ``[B, T, D]``)."""
    return x0 * (1 - mask) + observed * mask


def impute_smooth(x0: torch.Tensor, observed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x0`` moved smoothly onto ``observed`` at the masked entries (all ``[B, T, D]``).

    Exact on the masked entries; a channel with no masked frame is unchanged.
    """
    x = x0.detach().cpu().double().numpy()
    obs = observed.detach().cpu().double().numpy()
    m = mask.detach().cpu().numpy() > 0.5
    out = x.copy()
    for b in range(x.shape[0]):
        columns = np.flatnonzero(m[b].any(0))
        if columns.size == 0:
            continue
        patterns: dict[bytes, list[int]] = {}
        for c in columns:
            patterns.setdefault(m[b, :, c].tobytes(), []).append(int(c))
        for cols in patterns.values():
            pinned = m[b, :, cols[0]]
            margin = np.where(pinned, 0.0, np.nan)
            out[b][:, cols] = correct_trajectory(_bridged(x[b][:, cols], pinned), obs[b][:, cols], margin, SMOOTH_WEIGHTS)
    return torch.as_tensor(out, dtype=x0.dtype, device=x0.device)


def _bridged(values: np.ndarray, pinned: np.ndarray) -> np.ndarray:
    """``values [T, C]`` with the pinned frames linearly interpolated from the free ones (held
    constant past the ends); unchanged when every frame is pinned."""
    free = np.flatnonzero(~pinned)
    if free.size == 0 or free.size == pinned.size:
        return values
    out = values.copy()
    frames = np.flatnonzero(pinned)
    for c in range(values.shape[1]):
        out[frames, c] = np.interp(frames, free, values[free, c])
    return out
