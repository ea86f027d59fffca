"""``motiongen.evaluation.constraints.evaluate_constraints`` on real test windows with the shipped model:
the record's layout, finite figures, post-processing meeting full-body keyframes, and type subsets
reproducing the same numbers (each generation is seeded per case, not per run)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from motiongen.data.dataset import MotionDataset
from motiongen.errors import InputError
from motiongen.evaluation.constraints import (
    METRICS,
    SETTINGS,
    TYPES,
    build_cases,
    covered_starts,
    eligible_clips,
    evaluate_constraints,
)
from motiongen.pipelines.kimodo import KIMODOPipeline

CASES, FRAMES, STEPS, SEED = 2, 60, 5, 0
#: 60-frame windows of 166-250-frame clips: no clip's whole-clip caption describes half of one, so
#: the generation tests take any window (coverage 0); test_caption_coverage_* checks the default rule.
COVERAGE = 0.0


@pytest.fixture(scope="module")
def test_split(data_dir: Path, cache_dir: Path) -> MotionDataset:
    """The test split of a tiny real build (Bandai, 4 clips per source; its test clips are 166-250 frames)."""
    from motiongen.data.build import build_dataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    return MotionDataset(root=stats["path"], split="test", mirrored=False)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> KIMODOPipeline:
    return KIMODOPipeline.from_pretrained(
        "motiongen/kimodo-smplx", text_cache_dir=tmp_path_factory.getbasetemp() / "text_cache"
    )


@pytest.fixture(scope="module")
def record(pipe: KIMODOPipeline, test_split: MotionDataset) -> dict:
    return evaluate_constraints(pipe, test_split, cases=CASES, frames=FRAMES, steps=STEPS, seed=SEED, caption_coverage=COVERAGE)


def test_record_layout_and_finite_figures(record: dict, test_split: MotionDataset) -> None:
    assert list(record) == ["settings", "summary", "raw_features_identical", "per_case", "seconds_per_generation"]
    settings = record["settings"]
    assert settings["split"] == "test" and settings["cases"] == CASES and settings["eligible_clips"] == len(test_split)
    assert settings["caption_coverage"] == COVERAGE
    assert settings["case_seeds"] == [SEED * 1000 + k for k in range(CASES)] and settings["types"] == list(TYPES)
    summary = record["summary"]
    assert set(summary) == set(TYPES) | {"real"}
    for ctype in TYPES:
        assert set(summary[ctype]) == set(SETTINGS)
        for setting in SETTINGS:
            entry = summary[ctype][setting]
            for metric in METRICS[ctype]:
                assert math.isfinite(entry[metric]["mean"]) and math.isfinite(entry[metric]["p95"]), (ctype, setting, metric)
                assert entry[metric]["n"] > 0
            assert math.isfinite(entry["foot_skate"]["mean"]) and entry["continuity"]["n"] == CASES
    assert summary["real"]["foot_skate"]["n"] == CASES
    assert record["raw_features_identical"]  # same seed: post-processing changes only the joints
    assert sorted(record["seconds_per_generation"]) == sorted(SETTINGS)
    # 2 unconstrained generations per case, 2 constrained ones per case and type
    assert record["seconds_per_generation"]["raw"]["n"] == CASES * len(TYPES)
    assert record["seconds_per_generation"]["unconstrained_raw"]["n"] == CASES
    assert [c["seed"] for c in record["per_case"]] == settings["case_seeds"]
    json.loads(json.dumps(record))  # plain JSON types only


def test_postprocessing_meets_fullbody_keyframes(record: dict) -> None:
    fullbody = record["summary"]["fullbody"]
    post, unconstrained = fullbody["postprocessed"]["joint_cm"]["mean"], fullbody["unconstrained_raw"]["joint_cm"]["mean"]
    # post-processing snaps the keyframes, so the constrained frames and scored frames line up
    assert post < 1.0
    # a free motion from the same caption does not land on the real window's poses
    assert post < unconstrained and unconstrained > 3.0


def test_a_type_subset_gives_the_same_figures(pipe: KIMODOPipeline, test_split: MotionDataset, record: dict) -> None:
    alone = evaluate_constraints(pipe, test_split, cases=CASES, frames=FRAMES, steps=STEPS, seed=SEED, types=["fullbody"],
                                 caption_coverage=COVERAGE)
    assert set(alone["summary"]) == {"fullbody", "real"}
    assert alone["summary"]["fullbody"] == record["summary"]["fullbody"]
    assert [c["figures"]["fullbody"] for c in alone["per_case"]] == [c["figures"]["fullbody"] for c in record["per_case"]]


def test_bad_arguments_name_their_field(pipe: KIMODOPipeline, test_split: MotionDataset) -> None:
    too_long = max(test_split[i][0].num_frames for i in range(len(test_split))) + 1
    assert too_long <= pipe.max_frames  # so that it is the clips, not the model, that refuse it
    cases = [
        ({"types": ["fullbody", "hands"]}, "types", "unknown constraint type 'hands'"),
        ({"frames": pipe.max_frames + 1}, "frames", f"1..{pipe.max_frames}"),
        ({"cases": 0}, "cases", "positive integer"),
        ({"frames": too_long}, "frames", f"no test clip has {too_long} frames"),
        # the default coverage: a 60-frame window is less than half of every clip
        ({"frames": FRAMES}, "frames", f"no test clip has {FRAMES} frames and a caption that describes at least 0.5"),
        ({"caption_coverage": 1.5}, "caption_coverage", "from 0 to 1"),
        ({"caption_coverage": float("nan")}, "caption_coverage", "from 0 to 1"),
    ]
    for kwargs, field, message in cases:
        with pytest.raises(InputError, match=message) as caught:
            evaluate_constraints(pipe, test_split, steps=1, **kwargs)
        assert caught.value.field == field


def test_covered_starts_keep_windows_that_share_enough_with_the_caption() -> None:
    assert covered_starts(100, 40, None, 0.0).tolist() == list(range(61))  # any window
    assert len(covered_starts(100, 40, None, 0.5)) == 0  # 40 of a 100-frame whole-clip caption
    assert covered_starts(80, 40, None, 0.5).tolist() == list(range(41))
    # a timed caption over frames [50, 70): a 40-frame window shares 20 frames at most (half of it)
    assert covered_starts(200, 40, (50, 70), 0.5).tolist() == list(range(30, 51))
    assert len(covered_starts(200, 40, (50, 70), 0.6)) == 0
    # a long timed span [20, 180): 40 frames are a quarter of it
    assert covered_starts(200, 40, (20, 180), 0.25).tolist() == list(range(20, 141))
    assert len(covered_starts(30, 40, None, 0.0)) == 0  # the clip is shorter than the window


def test_caption_coverage_keeps_windows_the_caption_describes(pipe: KIMODOPipeline, test_split: MotionDataset) -> None:
    clips = [test_split[i][0] for i in range(len(test_split))]
    lengths = [m.num_frames for m in clips]
    for frames in (FRAMES, max(lengths) // 2, min(lengths) // 2 + 1):
        # whole-clip captions: a clip qualifies when the window is at least half of it, with its first caption
        expected = [(i, 0) for i, n in enumerate(lengths) if frames <= n <= 2 * frames]
        assert eligible_clips(test_split, frames) == expected, frames
        assert eligible_clips(test_split, frames, 0.0) == [(i, 0) for i in range(len(clips))]
    frames = max(lengths) // 2
    cases = build_cases(test_split, len(clips), frames, SEED, pipe.bundle.features)
    assert len(cases) == len([n for n in lengths if frames <= n <= 2 * frames]) > 0
    by_id = {m.meta["clip_id"]: m for m in clips}
    for case in cases:
        assert by_id[case.clip_id].num_frames <= 2 * frames and 0 <= case.start <= by_id[case.clip_id].num_frames - frames


def test_a_timed_caption_is_used_where_the_whole_clip_caption_is_too_broad(pipe: KIMODOPipeline, test_split: MotionDataset) -> None:
    import dataclasses

    real, _ = test_split[0]
    assert real.num_frames > 2 * FRAMES  # the whole-clip caption does not describe a FRAMES window
    # a KIT-ML-like timed sentence over seconds [1, 3): frames [30, 90), as long as the window
    clip = dataclasses.replace(real, meta={**real.meta, "caption_windows": [None, [1.0, 3.0]]})
    clips = [(clip, ["a person does many things.", "a person waves."])]
    assert eligible_clips(clips, FRAMES) == [(0, 1)]
    case = build_cases(clips, 1, FRAMES, SEED, pipe.bundle.features)[0]
    assert case.caption == "a person waves."
    shared = min(case.start + FRAMES, 90) - max(case.start, 30)
    assert shared >= FRAMES / 2  # the window is at least half the sentence's span
    assert eligible_clips(clips, FRAMES, 0.0) == [(0, 0)]  # without the rule: the first caption
