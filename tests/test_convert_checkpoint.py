"""``motiongen convert-checkpoint``: official KIMODO checkpoint folders -> our bundles, verified.

The fixture writes a REDUCED checkpoint in the official layout (2 layers, width 64, 4 heads, ff 128,
32-d text, 50 text tokens, SMPL-X 22 joints: D = 273) with random weights. Its key names come from
plain torch modules named as KIMODO names them (``root_model.embed_text``, ...,
``seqTransEncoder.layers.N.self_attn.in_proj_weight``), prefixed ``denoiser.backbone.``, not from
motiongen's key table, so a wrong table fails here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from motiongen.errors import InputError, UnknownNameError
from motiongen.models.kimodo.config import KimodoDenoiserConfig, official_kimodo_config
from motiongen.models.kimodo.denoiser import TwoStageDenoiser, sinusoidal_table
from motiongen.models.kimodo.official import (
    kimodo_named_backbone,
    load_official_state_dict,
    load_official_stats,
    official_key_table,
    official_shapes,
    official_to_ours,
    ours_to_official,
    read_official_config,
    resolve_official_model_name,
)
from motiongen.pipelines.bundle import KIMODOBundle
from motiongen.pipelines.convert_checkpoint import (
    VERIFY_TOLERANCE,
    convert_checkpoint,
    kimodo_position_table,
    text_encoder_reference,
    verify_conversion,
)
from motiongen.pipelines.kimodo import KIMODOPipeline

J, D, WIDTH, TEXT_DIM, FF, LAYERS, HEADS = 22, 9 + 12 * 22, 64, 32, 128, 2, 4


def _config_yaml(heading: bool = True, skeleton: str = "kimodo.skeleton.SMPLXSkeleton22", **override: str) -> str:
    entries = {
        "llm_shape": f"[1, {TEXT_DIM}]",
        "use_text_mask": "false",
        "latent_dim": str(WIDTH),
        "ff_size": str(FF),
        "num_layers": str(LAYERS),
        "num_heads": str(HEADS),
        "activation": "gelu",
        "dropout": "0",
        "pe_dropout": "0",
        "norm_first": "false",
        "num_text_tokens_override": "50",
        "input_first_heading_angle": "true" if heading else "false",
        **override,
    }
    backbone = "".join(f"  {k}: {v}\n" for k, v in entries.items() if v is not None)
    return (
        "_target_: kimodo.model.kimodo_model.Kimodo\n"
        "num_base_steps: 1000\n"
        "cfg_type: separated\n"
        "checkpoint_path: ${checkpoint_dir}/model.safetensors\n"
        "denoiser:\n"
        "  _target_: kimodo.model.twostage_denoiser.TwostageDenoiser\n"
        "  motion_mask_mode: concat\n"
        "  motion_rep:\n"
        "    _target_: kimodo.motion_rep.KimodoMotionRep\n"
        "    fps: 30\n"
        "    skeleton:\n"
        f"      _target_: {skeleton}\n" + backbone
    )


def write_official_checkpoint(folder: Path, *, seed: int = 0, heading: bool = True) -> dict[str, torch.Tensor]:
    """A reduced checkpoint folder in the official layout; returns the state dict it wrote."""
    torch.manual_seed(seed)
    backbone = kimodo_named_backbone(_reduced_config(heading))
    with torch.no_grad():
        for p in backbone.parameters():  # LayerNorms too, so swapped norms would show
            p.add_(0.05 * torch.randn_like(p))
    state = {f"denoiser.backbone.{k}": v.contiguous() for k, v in backbone.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(_config_yaml(heading))
    rng = np.random.default_rng(seed)
    for group, n in (("global_root", 5), ("local_root", 4), ("body", D - 5)):
        (folder / "stats" / "motion" / group).mkdir(parents=True, exist_ok=True)
        np.save(folder / "stats" / "motion" / group / "mean.npy", rng.normal(size=n).astype(np.float32))
        np.save(folder / "stats" / "motion" / group / "std.npy", rng.uniform(0.5, 1.5, size=n).astype(np.float32))
    return state


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "Kimodo-SMPLX-RP-v1"
    write_official_checkpoint(folder)
    return folder


@pytest.fixture(autouse=True)
def _skeleton_archives(data_dir: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The converter reads the skeleton from the registry (the KIMODO assets archive)."""
    monkeypatch.setenv("MOTIONGEN_DATA", str(data_dir))
    monkeypatch.setenv("MOTIONGEN_CACHE", str(cache_dir))


def _reduced_config(heading: bool = True) -> KimodoDenoiserConfig:
    return KimodoDenoiserConfig(
        feature_dim=D, num_joints=J, text_dim=TEXT_DIM, num_text_tokens=50, width=WIDTH, layers=LAYERS, heads=HEADS,
        ff=FF, first_heading_token=heading, position_table_precision="float32",
    )


def _convert(checkpoint: Path, out: Path, **kwargs):
    options = {"no_text_encoder": True, "verify": True, "verify_frames": 24, "verify_steps": 3, "log": lambda *_: None}
    options.update(kwargs)
    return convert_checkpoint("Kimodo-SMPLX-RP-v1", checkpoint, out, **options)


# ==================================================================================================
# names, keys, config, stats
# ==================================================================================================
@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("Kimodo-SOMA-RP-v1", "Kimodo-SOMA-RP-v1"),
        ("SOMA", "Kimodo-SOMA-RP-v1"),
        ("soma-seed", "Kimodo-SOMA-SEED-v1"),
        ("g1", "Kimodo-G1-RP-v1"),
        ("Kimodo-G1-SEED", "Kimodo-G1-SEED-v1"),
        ("kimodo-smplx-rp", "Kimodo-SMPLX-RP-v1"),
        ("nvidia/Kimodo-SMPLX-RP-v1", "Kimodo-SMPLX-RP-v1"),
        ("kimodo", "Kimodo-SOMA-RP-v1"),
    ],
)
def test_model_names_resolve_loosely(name, display):
    assert resolve_official_model_name(name).display_name == display


@pytest.mark.parametrize("name", ["smplx-seed", "kimodo-human-rp", "tmr-soma-rp", "", "soma-rp-rp"])
def test_wrong_model_names_list_the_known_ones(name):
    with pytest.raises(UnknownNameError) as info:
        resolve_official_model_name(name)
    assert "Kimodo-SOMA-RP-v1" in str(info.value) and "Kimodo-G1-SEED-v1" in str(info.value)


def test_official_preset_has_the_released_sizes():
    soma = official_kimodo_config("SOMASkeleton30")
    assert (soma.feature_dim, soma.width, soma.layers, soma.heads, soma.ff) == (369, 1024, 16, 8, 2048)
    assert (soma.text_dim, soma.num_text_tokens, soma.use_text_mask, soma.norm_first) == (4096, 50, False, False)
    assert soma.activation == "gelu" and soma.first_heading_token and soma.position_table_precision == "float32"
    count = sum(math.prod(s) for s in official_shapes(soma).values())
    assert 282e6 < count < 285e6  # reference 1.1: about 283 M
    assert official_kimodo_config("g1skel34").feature_dim == 417
    assert official_kimodo_config("smplx22").feature_dim == 273
    with pytest.raises(InputError, match="unknown KIMODO skeleton"):
        official_kimodo_config("soma77")


def test_new_config_fields_default_to_the_shipped_behaviour():
    old = {"feature_dim": D, "num_joints": J}  # a config.json written before the fields existed
    config = KimodoDenoiserConfig.from_dict(old)
    assert (config.norm_first, config.activation, config.use_text_mask) == (False, "gelu", False)
    assert config.position_table_precision == "float64"
    assert torch.equal(TwoStageDenoiser(config).root_model.position_table, sinusoidal_table(5000, config.width))
    with pytest.raises(InputError, match="activation"):
        KimodoDenoiserConfig(feature_dim=D, num_joints=J, activation="swish")


def test_kimodo_position_table_is_not_the_exact_one():
    """KIMODO's float32 table differs from the exact one by far more than the verify tolerance."""
    exact = sinusoidal_table(5000, 1024)
    official = kimodo_position_table(5000, 1024)
    assert torch.equal(sinusoidal_table(5000, 1024, "float32"), official)
    assert (exact - official).abs().max() > 1e-4


def test_key_table_covers_our_model_both_ways():
    config = _reduced_config()
    model = TwoStageDenoiser(config)
    table = official_key_table(config)
    assert sorted(v for v in table.values()) == sorted(model.state_dict())
    assert all(k.startswith("denoiser.backbone.") for k in table)
    official = ours_to_official(model.state_dict(), config)
    back = official_to_ours(official, config)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    # without the heading token KIMODO's (unused) heading layer has no place in our model
    assert sum(v is None for v in official_key_table(_reduced_config(heading=False)).values()) == 4


def test_state_dict_from_the_official_file(checkpoint):
    written = load_file(str(checkpoint / "model.safetensors"))
    ours = load_official_state_dict(checkpoint / "model.safetensors", _reduced_config())
    key = "body_model.seqTransEncoder.layers.1.self_attn.in_proj_weight"
    assert torch.equal(ours[key], written["denoiser.backbone." + key])
    TwoStageDenoiser(_reduced_config()).load_state_dict(ours, strict=True)


def test_config_yaml_sizes(checkpoint):
    official = read_official_config(checkpoint / "config.yaml")
    assert official.denoiser == _reduced_config()
    assert (official.skeleton, official.num_base_steps, official.cfg_type) == ("smplx22", 1000, "separated")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"latent_dim": None}, "denoiser.latent_dim"),
        ({"activation": "swish"}, "denoiser.activation"),
        ({"num_heads": "0"}, "denoiser.num_heads"),
        ({"llm_shape": "[1]"}, "denoiser.llm_shape"),
        ({"norm_first": "maybe"}, "denoiser.norm_first"),
    ],
)
def test_config_yaml_errors_name_file_and_field(tmp_path, override, field):
    path = tmp_path / "config.yaml"
    path.write_text(_config_yaml(**override))
    with pytest.raises(InputError) as info:
        read_official_config(path)
    assert info.value.field == field and info.value.path == str(path)


def test_stats_groups_map_onto_feature_stats(checkpoint):
    stats = load_official_stats(checkpoint, D)
    body_mean = np.load(checkpoint / "stats/motion/body/mean.npy")
    local_std = np.load(checkpoint / "stats/motion/local_root/std.npy")
    np.testing.assert_array_equal(stats.body_mean, body_mean.astype(np.float64))
    np.testing.assert_array_equal(stats.local_root_std, local_std.astype(np.float64))
    x = np.zeros((1, D))
    expected = -np.concatenate([np.load(checkpoint / "stats/motion/global_root/mean.npy"), body_mean]).astype(np.float64)
    scale = np.sqrt(np.concatenate([stats.global_root_std, stats.body_std]) ** 2 + 1e-5)
    np.testing.assert_allclose(stats.normalize(x)[0], expected / scale)


# ==================================================================================================
# conversion and verification
# ==================================================================================================
@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_convert_each_copy_mode_and_verify(checkpoint, tmp_path, mode):
    out = tmp_path / "converted"
    report = _convert(checkpoint, out, copy_mode=mode)
    assert report.weights == mode and report.verify["passed"]
    assert report.verify["denoiser_max_abs_diff"] < VERIFY_TOLERANCE
    assert report.verify["ddim_max_abs_diff"] < VERIFY_TOLERANCE
    source, placed = checkpoint / "model.safetensors", out / "denoiser" / "model.safetensors"
    assert placed.read_bytes() == source.read_bytes()
    assert placed.is_symlink() == (mode == "symlink")
    assert (placed.stat().st_ino == source.stat().st_ino) == (mode != "copy")
    index = json.loads((out / "model_index.json").read_text())
    assert index["info"]["converted_from"]["model"] == "Kimodo-SMPLX-RP-v1"
    assert index["text_encoder"]["type"] == "llm2vec"
    assert index["sampling"]["cfg"] == ["separated", [2.0, 2.0]]
    assert "Kimodo-SMPLX-RP-v1" in (out / "README.md").read_text()
    bundle = KIMODOBundle.from_pretrained(out)
    assert bundle.config == _reduced_config() and bundle.skeleton.name == "smplx22"


def test_float32_verification_is_close_but_looser(checkpoint, tmp_path):
    out = tmp_path / "converted"
    _convert(checkpoint, out, verify=False)
    result = verify_conversion(out, checkpoint, frames=24, steps=1, dtype="float32", log=lambda *_: None)
    assert result["denoiser_max_abs_diff"] < 1e-4 and result["ddim_max_abs_diff"] < 1e-3


@pytest.mark.parametrize(("field", "value"), [("num_text_tokens", 1), ("activation", "relu"), ("norm_first", True)])
def test_verification_catches_a_wrong_architecture(checkpoint, tmp_path, field, value):
    """Negative controls: an artifact whose config differs from KIMODO's in one setting fails."""
    out = tmp_path / "converted"
    _convert(checkpoint, out, verify=False)
    config_path = out / "denoiser" / "config.json"
    config = json.loads(config_path.read_text())
    config[field] = value
    config_path.write_text(json.dumps(config))
    result = verify_conversion(out, checkpoint, frames=24, steps=2, log=lambda *_: None)
    assert not result["passed"] and result["denoiser_max_abs_diff"] > 1e-3


def test_position_table_precision_is_visible_in_float64(checkpoint, tmp_path):
    """The exact table instead of KIMODO's float32 one moves the outputs by ~1e-6: far below the
    tolerance, but far above float64 agreement (~1e-13), so the float64 check does see it."""
    out = tmp_path / "converted"
    _convert(checkpoint, out, verify=False)
    exact = verify_conversion(out, checkpoint, frames=24, steps=1, log=lambda *_: None)
    config_path = out / "denoiser" / "config.json"
    config = json.loads(config_path.read_text())
    config["position_table_precision"] = "float64"
    config_path.write_text(json.dumps(config))
    changed = verify_conversion(out, checkpoint, frames=24, steps=1, log=lambda *_: None)
    assert exact["denoiser_max_abs_diff"] < 1e-11
    assert 1e-8 < changed["denoiser_max_abs_diff"] < VERIFY_TOLERANCE


def test_weights_without_the_heading_token_are_converted(tmp_path):
    checkpoint = tmp_path / "ck"
    write_official_checkpoint(checkpoint, heading=False)
    out = tmp_path / "converted"
    report = _convert(checkpoint, out, copy_mode="hardlink")
    assert report.weights == "converted" and report.verify["passed"]
    keys = load_file(str(out / "denoiser" / "model.safetensors")).keys()
    assert not any(k.startswith("denoiser.backbone.") or "first_heading" in k for k in keys)


class GivenEmbeddings:
    """A text encoder that returns embeddings the caller gives (no language model needed)."""

    identifier = "given-embeddings"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.dim = len(next(iter(table.values())))

    def encode(self, texts):
        return np.stack([self.table[t] for t in texts]).astype(np.float32)


def test_converted_artifact_generates_through_the_pipeline(checkpoint, tmp_path):
    out = tmp_path / "converted"
    _convert(checkpoint, out, copy_mode="symlink", verify=False)
    rng = np.random.default_rng(3)
    table = {"A person walks forward.": rng.normal(size=TEXT_DIM), "A person jumps.": rng.normal(size=TEXT_DIM)}
    pipe = KIMODOPipeline.from_pretrained(out, text_encoder=GivenEmbeddings(table))
    first = pipe.text_to_motion("a person walks forward", num_frames=20, steps=3, seed=0, postprocess=False)
    again = pipe.text_to_motion("a person walks forward", num_frames=20, steps=3, seed=0, postprocess=False)
    other = pipe.text_to_motion("a person jumps", num_frames=20, steps=3, seed=0, postprocess=False)
    assert first.posed_joints.shape == (1, 20, J, 3) and np.isfinite(first.posed_joints).all()
    np.testing.assert_array_equal(first.features, again.features)
    assert np.abs(first.features - other.features).max() > 1e-3


def test_cli_subcommand(checkpoint, tmp_path, capsys):
    from motiongen.cli import main

    assert main([
        "convert-checkpoint", "--model-name", "smplx", "--checkpoint-dir", str(checkpoint), "--no-text-encoder",
        "--text-encoders-repo", "my-org/my-llm2vec", "--out-dir", str(tmp_path / "cli"), "--copy-mode", "hardlink",
        "--verify", "--verify-frames", "16", "--verify-steps", "2",
    ]) == 0
    printed = capsys.readouterr().out
    assert "largest difference" in printed and "within" in printed
    spec = json.loads((tmp_path / "cli" / "model_index.json").read_text())["text_encoder"]
    assert spec == {"type": "llm2vec", "path": "my-org/my-llm2vec"}


# ==================================================================================================
# errors that name the file
# ==================================================================================================
@pytest.mark.parametrize(
    "relative", ["model.safetensors", "config.yaml", "stats/motion/body/std.npy", "stats/motion/local_root/mean.npy"]
)
def test_missing_files_are_named(checkpoint, tmp_path, relative):
    (checkpoint / relative).unlink()
    with pytest.raises(InputError) as info:
        _convert(checkpoint, tmp_path / "out")
    assert info.value.path == str(checkpoint / relative)
    assert not (tmp_path / "out").exists()


def test_mismatched_shapes_name_key_and_both_shapes(checkpoint, tmp_path):
    path = checkpoint / "model.safetensors"
    state = load_file(str(path))
    key = "denoiser.backbone.body_model.seqTransEncoder.layers.0.linear1.weight"
    state[key] = torch.zeros(FF + 1, WIDTH)
    del state["denoiser.backbone.root_model.embed_text.bias"]
    state["denoiser.backbone.root_model.extra.weight"] = torch.zeros(3)
    save_file(state, str(path))
    with pytest.raises(InputError) as info:
        _convert(checkpoint, tmp_path / "out")
    message = str(info.value)
    assert info.value.path == str(path)
    assert f"{key} has shape [{FF + 1}, {WIDTH}], the config needs [{FF}, {WIDTH}]" in message
    assert "root_model.embed_text.bias" in message and "root_model.extra.weight" in message


def test_misshaped_stats_are_named(checkpoint, tmp_path):
    path = checkpoint / "stats/motion/global_root/mean.npy"
    np.save(path, np.zeros(4, dtype=np.float32))
    with pytest.raises(InputError, match=r"expected 5 values") as info:
        _convert(checkpoint, tmp_path / "out")
    assert info.value.path == str(path)


def test_skeleton_of_config_and_model_name_must_agree(checkpoint, tmp_path):
    with pytest.raises(InputError, match="SMPLXSkeleton22") as info:
        convert_checkpoint("Kimodo-G1-RP-v1", checkpoint, tmp_path / "out", no_text_encoder=True, log=lambda *_: None)
    assert info.value.field == "skeleton"


def test_wrong_model_name_in_the_converter(checkpoint, tmp_path):
    with pytest.raises(UnknownNameError, match="Kimodo-SMPLX-RP-v1"):
        convert_checkpoint("Kimodo-SMPLX-SEED-v1", checkpoint, tmp_path / "out", no_text_encoder=True)


def _llm2vec_folder(folder: Path, hidden: int = TEXT_DIM, weights: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": hidden}))
    (folder / "tokenizer.json").write_text("{}")
    if weights:
        (folder / "model.safetensors").write_bytes(b"\0" * 8)
    return folder


def test_text_encoders_dir_in_kimodos_layout(tmp_path):
    base = _llm2vec_folder(tmp_path / "enc" / "McGill-NLP" / "LLM2Vec-Meta-Llama-3-8B-Instruct-mntp")
    supervised = tmp_path / "enc" / "McGill-NLP" / "LLM2Vec-Meta-Llama-3-8B-Instruct-mntp-supervised"
    supervised.mkdir()
    (supervised / "adapter_model.safetensors").write_bytes(b"\0" * 8)
    spec = text_encoder_reference(TEXT_DIM, text_encoders_dir=tmp_path / "enc")
    assert spec == {"type": "llm2vec", "path": str(base.resolve()), "adapters": [str(supervised.resolve())]}
    with pytest.raises(InputError, match="4096-d") as info:
        text_encoder_reference(4096, text_encoders_dir=tmp_path / "enc")
    assert info.value.path == str(base / "config.json")


def test_text_encoder_folder_without_weights_is_named(checkpoint, tmp_path):
    folder = _llm2vec_folder(tmp_path / "merged", weights=False)
    with pytest.raises(InputError, match="no weights") as info:
        convert_checkpoint("smplx", checkpoint, tmp_path / "out", text_encoders_dir=folder, log=lambda *_: None)
    assert info.value.path == str(folder)
    with pytest.raises(InputError, match="no LLM2Vec model"):
        text_encoder_reference(TEXT_DIM, text_encoders_dir=tmp_path)
