"""SMoG's held-out figures (motiongen.evaluation.smog) and the ablation benchmark, on a small real build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.data.build import build_dataset
from motiongen.evaluation.smog import (
    evaluate_autoencoder,
    held_out_windows,
    parameter_counts,
)
from motiongen.models.smog.features import canonical_window, features_135_to_motion
from motiongen.models.smog.model import SMoGAutoencoder, SMoGConfig, matched_io_hidden
from motiongen.pipelines.smog import SMoGPipeline
from motiongen.skeleton.registry import get_skeleton
from motiongen.text.registry import load_text_encoder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_dataset(data_dir: Path, cache_dir: Path) -> Path:
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)["path"])


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory):
    return load_text_encoder("minilm", cache_dir=tmp_path_factory.mktemp("text"))


def _model(**sizes) -> SMoGAutoencoder:
    torch.manual_seed(0)
    return SMoGAutoencoder(SMoGConfig(**{"width": 32, "layers": 1, "heads": 2, "ff": 32, "max_frames": 60, **sizes})).eval()


def test_windows_and_figures_on_the_test_split(tiny_dataset: Path, encoder) -> None:
    windows = held_out_windows(tiny_dataset, "test", encoder, 40)
    clips = windows.clips
    assert len(windows.picks) == len(clips.long_enough(40)) >= 2
    for c, start, cap in windows.picks:
        assert 0 <= start <= len(clips.frames[c]) - 40 and cap == clips.caption_ids[c][0]
    assert held_out_windows(tiny_dataset, "test", encoder, 40).picks == windows.picks  # seeded
    skeleton = get_skeleton("smplx22")
    model = _model()
    figures = evaluate_autoencoder(model, skeleton, windows, batch_size=3)
    distinct = len({cap for _, _, cap in windows.picks})
    assert figures["n"] == len(windows.picks) and figures["candidates"] == distinct
    assert figures["r1_chance"] == pytest.approx(1 / distinct) and 0 <= figures["r1"] <= figures["r5"] <= 1
    # MPJPE by another road: decode the first window, pose it with Motion, compare joint positions
    c, start, _ = windows.picks[0]
    real = canonical_window(clips.frames[c], clips.headings[c], start, 40)
    with torch.no_grad():
        recon = model(torch.from_numpy(real)[None])[0][0].numpy()
    error = np.linalg.norm(features_135_to_motion(real, skeleton).joint_positions()
                           - features_135_to_motion(recon, skeleton).joint_positions(), axis=-1).mean() * 100
    one = held_out_windows(tiny_dataset, "test", encoder, 40)
    one.picks = one.picks[:1]
    assert evaluate_autoencoder(model, skeleton, one)["mpjpe_cm"] == pytest.approx(error, rel=1e-3)
    assert np.isfinite([figures[k] for k in ("rc", "rcxyz", "vel", "mpjpe_cm", "root_error_cm")]).all()


def test_the_ablation_arms_have_matched_parameter_counts() -> None:
    kan = _model(kan_layers="io")
    hidden = max(matched_io_hidden(135, 32, kan.config.kan_config()), matched_io_hidden(32, 135, kan.config.kan_config()))
    linear = _model(kan_layers="none", io_hidden=hidden)
    a, b = parameter_counts(kan), parameter_counts(linear)
    assert a["io_layers"] <= b["io_layers"] < a["io_layers"] * 1.01
    # the shipped configs pair up the same way
    import yaml

    configs = [yaml.safe_load((ROOT / "configs" / f).read_text()) for f in ("smog_smplx.yaml", "smog_smplx_linear.yaml")]
    kan_cfg, lin_cfg = (c["model"] for c in configs)
    width, kan_options = kan_cfg["width"], SMoGConfig(kan=kan_cfg["kan"]).kan_config()
    assert lin_cfg["io_hidden"] == max(matched_io_hidden(135, width, kan_options), matched_io_hidden(width, 135, kan_options))
    assert {k: v for k, v in kan_cfg.items() if k not in ("kan_layers", "io_hidden")} == \
        {k: v for k, v in lin_cfg.items() if k not in ("kan_layers", "io_hidden")}
    same = {k: v for k, v in configs[0].items() if k not in ("model", "output_dir")}
    assert same == {k: v for k, v in configs[1].items() if k not in ("model", "output_dir")}


def test_the_benchmark_script_writes_its_table(tiny_dataset: Path, tmp_path: Path) -> None:
    skeleton = get_skeleton("smplx22")
    folders = []
    for name, model in (("kan", _model(kan_layers="io")), ("linear", _model(kan_layers="none", io_hidden=20))):
        pipe = SMoGPipeline(model, skeleton, 30.0, {"type": "minilm"}, info={"num_frames": 40, "steps": 3,
                                                                              "train_config": {"batch_size": 4}})
        folders.append(pipe.save_pretrained(tmp_path / name))
    out = tmp_path / "ablation.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "smog_ablation.py"), "--model", f"KAN={folders[0]}",
         "--model", f"Linear={folders[1]}", "--dataset", str(tiny_dataset), "--threads", "1", "--output", str(out)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [r["label"] for r in result["rows"]] == ["KAN", "Linear"] and result["split"] == "test"
    assert "| KAN (`io`) |" in done.stdout and "chance = k / M" in done.stdout
    assert result["windows"]["motions"] == result["rows"][1]["figures"]["n"]
    # the reference row: the evaluator ranks the real windows' captions far better than chance
    ref = result["reference"]["figures"]
    assert ref["n"] == result["windows"]["motions"] and ref["r1"] > ref["r1_chance"]
    assert "Reference: the evaluator" in done.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "smog_ablation.py"), "--model", "nolabel"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "LABEL=NAME_OR_FOLDER" in bad.stderr
