"""The SMoG autoencoder: the KAN-layer switch, shapes and masks, text-space decoding, losses."""

from __future__ import annotations

import pytest
import torch

from motiongen.errors import InputError
from motiongen.models.smog.kan import KANLinear
from motiongen.models.smog.model import (
    MOTION_135_DIM,
    SMoGAutoencoder,
    SMoGConfig,
    matched_io_hidden,
    text_alignment_loss,
)


def _model(kan_layers: str = "io", **sizes) -> SMoGAutoencoder:
    torch.manual_seed(0)
    cfg = SMoGConfig(**{"latent": 32, "layers": 2, "heads": 2, "ff": 48, "max_frames": 40, "dropout": 0.0,
                        "kan_layers": kan_layers, **sizes})
    return SMoGAutoencoder(cfg).eval()


def test_the_switch_decides_which_layers_are_kan() -> None:
    none, io, full = _model("none"), _model("io"), _model("all")
    assert none.kan_modules() == [] and float(none.kan_regularization()) == 0.0
    assert [type(m) for m in (io.input_embedding, io.output_layer)] == [KANLinear, KANLinear]
    assert len(io.kan_modules()) == 2  # exactly SMoG's two layers (reference 2.4)
    assert len(full.kan_modules()) == 2 + 2 * 2 * 2  # plus up/down of every encoder and decoder layer
    counts = [sum(p.numel() for p in m.parameters()) for m in (none, io, full)]
    assert counts[0] < counts[1] < counts[2]


def test_shapes_padding_and_per_sample_lengths() -> None:
    model = _model()
    motion = torch.randn(3, 20, MOTION_135_DIM)
    valid = torch.ones(3, 20, dtype=torch.bool)
    valid[1, 12:] = False
    out, z = model(motion, valid)
    assert out.shape == motion.shape and z.shape == (3, 32)
    assert torch.all(out[1, 12:] == 0)
    # padded frames do not change the latent: sample 1 encoded alone at its own length
    alone = model.encode(motion[1:2, :12])
    torch.testing.assert_close(alone[0], z[1], atol=1e-5, rtol=1e-5)


def test_decoding_is_invariant_to_the_scale_of_z() -> None:
    model = _model()
    z = torch.randn(2, 32)
    torch.testing.assert_close(model.decode(z, 10), model.decode(3.7 * z, 10), atol=1e-4, rtol=1e-4)


def test_gradients_flow_through_every_layer_kind() -> None:
    for kind in ("none", "io", "all"):
        model = _model(kind).train()
        motion = torch.randn(2, 8, MOTION_135_DIM)
        out, z = model(motion)
        text = torch.randn(2, 32)
        loss = (out - motion).pow(2).mean() + text_alignment_loss(z, text) + 1e-3 * model.kan_regularization()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), kind


def test_alignment_losses() -> None:
    z = torch.randn(4, 8)
    assert float(text_alignment_loss(z, 2.0 * z)) == pytest.approx(0.0, abs=1e-6)
    assert float(text_alignment_loss(z, -z)) == pytest.approx(2.0, abs=1e-6)
    aligned = float(text_alignment_loss(z, z, "infonce", temperature=0.01))
    shuffled = float(text_alignment_loss(z, z.roll(1, 0), "infonce", temperature=0.01))
    assert aligned < shuffled
    with pytest.raises(InputError, match="alignment"):
        text_alignment_loss(z, z, "mse")
    text = torch.randn(4, 8)
    both = text_alignment_loss(z, text, "cosine+infonce", temperature=0.5)
    parts = text_alignment_loss(z, text, "cosine") + text_alignment_loss(z, text, "infonce", temperature=0.5)
    torch.testing.assert_close(both, parts)
    # rows 0 and 1 share a caption: neither is the other's negative, so their loss drops
    same = torch.eye(4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    twins = text.clone()
    twins[1] = twins[0]
    z_twins = twins + 0.3 * torch.randn(4, 8)
    masked = text_alignment_loss(z_twins, twins, "infonce", temperature=0.1, same_text=same)
    assert float(masked) < float(text_alignment_loss(z_twins, twins, "infonce", temperature=0.1))


def test_config_and_input_errors_name_the_field() -> None:
    with pytest.raises(InputError, match="kan_layers"):
        SMoGConfig(kan_layers="some")
    with pytest.raises(InputError, match="heads"):
        SMoGConfig(latent=30, heads=4)
    with pytest.raises(InputError, match="config"):
        SMoGConfig.from_dict({"depth": 3})
    with pytest.raises(InputError, match="io_hidden"):
        SMoGConfig(kan_layers="io", io_hidden=64)
    with pytest.raises(InputError, match="heads"):
        SMoGConfig(latent=32, width=30, heads=4)
    assert SMoGConfig.from_dict(SMoGConfig().to_dict()) == SMoGConfig()
    model = _model()
    with pytest.raises(InputError, match="motion"):
        model.encode(torch.randn(1, 5, 10))
    with pytest.raises(InputError, match="motion"):
        model.encode(torch.randn(1, 41, MOTION_135_DIM))
    with pytest.raises(InputError, match="num_frames"):
        model.decode(torch.randn(1, 32))


def test_matched_mlp_io_layers_have_the_kan_layers_parameter_count() -> None:
    kan = SMoGConfig().kan_config()
    hidden = matched_io_hidden(MOTION_135_DIM, 32, kan)
    kan_model, mlp_model = _model("io"), _model("none", io_hidden=hidden)
    assert isinstance(mlp_model.input_embedding, torch.nn.Sequential) and mlp_model.kan_modules() == []

    def io_count(m: SMoGAutoencoder) -> int:
        return sum(p.numel() for layer in (m.input_embedding,) for p in layer.parameters())

    # one hidden unit more would overshoot by in + out + 1 parameters
    assert 0 <= io_count(mlp_model) - io_count(kan_model) < MOTION_135_DIM + 32 + 1
    total = [sum(p.numel() for p in m.parameters()) for m in (kan_model, mlp_model)]
    assert abs(total[1] - total[0]) / total[0] < 0.01


def test_a_narrow_transformer_still_speaks_the_latent() -> None:
    model = _model(width=16)
    assert model.encoder_layers[0].attention.embed_dim == 16
    motion = torch.randn(2, 10, MOTION_135_DIM)
    out, z = model(motion)
    assert z.shape == (2, 32) and out.shape == motion.shape
    torch.testing.assert_close(model.decode(z, 10), model.decode(2.5 * z, 10), atol=1e-4, rtol=1e-4)


def test_feature_statistics_standardise_inside_the_model() -> None:
    model = _model()
    motion = torch.randn(2, 10, MOTION_135_DIM)
    mean, std = torch.randn(MOTION_135_DIM), torch.rand(MOTION_135_DIM) + 0.5
    z_plain = model.encode(motion)
    model.set_feature_statistics(mean, std)
    # encoding a shifted, scaled motion under those statistics sees what the plain model saw
    torch.testing.assert_close(model.encode(motion * std + mean), z_plain, atol=1e-5, rtol=1e-5)
    decoded = model.decode(z_plain, 10)
    model.set_feature_statistics(torch.zeros(MOTION_135_DIM), torch.ones(MOTION_135_DIM))
    torch.testing.assert_close(decoded, model.decode(z_plain, 10) * std + mean, atol=1e-5, rtol=1e-5)
    assert "feature_mean" in model.state_dict()  # saved with the weights
    with pytest.raises(InputError, match="statistics"):
        model.set_feature_statistics(torch.zeros(3), torch.ones(3))
    with pytest.raises(InputError, match="statistics"):
        model.set_feature_statistics(torch.full((MOTION_135_DIM,), float("nan")), torch.ones(MOTION_135_DIM))
