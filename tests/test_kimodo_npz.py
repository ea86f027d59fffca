"""KIMODO motion .npz reading and writing on the shipped example motions (reference kimodo.md 5.1, 3.3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motiongen.errors import InputError
from motiongen.io.kimodo_npz import KIMODO_NPZ_KEYS, SKELETON_KEY, read_kimodo_npz, soma30_to_soma77, write_kimodo_npz
from motiongen.motion.kimodo_features import smooth_root_position
from motiongen.motion.motion import Motion
from motiongen.skeleton.kimodo_assets import load_kimodo_skeleton
from motiongen.skeleton.skeleton import Skeleton

pytestmark = pytest.mark.data

#: SOMA30 joints whose SOMA77 namesakes sit elsewhere: the hand end points hang straight off the
#: wrist in SOMA30 but end the relaxed, curled fingers in SOMA77 (reference 3.3).
HAND_ENDS = ("LeftHandThumbEnd", "LeftHandMiddleEnd", "RightHandThumbEnd", "RightHandMiddleEnd")


@pytest.fixture(scope="module")
def assets(raw) -> Path:
    return raw("kimodo") / "kimodo-assets"


@pytest.fixture(scope="module")
def examples(assets: Path) -> list[Path]:
    files = sorted((assets / "examples").glob("*/*/motion.npz"))
    assert len(files) >= 8
    return files


@pytest.fixture(scope="module")
def stylized(assets: Path) -> Path:
    return assets / "examples" / "kimodo-soma-rp" / "08_stylized_text" / "motion.npz"


def test_reads_every_example(examples: list[Path], assets: Path) -> None:
    for path in examples:
        with np.load(path) as data:
            posed, contacts = data["posed_joints"], data["foot_contacts"]
        motion = read_kimodo_npz(path, assets_dir=assets)
        assert motion.skeleton.name == {30: "soma30", 34: "g1"}[posed.shape[1]]
        assert motion.num_frames == posed.shape[0] and motion.fps == 30.0
        np.testing.assert_array_equal(motion.foot_contacts, contacts)
        np.testing.assert_allclose(motion.root_translation, posed[:, 0], atol=1e-7)
        assert np.abs(motion.joint_positions() - posed).max() < 1e-5, path


def test_write_read_round_trip_seven_keys(stylized: Path, assets: Path, tmp_path: Path) -> None:
    motion = read_kimodo_npz(stylized, assets_dir=assets)
    out = write_kimodo_npz(motion, tmp_path / "walk.npz", extra={"fps": np.float32(30)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.npz"]  # no temporary file left behind
    t, j = motion.num_frames, motion.skeleton.num_joints
    with np.load(out) as data:
        assert set(data.files) == set(KIMODO_NPZ_KEYS) | {"fps", SKELETON_KEY}
        assert Skeleton.from_dict(json.loads(str(data[SKELETON_KEY]))) == motion.skeleton
        shapes = {k: data[k].shape for k in KIMODO_NPZ_KEYS}
        dtypes = {k: data[k].dtype for k in KIMODO_NPZ_KEYS}
        smooth, heading, pelvis = data["smooth_root_pos"], data["global_root_heading"], data["root_positions"]
    assert shapes == {
        "posed_joints": (t, j, 3),
        "global_rot_mats": (t, j, 3, 3),
        "local_rot_mats": (t, j, 3, 3),
        "root_positions": (t, 3),
        "smooth_root_pos": (t, 3),
        "global_root_heading": (t, 2),
        "foot_contacts": (t, 4),
    }
    assert dtypes["foot_contacts"] == np.bool_
    assert all(dtypes[k] == np.float32 for k in KIMODO_NPZ_KEYS if k != "foot_contacts")
    # smooth root: y is the raw pelvis height, xz KIMODO's smoothed pelvis path (reference 2.1, 2.4),
    # which keeps within the 6 cm margin up to its half-frame lead
    np.testing.assert_array_equal(smooth[:, 1], pelvis[:, 1])
    expected_xz = smooth_root_position(motion.root_translation[:, [0, 2]])
    np.testing.assert_allclose(smooth[:, [0, 2]], expected_xz, atol=1e-5)
    deviation = np.linalg.norm(smooth[:, [0, 2]] - pelvis[:, [0, 2]], axis=-1)
    assert np.median(deviation) < 0.06 and deviation.max() < 0.1
    # heading is a unit (cos, sin); the examples start facing +Z (reference 10.3.2)
    np.testing.assert_allclose(np.linalg.norm(heading, axis=-1), 1.0, atol=1e-6)
    assert heading[0, 0] > 0.99
    back = read_kimodo_npz(out, assets_dir=assets)
    assert back.skeleton == motion.skeleton
    assert np.abs(back.joint_positions() - motion.joint_positions()).max() < 1e-6
    np.testing.assert_array_equal(back.foot_contacts, motion.foot_contacts)


def test_contacts_computed_when_absent(stylized: Path, assets: Path, tmp_path: Path) -> None:
    motion = read_kimodo_npz(stylized, assets_dir=assets)
    stored = motion.foot_contacts
    motion.foot_contacts = None
    with np.load(write_kimodo_npz(motion, tmp_path / "m.npz")) as data:
        contacts = data["foot_contacts"]
    # the velocity/height heuristic agrees with KIMODO's predicted contacts on 93-97 % (reference 10.3.3)
    assert contacts.dtype == np.bool_ and (contacts == stored).mean() > 0.9


def test_other_frame_rates_are_written_at_30_fps(stylized: Path, assets: Path, tmp_path: Path) -> None:
    motion = read_kimodo_npz(stylized, assets_dir=assets)
    doubled = motion.resample(60.0)
    assert doubled.num_frames == 2 * motion.num_frames - 1
    back = read_kimodo_npz(write_kimodo_npz(doubled, tmp_path / "m.npz"), assets_dir=assets)
    assert back.num_frames == motion.num_frames and back.fps == 30.0
    assert np.abs(back.joint_positions() - motion.joint_positions()).max() < 1e-5


def test_soma30_expands_to_soma77(stylized: Path, assets: Path) -> None:
    motion = read_kimodo_npz(stylized, assets_dir=assets)
    with np.load(stylized) as data:
        posed = data["posed_joints"]
    expanded = soma30_to_soma77(motion, assets)
    s77 = expanded.skeleton
    assert s77.name == "soma77" and expanded.local_rotations.shape == (motion.num_frames, 77, 3, 3)
    positions = expanded.joint_positions()
    names = motion.skeleton.joint_names
    shared = [n for n in names if n not in HAND_ENDS]
    assert len(shared) == 26
    err = np.abs(positions[:, s77.indices(shared)] - posed[:, motion.skeleton.indices(shared)]).max()
    assert err < 1e-5
    # the hand end points move onto the curled fingers: centimetres away from SOMA30's straight ends
    ends = np.linalg.norm(positions[:, s77.indices(HAND_ENDS)] - posed[:, motion.skeleton.indices(HAND_ENDS)], axis=-1)
    assert ends.min() > 0.01
    # asking the reader for soma77 expands the same way
    via_reader = read_kimodo_npz(stylized, s77, assets_dir=assets)
    np.testing.assert_allclose(via_reader.local_rotations, expanded.local_rotations, atol=1e-12)
    with pytest.raises(InputError, match="soma30"):
        soma30_to_soma77(expanded, assets)


def test_demo_layout_batched_and_aliases(stylized: Path, assets: Path, tmp_path: Path) -> None:
    motion = read_kimodo_npz(stylized, assets_dir=assets)
    global_rot, positions = motion.forward_kinematics()
    # demo layout (4 keys, local rotations stored): the stored local rotations are used as they are
    tweaked = motion.local_rotations.copy()
    tweaked[:, 5] = np.eye(3)
    np.savez(
        tmp_path / "demo.npz",
        posed_joints=positions.astype(np.float32),
        global_rot_mats=global_rot.astype(np.float32),
        local_rot_mats=tweaked.astype(np.float32),
        foot_contacts=motion.foot_contacts,
    )
    demo = read_kimodo_npz(tmp_path / "demo.npz", assets_dir=assets)
    np.testing.assert_allclose(demo.local_rotations, tweaked, atol=1e-6)
    # batched [1, T, ...] arrays under the joints_pos / joints_rot aliases
    np.savez(
        tmp_path / "batched.npz",
        joints_pos=positions[None].astype(np.float32),
        joints_rot=global_rot[None].astype(np.float32),
        foot_contacts=motion.foot_contacts[None],
    )
    batched = read_kimodo_npz(tmp_path / "batched.npz", load_kimodo_skeleton("soma30", assets))
    assert np.abs(batched.joint_positions() - positions).max() < 1e-5
    np.testing.assert_array_equal(batched.foot_contacts, motion.foot_contacts)


def bad_file(tmp_path: Path, name: str, **arrays: np.ndarray) -> Path:
    path = tmp_path / name
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def test_malformed_files_raise_with_file_and_field(stylized: Path, assets: Path, tmp_path: Path) -> None:
    with np.load(stylized) as data:
        posed, rot = data["posed_joints"], data["global_rot_mats"]
    with pytest.raises(InputError, match="file not found"):
        read_kimodo_npz(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(InputError, match=r"text\.npz.*not a readable \.npz"):
        read_kimodo_npz(tmp_path / "text.npz")
    np.save(tmp_path / "single.npy", posed)
    with pytest.raises(InputError, match=r"single\.npy.*single array"):
        read_kimodo_npz(tmp_path / "single.npy")
    with pytest.raises(InputError, match=r"field 'posed_joints'.*keys present: global_rot_mats"):
        read_kimodo_npz(bad_file(tmp_path, "a.npz", global_rot_mats=rot))
    with pytest.raises(InputError, match="neither 'local_rot_mats' nor 'global_rot_mats'"):
        read_kimodo_npz(bad_file(tmp_path, "b.npz", posed_joints=posed))
    with pytest.raises(InputError, match=r"field 'posed_joints'.*batch of 2"):
        read_kimodo_npz(bad_file(tmp_path, "c.npz", posed_joints=np.stack([posed, posed]), global_rot_mats=np.stack([rot, rot])))
    with pytest.raises(InputError, match=r"field 'posed_joints'.*31 joints.*30 \(soma30\)"):
        extra_joint = {"posed_joints": np.concatenate([posed, posed[:, :1]], 1), "global_rot_mats": np.concatenate([rot, rot[:, :1]], 1)}
        read_kimodo_npz(bad_file(tmp_path, "d.npz", **extra_joint))
    with pytest.raises(InputError, match=r"field 'global_rot_mats'.*expected \[121, 30, 3, 3\]"):
        read_kimodo_npz(bad_file(tmp_path, "e.npz", posed_joints=posed, global_rot_mats=rot[:-1]), assets_dir=assets)
    nan = posed.copy()
    nan[3, 4, 1] = np.nan
    with pytest.raises(InputError, match=r"field 'posed_joints'.*finite"):
        read_kimodo_npz(bad_file(tmp_path, "f.npz", posed_joints=nan, global_rot_mats=rot), assets_dir=assets)
    with pytest.raises(InputError, match=r"30 joints but skeleton 'g1' has 34"):
        read_kimodo_npz(stylized, load_kimodo_skeleton("g1", assets))
    with pytest.raises(InputError, match=r"field 'foot_contacts'"):
        read_kimodo_npz(bad_file(tmp_path, "g.npz", posed_joints=posed, global_rot_mats=rot, foot_contacts=np.zeros((5, 4), bool)), assets_dir=assets)


def test_write_refuses_to_replace_kimodo_keys(stylized: Path, assets: Path, tmp_path: Path) -> None:
    motion: Motion = read_kimodo_npz(stylized, assets_dir=assets)
    with pytest.raises(InputError, match="posed_joints"):
        write_kimodo_npz(motion, tmp_path / "x.npz", extra={"posed_joints": np.zeros(3)})
    assert not any(tmp_path.iterdir())
