"""The editing measurements (motiongen.evaluation.editing, benchmarks/editing.py) on real Bandai
clips with the shipped model: what each figure reads is checked against the motions themselves,
and the gesture check against constructed poses and real gesture clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.errors import InputError
from motiongen.evaluation import editing
from motiongen.pipelines.kimodo import KIMODOPipeline

pytestmark = pytest.mark.data

FAST = {"steps": 4}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> KIMODOPipeline:
    return KIMODOPipeline.from_pretrained(
        "motiongen/kimodo-smplx", text_cache_dir=tmp_path_factory.getbasetemp() / "measure_text_cache"
    )


@pytest.fixture(scope="module")
def clips(data_dir: Path, cache_dir: Path) -> list[editing.LabelledClip]:
    """The test split of a 4-clip Bandai subset: a walk and three hand-waving clips."""
    from motiongen.data.build import build_dataset
    from motiongen.data.dataset import MotionDataset

    stats = build_dataset(data_dir, cache_dir, include=["bandai"], limit_per_source=4, progress=False)
    out = editing.labelled_clips(MotionDataset(root=stats["path"], split="test", mirrored=False))
    assert {c.content for c in out} >= {"walk", "wave-right-hand"}
    return out


def test_labelled_clips_carry_the_file_names_labels(clips):
    for clip in clips:
        name = clip.clip_id.split("/")[-1]  # dataset-N_content_style_take
        assert name.startswith(f"dataset-{clip.dataset}_{clip.content}_{clip.style}_")
        assert clip.captions and clip.motion.num_frames > 0


def test_style_phrases_use_the_training_words():
    assert editing.style_phrases("walk", "active") == ("a person walks forward", "energetically")
    assert editing.style_phrases("wave-right-hand", "elderly") == ("a person waves the right hand", "in an elderly way")
    with pytest.raises(InputError) as err:
        editing.style_phrases("juggle", "active")
    assert err.value.field == "content"
    with pytest.raises(InputError) as err:
        editing.style_phrases("walk", "sleepy")
    assert err.value.field == "style"


def _raised(frames: int, right_share: float, left_share: float, skeleton) -> np.ndarray:
    """A T-pose-like stand whose wrists are lifted above the shoulders on the first shares of frames."""
    pos = np.zeros((frames, skeleton.num_joints, 3))
    pos[:, :, 1] = 1.0
    for side, share in (("right", right_share), ("left", left_share)):
        wrist = skeleton.index(f"{side}_wrist")
        pos[:, skeleton.index(f"{side}_shoulder"), 1] = 1.4
        pos[:, wrist, 1] = 0.9
        pos[: int(round(share * frames)), wrist, 1] = 1.7
    return pos


def test_gesture_check_known_answers(pipe):
    sk = pipe.bundle.skeleton
    right = _raised(100, 0.5, 0.0, sk)
    assert editing.gesture_check("wave_right", right, sk)[0]
    assert not editing.gesture_check("wave_left", right, sk)[0]
    assert not editing.gesture_check("raise_both", right, sk)[0]
    passed, figures = editing.gesture_check("raise_both", _raised(100, 0.3, 0.25, sk), sk)
    assert passed and figures == {"right_raised": 0.3, "left_raised": 0.25}
    # below the share a wrist does not count as raised
    assert not editing.gesture_check("wave_right", _raised(100, editing.RAISED_SHARE - 0.01, 0.0, sk), sk)[0]
    with pytest.raises(InputError) as err:
        editing.gesture_check("juggle", right, sk)
    assert err.value.field == "name"


def test_gesture_check_tells_real_waves_from_a_walk(clips, pipe):
    sk = pipe.bundle.skeleton
    for clip in clips:
        passed, _ = editing.gesture_check("wave_right", clip.motion.joint_positions(), sk)
        assert passed == (clip.content == "wave-right-hand"), clip.clip_id


def test_local_edit_measurement(pipe, clips):
    from motiongen.models.evaluator.evaluator import TextMotionEvaluator

    evaluator = TextMotionEvaluator.from_pretrained("motiongen/evaluator-smplx")
    result = editing.measure_local_edits(pipe, evaluator, clips, count=3, window=(40, 50), margin=10, seed=3,
                                         sampling=FAST)
    rows, summary = result["edits"], result["summary"]
    assert len(rows) == summary["edits"] == 3
    for row in rows:
        start, end = row["window"]
        assert 10 <= start and end <= row["frames"] - 10 and 40 <= end - start <= 50
        assert row["prompt_clip"] != row["clip_id"]
        donor = next(c for c in clips if c.clip_id == row["prompt_clip"])
        assert row["prompt"] in donor.captions
        assert row["kept_error_m"] < 1e-5  # frames outside the window are the source's
        for name in ("edited", "source", "free", "real"):
            assert -1.0 <= row[f"similarity_{name}"] <= 1.0
    assert summary["kept_error_m"] == max(r["kept_error_m"] for r in rows)
    assert summary["seam"]["max"] == max(max(r["seam_start"], r["seam_end"]) for r in rows)
    assert summary["continuity"]["max"] == max(r["continuity"] for r in rows) and np.isfinite(summary["continuity"]["max"])
    assert summary["similarity"]["real"] == pytest.approx(np.mean([r["similarity_real"] for r in rows]))
    assert summary["top3_chance"] == 1.0  # 3 prompts: every one is in the top 3
    assert all(v == 1.0 for v in summary["top3"].values())
    assert summary["evaluator"] == evaluator.version
    with pytest.raises(InputError) as err:
        editing.measure_local_edits(pipe, evaluator, clips, window=(400, 500))
    assert err.value.field == "clips"


def test_composition_measurement(pipe, clips):
    result = editing.measure_compositions(pipe, clips, sources_per_prompt=1, seed=0, sampling=FAST)
    assert result["kept_joints"][0] == "pelvis" and "left_foot" in result["kept_joints"]
    rows = result["edits"]
    assert [r["gesture"] for r in rows] == list(editing.COMPOSE_PROMPTS)
    walk = next(c for c in clips if c.content == "walk")
    sk = pipe.bundle.skeleton
    for row in rows:
        assert row["clip_id"] == walk.clip_id  # the only walk or run clip
        assert row["kept_joint_error_m"] < 1e-5
        # the lower body is the source's, so the toes (and their skate) are too
        assert row["foot_skate"] == pytest.approx(row["source_foot_skate"], abs=1e-4)
        assert row["source_passed"] == editing.gesture_check(row["gesture"], walk.motion.joint_positions(), sk)[0]
    wave = result["per_gesture"]["wave_right"]
    assert wave["real_content"] == "wave-right-hand" and wave["real_clips"] == 2 and wave["real_pass_rate"] == 1.0
    assert result["per_gesture"]["raise_both"]["real_clips"] == 0 and result["per_gesture"]["raise_both"]["real_pass_rate"] is None
    with pytest.raises(InputError) as err:
        editing.measure_compositions(pipe, [c for c in clips if c.content != "walk"])
    assert err.value.field == "clips"


def test_style_edit_measurement(pipe, clips):
    from motiongen.models.style import StyleClassifier

    classifier = StyleClassifier.from_pretrained("motiongen/style-classifier-smplx")
    styled = [c for c in clips if c.dataset == 2]
    result = editing.measure_style_edits(pipe, classifier, styled, sources_per_style=1, seed=0, sampling=FAST)
    styles = classifier.label_sets[editing.STYLE_LABEL_SET]
    assert result["styles"] == styles and len(result["edits"]) == len(styles)
    truth = classifier.classify([c.motion.joint_positions() for c in styled], editing.STYLE_LABEL_SET)
    by_id = {c.clip_id: (c, label) for c, label in zip(styled, truth)}
    for row in result["edits"]:
        clip, label = by_id[row["clip_id"]]
        assert row["source_style"] == clip.style != row["target_style"]
        assert row["source_predicted"] == label
        assert row["edited_predicted"] in styles and row["free_predicted"] in styles
        assert row["caption"] == " ".join(editing.style_phrases(clip.content, row["target_style"]))
        # the floor path is pinned on every frame and the feet on their contact frames
        assert row["root_path_cm"] < 30 and row["contact_agreement"] > 0.6
    for target, figures in result["per_target"].items():
        (row,) = [r for r in result["edits"] if r["target_style"] == target]
        assert figures["edit_accuracy"] == float(row["edited_predicted"] == target)
        assert figures["source_accuracy"] == float(row["source_predicted"] == target)
        assert figures["real_count"] == sum(c.style == target for c in styled)
    assert result["overall"]["chance"] == pytest.approx(1 / len(styles))
    assert result["real"]["clips"] == len(styled)
    text = editing.editing_tables({"split": "test", "classifier": {"version": classifier.version}, "style": result})
    assert "| **all** |" in text and all(f"| {s} |" in text for s in styles)
    with pytest.raises(InputError) as err:
        editing.measure_style_edits(pipe, classifier, [c for c in clips if c.dataset != 2])
    assert err.value.field == "clips"
