"""KANLinear / KAN (efficient-kan semantics, smog.md 1.1) with the update_grid double-scaling fix (smog.md 7.6)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from motiongen.errors import InputError
from motiongen.models.smog import KAN, KANConfig, KANLinear, kan_linear_parameter_count


def _uniform(shape: tuple[int, ...], lo: float, hi: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator) * (hi - lo) + lo


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((actual - expected).norm() / expected.norm()).detach())


def _set_cubic_edges(layer: KANLinear, seed: int) -> None:
    """Make every edge's *unscaled* spline a random cubic polynomial on ``grid_range``.

    A cubic is a cubic spline on any knot grid, so a grid update that keeps the data inside the new
    grid's range must reproduce it exactly: a known answer for update_grid.
    """
    points = torch.linspace(-1, 1, 64).unsqueeze(1).expand(-1, layer.in_features)
    coefficients = _uniform((4, layer.in_features, layer.out_features), -1, 1, seed)
    powers = torch.stack([points**p for p in range(4)])  # [4, M, in]
    values = torch.einsum("pmi,pio->mio", powers, coefficients)
    with torch.no_grad():
        layer.spline_weight.copy_(layer.curve2coeff(points.contiguous(), values))


def test_default_grid_matches_efficient_kan() -> None:
    layer = KANLinear(3, 2)
    expected = torch.tensor([-2.2, -1.8, -1.4, -1.0, -0.6, -0.2, 0.2, 0.6, 1.0, 1.4, 1.8, 2.2])
    assert layer.grid.shape == (3, 12)
    torch.testing.assert_close(layer.grid, expected.expand(3, -1), atol=1e-6, rtol=0)
    assert layer.spline_weight.shape == (2, 3, 8)


def test_bases_partition_of_unity_and_nonnegative() -> None:
    layer = KANLinear(4, 2, grid_size=7, spline_order=3, grid_range=(-1.5, 2.0))
    x = torch.cat([_uniform((500, 4), -1.5, 2.0, seed=1), torch.tensor([[-1.5, -1.5, 0.0, 1.999]])])
    bases = layer.b_splines(x)
    assert bases.shape == (501, 4, 10)
    assert bool((bases >= 0).all())
    torch.testing.assert_close(bases.sum(-1), torch.ones(501, 4), atol=1e-5, rtol=0)


def test_bases_partial_in_padding_and_zero_beyond() -> None:
    layer = KANLinear(1, 1)
    padding = layer.b_splines(torch.tensor([[1.5], [-1.9]])).sum(-1)
    assert bool((padding < 0.99).all()) and bool((padding > 0).all())
    beyond = layer.b_splines(torch.tensor([[2.3], [-2.5], [10.0]]))
    assert bool((beyond == 0).all())


def test_cubic_bases_at_a_knot_are_one_sixth_two_thirds_one_sixth() -> None:
    layer = KANLinear(1, 1)
    knot_index = 6  # 0.2, an interior knot
    bases = layer.b_splines(layer.grid[:, knot_index].reshape(1, 1))[0, 0]
    expected = torch.zeros(8)
    expected[knot_index - 3 : knot_index] = torch.tensor([1 / 6, 2 / 3, 1 / 6])
    torch.testing.assert_close(bases, expected, atol=1e-6, rtol=0)


def test_curve2coeff_recovers_known_spline() -> None:
    layer = KANLinear(3, 4, grid_size=6, spline_order=3)
    coefficients = _uniform((4, 3, 9), -1, 1, seed=2)
    x = _uniform((300, 3), -1, 1, seed=3)
    values = torch.einsum("nib,oib->nio", layer.b_splines(x), coefficients)  # [N, in, out]
    fitted = layer.curve2coeff(x, values)
    assert fitted.shape == (4, 3, 9)
    torch.testing.assert_close(fitted, coefficients, atol=1e-4, rtol=0)
    with torch.no_grad():
        layer.spline_weight.copy_(fitted)
    torch.testing.assert_close(layer.spline_edge_outputs(x, scaled=False), values, atol=1e-5, rtol=0)


def test_init_fits_noise_at_interior_knots() -> None:
    torch.manual_seed(4)
    layer = KANLinear(5, 6, scale_noise=0.1)
    interior = layer.grid.T[3:-3].contiguous()  # the G + 1 knots in [-1, 1]
    at_knots = layer.spline_edge_outputs(interior, scaled=False).detach()
    # under-determined fit interpolates the U(-1/2, 1/2) * 0.1 / 5 noise exactly
    assert float(at_knots.abs().max()) <= 0.01 + 1e-6
    assert float(at_knots.abs().max()) > 1e-3
    silent = KANLinear(5, 6, scale_noise=0.0)
    assert bool((silent.spline_weight == 0).all())
    # without the standalone scaler, scale_spline multiplies the fitted noise instead
    torch.manual_seed(4)
    doubled = KANLinear(5, 6, scale_noise=0.1, enable_standalone_scale_spline=False, scale_spline=2.0)
    assert doubled.spline_scaler is None
    torch.testing.assert_close(doubled.spline_weight, 2 * layer.spline_weight, atol=1e-6, rtol=0)


def test_forward_leading_shape_matches_flattened() -> None:
    torch.manual_seed(5)
    layer = KANLinear(7, 3)
    x = _uniform((2, 3, 7), -1.2, 1.2, seed=6)
    out = layer(x)
    assert out.shape == (2, 3, 3)
    torch.testing.assert_close(out, layer(x.reshape(6, 7)).reshape(2, 3, 3), atol=1e-6, rtol=0)
    assert layer(x[0, 0]).shape == (3,)
    assert layer(torch.zeros(0, 7)).shape == (0, 3)


def test_forward_is_base_plus_scaled_splines() -> None:
    torch.manual_seed(7)
    layer = KANLinear(4, 5)
    x = _uniform((9, 4), -1.5, 1.5, seed=8)
    expected = torch.nn.functional.silu(x) @ layer.base_weight.T + layer.spline_edge_outputs(x).sum(1)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=0)


def test_gradients_finite_inside_and_outside_range() -> None:
    torch.manual_seed(9)
    model = KAN([6, 8, 3])
    x = torch.cat([_uniform((16, 6), -1, 1, seed=10), _uniform((16, 6), -6, 6, seed=11)]).requires_grad_()
    loss = model(x).square().mean() + 1e-3 * model.regularization_loss()
    loss.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert bool(torch.isfinite(parameter.grad).all()), name
        assert float(parameter.grad.abs().sum()) > 0, name


def test_regularization_loss_known_answer() -> None:
    layer = KANLinear(1, 2, grid_size=2, spline_order=1)  # 3 coefficients per edge
    with torch.no_grad():
        layer.spline_weight.copy_(torch.tensor([[[1.0, -1.0, 1.0]], [[3.0, 3.0, -3.0]]]))
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(layer.regularization_loss(1.0, 1.0).detach()) == pytest.approx(4.0 + entropy, rel=1e-6)
    assert float(layer.regularization_loss(2.0, 0.0).detach()) == pytest.approx(8.0, rel=1e-6)
    # the scaler does not enter (raw weights, as efficient-kan)
    with torch.no_grad():
        layer.spline_scaler.fill_(5.0)
    assert float(layer.regularization_loss(1.0, 0.0).detach()) == pytest.approx(4.0, rel=1e-6)


def test_regularization_loss_finite_for_zero_weights() -> None:
    layer = KANLinear(3, 2, scale_noise=0.0)
    loss = layer.regularization_loss()
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert bool(torch.isfinite(layer.spline_weight.grad).all())
    # one dead edge among live ones: finite value and gradient, the dead edge adds nothing to the entropy
    with torch.no_grad():
        layer.spline_weight.fill_(1.0)
        layer.spline_weight[0, 0] = 0.0
    layer.spline_weight.grad = None
    loss = layer.regularization_loss(0.0, 1.0)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(math.log(5), rel=1e-6)
    assert bool(torch.isfinite(layer.spline_weight.grad).all())


def test_update_grid_preserves_outputs_with_nonunit_scalers() -> None:
    torch.manual_seed(12)
    layer = KANLinear(3, 4)
    _set_cubic_edges(layer, seed=13)
    with torch.no_grad():
        layer.spline_scaler.copy_(_uniform((4, 3), 1.5, 3.0, seed=14))
    x = _uniform((256, 3), -0.9, 0.8, seed=15)
    before = layer(x)
    old_grid = layer.grid.clone()
    layer.update_grid(x)
    assert not torch.allclose(layer.grid, old_grid)
    after = layer(x)
    assert _relative_error(after, before) < 1e-4


def test_update_grid_with_unchanged_grid_is_exact_for_any_spline() -> None:
    torch.manual_seed(16)
    layer = KANLinear(2, 3, grid_eps=1.0)
    with torch.no_grad():
        layer.spline_weight.copy_(_uniform((3, 2, 8), -1, 1, seed=17))
        layer.spline_scaler.copy_(_uniform((3, 2), -3.0, -1.5, seed=18))
    # data spanning exactly [-1, 1] with a purely uniform grid and no margin reproduce the old grid
    x = torch.cat([torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), _uniform((100, 2), -1, 1, seed=19)])
    before, old_grid = layer(x), layer.grid.clone()
    layer.update_grid(x, margin=0.0)
    torch.testing.assert_close(layer.grid, old_grid, atol=1e-6, rtol=0)
    assert _relative_error(layer(x), before) < 1e-4


def test_double_scaled_update_grid_would_not_preserve_outputs() -> None:
    torch.manual_seed(20)
    layer = KANLinear(3, 4)
    _set_cubic_edges(layer, seed=21)
    scaler = _uniform((4, 3), 1.5, 3.0, seed=22)
    with torch.no_grad():
        layer.spline_scaler.copy_(scaler)
    x = _uniform((256, 3), -0.9, 0.8, seed=23)
    before = layer(x)
    scaled_edges = layer.spline_edge_outputs(x, scaled=True)

    layer.update_grid(x)
    fixed = layer(x)
    # efficient-kan's variant: the *scaled* edge outputs fitted into spline_weight on the new grid
    buggy_layer = copy.deepcopy(layer)
    with torch.no_grad():
        buggy_layer.spline_weight.copy_(layer.curve2coeff(x, scaled_edges))
    buggy = buggy_layer(x)

    # it equals the fixed weights times the scaler, i.e. the scaler applied twice in forward
    torch.testing.assert_close(
        buggy_layer.spline_weight, layer.spline_weight * scaler.unsqueeze(-1), atol=1e-4, rtol=1e-4
    )
    assert _relative_error(fixed, before) < 1e-4
    assert _relative_error(buggy, before) > 0.3


def test_update_grid_moves_knots_to_the_data() -> None:
    torch.manual_seed(24)
    layer = KANLinear(2, 2, grid_size=4, grid_eps=0.02)
    x = torch.stack([_uniform((101,), -0.3, 0.5, seed=25), _uniform((101,), 2.0, 7.0, seed=26)], dim=1)
    layer.update_grid(x, margin=0.01)
    k, g = layer.spline_order, layer.grid_size
    low, high = x.min(0).values, x.max(0).values
    torch.testing.assert_close(layer.grid[:, k], low - 0.02 * 0.01, atol=1e-5, rtol=0)
    torch.testing.assert_close(layer.grid[:, g + k], high + 0.02 * 0.01, atol=1e-5, rtol=0)
    median = x.sort(0).values[50]
    uniform_mid = (low + high) / 2
    torch.testing.assert_close(layer.grid[:, k + 2], 0.98 * median + 0.02 * uniform_mid, atol=1e-5, rtol=0)
    step = (high - low + 0.02) / g
    torch.testing.assert_close(layer.grid[:, 0], layer.grid[:, k] - k * step, atol=1e-5, rtol=0)
    # after the update the bases cover the new data with a partition of unity
    torch.testing.assert_close(layer.b_splines(x).sum(-1), torch.ones(101, 2), atol=1e-5, rtol=0)


def test_kan_stack_update_grid_and_regularization() -> None:
    torch.manual_seed(27)
    model = KAN([3, 5, 2], grid_size=4)
    assert len(model.layers) == 2
    x = _uniform((64, 3), -2.0, 3.0, seed=28)
    out = model(x, update_grid=True)
    assert out.shape == (64, 2)
    hidden = model.layers[0](x)
    torch.testing.assert_close(model.layers[1].grid[:, 3], hidden.min(0).values - 0.02 * 0.01, atol=1e-5, rtol=0)
    torch.testing.assert_close(out, model.layers[1](hidden), atol=1e-6, rtol=0)
    total = model.layers[0].regularization_loss(1.0, 0.5) + model.layers[1].regularization_loss(1.0, 0.5)
    torch.testing.assert_close(model.regularization_loss(1.0, 0.5), total)


def test_parameter_count() -> None:
    layer = KANLinear(7, 5)
    count = sum(p.numel() for p in layer.parameters())
    assert count == 7 * 5 * (1 + (5 + 3)) + 7 * 5 == kan_linear_parameter_count(7, 5)
    plain = KANLinear(7, 5, enable_standalone_scale_spline=False)
    assert sum(p.numel() for p in plain.parameters()) == 7 * 5 * 9 == kan_linear_parameter_count(7, 5, 5, 3, False)
    # smog.md 1.4: SMoG's 150 -> 512 KANLayer has 770,560 = efficient-kan's count + 512 bias + two LayerNorms
    assert kan_linear_parameter_count(150, 512) + 512 + 2 * 2 * 512 == 770_560
    assert kan_linear_parameter_count(512, 150) + 150 + 2 * 2 * 150 == 768_750


def test_config_round_trip_and_build() -> None:
    config = KANConfig(grid_size=8, spline_order=2, base_activation="GELU", grid_range=(-2, 3))
    restored = KANConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert restored.grid_range == (-2.0, 3.0) and restored.base_activation == "gelu"
    layer = restored.build(4, 6)
    assert isinstance(layer.base_activation, torch.nn.GELU)
    assert layer.spline_weight.shape == (6, 4, 10)
    assert float(layer.grid[0, 2]) == pytest.approx(-2.0)
    stack = KAN.from_config([4, 6, 1], config)
    assert all(sub.grid_size == 8 for sub in stack.layers)
    assert KANConfig.from_dict({}) == KANConfig()


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: KANLinear(0, 3), "in_features"),
        (lambda: KANLinear(3, -1), "out_features"),
        (lambda: KANLinear(3, 2, grid_size=0), "grid_size"),
        (lambda: KANLinear(3, 2, spline_order=0), "spline_order"),
        (lambda: KANLinear(3, 2, grid_range=(1.0, 1.0)), "grid_range"),
        (lambda: KANLinear(3, 2, grid_range=(1.0, -1.0)), "grid_range"),
        (lambda: KANLinear(3, 2, grid_range=(0.0, math.inf)), "grid_range"),
        (lambda: KANLinear(3, 2, grid_eps=1.5), "grid_eps"),
        (lambda: KANLinear(3, 2, scale_noise=-0.1), "scale_noise"),
        (lambda: KANLinear(3, 2, base_activation="swish2"), "base_activation"),
        (lambda: KANLinear(3, 2, enable_standalone_scale_spline=1), "enable_standalone_scale_spline"),
        (lambda: KAN([4]), "layers_hidden"),
        (lambda: KAN([4, 0, 2]), "layers_hidden"),
        (lambda: KANConfig(spline_order=0), "spline_order"),
        (lambda: KANConfig.from_dict({"grid_sise": 5}), "grid_sise"),
    ],
)
def test_construction_errors_name_the_field(build, field: str) -> None:
    with pytest.raises(InputError) as excinfo:
        build()
    assert excinfo.value.field == field


def test_call_errors_name_the_field() -> None:
    layer = KANLinear(3, 2)
    with pytest.raises(InputError, match="in_features = 3") as excinfo:
        layer(torch.zeros(4, 5))
    assert excinfo.value.field == "x"
    with pytest.raises(InputError) as excinfo:
        layer.b_splines(torch.zeros(2, 4, 3))
    assert excinfo.value.field == "x"
    with pytest.raises(InputError) as excinfo:
        layer.curve2coeff(torch.zeros(4, 3), torch.zeros(4, 3, 5))
    assert excinfo.value.field == "y"
    with pytest.raises(InputError) as excinfo:
        layer.update_grid(torch.zeros(4, 2))
    assert excinfo.value.field == "x"
    with pytest.raises(InputError) as excinfo:
        layer.update_grid(torch.tensor([[0.0, math.nan, 1.0]]))
    assert excinfo.value.field == "x"
    with pytest.raises(InputError) as excinfo:
        layer.update_grid(torch.zeros(4, 3), margin=-0.1)
    assert excinfo.value.field == "margin"
    with pytest.raises(InputError) as excinfo:
        layer.regularization_loss(-1.0)
    assert excinfo.value.field == "regularize_activation"


def test_degenerate_grid_update_is_refused_and_leaves_layer_unchanged() -> None:
    layer = KANLinear(2, 2)
    grid, weights = layer.grid.clone(), layer.spline_weight.detach().clone()
    constant_channel = torch.stack([torch.linspace(-1, 1, 20), torch.full((20,), 0.3)], dim=1)
    with pytest.raises(InputError, match="repeated knots"):
        layer.update_grid(constant_channel, margin=0.0)
    assert torch.equal(layer.grid, grid) and torch.equal(layer.spline_weight, weights)
    layer.update_grid(constant_channel)  # a positive margin keeps the knots apart
    assert bool(torch.isfinite(layer(constant_channel)).all())
