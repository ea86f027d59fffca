"""``motiongen generate`` with kinematic control: --constraints (KIMODO's shipped SOMA example files),
the task options (--inbetween, --stitch, --prepend, --path, --waypoints) on real mocap clips, the
post-processing switches, and bad input (exit 2, one line, nothing written). Tiny untrained bundles
passed by path (see test_pipeline.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_pipeline import make_tiny_bundle

from motiongen.cli import main
from motiongen.io.constraints_json import read_constraints_json
from motiongen.io.formats import load_motion, save_motion
from motiongen.motion.motion import Motion
from motiongen.skeleton.registry import get_skeleton

pytestmark = pytest.mark.data

EXAMPLES = "kimodo-assets/examples/kimodo-soma-rp"
STEPS = ("--steps", "2")
MARGIN = 0.02  # the pipeline's default root margin
DENSE_SLACK = 0.003  # see test_constrained_pipeline.DENSE_SLACK


@pytest.fixture(scope="session")
def model(tmp_path_factory, data_dir: Path, cache_dir: Path) -> str:
    return str(make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle", data_dir, cache_dir))


@pytest.fixture(scope="session")
def long_model(tmp_path_factory, data_dir: Path, cache_dir: Path) -> str:
    """Room for KIMODO's example lengths (150-300 frames)."""
    path = tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle_304"
    return str(make_tiny_bundle(path, data_dir, cache_dir, max_frames=304))


@pytest.fixture(autouse=True)
def text_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path_factory.getbasetemp() / "cli_cache"))


@pytest.fixture(scope="module")
def examples(raw) -> Path:
    return raw("kimodo") / EXAMPLES


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, data_dir: Path, cache_dir: Path, raw) -> dict[str, Path]:
    """Real clips as input files: Bandai clips on smplx22 (.npz and .bvh), a raw Bandai BVH (its own
    rig, retargeted by the CLI), a G1 motion (no joint map), path files."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    folder = tmp_path_factory.mktemp("cli_inputs")
    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    walk, other = dataset[0][0][:30], dataset[1][0][40:65]
    files = {
        "walk.npz": save_motion(walk, folder / "walk.npz"),
        "other.npz": save_motion(other, folder / "other.npz"),
        "other.bvh": save_motion(other, folder / "other.bvh"),
    }
    bandai = min((raw("bandai") / "dataset").glob("*/data/*walk*.bvh"))
    files["bandai.bvh"] = bandai
    g1 = get_skeleton("g1", data_dir, cache_dir)
    files["g1.npz"] = save_motion(Motion(np.broadcast_to(np.eye(3), (10, 34, 3, 3)), np.tile([0, 0.8, 0], (10, 1)), 30.0, g1), folder / "g1.npz")
    path = np.stack([np.linspace(0, 0.3, 36), np.linspace(0, 1.2, 36)], -1)
    files["path.csv"] = folder / "path.csv"
    files["path.csv"].write_text("x,z\n" + "\n".join(f"{x:.6f},{z:.6f}" for x, z in path) + "\n")
    files["path.json"] = folder / "path.json"
    files["path.json"].write_text(json.dumps(path[:20].tolist()))
    files["bad.json"] = folder / "bad.json"
    files["bad.json"].write_text('[{"type": "root2d", "frame_indices": [0, 1], "smooth_root_2d": [[0, 0], [1, 1]]')
    files["badtype.json"] = folder / "badtype.json"
    files["badtype.json"].write_text('{"type": "root2d", "frame_indices": [0], "smooth_root_2d": [[0, 0]]}')
    files["badpath.csv"] = folder / "badpath.csv"
    files["badpath.csv"].write_text("x,z\n0,0\n0.1,0.2\n0.2,zero\n")
    return files


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    code = main(["generate", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def generate(capsys, out: Path, *argv: str) -> np.lib.npyio.NpzFile:
    code, lines, err = run(capsys, *argv, *STEPS, "-o", str(out))
    assert code == 0 and err == [], err
    assert len(lines) == 1 and lines[0].startswith(f"wrote {out} (")
    return np.load(out)


def error_rows(root: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.linalg.norm(root[:, [0, 2]] - targets, axis=-1)


# --------------------------------------------------------------------------------------------------
def test_constraints_from_shipped_examples(capsys, long_model, examples, tmp_path):
    # waypoints (06): the pelvis passes within the root margin of each
    waypoints = examples / "06_root_waypoints" / "constraints.json"
    record = read_constraints_json(waypoints)[0]
    prompt = json.loads((examples / "06_root_waypoints" / "meta.json").read_text())["text"]
    with generate(capsys, tmp_path / "dance.npz", prompt, "--frames", "181", "--seed", "42", "--model", long_model,
                  "--constraints", str(waypoints)) as data:
        root = data["posed_joints"][:, 0]
        assert root.shape[0] == 181
        assert error_rows(root[record.frame_indices], record.smooth_root_2d).max() <= MARGIN + 0.001
    # --root-margin widens the ball; --no-postprocess --impute 0 leaves the untrained model's raw root (far off)
    with generate(capsys, tmp_path / "wide.npz", prompt, "--frames", "181", "--seed", "42", "--model", long_model,
                  "--constraints", str(waypoints), "--root-margin", "0.3") as data:
        wide = error_rows(data["posed_joints"][record.frame_indices, 0], record.smooth_root_2d)
        assert wide.max() <= 0.3 + 0.001 and wide.max() > MARGIN + 0.001
    with generate(capsys, tmp_path / "raw.npz", prompt, "--frames", "181", "--seed", "42", "--model", long_model,
                  "--constraints", str(waypoints), "--no-postprocess", "--impute", "0") as data:
        assert error_rows(data["posed_joints"][record.frame_indices, 0], record.smooth_root_2d).max() > 0.3

    # full-body keyframes (03, SOMA 30-joint poses mapped onto smplx22) over two prompts, 5 s in all
    keys = examples / "03_full_body_keyframes" / "constraints.json"
    record = read_constraints_json(keys)[0]
    with generate(capsys, tmp_path / "pick.npz", "A person walks forward.", "A person picks something up.",
                  "--duration", "2.5", "--seed", "43", "--model", long_model, "--constraints", str(keys)) as data:
        assert data["posed_joints"].shape[0] == 150
        # the mapped pelvis keeps the file's floor position and nearly its height (smplx legs)
        pelvis = data["posed_joints"][record.frame_indices, 0]
        np.testing.assert_allclose(pelvis[:, [0, 2]], record.root_positions[:, [0, 2]], atol=1e-5)
        assert np.abs(pelvis[:, 1] - record.root_positions[:, 1]).max() < 0.03
    # mixed (07, a dense path and a full-body key), imputing on half the steps: the path is followed
    mixed = examples / "07_mixed_constraints" / "constraints.json"
    path = next(r for r in read_constraints_json(mixed) if r.type == "root2d")
    with generate(capsys, tmp_path / "mixed.npz", "A person walks backward and points right.", "--frames", "152",
                  "--seed", "49", "--model", long_model, "--constraints", str(mixed), "--impute", "0.5") as data:
        assert error_rows(data["posed_joints"][:, 0], path.smooth_root_2d).max() <= MARGIN + DENSE_SLACK


def test_task_options(capsys, model, inputs, tmp_path, monkeypatch, cache_dir):
    walk, other = load_motion(inputs["walk.npz"]), load_motion(inputs["other.npz"])
    # in-betweening: --frames new frames from walk's last pose to other's first (read back from a BVH)
    with generate(capsys, tmp_path / "between.npz", "A person jumps.", "--inbetween", str(inputs["walk.npz"]),
                  str(inputs["other.bvh"]), "--frames", "36", "--seed", "1", "--model", model) as data:
        joints = data["posed_joints"]
        assert joints.shape[0] == 36
        np.testing.assert_allclose(joints[0], walk.joint_positions()[-1], atol=1e-4)
        np.testing.assert_allclose(joints[-1], other.joint_positions()[0], atol=1e-3)  # BVH stores rounded numbers
    # stitch: walk, a 12-frame transition, other (kept exactly, turned to continue walk)
    with generate(capsys, tmp_path / "stitched.npz", "A person walks on.", "--stitch", str(inputs["walk.npz"]),
                  str(inputs["other.npz"]), "--frames", "12", "--seed", "2", "--model", model) as data:
        joints = data["posed_joints"]
        assert joints.shape[0] == walk.num_frames + 12 + other.num_frames
        np.testing.assert_allclose(joints[: walk.num_frames], walk.joint_positions(), atol=1e-4)
        np.testing.assert_allclose(joints[walk.num_frames + 12 :, :, 1], other.joint_positions()[:, :, 1], atol=1e-4)
    # prepend: a 15-frame lead-in, then other
    with generate(capsys, tmp_path / "prepended.npz", "A person runs up.", "--prepend", str(inputs["other.npz"]),
                  "--frames", "15", "--seed", "3", "--model", model) as data:
        joints = data["posed_joints"]
        assert joints.shape[0] == 15 + other.num_frames
        np.testing.assert_allclose(joints[15:], other.joint_positions(), atol=1e-4)
    # prepend a raw Bandai BVH: another rig, retargeted onto the model's skeleton first (its calibration
    # pose comes from the Bandai archive, unpacked in the cache as a user's would be)
    monkeypatch.setenv("MOTIONGEN_CACHE", str(cache_dir))
    bandai = load_motion(inputs["bandai.bvh"])
    assert "pelvis" not in bandai.skeleton.joint_names  # Bandai's own 22-joint rig, not smplx22
    with generate(capsys, tmp_path / "bandai.npz", "A person walks.", "--prepend", str(inputs["bandai.bvh"]),
                  "--frames", "10", "--seed", "3", "--model", model) as data:
        assert data["posed_joints"].shape == (10 + bandai.num_frames, 22, 3)
        assert data["posed_joints"][10:, :, 1].min() > -0.05  # retargeted with the feet on the floor
    # a dense path from CSV (one row per frame: 36 frames) and from JSON (20)
    for name, rows in (("path.csv", 36), ("path.json", 20)):
        target = np.loadtxt(inputs["path.csv"], delimiter=",", skiprows=1)[:rows]
        with generate(capsys, tmp_path / f"{name}.npz", "A person walks along a line.", "--path", str(inputs[name]),
                      "--seed", "4", "--model", model) as data:
            assert data["posed_joints"].shape[0] == rows
            assert error_rows(data["posed_joints"][:, 0], target).max() <= MARGIN + DENSE_SLACK
    # waypoints: repeated options add up (a negative x needs the '=' form), one value may hold several
    # points separated by ';' or spaces; the start (the origin) is added at frame 0
    with generate(capsys, tmp_path / "waypoints.npz", "A person walks.", "--frames", "40", "--waypoints", "0.3,0.8@12",
                  "--waypoints=-0.2,1.4@25;0.1,1.9@39", "--waypoints", "0.2,1.1@18 0,1.6@31",
                  "--seed", "5", "--model", model) as data:
        root = data["posed_joints"][:, 0]
        assert root.shape[0] == 40
        frames = [0, 12, 18, 25, 31, 39]
        targets = np.array([[0, 0], [0.3, 0.8], [0.2, 1.1], [-0.2, 1.4], [0, 1.6], [0.1, 1.9]])
        assert error_rows(root[frames], targets).max() <= MARGIN + 0.001


BAD = {
    "constraints file missing": (["--constraints", "{tmp}/absent.json"], r"absent\.json: file not found"),
    "malformed constraints JSON": (["--constraints", "{bad.json}"], r"bad\.json:1: malformed JSON"),
    "constraints not an array": (["--constraints", "{badtype.json}"], r"JSON array of constraint objects"),
    "constraint frame past the end": (["--frames", "40", "--constraints", "{03}"],
                                      r"03_full_body_keyframes.*\[0\]\.frame_indices\[0\].*frame 79 is out of range; allowed 0\.\.39"),
    "constraint past the end of two prompts": (["Run.", "--frames", "30", "30", "--constraints", "{06}"],
                                               r"frame 90 is out of range; allowed 0\.\.59"),
    "constraint past the default length": (["--constraints", "{06}"], r"frame 90 is out of range; allowed 0\.\.63"),
    "inbetween file missing": (["--inbetween", "{walk.npz}", "{tmp}/absent.npz"], r"absent\.npz: file not found"),
    "motion format": (["--prepend", "{path.csv}"], r"unsupported motion format '\.csv'"),
    "motion without joint map": (["--prepend", "{g1.npz}"], r"skeleton 'g1' \(34 joints\).*retarget it first"),
    "stitch too long": (["--stitch", "{walk.npz}", "{other.npz}", "--frames", "60"],
                        r"60 transition frames plus 10 context frames.*at most 54 transition frames"),
    "prepend too long": (["--prepend", "{other.npz}", "--frames", "64"], r"at most 63 lead-in frames"),
    "path file missing": (["--path", "{tmp}/absent.csv"], r"absent\.csv, field '--path': file not found"),
    "path row": (["--path", "{badpath.csv}"], r"badpath\.csv:4, field '--path': '0\.2,zero' is not a row"),
    "path frames mismatch": (["--path", "{path.csv}", "--frames", "30"], r"30 frames for a path of 36 rows"),
    "path too long": (["--path", "{long.csv}"], r"70 path rows for prompt 1; this model generates at most 64 frames"),
    "waypoint without frame": (["--waypoints", "1,2"], r"--waypoints.*'1,2' is not X,Z@FRAME"),
    "waypoint negative x without '='": (["--waypoints", "-1,2@3"], r"expected at least one argument; .*--waypoints=-1,2@30"),
    "inbetween one frame": (["--inbetween", "{walk.npz}", "{other.npz}", "--frames", "1"], r"in-betweening needs at least 2 frames"),
    "waypoint not a number": (["--waypoints", "a,2@3"], r"--waypoints.*must be a number, got 'a'"),
    "waypoint negative frame": (["--waypoints", "1,2@-1"], r"--waypoints.*must be an integer >= 0, got '-1'"),
    "waypoint nan": (["--waypoints", "nan,2@3"], r"--waypoints.*finite"),
    "waypoint twice": (["--waypoints", "1,2@5", "2,3@5"], r"frame 5 has two waypoints"),
    "waypoint past the end": (["--frames", "30", "--waypoints", "1,2@30"], r"frame 30 is past the end of the 30-frame motion"),
    "two tasks": (["--path", "{path.csv}", "--waypoints", "1,2@3"], r"not allowed with argument"),
    "task with two prompts": (["Run.", "--waypoints", "1,2@3"], r"--waypoints takes one prompt, got 2"),
    "task with constraints": (["--waypoints", "1,2@3", "--constraints", "{06}"], r"--constraints cannot be combined with --waypoints"),
    "negative root margin": (["--root-margin", "-0.1"], r"--root-margin.*distance >= 0"),
    "root margin text": (["--root-margin", "far"], r"--root-margin.*must be a number"),
    "impute alone": (["--impute", "1"], r"--impute.*no effect without constraints"),
    "impute past 1": (["--waypoints", "1,2@3", "--impute", "2"], r"--impute.*share of steps in \[0, 1\]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_in_one_line_and_writes_nothing(case, capsys, model, inputs, examples, tmp_path):
    argv, pattern = BAD[case]
    (tmp_path / "long.csv").write_text("\n".join(f"0,{0.01 * k}" for k in range(70)))
    names = {**{k: str(v) for k, v in inputs.items()}, "tmp": str(tmp_path),
             "long.csv": str(tmp_path / "long.csv"), "03": str(examples / "03_full_body_keyframes" / "constraints.json"),
             "06": str(examples / "06_root_waypoints" / "constraints.json")}
    argv = [re.sub(r"\{([^}]+)\}", lambda m: names[m[1]], a) for a in argv]
    argv = ["Walk.", *argv]
    out = tmp_path / "out"
    code = None
    try:
        code, lines, err = run(capsys, *argv, *STEPS, "--model", model, "-o", str(out / "x.npz"))
    except SystemExit as exc:  # argparse's own errors (one line too, see add_generate_parser)
        code, captured = exc.code, capsys.readouterr()
        lines, err = captured.out.splitlines(), captured.err.splitlines()
    assert code == 2 and lines == [], (case, lines)
    assert len(err) == 1 and err[0].startswith("motiongen: error: "), err
    assert re.search(pattern, err[0]), err[0]
    assert not out.exists()


def test_checked_before_the_model_loads(capsys, inputs, tmp_path):
    """File and number mistakes are reported even when the model itself is missing: they come first."""
    missing = str(tmp_path / "no-model")
    cases = [
        (["--constraints", str(inputs["bad.json"])], "malformed JSON"),
        (["--waypoints", "1;2"], "not X,Z@FRAME"),
        (["--path", str(inputs["badpath.csv"])], "is not a row"),
        (["--inbetween", str(inputs["walk.npz"]), str(tmp_path / "absent.bvh")], "file not found"),
        (["--frames", "30", "--waypoints", "1,2@31"], "past the end"),
    ]
    for argv, pattern in cases:
        code, lines, err = run(capsys, "Walk.", *argv, "--model", missing, "-o", str(tmp_path / "x.npz"))
        assert code == 2 and lines == [] and len(err) == 1 and pattern in err[0], err
    # and the model problem shows once the inputs are right
    code, _, err = run(capsys, "Walk.", "--frames", "30", "--waypoints", "1,2@29", "--model", missing, "-o", str(tmp_path / "x.npz"))
    assert code == 2 and "no-model" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
