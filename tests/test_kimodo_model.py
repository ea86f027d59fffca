"""KIMODO model: config, cosine schedule and DDIM, the two-stage denoiser, CFG and the sampling loop.

The denoiser tests use a tiny configuration on the toy rig (D = 9 + 12 * 11 = 141) so they run in
well under a second each.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from motiongen.errors import InputError, UnknownNameError
from motiongen.models.kimodo import (
    CosineSchedule,
    DiffusionConfig,
    KimodoDenoiserConfig,
    TwoStageDenoiser,
    cfg_weights_for,
    ddim_sample,
    guided_x0,
    sinusoidal_table,
)
from motiongen.motion.kimodo_features import FeatureStats, local_root_features

J = 11
D = 9 + 12 * J
TEXT_DIM = 16


def tiny_config(**overrides) -> KimodoDenoiserConfig:
    values = dict(
        feature_dim=D, num_joints=J, text_dim=TEXT_DIM, width=32, layers=2, heads=4, ff=64, max_frames=300
    )
    values.update(overrides)
    return KimodoDenoiserConfig(**values)


def random_stats(seed: int = 0) -> FeatureStats:
    rng = np.random.default_rng(seed)
    return FeatureStats(
        global_root_mean=rng.normal(size=5),
        global_root_std=rng.uniform(0.5, 2.0, size=5),
        body_mean=rng.normal(size=D - 5),
        body_std=rng.uniform(0.5, 2.0, size=D - 5),
        local_root_mean=rng.normal(size=4),
        local_root_std=rng.uniform(0.5, 2.0, size=4),
    )


def tiny_model(seed: int = 0, **overrides) -> TwoStageDenoiser:
    torch.manual_seed(seed)
    return TwoStageDenoiser(tiny_config(**overrides), random_stats(seed)).eval()


def inputs(b: int = 2, t: int = 30, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(b, t, D, generator=g) < 0.2).float()
    return {
        "x_t": torch.randn(b, t, D, generator=g),
        "timesteps": torch.randint(0, 1000, (b,), generator=g),
        "text": torch.randn(b, 1, TEXT_DIM, generator=g),
        "observed": torch.randn(b, t, D, generator=g) * mask,
        "mask": mask,
        "first_heading": torch.rand(b, generator=g) * 6 - 3,
    }


# ==================================================================================================
# config
# ==================================================================================================
def test_config_round_trip_and_validation(tmp_path):
    config = tiny_config(num_text_tokens=3, dropout=0.1)
    assert KimodoDenoiserConfig.from_dict(config.to_dict()) == config
    assert KimodoDenoiserConfig.load(config.save(tmp_path / "config.json")) == config
    assert DiffusionConfig.from_dict(DiffusionConfig().to_dict()) == DiffusionConfig(1000, "cosine")
    with pytest.raises(InputError, match="'depth'"):
        KimodoDenoiserConfig.from_dict({**config.to_dict(), "depth": 3})
    with pytest.raises(InputError, match="9 \\+ 12 \\* 11 = 141"):
        tiny_config(feature_dim=140)
    with pytest.raises(InputError, match="multiple of heads"):
        tiny_config(width=30, heads=4)
    with pytest.raises(InputError, match="max_frames"):
        tiny_config(max_frames=0)
    with pytest.raises(InputError, match="unknown schedule"):
        DiffusionConfig(schedule="linear")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="bad.json"):
        KimodoDenoiserConfig.load(tmp_path / "bad.json")


# ==================================================================================================
# schedule and DDIM
# ==================================================================================================
def test_cosine_schedule_values():
    s = CosineSchedule(1000)
    abar, beta = s.alphas_cumprod.numpy(), s.betas.numpy()
    assert abar.shape == beta.shape == (1000,)
    assert np.all(np.diff(abar) < 0)
    assert 0.9999 < abar[0] < 1.0
    assert abar[-1] < 1e-6
    assert np.all(beta > 0) and np.all(beta <= 0.999) and beta[-1] == pytest.approx(0.999)

    # before any clipping the product telescopes: abar_i = f((i+1)/N) / f(0)
    def f(x):
        return math.cos((x + 0.008) / 1.008 * math.pi / 2) ** 2

    for i in (0, 1, 10, 500, 900, 990):
        assert abar[i] == pytest.approx(f((i + 1) / 1000) / f(0), rel=1e-9)


def test_ddim_timesteps_spacing():
    s = CosineSchedule(1000)
    tau = s.ddim_timesteps(100)
    assert tau.dtype == torch.long and len(tau) == 100
    assert tau[:5].tolist() == [0, 10, 20, 30, 40]
    assert tau[10] == 101 and tau[-2] == 989 and tau[-1] == 999
    assert tau.tolist() == [round(k * 999 / 99) for k in range(100)]
    assert s.ddim_timesteps(1000).tolist() == list(range(1000))
    assert s.ddim_timesteps(2).tolist() == [0, 999]
    assert s.ddim_timesteps(1).tolist() == [999]
    for bad in (0, 1001, 2.5, True):
        with pytest.raises(InputError, match="steps"):
            s.ddim_timesteps(bad)


def test_ddim_with_oracle_recovers_x0_exactly():
    s = CosineSchedule(1000)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, 20, 7, generator=g, dtype=torch.float64)
    eps = torch.randn(2, 20, 7, generator=g, dtype=torch.float64)
    tau = s.ddim_timesteps(25)
    x = s.q_sample(x0, tau[-1].repeat(2), eps)
    for k in range(len(tau) - 1, -1, -1):
        x = s.ddim_step(x, x0, k, tau)
        if k > 0:
            # an exact x0 keeps the implied noise fixed, so each step lands on the forward process
            torch.testing.assert_close(x, s.q_sample(x0, tau[k - 1].repeat(2), eps), rtol=0, atol=1e-10)
    assert torch.equal(x, x0)  # the last step returns x0 itself


def test_q_sample_statistics():
    s = CosineSchedule(1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((4, 50_000), 2.0, dtype=torch.float64)
    t = torch.tensor([0, 250, 600, 999])
    x = s.q_sample(x0, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    abar = s.alphas_cumprod[t]
    torch.testing.assert_close(x.mean(1), 2.0 * abar.sqrt(), atol=0.02, rtol=0)
    torch.testing.assert_close(x.std(1), (1 - abar).sqrt(), atol=0.02, rtol=0.02)
    with pytest.raises(InputError, match="t must have shape"):
        s.q_sample(x0, torch.tensor([1]), x0)


# ==================================================================================================
# denoiser
# ==================================================================================================
def test_sinusoidal_table():
    table = sinusoidal_table(10, 8)
    assert table.shape == (10, 8)
    assert torch.allclose(table[:, 0], torch.sin(torch.arange(10.0)))
    assert torch.allclose(table[:, 1], torch.cos(torch.arange(10.0)))
    assert torch.allclose(table[3, 6], torch.sin(torch.tensor(3.0 * 10000 ** (-6 / 8))))


@pytest.mark.parametrize("frames", [1, 150, 300])
def test_denoiser_output_shape(frames):
    model = tiny_model()
    args = inputs(2, frames)
    with torch.no_grad():
        out = model(**args)
    assert out.shape == (2, frames, D) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_parameter_names_follow_kimodo():
    keys = set(tiny_model().state_dict())
    for stage in ("root_model", "body_model"):
        for name in (
            "input_linear.weight", "embed_text.weight", "embed_timestep.time_embed.0.weight",
            "embed_timestep.time_embed.2.weight", "linear_first_heading_angle.weight",
            "seqTransEncoder.layers.1.self_attn.in_proj_weight", "seqTransEncoder.layers.0.linear1.weight",
            "seqTransEncoder.layers.0.norm2.bias", "output_linear.weight",
        ):
            assert f"{stage}.{name}" in keys
    # statistics and the position table are not weights
    assert not any("position_table" in k or "root_mean" in k for k in keys)
    model = tiny_model()
    assert model.root_model.input_linear.in_features == 2 * D
    assert model.root_model.output_linear.out_features == 5
    assert model.body_model.input_linear.in_features == 2 * D - 1
    assert model.body_model.output_linear.out_features == D - 5
    layer = model.root_model.seqTransEncoder.layers[0]
    assert layer.norm_first is False and layer.activation_relu_or_gelu == 2  # post-LN, GELU


def test_padded_frames_do_not_change_valid_outputs():
    model = tiny_model(1)
    full = inputs(2, 40, seed=1)
    short = 25
    full["x_t"][1, short:] = 1e3  # garbage in the padding must not leak into valid frames
    pad_mask = torch.ones(2, 40, dtype=torch.bool)
    pad_mask[1, short:] = False
    single = {k: (v[1:2, :short] if v.ndim == 3 and k != "text" else v[1:2]) for k, v in full.items()}
    with torch.no_grad():
        batched = model(**full, pad_mask=pad_mask)
        alone = model(**single)
        unpadded_first = model(**{k: v[:1] for k, v in full.items()})
    torch.testing.assert_close(batched[1, :short], alone[0], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(batched[0], unpadded_first[0], atol=2e-5, rtol=1e-4)


def test_local_root_matches_feature_definition():
    model = tiny_model(2)
    stats = random_stats(2)
    root = torch.randn(3, 12, 5, dtype=torch.float32)
    expected = stats.normalize(local_root_features(stats.unnormalize(root.double(), "global_root"), 30.0), "local_root")
    torch.testing.assert_close(model.local_root(root), expected.float(), atol=1e-4, rtol=1e-4)
    # with padding, the last valid frame copies the one before, exactly as for the cropped clip
    pad = torch.arange(12)[None, :] < torch.tensor([12, 7, 1])[:, None]
    out = model.local_root(root, pad)
    torch.testing.assert_close(out[1, :7], model.local_root(root[1:2, :7])[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[2, :1], model.local_root(root[2:3, :1])[0], atol=1e-5, rtol=1e-5)
    raw = stats.unnormalize(model.local_root(root[2:3, :1]).double(), "local_root")
    assert torch.allclose(raw[..., :3], torch.zeros(3, dtype=torch.float64), atol=1e-5)  # one frame: no motion


def test_gradients_flow_and_are_cut_between_stages_in_training():
    model = tiny_model(3).train()
    args = inputs(2, 16, seed=3)
    model(**args).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []

    # a loss on the body output reaches the root stage only at test time (KIMODO cuts it in training)
    for training, reaches_root in ((True, False), (False, True)):
        model.zero_grad(set_to_none=True)
        model.train(training)
        model(**args)[..., 5:].sum().backward()
        grad = model.root_model.output_linear.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == reaches_root


def test_inputs_change_the_prediction():
    model = tiny_model(4)
    args = inputs(2, 20, seed=4)
    with torch.no_grad():
        base = model(**args)
        for key, value in (
            ("mask", torch.zeros_like(args["mask"])),
            ("observed", args["observed"] + args["mask"]),
            ("text", torch.zeros_like(args["text"])),
            ("timesteps", (args["timesteps"] + 300) % 1000),
            ("first_heading", args["first_heading"] + 1.0),
        ):
            changed = model(**{**args, key: value})
            assert not torch.allclose(changed, base, atol=1e-4), key
        # unmasked observed entries have no effect
        same = model(**{**args, "observed": args["observed"] + (1 - args["mask"]) * 5})
        torch.testing.assert_close(same, base)
        # a full mask replaces the noisy input entirely
        full = torch.ones_like(args["mask"])
        a = model(**{**args, "mask": full})
        b = model(**{**args, "mask": full, "x_t": torch.randn_like(args["x_t"])})
        torch.testing.assert_close(a, b)


def test_text_tokens_are_zero_padded_or_cropped():
    model = tiny_model(5, num_text_tokens=3)
    args = inputs(2, 10, seed=5)
    padded = torch.cat([args["text"], torch.zeros(2, 2, TEXT_DIM)], 1)
    with torch.no_grad():
        a = model(**args)
        b = model(**{**args, "text": padded})
        c = model(**{**args, "text": args["text"][:, 0]})  # [B, text_dim]
        with pytest.warns(UserWarning, match="cropping"):
            d = model(**{**args, "text": torch.cat([padded, torch.randn(2, 1, TEXT_DIM)], 1)})
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(a, d)


def test_denoiser_rejects_bad_shapes():
    model = tiny_model()
    args = inputs(2, 10)
    with pytest.raises(InputError, match="x_t"):
        model(**{**args, "x_t": args["x_t"][..., :-1]})
    with pytest.raises(InputError, match="mask"):
        model(**{**args, "mask": args["mask"][:, :5]})
    with pytest.raises(InputError, match="text"):
        model(**{**args, "text": torch.zeros(2, 1, TEXT_DIM + 1)})
    with pytest.raises(InputError, match="feature_dim"):
        TwoStageDenoiser(tiny_config(), FeatureStats(**{**random_stats().__dict__, "body_mean": np.zeros(3), "body_std": np.ones(3)}))


# ==================================================================================================
# guidance
# ==================================================================================================
def test_guidance_matches_separate_passes():
    model = tiny_model(6)
    a = inputs(2, 12, seed=6)
    x, t, text, obs, mask, head = (a[k] for k in ("x_t", "timesteps", "text", "observed", "mask", "first_heading"))
    pad = torch.ones(2, 12, dtype=torch.bool)
    pad[0, 9:] = False
    with torch.no_grad():
        cond = model(x, t, text, obs, mask, head, pad)
        uncond = model(x, t, torch.zeros_like(text), obs, torch.zeros_like(mask), head, pad)
        text_only = model(x, t, text, obs, torch.zeros_like(mask), head, pad)
        constraint_only = model(x, t, torch.zeros_like(text), obs, mask, head, pad)

        def g(kind, w):
            return guided_x0(model, x, t, text, obs, mask, head, pad, kind, w)

        tol = {"atol": 1e-5, "rtol": 1e-4}
        torch.testing.assert_close(g("nocfg", None), cond, **tol)
        torch.testing.assert_close(g("regular", (1.0,)), cond, **tol)
        torch.testing.assert_close(g("regular", 2.5), uncond + 2.5 * (cond - uncond), **tol)
        expected = uncond + 2.0 * (text_only - uncond) + 0.5 * (constraint_only - uncond)
        torch.testing.assert_close(g("separated", (2.0, 0.5)), expected, **tol)
        both = uncond + 1.5 * (text_only - uncond) + 1.5 * (constraint_only - uncond)
        torch.testing.assert_close(g("separated", 1.5), both, **tol)


def test_guidance_weight_validation():
    assert cfg_weights_for("nocfg", None) == ()
    assert cfg_weights_for("regular", 3) == (3.0,)
    assert cfg_weights_for("separated", [2, 1]) == (2.0, 1.0)
    with pytest.raises(UnknownNameError, match="nocfg, regular, separated"):
        cfg_weights_for("classifier", 2.0)
    with pytest.raises(InputError, match="takes 1 weight"):
        cfg_weights_for("regular", (1.0, 2.0))
    with pytest.raises(InputError, match="finite"):
        cfg_weights_for("regular", float("nan"))
    with pytest.raises(InputError, match="finite"):
        cfg_weights_for("separated", ("2", 1.0))


# ==================================================================================================
# sampler
# ==================================================================================================
def test_sampler_is_deterministic_and_restores_mode():
    model = tiny_model(7).train()
    s = CosineSchedule()
    text = torch.randn(2, TEXT_DIM)

    def run(seed, **kw):
        return ddim_sample(model, s, text=text, num_frames=20, steps=5, generator=torch.Generator().manual_seed(seed), **kw)

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (2, 20, D)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert model.training  # put back after sampling in eval mode
    assert not torch.equal(run(0, cfg_type="separated", cfg_weights=(2.0, 2.0)), a)


def test_sampler_one_step_is_one_model_call():
    model = tiny_model(8)
    s = CosineSchedule()
    text = torch.randn(1, TEXT_DIM)
    out = ddim_sample(model, s, text=text, num_frames=9, steps=1, cfg_type="nocfg", generator=torch.Generator().manual_seed(4))
    noise = torch.randn((1, 9, D), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = model(noise, torch.tensor([999]), text)
    torch.testing.assert_close(out, expected)


def test_sampler_constraints_and_padding():
    model = tiny_model(9)
    s = CosineSchedule()
    text = torch.randn(2, 1, TEXT_DIM)
    mask = torch.zeros(15, D)
    mask[0, :5] = 1
    observed = torch.randn(15, D) * mask

    def gen():
        return torch.Generator().manual_seed(2)

    free = ddim_sample(model, s, text=text, num_frames=[15, 10], steps=3, generator=gen())
    held = ddim_sample(model, s, text=text, num_frames=[15, 10], observed=observed, mask=mask, steps=3, generator=gen())
    assert free.shape == (2, 15, D)
    assert torch.all(free[1, 10:] == 0) and torch.any(free[1, :10] != 0)
    assert not torch.allclose(free, held)
    with pytest.raises(InputError, match="num_frames"):
        ddim_sample(model, s, text=text, num_frames=0)
    with pytest.raises(InputError, match="2 lengths"):
        ddim_sample(model, s, text=text[:1], num_frames=[3, 4])
    with pytest.raises(InputError, match="without a mask"):
        ddim_sample(model, s, text=text, num_frames=15, observed=observed)
    with pytest.raises(InputError, match="mask has shape"):
        ddim_sample(model, s, text=text, num_frames=14, mask=mask)
