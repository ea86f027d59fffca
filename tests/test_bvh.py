"""BVH reader and writer: real Bandai files, synthetic rigs in every rotation order, malformed input, fuzzing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motiongen.errors import InputError
from motiongen.geometry import EULER_ORDERS, quaternion_to_matrix
from motiongen.io.bvh import read_bvh, write_bvh
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

BANDAI_FILES = (
    "Bandai-Namco-Research-Motiondataset-1/data/dataset-1_bow_active_001.bvh",
    "Bandai-Namco-Research-Motiondataset-1/data/dataset-1_dash_happy_001.bvh",
    "Bandai-Namco-Research-Motiondataset-1/data/dataset-1_kick_normal_001.bvh",
    "Bandai-Namco-Research-Motiondataset-1/data/dataset-1_punch_normal_001.bvh",
    "Bandai-Namco-Research-Motiondataset-2/data/dataset-2_walk_normal_001.bvh",
    "Bandai-Namco-Research-Motiondataset-2/data/dataset-2_run_active_001.bvh",
    "Bandai-Namco-Research-Motiondataset-2/data/dataset-2_wave-left-hand_elderly_001.bvh",
    "Bandai-Namco-Research-Motiondataset-2/data/dataset-2_raise-up-right-hand_youthful_001.bvh",
)

# A small valid file: 3 joints (one with position channels), an End Site, 3 frames, ZXY and XYZ orders.
SMALL_BVH = """HIERARCHY
ROOT Hips
{
\tOFFSET 0.0 90.0 0.0
\tCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
\tJOINT Chest
\t{
\t\tOFFSET 0.0 20.0 0.0
\t\tCHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
\t\tJOINT Head
\t\t{
\t\t\tOFFSET 0.0 30.0 1.0
\t\t\tCHANNELS 3 Zrotation Xrotation Yrotation
\t\t\tEnd Site
\t\t\t{
\t\t\t\tOFFSET 0.0 10.0 0.0
\t\t\t}
\t\t}
\t}
}
MOTION
Frames: 3
Frame Time: 0.0333333
1.0 90.0 2.0 10.0 20.0 30.0 0.0 20.0 0.0 5.0 -5.0 15.0 1.0 2.0 3.0
1.5 91.0 2.5 11.0 21.0 31.0 0.0 21.0 0.0 6.0 -4.0 16.0 2.0 3.0 4.0
2.0 92.0 3.0 12.0 22.0 32.0 0.0 22.0 0.0 7.0 -3.0 17.0 3.0 4.0 5.0
"""
SMALL_LINES = SMALL_BVH.split("\n")
FRAME_LINE = SMALL_LINES.index("MOTION") + 4  # 1-based number of the first frame line


def _line_of(text: str) -> int:
    return SMALL_LINES.index(text) + 1


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _write_text(folder: Path, text: str, name: str = "clip.bvh") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _random_rotations(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.normal(size=shape + (4,))
    return quaternion_to_matrix(q / np.linalg.norm(q, axis=-1, keepdims=True))


# ------------------------------------------------------------------------------------------------
# real data


@pytest.fixture(scope="module")
def bandai(raw) -> Path:
    return raw("bandai") / "dataset"


@pytest.mark.data
@pytest.mark.parametrize("relative", BANDAI_FILES)
def test_bandai_round_trip_keeps_positions_and_layout(bandai: Path, relative: str, tmp_path: Path) -> None:
    source = read_bvh(bandai / relative)
    out = write_bvh(source, tmp_path / "copy.bvh")
    again = read_bvh(out)
    assert again.num_frames == source.num_frames
    assert again.fps == source.fps == 30.0
    assert again.skeleton.joint_names == source.skeleton.joint_names
    assert again.meta["bvh"]["channels"] == source.meta["bvh"]["channels"]
    sites, source_sites = again.meta["bvh"]["end_sites"], source.meta["bvh"]["end_sites"]
    assert sites.keys() == source_sites.keys() and len(sites) == 5
    assert all(np.allclose(sites[k], source_sites[k]) for k in sites)
    assert again.meta["bvh"]["units"] == "cm"
    assert np.abs(again.joint_positions() - source.joint_positions()).max() < 1e-4
    # the source's channel values are reproduced, not only the positions
    assert np.abs(again.joint_translations[:, 1:] - source.joint_translations[:, 1:]).max() < 1e-7


@pytest.mark.data
def test_bandai_motion_is_sane(bandai: Path) -> None:
    motion = read_bvh(bandai / BANDAI_FILES[4])
    skeleton = motion.skeleton
    assert skeleton.num_joints == 22 and skeleton.joint_names[0] == "joint_Root"
    assert skeleton.name == "dataset-2_walk_normal_001"
    assert motion.fps == 30.0 and motion.num_frames == 273
    assert motion.meta["bvh"]["units"] == "cm"
    assert motion.meta["bvh"]["rotation_orders"] == ["ZXY"] * 22
    pos = motion.joint_positions()[0]
    head = pos[skeleton.index("Head"), 1]
    feet = pos[skeleton.indices(["Foot_L", "Foot_R", "Toes_L", "Toes_R"]), 1]
    assert (head > feet + 1.0).all()  # Y up, metres
    assert 0.7 < pos[skeleton.index("Hips"), 1] < 1.2


# ------------------------------------------------------------------------------------------------
# conventions on a hand-written file


def test_small_file_follows_the_bvh_conventions(tmp_path: Path) -> None:
    motion = read_bvh(_write_text(tmp_path, SMALL_BVH))
    deg = np.deg2rad
    assert motion.skeleton.joint_names == ("Hips", "Chest", "Head")
    assert motion.meta["bvh"]["units"] == "cm" and motion.fps == 30.0
    # listed order composes intrinsically: "Zrotation Xrotation Yrotation" is Rz Rx Ry
    assert np.allclose(motion.local_rotations[0, 0], _rz(deg(10)) @ _rx(deg(20)) @ _ry(deg(30)))
    assert np.allclose(motion.local_rotations[1, 1], _rx(deg(6)) @ _ry(deg(-4)) @ _rz(deg(16)))
    # root position channels are absolute (OFFSET not added); cm -> m
    assert np.allclose(motion.root_translation[2], [0.02, 0.92, 0.03])
    assert np.allclose(motion.skeleton.offsets[2], [0.0, 0.30, 0.01])
    # a non-root joint's position channels replace its OFFSET; joints without them are NaN
    assert np.allclose(motion.joint_translations[1, 1], [0.0, 0.21, 0.0])
    assert np.isnan(motion.joint_translations[:, [0, 2]]).all()
    head = motion.root_translation[0] + motion.local_rotations[0, 0] @ (
        np.array([0.0, 0.20, 0.0]) + motion.local_rotations[0, 1] @ np.array([0.0, 0.30, 0.01])
    )
    assert np.allclose(motion.joint_positions()[0, 2], head)
    assert motion.meta["bvh"]["end_sites"] == {"Head": pytest.approx([0.0, 0.1, 0.0])}


@pytest.mark.parametrize(
    ("units", "scale"), [("auto", 0.01), ("cm", 0.01), ("m", 1.0), ("mm", 0.001), ("inch", 0.0254), (0.5, 0.5)]
)
def test_units(tmp_path: Path, units: str | float, scale: float) -> None:
    motion = read_bvh(_write_text(tmp_path, SMALL_BVH), units=units)
    assert np.allclose(motion.root_translation[0], np.array([1.0, 90.0, 2.0]) * scale)


def test_units_auto_reads_a_metre_file_as_metres(tmp_path: Path) -> None:
    text = SMALL_BVH.replace("90.0 0.0", "0.9 0.0").replace("OFFSET 0.0 20.0", "OFFSET 0.0 0.2")
    text = text.replace("OFFSET 0.0 30.0 1.0", "OFFSET 0.0 0.3 0.01").replace("OFFSET 0.0 10.0", "OFFSET 0.0 0.1")
    lines = text.split("\n")
    for k in range(FRAME_LINE - 1, FRAME_LINE + 2):
        values = lines[k].split()
        values[1], values[7] = "0.9", "0.2"
        lines[k] = " ".join(values)
    motion = read_bvh(_write_text(tmp_path, "\n".join(lines)))
    assert motion.meta["bvh"]["units"] == "m"
    assert np.allclose(motion.skeleton.offsets[2], [0.0, 0.3, 0.01])


@pytest.mark.parametrize("units", ["furlong", -1.0, float("nan"), True])
def test_bad_units_raise(tmp_path: Path, units: object) -> None:
    with pytest.raises(InputError, match="units"):
        read_bvh(_write_text(tmp_path, SMALL_BVH), units=units)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame_time", "fps"), [("0.0333333", 30.0), ("0.01", 100.0), ("0.0416667", 24.0), ("0.0333667", 29.97)]
)
def test_fps_from_frame_time(tmp_path: Path, frame_time: str, fps: float) -> None:
    motion = read_bvh(_write_text(tmp_path, SMALL_BVH.replace("0.0333333", frame_time)))
    assert motion.fps == fps


def test_whitespace_and_case_do_not_matter(tmp_path: Path) -> None:
    text = SMALL_BVH.replace("\t", "   ").replace("\n{", " {").replace("Zrotation", "ZROTATION")
    text = text.replace("\n", "\r\n").replace("Frames: 3", "Frames:\t3").replace(" 2.0 3.0 4.0", "  2.0\t3.0   4.0")
    spaced = read_bvh(_write_text(tmp_path, text + "\r\n\r\n", "spaced.bvh"))
    plain = read_bvh(_write_text(tmp_path, SMALL_BVH, "plain.bvh"))
    assert np.array_equal(spaced.joint_positions(), plain.joint_positions())


# ------------------------------------------------------------------------------------------------
# synthetic rigs


def _synthetic_motion(positions: bool, rng: np.random.Generator, frames: int = 5) -> Motion:
    # branching rig given in breadth-first order, so the writer's depth-first order differs
    skeleton = Skeleton(
        name="synthetic",
        joint_names=("root", "left", "right", "left_tip", "right_tip"),
        parents=(-1, 0, 0, 1, 2),
        offsets=np.array([[0, 1.0, 0], [0.2, 0, 0], [-0.2, 0, 0], [0, -0.5, 0.1], [0, -0.5, -0.1]]),
    )
    jt = None
    if positions:
        jt = np.full((frames, 5, 3), np.nan)
        jt[:, 1] = skeleton.offsets[1] + rng.normal(scale=0.05, size=(frames, 3))
    return Motion(
        local_rotations=_random_rotations(rng, (frames, 5)),
        root_translation=rng.normal(size=(frames, 3)),
        fps=30.0,
        skeleton=skeleton,
        joint_translations=jt,
    )


def _positions_by_name(motion: Motion) -> dict[str, np.ndarray]:
    pos = motion.joint_positions()
    return {name: pos[:, j] for j, name in enumerate(motion.skeleton.joint_names)}


@pytest.mark.parametrize("order", EULER_ORDERS)
@pytest.mark.parametrize("positions", [False, True])
def test_synthetic_rig_round_trips_in_every_order(tmp_path: Path, order: str, positions: bool) -> None:
    motion = _synthetic_motion(positions, np.random.default_rng(EULER_ORDERS.index(order)))
    again = read_bvh(write_bvh(motion, tmp_path / "rig.bvh", rotation_order=order))
    assert again.skeleton.joint_names == ("root", "left", "left_tip", "right", "right_tip")  # depth first
    expected = [["Xposition", "Yposition", "Zposition"] + [f"{a}rotation" for a in order]] + [
        ([f"{a}position" for a in "XYZ"] if positions and name == "left" else []) + [f"{a}rotation" for a in order]
        for name in again.skeleton.joint_names[1:]
    ]
    assert again.meta["bvh"]["channels"] == expected
    assert again.meta["bvh"]["rotation_orders"] == [order] * 5
    before, after = _positions_by_name(motion), _positions_by_name(again)
    for name in before:
        assert np.abs(before[name] - after[name]).max() < 1e-6, name
    # re-writing in another order gives the same positions again
    other = read_bvh(write_bvh(again, tmp_path / "other.bvh", rotation_order=order[::-1]))
    assert other.meta["bvh"]["rotation_orders"] == [order[::-1]] * 5
    assert np.abs(other.joint_positions() - again.joint_positions()).max() < 1e-6


def test_default_layout_is_zyx_in_centimetres(tmp_path: Path) -> None:
    path = write_bvh(_synthetic_motion(False, np.random.default_rng(0)), tmp_path / "rig.bvh")
    text = path.read_text()
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation" in text
    assert "OFFSET 0.000000 100.000000 0.000000" in text  # root offset 1 m written in cm
    assert text.count("End Site") == 2  # the two leaves


def test_layout_that_cannot_carry_the_motion_falls_back(tmp_path: Path) -> None:
    # meta claims the head turns only about Z; the motion turns it about X too
    source = read_bvh(_write_text(tmp_path, SMALL_BVH))
    source.meta["bvh"]["channels"][2] = ["Zrotation"]
    again = read_bvh(write_bvh(source, tmp_path / "out.bvh"))
    assert again.meta["bvh"]["channels"][2] == ["Zrotation", "Yrotation", "Xrotation"]
    assert np.abs(again.joint_positions() - source.joint_positions()).max() < 1e-7


def test_partial_rotation_channels_round_trip(tmp_path: Path) -> None:
    text = SMALL_BVH.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 1 Yrotation")
    lines = text.split("\n")
    for k in range(FRAME_LINE - 1, FRAME_LINE + 2):
        lines[k] = " ".join(lines[k].split()[:-2])
    source = read_bvh(_write_text(tmp_path, "\n".join(lines)))
    assert np.allclose(source.local_rotations[:, 2], [_ry(np.deg2rad(a)) for a in (1.0, 2.0, 3.0)])
    again = read_bvh(write_bvh(source, tmp_path / "out.bvh"))
    assert again.meta["bvh"]["channels"] == source.meta["bvh"]["channels"]
    assert np.abs(again.joint_positions() - source.joint_positions()).max() < 1e-7


def test_write_units_and_decimals(tmp_path: Path) -> None:
    motion = read_bvh(_write_text(tmp_path, SMALL_BVH))
    metres = read_bvh(write_bvh(motion, tmp_path / "m.bvh", units="m", decimals=9), units="m")
    assert "OFFSET 0.000000000 0.200000000 0.000000000" in (tmp_path / "m.bvh").read_text()
    assert np.abs(metres.joint_positions() - motion.joint_positions()).max() < 1e-8
    for kwargs in ({"units": "parsec"}, {"rotation_order": "XXY"}, {"decimals": 40}):
        with pytest.raises(InputError):
            write_bvh(motion, tmp_path / "bad.bvh", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "bad.bvh").exists()


# ------------------------------------------------------------------------------------------------
# malformed input


def _replace_line(number: int, new: str | None) -> str:
    lines = list(SMALL_LINES)
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    return "\n".join(lines)


MALFORMED = {
    "empty": ("", 1),
    "blank": ("  \n\n", 1),
    "truncated in the hierarchy": ("\n".join(SMALL_LINES[:9]), 9),
    "truncated mid frame": (SMALL_BVH[: SMALL_BVH.rindex("3.0 4.0 5.0")], FRAME_LINE + 2),
    "value missing on a frame line": (
        _replace_line(FRAME_LINE + 1, SMALL_LINES[FRAME_LINE].rsplit(" ", 1)[0]),
        FRAME_LINE + 1,
    ),
    "extra value on a frame line": (_replace_line(FRAME_LINE, SMALL_LINES[FRAME_LINE - 1] + " 7"), FRAME_LINE),
    "fewer frame lines than Frames": (SMALL_BVH.replace("Frames: 3", "Frames: 5"), FRAME_LINE + 3),
    "more frame lines than Frames": (SMALL_BVH.replace("Frames: 3", "Frames: 2"), FRAME_LINE + 2),
    "non-numeric value": (SMALL_BVH.replace("21.0 0.0 6.0", "21.0 abc 6.0"), FRAME_LINE + 1),
    "glued numbers": (SMALL_BVH.replace("21.0 0.0 6.0", "21.0 0.0-6.0 0"), FRAME_LINE + 1),
    "NaN value": (SMALL_BVH.replace("22.0 0.0 7.0", "22.0 nan 7.0"), FRAME_LINE + 2),
    "inf value": (SMALL_BVH.replace("1.5 91.0", "1.5 inf"), FRAME_LINE + 1),
    "unknown channel": (
        SMALL_BVH.replace("Xrotation Yrotation Zrotation", "Xrotation Wrotation Zrotation"),
        _line_of("\t\tCHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation"),
    ),
    "channel count too large": (
        SMALL_BVH.replace("CHANNELS 3", "CHANNELS 7"),
        _line_of("\t\t\tCHANNELS 3 Zrotation Xrotation Yrotation"),
    ),
    "non-numeric offset": (
        SMALL_BVH.replace("OFFSET 0.0 30.0 1.0", "OFFSET 0.0 thirty 1.0"),
        _line_of("\t\t\tOFFSET 0.0 30.0 1.0"),
    ),
    "extra closing brace": (_replace_line(_line_of("MOTION") - 1, "}\n}"), _line_of("MOTION")),
    "missing closing brace": (_replace_line(_line_of("MOTION") - 1, None), _line_of("MOTION") - 1),
    "missing HIERARCHY": (_replace_line(1, None), 1),
    "missing MOTION": (_replace_line(_line_of("MOTION"), None), _line_of("MOTION")),
    "no MOTION section at all": ("\n".join(SMALL_LINES[: _line_of("MOTION") - 1]) + "\n", _line_of("MOTION")),
    "duplicate joint name": (SMALL_BVH.replace("JOINT Head", "JOINT Chest"), _line_of("\t\tJOINT Head")),
    "bad Frames value": (SMALL_BVH.replace("Frames: 3", "Frames: three"), _line_of("Frames: 3")),
    "zero Frames": (SMALL_BVH.replace("Frames: 3", "Frames: 0"), _line_of("Frames: 3")),
    "zero Frame Time": (SMALL_BVH.replace("0.0333333", "0"), _line_of("Frame Time: 0.0333333")),
    "missing joint name": (SMALL_BVH.replace("JOINT Head", "JOINT"), _line_of("\t\tJOINT Head")),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line = MALFORMED[case]
    path = _write_text(tmp_path, text)
    with pytest.raises(InputError) as info:
        read_bvh(path)
    assert info.value.line == line, str(info.value)
    assert f"{path}:{line}:" in str(info.value)


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such BVH file"):
        read_bvh(tmp_path / "absent.bvh")


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    motion = read_bvh(_write_text(tmp_path, SMALL_BVH))
    motion.local_rotations[2, 1, 0, 0] = np.nan
    target = tmp_path / "out" / "broken.bvh"
    with pytest.raises(InputError, match=r"local_rotations is not finite at index \(2, 1, 0, 0\)"):
        write_bvh(motion, target)
    assert not target.exists()
    # an existing file is left as it was, and no temporary file stays behind
    target.parent.mkdir()
    target.write_text("previous")
    motion.local_rotations[2, 1] = np.eye(3) * 2.0  # not a rotation
    with pytest.raises(InputError, match="not a rotation matrix"):
        write_bvh(motion, target)
    assert target.read_text() == "previous"
    assert sorted(p.name for p in target.parent.iterdir()) == ["broken.bvh"]


# ------------------------------------------------------------------------------------------------
# fuzzing

GARBAGE = ["{", "}", "JOINT", "ROOT", "End", "Site", "OFFSET", "CHANNELS", "MOTION", "HIERARCHY", "Frames:",
           "Frame", "Time:", "nan", "-inf", "1e999", "1e308", "-", "abc", "\n", "\n\n", "0", "-3", "6", "99999999",
           "Xrotation", "Yposition", "1.0.0", "\t", "\x00", "é"]


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def _mutate(text: str, ops: list[tuple[str, int, str]]) -> str:
    words = text.split(" ")
    for op, at, garbage in ops:
        at = at % (len(words) + 1)
        if op == "delete" and words:
            del words[min(at, len(words) - 1)]
        elif op == "insert":
            words.insert(at, garbage)
        elif op == "truncate":
            return " ".join(words)[: at * 7]
    return " ".join(words)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["delete", "insert", "truncate"]), st.integers(0, 400), st.sampled_from(GARBAGE)),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_mangled_text_reads_or_raises_input_error(fuzz_dir: Path, ops: list[tuple[str, int, str]]) -> None:
    text = _mutate(SMALL_BVH.replace("\n", " \n "), ops)
    path = fuzz_dir / "fuzz.bvh"
    path.write_text(text)
    try:
        motion = read_bvh(path)
    except InputError as error:
        assert str(path) in str(error)
        return
    assert np.isfinite(motion.local_rotations).all() and np.isfinite(motion.root_translation).all()
    if motion.joint_translations is not None:
        assert not np.isinf(motion.joint_translations).any()


@st.composite
def random_rigs(draw: st.DrawFn) -> tuple[Motion, list[list[str]], str]:
    num = draw(st.integers(2, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    parents = tuple([-1] + [int(rng.integers(0, j)) for j in range(1, num)])
    direction = rng.normal(size=(num, 3))
    offsets = direction / np.linalg.norm(direction, axis=1, keepdims=True) * rng.uniform(0.05, 1.0, size=(num, 1))
    skeleton = Skeleton(name="rig", joint_names=tuple(f"j{j}" for j in range(num)), parents=parents, offsets=offsets)
    frames = draw(st.integers(1, 6))
    channels, jt = [], np.full((frames, num, 3), np.nan)
    for j in range(num):
        rotations = [f"{a}rotation" for a in draw(st.sampled_from(EULER_ORDERS))]
        if j == 0 or draw(st.booleans()):
            positions = [f"{a}position" for a in "XYZ"]
            channels.append(positions + rotations if draw(st.booleans()) else rotations + positions)
            if j > 0:
                jt[:, j] = offsets[j] + rng.normal(scale=0.1, size=(frames, 3))
        else:
            channels.append(rotations)
    motion = Motion(
        local_rotations=_random_rotations(rng, (frames, num)),
        root_translation=rng.normal(scale=3.0, size=(frames, 3)),
        fps=draw(st.sampled_from([24.0, 30.0, 60.0, 120.0, 29.97])),
        skeleton=skeleton,
        joint_translations=jt if not np.isnan(jt).all() else None,
        meta={"bvh": {"joint_names": list(skeleton.joint_names), "channels": channels}},
    )
    return motion, channels, draw(st.sampled_from(["m", "cm", "mm", "inch"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_rigs())
def test_fuzz_random_rigs_round_trip(fuzz_dir: Path, rig: tuple[Motion, list[list[str]], str]) -> None:
    motion, channels, units = rig
    decimals = 8 if units == "m" else 6  # 6 decimals of a metre would be only micrometres
    again = read_bvh(write_bvh(motion, fuzz_dir / "rig.bvh", units=units, decimals=decimals), units=units)
    order = [motion.skeleton.index(name) for name in again.skeleton.joint_names]
    assert again.meta["bvh"]["channels"] == [channels[j] for j in order]
    assert again.fps == motion.fps and again.num_frames == motion.num_frames
    before = motion.joint_positions()[:, order]
    size = np.ptp(before.reshape(-1, 3), axis=0).max() + np.abs(before).max()
    assert np.abs(again.joint_positions() - before).max() <= 1e-6 * size
