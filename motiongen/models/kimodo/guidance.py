"""Classifier-free guidance on x0 predictions (reference 1.5).

=============  ==========================================  ======================================
cfg_type       branches (run as one batch)                 combination
=============  ==========================================  ======================================
``nocfg``      text + constraints                          ``c``
``regular``    [text + constraints, none]                  ``u + w (c - u)``
``separated``  [text only, constraints only, none]         ``u + w_t (t - u) + w_c (k - u)``
=============  ==========================================  ======================================

"No text" is an all-zero text feature (what an empty prompt encodes to); "no constraint" is an
all-zero mask (the observed values are still passed but have no effect).
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Sequence

import torch
from torch import nn

from motiongen.errors import InputError, UnknownNameError

CFG_TYPES = ("nocfg", "regular", "separated")


def cfg_weights_for(cfg_type: str, weights: float | Sequence[float] | None) -> tuple[float, ...]:
    """Validated weights: ``()`` for nocfg, ``(w,)`` for regular, ``(w_text, w_constraint)`` for separated.

    A single weight given for ``separated`` is used for both. Raises :class:`UnknownNameError` for an
    unknown ``cfg_type`` and :class:`InputError` (field ``cfg_weights``) for a wrong count or a
    non-finite value.
    """
    if cfg_type not in CFG_TYPES:
        raise UnknownNameError(f"unknown cfg_type '{cfg_type}'; known: {', '.join(CFG_TYPES)}")
    if cfg_type == "nocfg":
        return ()
    if weights is None:
        raise InputError(f"cfg_type '{cfg_type}' needs guidance weights", field="cfg_weights")
    values = [weights] if isinstance(weights, (Real, str)) else list(weights)
    out = []
    for w in values:
        if isinstance(w, bool) or not isinstance(w, Real) or not math.isfinite(float(w)):
            raise InputError(f"guidance weights must be finite numbers, got {w!r}", field="cfg_weights")
        out.append(float(w))
    want = 1 if cfg_type == "regular" else 2
    if cfg_type == "separated" and len(out) == 1:
        out = out * 2
    if len(out) != want:
        raise InputError(
            f"cfg_type '{cfg_type}' takes {want} weight{'s' if want > 1 else ''} "
            f"({'w' if want == 1 else 'w_text, w_constraint'}), got {len(out)}",
            field="cfg_weights",
        )
    return tuple(out)


def guided_x0(
    model: nn.Module,
    x_t: torch.Tensor,
    t: torch.Tensor,
    text: torch.Tensor,
    observed: torch.Tensor | None,
    mask: torch.Tensor | None,
    first_heading: torch.Tensor | None,
    pad_mask: torch.Tensor | None,
    cfg_type: str = "regular",
    weights: float | Sequence[float] | None = (2.0,),
) -> torch.Tensor:
    """Guided x0 estimate ``[B, T, D]`` of ``model`` (a :class:`TwoStageDenoiser`).

    Arguments are those of :meth:`TwoStageDenoiser.forward`; ``weights`` as in :func:`cfg_weights_for`.
    """
    w = cfg_weights_for(cfg_type, weights)
    if cfg_type == "nocfg":
        return model(x_t, t, text, observed, mask, first_heading, pad_mask)
    b = x_t.shape[0]
    if mask is None:
        mask = torch.zeros_like(x_t)
    if observed is None:
        observed = torch.zeros_like(x_t)
    if first_heading is None:
        first_heading = torch.zeros(b, device=x_t.device)
    first_heading = torch.as_tensor(first_heading, dtype=torch.float32, device=x_t.device).expand(b)
    no_text, no_mask = torch.zeros_like(text), torch.zeros_like(mask)
    if cfg_type == "regular":
        texts, masks = [text, no_text], [mask, no_mask]
    else:
        texts, masks = [text, no_text, no_text], [no_mask, mask, no_mask]
    n = len(texts)
    out = model(
        x_t.repeat(n, *([1] * (x_t.ndim - 1))),
        t.repeat(n),
        torch.cat(texts),
        observed.repeat(n, 1, 1),
        torch.cat(masks),
        first_heading.repeat(n),
        None if pad_mask is None else pad_mask.repeat(n, 1),
    )
    branches = out.split(b)
    if cfg_type == "regular":
        cond, uncond = branches
        return uncond + w[0] * (cond - uncond)
    text_only, constraint_only, uncond = branches
    return uncond + w[0] * (text_only - uncond) + w[1] * (constraint_only - uncond)
