"""``benchmarks/constraint_benchmark.py`` end to end on a tiny scale: case building from real clips,
generation with and without post-processing, scoring and the summary (the code path, not the figures;
the tiny bundle of test_pipeline.py is untrained)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark
from test_pipeline import CMU_ASF, CMU_CLIPS, make_tiny_bundle

from motiongen.evaluation.constraints import METRIC_LABELS, TYPE_LABELS, pop_ratio
from motiongen.metrics.quality import heuristic_foot_contacts
from motiongen.pipelines.kimodo import KIMODOPipeline

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 40  # the tiny bundle generates at most 64
# 40-frame windows of long CMU clips: caption coverage 0 takes any window (the coverage rule is
# tested in test_evaluation_constraints.py)


def _load_benchmark():
    return load_benchmark("constraint_benchmark")


@pytest.fixture(scope="module")
def bench():
    return _load_benchmark()


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> KIMODOPipeline:
    path = make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle", data_dir, cache_dir)
    return KIMODOPipeline.from_pretrained(path, text_cache_dir=tmp_path_factory.getbasetemp() / "text_cache")


@pytest.fixture(scope="module")
def clips(data_dir: Path, cache_dir: Path):
    """Two real CMU clips on smplx22 at 30 fps, with captions, standing in for the test split."""
    from motiongen.data.archives import unpacked
    from motiongen.io.asf_amc import read_amc, read_asf
    from motiongen.retarget.registered import retarget_to

    cmu = unpacked("cmu", data_dir, cache_dir) / "cmu"
    rig = read_asf(cmu / CMU_ASF)
    captions = (["a person walks forward."], ["a person runs forward."])
    return [
        (retarget_to(read_amc(cmu / clip, rig).resample(30.0), "smplx22", data_dir=data_dir, cache_dir=cache_dir), caps)
        for clip, caps in zip(CMU_CLIPS, captions)
    ]


def test_cases_are_deterministic_canonical_windows(bench, pipe: KIMODOPipeline, clips) -> None:
    feats = pipe.bundle.features
    cases = bench.build_cases(clips, 5, FRAMES, 3, feats, 0.0)
    again = bench.build_cases(clips, 5, FRAMES, 3, feats, 0.0)
    assert len(cases) == 2  # capped at the eligible clips
    assert [(c.clip_id, c.start, c.frames) for c in cases] == [(c.clip_id, c.start, c.frames) for c in again]
    for case in cases:
        assert case.positions.shape == (FRAMES, 22, 3) and case.smooth_xz.shape == (FRAMES, 2)
        assert np.allclose(case.positions[0, 0, [0, 2]], 0.0, atol=1e-9)  # canonicalised
        f = case.frames
        assert f["fullbody"][0] == 0 and f["fullbody"][-1] == FRAMES - 1 and len(f["fullbody"]) == 3
        assert f["waypoints"] == [0, FRAMES // 2, FRAMES - 1]
        assert len(f["interval"]) == bench.INTERVAL_FRAMES and len(f["end_effector"]) == 3
        for ctype in bench.TYPES:  # every constraint list is valid and conflict-free
            pipe._check_constraints(bench.build_constraints(pipe, case, ctype), FRAMES)


def test_scoring_the_real_motion_gives_zero_error(bench, pipe: KIMODOPipeline, clips) -> None:
    case = bench.build_cases(clips, 1, FRAMES, 0, pipe.bundle.features, 0.0)[0]
    skeleton, fps = pipe.bundle.skeleton, pipe.fps
    contacts = heuristic_foot_contacts(case.positions, skeleton, fps)
    for ctype in bench.TYPES:
        s = bench.score(case, ctype, case.positions, case.smooth_xz, contacts, skeleton, fps)
        assert set(s["errors"]) == set(bench.METRICS[ctype])
        for metric, values in s["errors"].items():
            if metric != "pelvis_xz_cm":  # the real pelvis is not the smooth root (the reference figure)
                assert np.allclose(values, 0.0), (ctype, metric)
        assert s["continuity"] == pytest.approx(1.0)
        real_pop = bench.real_figures(case, skeleton, fps)["pop"][ctype]
        assert s["pop"] == real_pop and np.isfinite(s["pop"])  # the real motion is its own reference
        # the real motion's pelvis path is the reference row's
        assert s["pelvis_path_m"] == bench.real_figures(case, skeleton, fps)["pelvis_path_m"]
        # with the contact heuristic's labels (planted: slower than 0.15 m/s), the planted feet are slow
        assert 0.0 <= s["planted_slide"] < 0.15
    assert bench.real_figures(case, skeleton, fps)["foot_skate"] >= 0


def test_a_jump_at_a_constrained_frame_is_a_pop(bench, pipe: KIMODOPipeline, clips) -> None:
    case = bench.build_cases(clips, 1, FRAMES, 0, pipe.bundle.features, 0.0)[0]
    key = case.frames["fullbody"][1]  # the keyframe between the first and the last
    smooth = pop_ratio(case.positions, [key])
    step = np.median(np.linalg.norm(np.diff(case.positions, axis=0), axis=-1).max(axis=-1))
    jumped = case.positions.copy()
    jumped[key:, :, 1] += 5 * step  # the body is lifted at the key by five of its usual steps, in one step
    assert smooth < 3.0 and pop_ratio(jumped, [key]) > max(3.0, 2.0 * smooth)
    # three frames before the key the steps are the motion's own (the jump is one of the 10 steps around)
    assert pop_ratio(jumped, [key - 3]) == pytest.approx(pop_ratio(case.positions, [key - 3]), rel=0.25)
    assert np.isnan(pop_ratio(case.positions[:1], [0]))  # no step


def test_run_case_summary_and_json(bench, pipe: KIMODOPipeline, clips) -> None:
    cases = bench.build_cases(clips, 2, FRAMES, 0, pipe.bundle.features, 0.0)
    skeleton, fps = pipe.bundle.skeleton, pipe.fps
    timings: dict[str, list[float]] = {}
    results = [bench.run_case(pipe, case, bench.TYPES, 2, timings) for case in cases]
    reals = [bench.real_figures(case, skeleton, fps) for case in cases]
    assert sorted(timings) == sorted(bench.SETTINGS)
    for r in results:
        assert all(r["raw_features_identical"].values())  # same seed: post-processing changes only the joints
        assert set(r["scores"]) == set(bench.TYPES)
    summary = bench.summarise(results, reals, bench.TYPES)
    for ctype in bench.TYPES:
        assert set(summary[ctype]) == set(bench.SETTINGS)
        for setting in bench.SETTINGS:
            entry = summary[ctype][setting]
            for metric in bench.METRICS[ctype]:
                assert np.isfinite(entry[metric]["mean"]) and entry[metric]["p95"] >= 0
            assert np.isfinite(entry["foot_skate"]["mean"]) and np.isfinite(entry["continuity"]["p95"])
            assert entry["planted_slide"]["mean"] >= 0 and entry["planted_slide"]["n"] == len(cases)
    # constrained frames and scored frames line up: post-processing makes full-body keyframes exact
    assert summary["fullbody"]["postprocessed"]["joint_cm"]["mean"] < 1.0
    assert summary["real"]["foot_skate"]["n"] == len(cases)
    want = np.mean([r["scores"]["mixed"]["postprocessed"]["pelvis_path_m"] for r in results])
    assert summary["mixed"]["postprocessed"]["pelvis_path_m"]["mean"] == pytest.approx(want)
    records = [bench.per_case_record(c, r, real) for c, r, real in zip(cases, results, reals)]
    json.loads(json.dumps(records))  # plain JSON types only
    assert all("planted_slide" in r["figures"]["fullbody"]["postprocessed"] for r in records)
    table = bench.format_tables(summary, bench.TYPES)
    assert "real test windows" in table and all(TYPE_LABELS[t] in table for t in bench.TYPES)
    assert all(METRIC_LABELS[m] in table for t in bench.TYPES for m in bench.METRICS[t])
    assert "real val windows" in bench.format_tables(summary, bench.TYPES, "val")  # tuning runs say so


@pytest.fixture(scope="module")
def long_pipe(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> KIMODOPipeline:
    """Room for KIMODO's example lengths (150-300 frames); the bundle test_constrained_cli.py also uses."""
    path = make_tiny_bundle(tmp_path_factory.getbasetemp() / "tiny_kimodo_bundle_304", data_dir, cache_dir, max_frames=304)
    return KIMODOPipeline.from_pretrained(path, text_cache_dir=tmp_path_factory.getbasetemp() / "text_cache")


def test_shipped_kimodo_examples(bench, long_pipe: KIMODOPipeline, raw) -> None:
    """The examples part: every SOMA example with a constraints.json loads (meta frames = its motion's),
    KIMODO's own motion scored as ours is its own continuity reference, and the records render."""
    folder = raw("kimodo") / bench.EXAMPLES_SUBDIR
    names = [d.name for d in bench.example_dirs(folder)]
    assert names == ["03_full_body_keyframes", "04_ee_constraint", "05_root_path", "06_root_waypoints", "07_mixed_constraints"]
    example = bench.load_example(long_pipe, folder / "07_mixed_constraints")
    assert example.num_frames == 152 and example.reference.shape == (152, 22, 3)
    errors = bench.example_errors(example.constraints, example.reference, example.reference_smooth_xz, long_pipe.bundle.features)
    assert set(errors) == {"fullbody", "root2d"} and errors["fullbody"]["joint_cm"].shape == (1,)
    assert errors["root2d"]["pelvis_xz_cm"].shape == (152,)
    assert bench.continuity(example.reference, example.reference, bench.example_frames(example, "fullbody")) == pytest.approx(1.0)

    records, timings = bench.run_examples(long_pipe, folder, 2, progress=False)
    assert [r["name"] for r in records] == names and sorted(timings) == sorted(bench.EXAMPLE_SETTINGS[:-1])
    by_name = {r["name"]: r for r in records}
    assert set(by_name["04_ee_constraint"]["types"]) == {"end_effector"}
    assert by_name["04_ee_constraint"]["types"]["end_effector"]["errors"]["raw"]["chain_base_cm"]["n"] == 4 * 2
    assert by_name["05_root_path"]["num_frames"] == 300
    for rec in records:
        assert rec["raw_features_identical"]
        for entry in rec["types"].values():
            assert set(entry["errors"]) == set(bench.EXAMPLE_SETTINGS) and set(entry["continuity"]) == set(bench.EXAMPLE_SETTINGS)
            assert entry["continuity"]["reference"] == pytest.approx(1.0)
    # post-processing meets full-body keyframes: targets and scored frames line up
    assert by_name["03_full_body_keyframes"]["types"]["fullbody"]["errors"]["postprocessed"]["joint_cm"]["mean"] < 1.0
    json.loads(json.dumps(records))  # plain JSON types only
    table = bench.format_examples_table(records)
    assert table.count("\n") == 1 + 6  # header rule + one row per example and type (07 has two)
