"""Evaluator feature formats on real data: HumanML3D-263 against the official sample files
(``humanml3d-sample``: decode, FK of the rotation block, re-encode, statistics), our encode -> decode
of real Bandai clips for 263 and MotionStreamer-272, the 272 properties the reference states (no
272 sample files are in the archives), and ``export-features`` (API and command line)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from motiongen.cli import main
from motiongen.errors import InputError
from motiongen.features import (
    hml263_canonical_positions,
    hml263_rotations_to_positions,
    hml263_to_positions,
    motion_to_hml263,
    motion_to_ms272,
    ms272_canonical_motion,
    ms272_to_motion,
    ms272_to_positions,
    positions_rotations_to_ms272,
    positions_to_hml263,
)
from motiongen.features.common import (
    matrix_to_c6,
    matrix_to_r6,
    r6_to_matrix,
    rotation_y,
)
from motiongen.features.export import (
    MANIFEST_NAME,
    export_features,
    read_features_manifest,
)
from motiongen.features.hml263 import (
    FACE_JOINTS,
    HML263_BLOCKS,
    TARGET_LENGTHS,
    hml263_input_positions,
)
from motiongen.features.ms272 import MS272_BLOCKS, pelvis_heading
from motiongen.features.normalization import (
    denormalize,
    feature_statistics,
    normalize,
    t2m_evaluator_std,
)
from motiongen.io.formats import load_motion, save_motion
from motiongen.motion.motion import Motion
from motiongen.motion.motion_135 import motion_to_motion_135
from motiongen.skeleton.registry import BANDAI_REFERENCE, get_skeleton

pytestmark = pytest.mark.data

SAMPLE = "humanml3d-sample/HumanML3D"
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
#: Block-averaged std of HumanML3D's Std.npy (reference 1.9).
HML263_STD = {
    "root_angular_velocity": 0.012826, "root_linear_velocity": 0.016927, "root_height": 0.153766,
    "ric_positions": 0.122244, "rotations": 0.299692, "local_velocities": 0.019470, "foot_contacts": 0.355933,
}
#: float32 fixtures and float32 outputs (reference 5: 1e-5 against fixtures)
TOL = 1e-5


@pytest.fixture(scope="module")
def sample(raw) -> dict[str, np.ndarray]:
    folder = raw("humanml3d_sample") / SAMPLE
    return {
        "vecs": np.load(folder / "new_joint_vecs" / "012314.npy"),
        "joints": np.load(folder / "new_joints" / "012314.npy"),
        "mean": np.load(folder / "Mean.npy"),
        "std": np.load(folder / "Std.npy"),
    }


@pytest.fixture(scope="module")
def smplx(data_dir: Path, cache_dir: Path):
    return get_skeleton("smplx22", data_dir, cache_dir)


@pytest.fixture(scope="module")
def clips(data_dir: Path, cache_dir: Path, smplx) -> list[Motion]:
    """Real Bandai clips on smplx22 at 30 fps from a tiny built dataset."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    motions = [dataset[i][0] for i in range(min(3, len(dataset)))]
    assert motions and all(m.skeleton == smplx and m.fps == 30.0 and m.num_frames >= 60 for m in motions)
    return motions


def yaw_turned(motion: Motion, angle: float, shift: np.ndarray) -> Motion:
    """``motion`` turned about the world Y axis by ``angle`` and then moved by ``shift``."""
    turn = rotation_y(np.float64(angle))
    rotations = motion.local_rotations.copy()
    rotations[:, 0] = turn @ rotations[:, 0]
    return Motion(rotations, motion.root_translation @ turn.T + shift, motion.fps, motion.skeleton)


# ---------------------------------------------------------------------------------------------- 263
def test_sample_decodes_to_its_joints_file(sample) -> None:
    """``new_joints`` is ``recover_from_ric(new_joint_vecs)`` (reference 5.1: 1.2e-6 in float32)."""
    vecs, joints = sample["vecs"], sample["joints"]
    assert vecs.shape == (170, 263) and joints.shape == (170, 22, 3)
    decoded = hml263_to_positions(vecs)
    assert decoded.shape == (170, 22, 3)
    assert np.abs(decoded - joints).max() < TOL
    # batch-agnostic: leading axes pass through, each motion decoded on its own
    batch = hml263_to_positions(np.stack([vecs, vecs[::-1].copy()]))
    assert np.array_equal(batch[0], decoded)
    assert np.allclose(batch[1], hml263_to_positions(vecs[::-1].copy()))


def test_sample_rotation_block_fk_reproduces_joints(sample) -> None:
    """FK on the C6 rotation block with the uniform skeleton (``recover_from_rot``) lands on the joints."""
    fk = hml263_rotations_to_positions(sample["vecs"])
    assert np.abs(fk - sample["joints"]).max() < TOL
    # the same block read as rows (R6) is the inverse rotations: the body falls apart
    vecs = sample["vecs"].copy()
    block = vecs[:, HML263_BLOCKS["rotations"]].reshape(170, 21, 6)
    as_rows = matrix_to_c6(r6_to_matrix(block))
    vecs[:, HML263_BLOCKS["rotations"]] = as_rows.reshape(170, -1)
    assert np.abs(hml263_rotations_to_positions(vecs) - sample["joints"]).max() > 0.1


def test_reencoding_sample_joints_matches_its_features(sample) -> None:
    """Encoding ``new_joints`` (170 frames) gives the first 169 rows: exact up to float32 where the
    80-frame heading smoothing window is complete (rows 0..79), heights and contacts everywhere."""
    vecs, joints = sample["vecs"], sample["joints"]
    encoded = positions_to_hml263(joints)
    assert encoded.shape == (169, 263) and encoded.dtype == np.float32
    assert np.abs(encoded[:80] - vecs[:80]).max() < TOL
    height, contacts = HML263_BLOCKS["root_height"], HML263_BLOCKS["foot_contacts"]
    assert np.abs(encoded[:, height] - vecs[:169, height]).max() < 1e-6
    assert np.array_equal(encoded[:, contacts], vecs[:169, contacts])
    assert set(np.unique(vecs[:, contacts])) == {0.0, 1.0}
    # beyond row 80 the missing 171st source frame shifts the smoothed heading slightly (reference 5.1)
    assert np.abs(encoded[80:] - vecs[80:169]).max() < 0.02


def test_sample_statistics_are_block_averaged(sample) -> None:
    std = sample["std"]
    for name, block in HML263_BLOCKS.items():
        assert np.ptp(std[block]) == 0.0, name
        assert std[block][0] == pytest.approx(HML263_STD[name], rel=1e-4), name
    mean, ours = feature_statistics([sample["vecs"], np.full((3, 263), np.nan)], "hml263")
    assert np.allclose(mean, sample["vecs"].astype(np.float64).mean(0))
    assert all(np.ptp(ours[block]) == 0.0 for block in HML263_BLOCKS.values())
    assert ours[HML263_BLOCKS["ric_positions"]][0] == pytest.approx(sample["vecs"][:, 4:67].std(0).mean(), rel=1e-5)
    normalised = normalize(sample["vecs"], sample["mean"], std)
    assert np.allclose(denormalize(normalised, sample["mean"], std), sample["vecs"], atol=1e-6)
    evaluator = t2m_evaluator_std(std)
    assert np.allclose(evaluator[0:4], std[0:4] / 5) and np.allclose(evaluator[259:], std[259:] / 5)
    assert np.array_equal(evaluator[4:259], std[4:259])
    with pytest.raises(InputError, match="unknown feature format"):
        feature_statistics([sample["vecs"]], "hml264")


def test_bandai_encode_decode_263(clips) -> None:
    """decode(encode(motion)) is the canonical 20 fps positions (reference 1.10), by both decoders."""
    for motion in clips:
        features = motion_to_hml263(motion)
        frames_20 = math.floor((motion.num_frames - 1) * 20 / 30) + 1
        assert features.shape == (frames_20 - 1, 263) and features.dtype == np.float32
        canonical = hml263_canonical_positions(hml263_input_positions(motion))
        assert np.abs(hml263_to_positions(features) - canonical[:-1]).max() < TOL
        assert np.abs(hml263_rotations_to_positions(features) - canonical[:-1]).max() < TOL
        # canonical: on the floor, frame-0 root at the origin, uniform bone lengths, frame 0 facing +Z
        assert canonical[..., 1].min() == pytest.approx(0.0, abs=1e-12)
        assert np.allclose(canonical[0, 0, [0, 2]], 0.0, atol=1e-12)
        lengths = np.linalg.norm(canonical[:, 1:] - canonical[:, list(PARENTS[1:])], axis=-1)
        assert np.allclose(lengths, TARGET_LENGTHS[1:], atol=1e-9)
        r_hip, l_hip, r_sh, l_sh = FACE_JOINTS
        across = canonical[0, r_hip] - canonical[0, l_hip] + canonical[0, r_sh] - canonical[0, l_sh]
        forward = np.cross([0.0, 1.0, 0.0], across)
        assert np.allclose(forward / np.linalg.norm(forward), [0.0, 0.0, 1.0], atol=1e-9)


def test_263_ignores_start_facing_scale_even_a_half_turn(clips) -> None:
    """The canonicalisation removes start position, facing (an exact half turn hits the 0/0 of
    ``qbetween``: here the +Y fallback) and body size (the uniform skeleton)."""
    positions = hml263_input_positions(clips[0])
    reference = positions_to_hml263(positions)
    half_turn = positions * np.array([-1.0, 1.0, -1.0]) + np.array([3.0, 0.4, -2.0])
    assert np.abs(positions_to_hml263(half_turn) - reference).max() < TOL
    assert np.abs(positions_to_hml263(positions * 1.3) - reference).max() < TOL


def test_263_bone_opposite_its_rest_direction_stays_finite(clips) -> None:
    """An arm straight up is the exact opposite of its rest direction (-Y): the swing falls back to
    a half turn about a fixed perpendicular axis and FK of the rotation block still reproduces it."""
    positions = hml263_input_positions(clips[0])
    for child, parent in ((18, 16), (20, 18)):
        length = np.linalg.norm(positions[:, child] - positions[:, parent], axis=-1, keepdims=True)
        positions[:, child] = positions[:, parent] + length * np.array([0.0, 1.0, 0.0])
    features = positions_to_hml263(positions)
    assert np.isfinite(features).all()
    canonical = hml263_canonical_positions(positions)
    assert np.abs(hml263_rotations_to_positions(features) - canonical[:-1]).max() < TOL


def test_263_refuses_other_rigs_and_too_short_motions(clips, raw) -> None:
    bandai = load_motion(raw("bandai") / BANDAI_REFERENCE)
    with pytest.raises(InputError, match="smplx22") as info:
        motion_to_hml263(bandai)
    assert info.value.field == "skeleton"
    with pytest.raises(InputError, match="at least 2"):
        motion_to_hml263(clips[0][:1])
    with pytest.raises(InputError, match="expected"):
        hml263_to_positions(np.zeros((5, 262)))


# ---------------------------------------------------------------------------------------------- 272
def test_bandai_encode_decode_272(clips, smplx) -> None:
    """decode(encode(motion)) is the motion floored, at the origin, facing +Z: positions and rotations."""
    for motion in clips:
        features = motion_to_ms272(motion)
        assert features.shape == (motion.num_frames, 272) and features.dtype == np.float32
        canonical = ms272_canonical_motion(motion)
        assert np.abs(ms272_to_positions(features) - canonical.joint_positions()).max() < TOL
        decoded = ms272_to_motion(features, smplx)
        assert decoded.fps == 30.0 and decoded.meta["rot6d_layout"] == "R6"
        assert np.abs(decoded.local_rotations - canonical.local_rotations).max() < TOL
        assert np.abs(decoded.root_translation - canonical.root_translation).max() < TOL
        assert np.abs(pelvis_heading(canonical.local_rotations[0, 0])) < 1e-9
        # the clips do not start facing +Z, so the canonical motion is really turned
        assert np.abs(canonical.joint_positions() - motion.joint_positions()).max() > 0.05


def test_272_float64_round_trip_is_exact(clips, smplx) -> None:
    motion = clips[1]
    features = positions_rotations_to_ms272(motion.joint_positions(), motion.local_rotations)
    assert features.dtype == np.float64
    canonical = ms272_canonical_motion(motion)
    decoded = ms272_to_motion(features, smplx)
    assert np.abs(decoded.joint_positions() - canonical.joint_positions()).max() < 1e-9
    assert np.abs(decoded.local_rotations - canonical.local_rotations).max() < 1e-9


def test_272_layout_rows(clips) -> None:
    """Row 0 and the block relations the reference states (2.5)."""
    motion = clips[0]
    f = positions_rotations_to_ms272(motion.joint_positions(), motion.local_rotations)
    assert np.array_equal(f[0, 0:2], [0.0, 0.0]) and np.array_equal(f[0, 2:8], [1, 0, 0, 0, 1, 0])
    assert np.array_equal(f[0, MS272_BLOCKS["velocities"]], np.zeros(66))
    positions = f[:, MS272_BLOCKS["positions"]].reshape(-1, 22, 3)
    assert np.allclose(positions[:, 0, [0, 2]], 0.0, atol=1e-12)  # the root entry is (0, height, 0)
    assert np.allclose(positions[:, 0, 1], motion.root_translation[:, 1] - motion.joint_positions()[..., 1].min())
    velocities = f[1:, MS272_BLOCKS["velocities"]].reshape(-1, 22, 3)
    assert np.allclose(velocities, positions[1:] - positions[:-1], atol=1e-12)
    heading = pelvis_heading(motion.local_rotations[:, 0])
    assert np.allclose(f[1:, 2:8], matrix_to_r6(rotation_y(heading[1:] - heading[:-1])), atol=1e-12)
    # rotations of joints 1..21 are the motion's own locals, stored as rows
    rotations = f[:, MS272_BLOCKS["rotations"]].reshape(-1, 22, 6)
    assert np.allclose(rotations[:, 1:], matrix_to_r6(motion.local_rotations[:, 1:]), atol=1e-12)
    # root displacement t-1 -> t in the heading frame of t-1
    step = motion.root_translation[1:] - motion.root_translation[:-1]
    expected = np.einsum("tij,tj->ti", rotation_y(heading[:-1]), step)[:, [0, 2]]
    assert np.allclose(f[1:, 0:2], expected, atol=1e-12)


def test_272_rotation_block_is_r6_known_answer(clips) -> None:
    """A pelvis pitched 30 degrees about X (no yaw) and a left elbow bent 40 degrees about Z, stored as rows."""
    motion = clips[0][:5]
    rotations = motion.local_rotations.copy()
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    rotations[:, 0] = [[1, 0, 0], [0, c, -s], [0, s, c]]
    c4, s4 = math.cos(math.radians(40)), math.sin(math.radians(40))
    rotations[:, 18] = [[c4, -s4, 0], [s4, c4, 0], [0, 0, 1]]
    f = motion_to_ms272(Motion(rotations, motion.root_translation, motion.fps, motion.skeleton))
    assert np.allclose(f[:, 140:146], [1, 0, 0, 0, c, -s], atol=1e-6)
    assert np.allclose(f[:, 140 + 6 * 18:146 + 6 * 18], [c4, -s4, 0, s4, c4, 0], atol=1e-6)
    assert not np.allclose(f[0, 140:146], matrix_to_c6(rotations[0, 0]), atol=1e-3)  # C6 would be the transpose


def test_272_turning_in_place_has_zero_velocities(clips) -> None:
    """A body spinning about its own vertical axis: heading deltas only, no root or joint velocity."""
    pose = clips[0][:1]
    frames, step = 12, math.radians(5.0)
    rotations = np.repeat(pose.local_rotations, frames, axis=0)
    rotations[:, 0] = rotation_y(step * np.arange(frames)) @ rotations[:, 0]
    spin = Motion(rotations, np.repeat(pose.root_translation, frames, axis=0), 30.0, pose.skeleton)
    f = motion_to_ms272(spin)
    assert np.abs(f[:, 0:2]).max() < 1e-6 and np.abs(f[:, MS272_BLOCKS["velocities"]]).max() < 1e-6
    assert np.allclose(f[1:, 2:8], matrix_to_r6(rotation_y(np.float64(-step))), atol=1e-6)
    assert np.abs(f[:, MS272_BLOCKS["positions"]] - f[0, MS272_BLOCKS["positions"]]).max() < 1e-6


def test_272_ignores_start_position_and_facing(clips) -> None:
    motion = clips[2]
    reference = motion_to_ms272(motion)
    moved = yaw_turned(motion, 2.0, np.array([1.5, 0.3, -4.0]))
    assert np.abs(motion_to_ms272(moved) - reference).max() < TOL
    # turned 180 degrees exactly too (the heading is an atan2; no degenerate case)
    assert np.abs(motion_to_ms272(yaw_turned(motion, math.pi, np.zeros(3))) - reference).max() < TOL


def test_272_refuses_bad_input(clips, smplx, raw) -> None:
    with pytest.raises(InputError, match="smplx22"):
        motion_to_ms272(load_motion(raw("bandai") / BANDAI_REFERENCE))
    with pytest.raises(InputError, match="expected"):
        ms272_to_motion(np.zeros((4, 271)), smplx)
    bad = motion_to_ms272(clips[0][:4])
    bad[2, 20] = np.nan
    with pytest.raises(InputError, match="NaN"):
        ms272_to_motion(bad, smplx)


# ------------------------------------------------------------------------------------------- export
@pytest.fixture(scope="module")
def motion_folder(tmp_path_factory, clips, raw) -> Path:
    """Two smplx22 clips as KIMODO .npz (one in a subfolder) and a raw Bandai BVH (bandai22 rig)."""
    folder = tmp_path_factory.mktemp("motions")
    save_motion(clips[0], folder / "a.npz")
    save_motion(clips[1], folder / "sub" / "b.npz")
    shutil.copy(raw("bandai") / BANDAI_REFERENCE, folder / "walk.bvh")
    (folder / "notes.txt").write_text("not a motion")
    return folder


@pytest.mark.parametrize(("fmt", "dim", "fps", "layout"), [
    ("hml263", 263, 20.0, "C6"), ("ms272", 272, 30.0, "R6"), ("motion135", 135, 30.0, "I6"),
])
def test_export_features_each_format(motion_folder, tmp_path, data_dir, cache_dir, smplx, fmt, dim, fps, layout) -> None:
    out = tmp_path / "out"
    manifest = export_features(motion_folder, out, fmt, data_dir=data_dir, cache_dir=cache_dir, progress=False)
    assert manifest == json.loads((out / MANIFEST_NAME).read_text()) == read_features_manifest(out)
    assert (manifest["format"], manifest["dim"], manifest["fps"], manifest["rot6d_layout"]) == (fmt, dim, fps, layout)
    assert [r["output"] for r in manifest["files"]] == ["a.npy", "sub/b.npy", "walk.npy"]
    by_name = {r["input"]: r for r in manifest["files"]}
    assert by_name["walk.bvh"]["retargeted"] and by_name["walk.bvh"]["source_skeleton"] == "bandai22"
    assert not by_name["a.npz"]["retargeted"] and by_name["a.npz"]["source_skeleton"] == "smplx22"
    body = manifest["body"]
    assert body is not None and body["parents"] == list(PARENTS) and np.asarray(body["rest_joints"]).shape == (22, 3)
    if fmt != "hml263":
        assert np.allclose(body["rest_joints"], smplx.rest_positions(), atol=1e-8)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.npy", "features.json", "sub/b.npy", "walk.npy"
    ]
    for record in manifest["files"]:
        array = np.load(out / record["output"])
        assert array.dtype == np.float32 and array.shape == tuple(record["shape"]) and array.shape[1] == dim
    a = np.load(out / "a.npy")
    source = load_motion(motion_folder / "a.npz")
    if fmt == "hml263":
        assert np.array_equal(a, motion_to_hml263(source))
        assert np.abs(hml263_to_positions(a) - hml263_canonical_positions(hml263_input_positions(source))[:-1]).max() < TOL
    elif fmt == "ms272":
        decoded = ms272_to_motion(a, smplx)
        assert np.abs(decoded.joint_positions() - ms272_canonical_motion(source).joint_positions()).max() < TOL
    else:
        assert np.array_equal(a, motion_to_motion_135(source))


def test_export_features_errors_name_the_problem(motion_folder, tmp_path, data_dir, cache_dir) -> None:
    def run(in_dir: Path, fmt: str = "ms272", out: Path | None = None) -> InputError:
        with pytest.raises(InputError) as info:
            export_features(in_dir, out or tmp_path / "out", fmt, data_dir=data_dir, cache_dir=cache_dir, progress=False)
        return info.value

    assert "unknown feature format 'hml264'" in str(run(motion_folder, "hml264"))
    assert "not found" in str(run(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert "no motion files" in str(run(tmp_path / "empty"))

    broken = tmp_path / "broken"
    shutil.copytree(motion_folder, broken)
    (broken / "zz_bad.npz").write_bytes(b"this is not a zip archive")
    error = run(broken, out=tmp_path / "out_broken")
    assert error.path == str(broken / "zz_bad.npz") and "not a readable .npz file" in str(error)
    assert str(error).count("zz_bad.npz") == 1
    assert not (tmp_path / "out_broken" / MANIFEST_NAME).exists()  # an unfinished export has no manifest

    clash = tmp_path / "clash"
    clash.mkdir()
    shutil.copy(motion_folder / "a.npz", clash / "x.npz")
    shutil.copy(motion_folder / "walk.bvh", clash / "x.bvh")
    assert "would both be written to 'x.npy'" in str(run(clash, out=tmp_path / "out_clash"))
    assert not (tmp_path / "out_clash").exists()


def test_export_features_command_line(motion_folder, tmp_path, data_dir, cache_dir, capsys) -> None:
    data = ["--source", str(data_dir), "--cache", str(cache_dir)]
    out = tmp_path / "cli_out"
    code = main(["export-features", "--format", "hml263", str(motion_folder), "-o", str(out), *data])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "wrote 3 hml263 files" in printed and "1 retargeted" in printed
    assert read_features_manifest(out)["rot6d_layout"] == "C6"

    assert main(["export-features", "--format", "h263", str(motion_folder), "-o", str(tmp_path / "x"), *data]) == 2
    assert capsys.readouterr().err.strip().endswith("unknown feature format 'h263'; known: hml263, ms272, motion135")
    with pytest.raises(SystemExit) as info:  # a missing option: one line, exit 2, as the other subcommands
        main(["export-features", str(motion_folder), "-o", str(tmp_path / "x")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--format" in err[0]
    assert not (tmp_path / "x").exists()


def test_export_features_through_main(motion_folder, tmp_path, data_dir, cache_dir, capsys) -> None:
    out = tmp_path / "main_out"
    code = main(["export-features", "--format", "ms272", str(motion_folder), "-o", str(out),
                 "--source", str(data_dir), "--cache", str(cache_dir), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert read_features_manifest(out)["format"] == "ms272"
    assert main(["export-features", "--format", "ms273", str(motion_folder), "-o", str(out)]) == 2
    assert "unknown feature format 'ms273'" in capsys.readouterr().err
