"""KAN layers with B-spline activations, following efficient-kan's ``KANLinear`` (reference smog.md 1.1).

Each edge ``(o, i)`` of a :class:`KANLinear` carries the function
``phi_oi(x) = w_b[o, i] * SiLU(x) + s[o, i] * sum_j c[o, i, j] * B_j(x)``, where ``B_j`` are the
``grid_size + spline_order`` B-spline bases over a uniform knot grid that extends ``spline_order``
knots past ``grid_range`` on each side, and output ``o`` is ``sum_i phi_oi(x_i)``.

Departures from efficient-kan, each on purpose:

- ``update_grid`` refits the *unscaled* spline (efficient-kan fits the scaled one and so applies the
  standalone scaler twice after every grid update; see :meth:`KANLinear.update_grid`);
- Cox-de Boor treats ``0 / 0`` as 0 (the usual B-spline convention), which only matters for repeated
  knots; efficient-kan would produce NaN there;
- the entropy term of ``regularization_loss`` is guarded against all-zero spline weights;
- least squares runs in float64 (on CPU, SVD-based minimum-norm), so under-determined systems, such
  as the initial fit through ``grid_size + 1`` points, behave the same on every device;
- user mistakes raise :class:`~motiongen.errors.InputError` naming the argument.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motiongen.errors import InputError

#: Base-branch activations a :class:`KANConfig` can name (a config must stay JSON-serialisable).
BASE_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

ActivationSpec = str | Callable[[], nn.Module]


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"must be an integer >= 1, got {value!r}", field=name)
    return value


def _check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None) -> float:
    """A finite real number within ``[low, high]`` (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"must be a finite number, got {value!r}", field=name)
    if (low is not None and value < low) or (high is not None and value > high):
        allowed = (
            f"in [{low}, {high}]"
            if low is not None and high is not None
            else (f">= {low}" if low is not None else f"<= {high}")
        )
        raise InputError(f"must be {allowed}, got {value!r}", field=name)
    return float(value)


def _check_grid_range(value: Any) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise InputError(f"must be a pair (lo, hi), got {value!r}", field="grid_range")
    lo = _check_number("grid_range", value[0])
    hi = _check_number("grid_range", value[1])
    if not lo < hi:
        raise InputError(f"needs lo < hi, got ({lo}, {hi})", field="grid_range")
    return lo, hi


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"must be true or false, got {value!r}", field=name)
    return value


def _make_activation(spec: ActivationSpec) -> nn.Module:
    """An activation module from a name in :data:`BASE_ACTIVATIONS` or a zero-argument factory (``nn.SiLU``)."""
    if isinstance(spec, str):
        if spec.lower() not in BASE_ACTIVATIONS:
            raise InputError(
                f"unknown activation '{spec}'; known: {', '.join(sorted(BASE_ACTIVATIONS))}", field="base_activation"
            )
        return BASE_ACTIVATIONS[spec.lower()]()
    if not callable(spec):
        raise InputError(f"must be an activation name or an nn.Module class, got {spec!r}", field="base_activation")
    module = spec()
    if not isinstance(module, nn.Module):
        raise InputError(f"must build an nn.Module, got {type(module).__name__}", field="base_activation")
    return module


def uniform_knot_grid(grid_range: tuple[float, float], grid_size: int, spline_order: int) -> Tensor:
    """The uniform extended knot vector ``t_j = lo + (j - k) * h``, ``h = (hi - lo) / G``.

    Returns:
        ``[G + 2k + 1]`` float32 knots; the bases form a partition of unity on ``[t_k, t_{G+k}] = [lo, hi]``.
    """
    lo, hi = grid_range
    step = (hi - lo) / grid_size
    return torch.arange(-spline_order, grid_size + spline_order + 1, dtype=torch.float32) * step + lo


def kan_linear_parameter_count(
    in_features: int, out_features: int, grid_size: int = 5, spline_order: int = 3, standalone_scaler: bool = True
) -> int:
    """Trainable parameters of a :class:`KANLinear` (smog.md 1.4, efficient-kan variant: no bias, no norms).

    ``in * out`` base weights + ``in * out * (G + k)`` spline coefficients + ``in * out`` scalers (if on).
    """
    edges = in_features * out_features
    return edges * (1 + grid_size + spline_order + int(standalone_scaler))


def _least_squares(design: Tensor, targets: Tensor) -> Tensor:
    """Minimum-norm least-squares solution of ``design @ X = targets`` per batch entry.

    Args:
        design: ``[C, M, P]``.
        targets: ``[C, M, Q]``.

    Returns:
        ``[C, P, Q]`` in ``targets``' dtype and device.
    """
    # float64 because update_grid must reproduce outputs closely; SVD-based so that rank-deficient or
    # under-determined systems (the initial fit has G+1 rows for G+k unknowns) give the minimum-norm
    # answer. CUDA's lstsq only has 'gels' (full rank, tall) and other backends may lack float64, so
    # CUDA uses the pseudo-inverse on the device and everything else solves on the CPU.
    if design.device.type == "cuda":
        a, b = design.double(), targets.double()
        solution = torch.linalg.pinv(a) @ b
    else:
        a, b = design.detach().cpu().double(), targets.detach().cpu().double()
        solution = torch.linalg.lstsq(a, b, driver="gelsd").solution
    return solution.to(dtype=targets.dtype, device=targets.device)


class KANLinear(nn.Module):
    """One Kolmogorov-Arnold layer ``[..., in] -> [..., out]`` (efficient-kan semantics, smog.md 1.1).

    Args:
        in_features, out_features: widths (>= 1).
        grid_size: ``G``, intervals of the spline grid inside ``grid_range``.
        spline_order: ``k``, polynomial degree of the splines (3 = cubic; >= 1).
        scale_noise: amplitude of the initial spline noise, ``U(-1/2, 1/2) * scale_noise / G``.
        scale_base: Kaiming gain parameter of the base weights (``a = sqrt(5) * scale_base``; a larger
            value gives a *smaller* init, as in efficient-kan).
        scale_spline: same for the standalone scaler, or the constant spline factor when that is off.
        enable_standalone_scale_spline: learn a separate ``[out, in]`` scaler of each edge's spline.
        base_activation: the residual branch's activation: an ``nn.Module`` class or a name in
            :data:`BASE_ACTIVATIONS`.
        grid_eps: in :meth:`update_grid`, weight of the uniform grid against the quantile grid (in [0, 1]).
        grid_range: ``(lo, hi)`` of the initial grid, ``lo < hi``.

    Buffers and parameters:
        grid: ``[in, G + 2k + 1]`` knots per input channel.
        base_weight: ``[out, in]``.
        spline_weight: ``[out, in, G + k]`` unscaled B-spline coefficients.
        spline_scaler: ``[out, in]`` (only with ``enable_standalone_scale_spline``).
    """

    grid: Tensor

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        enable_standalone_scale_spline: bool = True,
        base_activation: ActivationSpec = nn.SiLU,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int("in_features", in_features)
        self.out_features = _check_positive_int("out_features", out_features)
        self.grid_size = _check_positive_int("grid_size", grid_size)
        self.spline_order = _check_positive_int("spline_order", spline_order)
        self.scale_noise = _check_number("scale_noise", scale_noise, low=0.0)
        self.scale_base = _check_number("scale_base", scale_base)
        self.scale_spline = _check_number("scale_spline", scale_spline)
        self.enable_standalone_scale_spline = _check_bool(
            "enable_standalone_scale_spline", enable_standalone_scale_spline
        )
        self.grid_eps = _check_number("grid_eps", grid_eps, low=0.0, high=1.0)
        self.grid_range = _check_grid_range(grid_range)
        self.base_activation = _make_activation(base_activation)

        knots = uniform_knot_grid(self.grid_range, self.grid_size, self.spline_order)
        self.register_buffer("grid", knots.expand(self.in_features, -1).contiguous())
        self.base_weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.spline_weight = nn.Parameter(torch.empty(self.out_features, self.in_features, self.num_bases))
        self.spline_scaler: nn.Parameter | None = (
            nn.Parameter(torch.empty(self.out_features, self.in_features))
            if self.enable_standalone_scale_spline
            else None
        )
        self.reset_parameters()

    @property
    def num_bases(self) -> int:
        """``G + k``, B-spline bases (coefficients) per edge."""
        return self.grid_size + self.spline_order

    def reset_parameters(self) -> None:
        """efficient-kan's init: Kaiming-uniform base weights and scaler; spline coefficients fitted to noise.

        The noise ``[G + 1, in, out]`` is sampled at the ``G + 1`` knots inside ``grid_range`` and fitted by
        :meth:`curve2coeff` (minimum norm: 8 coefficients through 6 points with the defaults), so every
        edge starts as a small smooth random curve rather than white-noise coefficients.
        """
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        with torch.no_grad():
            noise = (
                (torch.rand(self.grid_size + 1, self.in_features, self.out_features) - 0.5)
                * self.scale_noise
                / self.grid_size
            ).to(self.grid)
            interior_knots = self.grid.T[self.spline_order : -self.spline_order]
            factor = 1.0 if self.enable_standalone_scale_spline else self.scale_spline
            self.spline_weight.copy_(factor * self.curve2coeff(interior_knots, noise))
        if self.spline_scaler is not None:
            nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)

    def _check_features(self, x: Tensor, name: str = "x") -> None:
        if not isinstance(x, Tensor):
            raise InputError(f"must be a torch.Tensor, got {type(x).__name__}", field=name)
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise InputError(
                f"last dimension must be in_features = {self.in_features}, got shape {tuple(x.shape)}", field=name
            )

    def b_splines(self, x: Tensor) -> Tensor:
        """B-spline bases of every input channel on its own knot grid (Cox-de Boor).

        Args:
            x: ``[N, in]``.

        Returns:
            ``[N, in, G + k]``; non-negative, summing to 1 for ``x`` in ``[grid_range]`` (the current
            grid's ``[t_k, t_{G+k}]``), partial in the ``k`` padding intervals and 0 beyond them.
        """
        self._check_features(x)
        if x.dim() != 2:
            raise InputError(f"must have shape [N, {self.in_features}], got {tuple(x.shape)}", field="x")
        knots = self.grid.to(x.dtype)
        x = x.unsqueeze(-1)
        # half-open [t_j, t_{j+1}) indicators, one per knot interval: [N, in, G + 2k]
        bases = ((x >= knots[:, :-1]) & (x < knots[:, 1:])).to(x.dtype)
        for order in range(1, self.spline_order + 1):
            left_knots = knots[:, : -(order + 1)]  # t_j
            right_knots = knots[:, order + 1 :]  # t_{j+order+1}
            left_width = knots[:, order:-1] - left_knots  # t_{j+order} - t_j
            right_width = right_knots - knots[:, 1:-order]  # t_{j+order+1} - t_{j+1}
            # repeated knots make a width 0; the basis it divides is then 0, and 0/0 counts as 0
            inv_left = torch.where(left_width > 0, 1.0 / left_width, torch.zeros_like(left_width))
            inv_right = torch.where(right_width > 0, 1.0 / right_width, torch.zeros_like(right_width))
            bases = (x - left_knots) * inv_left * bases[..., :-1] + (right_knots - x) * inv_right * bases[..., 1:]
        return bases

    def curve2coeff(self, x: Tensor, y: Tensor) -> Tensor:
        """Spline coefficients whose curves best fit ``y`` at ``x`` (least squares, per input channel).

        Args:
            x: ``[M, in]`` sample points.
            y: ``[M, in, out]`` target value of edge ``(o, i)`` at ``x[:, i]``.

        Returns:
            ``[out, in, G + k]`` coefficients on the current grid (unscaled: no ``spline_scaler``).
        """
        self._check_features(x)
        if x.dim() != 2:
            raise InputError(f"must have shape [M, {self.in_features}], got {tuple(x.shape)}", field="x")
        expected = (x.shape[0], self.in_features, self.out_features)
        if not isinstance(y, Tensor) or tuple(y.shape) != expected:
            got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise InputError(f"must have shape {list(expected)} = [M, in, out], got {got}", field="y")
        design = self.b_splines(x).transpose(0, 1)  # [in, M, G + k]
        targets = y.transpose(0, 1)  # [in, M, out]
        coefficients = _least_squares(design, targets)  # [in, G + k, out]
        return coefficients.permute(2, 0, 1).contiguous()

    @property
    def scaled_spline_weight(self) -> Tensor:
        """``[out, in, G + k]``: ``spline_weight`` times each edge's standalone scaler (if enabled)."""
        if self.spline_scaler is None:
            return self.spline_weight
        return self.spline_weight * self.spline_scaler.unsqueeze(-1)

    def spline_edge_outputs(self, x: Tensor, *, scaled: bool = True) -> Tensor:
        """Every edge's spline term separately (no base branch, not summed over inputs).

        Args:
            x: ``[N, in]``.
            scaled: include ``spline_scaler`` (what :meth:`forward` uses) or not (what ``spline_weight`` fits).

        Returns:
            ``[N, in, out]``: value of edge ``(o, i)``'s spline at ``x[:, i]``.
        """
        weight = self.scaled_spline_weight if scaled else self.spline_weight
        return torch.einsum("nib,oib->nio", self.b_splines(x), weight)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer.

        Args:
            x: ``[..., in]``.

        Returns:
            ``[..., out]``.
        """
        self._check_features(x)
        leading = x.shape[:-1]
        flat = x.reshape(-1, self.in_features)
        base = F.linear(self.base_activation(flat), self.base_weight)
        spline = F.linear(
            self.b_splines(flat).reshape(flat.shape[0], self.in_features * self.num_bases),
            self.scaled_spline_weight.reshape(self.out_features, -1),
        )
        return (base + spline).reshape(*leading, self.out_features)

    @torch.no_grad()
    def update_grid(self, x: Tensor, margin: float = 0.01) -> None:
        """Move the knots to the data and refit the splines so that the layer's outputs are kept.

        The new interior knots per channel are ``grid_eps * uniform + (1 - grid_eps) * quantiles`` of
        ``x``, with the uniform grid spanning ``[min - margin, max + margin]``, padded by ``k`` knots
        of the uniform step on each side. Outputs are kept exactly where the old splines are
        representable on the new grid (e.g. polynomials of degree <= k over the data's range, or an
        unchanged grid), and in the least-squares sense on ``x`` otherwise.

        Bug fixed relative to efficient-kan: it evaluated the *scaled* edge splines
        (``spline_weight * spline_scaler``) and fitted them into ``spline_weight``, which forward then
        multiplies by ``spline_scaler`` again, so each edge's spline came out scaled by
        ``spline_scaler`` twice (squared) after every update. Here the *unscaled* splines
        (``bases @ spline_weight``) are fitted; since the fit is linear in its targets and the scaler
        is per edge, ``new_spline_weight * spline_scaler`` reproduces the old scaled splines on ``x``.

        Args:
            x: ``[..., in]`` representative inputs of this layer (finite); at least one sample.
            margin: widening of the uniform grid beyond the data range (>= 0).

        Raises:
            InputError: bad shape, non-finite values, negative margin, or data that would make the new
                grid degenerate (e.g. a constant channel with ``margin = 0``); the layer is then unchanged.
        """
        self._check_features(x)
        margin = _check_number("margin", margin, low=0.0)
        samples = x.reshape(-1, self.in_features)
        if samples.shape[0] == 0:
            raise InputError("needs at least one sample", field="x")
        if not bool(torch.isfinite(samples).all()):
            raise InputError("contains NaN or infinite values", field="x")

        unscaled_outputs = self.spline_edge_outputs(samples, scaled=False)  # [N, in, out]

        ordered = torch.sort(samples, dim=0).values
        count, order = ordered.shape[0], self.spline_order
        quantile_index = torch.linspace(0, count - 1, self.grid_size + 1, device=samples.device).long()
        adaptive = ordered[quantile_index]  # [G + 1, in]
        step = (ordered[-1] - ordered[0] + 2 * margin) / self.grid_size  # [in]
        positions = torch.arange(self.grid_size + 1, dtype=samples.dtype, device=samples.device).unsqueeze(1)
        uniform = ordered[0] - margin + positions * step
        interior = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive
        pad = torch.arange(1, order + 1, dtype=samples.dtype, device=samples.device).unsqueeze(1) * step
        knots = torch.cat([interior[:1] - pad.flip(0), interior, interior[-1:] + pad], dim=0).T  # [in, G + 2k + 1]
        if not bool((knots[:, 1:] > knots[:, :-1]).all()):
            raise InputError(
                "the data would make repeated knots (a constant channel with margin 0, or grid_eps 0 with "
                "repeated quantiles); use margin > 0 and grid_eps > 0",
                field="x",
            )

        # Fit the UNSCALED edge splines: efficient-kan fitted the scaled ones here, so forward's
        # spline_scaler was applied twice after an update (see the docstring).
        old_knots = self.grid.clone()
        self.grid.copy_(knots)
        try:
            coefficients = self.curve2coeff(samples, unscaled_outputs)
        except BaseException:
            self.grid.copy_(old_knots)  # never leave a new grid with the old coefficients
            raise
        self.spline_weight.copy_(coefficients)

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> Tensor:
        """efficient-kan's weight-based stand-in for the KAN paper's L1 + entropy regulariser.

        With ``l1[o, i] = mean_j |spline_weight[o, i, j]|`` (raw, unscaled), ``L_act = sum l1`` and
        ``p = l1 / L_act``: returns ``regularize_activation * L_act - regularize_entropy * sum p log p``.

        Returns:
            scalar tensor.
        """
        regularize_activation = _check_number("regularize_activation", regularize_activation, low=0.0)
        regularize_entropy = _check_number("regularize_entropy", regularize_entropy, low=0.0)
        l1 = self.spline_weight.abs().mean(-1)
        activation = l1.sum()
        # efficient-kan gives NaN when an edge's weights are all zero (0 * log 0) or all of them are
        # (0 / 0). Zero-probability edges count 0 towards the entropy, as in its limit; an all-zero
        # layer divides by 1 rather than by a tiny clamp, whose huge reciprocal would overflow the
        # gradient to inf and then to NaN through abs()'s zero subgradient.
        p = l1 / torch.where(activation > 0, activation, torch.ones_like(activation))
        entropy = -(p * p.clamp_min(torch.finfo(l1.dtype).tiny).log()).sum()
        return regularize_activation * activation + regularize_entropy * entropy

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}, "
            f"spline_order={self.spline_order}, standalone_scaler={self.enable_standalone_scale_spline}"
        )


@dataclass
class KANConfig:
    """:class:`KANLinear` settings other than the widths, JSON-friendly (the activation is a name).

    ``KANLinear(in, out, **config.to_dict())`` and :meth:`build` give the same layer.
    """

    grid_size: int = 5
    spline_order: int = 3
    scale_noise: float = 0.1
    scale_base: float = 1.0
    scale_spline: float = 1.0
    enable_standalone_scale_spline: bool = True
    base_activation: str = "silu"
    grid_eps: float = 0.02
    grid_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        _check_positive_int("grid_size", self.grid_size)
        _check_positive_int("spline_order", self.spline_order)
        self.scale_noise = _check_number("scale_noise", self.scale_noise, low=0.0)
        self.scale_base = _check_number("scale_base", self.scale_base)
        self.scale_spline = _check_number("scale_spline", self.scale_spline)
        _check_bool("enable_standalone_scale_spline", self.enable_standalone_scale_spline)
        if not isinstance(self.base_activation, str) or self.base_activation.lower() not in BASE_ACTIVATIONS:
            raise InputError(
                f"unknown activation {self.base_activation!r}; known: {', '.join(sorted(BASE_ACTIVATIONS))}",
                field="base_activation",
            )
        self.base_activation = self.base_activation.lower()
        self.grid_eps = _check_number("grid_eps", self.grid_eps, low=0.0, high=1.0)
        self.grid_range = _check_grid_range(self.grid_range)  # JSON gives a list

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (``grid_range`` as a list)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["grid_range"] = list(self.grid_range)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KANConfig:
        """Build from a dict; missing keys take the defaults, unknown keys raise :class:`InputError`."""
        if not isinstance(data, Mapping):
            raise InputError(f"KANConfig must be a mapping, got {type(data).__name__}", field="kan")
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise InputError(f"unknown KANConfig key '{key}'; known: {', '.join(sorted(known))}", field=str(key))
        return cls(**dict(data))

    def build(self, in_features: int, out_features: int) -> KANLinear:
        """A fresh ``[..., in_features] -> [..., out_features]`` layer with these settings."""
        return KANLinear(in_features, out_features, **self.to_dict())


class KAN(nn.Module):
    """A stack of :class:`KANLinear` layers, ``[..., layers_hidden[0]] -> [..., layers_hidden[-1]]``.

    No activation between layers: each layer's base branch already applies one (efficient-kan's ``KAN``).

    Args:
        layers_hidden: widths, input first (at least two entries).
        **kan_kwargs: :class:`KANLinear` keyword arguments shared by every layer.
    """

    def __init__(self, layers_hidden: Sequence[int], **kan_kwargs: Any) -> None:
        super().__init__()
        if isinstance(layers_hidden, (str, bytes)) or not isinstance(layers_hidden, Sequence) or len(layers_hidden) < 2:
            raise InputError(f"must list at least two widths, got {layers_hidden!r}", field="layers_hidden")
        for width in layers_hidden:
            _check_positive_int("layers_hidden", width)
        self.layers = nn.ModuleList(
            KANLinear(width_in, width_out, **kan_kwargs) for width_in, width_out in itertools.pairwise(layers_hidden)
        )

    @classmethod
    def from_config(cls, layers_hidden: Sequence[int], config: KANConfig) -> KAN:
        """The stack with every layer built from ``config``."""
        return cls(layers_hidden, **config.to_dict())

    def forward(self, x: Tensor, update_grid: bool = False) -> Tensor:
        """Apply the layers; with ``update_grid`` each layer first moves its grid to its own input.

        Args:
            x: ``[..., layers_hidden[0]]``.

        Returns:
            ``[..., layers_hidden[-1]]``.
        """
        for layer in self.layers:
            if update_grid:
                layer.update_grid(x)
            x = layer(x)
        return x

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0) -> Tensor:
        """Sum of the layers' :meth:`KANLinear.regularization_loss`; scalar."""
        losses = [layer.regularization_loss(regularize_activation, regularize_entropy) for layer in self.layers]
        return torch.stack(losses).sum()
