"""Headless rendering of motions to an animated GIF or MP4: ``motiongen render IN -o OUT.gif``.

Each motion is drawn as its skeleton (bones as lines; the character's left side blue, right side
red, the midline dark grey, where the joint names say which side a joint is on) over a floor grid,
with a grey shadow on the floor, an optional root trajectory, a caption and a frame counter.
Several motions render side by side, one panel each; a shorter one holds its last frame.

The projection is our own pinhole camera onto a plain 2D matplotlib axes (Agg, no pyplot, no
display), one figure reused for every frame with only the line data updated (about 5 ms a frame
at 480x360; matplotlib's 3D axes took 20 ms with its default panes, and frames its box, not the
motion). Cameras are placed relative to the character's facing in the first rendered frame
(``front`` looks at its face), in our world (Y up, +Z forward, the character's left +X, metres),
and either hold one view that fits the whole motion or follow the root (``follow=True``).

GIFs are written by Pillow on one fixed palette (:func:`gif_palette`), MP4s (H.264) by
``imageio-ffmpeg``, whose wheel carries its own ffmpeg binary. Output goes to a temporary file
beside the target, renamed when complete.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import tempfile
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from motiongen.errors import InputError, MotiongenError

if TYPE_CHECKING:  # Motion pulls in torch; the CLI parser imports this module and must stay quick
    from motiongen.motion.motion import Motion

CAMERAS = ("front", "side", "top", "three-quarter")
OUTPUT_SUFFIXES = (".gif", ".mp4")
DEFAULT_CAMERA = "three-quarter"
DEFAULT_PANEL_WIDTH = 480
DEFAULT_HEIGHT = 360
#: GIF frame delays are whole centiseconds and players treat delays under 2 cs as 10 cs.
GIF_MAX_FPS = 50.0

#: Bone colours (8-bit RGB): the character's left side, right side, and the midline.
LEFT_RGB = (31, 119, 180)
RIGHT_RGB = (214, 39, 40)
CENTER_RGB = (50, 50, 50)
BACKGROUND_RGB = (255, 255, 255)
GRID_RGB = (210, 210, 210)
SHADOW_RGB = (185, 185, 185)
TRACE_RGB = (255, 140, 0)
TEXT_RGB = (30, 30, 30)

#: (azimuth from the character's facing toward its left, elevation), degrees; top looks straight down.
_CAMERA_ANGLES = {"front": (0.0, 12.0), "side": (-90.0, 12.0), "three-quarter": (35.0, 20.0), "top": (0.0, 90.0)}
_VERTICAL_FOV_DEG = 25.0
_NEAR = 0.05  # metres in front of the eye; anything closer is clipped
_FIT_MARGIN = 0.9  # fraction of the half-panel the fitted motion may fill
_FOLLOW_MARGIN = 0.75
_UP = np.array([0.0, 1.0, 0.0])


# --------------------------------------------------------------------------------------------------
# skeleton sides


def joint_sides(joint_names: Sequence[str]) -> list[str]:
    """``"left"``, ``"right"`` or ``"center"`` per joint, from its name alone.

    Recognised: ``left``/``right`` anywhere (``left_hip``, ``LeftArm``), a separate ``L``/``R``
    token (``Foot_L``, ``L_Hip``), and a leading or trailing ``l``/``r`` whose counterpart name also
    exists (ASF's ``lfemur``/``rfemur``; ``lowerback`` has no ``rowerback``, so it is midline).
    """
    names = set(joint_names)
    sides = []
    for name in joint_names:
        lower = name.lower()
        tokens = {t.lower() for t in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", name) if t}
        if "left" in lower or "l" in tokens:
            side = "left"
        elif "right" in lower or "r" in tokens:
            side = "right"
        elif _swap_end(name, 0) in names:
            side = "left" if name[0] in "lL" else "right"
        elif _swap_end(name, -1) in names:
            side = "left" if name[-1] in "lL" else "right"
        else:
            side = "center"
        sides.append(side)
    return sides


def _swap_end(name: str, position: int) -> str:
    """``name`` with its first (``position=0``) or last (``-1``) ``l``/``r`` swapped; ``""`` if neither."""
    swap = {"l": "r", "r": "l", "L": "R", "R": "L"}
    if len(name) < 2 or name[position] not in swap:
        return ""
    return swap[name[0]] + name[1:] if position == 0 else name[:-1] + swap[name[-1]]


def facing_yaw(positions: np.ndarray, sides: Sequence[str]) -> float:
    """Yaw (radians, 0 facing +Z, positive toward +X) of a pose ``[J, 3]``: the mean left joint minus
    the mean right joint points to the character's left, and its facing is that vector x up.
    0 when the rig has no left/right joints."""
    side = np.asarray(sides)
    if not ((side == "left").any() and (side == "right").any()):
        return 0.0
    across = positions[side == "left"].mean(axis=0) - positions[side == "right"].mean(axis=0)
    forward = np.cross(across, _UP)
    if math.hypot(forward[0], forward[2]) < 1e-9:
        return 0.0
    return math.atan2(forward[0], forward[2])


# --------------------------------------------------------------------------------------------------
# camera


def camera_rotation(camera: str, yaw: float = 0.0) -> np.ndarray:
    """World-to-camera axes ``[3, 3]``: orthonormal rows right, up and viewing direction (screen x
    right, y up, depth into the screen, so a left-handed frame: determinant -1).

    ``camera`` is one of :data:`CAMERAS`, placed relative to a character facing ``yaw`` (radians).
    """
    if camera not in _CAMERA_ANGLES:
        raise InputError(f"unknown camera '{camera}'; one of {', '.join(CAMERAS)}", field="camera")
    azimuth, elevation = _CAMERA_ANGLES[camera]
    heading = yaw + math.radians(azimuth)
    el = math.radians(elevation)
    # unit vector from the looked-at point toward the eye
    to_eye = np.array([math.cos(el) * math.sin(heading), math.sin(el), math.cos(el) * math.cos(heading)])
    view = -to_eye
    # looking straight down, "up" on screen is the character's forward
    screen_up = np.array([math.sin(yaw), 0.0, math.cos(yaw)]) if camera == "top" else _UP
    right = np.cross(view, screen_up)
    right /= np.linalg.norm(right)
    up = np.cross(right, view)
    return np.stack([right, up, view])


def focal_length(vertical_fov_deg: float = _VERTICAL_FOV_DEG) -> float:
    """Focal length in half-panel-heights: screen ``y = f * y_cam / depth`` spans ``[-1, 1]``."""
    return 1.0 / math.tan(math.radians(vertical_fov_deg) / 2.0)


def fit_view(points: np.ndarray, rotation: np.ndarray, focal: float, aspect: float, margin: float = _FIT_MARGIN) -> tuple[np.ndarray, float]:
    """Where to look and from how far so that every point of ``points [N, 3]`` is in the panel.

    The panel spans ``[-aspect, aspect] x [-1, 1]`` in screen units. Returns the world point to
    centre on ``[3]`` (the middle of the points' extent in camera axes) and the eye's distance
    from it along the viewing axis: for each point the smallest distance at which it projects
    inside ``margin`` of the half-panel, maximised over the points.
    """
    cam = points.reshape(-1, 3) @ rotation.T
    centre_cam = (cam.min(axis=0) + cam.max(axis=0)) / 2.0
    rel = cam - centre_cam
    # a point at camera offset (x, y) and depth dz past the centre fits when
    # focal * |x| / (d + dz) <= aspect * margin, i.e. d >= focal * |x| / (aspect * margin) - dz
    need_x = focal * np.abs(rel[:, 0]) / (aspect * margin) - rel[:, 2]
    need_y = focal * np.abs(rel[:, 1]) / margin - rel[:, 2]
    nearest = _NEAR * 4 - rel[:, 2]  # keep the whole motion well in front of the eye
    distance = float(max(need_x.max(), need_y.max(), nearest.max(), 0.5))
    return centre_cam @ rotation, distance


def to_camera(points: np.ndarray, eye: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """World points ``[..., 3]`` in camera axes ``[..., 3]`` (x right, y up, z depth along the view)."""
    return (points - eye) @ rotation.T


def project(cam_points: np.ndarray, focal: float) -> np.ndarray:
    """Camera-axes points ``[..., 3]`` (depth > 0) to screen ``[..., 2]`` (half-panel-height units)."""
    return focal * cam_points[..., :2] / cam_points[..., 2:3]


def clip_segments(segments: np.ndarray, near: float = _NEAR) -> np.ndarray:
    """Camera-axes segments ``[N, 2, 3]`` cut at the plane ``depth = near``; those wholly behind it
    are dropped, so the rest ``[M, 2, 3]`` project without flipping through the eye."""
    depth = segments[:, :, 2]
    keep = (depth > near).any(axis=1)
    segments = segments[keep].copy()
    depth = depth[keep]
    for end, other in ((0, 1), (1, 0)):
        behind = depth[:, end] <= near
        if behind.any():
            a, b = segments[behind, end], segments[behind, other]
            t = (near - a[:, 2]) / (b[:, 2] - a[:, 2])
            segments[behind, end] = a + t[:, None] * (b - a)
    return segments


def floor_grid(xz_min: Sequence[float], xz_max: Sequence[float], floor_y: float, max_lines: int = 40) -> np.ndarray:
    """Grid lines ``[G, 2, 3]`` on the plane ``y = floor_y`` covering the XZ box, at a round spacing
    (0.25 m, 0.5 m, 1 m, 2 m, ...) that keeps at most about ``max_lines`` lines per direction."""
    lo, hi = np.asarray(xz_min, dtype=float), np.asarray(xz_max, dtype=float)
    extent = float((hi - lo).max())
    spacing = next((s for s in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0) if extent / s <= max_lines), 100.0)
    lo, hi = np.floor(lo / spacing) * spacing, np.ceil(hi / spacing) * spacing
    xs = np.arange(lo[0], hi[0] + spacing / 2, spacing)
    zs = np.arange(lo[1], hi[1] + spacing / 2, spacing)
    along_z = [[[x, floor_y, lo[1]], [x, floor_y, hi[1]]] for x in xs]
    along_x = [[[lo[0], floor_y, z], [hi[0], floor_y, z]] for z in zs]
    return np.asarray(along_z + along_x, dtype=float)


# --------------------------------------------------------------------------------------------------
# inputs


def saved_prompts(path: str | Path) -> list[str]:
    """The prompts a ``motiongen`` ``.npz`` stores (``motiongen_prompts``, a JSON list); ``[]`` for
    other files or when the key is absent or unreadable (a caption is not worth failing for)."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        return []
    from motiongen.pipelines.output import PROMPTS_KEY

    try:
        with np.load(path, allow_pickle=False) as data:
            if PROMPTS_KEY not in data.files:
                return []
            prompts = json.loads(str(data[PROMPTS_KEY]))
    except (OSError, ValueError, EOFError):
        return []
    return [str(p) for p in prompts] if isinstance(prompts, list) else []


def load_render_input(path: str | Path, *, asf: str | Path | None = None) -> Motion:
    """Read any supported motion file (``.bvh``, ``.amc`` with ``asf``, KIMODO ``.npz``); the prompts
    saved in a ``motiongen`` ``.npz`` land in ``meta["prompts"]``."""
    from motiongen.io.formats import load_motion

    motion = load_motion(path, asf=asf)
    prompts = saved_prompts(path)
    if prompts:
        motion.meta["prompts"] = prompts
    motion.meta.setdefault("source", str(path))
    return motion


def default_caption(motion: Motion) -> str:
    """The motion's prompts in time order (``meta["prompts"]``) joined by arrows; ``""`` if none."""
    prompts = motion.meta.get("prompts") or []
    return " → ".join(str(p) for p in prompts)


# --------------------------------------------------------------------------------------------------
# rendering


@dataclass
class _Scene:
    """What one panel draws; positions are per output frame, already held past the motion's end."""

    positions: np.ndarray  # [T, J, 3]
    bone_child: np.ndarray  # [B] child joint per bone
    bone_parent: np.ndarray  # [B]
    bone_rgba: np.ndarray  # [B, 4]
    rotation: np.ndarray  # [3, 3]
    eyes: np.ndarray  # [T, 3]
    grid: np.ndarray  # [G, 2, 3]
    floor_y: float
    root_path: np.ndarray | None  # [T, 3] on the floor, or None
    motion_frames: int  # the motion's own length; later output frames hold its last pose


def _rgba(rgb: Sequence[int], alpha: float = 1.0) -> tuple[float, float, float, float]:
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, alpha)


def drawn_bones(positions: np.ndarray, parents: Sequence[int], stretch: float = 0.02) -> np.ndarray:
    """Child joint indices ``[B]`` of the bones worth drawing for ``positions [T, J, 3]``.

    A parent-child link whose length changes by more than ``stretch`` metres over the motion is a
    translation channel, not a bone (BVH rigs such as Bandai's keep a static ``joint_Root`` at the
    origin under the moving hips), so it is left out.
    """
    parents = np.asarray(parents)
    children = np.flatnonzero(parents >= 0)
    lengths = np.linalg.norm(positions[:, children] - positions[:, parents[children]], axis=-1)  # [T, B]
    return children[np.ptp(lengths, axis=0) <= stretch]


def trajectory_joint(positions: np.ndarray, parents: Sequence[int], still: float = 1e-3) -> int:
    """The joint whose path is the motion's trajectory: the root, or while the root stays put
    (``still`` metres) and a child of it moves, that child, and so on down."""
    parents = np.asarray(parents)
    joint = 0
    while np.ptp(positions[:, joint], axis=0).max() <= still:
        moving = [c for c in np.flatnonzero(parents == joint) if np.ptp(positions[:, c], axis=0).max() > still]
        if not moving:
            break
        joint = int(moving[0])
    return joint


def _build_scene(
    motion: Motion, num_frames: int, camera: str, follow: bool, aspect: float, trace: bool, pad: float = 0.0
) -> _Scene:
    """Camera per frame, bones and floor for ``motion`` shown over ``num_frames`` output frames;
    ``pad`` (half-panel-heights) is kept free at the edges for the lines' thickness."""
    all_positions = motion.joint_positions()  # [T, J, 3]
    held = np.minimum(np.arange(num_frames), all_positions.shape[0] - 1)
    all_positions = all_positions[held]
    parents = np.asarray(motion.skeleton.parents)
    sides = joint_sides(motion.skeleton.joint_names)
    children = drawn_bones(all_positions, parents)
    colour = {"left": _rgba(LEFT_RGB), "right": _rgba(RIGHT_RGB), "center": _rgba(CENTER_RGB)}
    bone_rgba = np.array([colour[sides[c]] for c in children]).reshape(-1, 4)
    root = all_positions[:, trajectory_joint(all_positions, parents)]
    # the camera fits what is drawn, not joints (like a static BVH root) that no bone shows
    shown = np.unique(np.concatenate([children, parents[children]])) if len(children) else np.arange(len(parents))
    positions = all_positions[:, shown]

    rotation = camera_rotation(camera, facing_yaw(all_positions[0], sides))
    focal = focal_length()
    # trust a floor at y = 0 (our convention) unless the motion goes below it
    floor_y = min(0.0, float(positions[..., 1].min()))
    if follow:
        from scipy.ndimage import gaussian_filter1d

        # the eye glides with the root rather than copying its per-step sway
        sigma = max(motion.fps * 0.25, 1e-3)
        target_xz = gaussian_filter1d(root[:, [0, 2]], sigma=sigma, axis=0, mode="nearest")
        target = np.stack([target_xz[:, 0], np.full(num_frames, floor_y), target_xz[:, 1]], axis=-1)
        # looser than a fixed view: a close camera exaggerates perspective
        centre, distance = fit_view(positions - target[:, None, :], rotation, focal, aspect, margin=_FOLLOW_MARGIN - pad)
        eyes = target + centre - rotation[2] * distance
        reach = max(3.0, distance)
        grid_lo, grid_hi = root[:, [0, 2]].min(axis=0) - reach, root[:, [0, 2]].max(axis=0) + reach
    else:
        centre, distance = fit_view(positions, rotation, focal, aspect, margin=_FIT_MARGIN - pad)
        eyes = np.broadcast_to(centre - rotation[2] * distance, (num_frames, 3))
        grid_lo = positions[..., [0, 2]].min(axis=(0, 1)) - 1.0
        grid_hi = positions[..., [0, 2]].max(axis=(0, 1)) + 1.0
    root_path = np.stack([root[:, 0], np.full(num_frames, floor_y), root[:, 2]], axis=-1) if trace else None
    return _Scene(
        positions=all_positions,
        bone_child=children,
        bone_parent=parents[children],
        bone_rgba=bone_rgba,
        rotation=rotation,
        eyes=np.asarray(eyes),
        grid=floor_grid(grid_lo, grid_hi, floor_y),
        floor_y=floor_y,
        root_path=root_path,
        motion_frames=motion.num_frames,
    )


def _projected_segments(world: np.ndarray, eye: np.ndarray, rotation: np.ndarray, focal: float) -> np.ndarray:
    """World segments ``[N, 2, 3]`` -> screen segments ``[M, 2, 2]``, those behind the eye dropped."""
    return project(clip_segments(to_camera(world, eye, rotation)), focal)


class _PanelArtists:
    """One panel's matplotlib artists, updated in place each frame."""

    def __init__(self, ax: Any, scene: _Scene, line_px: float, dpi: float, font_px: float) -> None:
        from matplotlib.collections import LineCollection

        pt = 72.0 / dpi
        self.scene = scene
        self.grid = LineCollection([], colors=[_rgba(GRID_RGB)], linewidths=max(1.0, line_px / 3) * pt, zorder=1)
        self.shadow = LineCollection([], colors=[_rgba(SHADOW_RGB)], linewidths=line_px * pt, capstyle="round", zorder=2)
        self.bones = LineCollection([], linewidths=line_px * pt, capstyle="round", joinstyle="round", zorder=4)
        for artist in (self.grid, self.shadow, self.bones):
            ax.add_collection(artist)
        self.trace = None
        if scene.root_path is not None:
            (self.trace,) = ax.plot([], [], color=_rgba(TRACE_RGB), linewidth=max(1.5, line_px / 2) * pt, zorder=3)
        self.counter = ax.text(
            0.98, 0.02, "", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=font_px * 0.8 * pt, color=_rgba(TEXT_RGB, 0.6), zorder=5,
        )

    def update(self, frame: int, focal: float) -> None:
        s = self.scene
        eye = s.eyes[frame]
        grid = _projected_segments(s.grid, eye, s.rotation, focal)
        self.grid.set_segments(grid)

        pose = s.positions[frame]
        shadow_pose = pose.copy()
        shadow_pose[:, 1] = s.floor_y
        shadow = _projected_segments(np.stack([shadow_pose[s.bone_parent], shadow_pose[s.bone_child]], axis=1), eye, s.rotation, focal)
        self.shadow.set_segments(shadow)

        world = np.stack([pose[s.bone_parent], pose[s.bone_child]], axis=1)
        cam = to_camera(world, eye, s.rotation)
        visible = (cam[:, :, 2] > _NEAR).any(axis=1)
        screen = project(clip_segments(cam), focal)
        # painter's order: far bones first, so near limbs cover far ones
        order = np.argsort(-cam[visible][:, :, 2].mean(axis=1), kind="stable")
        self.bones.set_segments(screen[order])
        self.bones.set_color(s.bone_rgba[visible][order])

        if self.trace is not None and s.root_path is not None:
            path_cam = to_camera(s.root_path[: frame + 1], eye, s.rotation)
            path = project(np.where(path_cam[:, 2:3] > _NEAR, path_cam, np.nan), focal)
            self.trace.set_data(path[:, 0], path[:, 1])
        self.counter.set_text(f"{min(frame, s.motion_frames - 1) + 1}/{s.motion_frames}")


def _wrap_caption(text: str, width_px: float, font_px: float, max_lines: int = 3) -> list[str]:
    """``text`` wrapped to ``width_px`` (average glyph ~0.55 font size wide), at most ``max_lines``."""
    if not text:
        return []
    chars = max(8, int(width_px / (0.55 * font_px)))
    lines = textwrap.wrap(text, chars)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, chars - 1)].rstrip() + "…"
    return lines


def gif_frame_durations_ms(num_frames: int, fps: float) -> list[int]:
    """Per-frame delays (ms, whole centiseconds, GIF's unit) whose running sum tracks ``k / fps``,
    so 30 fps plays as 30, 30, 40, 30, 30, 40 ms rather than drifting at 30 ms."""
    ticks = np.round(np.arange(num_frames + 1) * 100.0 / fps).astype(int)
    return [max(2, int(d)) * 10 for d in np.diff(ticks)]


def mp4_writer_available() -> bool:
    """Whether ``imageio-ffmpeg`` (with its bundled ffmpeg) can write MP4 here."""
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    except (ImportError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def gif_palette() -> tuple[int, ...]:
    """The fixed 256-colour GIF palette (flat RGB): each drawing colour in 32 blends toward the white
    background (what antialiasing makes of it), then a grey ramp for everything else."""
    colours = (LEFT_RGB, RIGHT_RGB, CENTER_RGB, TRACE_RGB, SHADOW_RGB, GRID_RGB, TEXT_RGB)
    blends = [
        tuple(round(float(a * c + (1.0 - a) * w)) for c, w in zip(colour, BACKGROUND_RGB))
        for colour in colours
        for a in np.linspace(1.0, 0.0, 32, endpoint=False)
    ]
    greys = [(int(v),) * 3 for v in np.linspace(0, 255, 256 - len(blends)).round()]
    return tuple(v for rgb in blends + greys for v in rgb)


class _GifSink:
    """GIF frames mapped at once onto :func:`gif_palette`: about 5x faster than Pillow's adaptive
    palette per frame, smaller files, and a colour keeps its value from frame to frame. Frames are
    held as 1 byte per pixel until :meth:`finish` writes them."""

    def __init__(self, path: Path, fps: float, num_frames: int) -> None:
        from PIL import Image

        self._image = Image
        self._palette = Image.new("P", (1, 1))
        self._palette.putpalette(list(gif_palette()))
        self._frames: list[Any] = []
        self._path = path
        self._durations = gif_frame_durations_ms(num_frames, fps)

    def write(self, frame: np.ndarray) -> None:
        rgb = self._image.fromarray(np.ascontiguousarray(frame))  # uint8 [H, W, 3] -> RGB
        self._frames.append(rgb.quantize(palette=self._palette, dither=self._image.Dither.NONE))

    def finish(self) -> None:
        first, *rest = self._frames
        first.save(self._path, format="GIF", save_all=True, append_images=rest, duration=self._durations[: len(self._frames)], loop=0)

    def abort(self) -> None:
        self._frames.clear()


class _Mp4Sink:
    """H.264 MP4 through ``imageio-ffmpeg`` (frames streamed to its bundled ffmpeg)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import imageio_ffmpeg

        self._writer = imageio_ffmpeg.write_frames(
            str(path), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=6,
            macro_block_size=2, ffmpeg_log_level="error", output_params=["-movflags", "+faststart"],
        )
        self._writer.send(None)

    def write(self, frame: np.ndarray) -> None:
        self._writer.send(np.ascontiguousarray(frame))

    def finish(self) -> None:
        self._writer.close()

    abort = finish  # closing is how ffmpeg is stopped; the temporary file is removed by the caller


def _check_output(out_path: Path) -> str:
    suffix = out_path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"unsupported output format '{suffix or '(none)'}'; write {' or '.join(OUTPUT_SUFFIXES)}", path=out_path, field="output")
    if out_path.is_dir():
        raise InputError("is a folder; name a file", path=out_path, field="output")
    return suffix


def _frame_range(motion: Motion, start: int, end: int | None, name: str) -> Motion:
    """``motion`` frames ``[start, min(end, T))``; an empty range is the user's mistake."""
    t = motion.num_frames
    if start < 0 or start >= t:
        raise InputError(f"start frame {start} is outside {name}'s frames 0..{t - 1}", field="start")
    stop = t if end is None else min(end, t)
    if stop <= start:
        raise InputError(f"empty frame range [{start}, {end}) for {name}; end must be greater than start", field="end")
    return motion.slice(start, stop) if (start, stop) != (0, t) else motion


def _as_motions(motions: Motion | str | os.PathLike[str] | Sequence[Motion | str | os.PathLike[str]], asf: str | Path | None) -> list[tuple[Motion, str]]:
    from motiongen.motion.motion import Motion

    items = [motions] if isinstance(motions, (Motion, str, os.PathLike)) else list(motions)
    if not items:
        raise InputError("no motion to render", field="inputs")
    out = []
    for item in items:
        if isinstance(item, Motion):
            out.append((item, Path(str(item.meta.get("source", "motion"))).name))
        else:
            out.append((load_render_input(item, asf=asf), Path(item).name))
    return out


def render_motion(
    motions: Motion | str | os.PathLike[str] | Sequence[Motion | str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    camera: str = DEFAULT_CAMERA,
    follow: bool = False,
    caption: str | Sequence[str] | None = None,
    fps: float | None = None,
    width: int | None = None,
    height: int = DEFAULT_HEIGHT,
    start: int = 0,
    end: int | None = None,
    trace: bool = False,
    asf: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Path:
    """Render one or more motions (side by side) to an animated ``.gif`` or ``.mp4``.

    Args:
        motions: a Motion, a motion file (``.bvh``, ``.npz``, ``.amc`` with ``asf``), or a list of
            them: one panel each, the shorter ones holding their last frame.
        out_path: ``.gif`` or ``.mp4``; written to a temporary file and renamed when complete.
        camera: one of :data:`CAMERAS`, relative to each character's facing in its first frame.
        follow: the camera follows the (smoothed) root; otherwise one view fits the whole motion.
        caption: ``None``: each panel shows its motion's prompts (``meta["prompts"]``, or those
            saved in a ``motiongen`` ``.npz``), else for several panels the file name; a string:
            one caption over the whole picture (``""`` for none); a list: one per panel.
        fps: output frame rate; default the first motion's (for a GIF at most 50). Motions at
            another rate are resampled, so everything plays at real speed.
        width, height: output size in pixels; default 480 per panel by 360. An MP4's odd size is
            rounded up to even (H.264 needs it).
        start, end: the frames ``[start, end)`` of each input, in its own frame numbers; ``end``
            past a motion's last frame stops at its end.
        trace: draw the root's path on the floor up to the current frame.
        asf: the skeleton file for ``.amc`` inputs.
        progress: show a progress bar over frames.

    Returns:
        ``out_path``.
    """
    out_path = Path(out_path).expanduser()
    suffix = _check_output(out_path)
    if camera not in CAMERAS:
        raise InputError(f"unknown camera '{camera}'; one of {', '.join(CAMERAS)}", field="camera")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise InputError(f"must be a positive number, got {fps}", field="fps")
    if fps is not None and suffix == ".gif" and fps > GIF_MAX_FPS:
        raise InputError(f"a GIF plays at most {GIF_MAX_FPS:g} fps, got {fps:g}; lower --fps or write .mp4", field="fps")
    for name, value in (("width", width), ("height", height)):
        if value is not None and not 16 <= value <= 8192:
            raise InputError(f"must be 16..8192 pixels, got {value}", field=name)
    if start < 0:
        raise InputError(f"must be >= 0, got {start}", field="start")
    if suffix == ".mp4" and not mp4_writer_available():
        raise InputError("writing an MP4 needs imageio-ffmpeg: pip install 'motiongen[viz]' (or write a .gif)", field="output")
    if end is not None and end <= start:
        raise InputError(f"empty frame range: end {end} must be greater than start {start}", field="end")

    loaded = _as_motions(motions, asf)
    n = len(loaded)
    if isinstance(caption, str) or caption is None:
        panel_captions = [default_caption(m) or (name if n > 1 else "") for m, name in loaded] if caption is None else [""] * n
        figure_caption = caption or ""
    else:
        panel_captions = [str(c) for c in caption]
        figure_caption = ""
        if len(panel_captions) != n:
            raise InputError(f"{len(panel_captions)} captions for {n} inputs; give one, or one per input", field="caption")

    out_fps = float(fps) if fps is not None else loaded[0][0].fps
    if suffix == ".gif" and fps is None:
        out_fps = min(out_fps, GIF_MAX_FPS)
    clips = []
    for motion, name in loaded:
        clip = _frame_range(motion, start, end, name)
        clips.append(clip if abs(clip.fps - out_fps) < 1e-6 else clip.resample(out_fps))
    num_frames = max(c.num_frames for c in clips)

    width = width if width is not None else DEFAULT_PANEL_WIDTH * n
    if suffix == ".mp4":
        width, height = width + width % 2, height + height % 2
    return _render(clips, out_path, suffix, camera, follow, panel_captions, figure_caption, out_fps, width, height, num_frames, trace, progress)


def _render(
    clips: list[Motion], out_path: Path, suffix: str, camera: str, follow: bool, panel_captions: list[str],
    figure_caption: str, fps: float, width: int, height: int, num_frames: int, trace: bool, progress: bool,
) -> Path:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MotiongenError("rendering needs matplotlib: pip install 'motiongen[viz]'") from None
    from tqdm.auto import tqdm

    from motiongen.io.atomic import ordinary_mode

    dpi = 100.0
    n = len(clips)
    panel_w = width / n
    font_px = float(np.clip(height / 24.0, 9.0, 28.0))
    line_px = float(max(2.0, height / 110.0))
    pt = 72.0 / dpi
    wrapped = [_wrap_caption(c, panel_w * 0.95, font_px) for c in panel_captions]
    figure_lines = _wrap_caption(figure_caption, width * 0.95, font_px)
    caption_lines = max([len(w) for w in wrapped] + [len(figure_lines)])
    band_px = caption_lines * 1.3 * font_px + (0.6 * font_px if caption_lines else 0.0)
    band = min(band_px / height, 0.4)
    aspect = panel_w / (height * (1.0 - band))

    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=_rgba(BACKGROUND_RGB))
    canvas = FigureCanvasAgg(fig)
    focal = focal_length()
    panels = []
    for k, clip in enumerate(clips):
        ax = fig.add_axes((k / n, 0.0, 1.0 / n, 1.0 - band))
        ax.set_axis_off()
        ax.set_xlim(-aspect, aspect)
        ax.set_ylim(-1.0, 1.0)
        axes_half_px = height * (1.0 - band) / 2.0
        scene = _build_scene(clip, num_frames, camera, follow, aspect, trace, pad=(line_px / 2 + 1) / axes_half_px)
        panels.append(_PanelArtists(ax, scene, line_px, dpi, font_px))
        if wrapped[k]:
            fig.text((k + 0.5) / n, 1.0 - 0.3 * font_px / height, "\n".join(wrapped[k]), ha="center", va="top",
                     fontsize=font_px * pt, color=_rgba(TEXT_RGB), linespacing=1.2)
    if figure_lines:
        fig.text(0.5, 1.0 - 0.3 * font_px / height, "\n".join(figure_lines), ha="center", va="top",
                 fontsize=font_px * pt, color=_rgba(TEXT_RGB), linespacing=1.2)

    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=f".tmp{suffix}")
    except OSError as exc:
        raise InputError(f"cannot write there ({exc.strerror or exc})", path=out_path, field="output") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        sink = _GifSink(tmp, fps, num_frames) if suffix == ".gif" else _Mp4Sink(tmp, fps, (width, height))
        try:
            for frame in tqdm(range(num_frames), desc=f"render {out_path.name}", unit="frame", disable=not progress):
                for panel in panels:
                    panel.update(frame, focal)
                canvas.draw()
                sink.write(np.asarray(canvas.buffer_rgba())[:, :, :3])
        except BaseException:
            sink.abort()
            raise
        sink.finish()
        os.chmod(tmp, ordinary_mode())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


# --------------------------------------------------------------------------------------------------
# command line


def add_render_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``render`` subcommand to ``sub`` (an ``add_subparsers`` result)."""
    p = sub.add_parser(
        "render",
        help="render motion files to an animated GIF or MP4 (headless)",
        description="Render motion files (.bvh, KIMODO .npz, .amc with --asf) as skeletons to an animated GIF or "
        "MP4. Several inputs render side by side; a shorter one holds its last frame.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="motion file(s): .bvh, .npz (KIMODO layout), .amc (with --asf)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .gif or .mp4")
    p.add_argument("--camera", choices=CAMERAS, default=DEFAULT_CAMERA,
                   help=f"view relative to the character's initial facing (default {DEFAULT_CAMERA})")
    p.add_argument("--follow", action="store_true", help="camera follows the root (default: one view fits the whole motion)")
    p.add_argument("--caption", action="append", metavar="TEXT",
                   help="caption: once for the whole picture, or once per input (default: the prompts saved in a "
                   "motiongen .npz; with several inputs, else the file names); --caption '' for none")
    p.add_argument("--fps", type=float, help=f"frame rate (default the first input's; a GIF at most {GIF_MAX_FPS:g}); "
                   "motions are resampled to play at real speed")
    p.add_argument("--width", type=int, help=f"width in pixels (default {DEFAULT_PANEL_WIDTH} per input)")
    p.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help=f"height in pixels (default {DEFAULT_HEIGHT})")
    p.add_argument("--start", type=int, default=0, help="first frame of each input (default 0)")
    p.add_argument("--end", type=int, help="frame to stop before (default: the end)")
    p.add_argument("--trace", action="store_true", help="draw the root trajectory on the floor")
    p.add_argument("--asf", help="skeleton file for .amc inputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_render)
    return p


def cmd_render(args: argparse.Namespace) -> int:
    """``motiongen render``: prints what it wrote; user mistakes raise :class:`InputError`."""
    captions = args.caption
    caption: str | list[str] | None = None
    if captions is not None:
        caption = captions[0] if len(captions) == 1 else list(captions)
    out = render_motion(
        args.inputs, args.output, camera=args.camera, follow=args.follow, caption=caption, fps=args.fps,
        width=args.width, height=args.height, start=args.start, end=args.end, trace=args.trace, asf=args.asf,
        progress=not args.no_progress,
    )
    print(f"wrote {out}")
    return 0
