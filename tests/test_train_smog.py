"""SMoG training: motion_135 features, the losses, retrieval, and the trainer (run, resume, export) on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.data.build import build_dataset
from motiongen.data.dataset import MotionDataset
from motiongen.errors import InputError
from motiongen.models.smog.features import (
    canonical_window,
    features_135_to_motion,
    motion_to_135,
    positions_from_135,
    world_135,
)
from motiongen.models.smog.model import SMoGAutoencoder, SMoGConfig
from motiongen.motion.kimodo_features import canonicalize, root_heading, rotate_motion_yaw
from motiongen.train.smog import (
    load_smog_config,
    motion_to_text_retrieval,
    reconstruction_losses,
    window_start_range,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "smog_tiny.yaml"
FULL = ROOT / "configs" / "smog_smplx.yaml"


@pytest.fixture(scope="module")
def tiny_dataset(data_dir: Path, cache_dir: Path) -> Path:
    # the same build as tests/test_evaluator.py and tests/test_data_build.py: built once per session
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)["path"])


@pytest.fixture(scope="module")
def real_motion(tiny_dataset: Path):
    dataset = MotionDataset(root=tiny_dataset, split="train", mirrored=False)
    motion = max((dataset[i][0] for i in range(len(dataset))), key=lambda m: m.num_frames)
    assert motion.num_frames >= 150
    return motion


# ==================================================================================================
# features
# ==================================================================================================
def test_features_round_trip_to_the_canonical_motion(real_motion) -> None:
    skeleton = real_motion.skeleton
    x = motion_to_135(real_motion)
    assert x.shape == (real_motion.num_frames, 135) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, [0, 2]], 0.0, atol=1e-6)  # x, z relative to frame 0
    np.testing.assert_allclose(x[:, 1], real_motion.root_translation[:, 1], atol=1e-6)  # y absolute
    back = features_135_to_motion(x, skeleton)
    expected = canonicalize(real_motion).joint_positions()
    np.testing.assert_allclose(back.joint_positions(), expected, atol=1e-5)
    assert abs(float(root_heading(back.joint_positions()[0], skeleton))) < 1e-5  # facing +Z
    # torch input gives the same motion
    again = features_135_to_motion(torch.from_numpy(x), skeleton)
    np.testing.assert_allclose(again.joint_positions(), expected, atol=1e-5)
    # where the motion starts and faces does not matter
    moved = rotate_motion_yaw(real_motion, 2.3)
    moved.root_translation[:, [0, 2]] += [4.0, -1.5]
    np.testing.assert_allclose(motion_to_135(moved), x, atol=1e-5)


def test_windows_of_world_features_equal_the_canonicalised_slice(real_motion) -> None:
    frames, heading = world_135(real_motion)
    for start, length in ((0, 60), (37, 60), (real_motion.num_frames - 45, 45)):
        expected = motion_to_135(real_motion.slice(start, start + length))
        np.testing.assert_allclose(canonical_window(frames, heading, start, length), expected, atol=1e-5)
    with pytest.raises(InputError, match="window"):
        canonical_window(frames, heading, real_motion.num_frames - 10, 20)


def test_positions_from_135_match_forward_kinematics_and_are_differentiable(real_motion) -> None:
    skeleton = real_motion.skeleton
    x = torch.from_numpy(np.stack([motion_to_135(real_motion.slice(0, 30)), motion_to_135(real_motion.slice(50, 80))]))
    x.requires_grad_(True)
    positions = positions_from_135(x, skeleton)
    assert positions.shape == (2, 30, 22, 3)
    expected = canonicalize(real_motion.slice(50, 80)).joint_positions()
    np.testing.assert_allclose(positions[1].detach().numpy(), expected, atol=1e-5)
    positions.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(InputError, match="features"):
        positions_from_135(torch.zeros(2, 30, 134), skeleton)
    with pytest.raises(InputError, match="features"):
        features_135_to_motion(np.zeros((2, 30, 135)), skeleton)


# ==================================================================================================
# losses and retrieval
# ==================================================================================================
def test_losses_are_zero_for_a_perfect_reconstruction_and_have_known_values_otherwise(real_motion) -> None:
    skeleton = real_motion.skeleton
    target = torch.from_numpy(np.stack([motion_to_135(real_motion.slice(s, s + 40)) for s in (0, 60)])).double()
    valid = torch.ones(2, 40, dtype=torch.bool)
    perfect = reconstruction_losses(target, target.clone(), valid, skeleton)
    assert set(perfect) == {"rc", "rcxyz", "vel"} and all(float(v) == 0.0 for v in perfect.values())
    # the whole motion 1 cm to the side: every joint moves 1 cm, velocities do not change
    shifted = target.clone()
    shifted[..., 0] += 0.01
    losses = reconstruction_losses(target, shifted, valid, skeleton)
    assert float(losses["rc"]) == pytest.approx(1e-4 / 135)
    assert float(losses["rcxyz"]) == pytest.approx(1e-4 / 3)
    assert float(losses["vel"]) == pytest.approx(0.0, abs=1e-15)
    # one frame off: its velocity to both neighbours changes
    bumped = target.clone()
    bumped[0, 10, 0] += 0.01
    assert float(reconstruction_losses(target, bumped, valid, skeleton)["vel"]) == pytest.approx(2e-4 / (2 * 39 * 135))
    # padded frames count for nothing
    padded = valid.clone()
    padded[1, 30:] = False
    garbage = target.clone()
    garbage[1, 30:] = 5.0
    assert all(float(v) == 0.0 for v in reconstruction_losses(target, garbage, padded, skeleton).values())


def test_retrieval_counts_hits_among_candidates_and_reports_chance() -> None:
    text = np.eye(8, 16)  # orthonormal captions: every cosine is known
    truth = np.array([0, 1, 2, 3, 4, 5, 6, 7, 3, 5])
    perfect = motion_to_text_retrieval(2.0 * text[truth], text, truth)  # cosine ignores the norm
    assert perfect["r1"] == perfect["r5"] == 1.0
    assert perfect["n"] == 10 and perfect["candidates"] == 8
    assert perfect["r1_chance"] == pytest.approx(1 / 8) and perfect["r5_chance"] == pytest.approx(5 / 8)
    assert perfect["cos_pair"] == pytest.approx(1.0) and perfect["cos_others"] == pytest.approx(0.0)
    wrong = motion_to_text_retrieval(-text[truth], text, truth)  # the true caption is the least similar
    assert wrong["r1"] == wrong["r5"] == 0.0
    # the next caption is the most similar, the true one second: a hit at 5, never at 1
    second = motion_to_text_retrieval(text[(truth + 1) % 8] + 0.9 * text[truth], text, truth)
    assert second["r1"] == 0.0 and second["r5"] == 1.0
    # a caption tied with the true one counts against it
    tied = motion_to_text_retrieval(text[(truth + 1) % 8] + text[truth], text, truth)
    assert tied["r1"] == 0.0


def test_caption_windows_place_the_training_window() -> None:
    assert window_start_range(100, 60, None) == (0, 40)
    assert window_start_range(100, 60, (10, 90)) == (10, 30)  # inside a long caption window
    assert window_start_range(100, 60, (50, 70)) == (10, 40)  # covering a short one
    assert window_start_range(100, 60, (80, 100)) == (40, 40)


# ==================================================================================================
# trainer on real (tiny) data
# ==================================================================================================
def _read_metrics(run: Path) -> list[dict]:
    from motiongen.train.kimodo import read_metrics

    return read_metrics(run)


def test_trainer_runs_resumes_and_exports(tiny_dataset: Path, real_motion, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from motiongen.train.smog import export_smog, train_smog

    run = tmp_path / "run"
    overrides = {"dataset": str(tiny_dataset), "output_dir": str(run)}
    messages: list[str] = []
    path = train_smog(load_smog_config(TINY, overrides), log=messages.append)
    assert path.name == "step-00000004.pt"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002.pt", "step-00000004.pt"]
    rows = _read_metrics(run)
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    for r in train_rows:
        assert all(np.isfinite(r[k]) and r[k] >= 0 for k in ("loss", "rc", "rcxyz", "vel", "text"))
        assert r["loss"] == pytest.approx(100 * (r["rc"] + r["rcxyz"] + r["vel"]) + r["text"], rel=1e-5)
    # the 36-frame clip and its mirrored copy are shorter than num_frames 40; every val clip is long enough
    assert any("2 of 12 training clips and 0 of 6 val clips" in m and "skipped" in m for m in messages)
    val = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in val] == [2, 4]
    last = val[-1]
    assert last["val_retrieval_n"] == 6 and last["val_retrieval_candidates"] == 6
    assert last["val_r1_chance"] == pytest.approx(1 / 6, abs=1e-5) and last["val_r5_chance"] == pytest.approx(5 / 6, abs=1e-5)
    assert 0.0 <= last["val_r1"] <= last["val_r5"] <= 1.0 and np.isfinite(last["val_rcxyz"])
    assert any("R@1" in m and "chance" in m for m in messages)
    assert len(list((run / "data").glob("clips-*.npz"))) == 1

    # resume: extending the run continues from step 4, reusing the prepared data
    path6 = train_smog(load_smog_config(TINY, {**overrides, "total_steps": 6}), log=messages.append)
    state = torch.load(path6, weights_only=False)
    assert state["step"] == 6 and any("resuming" in m and "step 4" in m for m in messages)
    assert [r["step"] for r in _read_metrics(run) if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert state["data"]["train_clips"] == 12 and state["data"]["train_clips_used"] == 10

    folder = export_smog(run, tmp_path / "exported")
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "motiongen.smog/1" and config["skeleton_name"] == "smplx22"
    assert config["text_encoder"] == {"type": "minilm"} and config["info"]["steps"] == 6
    assert config["info"]["validation"]["step"] == 6 and config["model"]["latent"] == 384
    card = (folder / "README.md").read_text()
    assert "non-commercial" in card and "Bandai" in card and "R@1" in card
    assert "- hardware: 1 process(es) x 1 thread(s) on CPU" in card and "wall time" in card
    assert config["info"]["wall_time_s"] > 0
    assert json.loads((folder / "skeleton.json").read_text())["name"] == "smplx22"
    model = SMoGAutoencoder(SMoGConfig.from_dict(config["model"])).eval()
    model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
    ema = SMoGAutoencoder(SMoGConfig.from_dict(state["model_config"])).eval()
    ema.load_state_dict(state["ema"])
    batch = torch.from_numpy(np.stack([motion_to_135(real_motion.slice(s, s + 40)) for s in (0, 25, 90)]))
    with torch.no_grad():
        z, expected = model.encode(batch), ema.encode(batch)
    assert z.shape == (3, 384)
    torch.testing.assert_close(z, expected, rtol=0, atol=1e-6)
    # float16 weights: parameters stored in half precision, the knot grids kept exact
    half = export_smog(path6, tmp_path / "half", weights_dtype="float16")
    weights = load_file(str(half / "model.safetensors"))
    assert weights["input_embedding.spline_weight"].dtype == torch.float16
    assert weights["input_embedding.grid"].dtype == torch.float32
    # standardisation came from the training windows: root height's mean is a pelvis height in metres
    stats_mean, stats_std = weights["feature_mean"], weights["feature_std"]
    assert stats_mean.dtype == torch.float32 and 0.5 < float(stats_mean[1]) < 1.3
    assert torch.all(stats_std >= 1e-2) and not torch.allclose(stats_std, torch.ones_like(stats_std))
    # the folder is a pipeline: it decodes captions into motions
    from motiongen.pipelines.smog import SMoGPipeline

    pipe = SMoGPipeline.from_pretrained(half)
    out = pipe.text_to_motion("A person walks forward.", num_frames=40, postprocess=False)
    assert out.posed_joints.shape == (1, 40, 22, 3) and np.isfinite(out.posed_joints).all()
    assert pipe.default_frames == 40 and out.info["deterministic"]


def test_wall_time_sums_the_sessions_of_a_resumed_run() -> None:
    from motiongen.train.smog import wall_time_seconds

    rows = [{"step": 1, "elapsed_s": 2.0}, {"step": 2, "elapsed_s": 5.0}, {"step": 2, "val_loss": 1.0},
            {"step": 3, "elapsed_s": 1.5}, {"step": 4, "elapsed_s": 4.0}]
    assert wall_time_seconds(rows) == pytest.approx(9.0)
    assert wall_time_seconds([]) == 0.0


def test_config_errors_name_the_key() -> None:
    from motiongen.cli import main

    with pytest.raises(InputError, match="batch_sise"):
        load_smog_config(TINY, ["batch_sise=3"])
    with pytest.raises(InputError, match="model.latent"):  # follows from the text encoder
        load_smog_config(TINY, ["model.latent=64"])
    with pytest.raises(InputError, match="model.heads"):  # 384 is not divisible by 5
        load_smog_config(TINY, ["model.heads=5"])
    with pytest.raises(InputError, match="num_frames"):
        load_smog_config(TINY, ["num_frames=65"])
    with pytest.raises(InputError, match="alignment"):
        load_smog_config(TINY, ["alignment=mse"])
    with pytest.raises(InputError, match="grad_clip"):
        load_smog_config(TINY, ["grad_clip=-1"])
    cfg = load_smog_config(FULL)
    assert (cfg.lr, cfg.betas, cfg.weight_decay, cfg.grad_clip, cfg.num_frames) == (1e-4, (0.9, 0.999), 0.01, None, 60)
    assert (cfg.lambda_rc, cfg.lambda_rcxyz, cfg.lambda_vel, cfg.alignment) == (100.0, 100.0, 100.0, "cosine+infonce")
    assert main(["train", "smog", "--config", str(TINY), "--set", "lr=2"]) == 2
