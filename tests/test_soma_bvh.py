"""KIMODO-style SOMA BVH (motiongen.io.soma_bvh) on real motions: round trips, the file layout of
reference 5.4 (Root + Hips with the nominal offset, standard T-pose frames, ZYX, cm, no End Sites),
the file's own FK agreeing with ours, known answers at rest, and bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from motiongen.errors import InputError
from motiongen.io.bvh import read_bvh, write_bvh
from motiongen.io.kimodo_npz import soma30_to_soma77
from motiongen.io.soma_bvh import read_soma_bvh, soma_bvh_motion, write_soma_bvh
from motiongen.motion.motion import Motion
from motiongen.retarget.registered import retarget_to
from motiongen.skeleton.kimodo_assets import load_soma_standard_tpose
from motiongen.skeleton.registry import get_skeleton
from motiongen.skeleton.skeleton import Skeleton

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def assets(raw) -> Path:
    return raw("kimodo") / "kimodo-assets"


@pytest.fixture(scope="module")
def soma77(data_dir: Path, cache_dir: Path) -> Skeleton:
    return get_skeleton("soma77", data_dir, cache_dir)


@pytest.fixture(scope="module")
def clips(data_dir: Path, cache_dir: Path) -> list[Motion]:
    """The tiny built dataset's real clips (Bandai on smplx22)."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    dataset = MotionDataset(root=stats["path"], split="train", mirrored=False)
    return [dataset[i][0] for i in range(len(dataset))]


@pytest.fixture(scope="module")
def soma_clips(clips, data_dir: Path, cache_dir: Path) -> dict[str, list[Motion]]:
    return {
        name: [retarget_to(m, name, data_dir=data_dir, cache_dir=cache_dir) for m in clips] for name in ("soma30", "soma77")
    }


def file_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# --------------------------------------------------------------------------------------------------
def test_round_trip_real_soma77_motions(soma_clips, soma77, assets, tmp_path: Path) -> None:
    for k, motion in enumerate(soma_clips["soma77"]):
        path = write_soma_bvh(motion, tmp_path / f"clip{k}.bvh", assets_dir=assets)
        back = read_soma_bvh(path, soma77, assets_dir=assets)
        assert back.skeleton == soma77 and back.num_frames == motion.num_frames and back.fps == motion.fps
        assert back.meta["soma_bvh_frames"] == "standard_tpose"
        np.testing.assert_allclose(back.joint_positions(), motion.joint_positions(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(back.local_rotations, motion.local_rotations, atol=1e-5)
        np.testing.assert_allclose(back.root_translation, motion.root_translation, atol=1e-7)


def test_soma30_is_expanded_to_77_as_kimodo_does(soma_clips, soma77, assets, tmp_path: Path) -> None:
    motion = soma_clips["soma30"][0]
    path = write_soma_bvh(motion, tmp_path / "s30.bvh", assets_dir=assets)
    back = read_soma_bvh(path, soma77, assets_dir=assets)
    expanded = soma30_to_soma77(motion, assets, skeleton77=soma77)
    assert back.skeleton.num_joints == 77
    np.testing.assert_allclose(back.joint_positions(), expanded.joint_positions(), atol=1e-4, rtol=0)
    # the 30 shared joints keep SOMA30's positions except the hand end points (reference 3.3)
    shared = [n for n in motion.skeleton.joint_names if not n.endswith(("ThumbEnd", "MiddleEnd"))]
    np.testing.assert_allclose(
        back.joint_positions()[:, soma77.indices(shared)],
        motion.joint_positions()[:, motion.skeleton.indices(shared)],
        atol=1e-4,
    )


def test_file_layout_is_kimodos(soma_clips, soma77, assets, tmp_path: Path) -> None:
    motion = soma_clips["soma77"][1]
    path = write_soma_bvh(motion, tmp_path / "layout.bvh", assets_dir=assets)
    lines = file_lines(path)
    six = "Xposition Yposition Zposition Zrotation Yrotation Xrotation"
    assert lines[:10] == [
        "HIERARCHY", "ROOT Root", "{", "\tOFFSET 0.000000 0.000000 0.000000", f"\tCHANNELS 6 {six}",
        "\tJOINT Hips", "\t{", "\t\tOFFSET 0.000000 100.000000 0.000000", f"\t\tCHANNELS 6 {six}", "\t\tJOINT Spine1",
    ]
    assert not [line for line in lines if line.split()[:1] == ["End"]]  # no End Site blocks
    channel_lines = [line.strip() for line in lines if line.strip().startswith("CHANNELS")]
    assert channel_lines[2:] == ["CHANNELS 3 Zrotation Yrotation Xrotation"] * 76
    motion_at = lines.index("MOTION")
    assert lines[motion_at + 1] == f"Frames: {motion.num_frames}"
    assert float(lines[motion_at + 2].split(":")[1]) == pytest.approx(1 / 30, abs=1e-9)

    # offsets are the BVH rest layout in centimetres, joints in somaskel77 order under Root
    bvh_rest, frames = load_soma_standard_tpose(assets)
    plain = read_bvh(path, units="cm")
    assert plain.skeleton.joint_names == ("Root",) + soma77.joint_names
    assert plain.skeleton.parents == (-1,) + tuple(p + 1 for p in soma77.parents)
    parents = np.array(soma77.parents[1:])
    np.testing.assert_allclose(plain.skeleton.offsets[2:], bvh_rest[1:] - bvh_rest[parents], atol=1e-8)

    # Root stays at the origin unrotated; Hips' position channels hold the pelvis in cm
    values = np.array([line.split() for line in lines[motion_at + 3 :]], dtype=float)
    assert values.shape == (motion.num_frames, 6 + 6 + 3 * 76)
    assert not values[:, :6].any()
    np.testing.assert_allclose(values[:, 6:9] / 100, motion.root_translation, atol=1e-8)
    # standard T-pose frames: the Hips rotation is G_hips O_hips, not G_hips
    np.testing.assert_allclose(plain.local_rotations[:, 1], motion.local_rotations[:, 0] @ frames[0], atol=1e-5)

    # a plain BVH reader's FK (position channels replace the Hips OFFSET) puts joints where ours does
    positions = plain.joint_positions()
    np.testing.assert_allclose(positions[:, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(positions[:, 1:], motion.joint_positions(), atol=1e-5)
    assert (positions[:, soma77.index("Head") + 1, 1] > positions[:, 1, 1] + 0.3).all()  # head above pelvis, Y up


def test_known_answer_rest_pose(soma77, assets, tmp_path: Path) -> None:
    """At rest (identity locals) every joint's file rotation is ``O_p^T O_j`` and Hips' is ``O_hips``
    (about [[0,0,1],[1,0,0],[0,1,0]]: a permutation of the axes)."""
    rest = Motion(
        local_rotations=np.broadcast_to(np.eye(3), (3, 77, 3, 3)),
        root_translation=[[0.0, 1.0, 0.0], [0.0, 1.0, 0.1], [0.2, 1.0, 0.2]],
        fps=25.0,
        skeleton=soma77,
    )
    _, frames = load_soma_standard_tpose(assets)
    bvh = soma_bvh_motion(rest, assets)
    np.testing.assert_allclose(bvh.local_rotations[0, 1], [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=5e-3)
    np.testing.assert_allclose(bvh.local_rotations[0, 1], frames[0], atol=1e-6)
    parents = soma77.parents
    for j in range(1, 77):
        np.testing.assert_allclose(bvh.local_rotations[0, j + 1], frames[parents[j]].T @ frames[j], atol=1e-6)
    path = write_soma_bvh(rest, tmp_path / "rest.bvh", assets_dir=assets)
    assert float(file_lines(path)[file_lines(path).index("MOTION") + 2].split(":")[1]) == pytest.approx(1 / 25)
    back = read_soma_bvh(path, soma77, assets_dir=assets)
    assert back.fps == 25.0
    np.testing.assert_allclose(back.local_rotations, rest.local_rotations, atol=1e-6)
    np.testing.assert_allclose(back.joint_positions()[:, 0], rest.root_translation, atol=1e-8)


def test_reads_a_world_aligned_soma77_bvh(soma_clips, soma77, assets, tmp_path: Path) -> None:
    """A soma77 file from the generic writer (world-aligned frames, no Root) is told apart by its
    offsets and read right too."""
    motion = soma_clips["soma77"][2]
    path = write_bvh(motion, tmp_path / "generic.bvh")
    back = read_soma_bvh(path, soma77, assets_dir=assets)
    assert back.meta["soma_bvh_frames"] == "world"
    np.testing.assert_allclose(back.joint_positions(), motion.joint_positions(), atol=1e-4, rtol=0)


def test_write_refuses_bad_input_and_leaves_no_file(clips, soma_clips, assets, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'soma30' or 'soma77', got 'smplx22'") as info:
        write_soma_bvh(clips[0], tmp_path / "smplx.bvh", assets_dir=assets)
    assert info.value.field == "skeleton"
    motion = soma_clips["soma77"][0][:10]
    broken = replace(motion, local_rotations=motion.local_rotations.copy())
    broken.local_rotations[4, 9, 0, 0] = np.nan  # edited after construction
    with pytest.raises(InputError, match="local_rotations is not finite"):
        write_soma_bvh(broken, tmp_path / "nan.bvh", assets_dir=assets)
    with pytest.raises(InputError, match="decimals"):
        write_soma_bvh(motion, tmp_path / "dec.bvh", assets_dir=assets, decimals=-1)
    assert list(tmp_path.iterdir()) == []

    target = write_soma_bvh(motion, tmp_path / "keep.bvh", assets_dir=assets)
    before = target.read_bytes()
    with pytest.raises(InputError):
        write_soma_bvh(broken, target, assets_dir=assets)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["keep.bvh"]


def test_read_refuses_other_hierarchies(clips, soma_clips, soma77, assets, tmp_path: Path) -> None:
    smplx_file = write_bvh(clips[0][:5], tmp_path / "smplx.bvh")
    with pytest.raises(InputError, match="not a SOMA77 BVH: it lacks 77 of the 77 joints"):
        read_soma_bvh(smplx_file, soma77, assets_dir=assets)

    # SOMA77 names, but LeftArm hangs off Chest instead of LeftShoulder
    parents = list(soma77.parents)
    parents[soma77.index("LeftArm")] = soma77.index("Chest")
    moved = Skeleton(name="moved", joint_names=soma77.joint_names, parents=tuple(parents), offsets=soma77.offsets)
    motion = soma_clips["soma77"][0][:5]
    write_bvh(replace(motion, skeleton=moved), tmp_path / "moved.bvh")
    with pytest.raises(InputError, match="joint 'LeftArm' has parent 'Chest'; SOMA77 has 'LeftShoulder'"):
        read_soma_bvh(tmp_path / "moved.bvh", soma77, assets_dir=assets)

    # Hips two levels down
    deep = Skeleton(
        name="deep",
        joint_names=("World", "Root") + soma77.joint_names,
        parents=(-1, 0) + tuple(p + 2 if p >= 0 else 1 for p in soma77.parents),
        offsets=np.concatenate([np.zeros((2, 3)), soma77.offsets]),
    )
    local = np.concatenate([np.broadcast_to(np.eye(3), (5, 2, 3, 3)), motion.local_rotations], axis=1)
    write_bvh(Motion(local_rotations=local, root_translation=np.zeros((5, 3)), fps=30.0, skeleton=deep), tmp_path / "deep.bvh")
    with pytest.raises(InputError, match="root joint 'Hips' sits 2 joints deep"):
        read_soma_bvh(tmp_path / "deep.bvh", soma77, assets_dir=assets)

    (tmp_path / "broken.bvh").write_text("HIERARCHY\nROOT Root\n{\n\tOFFSET 0 0\n")
    with pytest.raises(InputError, match="broken.bvh"):
        read_soma_bvh(tmp_path / "broken.bvh", soma77, assets_dir=assets)
