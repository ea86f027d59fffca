"""The command line on real files: conversions, retargeting, and one-line errors with exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motiongen.cli import main
from motiongen.io.formats import load_motion

BANDAI_WALK = "dataset/Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk_normal_001.bvh"


@pytest.fixture(scope="module")
def bandai_walk(raw) -> Path:
    return raw("bandai") / BANDAI_WALK


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_convert_bvh_to_smplx22_npz_and_bvh(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    out_npz = tmp_path / "walk.npz"
    code, out, err = run_cli(
        ["convert", str(bandai_walk), str(out_npz), "--to", "smplx22", "--fps", "30",
         "--source", str(data_dir), "--cache", str(cache_dir)],
        capsys,
    )
    assert code == 0, err
    assert "smplx22" in out
    motion = load_motion(out_npz)
    source = load_motion(bandai_walk)
    assert motion.skeleton.num_joints == 22 and motion.fps == 30.0 and motion.num_frames == source.num_frames
    out_bvh = tmp_path / "walk.bvh"
    assert run_cli(["convert", str(out_npz), str(out_bvh)], capsys)[0] == 0
    again = load_motion(out_bvh)
    np.testing.assert_allclose(again.joint_positions(), motion.joint_positions(), atol=1e-4)


def test_amc_conversion_needs_asf(raw, tmp_path, capsys) -> None:
    amc = raw("cmu") / "cmu/Rotations/Training/02_01 - walk.amc"
    target = tmp_path / "walk.bvh"
    code, _, err = run_cli(["convert", str(amc), str(target)], capsys)
    assert code == 2 and "--asf" in err and err.count("\n") == 1
    assert not target.exists()
    asf = raw("cmu") / "cmu/Rotations/asf/02.asf"
    code, _, err = run_cli(["convert", str(amc), str(target), "--asf", str(asf), "--fps", "30"], capsys)
    assert code == 0, err
    assert load_motion(target).fps == 30.0


def test_errors_are_one_line_exit_2_and_leave_no_file(bandai_walk, tmp_path, capsys) -> None:
    truncated = tmp_path / "truncated.bvh"
    text = bandai_walk.read_text()
    truncated.write_text(text[: len(text) // 2])
    target = tmp_path / "out.bvh"
    code, out, err = run_cli(["convert", str(truncated), str(target)], capsys)
    assert code == 2 and str(truncated) in err and err.count("\n") == 1
    assert not target.exists() and not any(p.name.startswith("out") for p in tmp_path.iterdir())

    code, _, err = run_cli(["convert", str(bandai_walk), str(target), "--to", "smplx99"], capsys)
    assert code == 2 and "unknown skeleton 'smplx99'" in err and "smplx22" in err
    assert not target.exists()

    code, _, err = run_cli(["convert", str(bandai_walk), str(tmp_path / "out.fbx")], capsys)
    assert code == 2 and "'.fbx'" in err

    code, _, err = run_cli(["info", str(tmp_path / "missing.bvh")], capsys)
    assert code == 2 and "not found" in err


def test_console_script_entry_point(bandai_walk) -> None:
    exe = shutil.which("motiongen") or f"{sys.executable} -m motiongen.cli"
    result = subprocess.run(f'{exe} info "{bandai_walk}"', shell=True, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"joints": 22' in result.stdout and '"fps": 30.0' in result.stdout


def test_skeletons_command_lists_and_shows(data_dir, cache_dir, capsys) -> None:
    code, out, _ = run_cli(["skeletons"], capsys)
    assert code == 0 and "smplx22" in out.split() and "g1" in out.split()
    code, out, _ = run_cli(["skeletons", "smplx22", "--json", "--source", str(data_dir), "--cache", str(cache_dir)], capsys)
    assert code == 0 and '"left_wrist"' in out
    code, _, err = run_cli(["skeletons", "smpl"], capsys)
    assert code == 2 and "unknown skeleton 'smpl'" in err


def test_data_build_subset_then_up_to_date(data_dir, cache_dir, capsys) -> None:
    args = ["data", "build", "--source", str(data_dir), "--cache", str(cache_dir), "--limit-per-source", "2", "--workers", "1"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    stats = json.loads(out)
    assert set(stats["by_source"]) == {"bandai", "cmu", "hdm05"}
    assert all(0 < s["clips"] <= 6 for s in stats["by_source"].values())  # at most 2 per source and split
    code, out, err = run_cli(args, capsys)
    assert code == 0 and json.loads(out)["rebuilt"] is False and "up to date" in err + out
