"""The text-motion evaluator: features, negatives filtering, loss, save/load and version, trainer, shipped weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.data.build import build_dataset
from motiongen.data.dataset import MotionDataset
from motiongen.errors import InputError
from motiongen.models.evaluator import (
    EvaluatorConfig,
    TextMotionEvaluator,
    TextMotionModel,
    evaluator_feature_dim,
    positions_to_evaluator_features,
)
from motiongen.models.evaluator.model import duplicate_caption_mask, filtered_info_nce, side_words
from motiongen.motion.kimodo_features import rotate_motion_yaw

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "evaluator_smplx.yaml"


@pytest.fixture(scope="module")
def tiny_dataset(data_dir: Path, cache_dir: Path) -> Path:
    # the same build as tests/test_data_build.py, so a full test session builds it once
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)["path"])


@pytest.fixture(scope="module")
def real_motion(tiny_dataset: Path):
    motion, captions = MotionDataset(root=tiny_dataset, split="train", mirrored=False)[0]
    return motion


# ==================================================================================================
# features
# ==================================================================================================
def test_features_do_not_depend_on_where_the_motion_starts_or_faces(real_motion) -> None:
    skeleton = real_motion.skeleton
    base = positions_to_evaluator_features(real_motion.joint_positions(), skeleton, real_motion.fps)
    assert base.shape == (real_motion.num_frames, evaluator_feature_dim(skeleton.num_joints)) == (real_motion.num_frames, 133)
    moved = rotate_motion_yaw(real_motion, 1.1)
    moved.root_translation[:, [0, 2]] += [3.0, -2.0]
    other = positions_to_evaluator_features(moved.joint_positions(), skeleton, real_motion.fps)
    np.testing.assert_allclose(other, base, atol=1e-4)
    # but a motion played backwards is different (velocities flip)
    backwards = positions_to_evaluator_features(real_motion.joint_positions()[::-1].copy(), skeleton, real_motion.fps)
    assert np.abs(backwards[1:-1, 4 + 63 :] + base[::-1][1:-1, 4 + 63 :]).max() > 0.1  # not a pure sign flip: forward differences shift by a frame
    assert np.abs(backwards - base).max() > 0.1


def test_features_reject_bad_input(real_motion) -> None:
    skeleton = real_motion.skeleton
    with pytest.raises(InputError, match="positions"):
        positions_to_evaluator_features(np.zeros((10, 21, 3)), skeleton)
    with pytest.raises(InputError, match="at least 2 frames"):
        positions_to_evaluator_features(np.zeros((1, 22, 3)), skeleton)
    bad = np.zeros((5, 22, 3))
    bad[2, 3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        positions_to_evaluator_features(bad, skeleton)


# ==================================================================================================
# negatives and loss
# ==================================================================================================
def test_near_duplicate_captions_are_removed_from_negatives_but_sides_are_kept() -> None:
    assert side_words("Waves with the LEFT hand, then the right.") == ("left", "right")
    captions = ["a person waves with the right hand.", "someone waves the right hand.",
                "a person waves with the left hand.", "a person jumps."]
    e = torch.tensor([[1.0, 0.0], [0.96, 0.28], [0.995, 0.0998], [0.0, 1.0]])
    e = torch.nn.functional.normalize(e, dim=-1)
    mask = duplicate_caption_mask(e, captions, threshold=0.8)
    assert mask[0, 1] and mask[1, 0]  # same meaning, same side
    assert not mask[0, 2] and not mask[2, 0]  # cosine 0.995 but another side: a real negative
    assert not mask[0, 3] and not mask.diagonal().any()


def test_filtered_info_nce_ignores_masked_negatives() -> None:
    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    motion = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1).requires_grad_(True)
    dup = torch.zeros(6, 6, dtype=torch.bool)
    dup[0, 1] = dup[1, 0] = True
    loss = filtered_info_nce(text, motion, dup, 0.1)
    # moving motion 1 along text 0 changes nothing in text 0's row: its only link to 0 was masked
    (grad,) = torch.autograd.grad(loss, motion)
    plain = filtered_info_nce(text, motion, torch.zeros_like(dup), 0.1)
    assert not torch.isclose(loss, plain)
    aligned = filtered_info_nce(text, text.clone(), torch.zeros_like(dup), 0.01)
    assert aligned.item() < 1e-3 < loss.item()
    assert torch.isfinite(grad).all()


# ==================================================================================================
# save / load / version
# ==================================================================================================
def _random_evaluator(skeleton, seed: int = 0) -> TextMotionEvaluator:
    torch.manual_seed(seed)
    cfg = EvaluatorConfig(width=32, ff=64, motion_layers=1, text_layers=1, latent=16, heads=2)
    rng = np.random.default_rng(seed)
    return TextMotionEvaluator(TextMotionModel(cfg), rng.normal(size=133), rng.uniform(0.5, 2, size=133), skeleton)


def test_save_and_load_give_the_same_embeddings_and_version(real_motion, tmp_path: Path) -> None:
    ev = _random_evaluator(real_motion.skeleton)
    folder = ev.save_pretrained(tmp_path / "ev", weights_dtype="float32")
    again = TextMotionEvaluator.from_pretrained(folder)
    positions = [real_motion.joint_positions(), real_motion.joint_positions()[:50]]
    np.testing.assert_allclose(again.encode_motions(positions), ev.encode_motions(positions), atol=1e-6)
    assert again.version == json.loads((folder / "config.json").read_text())["version"] == ev.version
    emb = ev.encode_motions(positions)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert _random_evaluator(real_motion.skeleton, seed=1).version != ev.version
    # a weights file that does not match its recorded version is refused
    other = _random_evaluator(real_motion.skeleton, seed=1).save_pretrained(tmp_path / "other", weights_dtype="float32")
    shutil.copy(other / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(InputError, match="version"):
        TextMotionEvaluator.from_pretrained(folder)


# ==================================================================================================
# trainer on real (tiny) data
# ==================================================================================================
def test_trainer_runs_resumes_and_exports(tiny_dataset: Path, tmp_path: Path) -> None:
    from motiongen.train.evaluator import export_evaluator, load_evaluator_config, train_evaluator
    from motiongen.train.kimodo import read_metrics

    overrides = {"dataset": str(tiny_dataset), "output_dir": str(tmp_path / "run"), "batch_size": 4, "total_steps": 4,
                 "warmup_steps": 0, "val_every": 2, "checkpoint_every": 2, "log_every": 1, "progress": False,
                 "threads": 1, "model": {"width": 32, "ff": 64, "motion_layers": 1, "text_layers": 1, "latent": 16,
                                         "heads": 2}}
    cfg = load_evaluator_config(CONFIG, overrides)
    path = train_evaluator(cfg, log=lambda m: None)
    assert path.name == "step-00000004.pt"
    losses = [r["loss"] for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert any("val_loss" in r for r in read_metrics(tmp_path / "run"))
    state = torch.load(path, weights_only=False)
    assert state["data"]["train_clips"] == 12  # 6 clips and their mirrored copies; no val or test clip
    # resume: extending the run continues from step 4
    longer = load_evaluator_config(CONFIG, {**overrides, "total_steps": 6})
    path6 = train_evaluator(longer, log=lambda m: None)
    assert torch.load(path6, weights_only=False)["step"] == 6
    steps = [r["step"] for r in read_metrics(tmp_path / "run") if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    folder = export_evaluator(path6, tmp_path / "exported")
    ev = TextMotionEvaluator.from_pretrained(folder)
    assert ev.info["steps"] == 6 and "non-commercial" in (folder / "README.md").read_text()
    texts = ev.encode_texts(["a person walks forward.", "a person waves with the left hand."])
    assert texts.shape == (2, 16) and np.isfinite(texts).all()


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    from motiongen.train.evaluator import load_evaluator_config

    with pytest.raises(InputError, match="batch_sise"):
        load_evaluator_config(CONFIG, ["batch_sise=3"])
    with pytest.raises(InputError, match="model.depth"):
        load_evaluator_config(CONFIG, ["model.depth=3"])
    with pytest.raises(InputError, match="lr"):
        load_evaluator_config(CONFIG, ["lr=-1"])


def test_an_unknown_evaluator_name_is_one_clear_error(tmp_path: Path) -> None:
    from motiongen.errors import UnknownNameError
    from motiongen.models.evaluator.evaluator import resolve_evaluator

    with pytest.raises(UnknownNameError, match="neither a known evaluator .*motiongen/evaluator-smplx"):
        resolve_evaluator("motiongen/no-such-evaluator")
    with pytest.raises(UnknownNameError, match="nor a folder with config.json"):
        resolve_evaluator(tmp_path)  # a folder, but not an evaluator's
