"""The viewer's manifest protocol (motiongen.viz.manifest, motiongen.viz.folder): known-answer frame
semantics, continuity and constraint errors on a synthetic rig; KIMODO's shipped example motions and
constraints turned into a viewer folder by ``motiongen viz manifest``; ``motiongen generate -o DIR/``
writing the layout; and every kind of malformed manifest refused with the field named."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from toy_rig import toy_skeleton

from motiongen.cli import main
from motiongen.constraints.sets import EndEffectorConstraintSet, FullBodyConstraintSet, Root2DConstraintSet
from motiongen.errors import InputError
from motiongen.io.kimodo_npz import read_kimodo_npz, write_kimodo_npz
from motiongen.viz.folder import read_viewer_motion, scan_folder
from motiongen.viz.manifest import (
    CAPTIONS_NAME,
    MANIFEST_NAME,
    Condition,
    build_case,
    build_manifest,
    condition_from_constraints,
    condition_motion,
    constraint_error,
    continuity,
    frame_ranges,
    frame_semantics,
    load_manifest,
    validate_manifest,
    write_manifest,
)

EXAMPLES = "kimodo-assets/examples/kimodo-soma-rp"
#: KIMODO examples used as viewer cases: (frames, what they constrain)
EXAMPLE_CASES = {
    "07_mixed_constraints": 152,  # a dense root path and one full-body keyframe (frame 108)
    "04_ee_constraint": 151,  # hand and foot targets at frames 28 and 94
}


def toy_pose(k: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` rest poses ``[k, J, 3, 3]`` with pelvis roots ``[k, 3]`` moved along x by ``shift`` each."""
    sk = toy_skeleton()
    rot = np.broadcast_to(np.eye(3), (k, sk.num_joints, 3, 3)).copy()
    root = np.zeros((k, 3))
    root[:, 1] = 0.9
    root[:, 0] = shift * np.arange(k)
    return rot, root


# --------------------------------------------------------------------------------------------------
# known answers, no data needed
def test_frame_ranges_and_semantics_judge_each_constraint_kind_separately() -> None:
    assert frame_ranges([7, 0, 1, 2, 2]) == [[0, 3], [7, 8]]
    assert frame_ranges([]) == []
    sk = toy_skeleton()
    rot, root = toy_pose(2)
    condition = condition_from_constraints(
        [
            Root2DConstraintSet(np.arange(0, 10), np.zeros((10, 2))),  # dense: frames 0..9
            FullBodyConstraintSet(sk, [5, 29], rot, root),  # keyframes, one inside the dense path
        ],
        num_frames=30,
    )
    sem = frame_semantics(condition)
    assert sem == {"constrained": [[0, 10], [29, 30]], "keyframes": [5, 29], "endpoints": [0, 29], "continuous": [[0, 10]]}
    overlays = build_case("c", captions=["x"], task="t", num_frames=30, files={}, condition=condition)
    assert overlays["condition_overlays"]["root_trajectory"]["dense"] is True
    assert overlays["condition_overlays"]["keyframes"] == [5, 29]
    assert overlays["panel_visible_ranges"] == {"condition": [[5, 6], [29, 30]]}
    # sparse waypoints are not dense; frames past the end are refused
    sparse = condition_from_constraints([Root2DConstraintSet([0, 20], [[0, 0], [1, 2]])], 30)
    assert build_case("c", captions=[], task="t", num_frames=30, files={}, condition=sparse)[
        "condition_overlays"]["root_trajectory"] == {"frames": [0, 20], "points": [[0.0, 0.0], [1.0, 2.0]], "dense": False}
    with pytest.raises(InputError, match=r"frame 30 is outside the 30-frame motion"):
        condition_from_constraints([Root2DConstraintSet([30], [[0, 0]])], 30)


def test_continuity_finds_the_jump_and_its_joint() -> None:
    t, j = 20, 4
    pos = np.zeros((t, j, 3))
    pos[:, :, 0] = 0.01 * np.arange(t)[:, None]  # every joint moves 1 cm per frame
    pos[12:, 2, 1] += 0.5  # joint 2 jumps 50 cm up between frames 11 and 12
    result = continuity(pos, [3, 11, 12], ["a", "b", "c", "d"])
    assert result["typical_jump_m"] == pytest.approx(0.01)
    rows = {r["frame"]: r for r in result["frames"]}
    assert rows[3]["max_jump_m"] == pytest.approx(0.01) and rows[3]["ratio"] == pytest.approx(1.0)
    for f in (11, 12):  # the jump is next to both frames
        assert rows[f]["joint"] == "c"
        assert rows[f]["max_jump_m"] == pytest.approx(np.hypot(0.5, 0.01), abs=1e-4)
        assert rows[f]["ratio"] > 40


def test_constraint_error_and_condition_motion_known_answers() -> None:
    sk = toy_skeleton()
    rot, root = toy_pose(2, shift=0.5)
    condition = condition_from_constraints([FullBodyConstraintSet(sk, [2, 7], rot, root)], num_frames=10)
    motion = condition_motion(condition)
    assert motion.num_frames == 10
    held = motion.joint_positions()
    target = condition.pose_positions()
    # each frame holds the nearest stored pose: frames 0-4 the first, 5-9 the second
    np.testing.assert_allclose(held[:5], np.broadcast_to(target[0], (5,) + target[0].shape), atol=1e-9)
    np.testing.assert_allclose(held[5:], np.broadcast_to(target[1], (5,) + target[1].shape), atol=1e-9)
    moved = held.copy()
    moved[..., 2] += 0.1  # 10 cm off on every joint
    err = constraint_error(moved, condition)
    assert err == {"fullbody_mean_m": pytest.approx(0.1), "fullbody_max_m": pytest.approx(0.1)}
    roots = condition_from_constraints([Root2DConstraintSet([0, 9], [[0.0, 0.0], [3.0, 4.0]])], 10)
    err = constraint_error(held, roots)  # pelvis at x = 0 (frames 0-4) and 0.5 (5-9), z = 0
    assert err["root_xz_max_m"] == pytest.approx(np.hypot(2.5, 4.0), abs=1e-4) and err["root_reference"] == "pelvis"


def _valid_manifest(root: Path) -> dict:
    (root / "generated").mkdir(parents=True, exist_ok=True)
    (root / "generated" / "a.npz").write_bytes(b"x")
    case = build_case("a", captions=["a person walks."], task="text_to_motion", num_frames=10,
                      files={"generated": "generated/a.npz"}, missing_panels={"gt": "no capture"})
    from motiongen.viz.manifest import DEFAULT_PANELS

    panels = [p for p in DEFAULT_PANELS if p.name in ("gt", "generated")]
    return build_manifest([case], panels)


BAD_MANIFESTS = {
    "traversal": (lambda m: m["cases"][0]["files"].update(generated="../a.npz"), r"files\.generated.*no '\.\.'"),
    "absolute": (lambda m: m["cases"][0]["files"].update(generated="/etc/a.npz"), r"files\.generated.*absolute"),
    "backslash": (lambda m: m["cases"][0]["files"].update(generated="generated\\a.npz"), r"files\.generated"),
    "not a motion": (lambda m: m["cases"][0]["files"].update(generated="generated/a.txt"), r"\.npz or \.bvh"),
    "file absent": (lambda m: m["cases"][0]["files"].update(generated="generated/b.npz"), r"does not exist"),
    "no reason": (lambda m: m["cases"][0]["missing_panels"].clear(), r"panel 'gt' has neither a file nor a reason"),
    "empty reason": (lambda m: m["cases"][0]["missing_panels"].update(gt=" "), r"missing_panels"),
    "unknown panel": (lambda m: m["cases"][0]["files"].update(native="generated/a.npz"), r"unknown panel 'native'"),
    "bad role": (lambda m: m["panels"][0].update(role="truth"), r"panels\[0\]\.role"),
    "bad colour": (lambda m: m["panels"][0].update(color="blue"), r"panels\[0\]\.color"),
    "panel folder escapes": (lambda m: m["panels"][0].update(folder="../gt"), r"panels\[0\]\.folder"),
    "duplicate id": (lambda m: m["cases"].append(copy.deepcopy(m["cases"][0])), r"case id 'a' is used twice"),
    "bad id": (lambda m: m["cases"][0].update(id="../a"), r"cases\[0\]\.id"),
    "range past end": (lambda m: m["cases"][0]["panel_visible_ranges"].update(gt=[[5, 11]]), r"panel_visible_ranges\.gt"),
    "keyframe past end": (lambda m: m["cases"][0]["frame_semantics"].update(keyframes=[10]), r"frame 10 is outside \[0, 9\]"),
    "root points": (lambda m: m["cases"][0]["condition_overlays"].update(
        root_trajectory={"frames": [0, 1], "points": [[0, 0]]}), r"root_trajectory\.points.*2 rows of 2"),
    "nan target": (lambda m: m["cases"][0]["condition_overlays"].update(
        joint_targets=[{"joint": "j", "frames": [1], "positions": [[0, float("nan"), 0]]}]), r"joint_targets\[0\]\.positions"),
    "version": (lambda m: m.update(version=2), r"version 2 is not supported"),
    "format": (lambda m: m.update(format="other"), r"field 'format'"),
    "zero frames": (lambda m: m["cases"][0].update(num_frames=0), r"num_frames"),
}


@pytest.mark.parametrize("name", sorted(BAD_MANIFESTS))
def test_malformed_manifests_are_refused_with_the_field(name: str, tmp_path: Path) -> None:
    manifest = _valid_manifest(tmp_path)
    validate_manifest(manifest, tmp_path)  # the unbroken one passes
    breaker, pattern = BAD_MANIFESTS[name]
    breaker(manifest)
    with pytest.raises(InputError, match=pattern):
        validate_manifest(manifest, tmp_path)
    with pytest.raises(InputError):
        write_manifest(tmp_path, manifest)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_write_and_load_manifest_round_trip(tmp_path: Path) -> None:
    manifest = _valid_manifest(tmp_path)
    path = write_manifest(tmp_path, manifest)
    assert path == tmp_path / MANIFEST_NAME
    assert json.loads((tmp_path / CAPTIONS_NAME).read_text()) == {"a": ["a person walks."]}
    loaded = load_manifest(tmp_path)
    assert loaded["cases"][0]["missing_panels"] == {"gt": "no capture"}
    assert loaded["fps"] == 30.0 and loaded["up"] == "+y"
    (tmp_path / MANIFEST_NAME).write_text("{broken")
    with pytest.raises(InputError, match="invalid JSON"):
        load_manifest(tmp_path)
    with pytest.raises(InputError, match="no _manifest.json"):
        load_manifest(tmp_path / "generated")


def test_viz_manifest_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "my walk.bvh").write_text("HIERARCHY")
    for target, pattern in ((tmp_path / "empty", "holds no motion files"), (tmp_path / "nothing", "is not a folder"),
                            (tmp_path / "odd", "my walk.bvh: a case's file name may hold letters")):
        assert main(["viz", "manifest", str(target)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("motiongen: error: ") and pattern in err[0]


# --------------------------------------------------------------------------------------------------
# real data: KIMODO's example motions and constraints
def build_example_root(root: Path, examples: Path, bandai_bvh: Path | None = None) -> Path:
    """A viewer folder from KIMODO's shipped examples: ``generated/<case>.npz`` (their motions, on SOMA's
    30 joints) and ``constraints/<case>.json``, captions from their meta.json; with ``bandai_bvh``, a
    ``gt/`` panel holding that capture for the first case only."""
    captions = {}
    for name in EXAMPLE_CASES:
        write_kimodo_npz(read_kimodo_npz(examples / name / "motion.npz"), root / "generated" / f"{name}.npz")
        (root / "constraints").mkdir(parents=True, exist_ok=True)
        shutil.copy(examples / name / "constraints.json", root / "constraints" / f"{name}.json")
        captions[name] = [json.loads((examples / name / "meta.json").read_text())["text"]]
    if bandai_bvh is not None:
        (root / "gt").mkdir(parents=True, exist_ok=True)
        shutil.copy(bandai_bvh, root / "gt" / f"{next(iter(EXAMPLE_CASES))}.bvh")
    (root / CAPTIONS_NAME).write_text(json.dumps(captions))
    return root


@pytest.fixture(scope="module")
def examples(data_dir: Path, cache_dir: Path) -> Path:
    from motiongen.data.archives import unpacked

    return unpacked("kimodo", data_dir, cache_dir) / EXAMPLES


@pytest.mark.data
def test_viz_manifest_builds_cases_overlays_and_condition_panel_from_kimodo_examples(
    examples: Path, tmp_path: Path, capsys
) -> None:
    from motiongen.constraints.sets import from_records
    from motiongen.io.constraints_json import read_constraints_json

    root = build_example_root(tmp_path / "view", examples)
    assert main(["viz", "manifest", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote {root / MANIFEST_NAME} (2 cases, panels condition, generated")
    manifest = load_manifest(root)
    cases = {c["id"]: c for c in manifest["cases"]}
    assert set(cases) == set(EXAMPLE_CASES)
    assert json.loads((root / CAPTIONS_NAME).read_text()) == {k: c["captions"] for k, c in cases.items()}

    mixed = cases["07_mixed_constraints"]
    assert mixed["task"] == "constraints" and mixed["num_frames"] == 152
    assert mixed["frame_semantics"]["keyframes"] == [108]
    assert mixed["frame_semantics"]["continuous"] == [[0, 152]]
    assert mixed["panel_visible_ranges"] == {"condition": [[108, 109]]}
    records = read_constraints_json(root / "constraints" / "07_mixed_constraints.json")
    sets = from_records(records, read_kimodo_npz(root / "generated" / "07_mixed_constraints.npz").skeleton)
    root2d = next(s for s in sets if isinstance(s, Root2DConstraintSet))
    rail = mixed["condition_overlays"]["root_trajectory"]
    assert rail["dense"] and rail["frames"] == root2d.frame_indices.tolist()
    np.testing.assert_allclose(rail["points"], root2d.smooth_root_2d, atol=1e-4)
    # the condition panel shows the keyframe's pose at frame 108
    pose = next(s for s in sets if isinstance(s, FullBodyConstraintSet))
    shown = read_viewer_motion(root / mixed["files"]["condition"])
    np.testing.assert_allclose(shown.positions[108], pose.posed_joints[0], atol=1e-4)
    assert shown.parents == list(pose.skeleton.parents)
    # KIMODO's own output meets its keyframe: small error, and a continuity row for frame 108
    assert mixed["diagnostics"]["constraint_error"]["fullbody_max_m"] < 0.05
    assert 108 in [r["frame"] for r in mixed["diagnostics"]["continuity"]["frames"]]

    ee = cases["04_ee_constraint"]
    assert ee["missing_panels"] == {"condition": "no full-body keyframes to show"}
    chains = {t["chain"] for t in ee["condition_overlays"]["joint_targets"]}
    assert chains == {"LeftHand", "RightHand", "LeftFoot", "RightFoot"}
    assert all(t["frames"] for t in ee["condition_overlays"]["joint_targets"])
    assert ee["diagnostics"]["constraint_error"]["joint_targets_max_m"] < 0.05

    # scanning again (the condition files now exist) gives the same manifest
    again = scan_folder(root)
    assert again["cases"] == manifest["cases"]


@pytest.mark.data
def test_viewer_motion_reads_bvh_and_npz_without_a_stored_rig(examples: Path, raw) -> None:
    bvh = next(iter(sorted((raw("bandai") / "dataset").glob("*/data/*.bvh"))))
    motion = read_viewer_motion(bvh)
    assert motion.positions.ndim == 3 and motion.positions.shape[1] == len(motion.parents) == len(motion.joint_names)
    assert motion.parents[0] == -1 and len(motion.parents) == 22  # Bandai's rig, named after the file
    # KIMODO's own file has no motiongen_skeleton: the rig comes from the registry by joint count
    kimodo = read_viewer_motion(examples / "07_mixed_constraints" / "motion.npz")
    assert kimodo.skeleton == "soma30" and kimodo.positions.shape == (152, 30, 3)
    with np.load(examples / "07_mixed_constraints" / "motion.npz") as data:
        np.testing.assert_array_equal(kimodo.positions, data["posed_joints"])


@pytest.mark.data
def test_generate_to_a_folder_writes_the_viewer_layout(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path, capsys, monkeypatch
) -> None:
    from test_pipeline import make_tiny_bundle

    # the tiny untrained bundle of test_generate_cli.py (shared within a session), text cache kept apart
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path_factory.getbasetemp() / "cli_cache"))
    model = str(make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle", data_dir, cache_dir))
    out = tmp_path / "walks"
    code = main(["generate", "A person walks.", "--frames", "40", "--steps", "2", "--seed", "3", "--num-samples", "2",
                 "--model", model, "--waypoints", "0.5,1@20", "1,1.5@39", "-o", str(out)])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # the printed lines are the motion files, as before
    manifest = load_manifest(out)
    assert [p["name"] for p in manifest["panels"]] == ["generated"]
    assert [c["id"] for c in manifest["cases"]] == ["sample_00", "sample_01"]
    case = manifest["cases"][0]
    assert case["task"] == "waypoints" and case["files"] == {"generated": "sample_00.npz"}
    assert case["captions"] == ["A person walks."]
    # the waypoints as given, with the start KIMODO adds at the origin
    assert case["condition_overlays"]["root_trajectory"] == {
        "frames": [0, 20, 39], "points": [[0.0, 0.0], [0.5, 1.0], [1.0, 1.5]], "dense": False}
    assert case["frame_semantics"]["keyframes"] == [0, 20, 39]
    assert case["diagnostics"]["generation"]["seed"] == 3
    with np.load(out / "sample_00.npz") as data:
        posed = data["posed_joints"]
    assert [r["frame"] for r in case["diagnostics"]["continuity"]["frames"]] == [0, 20, 39]
    expected = continuity(posed, [0, 20, 39], read_viewer_motion(out / "sample_00.npz").joint_names)
    assert case["diagnostics"]["continuity"] == expected

    # in-betweening: the two given poses are the condition panel, on the first and last frame
    between = tmp_path / "between"
    code = main(["generate", "A person jumps.", "--frames", "24", "--steps", "2", "--seed", "1", "--model", model,
                 "--inbetween", str(out / "sample_00.npz"), str(out / "sample_01.npz"), "-o", str(between)])
    assert code == 0
    case = load_manifest(between)["cases"][0]
    assert case["task"] == "inbetween" and case["panel_visible_ranges"] == {"condition": [[0, 1], [23, 24]]}
    condition = read_viewer_motion(between / case["files"]["condition"])
    start = read_viewer_motion(out / "sample_00.npz").positions[-1]
    end = read_viewer_motion(out / "sample_01.npz").positions[0]
    np.testing.assert_allclose(condition.positions[0], start, atol=2e-3)
    np.testing.assert_allclose(condition.positions[23], end, atol=2e-3)
    # the folder holds its constraints, so a manifest rebuilt from the files has the same overlays
    assert sorted(p.name for p in between.iterdir()) == [
        "_captions.json", "_manifest.json", "condition", "constraints", "sample_00.bvh", "sample_00.npz"]
    rebuilt = scan_folder(between)["cases"][0]
    for key in ("frame_semantics", "condition_overlays", "panel_visible_ranges", "files"):
        assert rebuilt[key] == case[key], key


def test_build_case_refuses_a_condition_of_another_length() -> None:
    with pytest.raises(InputError, match="the condition has 5 frames, the case 6"):
        build_case("a", captions=[], task="t", num_frames=6, files={}, condition=Condition(5))


def test_end_effector_targets_on_their_chain_joints() -> None:
    sk = toy_skeleton()
    rot, root = toy_pose(1)
    con = EndEffectorConstraintSet(sk, [4], rot, root, joint_names=("LeftFoot",))
    condition = condition_from_constraints([con], 10)
    assert [t.joint for t in condition.joint_targets] == ["left_ankle", "left_toe"]
    fk = con.posed_joints[0]
    np.testing.assert_allclose(condition.joint_targets[1].positions[0], fk[sk.index("left_toe")])
    case = build_case("a", captions=[], task="t", num_frames=10, files={}, condition=condition)
    assert case["frame_semantics"]["keyframes"] == [4] and "condition" not in case["panel_visible_ranges"]


# --------------------------------------------------------------------------------------------------
# folders written from arrays (what ``motiongen eval`` writes)
def test_positions_only_files_round_trip_in_float16_near_the_origin_and_float32_far_away(tmp_path: Path) -> None:
    from motiongen.viz.folder import FLOAT16_EXTENT_M, write_positions_npz

    sk = toy_skeleton()
    rot, root = toy_pose(30, shift=0.05)
    positions = sk.forward_kinematics(rot, root)[1]
    write_positions_npz(tmp_path / "near.npz", positions, sk, prompts=["a person walks."])
    near = read_viewer_motion(tmp_path / "near.npz")
    with np.load(tmp_path / "near.npz") as data:
        assert data["posed_joints"].dtype == np.float16
    # float16 below 16 m: spacing at most 2**-7 m, so every joint is within half of it
    np.testing.assert_allclose(near.positions, positions, atol=2.0**-8)
    assert near.joint_names == list(sk.joint_names) and near.parents == list(sk.parents)
    assert near.skeleton == "toy" and near.prompts == ["a person walks."]
    far = positions + np.array([FLOAT16_EXTENT_M + 1.0, 0.0, 0.0])
    write_positions_npz(tmp_path / "far.npz", far, sk)
    with np.load(tmp_path / "far.npz") as data:
        assert data["posed_joints"].dtype == np.float32
    np.testing.assert_allclose(read_viewer_motion(tmp_path / "far.npz").positions, far, atol=1e-5)
    with pytest.raises(InputError, match="has 3 joints; the skeleton 'toy' has 11"):
        write_positions_npz(tmp_path / "bad.npz", positions[:, :3], sk)
    bad = positions.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(InputError, match="finite"):
        write_positions_npz(tmp_path / "bad.npz", bad, sk)
    assert not (tmp_path / "bad.npz").exists()


def test_a_view_folder_from_arrays_validates_and_replaces_only_a_viewer_folder(tmp_path: Path) -> None:
    from motiongen.viz.folder import ViewCase, write_view_folder

    sk = toy_skeleton()
    rot, root = toy_pose(10, shift=0.02)
    walk = sk.forward_kinematics(rot, root)[1]
    keys = condition_from_constraints([FullBodyConstraintSet(sk, [0, 9], rot[[0, 9]], root[[0, 9]])], 10)
    cases = [
        ViewCase("text", ["a person walks."], "text_to_motion", {"gt": walk, "generated": walk + 0.01}, sk,
                 missing={"condition": "text only"}, diagnostics={"note": {"k": 1}}),
        ViewCase("keys", ["a person walks."], "constraints", {"generated": walk}, sk, condition=keys),
    ]
    view = tmp_path / "metrics.view"
    write_view_folder(view, cases, title="t")
    manifest = load_manifest(view)
    assert [p["name"] for p in manifest["panels"]] == ["gt", "condition", "generated"]
    text, keyed = manifest["cases"]
    assert text["files"] == {"gt": "gt/text.npz", "generated": "generated/text.npz"}
    assert text["missing_panels"] == {"condition": "text only"} and text["diagnostics"]["note"] == {"k": 1}
    assert keyed["missing_panels"] == {"gt": "no ground-truth motion for this case"}
    assert keyed["panel_visible_ranges"] == {"condition": [[0, 1], [9, 10]]}
    # the generated motion is the keyed poses themselves: no error at the keyframes
    assert keyed["diagnostics"]["constraint_error"]["fullbody_max_m"] < 2.0**-8
    np.testing.assert_allclose(read_viewer_motion(view / keyed["files"]["condition"]).positions[9], walk[9], atol=2.0**-8)
    # a second, smaller write replaces the folder: no file of the first lingers
    write_view_folder(view, cases[:1])
    assert not (view / "condition").exists() and [c["id"] for c in load_manifest(view)["cases"]] == ["text"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.view"]
    # a folder that is not a viewer folder is the user's: refused, and left as it was
    mine = tmp_path / "mine.view"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="is not a viewer folder"):
        write_view_folder(mine, cases)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    with pytest.raises(InputError, match="case id 'a/b'"):
        write_view_folder(tmp_path / "x.view", [ViewCase("a/b", [], "t", {"generated": walk}, sk)])
    with pytest.raises(InputError, match="cannot hold a motion"):
        write_view_folder(tmp_path / "x.view", [ViewCase("a", [], "t", {"condition": walk}, sk)])
    assert not (tmp_path / "x.view").exists()
