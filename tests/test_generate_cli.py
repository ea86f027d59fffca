"""``motiongen generate`` with a tiny untrained bundle passed by path (see test_pipeline.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_pipeline import make_tiny_bundle

from motiongen.cli import main
from motiongen.io.bvh import read_bvh
from motiongen.io.kimodo_npz import KIMODO_NPZ_KEYS
from motiongen.pipelines import bundle as bundle_module


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> str:
    return str(make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle", data_dir, cache_dir))


@pytest.fixture(autouse=True)
def text_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # the CLI caches text embeddings under $MOTIONGEN_CACHE/text; keep them out of the user's cache
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path_factory.getbasetemp() / "cli_cache"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(["generate", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_generate_npz_bvh_multi_prompt_and_samples(model: str, tmp_path: Path, capsys) -> None:
    code, out, err = run(capsys, "A person walks forward.", "--duration", "1.5", "--steps", "3", "--seed", "4",
                         "--model", model, "-o", str(tmp_path / "walk.npz"))
    assert code == 0 and err == []
    assert out == [f"wrote {tmp_path / 'walk.npz'} (45 frames at 30 fps, seed 4)"]
    with np.load(tmp_path / "walk.npz") as data:
        assert set(KIMODO_NPZ_KEYS) <= set(data.files) and data["posed_joints"].shape == (45, 22, 3)
        first = data["posed_joints"].copy()
    # same seed, same file contents
    code, _, _ = run(capsys, "A person walks forward.", "--frames", "45", "--steps", "3", "--seed", "4",
                     "--model", model, "-o", str(tmp_path / "again.npz"))
    with np.load(tmp_path / "again.npz") as data:
        np.testing.assert_array_equal(data["posed_joints"], first)

    # several prompts: one motion, frames summed; BVH output with 22 joints
    code, out, err = run(capsys, "A person walks.", "A person jumps.", "--frames", "30", "25", "--steps", "2",
                         "--cfg-weight", "1.5", "2.5", "--model", model, "-o", str(tmp_path / "walk_jump.bvh"))
    assert code == 0 and len(out) == 1 and err == []
    back = read_bvh(tmp_path / "walk_jump.bvh")
    assert back.num_frames == 55 and back.skeleton.num_joints == 22

    # several samples: KIMODO's <stem>/<stem>_00.npz, one printed line per file
    code, out, err = run(capsys, "A person waves.", "--frames", "20", "--num-samples", "2", "--steps", "2",
                         "--cfg-type", "nocfg", "--model", model, "-o", str(tmp_path / "wave.npz"))
    assert code == 0 and err == []
    assert [line.split()[1] for line in out] == [str(tmp_path / "wave" / f"wave_0{k}.npz") for k in range(2)]
    assert all((tmp_path / "wave" / f"wave_0{k}.npz").is_file() for k in range(2))
    assert not (tmp_path / "wave.npz").exists()

    # a folder: .npz and .bvh per sample, and the viewer's manifest (motiongen view FOLDER)
    code, out, _ = run(capsys, "A person waves.", "--frames", "20", "--steps", "2", "--model", model,
                       "-o", str(tmp_path / "folder"))
    assert code == 0 and len(out) == 2
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == [
        "_captions.json", "_manifest.json", "sample_00.bvh", "sample_00.npz"]


BAD_ARGS = {
    "empty prompt": (["  "], "PROMPT"),
    "empty second prompt": (["A person walks.", "..."], "prompt 2 is empty"),
    "zero frames": (["Walk.", "--frames", "0"], "--frames"),
    "too many frames": (["Walk.", "--frames", "65"], "at most 64 frames"),
    "too long": (["Walk.", "--duration", "2.5"], r"2\.5 s \(75 frames\).*at most 64 frames \(2\.13 s\)"),
    "negative duration": (["Walk.", "--duration", "-1"], "--duration"),
    "frames count": (["Walk.", "Run.", "--frames", "20", "20", "20"], "one per prompt"),
    "transition too long": (["Walk.", "Run.", "--frames", "40", "60"], "prompt 2: 60 frames plus the 9-frame transition"),
    "first prompt too short": (["Walk.", "Run.", "--frames", "4", "20"], r"prompts 1\.\.1 have only 4"),
    "text frames": (["Walk.", "--frames", "ten"], "must be an integer"),
    "unknown model": (["Walk.", "--model", "motiongen/kimodo-giraffe"], "unknown model"),
    "text weight": (["Walk.", "--cfg-weight", "strong"], "--cfg-weight.*must be a number"),
    "nan weight": (["Walk.", "--cfg-weight", "nan"], "finite"),
    "three weights": (["Walk.", "--cfg-weight", "1", "2", "3"], "1 or 2 weights"),
    "weights for nocfg": (["Walk.", "--cfg-type", "nocfg", "--cfg-weight", "2"], "no weights"),
    "cfg type": (["Walk.", "--cfg-type", "loud"], "nocfg, regular, separated"),
    "steps": (["Walk.", "--steps", "0"], "--steps"),
    "seed": (["Walk.", "--seed", "-3"], "--seed"),
    "samples": (["Walk.", "--num-samples", "0"], "--num-samples"),
    "device": (["Walk.", "--device", "tpu"], "device"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGS))
def test_generate_user_errors_exit_2_one_line_no_file(case: str, model: str, tmp_path: Path, capsys) -> None:
    argv, pattern = BAD_ARGS[case]
    if "--model" not in argv:
        argv = [*argv, "--model", model]
    code, out, err = run(capsys, *argv, "--steps" if "--steps" not in argv else "--seed", "1", "-o", str(tmp_path / "x.npz"))
    assert code == 2 and out == []
    assert len(err) == 1 and err[0].startswith("motiongen: error: ")
    assert re.search(pattern, err[0]), err[0]
    assert list(tmp_path.iterdir()) == []


def test_generate_output_and_model_errors(model: str, tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "file").write_text("x")
    cases = [
        (["Walk.", "--model", model, "-o", str(tmp_path / "file" / "x.npz")], "not a folder"),
        (["Walk.", "--model", model, "-o", str(tmp_path / "x.txt")], "unsupported output format"),
        (["Walk.", "--model", model, "--num-samples", "2", "-o", str(tmp_path / "file" / "x.bvh")], "not a folder"),
    ]
    if not torch.cuda.is_available():
        cases.append((["Walk.", "--model", model, "--device", "cuda", "-o", str(tmp_path / "x.npz")], "no CUDA GPU"))
    # the shipped model name, before the model is installed: says so
    monkeypatch.setattr(bundle_module, "models_dir", lambda: tmp_path / "no-models")
    cases.append((["Walk.", "-o", str(tmp_path / "x.npz")], "'motiongen/kimodo-smplx' is not installed"))
    for argv, pattern in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == [] and len(err) == 1, (argv, err)
        assert pattern in err[0], err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_generate_subprocess_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "motiongen.cli", "generate", "", "-o", str(tmp_path / "x.npz")],
        capture_output=True, text=True, env={**os.environ, "MOTIONGEN_CACHE": str(tmp_path / "cache")}, timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "prompt 1 is empty" in proc.stderr
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["generate"], "the following arguments are required: PROMPT, -o/--output"),
        (["generate", "Walk.", "--frames", "30", "--duration", "1", "-o", "x.npz"], "not allowed with argument"),
    ],
)
def test_generate_argparse_errors_are_one_line(argv: list[str], pattern: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("motiongen: error: generate: ") and pattern in err[0]


def test_shipped_model_generates_offline(tmp_path, monkeypatch, capsys) -> None:
    """The README's main job: the shipped default model, no network, a 5-second BVH."""
    from motiongen.cli import main
    from motiongen.io.formats import load_motion

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path / "cache"))  # no cached text embeddings either
    out = tmp_path / "walk.bvh"
    code = main(["generate", "a person walks forward.", "--duration", "5", "-o", str(out), "--seed", "0"])
    assert code == 0, capsys.readouterr().err
    motion = load_motion(out)
    assert motion.num_frames == 150 and motion.fps == 30.0 and motion.skeleton.num_joints == 22
    positions = motion.joint_positions()
    assert np.isfinite(positions).all() and positions[..., 1].max() > 1.0  # a standing human, metres


def test_no_root_from_feet_keeps_the_generated_pace(tmp_path, capsys) -> None:
    """``--no-root-from-feet`` writes the motion the pipeline post-processes with the switch off."""
    from motiongen.pipelines.kimodo import KIMODOPipeline

    args = ["a person walks forward.", "--frames", "60", "--steps", "5", "--seed", "2", "-o"]
    assert run(capsys, *args, str(tmp_path / "moved.npz"))[0] == 0
    assert run(capsys, *args, str(tmp_path / "kept.npz"), "--no-root-from-feet")[0] == 0
    pipe = KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx", root_from_feet=False)
    want = pipe.text_to_motion("a person walks forward.", num_frames=60, seed=2, steps=5).root_positions[0]
    with np.load(tmp_path / "kept.npz") as kept, np.load(tmp_path / "moved.npz") as moved:
        np.testing.assert_allclose(kept["root_positions"], want, atol=1e-5)
        assert np.abs(kept["root_positions"] - moved["root_positions"]).max() > 1e-3
