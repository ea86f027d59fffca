"""``motiongen eval`` end to end on a small slice: every task, the JSON record, resuming, the report,
and the viewer folder written beside the JSON.

Uses the shipped KIMODO model and the shipped evaluator on a subset build (16 clips per source and
split: 44 test clips of 40+ frames, enough for one R-precision batch of 32), with few steps: the run
of ``tests/small_eval.py``, made once per session and copied here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from small_eval import ARGS, SETTINGS, copy_run

from motiongen.cli import main
from motiongen.errors import InputError
from motiongen.evaluation.report import inbetween_table, t2m_table
from motiongen.evaluation.runner import EvalSettings, canonical_positions, run_eval
from motiongen.viz.folder import read_viewer_motion
from motiongen.viz.manifest import MANIFEST_NAME, validate_manifest


@pytest.fixture(scope="module")
def subset(eval_subset: Path) -> Path:
    return eval_subset


#: float16 positions of the viewer files are within half of float16's spacing below 16 m
FLOAT16_TOLERANCE_M = 2.0**-8


def _args(subset: Path, out: Path, *extra: str) -> list[str]:
    """The shared run's command line (``small_eval.ARGS``) writing to ``out``."""
    return ["eval", *ARGS, "--dataset", str(subset), "--no-progress", "-o", str(out), *extra]


@pytest.fixture(scope="module")
def result(plain_eval_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A copy of the shared in-process run (conftest's ``plain_eval_run``): these tests resume and edit it."""
    out = copy_run(plain_eval_run, tmp_path_factory.mktemp("eval"))
    return out, json.loads(out.read_text())


def test_the_record_names_model_evaluator_split_commit_and_date(result: tuple[Path, dict]) -> None:
    _, r = result
    assert r["format"] == "motiongen.eval/1" and r["split"] == "test"
    assert len(r["model"]["hash"]) == 16 and r["model"]["name"] == "motiongen/kimodo-smplx"
    assert len(r["evaluator"]["version"]) == 16 and r["evaluator"]["name"] == "motiongen/evaluator-smplx"
    assert r["date"].startswith("20") and "git_commit" in r and r["machine"]["cpu_count"] >= 1
    assert set(r["tasks"]) == {"t2m", "quality", "inbetween", "constraints"}
    assert r["settings"]["replications"] == 2 and r["settings"]["steps"] == 2


def test_t2m_rows_real_first_and_the_evaluator_beats_chance(result: tuple[Path, dict]) -> None:
    _, r = result
    t2m = r["tasks"]["t2m"]
    real, floor, model = t2m["rows"]
    assert (real["kind"], floor["kind"], model["kind"]) == ("real", "floor", "model")
    assert t2m["samples_per_replication"] == 32 and real["fid"]["mean"] == pytest.approx(0.0, abs=1e-6)
    chance = t2m["chance_r_precision"][2]
    assert chance == pytest.approx(3 / 32)
    # the frozen evaluator matches real captions to real motions far above chance
    assert real["r_precision_top3"]["mean"] > 3 * chance
    for key in ("fid", "r_precision_top1", "mm_dist", "diversity", "multimodality"):
        assert key in model and model[key]["n"] == (1 if key == "multimodality" else 2)
    assert model["fid"]["mean"] > 0 and floor["fid"] > 0


def test_quality_inbetween_and_constraints_tasks(result: tuple[Path, dict]) -> None:
    _, r = result
    quality = r["tasks"]["quality"]["rows"]
    assert quality[0]["kind"] == "real" and "foot_contact_consistency" in quality[1]
    inb = r["tasks"]["inbetween"]
    names = [row["name"] for row in inb["rows"]]
    assert names == ["zero_velocity", "interpolation", "motiongen/kimodo-smplx"] and inb["windows"] == 3
    for row in inb["rows"]:
        assert set(row["scores"]) == {"5", "15", "30", "45"}
    # the baselines are exact at their keyframes only; both make errors inside the transition
    assert all(row["scores"]["30"]["l2p"] > 0 for row in inb["rows"])
    cons = r["tasks"]["constraints"]
    assert cons["settings"]["cases"] == 1 and "fullbody" in cons["summary"]
    text = t2m_table([r]) + inbetween_table([r])
    assert text.index("Real motion") < text.index("motiongen/kimodo-smplx")


def _view_cases(out: Path, task: str) -> list[dict]:
    manifest = json.loads((out.with_name("metrics.view") / MANIFEST_NAME).read_text())
    return [c for c in manifest["cases"] if c["task"] == task]


def test_the_view_folder_has_a_case_per_t2m_sample_with_its_test_and_generated_motion(
    subset: Path, result: tuple[Path, dict]
) -> None:
    from motiongen.data.dataset import MotionDataset
    from motiongen.evaluation.runner import _load_motions
    from motiongen.evaluation.t2m import load_items, replication_plan
    from motiongen.skeleton.registry import get_skeleton

    out, r = result
    view = out.with_name("metrics.view")
    manifest = validate_manifest(json.loads((view / MANIFEST_NAME).read_text()), view)
    assert [p["name"] for p in manifest["panels"]] == ["gt", "condition", "generated"]
    cases = _view_cases(out, "text_to_motion")
    assert len(cases) == r["tasks"]["t2m"]["samples_per_replication"] == 32
    # replication 0's samples: its item order and drawn captions, and the motions its piece kept
    items = load_items(MotionDataset(root=subset, split="test", mirrored=False), limit=32)
    order, captions = replication_plan(items, r["settings"]["seed"])
    generated = _load_motions(out.with_name("metrics.parts") / "t2m-model-0-motions.npz")
    sk = get_skeleton("smplx22")
    assert sorted(c["diagnostics"]["test_item"]["index"] for c in cases) == sorted(order.tolist())
    for case in cases:
        i = case["diagnostics"]["test_item"]["index"]
        k = int(np.nonzero(order == i)[0][0])
        assert case["captions"] == [captions[k]] and case["num_frames"] == items[i].frames
        assert set(case["files"]) == {"gt", "generated"} and "condition" in case["missing_panels"]
        gt = read_viewer_motion(view / case["files"]["gt"])
        gen = read_viewer_motion(view / case["files"]["generated"])
        assert gt.joint_names == gen.joint_names == list(sk.joint_names) and gen.parents == list(sk.parents)
        np.testing.assert_allclose(gen.positions, generated[k].positions, atol=FLOAT16_TOLERANCE_M)
        # the test motion as generated motions start: frame 0 at the origin, facing +Z
        np.testing.assert_allclose(gt.positions, canonical_positions(items[i].positions, sk), atol=FLOAT16_TOLERANCE_M)
        assert gt.positions[0, 0, [0, 2]] == pytest.approx([0.0, 0.0], abs=1e-3)
        assert {"quality_generated", "quality_gt"} <= set(case["diagnostics"])
    # per-motion quality figures average to the quality task's model row
    model = r["tasks"]["quality"]["rows"][1]
    mean_skate = np.mean([c["diagnostics"]["quality_generated"]["foot_skate_from_height"] for c in cases])
    assert mean_skate == pytest.approx(model["foot_skate_from_height"], abs=1e-3)


def test_the_view_folder_has_the_constraint_cases_with_conditions_and_overlays(result: tuple[Path, dict]) -> None:
    from motiongen.evaluation.constraints import TYPES

    out, r = result
    view = out.with_name("metrics.view")
    cases = {c["diagnostics"]["case"]["constraint_type"]: c for c in _view_cases(out, "constraints")}
    assert sorted(cases) == sorted(TYPES)  # one window, every type
    per_case = r["tasks"]["constraints"]["per_case"][0]
    for ctype, case in cases.items():
        assert case["num_frames"] == 40 and case["captions"] == [per_case["caption"]]
        assert set(case["files"]) == {"gt", "generated"} | ({"condition"} if ctype in ("fullbody", "mixed") else set())
    frames = per_case["frames"]
    assert cases["fullbody"]["panel_visible_ranges"] == {"condition": [[f, f + 1] for f in frames["fullbody"]]}
    assert cases["fullbody"]["condition_overlays"]["keyframes"] == frames["fullbody"]
    assert cases["root2d_path"]["condition_overlays"]["root_trajectory"]["dense"] is True
    assert cases["root2d_waypoints"]["condition_overlays"]["root_trajectory"]["frames"] == frames["waypoints"]
    assert {t["chain"] for t in cases["end_effector"]["condition_overlays"]["joint_targets"]} == {
        "LeftHand", "RightHand", "LeftFoot", "RightFoot"}
    # the shown motions are those the task scored: the keyframe error recomputed from the viewer's
    # files (float16) is the task's post-processed figure
    gt = read_viewer_motion(view / cases["fullbody"]["files"]["gt"]).positions
    gen = read_viewer_motion(view / cases["fullbody"]["files"]["generated"]).positions
    keys = frames["fullbody"]
    error_cm = 100 * np.linalg.norm(gen[keys] - gt[keys], axis=-1).mean()
    scored = per_case["figures"]["fullbody"]["postprocessed"]["joint_cm_mean"]
    assert error_cm == pytest.approx(scored, abs=0.1)
    assert cases["fullbody"]["diagnostics"]["eval_figures"]["postprocessed"]["joint_cm_mean"] == pytest.approx(scored, abs=1e-3)
    assert cases["fullbody"]["diagnostics"]["constraint_error"]["fullbody_mean_m"] == pytest.approx(scored / 100, abs=1e-3)
    # post-processing pins the keyframes, so that one is ~0; the pelvis off the dense path is not
    path = cases["root2d_path"]
    gen = read_viewer_motion(view / path["files"]["generated"]).positions
    points = np.asarray(path["condition_overlays"]["root_trajectory"]["points"])
    off_cm = 100 * np.linalg.norm(gen[:, 0, [0, 2]] - points, axis=-1).mean()
    scored = per_case["figures"]["root2d_path"]["postprocessed"]["pelvis_xz_cm_mean"]
    assert scored > 0.5 and off_cm == pytest.approx(scored, abs=0.2)
    assert "continuity" in cases["mixed"]["diagnostics"]


def test_a_resumed_run_rebuilds_the_view_and_no_view_leaves_it(subset: Path, result: tuple[Path, dict]) -> None:
    out, _ = result
    view = out.with_name("metrics.view")
    stamp = (view / MANIFEST_NAME).stat().st_mtime_ns
    # every piece is finished: these runs only read them back
    run_eval("motiongen/kimodo-smplx", out, EvalSettings(tasks=("quality",), **SETTINGS), dataset=subset,
             progress=False, view=False)
    assert (view / MANIFEST_NAME).stat().st_mtime_ns == stamp
    run_eval("motiongen/kimodo-smplx", out, EvalSettings(tasks=("quality",), **SETTINGS), dataset=subset, progress=False)
    # the view follows the tasks that ran: the text-to-motion cases (quality uses the same motions) only
    manifest = json.loads((view / MANIFEST_NAME).read_text())
    assert {c["task"] for c in manifest["cases"]} == {"text_to_motion"} and len(manifest["cases"]) == 32
    assert not (view / "condition").exists()
    # a folder of the user's where the view would go is refused before any work
    mine = out.with_name("mine.view")
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="is not a viewer folder"):
        run_eval("motiongen/kimodo-smplx", out.with_name("mine.json"), EvalSettings(**SETTINGS), dataset=subset)
    assert not out.with_name("mine.parts").exists()


def test_a_second_run_reuses_the_finished_pieces(subset: Path, result: tuple[Path, dict]) -> None:
    out, _ = result
    parts = out.with_name("metrics.parts")
    piece = parts / "t2m-model-1.json"
    stored = json.loads(piece.read_text())
    stored["fid"] = 123.0  # a marker: a re-run that recomputed the piece would not show it
    piece.write_text(json.dumps(stored))
    assert main(_args(subset, out, "--tasks", "t2m")) == 0
    again = json.loads(out.read_text())
    model = again["tasks"]["t2m"]["rows"][-1]
    assert 123.0 in model["fid"]["values"]
    # other settings: the pieces are not mixed in
    assert main(_args(subset, out, "--tasks", "t2m", "--seed", "5")) == 0
    assert 123.0 not in json.loads(out.read_text())["tasks"]["t2m"]["rows"][-1]["fid"]["values"]


def test_pieces_of_other_code_are_not_mixed_in(subset: Path, result: tuple[Path, dict], monkeypatch) -> None:
    """The resume identity holds a digest of the package's sources: after a code change (here the
    digest of a source tree with one file edited) the finished pieces are computed again."""
    from motiongen.evaluation import records

    out, _ = result
    piece = out.with_name("metrics.parts") / "t2m-model-0.json"
    assert main(_args(subset, out, "--tasks", "t2m")) == 0  # the fixture's settings and code
    stored = json.loads(piece.read_text())
    stored["fid"] = 321.0
    piece.write_text(json.dumps(stored))
    assert main(_args(subset, out, "--tasks", "t2m")) == 0
    assert 321.0 in json.loads(out.read_text())["tasks"]["t2m"]["rows"][-1]["fid"]["values"]
    # the same package with one source edited has another digest
    edited = out.parent / "edited" / "motiongen"
    package = Path(records.__file__).resolve().parents[1]
    for path in package.rglob("*.py"):
        copy = edited / path.relative_to(package)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    (edited / "postprocess" / "correct.py").write_text((package / "postprocess" / "correct.py").read_text() + "\n# edited\n")
    original = records.code_digest()
    monkeypatch.setattr(records, "__file__", str(edited / "evaluation" / "records.py"))
    assert records.code_digest() != original
    assert main(_args(subset, out, "--tasks", "t2m")) == 0
    assert 321.0 not in json.loads(out.read_text())["tasks"]["t2m"]["rows"][-1]["fid"]["values"]


def test_bad_settings_are_named() -> None:
    with pytest.raises(InputError, match="tasks"):
        EvalSettings(tasks=("t2m", "speed"))
    with pytest.raises(InputError, match="limit"):
        EvalSettings(limit=8)
    with pytest.raises(InputError, match="replications"):
        EvalSettings(replications=0)
    for coverage in (-0.1, 1.5, "half"):
        with pytest.raises(InputError, match="from 0 to 1") as caught:
            EvalSettings(constraint_caption_coverage=coverage)
        assert caught.value.field == "constraint_caption_coverage"


def test_a_smog_model_is_evaluated_on_the_tasks_it_can_do(subset: Path, tmp_path: Path) -> None:
    import torch

    from motiongen.models.smog.model import SMoGAutoencoder, SMoGConfig
    from motiongen.pipelines.smog import SMoGPipeline
    from motiongen.skeleton.registry import get_skeleton

    torch.manual_seed(0)
    model = SMoGAutoencoder(SMoGConfig(width=32, layers=1, heads=2, ff=32, max_frames=300))
    folder = SMoGPipeline(model, get_skeleton("smplx22"), 30.0, {"type": "minilm"}).save_pretrained(tmp_path / "smog")
    out = tmp_path / "smog.json"
    args = ["eval", "--model", str(folder), "--dataset", str(subset), "--replications", "2", "--limit", "32",
            "--mm-captions", "4", "--mm-repeats", "2", "--no-progress", "-o", str(out)]
    assert main(args) == 0
    r = json.loads(out.read_text())
    # the default task list loses the control tasks; what is left is measured like KIMODO
    assert set(r["tasks"]) == {"t2m", "quality"} and r["model"]["kind"] == "smog"
    assert "deterministic" in r["model"]["sampling"]
    model_row = r["tasks"]["t2m"]["rows"][-1]
    # one prompt, one motion: the repeats of a caption are identical
    assert model_row["multimodality"]["mean"] == pytest.approx(0.0, abs=1e-5)
    assert model_row["fid"]["mean"] > 0
    assert f"`{r['model']['hash'][:8]}`, deterministic, 2 replications" in t2m_table([r])
    with pytest.raises(InputError, match="kinematic controls"):
        from motiongen.evaluation.runner import run_eval

        run_eval(str(folder), tmp_path / "x.json", EvalSettings(tasks=("t2m", "inbetween"), limit=32),
                 dataset=subset, progress=False)
