"""SMoGPipeline: deterministic decoding, save/load, batching, errors, and `motiongen generate --model`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.cli import main
from motiongen.errors import InputError
from motiongen.models.smog.model import MOTION_135_DIM, SMoGAutoencoder, SMoGConfig
from motiongen.pipelines.loading import load_pipeline
from motiongen.pipelines.smog import SMoGPipeline, is_smog_folder
from motiongen.skeleton.registry import get_skeleton

PROMPTS = ["A person walks forward.", "A person jumps on the spot.", "Someone waves with the right hand."]


@pytest.fixture(scope="module")
def pipe() -> SMoGPipeline:
    torch.manual_seed(0)
    model = SMoGAutoencoder(SMoGConfig(latent=384, width=32, layers=1, heads=2, ff=32, max_frames=80, dropout=0.1))
    mean = torch.zeros(MOTION_135_DIM)
    mean[1] = 0.9  # a pelvis height, so decoded motions stand near the floor
    model.set_feature_statistics(mean, torch.full((MOTION_135_DIM,), 0.05))
    return SMoGPipeline(model, get_skeleton("smplx22"), 30.0, {"type": "minilm"}, info={"num_frames": 60})


def test_generation_is_deterministic_and_the_seed_changes_nothing(pipe: SMoGPipeline) -> None:
    a = pipe.text_to_motion(PROMPTS[0], num_frames=45, seed=1)
    b = pipe.text_to_motion(PROMPTS[0], num_frames=45, seed=2)
    np.testing.assert_array_equal(a.posed_joints, b.posed_joints)
    assert (a.info["seed"], b.info["seed"]) == (1, 2) and a.info["deterministic"]
    other = pipe.text_to_motion(PROMPTS[1], num_frames=45)
    assert np.abs(other.posed_joints - a.posed_joints).max() > 1e-4  # another prompt, another motion
    copies = pipe.text_to_motion(PROMPTS[0], num_frames=45, num_samples=3, steps=10, cfg=None)
    assert copies.num_samples == 3 and np.array_equal(copies.posed_joints[2], a.posed_joints[0])
    assert copies.info["ignored"] == ["steps"]
    # the first frame sits at the origin; a heading turns the whole motion about Y
    raw = pipe.text_to_motion(PROMPTS[0], num_frames=45, postprocess=False)
    assert np.allclose(raw.root_positions[0, 0, [0, 2]], 0.0, atol=1e-6)
    turned = pipe.text_to_motion(PROMPTS[0], num_frames=45, first_heading=np.pi / 2, postprocess=False)
    x, z = raw.root_positions[0, :, 0], raw.root_positions[0, :, 2]
    np.testing.assert_allclose(turned.root_positions[0, :, 0], z, atol=1e-5)
    np.testing.assert_allclose(turned.root_positions[0, :, 2], -x, atol=1e-5)


def test_batched_decoding_equals_one_prompt_at_a_time(pipe: SMoGPipeline) -> None:
    lengths = [30, 61, 47]
    batched = pipe.text_to_motions(PROMPTS, lengths, batch_size=2, postprocess=False)
    for prompt, n, out in zip(PROMPTS, lengths, batched):
        alone = pipe.text_to_motion(prompt, num_frames=n, postprocess=False)
        assert out.num_frames == n and out.prompts == [prompt]
        np.testing.assert_allclose(out.posed_joints, alone.posed_joints, atol=1e-4)


def test_save_and_load_round_trip(pipe: SMoGPipeline, tmp_path: Path) -> None:
    import motiongen

    assert motiongen.SMoGPipeline is SMoGPipeline and motiongen.load_pipeline is load_pipeline
    folder = pipe.save_pretrained(tmp_path / "smog")
    assert is_smog_folder(folder) and not is_smog_folder(tmp_path)
    loaded = load_pipeline(folder)
    assert isinstance(loaded, SMoGPipeline) and loaded.default_frames == 60
    expected = pipe.text_to_motion(PROMPTS[2], num_frames=50)
    np.testing.assert_allclose(loaded.text_to_motion(PROMPTS[2], num_frames=50).posed_joints,
                               expected.posed_joints, atol=1e-5)
    half = SMoGPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "half", weights_dtype="float16"))
    assert half.model.feature_std.dtype == torch.float32
    close = half.text_to_motion(PROMPTS[2], num_frames=50, postprocess=False).posed_joints
    raw = pipe.text_to_motion(PROMPTS[2], num_frames=50, postprocess=False).posed_joints
    assert np.abs(close - raw).max() < 0.02  # metres: fp16 weights move joints by millimetres
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a SMoG model"):
        pipe.save_pretrained(tmp_path / "other")


def test_bad_input_is_refused_with_the_field(pipe: SMoGPipeline) -> None:
    with pytest.raises(InputError, match="empty"):
        pipe.text_to_motion("  ...  ")
    with pytest.raises(InputError) as err:
        pipe.text_to_motion(PROMPTS[0], num_frames=81)
    assert err.value.field == "num_frames"
    with pytest.raises(InputError, match="unknown options"):
        pipe.text_to_motion(PROMPTS[0], constraints=[])
    with pytest.raises(InputError, match="lengths"):
        pipe.text_to_motions(PROMPTS, [30, 30])
    with pytest.raises(InputError, match="seed"):
        pipe.text_to_motion(PROMPTS[0], seed=-1)


def test_generate_with_a_smog_folder(pipe: SMoGPipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path / "cache"))
    folder = pipe.save_pretrained(tmp_path / "smog")
    target = tmp_path / "walk.npz"
    assert main(["generate", PROMPTS[0], "--model", str(folder), "--seed", "3", "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {target} (60 frames at 30 fps, deterministic, no seed)"
    with np.load(target) as z:
        expected = pipe.text_to_motion(PROMPTS[0], num_frames=60)
        np.testing.assert_allclose(z["posed_joints"], expected.posed_joints[0], atol=1e-5)
    refused = tmp_path / "w.npz"
    code = main(["generate", PROMPTS[0], "--model", str(folder), "--waypoints", "1,1@30", "-o", str(refused)])
    assert code == 2 and "KIMODO" in capsys.readouterr().err and not refused.exists()
    assert json.loads((folder / "config.json").read_text())["format"] == "motiongen.smog/1"


def test_the_shipped_model_walks_when_asked() -> None:
    from motiongen.pipelines.bundle import resolve_model

    folder = resolve_model("motiongen/smog-smplx")
    assert sum(p.stat().st_size for p in folder.iterdir()) < 10e6  # the shipped-model size limit
    shipped = SMoGPipeline.from_pretrained("motiongen/smog-smplx")
    assert shipped.default_frames == 60 and shipped.model.config.kan_layers == "io"
    walk = shipped.text_to_motion("a person walks forward.", postprocess=False)
    root = walk.root_positions[0]
    # forward is +Z: two seconds of walking cover more than a metre, mostly along Z
    assert root[-1, 2] - root[0, 2] > 1.0 and abs(root[-1, 0] - root[0, 0]) < 0.5 * (root[-1, 2] - root[0, 2])
    assert 0.7 < float(np.median(root[:, 1])) < 1.2  # pelvis at standing height
    # deterministic: the same prompt decodes to the same motion, whatever the seed
    again = shipped.text_to_motion("a person walks forward.", postprocess=False, seed=123)
    np.testing.assert_array_equal(again.posed_joints, walk.posed_joints)


def test_root_from_feet_switch_of_the_shipped_model() -> None:
    """Off, post-processing keeps the decoded pelvis path's pace; on (the default), it moves the pelvis.
    (A jump: the shipped model's walks have no frame the contact heuristic calls planted.)"""
    from motiongen.motion.kimodo_features import foot_contacts_from_positions
    from motiongen.postprocess import correct_motion

    moved = SMoGPipeline.from_pretrained("motiongen/smog-smplx")
    kept = SMoGPipeline.from_pretrained("motiongen/smog-smplx", root_from_feet=False)
    assert moved.root_from_feet is True and kept.root_from_feet is False
    raw = kept.text_to_motion("a person jumps.", postprocess=False)
    contacts = foot_contacts_from_positions(raw.posed_joints[0].astype(np.float64), kept.skeleton, kept.fps)
    roots = {}
    for flag, pipe in ((True, moved), (False, kept)):
        out = pipe.text_to_motion("a person jumps.")
        want = correct_motion(raw.local_rot_mats[0], raw.root_positions[0], pipe.skeleton, contacts, fps=pipe.fps,
                              root_from_feet=flag)[1]
        np.testing.assert_allclose(out.root_positions[0], want, atol=1e-4)
        roots[flag] = out.root_positions[0]
    assert np.abs(roots[True] - roots[False]).max() > 1e-3
