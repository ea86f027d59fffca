"""Blender as the real client of our BVH files: every registered skeleton's motion, written with
:func:`motiongen.io.bvh.write_bvh` (and SOMA also with the KIMODO-style writer), is imported by
Blender's own BVH importer in one background Blender process; the bones, frames, frame rate and
every bone head on a few frames must be what our FK says.

Axes: the files are Y up, +Z forward in centimetres; the import declares ``axis_forward="-Z"``,
``axis_up="Y"`` and ``global_scale=0.01``, so Blender maps file ``(x, y, z)`` cm to its own
``(x, -z, y)`` m, and a Blender head ``(bx, by, bz)`` is our ``(bx, bz, -by)``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from motiongen.geometry import axis_angle_to_matrix
from motiongen.io.bvh import read_bvh, write_bvh
from motiongen.io.kimodo_npz import soma30_to_soma77
from motiongen.io.soma_bvh import ROOT_NAME, write_soma_bvh
from motiongen.motion.motion import Motion
from motiongen.retarget.registered import retarget_to
from motiongen.skeleton.registry import BANDAI_REFERENCE, get_skeleton

pytestmark = pytest.mark.data

BLENDER = Path(os.environ.get("MOTIONGEN_BLENDER", "/usr/bin/blender"))
SCRIPT = Path(__file__).with_name("blender_import_bvh.py")
FRAMES = 45
#: Blender world (Z up, -Y forward, m) -> ours: (bx, by, bz) -> (bx, bz, -by)
BLENDER_TO_OURS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
TOLERANCE_M = 0.01
#: file stems: every registered rig (hdm05 too), KIMODO-style SOMA files, and smplx22 in two more
#: rotation orders (Blender must compose the channels in the order listed, as we do)
FILES = (
    "smplx22", "soma30", "soma77", "g1", "bandai22", "cmu31", "hdm05",
    "soma77_kimodo", "soma30_kimodo", "smplx22_xyz", "smplx22_yxz",
)


@pytest.fixture(scope="module")
def blender() -> Path:
    if not BLENDER.is_file():
        reason = f"Blender not found at {BLENDER} (Debian package 'blender'; or set MOTIONGEN_BLENDER)"
        if os.environ.get("MOTIONGEN_REQUIRE_DATA") == "1":
            pytest.fail(reason + " but MOTIONGEN_REQUIRE_DATA=1")
        pytest.skip(reason)
    return BLENDER


def dataset_motion(data_dir: Path, cache_dir: Path) -> Motion:
    """A real clip of the tiny built dataset (Bandai on smplx22), first :data:`FRAMES` frames."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    motion = MotionDataset(root=stats["path"], split="train", mirrored=False)[0][0]
    assert motion.skeleton.name == "smplx22" and motion.num_frames > FRAMES
    return motion[:FRAMES]


def bandai_motion(raw, data_dir: Path, cache_dir: Path) -> Motion:
    """A real Bandai walk on ``bandai22`` with its own layout (6 channels on every joint).

    Retargeting onto ``bandai22`` is not available (its root ``joint_Root`` has no counterpart in
    the canonical joint map), so the rig's own reference recording stands in.
    """
    motion = read_bvh(raw("bandai") / BANDAI_REFERENCE)[:FRAMES]
    rig = get_skeleton("bandai22", data_dir, cache_dir)
    assert motion.skeleton.joint_names == rig.joint_names
    np.testing.assert_allclose(motion.skeleton.offsets, rig.offsets)
    return replace(motion, skeleton=rig)


def g1_motion(data_dir: Path, cache_dir: Path) -> Motion:
    """Sinusoids on every G1 hinge, inside its range: ``L_j = rest_rotation @ Rot(axis, q_j(t))``;
    the pelvis walks forward at standing height."""
    rig = get_skeleton("g1", data_dir, cache_dir)
    local = np.broadcast_to(np.eye(3), (FRAMES, rig.num_joints, 3, 3)).copy()
    time = np.arange(FRAMES) / 30.0
    for k, (joint, hinge) in enumerate(rig.extras["hinges"].items()):
        lo, hi = hinge["range"]
        angle = lo + (hi - lo) * (0.5 + 0.4 * np.sin(2 * np.pi * 0.7 * time + k))  # [T], inside (lo, hi)
        rotation = axis_angle_to_matrix(angle[:, None] * np.asarray(hinge["axis"]))
        local[:, rig.index(joint)] = np.asarray(hinge["rest_rotation"]) @ rotation
    root = np.stack([0.1 * np.sin(time), np.full(FRAMES, 0.793), 0.8 * time], axis=-1)
    return Motion(local_rotations=local, root_translation=root, fps=30.0, skeleton=rig)


@pytest.fixture(scope="module")
def imported(blender: Path, raw, data_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Per file stem: (Blender's report, our joint positions by name ``{name: [T, 3]}``, fps)."""
    folder = tmp_path_factory.mktemp("blender_bvh")
    base = dataset_motion(data_dir, cache_dir)
    motions = {"smplx22": base, "bandai22": bandai_motion(raw, data_dir, cache_dir), "g1": g1_motion(data_dir, cache_dir)}
    for name in ("soma30", "soma77", "cmu31", "hdm05"):
        motions[name] = retarget_to(base, name, data_dir=data_dir, cache_dir=cache_dir)

    expected: dict[str, tuple[dict[str, np.ndarray], float]] = {}
    for name, motion in motions.items():
        assert motion.skeleton.name == name
        write_bvh(motion, folder / f"{name}.bvh", units="cm")
        expected[name] = (by_name(motion), motion.fps)
    for order in ("XYZ", "YXZ"):
        write_bvh(base, folder / f"smplx22_{order.lower()}.bvh", units="cm", rotation_order=order)
        expected[f"smplx22_{order.lower()}"] = expected["smplx22"]
    for name in ("soma77", "soma30"):
        motion = motions[name]
        write_soma_bvh(motion, folder / f"{name}_kimodo.bvh")
        soma77 = motion if name == "soma77" else soma30_to_soma77(motion, skeleton77=motions["soma77"].skeleton)
        positions = by_name(soma77)
        positions[ROOT_NAME] = np.zeros((motion.num_frames, 3))  # KIMODO's Root stays at the origin
        expected[f"{name}_kimodo"] = (positions, motion.fps)
    assert sorted(expected) == sorted(FILES)

    job = {
        "axis_forward": "-Z",
        "axis_up": "Y",
        "files": [
            {"path": str(folder / f"{stem}.bvh"), "global_scale": 0.01, "frames": sample_frames(FRAMES)}
            for stem in FILES
        ],
    }
    (folder / "job.json").write_text(json.dumps(job))
    command = [
        str(blender), "-b", "--factory-startup", "--python-exit-code", "1",
        "--python", str(SCRIPT), "--", str(folder / "job.json"), str(folder / "out.json"),
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"Blender failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    reports = json.loads((folder / "out.json").read_text())
    return {stem: (report, *expected[stem]) for stem, report in zip(FILES, reports)}


def by_name(motion: Motion) -> dict[str, np.ndarray]:
    positions = motion.joint_positions()
    return {name: positions[:, j] for j, name in enumerate(motion.skeleton.joint_names)}


def sample_frames(count: int) -> list[int]:
    return sorted({0, count // 3, (2 * count) // 3, count - 1})


@pytest.mark.parametrize("stem", FILES)
def test_blender_imports_bones_frames_and_rate(imported, stem: str) -> None:
    report, positions, fps = imported[stem]
    assert sorted(report["bones"]) == sorted(positions)  # one bone per joint, same names
    assert report["keyframes"] == [FRAMES]  # every curve keyed on every frame
    assert report["frame_range"] == [1.0, float(FRAMES)]
    assert report["fps"] == pytest.approx(fps, rel=1e-5)


@pytest.mark.parametrize("stem", FILES)
def test_blender_bone_heads_match_our_forward_kinematics(imported, stem: str) -> None:
    report, positions, _ = imported[stem]
    worst = 0.0
    for frame, heads in report["heads"].items():
        for bone, head in heads.items():
            ours = BLENDER_TO_OURS @ np.asarray(head)
            error = float(np.linalg.norm(ours - positions[bone][int(frame)]))
            assert error < TOLERANCE_M, (stem, bone, frame, ours, positions[bone][int(frame)])
            worst = max(worst, error)
    assert len(report["heads"]) == len(sample_frames(FRAMES))
    # the body moves between the sampled frames, so a frame mix-up could not pass
    first, last = report["heads"]["0"], report["heads"][str(FRAMES - 1)]
    moved = max(np.linalg.norm(np.subtract(first[b], last[b])) for b in first)
    assert moved > 0.05, (stem, moved)
