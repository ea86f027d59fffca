"""KIMODO constraints.json reading, validation and writing on the shipped examples (reference kimodo.md 4.1)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from motiongen.errors import InputError, UnknownNameError
from motiongen.geometry import axis_angle_to_matrix
from motiongen.io.constraints_json import (
    ConstraintRecord,
    parse_constraints_json,
    read_constraints_json,
    write_constraints_json,
)
from motiongen.io.kimodo_npz import read_kimodo_npz
from motiongen.skeleton.kimodo_assets import load_kimodo_skeleton

pytestmark = pytest.mark.data

EXPECTED_TYPES = {
    "03_full_body_keyframes": ["fullbody"],
    "04_ee_constraint": ["right-foot", "left-foot", "left-hand", "right-hand"],
    "05_root_path": ["root2d"],
    "06_root_waypoints": ["root2d"],
    "07_mixed_constraints": ["fullbody", "root2d"],
}


@pytest.fixture(scope="module")
def assets(raw) -> Path:
    return raw("kimodo") / "kimodo-assets"


@pytest.fixture(scope="module")
def files(assets: Path) -> list[Path]:
    found = sorted((assets / "examples").glob("*/*/constraints.json"))
    assert len(found) >= 5
    return found


@pytest.fixture(scope="module")
def mixed_doc(assets: Path) -> list[dict[str, Any]]:
    """A valid document: 07's fullbody keyframe plus the first 12 frames of its dense root path."""
    doc = json.loads((assets / "examples" / "kimodo-soma-rp" / "07_mixed_constraints" / "constraints.json").read_text())
    root = next(e for e in doc if e["type"] == "root2d")
    root["frame_indices"] = root["frame_indices"][:12]
    root["smooth_root_2d"] = root["smooth_root_2d"][:12]
    return doc


def records_equal(a: list[ConstraintRecord], b: list[ConstraintRecord]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.type != y.type or x.joint_names != y.joint_names or not np.array_equal(x.frame_indices, y.frame_indices):
            return False
        for name in ("smooth_root_2d", "global_root_heading", "local_joints_rot", "root_positions"):
            u, v = getattr(x, name), getattr(y, name)
            if (u is None) != (v is None) or (u is not None and not np.array_equal(u, v)):
                return False
    return True


def test_every_shipped_file_loads_and_round_trips(files: list[Path], assets: Path, tmp_path: Path) -> None:
    soma30 = load_kimodo_skeleton("soma30", assets)
    for path in files:
        with np.load(path.parent / "motion.npz") as data:
            num_frames = data["posed_joints"].shape[0]
        records = read_constraints_json(path, skeleton=soma30, num_frames=num_frames)
        assert [r.type for r in records] == EXPECTED_TYPES[path.parent.name]
        for r in records:
            assert r.frame_indices.dtype == np.int64 and r.smooth_root_2d.shape == (r.num_keyframes, 2)
            if r.type != "root2d":
                assert r.local_joints_rot.shape == (r.num_keyframes, 30, 3)
                assert r.root_positions.shape == (r.num_keyframes, 3)
        out = write_constraints_json(records, tmp_path / path.parent.name / "constraints.json")
        assert records_equal(read_constraints_json(out), records)
        original, written = json.loads(path.read_text()), json.loads(out.read_text())
        assert written == original  # same keys, same lists, numbers equal as parsed
        assert_numbers_close(written, original)
    assert not list(tmp_path.rglob("*.tmp"))


def assert_numbers_close(a: Any, b: Any) -> None:
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_numbers_close(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_numbers_close(a[key], b[key])
    elif isinstance(a, float):
        assert abs(a - b) <= 1e-12
    else:
        assert a == b


def test_fullbody_keyframes_pose_the_motion(assets: Path) -> None:
    """``local_joints_rot`` are axis-angle local rotations: FK of the keyframe reproduces the motion
    there (post-processed SOMA 03 to 4.5 mm per reference 10.3.4; SOMA 07 exactly)."""
    for folder, tolerance in (("03_full_body_keyframes", 5e-3), ("07_mixed_constraints", 1e-5)):
        base = assets / "examples" / "kimodo-soma-rp" / folder
        motion = read_kimodo_npz(base / "motion.npz", assets_dir=assets)
        record = next(r for r in read_constraints_json(base / "constraints.json") if r.type == "fullbody")
        _, positions = motion.skeleton.forward_kinematics(axis_angle_to_matrix(record.local_joints_rot), record.root_positions)
        assert np.abs(positions - motion.joint_positions()[record.frame_indices]).max() < tolerance


def test_soma77_joint_count_is_accepted_for_soma(mixed_doc: list[dict[str, Any]], assets: Path) -> None:
    doc = copy.deepcopy(mixed_doc)
    doc[0]["local_joints_rot"] = [frame + [[0.0, 0.0, 0.0]] * 47 for frame in doc[0]["local_joints_rot"]]
    records = parse_constraints_json(json.dumps(doc), skeleton=load_kimodo_skeleton("soma30", assets))
    assert records[0].local_joints_rot.shape == (1, 77, 3)
    with pytest.raises(InputError, match=r"\[0\]\.local_joints_rot.*77 joints.*expected 34 of skeleton 'g1'"):
        parse_constraints_json(json.dumps(doc), skeleton=load_kimodo_skeleton("g1", assets))


def mutate(doc: list[dict[str, Any]], change: Callable[[list[dict[str, Any]]], Any]) -> str:
    doc = copy.deepcopy(doc)
    change(doc)
    return json.dumps(doc)


def end_effector(doc: list[dict[str, Any]], names: list[str] | None) -> None:
    doc[0]["type"] = "end-effector"
    if names is not None:
        doc[0]["joint_names"] = names


def three_entries(doc: list[dict[str, Any]]) -> None:
    doc.append(copy.deepcopy(doc[1]))
    doc[2]["frame_indices"][5] = -1


MALFORMED = [
    ("missing type", lambda d: d[0].pop("type"), None, r"\[0\]\.type.*required"),
    ("unknown type", lambda d: d[0].update(type="root3d"), None, r"\[0\]\.type.*'root3d'.*allowed: root2d, fullbody"),
    ("missing frames", lambda d: d[0].pop("frame_indices"), None, r"\[0\]\.frame_indices.*required"),
    ("missing root positions", lambda d: d[0].pop("root_positions"), None, r"\[0\]\.root_positions.*required for type 'fullbody'"),
    ("missing path", lambda d: d[1].pop("smooth_root_2d"), None, r"\[1\]\.smooth_root_2d.*required for type 'root2d'"),
    ("length mismatch", lambda d: d[1]["smooth_root_2d"].pop(), None, r"\[1\]\.smooth_root_2d.*11 rows.*frame_indices has 12"),
    ("negative frame", three_entries, None, r"\[2\]\.frame_indices\[5\].*-1 is out of range"),
    ("frame past the end", lambda d: d[1]["frame_indices"].__setitem__(3, 152), 152, r"\[1\]\.frame_indices\[3\].*152.*0\.\.151"),
    ("float frame", lambda d: d[1]["frame_indices"].__setitem__(2, 2.5), None, r"\[1\]\.frame_indices\[2\].*integer"),
    ("bool frame", lambda d: d[1]["frame_indices"].__setitem__(2, True), None, r"\[1\]\.frame_indices\[2\].*integer"),
    ("nan", lambda d: d[0]["root_positions"][0].__setitem__(2, math.nan), None, r"\[0\]\.root_positions\[0\]\[2\].*finite"),
    ("inf", lambda d: d[0]["local_joints_rot"][0][7].__setitem__(1, -math.inf), None, r"\[0\]\.local_joints_rot\[0\]\[7\]\[1\].*finite"),
    ("string number", lambda d: d[1]["smooth_root_2d"][4].__setitem__(0, "0.5"), None, r"\[1\]\.smooth_root_2d\[4\]\[0\].*a number, got a string"),
    ("ragged pose", lambda d: d[0]["local_joints_rot"][0][3].pop(), None, r"\[0\]\.local_joints_rot\[0\]\[3\].*2 entries"),
    ("3-component root", lambda d: [row.append(0.0) for row in d[1]["smooth_root_2d"]], None, r"\[1\]\.smooth_root_2d.*3 components.*\(x, z\).*bug"),
    ("unknown field", lambda d: d[1].update(smooth_root2d=[]), None, r"\[1\]\.smooth_root2d.*unknown field"),
    ("root2d with pose", lambda d: d[1].update(root_positions=[[0, 0, 0]] * 12), None, r"\[1\]\.root_positions.*not a field of type 'root2d'"),
    ("empty frames", lambda d: d[1].update(frame_indices=[], smooth_root_2d=[]), None, r"\[1\]\.frame_indices.*non-empty"),
    ("entry not an object", lambda d: d.append([1, 2]), None, r"\[2\].*expected an object"),
    ("ee without names", lambda d: end_effector(d, None), None, r"\[0\]\.joint_names.*required for type 'end-effector'"),
    ("names on fullbody", lambda d: d[0].update(joint_names=["LeftHand"]), None, r"\[0\]\.joint_names.*only a field of type 'end-effector'"),
]


@pytest.mark.parametrize("change,num_frames,pattern", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_documents_name_the_field(
    mixed_doc: list[dict[str, Any]], tmp_path: Path, change: Callable[[Any], Any], num_frames: int | None, pattern: str
) -> None:
    path = tmp_path / "constraints.json"
    path.write_text(mutate(mixed_doc, change))
    with pytest.raises(InputError, match=pattern) as info:
        read_constraints_json(path, num_frames=num_frames)
    assert str(path) in str(info.value)


def test_unknown_end_effector_name(mixed_doc: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "ee.json"
    path.write_text(mutate(mixed_doc, lambda d: end_effector(d, ["LeftHand", "LeftKnee"])))
    with pytest.raises(UnknownNameError, match=r"ee\.json.*\[0\]\.joint_names\[1\].*'LeftKnee'.*LeftFoot, RightFoot"):
        read_constraints_json(path)
    path.write_text(mutate(mixed_doc, lambda d: end_effector(d, ["LeftHand", "Hips"])))
    assert read_constraints_json(path)[0].joint_names == ["LeftHand", "Hips"]


def test_file_level_errors(mixed_doc: list[dict[str, Any]], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_constraints_json(tmp_path / "absent.json")
    path = tmp_path / "c.json"
    path.write_text(json.dumps(mixed_doc, indent=2)[:300])
    with pytest.raises(InputError, match=r"c\.json:\d+: malformed JSON"):
        read_constraints_json(path)
    path.write_text(json.dumps({"constraints": mixed_doc}))
    with pytest.raises(InputError, match="JSON array"):
        read_constraints_json(path)
    path.write_bytes(b'[{"type": "\xff"}]')
    with pytest.raises(InputError, match="UTF-8"):
        read_constraints_json(path)
    with pytest.raises(InputError, match="num_frames"):
        parse_constraints_json("[]", num_frames=0)


def test_writer_validates_before_writing(tmp_path: Path) -> None:
    good = ConstraintRecord(type="root2d", frame_indices=[0, 30], smooth_root_2d=[[0.0, 0.0], [0.5, 1.0]])
    bad = ConstraintRecord(type="root2d", frame_indices=[0, 30], smooth_root_2d=[[0.0, 0.0, 0.0], [0.5, 1.0, 1.0]])
    path = tmp_path / "out.json"
    with pytest.raises(InputError, match=r"out\.json.*\[1\]\.smooth_root_2d.*\(x, z\)"):
        write_constraints_json([good, bad], path)
    assert not any(tmp_path.iterdir())
    write_constraints_json([good], path)
    assert json.loads(path.read_text()) == [{"type": "root2d", "frame_indices": [0, 30], "smooth_root_2d": [[0.0, 0.0], [0.5, 1.0]]}]


# --------------------------------------------------------------------------------------------------
# fuzzing: whatever a mutation does, the reader returns records or raises one of our errors

REPLACEMENTS = [math.nan, math.inf, -1, -1e300, 10**400, "x", "", None, True, [], {}, [[1.0]], 0.5, 2**40]


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a JSON value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths_of(item, prefix + (key,))
    elif isinstance(value, list):
        # sample a few children of long lists to keep the path list small
        for index in sorted({0, 1, len(value) - 1} & set(range(len(value)))):
            out += paths_of(value[index], prefix + (index,))
    return out


def apply_mutation(doc: Any, path: tuple, op: str, replacement: Any) -> Any:
    if not path:
        return replacement if op == "replace" else doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if op == "drop":
        del parent[key]
    elif op == "replace":
        parent[key] = replacement
    elif op == "negate" and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        parent[key] = -parent[key] - 1
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    return doc


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fuzzed_documents_load_or_raise_our_errors(mixed_doc: list[dict[str, Any]], data: st.DataObject) -> None:
    doc = copy.deepcopy(mixed_doc)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = paths_of(doc)
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(["drop", "replace", "negate", "duplicate"]), label="op")
        # a copy: a later mutation inside an inserted list must not change REPLACEMENTS itself
        replacement = copy.deepcopy(data.draw(st.sampled_from(REPLACEMENTS), label="replacement"))
        doc = apply_mutation(doc, path, op, replacement)
    text = json.dumps(doc)
    if data.draw(st.booleans(), label="truncate"):
        text = text[: data.draw(st.integers(0, len(text)), label="cut")]
    num_frames = data.draw(st.sampled_from([None, 100, 152]), label="num_frames")
    try:
        records = parse_constraints_json(text, path="fuzz.json", num_frames=num_frames)
    except (InputError, UnknownNameError) as exc:
        assert "fuzz.json" in str(exc)
    else:
        assert all(isinstance(r, ConstraintRecord) for r in records)
        # anything accepted can be written back and read again unchanged
        assert records_equal(parse_constraints_json(json.dumps([r.to_json() for r in records])), records)
