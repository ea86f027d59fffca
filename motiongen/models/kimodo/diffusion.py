"""Cosine noise schedule, forward noising and deterministic DDIM steps (reference 1.4).

The model predicts x0; DDIM turns each x0 estimate into the next, less noisy sample:

    eps      = (x_k / sqrt(a_k) - x0) / sqrt(1 / a_k - 1)
    x_{k-1}  = sqrt(a_{k-1}) x0 + sqrt(1 - a_{k-1}) eps          (a_{-1} = 1, so the last step is x0)

where ``a_k = abar[tau_k]`` on the K sampling timesteps ``tau_k = round(k (N-1) / (K-1))``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from motiongen.errors import InputError
from motiongen.models.kimodo.config import DiffusionConfig

#: Largest single-step noise variance (clips the last cosine betas, which tend to 1).
MAX_BETA = 0.999
#: Floor of the sub-schedule's ``abar`` (keeps ``1 / abar`` finite at the last base step).
MIN_ALPHA_BAR = 1e-9


class CosineSchedule:
    """Cosine schedule over ``num_train_steps`` base steps.

    ``abar(s) = cos²((s + 0.008) / 1.008 · π/2)``, ``beta_i = min(1 - abar((i+1)/N) / abar(i/N), 0.999)``
    and ``alphas_cumprod[i] = prod_{j <= i} (1 - beta_j)``. Arrays are float64 torch tensors ``[N]``
    on the CPU; values are cast to the sample's dtype and device where used.
    """

    def __init__(self, num_train_steps: int = 1000) -> None:
        DiffusionConfig(num_train_steps=num_train_steps)  # validates the range
        self.num_train_steps = int(num_train_steps)
        n = self.num_train_steps

        def abar(s: np.ndarray) -> np.ndarray:
            return np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

        i = np.arange(n, dtype=np.float64)
        betas = np.minimum(1.0 - abar((i + 1) / n) / abar(i / n), MAX_BETA)
        self.betas = torch.from_numpy(betas)
        self.alphas_cumprod = torch.from_numpy(np.cumprod(1.0 - betas))

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> "CosineSchedule":
        return cls(config.num_train_steps)

    @property
    def config(self) -> DiffusionConfig:
        return DiffusionConfig(num_train_steps=self.num_train_steps, schedule="cosine")

    def __repr__(self) -> str:
        return f"CosineSchedule(num_train_steps={self.num_train_steps})"

    # ----------------------------------------------------------------------------------------------
    def _abar(self, index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``abar[index]`` shaped ``[B, 1, ..., 1]`` to broadcast against ``like``, in its dtype/device."""
        values = self.alphas_cumprod[index.detach().cpu().long()]
        return values.to(device=like.device, dtype=like.dtype).reshape((-1,) + (1,) * (like.ndim - 1))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward noising ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        Args:
            x0: ``[B, ...]`` clean samples; t: ``[B]`` base step indices; noise: like ``x0``.
        """
        if t.ndim != 1 or t.shape[0] != x0.shape[0]:
            raise InputError(f"t must have shape [{x0.shape[0]}], got {list(t.shape)}", field="t")
        a = self._abar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def ddim_timesteps(self, steps: int) -> torch.Tensor:
        """The K base timesteps of a K-step sampler, ascending: ``tau_k = round(k (N-1) / (K-1))``.

        Always starts at 0 and ends at N-1 (K = 1 gives ``[N-1]``). Rounding is half-to-even, as
        numpy and torch round. The sampler walks them from the last to the first.
        """
        n = self.num_train_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= n:
            raise InputError(f"steps must be an integer in [1, {n}], got {steps!r}", field="steps")
        if steps == 1:
            return torch.tensor([n - 1], dtype=torch.long)
        k = np.arange(steps, dtype=np.float64)
        tau = np.minimum(np.round(k * (n - 1) / (steps - 1)), n - 1)
        return torch.from_numpy(tau.astype(np.int64))

    def ddim_step(
        self, x_t: torch.Tensor, x0_pred: torch.Tensor, k_index: int, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """One deterministic DDIM step (eta = 0) from sampling step ``k_index`` to ``k_index - 1``.

        Args:
            x_t: ``[B, ...]`` the current sample, at base step ``timesteps[k_index]``.
            x0_pred: the (guided) x0 estimate, like ``x_t``.
            k_index: position in ``timesteps`` (K-1 first, 0 last).
            timesteps: the output of :meth:`ddim_timesteps`.

        Returns:
            the sample at ``timesteps[k_index - 1]``; for ``k_index == 0`` exactly ``x0_pred``.
        """
        if not 0 <= k_index < len(timesteps):
            raise InputError(f"k_index must be in [0, {len(timesteps) - 1}], got {k_index}", field="k_index")
        if k_index == 0:
            return x0_pred
        a = max(float(self.alphas_cumprod[int(timesteps[k_index])]), MIN_ALPHA_BAR)
        a_prev = max(float(self.alphas_cumprod[int(timesteps[k_index - 1])]), MIN_ALPHA_BAR)
        eps = (x_t / math.sqrt(a) - x0_pred) / math.sqrt(1.0 / a - 1.0)
        return math.sqrt(a_prev) * x0_pred + math.sqrt(1.0 - a_prev) * eps
