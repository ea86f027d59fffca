"""AMASS-style SMPL-X npz (motiongen.io.amass_npz) on real motions: round trips, the key set and
dtypes, the Z-up / +Y-forward convention checked by an independent SMPL-style FK in AMASS's world,
known answers, real-AMASS-style files (SMPL-H 156, SMPL-X 165, KIMODO keys only), bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from motiongen.errors import InputError
from motiongen.geometry import axis_angle_to_matrix
from motiongen.io.amass_npz import (
    AMASS_NPZ_KEYS,
    KIMODO_TO_AMASS,
    read_amass_npz,
    write_amass_npz,
)
from motiongen.io.bvh import read_bvh
from motiongen.motion.kimodo_features import canonicalize
from motiongen.motion.motion import Motion
from motiongen.retarget.registered import retarget_to
from motiongen.skeleton.kimodo_assets import load_smplx_betas, load_smplx_mean_hands
from motiongen.skeleton.registry import BANDAI_REFERENCE, get_skeleton

pytestmark = pytest.mark.data

#: KIMODO's A (reference 5.3), typed out: our (x, y, z) -> AMASS (-x, z, y)
A = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
#: the smplx22 rest pelvis the reference quotes (4 decimals)
J0 = np.array([0.0023, -0.3723, 0.0123])


@pytest.fixture(scope="module")
def assets(raw) -> Path:
    return raw("kimodo") / "kimodo-assets"


@pytest.fixture(scope="module")
def smplx(data_dir: Path, cache_dir: Path):
    return get_skeleton("smplx22", data_dir, cache_dir)


@pytest.fixture(scope="module")
def clips(data_dir: Path, cache_dir: Path) -> list[Motion]:
    """The tiny built dataset's real clips (Bandai on smplx22)."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    motions = [dataset[i][0] for i in range(len(dataset))]
    assert motions and all(m.skeleton.name == "smplx22" for m in motions)
    return motions


@pytest.fixture(scope="module")
def walker(raw, data_dir: Path, cache_dir: Path) -> Motion:
    """A real Bandai walk on smplx22, canonicalised: frame 0 at the origin facing +Z, walking +Z."""
    walk = read_bvh(raw("bandai") / BANDAI_REFERENCE)
    motion = canonicalize(retarget_to(walk, "smplx22", data_dir=data_dir, cache_dir=cache_dir))
    pelvis = motion.root_translation
    assert pelvis[-1, 2] - pelvis[0, 2] > 5.0  # it does walk forward
    return motion


def amass_world_fk(arrays, skeleton) -> np.ndarray:
    """Joint positions ``[T, 22, 3]`` in AMASS's world the way SMPL-X poses its skeleton: the body's
    rest joints (Y up, facing +Z, pelvis at J0) rotated by ``root_orient`` about J0, then moved by
    ``trans``; written independently of the reader."""
    poses = arrays["poses"]
    frames = poses.shape[0]
    local = axis_angle_to_matrix(poses[:, :66].reshape(frames, 22, 3))
    rest = skeleton.rest_positions()
    glob = [local[:, 0]]
    joints = [np.broadcast_to(rest[0], (frames, 3)) + arrays["trans"]]
    for j, p in enumerate(skeleton.parents[1:], start=1):
        glob.append(glob[p] @ local[:, j])
        joints.append(joints[p] + glob[p] @ (rest[j] - rest[p]))
    return np.stack(joints, axis=1)


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# --------------------------------------------------------------------------------------------------
def test_round_trip_real_motions(clips, walker, assets, tmp_path: Path) -> None:
    for k, motion in enumerate(clips + [walker]):
        path = write_amass_npz(motion, tmp_path / f"clip{k}.npz", assets_dir=assets)
        back = read_amass_npz(path, assets_dir=assets)
        assert back.skeleton.name == "smplx22" and back.num_frames == motion.num_frames
        assert back.fps == motion.fps
        np.testing.assert_allclose(back.joint_positions(), motion.joint_positions(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(back.local_rotations, motion.local_rotations, atol=1e-9)
        assert back.meta["amass_keys"] == "poses" and back.meta["gender"] == "neutral"
        assert len(back.meta["betas"]) == 16


def test_key_set_dtypes_and_layout(clips, assets, tmp_path: Path) -> None:
    motion = clips[0]
    frames = motion.num_frames
    arrays = load(write_amass_npz(motion, tmp_path / "a.npz", assets_dir=assets))
    assert set(arrays) == set(AMASS_NPZ_KEYS)
    shapes = {
        "poses": (frames, 165), "trans": (frames, 3), "betas": (16,), "root_orient": (frames, 3),
        "pose_body": (frames, 63), "pose_hand": (frames, 90), "pose_jaw": (frames, 3), "pose_eye": (frames, 6),
    }
    for key, shape in shapes.items():
        assert arrays[key].shape == shape and arrays[key].dtype == np.float64, key
    for key in ("num_betas", "mocap_framerate", "mocap_frame_rate", "mocap_time_length", "gender", "surface_model_type"):
        assert arrays[key].shape == (), key
    assert arrays["num_betas"].dtype.kind == "i" and int(arrays["num_betas"]) == 16
    assert arrays["gender"].dtype.kind == "U" and str(arrays["gender"]) == "neutral"
    assert str(arrays["surface_model_type"]) == "smplx"
    assert float(arrays["mocap_framerate"]) == float(arrays["mocap_frame_rate"]) == 30.0
    assert float(arrays["mocap_time_length"]) == pytest.approx(frames / 30.0)
    # poses = root 3 | body 63 | jaw 3 | eyes 6 | hands 90, the same numbers as KIMODO's keys
    poses = arrays["poses"]
    np.testing.assert_array_equal(poses[:, :3], arrays["root_orient"])
    np.testing.assert_array_equal(poses[:, 3:66], arrays["pose_body"])
    np.testing.assert_array_equal(poses[:, 66:69], arrays["pose_jaw"])
    np.testing.assert_array_equal(poses[:, 69:75], arrays["pose_eye"])
    np.testing.assert_array_equal(poses[:, 75:], arrays["pose_hand"])
    assert not arrays["pose_jaw"].any() and not arrays["pose_eye"].any()
    np.testing.assert_allclose(arrays["pose_hand"], np.tile(load_smplx_mean_hands(assets), (frames, 1)))
    np.testing.assert_allclose(arrays["betas"], load_smplx_betas(assets, 16))
    # body rotations are local: axis-angle of joints 1..21 unchanged by the axis conversion
    np.testing.assert_allclose(
        axis_angle_to_matrix(arrays["pose_body"].reshape(frames, 21, 3)), motion.local_rotations[:, 1:], atol=1e-9
    )


def test_z_up_and_y_forward_in_amass_world(walker, smplx, assets, tmp_path: Path) -> None:
    arrays = load(write_amass_npz(walker, tmp_path / "walk.npz", assets_dir=assets))
    amass = amass_world_fk(arrays, smplx)  # [T, 22, 3], Z up
    # exactly our joints carried by A
    np.testing.assert_allclose(amass, walker.joint_positions() @ A.T, atol=1e-9)
    head, pelvis = amass[:, smplx.index("head")], amass[:, smplx.index("pelvis")]
    assert (head[:, 2] - pelvis[:, 2] > 0.3).all()  # head above the pelvis in z
    feet = amass[:, smplx.indices(["left_foot", "right_foot", "left_ankle", "right_ankle"])]
    assert abs(np.percentile(feet[..., 2].min(axis=1), 5)) < 0.02  # feet on the floor z = 0
    walked = pelvis[-1] - pelvis[0]
    assert walked[1] > 5.0 and walked[1] > 4 * abs(walked[0])  # a +Z walker walks +Y
    # the character's left (+X ours) is -X in AMASS: its left hip has the smaller x when facing +Y
    assert amass[0, smplx.index("left_hip"), 0] < amass[0, smplx.index("right_hip"), 0]


def test_known_answer_rest_pose(smplx, assets, tmp_path: Path) -> None:
    """Identity rotations, pelvis 0.9 m up: root_orient is A itself (180 degrees about (0, 1, 1)/sqrt 2)
    and trans = (0, 0, 0.9) - J0."""
    motion = Motion(
        local_rotations=np.broadcast_to(np.eye(3), (2, 22, 3, 3)),
        root_translation=[[0.0, 0.9, 0.0], [0.0, 0.9, 0.5]],
        fps=30.0,
        skeleton=smplx,
    )
    arrays = load(write_amass_npz(motion, tmp_path / "rest.npz", assets_dir=assets))
    np.testing.assert_allclose(axis_angle_to_matrix(arrays["root_orient"]), np.stack([A, A]), atol=1e-12)
    assert np.linalg.norm(arrays["root_orient"][0]) == pytest.approx(np.pi)
    np.testing.assert_allclose(KIMODO_TO_AMASS, A)
    np.testing.assert_allclose(arrays["trans"], [[0, 0, 0.9] - J0, [0, 0.5, 0.9] - J0], atol=1e-4)
    assert not arrays["pose_body"].any()


def test_reads_real_amass_style_files(walker, assets, tmp_path: Path) -> None:
    motion = walker[:40]
    arrays = load(write_amass_npz(motion, tmp_path / "ours.npz", assets_dir=assets))
    expected = motion.joint_positions()
    frames = motion.num_frames
    variants = {
        # SMPL-H: 52 joints (22 body + 30 hand), classic keys only, gender as bytes, 60 fps
        "smplh": {
            "poses": np.concatenate([arrays["poses"][:, :66], np.zeros((frames, 90))], axis=1),
            "trans": arrays["trans"], "betas": arrays["betas"], "gender": np.array(b"female"),
            "mocap_framerate": np.array(60.0),
        },
        # SMPL-X classic keys only (55 joints), float32 like some exports
        "smplx": {
            "poses": arrays["poses"].astype(np.float32), "trans": arrays["trans"].astype(np.float32),
            "mocap_framerate": np.array(120.0),
        },
        # KIMODO's keys only
        "kimodo": {
            key: arrays[key] for key in ("root_orient", "pose_body", "trans", "mocap_frame_rate", "betas", "gender")
        },
    }
    rates = {"smplh": 60.0, "smplx": 120.0, "kimodo": 30.0}
    tolerance = {"smplh": 1e-9, "smplx": 1e-5, "kimodo": 1e-9}
    for name, content in variants.items():
        np.savez(tmp_path / f"{name}.npz", **content)
        back = read_amass_npz(tmp_path / f"{name}.npz", assets_dir=assets)
        assert back.num_frames == frames and back.fps == rates[name], name
        np.testing.assert_allclose(back.joint_positions(), expected, atol=tolerance[name], err_msg=name)
        assert back.meta["amass_keys"] == ("kimodo" if name == "kimodo" else "poses")
    assert read_amass_npz(tmp_path / "smplh.npz", assets_dir=assets).meta["gender"] == "female"

    # both key sets present: poses wins over a contradicting root_orient
    content = dict(arrays, root_orient=np.zeros_like(arrays["root_orient"]))
    np.savez(tmp_path / "both.npz", **content)
    back = read_amass_npz(tmp_path / "both.npz", assets_dir=assets)
    np.testing.assert_allclose(back.joint_positions(), expected, atol=1e-9)


def test_write_refuses_bad_input_and_leaves_no_file(clips, data_dir, cache_dir, assets, tmp_path: Path) -> None:
    motion = clips[0][:20]
    soma = retarget_to(motion, "soma30", data_dir=data_dir, cache_dir=cache_dir)
    with pytest.raises(InputError, match="smplx22") as info:
        write_amass_npz(soma, tmp_path / "soma.npz", assets_dir=assets)
    assert info.value.field == "skeleton"

    broken = replace(motion, root_translation=motion.root_translation.copy())
    broken.root_translation[3, 1] = np.nan  # edited after construction
    with pytest.raises(InputError, match=r"root_translation is not finite at index \(3, 1\)"):
        write_amass_npz(broken, tmp_path / "nan.npz", assets_dir=assets)
    rotations = motion.local_rotations.copy()
    rotations[2, 5] *= 2.0
    with pytest.raises(InputError, match=r"local_rotations\[2, 5\].*not a rotation"):
        write_amass_npz(replace(motion, local_rotations=rotations), tmp_path / "scaled.npz", assets_dir=assets)
    with pytest.raises(InputError, match="gender") as info:
        write_amass_npz(motion, tmp_path / "g.npz", gender="other", assets_dir=assets)
    assert info.value.field == "gender"
    for betas in (np.zeros((2, 8)), [np.nan] * 10, np.zeros(0)):
        with pytest.raises(InputError) as info:
            write_amass_npz(motion, tmp_path / "b.npz", betas=betas, assets_dir=assets)
        assert info.value.field == "betas"
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary files left

    # a failed write leaves an existing file untouched
    target = write_amass_npz(motion, tmp_path / "keep.npz", betas=np.arange(10.0), gender="male", assets_dir=assets)
    before = target.read_bytes()
    with pytest.raises(InputError):
        write_amass_npz(broken, target, assets_dir=assets)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.npz"]
    back = read_amass_npz(target, assets_dir=assets)
    assert back.meta["betas"] == list(np.arange(10.0)) and back.meta["gender"] == "male"


def test_read_refuses_bad_files(clips, assets, data_dir, cache_dir, tmp_path: Path) -> None:
    arrays = load(write_amass_npz(clips[0][:10], tmp_path / "good.npz", assets_dir=assets))

    def bad(name: str, match: str, **content) -> InputError:
        path = tmp_path / f"{name}.npz"
        np.savez(path, **content)
        with pytest.raises(InputError, match=match) as info:
            read_amass_npz(path, assets_dir=assets)
        return info.value

    with pytest.raises(InputError, match="file not found"):
        read_amass_npz(tmp_path / "absent.npz", assets_dir=assets)
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(InputError, match="not a readable .npz"):
        read_amass_npz(tmp_path / "text.npz", assets_dir=assets)
    assert bad("nokeys", "neither 'poses' nor 'root_orient'", trans=arrays["trans"]).field == "poses"
    assert bad("width", r"W one of 66 .*165", poses=np.zeros((10, 100)), trans=arrays["trans"]).field == "poses"
    assert bad("notrans", "lacks 'trans'", poses=arrays["poses"]).field == "trans"
    assert bad("frames", r"expected \[10, 3\]", poses=arrays["poses"], trans=arrays["trans"][:7]).field == "trans"
    poses = arrays["poses"].copy()
    poses[4, 7] = np.inf
    assert bad("inf", r"not finite at index \(4, 7\)", poses=poses, trans=arrays["trans"]).field == "poses"
    assert bad("body", r"expected \[10, 63\]", root_orient=arrays["root_orient"], pose_body=arrays["pose_body"][:, :60],
               trans=arrays["trans"]).field == "pose_body"
    assert bad("rate", "positive frame rate", poses=arrays["poses"], trans=arrays["trans"],
               mocap_framerate=np.array(0.0)).field == "mocap_framerate"
    assert bad("text", "expected real numbers", poses=arrays["poses"].astype(str), trans=arrays["trans"]).field == "poses"
    with pytest.raises(InputError, match="22-joint SMPL-X"):
        read_amass_npz(tmp_path / "good.npz", get_skeleton("soma30", data_dir, cache_dir))
