"""``motiongen eval`` end to end on a small slice: every task, the JSON record, resuming, the report.

Uses the shipped KIMODO model and the shipped evaluator on a subset build (16 clips per source and
split: 44 test clips of 40+ frames, enough for one R-precision batch of 32), with few steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motiongen.cli import main
from motiongen.data.build import build_dataset
from motiongen.errors import InputError
from motiongen.evaluation.report import inbetween_table, t2m_table
from motiongen.evaluation.runner import EvalSettings


@pytest.fixture(scope="module")
def subset(data_dir: Path, cache_dir: Path) -> Path:
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=16, workers=2, progress=False)["path"])


def _args(subset: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", "motiongen/kimodo-smplx", "--dataset", str(subset), "--replications", "2", "--limit", "32",
            "--steps", "2", "--mm-captions", "4", "--mm-repeats", "2", "--inbetween-windows", "3",
            "--constraint-cases", "1", "--constraint-frames", "40", "--no-progress", "-o", str(out), *extra]


@pytest.fixture(scope="module")
def result(subset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("eval") / "metrics.json"
    assert main(_args(subset, out)) == 0
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


def test_a_second_run_reuses_the_finished_pieces(subset: Path, result: tuple[Path, dict]) -> None:
    out, first = result
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


def test_bad_settings_are_named() -> None:
    with pytest.raises(InputError, match="tasks"):
        EvalSettings(tasks=("t2m", "speed"))
    with pytest.raises(InputError, match="limit"):
        EvalSettings(limit=8)
    with pytest.raises(InputError, match="replications"):
        EvalSettings(replications=0)


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
