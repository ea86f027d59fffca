"""ASF/AMC reader and writer: real CMU and HDM05 trials checked against an independent Acclaim FK,
every held trial loaded, round trips through the writers, and malformed input.

The synthetic ASF/AMC below are made here (no data derived from the archives): they exercise what the
VICON files never do (radians, ``length 1``, a root pre-set position/orientation, an interleaved root
channel order, bone axes in other orders, bones listed before their parents).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motiongen.errors import InputError
from motiongen.io.asf_amc import AsfRig, find_asf, read_amc, read_asf, write_amc, write_asf
from motiongen.motion.motion import Motion
from motiongen.skeleton.skeleton import Skeleton

CMU_ASF = "cmu/Rotations/asf/02.asf"
CMU_WALK = "cmu/Rotations/Training/02_01 - walk.amc"
HDM_ASF = "hdm05/train/1/HDM_bd.asf"
HDM_TRIAL = "hdm05/train/1/HDM_bd_depositFloorR_001_120.amc"

SYNTHETIC_ASF = """\
# synthetic skeleton for the tests
:version 1.10
:name TEST
:units
  mass 1.0
  length 1.0
  angle rad
:documentation
  made by hand for tests
:root
  order RZ TX RY TY RX TZ
  axis ZYX
  position 1 2 3
  orientation 0.1 0.2 0.3
:bonedata
  begin
    id 1
    name spine
    direction 0 1 0
    length 10
    axis 0.2 0 0.5 XYZ
    dof rz rx ry
    limits (-inf inf)
           (-1 1)
           (-1.5, 1.5)
  end
  begin
    id 3
    name hand
    direction 1 0 0
    length 2
    axis 0 0 0 XYZ
    dof ry
  end
  begin
    id 2
    name arm
    direction 0.6 0 0.8
    length 5
    axis 0 0.3 -0.4 YZX
    dof rx rz
    bodymass 2.5
  end
  begin
    id 4
    name tail
    direction 0 -1 0
    length 3
    axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root spine tail
    spine arm
    arm hand
  end
"""

SYNTHETIC_AMC = """\
:FULLY-SPECIFIED
:RADIANS
1
root 0.1 1 0.2 2 0.3 3
spine 0.1 0.2 0.3
arm 0.4 -0.5
hand 0.6
2
root -0.2 1.5 0.25 2.5 -0.1 2.75
spine -0.3 0.1 0.05
arm 0.7 0.2
hand -0.4
3
root 0.3 2 0.1 2 0.2 2.5
spine 0.2 -0.1 0.4
arm -0.2 0.9
hand 1.1
"""


# --------------------------------------------------------------------------------------------------
# an independent Acclaim implementation: its own parsing, scipy's Euler angles, the textbook formulas


def parse_asf_plainly(path: Path) -> dict:
    """Bones, parents, units and root of an ASF, read with no error handling at all."""
    bones: dict[str, dict] = {}
    parent: dict[str, str] = {}
    units: dict[str, str] = {}
    root: dict[str, list[str]] = {}
    section, bone = "", {}
    for line in path.read_text(encoding="latin-1").splitlines():
        toks = line.split("#")[0].replace(",", " ").replace("(", " ").replace(")", " ").split()
        if not toks:
            continue
        if toks[0].startswith(":"):
            section = toks[0]
        elif section == ":units":
            units[toks[0]] = toks[1]
        elif section == ":root":
            root[toks[0]] = toks[1:]
        elif section == ":bonedata":
            if toks[0] == "begin":
                bone = {"dof": []}
            elif toks[0] == "end":
                bones[bone["name"]] = bone
            elif toks[0] == "name":
                bone["name"] = toks[1]
            elif toks[0] in ("length", "direction", "axis", "dof"):
                bone[toks[0]] = toks[1:]
        elif section == ":hierarchy" and toks[0] not in ("begin", "end"):
            for child in toks[1:]:
                parent[child] = toks[0]
    return {"bones": bones, "parent": parent, "units": units, "root": root}


def amc_frames_plainly(path: Path) -> list[dict[str, list[float]]]:
    """Every frame of an AMC as ``{bone: values}``."""
    frames: list[dict[str, list[float]]] = []
    for line in path.read_text(encoding="latin-1").splitlines():
        toks = line.split()
        if not toks or toks[0].startswith(("#", ":")):
            continue
        if toks[0].isdigit():
            frames.append({})
        else:
            frames[-1][toks[0]] = [float(v) for v in toks[1:]]
    return frames


def euler_fixed(axes: str, angles: list[float], degrees: bool) -> np.ndarray:
    """Fixed-axis rotation, first listed applied first (scipy's lower-case = extrinsic)."""
    if not axes:
        return np.eye(3)
    return Rotation.from_euler(axes.lower(), np.asarray(angles, dtype=float)[None, :], degrees=degrees).as_matrix()[0]


def acclaim_fk(asf: dict, frame: dict[str, list[float]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Start and end point of every bone (root: its position) in metres, per the Acclaim formulas:
    ``G = G_parent C M C^-1`` and ``end = start + length * G direction``."""
    deg = asf["units"].get("angle", "deg") == "deg"
    scale = 0.0254 / float(asf["units"].get("length", 1.0))
    order = [c.upper() for c in asf["root"]["order"]]
    values = frame.get("root", [0.0] * len(order))
    translation = np.array([float(v) for v in asf["root"]["position"]])
    rot_axes, rot_angles = "", []
    for channel, value in zip(order, values):
        if channel[0] == "T":
            translation["XYZ".index(channel[1])] += value
        else:
            rot_axes += channel[1]
            rot_angles.append(value)
    c_root = euler_fixed(asf["root"]["axis"][0], [float(v) for v in asf["root"]["orientation"]], deg)
    glob = {"root": c_root @ euler_fixed(rot_axes, rot_angles, deg) @ np.linalg.inv(c_root)}
    start = {"root": translation * scale}
    end = {"root": translation * scale}
    pending = list(asf["bones"])
    while pending:
        for name in [n for n in pending if asf["parent"][n] in glob]:
            bone, up = asf["bones"][name], asf["parent"][name]
            c = euler_fixed(bone["axis"][3], [float(v) for v in bone["axis"][:3]], deg)
            m = euler_fixed("".join(d[1] for d in bone["dof"]), frame.get(name, []), deg) if name in frame else np.eye(3)
            glob[name] = glob[up] @ c @ m @ np.linalg.inv(c)
            start[name] = end[up]
            direction = np.array([float(v) for v in bone["direction"]])
            end[name] = start[name] + float(bone["length"][0]) * scale * glob[name] @ direction
            pending.remove(name)
    return start, end


def assert_matches_acclaim(motion: Motion, rig: AsfRig, asf_path: Path, amc_path: Path, frames: list[int]) -> None:
    asf = parse_asf_plainly(asf_path)
    amc = amc_frames_plainly(amc_path)
    glob, pos = motion.forward_kinematics()
    tips = pos + np.einsum("tjab,jb->tja", glob, rig.bone_vectors())
    names = motion.skeleton.joint_names
    for t in frames:
        start, end = acclaim_fk(asf, amc[t])
        ours_start = pos[t]
        ours_end = tips[t]
        theirs_start = np.stack([start[n] for n in names])
        theirs_end = np.stack([end[n] for n in names])
        np.testing.assert_allclose(ours_start, theirs_start, atol=1e-9, rtol=0)
        np.testing.assert_allclose(ours_end[1:], theirs_end[1:], atol=1e-9, rtol=0)


# --------------------------------------------------------------------------------------------------
# real trials


@pytest.fixture(scope="module")
def cmu(raw) -> tuple[AsfRig, Motion, Path, Path]:
    base = raw("cmu")
    rig = read_asf(base / CMU_ASF)
    return rig, read_amc(base / CMU_WALK, rig), base / CMU_ASF, base / CMU_WALK


@pytest.fixture(scope="module")
def hdm(raw) -> tuple[AsfRig, Motion, Path, Path]:
    base = raw("hdm05")
    rig = read_asf(base / HDM_ASF)
    return rig, read_amc(base / HDM_TRIAL, rig), base / HDM_ASF, base / HDM_TRIAL


def test_cmu_walk_is_a_plausible_human(cmu) -> None:
    rig, motion, _, _ = cmu
    sk = motion.skeleton
    idx = sk.index
    assert sk.num_joints == 31 and motion.fps == 120.0 and motion.num_frames == 343
    assert sk.joint_sets["left_foot"] == ("lfoot", "ltoes")  # the registry's VICON sets are attached
    rest = sk.rest_positions()
    # rest pose in our axes: the subject's left is +X, the feet point +Z, Y up
    assert rest[idx("lfoot"), 0] > 0.1 > -0.1 > rest[idx("rfoot"), 0]
    assert rest[idx("ltoes"), 2] > rest[idx("lfoot"), 2] + 0.05
    head_top = rest[idx("head")] + rig.bone_vectors()[idx("head")]
    toe = min(rest[idx("ltoes"), 1], rest[idx("rtoes"), 1])
    assert 1.4 < head_top[1] - toe < 2.0
    glob, pos = motion.forward_kinematics()
    tips = pos + np.einsum("tjab,jb->tja", glob, rig.bone_vectors())
    standing = tips[:, idx("head"), 1] - np.minimum(pos[:, idx("ltoes"), 1], pos[:, idx("rtoes"), 1])
    assert 1.4 < np.median(standing) < 2.0
    feet = pos[:, [idx("lfoot"), idx("ltoes"), idx("rfoot"), idx("rtoes")], 1]
    assert (pos[:, idx("head"), 1] > feet.max(axis=1) + 1.0).all()
    # both feet reach one floor near y = 0
    left_floor, right_floor = feet[:, :2].min(), feet[:, 2:].min()
    assert abs(left_floor - right_floor) < 0.03 and -0.05 < left_floor < 0.1
    # it walks forward (+Z of its own hips-based frame) rather than sideways
    travel = pos[-1, 0] - pos[0, 0]
    hips = pos[0, idx("lfemur")] - pos[0, idx("rfemur")]
    forward = np.cross(hips, [0.0, 1.0, 0.0])
    assert np.dot(travel, forward) / np.linalg.norm(forward) > 2.0


@pytest.mark.parametrize("which", ["cmu", "hdm"])
def test_fk_matches_an_independent_acclaim_implementation(which, request) -> None:
    rig, motion, asf_path, amc_path = request.getfixturevalue(which)
    frames = [0, 1, motion.num_frames // 2, motion.num_frames - 1]
    assert_matches_acclaim(motion, rig, asf_path, amc_path, frames)


@pytest.fixture()
def one_torch_thread():
    """Run torch on one thread for the sweep: the rotation maths goes through torch, and on a busy
    2-core machine its second intra-op thread waits for a core on every call (measured 6x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_held_trial_with_an_asf_loads(raw, one_torch_thread) -> None:
    started = time.perf_counter()
    summary = {}
    for key in ("cmu", "hdm05"):
        rigs: dict[Path, AsfRig] = {}
        loaded: list[Path] = []
        without_asf: list[Path] = []
        frames = 0
        for amc in sorted((raw(key) / key).rglob("*.amc")):
            try:
                asf = find_asf(amc)
            except InputError as err:
                assert "AMC without ASF" in str(err) and str(amc) in str(err)
                without_asf.append(amc)
                continue
            if asf not in rigs:
                rigs[asf] = read_asf(asf)
            motion = read_amc(amc, rigs[asf])
            assert motion.num_frames > 0 and motion.skeleton.num_joints == 31
            assert np.isfinite(motion.local_rotations).all() and np.isfinite(motion.root_translation).all()
            frames += motion.num_frames
            loaded.append(amc)
        summary[key] = (len(loaded), len(without_asf), frames, len(rigs), loaded, without_asf)
    elapsed = time.perf_counter() - started

    n_cmu, n_cmu_missing, cmu_frames, cmu_asfs, cmu_loaded, cmu_missing = summary["cmu"]
    # 183 AMC files: 181 trials (16_08 and 16_47 are held twice, in Training and Testing)
    assert (n_cmu, n_cmu_missing, cmu_asfs, cmu_frames) == (174, 9, 12, 187561)
    assert len({p.name.split(" ")[0].removesuffix(".amc") for p in cmu_loaded}) == 172
    # subject 35 has no ASF: its 9 trials cannot be read
    assert all(p.name.startswith("35_") for p in cmu_missing)
    assert not list((raw("cmu") / "cmu").rglob("35.asf"))
    with pytest.raises(InputError, match="AMC without ASF") as err:
        read_amc(cmu_missing[0], None)
    assert err.value.path == str(cmu_missing[0])
    n_hdm, n_hdm_missing, hdm_frames, hdm_asfs, _, _ = summary["hdm05"]
    assert (n_hdm, n_hdm_missing, hdm_asfs, hdm_frames) == (287, 0, 55, 70996)
    print(f"\nloaded {n_cmu} CMU + {n_hdm} HDM05 AMC files ({cmu_frames + hdm_frames} frames) in {elapsed:.1f} s")


@pytest.mark.parametrize("which", ["cmu", "hdm"])
def test_write_then_read_reproduces_the_motion(which, request, tmp_path: Path) -> None:
    rig, motion, _, _ = request.getfixturevalue(which)
    write_asf(rig, tmp_path / "rig.asf")
    write_amc(motion, rig, tmp_path / "take.amc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rig.asf", "take.amc"]  # no temporary left
    rig2 = read_asf(tmp_path / "rig.asf")
    assert rig2.skeleton.joint_names == rig.skeleton.joint_names and rig2.skeleton.parents == rig.skeleton.parents
    np.testing.assert_allclose(rig2.skeleton.offsets, rig.skeleton.offsets, atol=1e-12, rtol=0)
    np.testing.assert_allclose(rig2.axes, rig.axes, atol=1e-12, rtol=0)
    assert rig2.dof == rig.dof and rig2.limits == rig.limits and rig2.length_unit == rig.length_unit
    motion2 = read_amc(tmp_path / "take.amc", rig2)
    assert motion2.num_frames == motion.num_frames
    np.testing.assert_allclose(motion2.joint_positions(), motion.joint_positions(), atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------------
# synthetic files (no archives needed)


@pytest.fixture()
def synthetic(tmp_path: Path) -> tuple[Path, Path]:
    asf, amc = tmp_path / "TEST.asf", tmp_path / "TEST_01.amc"
    asf.write_text(SYNTHETIC_ASF)
    amc.write_text(SYNTHETIC_AMC)
    return asf, amc


def test_synthetic_rig_units_order_and_fk(synthetic) -> None:
    asf_path, amc_path = synthetic
    rig = read_asf(asf_path)
    assert rig.skeleton.joint_names == ("root", "spine", "arm", "tail", "hand")  # parents first
    assert rig.skeleton.parents == (-1, 0, 1, 0, 2)
    assert rig.angle_unit == "rad" and rig.length_scale == pytest.approx(0.0254)
    np.testing.assert_allclose(rig.skeleton.offsets[0], [0.0254, 0.0508, 0.0762])  # root pre-set position
    np.testing.assert_allclose(rig.skeleton.offsets[2], [0.0, 10 * 0.0254, 0.0])  # arm starts at the spine's end
    np.testing.assert_allclose(rig.skeleton.offsets[4], [0.6 * 5 * 0.0254, 0.0, 0.8 * 5 * 0.0254])
    assert rig.limits["spine"] == ((-np.inf, np.inf), (-1.0, 1.0), (-1.5, 1.5))
    assert find_asf(amc_path) == asf_path
    motion = read_amc(amc_path, asf_path, fps=30.0)
    assert motion.num_frames == 3 and motion.fps == 30.0
    assert_matches_acclaim(motion, rig, asf_path, amc_path, [0, 1, 2])


def test_tab_separated_amc_reads_like_the_spaced_one(synthetic, tmp_path: Path) -> None:
    asf_path, amc_path = synthetic
    tabbed = tmp_path / "TEST_02.amc"
    tabbed.write_text(SYNTHETIC_AMC.replace(" ", "\t").replace("\n", "\r\n"))
    a, b = read_amc(amc_path, asf_path), read_amc(tabbed, asf_path)
    np.testing.assert_array_equal(a.local_rotations, b.local_rotations)
    np.testing.assert_array_equal(a.root_translation, b.root_translation)


def test_synthetic_round_trip(synthetic, tmp_path: Path) -> None:
    asf_path, amc_path = synthetic
    rig = read_asf(asf_path)
    motion = read_amc(amc_path, rig)
    out = tmp_path / "out"
    out.mkdir()
    write_asf(rig, out / "rig.asf")
    write_amc(motion, rig, out / "take.amc")
    rig2 = read_asf(out / "rig.asf")
    assert rig2.root_order == ("RZ", "TX", "RY", "TY", "RX", "TZ") and rig2.root_axis == "ZYX"
    assert rig2.bone("arm").extra == (("bodymass", "2.5"),) and rig2.documentation == rig.documentation
    np.testing.assert_allclose(rig2.skeleton.offsets, rig.skeleton.offsets, atol=1e-15, rtol=0)
    motion2 = read_amc(out / "take.amc", rig2)
    np.testing.assert_allclose(motion2.joint_positions(), motion.joint_positions(), atol=1e-9, rtol=0)
    np.testing.assert_allclose(motion2.local_rotations, motion.local_rotations, atol=1e-9, rtol=0)


def test_writers_refuse_bad_targets_and_leave_nothing(synthetic, tmp_path: Path) -> None:
    asf_path, amc_path = synthetic
    rig = read_asf(asf_path)
    motion = read_amc(amc_path, rig)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match="output folder does not exist"):
        write_amc(motion, rig, tmp_path / "missing" / "take.amc")
    other = Skeleton("other", ("root", "a"), (-1, 0), np.zeros((2, 3)))
    foreign = Motion(np.broadcast_to(np.eye(3), (3, 2, 3, 3)), motion.root_translation, 30.0, other)
    with pytest.raises(InputError, match="ASF rig needs") as err:
        write_amc(foreign, rig, out / "take.amc")
    assert err.value.field == "skeleton"
    assert list(out.iterdir()) == []


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the ``occurrence``-th line holding ``needle`` (``"=..."``: equal to it)."""
    if needle.startswith("="):
        hits = [i + 1 for i, line in enumerate(text.split("\n")) if line == needle[1:]]
    else:
        hits = [i + 1 for i, line in enumerate(text.split("\n")) if needle in line]
    return hits[occurrence - 1]


ASF_CASES = {
    # name: (edit of the text, (needle, occurrence) giving the faulty line or None for the last line, message)
    "no bonedata": (lambda t: t[: t.index(":bonedata")], None, "no :bonedata"),
    "no hierarchy": (lambda t: t[: t.index(":hierarchy")], None, "no :hierarchy"),
    "empty file": (lambda t: "", None, "no :bonedata"),
    "undefined bone in hierarchy": (lambda t: t.replace("arm hand", "arm hand wing"), ("arm hand wing", 1), "'wing' in :hierarchy is not defined"),
    "bone not attached": (lambda t: t.replace("root spine tail", "root spine"), ("begin", 4), "'tail' is not attached"),
    "non-numeric direction": (lambda t: t.replace("direction 0 -1 0", "direction 0 minus 0"), ("direction 0 minus 0", 1), "not a number"),
    "nan length": (lambda t: t.replace("length 5", "length nan"), ("length nan", 1), "not a number"),
    "inf position": (lambda t: t.replace("position 1 2 3", "position 1 inf 3"), ("position", 1), "not a number"),
    "translation dof": (lambda t: t.replace("dof ry", "dof ty"), ("dof ty", 1), "allowed: rx, ry, rz"),
    "bad axis order": (lambda t: t.replace("YZX", "YZZ"), ("YZZ", 1), "allowed: XYZ"),
    "limits count": (lambda t: t.replace("           (-1.5, 1.5)\n", ""), ("end", 1), "3 dof.s. but 2 limit"),
    "stray numbers": (lambda t: t.replace("    limits (-inf inf)\n", ""), ("=           (-1 1)", 1), "without a field name"),
    "truncated in a bone": (lambda t: t[: t.index("    length 3")], None, "file ends inside the bone block"),
    "bad angle unit": (lambda t: t.replace("angle rad", "angle grad"), ("angle grad", 1), "allowed: deg, rad"),
}


@pytest.mark.parametrize("case", list(ASF_CASES))
def test_malformed_asf_names_file_and_line(case: str, tmp_path: Path) -> None:
    edit, where, message = ASF_CASES[case]
    text = edit(SYNTHETIC_ASF)
    path = tmp_path / "bad.asf"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_asf(path)
    expected = _line_of(text, *where) if where else max(len(text.rstrip("\n").split("\n")), 1)
    assert err.value.path == str(path) and err.value.line == expected
    assert f"{path}:{expected}" in str(err.value)


AMC_CASES = {
    "too few values in frame 1": (lambda t: t.replace("arm 0.4 -0.5", "arm 0.4"), ("arm 0.4", 1), "has 1 value.*need 2"),
    "too many values in frame 2": (lambda t: t.replace("arm 0.7 0.2", "arm 0.7 0.2 0.1"), ("arm 0.7 0.2 0.1", 1), "has 3 value"),
    "unknown bone in frame 1": (lambda t: t.replace("hand 0.6", "wing 0.6"), ("wing", 1), "unknown bone 'wing'"),
    "unknown bone in frame 2": (lambda t: t.replace("hand -0.4", "wing -0.4"), ("wing", 1), "unknown bone 'wing'"),
    "non-numeric": (lambda t: t.replace("spine -0.3 0.1 0.05", "spine -0.3 abc 0.05"), ("abc", 1), "'abc' is not a finite number"),
    "nan": (lambda t: t.replace("hand 1.1", "hand nan"), ("hand nan", 1), "'nan' is not a finite number"),
    "inf": (lambda t: t.replace("root 0.3 2", "root inf 2"), ("root inf", 1), "'inf' is not a finite number"),
    "order changes": (lambda t: t.replace("arm 0.7 0.2\nhand -0.4", "hand -0.4\narm 0.7 0.2"), ("hand -0.4", 1), "expected bone 'arm'"),
    "frame skipped": (lambda t: t.replace("\n3\n", "\n4\n"), ("=4", 1), "frame 4 follows frame 2"),
    "bone missing in frame 3": (lambda t: t.replace("arm -0.2 0.9\n", ""), ("hand 1.1", 1), "expected bone 'arm'"),
    "truncated": (lambda t: t[: t.index("hand 1.1")], None, "file ends inside frame 3"),
    "empty": (lambda t: "", None, "no frames"),
    "header only": (lambda t: ":FULLY-SPECIFIED\n:RADIANS\n", None, "no frames"),
    "unit disagrees with the ASF": (lambda t: t.replace(":RADIANS", ":DEGREES"), (":DEGREES", 1), "ASF has 'angle rad'"),
    "no frame number": (lambda t: t[t.index("root"):], ("root", 1), "expected a frame number"),
}


@pytest.mark.parametrize("case", list(AMC_CASES))
def test_malformed_amc_names_file_and_line(case: str, synthetic, tmp_path: Path) -> None:
    asf_path, _ = synthetic
    edit, where, message = AMC_CASES[case]
    text = edit(SYNTHETIC_AMC)
    path = tmp_path / "bad.amc"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_amc(path, asf_path)
    expected = _line_of(text, *where) if where else max(len(text.rstrip("\n").split("\n")), 1)
    assert err.value.path == str(path) and err.value.line == expected
    assert f"{path}:{expected}" in str(err.value)


def test_amc_without_asf_is_refused(synthetic, tmp_path: Path) -> None:
    _, amc_path = synthetic
    with pytest.raises(InputError, match="AMC without ASF") as err:
        read_amc(amc_path)
    assert err.value.path == str(amc_path)
    lone = tmp_path / "lonely" / "99_01 - walk.amc"
    lone.parent.mkdir()
    lone.write_text(SYNTHETIC_AMC)
    with pytest.raises(InputError, match="AMC without ASF") as err:
        find_asf(lone)
    assert err.value.path == str(lone)
