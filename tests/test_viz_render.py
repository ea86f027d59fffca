"""``motiongen render``: headless GIF/MP4 rendering of skeletons (motiongen.viz.render).

Geometry helpers are checked on known answers; rendering is checked on the output pixels: frame
count and size, motion visible as changing frames, the side colours where the camera puts them.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from toy_rig import toy_skeleton

from motiongen.errors import InputError
from motiongen.io.bvh import write_bvh
from motiongen.io.kimodo_npz import write_kimodo_npz
from motiongen.motion.motion import Motion
from motiongen.viz.render import (
    CAMERAS,
    CENTER_RGB,
    LEFT_RGB,
    RIGHT_RGB,
    TEXT_RGB,
    add_render_parser,
    camera_rotation,
    clip_segments,
    cmd_render,
    drawn_bones,
    facing_yaw,
    fit_view,
    floor_grid,
    focal_length,
    gif_frame_durations_ms,
    joint_sides,
    mp4_writer_available,
    project,
    render_motion,
    to_camera,
    trajectory_joint,
)

BANDAI_WALK = "dataset/Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk_normal_001.bvh"
SMALL = {"width": 240, "height": 180}


def colour_mask(frames: np.ndarray, rgb: tuple[int, int, int], tol: int = 30) -> np.ndarray:
    """Pixels ``[..., H, W]`` within ``tol`` per channel of ``rgb`` (GIF palettes shift colours a little)."""
    return (np.abs(frames[..., :3].astype(int) - np.array(rgb)) <= tol).all(axis=-1)


def toy_walk(frames: int = 30, yaw_deg: float = 0.0, speed: float = 1.0) -> Motion:
    """The toy rig stepping: legs swing in opposite phase, root moving ``speed`` m/s along its facing."""
    skeleton = toy_skeleton()
    rot = np.tile(np.eye(3), (frames, skeleton.num_joints, 1, 1))
    phase = np.linspace(0, 2 * np.pi, frames)
    swing = 0.5 * np.sin(phase)
    rot[:, skeleton.index("left_hip")] = Rotation.from_euler("x", swing[:, None]).as_matrix()
    rot[:, skeleton.index("right_hip")] = Rotation.from_euler("x", -swing[:, None]).as_matrix()
    yaw = math.radians(yaw_deg)
    rot[:, 0] = Rotation.from_euler("y", yaw).as_matrix()
    t = np.arange(frames) / 30.0
    root = np.stack([speed * t * math.sin(yaw), np.full(frames, 0.9), speed * t * math.cos(yaw)], axis=-1)
    return Motion(local_rotations=rot, root_translation=root, fps=30.0, skeleton=skeleton)


# ------------------------------------------------------------------------------------------------
# known answers for the helpers


def test_joint_sides_from_names() -> None:
    assert joint_sides(["pelvis", "left_hip", "right_knee", "spine1"]) == ["center", "left", "right", "center"]
    assert joint_sides(["Hips", "Foot_L", "Toes_R", "LeftArm", "RightHand", "L_Wrist"]) == [
        "center", "left", "right", "left", "right", "left",
    ]
    # ASF: a leading l/r counts only when the counterpart exists
    assert joint_sides(["root", "lfemur", "rfemur", "lowerback", "lhumerus", "rhumerus", "head"]) == [
        "center", "left", "right", "center", "left", "right", "center",
    ]
    # no counterpart for "rootl"... the trailing letter needs a pair too
    assert joint_sides(["HipL", "HipR", "Label"]) == ["left", "right", "center"]


def test_camera_axes_follow_the_character() -> None:
    for camera in CAMERAS:
        rot = camera_rotation(camera, 0.3)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        # screen x right, y up, depth into the screen: a left-handed frame
        assert np.linalg.det(rot) == pytest.approx(-1.0)
    right, up, view = camera_rotation("front", 0.0)
    # facing +Z: the front camera looks back along -Z and sees the character's left (+X) on its right
    np.testing.assert_allclose(view[[0, 2]] / np.linalg.norm(view[[0, 2]]), [0, -1], atol=1e-12)
    assert right @ [1, 0, 0] == pytest.approx(1.0)
    right, up, view = camera_rotation("side", 0.0)
    assert right @ [0, 0, 1] == pytest.approx(1.0)  # walking forward moves right on screen
    right, up, view = camera_rotation("top", 0.0)
    np.testing.assert_allclose(view, [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(up, [0, 0, 1], atol=1e-12)  # forward is up on screen
    # a character facing +X (yaw 90 degrees) is seen from +X by the front camera
    right, up, view = camera_rotation("front", math.pi / 2)
    assert view @ [-1, 0, 0] > 0.95
    with pytest.raises(InputError) as err:
        camera_rotation("fisheye")
    assert err.value.field == "camera"


def test_facing_yaw_of_a_turned_pose() -> None:
    pose = toy_skeleton().rest_positions()
    sides = joint_sides(toy_skeleton().joint_names)
    assert facing_yaw(pose, sides) == pytest.approx(0.0, abs=1e-9)
    turned = pose @ Rotation.from_euler("y", 70, degrees=True).as_matrix().T
    assert facing_yaw(turned, sides) == pytest.approx(math.radians(70))
    assert facing_yaw(pose, ["center"] * len(sides)) == 0.0


def test_fit_view_puts_every_point_inside_the_margin() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3)) * [3.0, 1.0, 2.0] + [5.0, 1.0, -2.0]
    focal, aspect, margin = focal_length(), 4 / 3, 0.9
    for camera in CAMERAS:
        rot = camera_rotation(camera, 0.4)
        centre, distance = fit_view(points, rot, focal, aspect, margin)
        eye = centre - rot[2] * distance
        cam = to_camera(points, eye, rot)
        assert (cam[:, 2] > 0).all()
        screen = project(cam, focal)
        fill = max(np.abs(screen[:, 0]).max() / aspect, np.abs(screen[:, 1]).max())
        # inside, and tight: the worst point sits on the margin
        assert fill == pytest.approx(margin, rel=1e-6)


def test_clip_segments_at_the_near_plane() -> None:
    segments = np.array(
        [
            [[0, 0, 2.0], [1, 1, 4.0]],  # in front: unchanged
            [[0, 0, -1.0], [0, 2, 1.0]],  # crosses: cut where depth = near
            [[0, 0, -1.0], [0, 0, -3.0]],  # behind: dropped
        ]
    )
    out = clip_segments(segments, near=0.5)
    assert out.shape == (2, 2, 3)
    np.testing.assert_allclose(out[0], segments[0])
    np.testing.assert_allclose(out[1, 0], [0, 1.5, 0.5])
    np.testing.assert_allclose(out[1, 1], segments[1, 1])


def test_floor_grid_spacing_and_extent() -> None:
    grid = floor_grid([-1.0, -2.0], [1.0, 2.0], floor_y=0.0)
    assert np.all(grid[..., 1] == 0.0)
    xs = np.unique(grid[grid[:, 0, 0] == grid[:, 1, 0]][:, 0, 0])
    np.testing.assert_allclose(np.diff(xs), 0.25)  # 4 m span -> 0.25 m lines
    long = floor_grid([0.0, 0.0], [100.0, 1.0], floor_y=-0.1, max_lines=40)
    assert len(long) <= 2 * 41 + 2


def test_gif_durations_track_the_frame_rate() -> None:
    durations = gif_frame_durations_ms(30, 30.0)
    assert all(d % 10 == 0 for d in durations)
    assert sum(durations) == 1000
    assert set(durations) == {30, 40}
    assert sum(gif_frame_durations_ms(50, 25.0)) == 2000


def test_static_root_link_is_not_a_bone() -> None:
    # a BVH rig like Bandai's: a root that stays at the origin under hips that move
    t = np.linspace(0, 1, 10)
    positions = np.zeros((10, 3, 3))
    positions[:, 1] = np.stack([t, np.full(10, 0.9), 2 * t], axis=-1)
    positions[:, 2] = positions[:, 1] + [0.0, 0.5, 0.0]
    parents = [-1, 0, 1]
    np.testing.assert_array_equal(drawn_bones(positions, parents), [2])
    assert trajectory_joint(positions, parents) == 1
    assert trajectory_joint(positions[:1].repeat(10, axis=0), parents) == 0


# ------------------------------------------------------------------------------------------------
# rendering


def test_gif_of_a_synthetic_walk_shows_sides_where_the_camera_puts_them(tmp_path: Path) -> None:
    motion = toy_walk(24, yaw_deg=90.0)  # facing +X: the cameras must turn with it
    out = render_motion(motion, tmp_path / "front.gif", camera="front", caption="", **SMALL)
    assert out == tmp_path / "front.gif"
    frames = iio.imread(out)
    assert frames.shape == (24, 180, 240, 3)
    left, right = colour_mask(frames, LEFT_RGB), colour_mask(frames, RIGHT_RGB)
    assert left.sum() > 100 and right.sum() > 100 and colour_mask(frames, CENTER_RGB).sum() > 50
    cols = np.arange(240)
    # seen from the front, the character's left is on the viewer's right
    assert (left.sum(axis=(0, 1)) @ cols) / left.sum() > (right.sum(axis=(0, 1)) @ cols) / right.sum() + 5
    top = iio.imread(render_motion(motion, tmp_path / "top.gif", camera="top", caption="", **SMALL))
    left, right = colour_mask(top, LEFT_RGB), colour_mask(top, RIGHT_RGB)
    # from above with forward up the screen, the left is on the viewer's left
    assert (left.sum(axis=(0, 1)) @ cols) / left.sum() < (right.sum(axis=(0, 1)) @ cols) / right.sum() - 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.gif", "top.gif"]  # no temporary files left


def test_gif_of_a_real_bvh_walk(raw, tmp_path: Path) -> None:
    bvh = raw("bandai") / BANDAI_WALK
    out = render_motion(bvh, tmp_path / "walk.gif", start=10, end=50, trace=True, follow=True, **SMALL)
    frames = iio.imread(out)
    assert frames.shape == (40, 180, 240, 3)
    moving = [np.abs(frames[k].astype(int) - frames[k + 5].astype(int)).sum() for k in range(0, 35, 5)]
    assert min(moving) > 0  # every step of the walk changes the picture
    assert colour_mask(frames, LEFT_RGB).any(axis=(1, 2)).all()  # bones of the left side on every frame
    assert colour_mask(frames, RIGHT_RGB).any(axis=(1, 2)).all()
    # the Bandai rig's static joint_Root -> Hips link is not drawn: no long dark line to the origin,
    # so midline pixels stay few (spine, neck, head)
    assert colour_mask(frames[0], CENTER_RGB).sum() < colour_mask(frames[0], LEFT_RGB).sum() + colour_mask(frames[0], RIGHT_RGB).sum()


def test_side_by_side_holds_the_shorter_motion(tmp_path: Path) -> None:
    short, long = toy_walk(12), toy_walk(20, yaw_deg=30.0)
    frames = iio.imread(render_motion([short, long], tmp_path / "cmp.gif", caption=["short", "long"], height=120))
    assert frames.shape == (20, 120, 960, 3)  # 480 px per panel by default
    left_panel, right_panel = frames[..., :480, :].astype(int), frames[..., 480:, :].astype(int)
    assert np.abs(left_panel[11] - left_panel[19]).mean() < 0.5  # held last pose (palette noise only)
    assert np.abs(left_panel[4] - left_panel[11]).mean() > 0.5
    assert np.abs(right_panel[11] - right_panel[19]).mean() > 0.5
    with pytest.raises(InputError) as err:
        render_motion([short, long], tmp_path / "bad.gif", caption=["one", "two", "three"])
    assert err.value.field == "caption"


def test_default_caption_is_the_saved_prompts(tmp_path: Path) -> None:
    motion = toy_walk(6)
    with_prompts, plain = tmp_path / "with.npz", tmp_path / "plain.bvh"
    write_kimodo_npz(motion, with_prompts, extra={"motiongen_prompts": np.array(json.dumps(["a person walks forward."]))})
    write_bvh(motion, plain)
    band = slice(0, 12)  # the first caption line; without a caption, the empty margin above the figure
    captioned = iio.imread(render_motion(with_prompts, tmp_path / "a.gif", width=320, height=240))
    uncaptioned = iio.imread(render_motion(plain, tmp_path / "b.gif", width=320, height=240))
    # a line of text darkens many columns; the head's bone may reach up there but is a few pixels wide
    assert colour_mask(captioned[0, band], TEXT_RGB, tol=40).any(axis=0).sum() > 40
    assert colour_mask(uncaptioned[0, band], TEXT_RGB, tol=40).any(axis=0).sum() <= 4


def test_fps_resamples_to_real_speed(tmp_path: Path) -> None:
    frames = iio.imread(render_motion(toy_walk(30), tmp_path / "slow.gif", fps=15, **SMALL))
    assert len(frames) == 15  # one second of motion at 15 fps
    meta = iio.immeta(tmp_path / "slow.gif", index=0)
    assert meta["duration"] in (60, 70)


@pytest.mark.skipif(not mp4_writer_available(), reason="imageio-ffmpeg (bundled ffmpeg) not installed")
def test_mp4(tmp_path: Path) -> None:
    out = render_motion(toy_walk(20), tmp_path / "walk.mp4", width=241, height=181, camera="side")
    frames = iio.imread(out)
    assert frames.shape == (20, 182, 242, 3)  # H.264 needs even sizes: rounded up
    assert np.abs(frames[0].astype(int) - frames[10].astype(int)).mean() > 0.1
    assert colour_mask(frames, LEFT_RGB, tol=45).any() and colour_mask(frames, RIGHT_RGB, tol=45).any()


def test_user_mistakes_raise_input_errors_and_write_nothing(tmp_path: Path) -> None:
    motion = toy_walk(10)
    cases = [
        ({"out": "x.png"}, "output"),
        ({"out": "x"}, "output"),
        ({"start": 10}, "start"),
        ({"start": -1}, "start"),
        ({"start": 5, "end": 5}, "end"),
        ({"fps": 60.0}, "fps"),
        ({"fps": 0.0}, "fps"),
        ({"width": 4}, "width"),
        ({"camera": "fisheye"}, "camera"),
    ]
    for kwargs, field in cases:
        out = tmp_path / kwargs.pop("out", "x.gif")
        with pytest.raises(InputError) as err:
            render_motion(motion, out, **kwargs)
        assert err.value.field == field, (kwargs, str(err.value))
    with pytest.raises(InputError, match="file not found"):
        render_motion(tmp_path / "missing.bvh", tmp_path / "x.gif")
    with pytest.raises(InputError, match="unsupported input format"):
        render_motion(tmp_path / "motion.fbx", tmp_path / "x.gif")
    (tmp_path / "folder.gif").mkdir()
    with pytest.raises(InputError) as err:
        render_motion(motion, tmp_path / "folder.gif")
    assert err.value.field == "output"
    assert [p.name for p in tmp_path.iterdir()] == ["folder.gif"]


def test_cli_render(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="motiongen")
    add_render_parser(parser.add_subparsers(dest="command", required=True))
    first, second = tmp_path / "a.bvh", tmp_path / "b.bvh"
    write_bvh(toy_walk(24), first)
    write_bvh(toy_walk(16, yaw_deg=-45.0), second)
    out = tmp_path / "out" / "cmp.gif"
    args = parser.parse_args(
        ["render", str(first), str(second), "-o", str(out), "--camera", "side", "--follow", "--trace",
         "--start", "2", "--end", "20", "--caption", "first", "--caption", "second",
         "--width", "320", "--height", "120", "--no-progress"]
    )
    assert args.func is cmd_render
    assert cmd_render(args) == 0
    frames = iio.imread(out)
    assert frames.shape == (18, 120, 320, 3)  # frames [2, 20) of the longer input
    defaults = parser.parse_args(["render", str(first), "-o", str(tmp_path / "d.gif")])
    assert (defaults.camera, defaults.follow, defaults.trace, defaults.start, defaults.end) == ("three-quarter", False, False, 0, None)
    bad = parser.parse_args(["render", str(first), "-o", str(tmp_path / "e.gif"), "--start", "30", "--no-progress"])
    with pytest.raises(InputError) as err:
        cmd_render(bad)
    assert err.value.field == "start"
    assert not (tmp_path / "e.gif").exists()
