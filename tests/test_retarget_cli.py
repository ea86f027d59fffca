"""``motiongen retarget`` and the export formats on real files: every output rig and format, and bad
input that fails with one line, exit 2 and no file."""

from __future__ import annotations

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


def data_args(data_dir: Path, cache_dir: Path) -> list[str]:
    return ["--source", str(data_dir), "--cache", str(cache_dir)]


@pytest.mark.parametrize(("target", "suffix", "joints"), [
    # a SOMA BVH is KIMODO's: 77 joints even from soma30 (reference 5.4)
    ("smplx22", ".npz", 22), ("soma30", ".bvh", 77), ("soma77", ".npz", 77), ("cmu31", ".bvh", 31),
])
def test_retarget_onto_human_rigs(bandai_walk, tmp_path, data_dir, cache_dir, capsys, target, suffix, joints) -> None:
    out = tmp_path / f"walk{suffix}"
    code, printed, err = run_cli(
        ["retarget", str(bandai_walk), "--to", target, "-o", str(out), *data_args(data_dir, cache_dir)], capsys
    )
    assert code == 0, err
    assert f"-> {target}" in printed and "scale" in printed
    motion = load_motion(out)
    source = load_motion(bandai_walk)
    assert motion.skeleton.num_joints == joints
    assert motion.num_frames == source.num_frames
    pos = motion.joint_positions()
    # feet on the floor, and the walk goes as far as the source's (scaled by the leg ratio, within 25 %)
    assert abs(np.percentile(pos[:, motion.skeleton.foot_joint_indices, 1].min(-1), 5)) < 0.01
    travel = np.linalg.norm(pos[-1, 0, [0, 2]] - pos[0, 0, [0, 2]])
    src_pos = source.joint_positions()
    hips = source.skeleton.index("Hips")  # Bandai's joint_Root stays at the origin; the hips carry the path
    src_travel = np.linalg.norm(src_pos[-1, hips, [0, 2]] - src_pos[0, hips, [0, 2]])
    assert 0.75 * src_travel < travel < 1.25 * src_travel


def test_position_method_reaches_scaled_joints(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    rot, pos = tmp_path / "rot.npz", tmp_path / "pos.npz"
    for method, out in (("rotations", rot), ("positions", pos)):
        code, _, err = run_cli(["retarget", str(bandai_walk), "--to", "smplx22", "--method", method, "-o", str(out),
                                *data_args(data_dir, cache_dir)], capsys)
        assert code == 0, err
    a, b = load_motion(rot).joint_positions(), load_motion(pos).joint_positions()
    # both follow the same body: joints agree to within a few centimetres on average, and are not identical
    gap = np.linalg.norm(a - b, axis=-1).mean()
    assert 1e-4 < gap < 0.08


def test_amass_export_is_z_up(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    out = tmp_path / "walk_amass.npz"
    code, _, err = run_cli(["retarget", str(bandai_walk), "--to", "smplx22", "--format", "amass", "-o", str(out),
                            *data_args(data_dir, cache_dir)], capsys)
    assert code == 0, err
    with np.load(out) as data:
        assert data["poses"].shape[1] == 165 and data["trans"].shape == (data["poses"].shape[0], 3)
        assert float(data["mocap_framerate"]) == 30.0
        # z up: a standing body's translation keeps its height on z, and the walk moves in the x-y plane
        trans = data["trans"]
        assert np.ptp(trans[:, 2]) < 0.2 < np.linalg.norm(trans[-1, :2] - trans[0, :2])
    back = load_motion(out)  # read as AMASS, by its keys
    direct = tmp_path / "walk.npz"
    assert run_cli(["retarget", str(bandai_walk), "--to", "smplx22", "-o", str(direct), *data_args(data_dir, cache_dir)],
                   capsys)[0] == 0
    np.testing.assert_allclose(back.joint_positions(), load_motion(direct).joint_positions(), atol=1e-4)


def test_retarget_onto_g1_writes_mujoco_csv(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    out = tmp_path / "walk.csv"
    code, printed, err = run_cli(
        ["retarget", str(bandai_walk), "--to", "g1", "-o", str(out), *data_args(data_dir, cache_dir)], capsys
    )
    assert code == 0, err
    assert "-> g1" in printed and "IK target error" in printed
    rows = np.loadtxt(out, delimiter=",")
    assert rows.shape == (load_motion(bandai_walk).num_frames, 36)
    motion = load_motion(out)
    assert motion.skeleton.name == "g1"
    hinges = motion.skeleton.extras["hinges"]
    low, high = np.array([h["range"] for h in hinges.values()]).T
    assert ((rows[:, 7:] >= low - 1e-9) & (rows[:, 7:] <= high + 1e-9)).all()
    # the pelvis of a walking G1 stays near its standing height (z up in the CSV)
    assert 0.55 < np.median(rows[:, 2]) < 0.85


@pytest.mark.parametrize(("args", "needle"), [
    (["--to", "robot"], "unknown skeleton 'robot'"),
    (["--to", "smplx22", "--format", "mujoco-csv"], "mujoco-csv file ends in .csv"),
    (["--to", "smplx22", "--format", "amass", "--method", "nope"], "invalid choice"),
])
def test_bad_options_fail_before_writing(bandai_walk, tmp_path, data_dir, cache_dir, capsys, args, needle) -> None:
    out = tmp_path / "out.npz"
    try:
        code, _, err = run_cli(["retarget", str(bandai_walk), *args, "-o", str(out), *data_args(data_dir, cache_dir)],
                               capsys)
    except SystemExit as exc:  # argparse's own choice check
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and needle in err
    assert not out.exists()


def test_wrong_rig_for_format_leaves_no_file(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    for target, out, needle in (("soma30", tmp_path / "walk.csv", "G1"), ("soma30", tmp_path / "walk_amass.npz", "smplx22")):
        fmt = ["--format", "amass"] if "amass" in out.name else []
        code, _, err = run_cli(["retarget", str(bandai_walk), "--to", target, *fmt, "-o", str(out),
                                *data_args(data_dir, cache_dir)], capsys)
        assert code == 2 and needle in err and err.count("\n") == 1, err
        assert not out.exists()


def test_joint_map_naming_missing_joints_fails(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    joint_map = tmp_path / "map.json"
    joint_map.write_text('{"pelvis": "Hips", "left_hip": "UpperLeg_L", "left_knee": "Knee_L"}')
    out = tmp_path / "out.bvh"
    code, _, err = run_cli(["retarget", str(bandai_walk), "--to", "smplx22", "--joint-map", str(joint_map), "-o", str(out),
                            *data_args(data_dir, cache_dir)], capsys)
    assert code == 2 and "Knee_L" in err and "right_hip" in err
    assert not out.exists()


def test_motion_with_nan_fails(bandai_walk, tmp_path, data_dir, cache_dir, capsys) -> None:
    good = tmp_path / "good.npz"
    assert run_cli(["retarget", str(bandai_walk), "--to", "smplx22", "-o", str(good), *data_args(data_dir, cache_dir)],
                   capsys)[0] == 0
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["local_rot_mats"][5, 3] = np.nan
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    out = tmp_path / "out.bvh"
    code, _, err = run_cli(["retarget", str(broken), "--to", "soma30", "-o", str(out), *data_args(data_dir, cache_dir)],
                           capsys)
    assert code == 2 and "local_rot_mats" in err and "finite" in err and err.count("\n") == 1, err
    assert not out.exists()


def test_generate_on_other_skeletons(tmp_path, data_dir, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MOTIONGEN_DATA", str(data_dir))
    folder = tmp_path / "soma"
    code, printed, err = run_cli(["generate", "A person walks forward.", "--frames", "40", "--steps", "3", "--seed", "1",
                                  "--skeleton", "soma77", "-o", str(folder)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("_")) == ["sample_00.bvh", "sample_00.npz"]
    npz, bvh = load_motion(folder / "sample_00.npz"), load_motion(folder / "sample_00.bvh")
    assert npz.skeleton.num_joints == bvh.skeleton.num_joints == 77 and npz.num_frames == 40
    np.testing.assert_allclose(bvh.joint_positions(), npz.joint_positions(), atol=2e-3)  # float32 npz vs 6-decimal BVH

    csv = tmp_path / "walk.csv"
    code, printed, err = run_cli(["generate", "A person walks forward.", "--frames", "40", "--steps", "3", "--seed", "1",
                                  "--skeleton", "g1", "-o", str(csv)], capsys)
    assert code == 0, err
    rows = np.loadtxt(csv, delimiter=",")
    assert rows.shape == (40, 36)
    # the robot walks the same way as the human it was retargeted from: forward is +x in MuJoCo's frame
    human = load_motion(folder / "sample_00.npz").joint_positions()[:, 0]
    assert np.sign(rows[-1, 0] - rows[0, 0]) == np.sign(human[-1, 2] - human[0, 2])


def test_generate_csv_needs_the_g1(tmp_path, capsys) -> None:
    out = tmp_path / "walk.csv"
    code, _, err = run_cli(["generate", "A person walks.", "--frames", "20", "--steps", "2", "-o", str(out)], capsys)
    assert code == 2 and "--skeleton g1" in err and err.count("\n") == 1
    assert not out.exists()


def test_out_of_range_g1_motion_is_refused_or_clamped(tmp_path, data_dir, cache_dir, capsys) -> None:
    from motiongen.io.kimodo_npz import write_kimodo_npz
    from motiongen.io.mujoco_csv import g1_motion_from_qpos
    from motiongen.skeleton.registry import get_skeleton

    g1 = get_skeleton("g1", data_dir, cache_dir)
    hinges = list(g1.extras["hinges"])
    knee = g1.extras["hinges"]["left_knee_skel"]
    angles = np.linspace(0.5, knee["range"][1] + 0.4, 30)  # the last frames bend the knee past its limit
    qpos = np.zeros((30, 36))
    qpos[:, 2], qpos[:, 3] = 0.79, 1.0  # standing height, identity root quaternion (w first)
    qpos[:, 7 + hinges.index("left_knee_skel")] = angles
    source = tmp_path / "g1.npz"
    write_kimodo_npz(g1_motion_from_qpos(qpos, g1), source)
    out = tmp_path / "g1.csv"
    code, _, err = run_cli(["convert", str(source), str(out), *data_args(data_dir, cache_dir)], capsys)
    assert code == 2 and "left_knee" in err and "--clamp-limits" in err and not out.exists()
    code, _, err = run_cli(["convert", str(source), str(out), "--clamp-limits", *data_args(data_dir, cache_dir)], capsys)
    assert code == 0, err
    rows = np.loadtxt(out, delimiter=",")
    column = 7 + hinges.index("left_knee_skel")
    assert rows[:, column].max() == pytest.approx(knee["range"][1])
    np.testing.assert_allclose(rows[:10, column], angles[:10], atol=1e-6)  # in-range frames untouched
