"""The dataset builder: discovery, splits, captions, conversion, rebuild rules, compact file."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from motiongen.data.archives import ARCHIVES
from motiongen.data.build import build_dataset, write_compact
from motiongen.data.captions import (
    BANDAI_CONTENT,
    BANDAI_STYLE,
    bandai_captions,
    caption_window_frames,
    cmu_sentence,
    hdm05_captions,
    mirror_text,
)
from motiongen.data.dataset import MotionDataset, read_clip_records
from motiongen.data.sources import HDM05_CLASSES, discover
from motiongen.data.splits import SPLITS, assign_splits, balanced_group_splits, hash_split
from motiongen.errors import DataNotFoundError, InputError, MotiongenError, UnknownNameError


# --------------------------------------------------------------------------------------------------
# captions and splits without data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("raises the left hand", "raises the right hand"),
        ("Left", "Right"),
        ("RIGHT", "LEFT"),
        ("leftover", "leftover"),
        ("a left-handed wave to the right.", "a right-handed wave to the left."),
        ("jogs in a counterclockwise circle", "jogs in a clockwise circle"),
        ("Clockwise", "Counterclockwise"),
        ("brightly lit", "brightly lit"),
    ],
)
def test_mirror_text(text: str, expected: str) -> None:
    assert mirror_text(text) == expected


def test_mirror_text_is_an_involution_on_left_right() -> None:
    text = "The person turns Left, then right, and waves the LEFT hand."
    assert mirror_text(mirror_text(text)) == text


def test_bandai_captions_six_distinct_for_every_pair_and_deterministic() -> None:
    for content in BANDAI_CONTENT:
        for style in BANDAI_STYLE:
            clip_id = f"bandai/x_{content}_{style}_001"
            captions = bandai_captions(content, style, clip_id)
            assert len(set(captions)) >= 6
            assert captions == bandai_captions(content, style, clip_id)
            assert all(c.endswith(".") and c == c.strip() for c in captions)
    assert bandai_captions("walk", "old", "a") != bandai_captions("walk", "old", "b")


def test_cmu_sentences_keep_the_description_words() -> None:
    assert cmu_sentence("walk") == "a person walks."
    assert cmu_sentence("walk, veer left") == "a person walks, veers left."
    assert cmu_sentence("run/jog, 90-degree right turn") == "a person runs or jogs, makes a 90-degree right turn."
    assert cmu_sentence("dance - expressive arms, pirouette") == "a person dances: does expressive arms, does a pirouette."
    assert cmu_sentence("WalkDigital8") == "a person walks in a figure eight."
    assert cmu_sentence("lindyHop2") == "a person does a lindy hop."
    with pytest.raises(InputError):
        cmu_sentence("  ")


def test_caption_window_frames_clamps_to_the_clip() -> None:
    assert caption_window_frames(None, 30.0, 100) is None  # the whole clip
    assert caption_window_frames([1.0, 2.5], 30.0, 100) == (30, 75)
    assert caption_window_frames([-0.5, 9.0], 30.0, 100) == (0, 100)  # clamped
    assert caption_window_frames([4.0, 5.0], 30.0, 100) is None  # past the end: nothing left, the whole clip
    assert caption_window_frames([1.0, 1.0], 20.0, 100) is None  # empty


def test_hdm05_captions_cover_every_class() -> None:
    for _, name in HDM05_CLASSES.values():
        captions = hdm05_captions(name, f"hdm05/{name}")
        assert len(set(captions)) == 4
    assert any("left" in c for c in hdm05_captions("kick L front", "hdm05/k"))
    with pytest.raises(InputError, match="unknown HDM05 class"):
        hdm05_captions("fly", "hdm05/f")


def test_balanced_group_splits_reach_their_shares() -> None:
    weights = {f"g{i}": float(w) for i, w in enumerate([55, 9, 8, 8, 7.5, 4, 4, 2, 1, 1, 0.5, 0.4])}
    splits = balanced_group_splits(weights)
    total = sum(weights.values())
    share = {s: sum(w for g, w in weights.items() if splits[g] == s) / total for s in SPLITS}
    assert share["train"] == pytest.approx(0.8, abs=0.03)
    assert share["val"] == pytest.approx(0.1, abs=0.03) and share["test"] == pytest.approx(0.1, abs=0.03)
    assert splits == balanced_group_splits(dict(reversed(list(weights.items()))))  # order-independent
    counts = {s: sum(hash_split(f"key{i}") == s for i in range(4000)) / 4000 for s in SPLITS}
    assert counts["train"] == pytest.approx(0.8, abs=0.03) and counts["test"] == pytest.approx(0.1, abs=0.03)


# --------------------------------------------------------------------------------------------------
# discovery and splits on the real archives


@pytest.fixture(scope="module")
def discovered(raw) -> dict:
    folders = {key: raw(key) for key in ("bandai", "cmu", "hdm05", "text")}
    out = {}
    for source in ("bandai", "cmu", "hdm05"):
        out[source] = discover(source, folders)
    return out


def test_discovery_counts_and_skips(discovered: dict) -> None:
    bandai, bandai_skipped = discovered["bandai"]
    cmu, cmu_skipped = discovered["cmu"]
    hdm05, hdm05_skipped = discovered["hdm05"]
    assert len(bandai) == 174 + 2902
    assert [s.clip_id for s in bandai_skipped] == ["bandai/dataset-1_dance-long_normal_001"]
    assert len(cmu) == 181 - 9
    reasons = sorted(s.reason.split(":")[0] for s in cmu_skipped)
    assert reasons.count("no ASF for subject 35") == 9 and reasons.count("duplicate") == 2
    assert sum(1 for c in cmu if c.labels["kitml"]) == 35
    assert len(hdm05) == 287 and not hdm05_skipped
    walk = next(c for c in bandai if c.clip_id == "bandai/dataset-2_walk_elderly_003")
    assert (walk.labels["content"], walk.labels["style"], walk.group) == ("walk", "elderly", "bandai/dataset-2/walk/003")
    trial = next(c for c in cmu if c.clip_id == "cmu/16_11")
    assert trial.labels["description"] == "walk, veer left" and trial.fps == 120.0


def test_splits_are_disjoint_by_group(discovered: dict) -> None:
    clips = [c for source in discovered.values() for c in source[0]]
    splits = assign_splits(clips)
    group_splits = defaultdict(set)
    for clip in clips:
        group_splits[clip.group].add(splits[clip.clip_id])
    assert all(len(s) == 1 for s in group_splits.values())
    actors = {c.labels["actor"]: splits[c.clip_id] for c in clips if c.source == "hdm05"}
    assert actors == {"bd": "train", "bk": "train", "dg": "val", "mm": "test", "tr": "test"}
    for source in ("bandai", "cmu"):
        weight = defaultdict(float)
        for c in clips:
            if c.source == source:
                weight[splits[c.clip_id]] += c.weight
        total = sum(weight.values())
        assert weight["train"] / total == pytest.approx(0.8, abs=0.05)
        assert weight["val"] / total == pytest.approx(0.1, abs=0.05) and weight["test"] / total == pytest.approx(0.1, abs=0.05)


# --------------------------------------------------------------------------------------------------
# a small build


@pytest.fixture(scope="module")
def small_build(data_dir: Path, cache_dir: Path) -> dict:
    return build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)


def test_small_build_records_and_arrays(small_build: dict) -> None:
    root = Path(small_build["path"])
    records = read_clip_records(root)
    originals = [r for r in records if not r["mirrored"]]
    assert {(r["source"], r["split"]) for r in originals} == {(s, sp) for s in ("bandai", "cmu", "hdm05") for sp in SPLITS}
    assert len(originals) == 18 == small_build["total"]["clips"]
    assert all(len(r["captions"]) >= 1 for r in records)
    assert all(len(set(r["captions"])) >= 6 for r in records if r["source"] == "bandai")
    assert all(len(r["caption_windows"]) == len(r["captions"]) for r in records)
    by_id = {r["id"]: r for r in records}
    mirrored = [r for r in records if r["mirrored"]]
    assert len(mirrored) == 6 and all(r["split"] == "train" for r in mirrored)
    for r in mirrored:
        original = by_id[r["mirror_of"]]
        assert r["captions"] == [mirror_text(t) for t in original["captions"]] and r["frames"] == original["frames"]
    groups = defaultdict(set)
    for r in records:
        groups[r["group"]].add(r["split"])
    assert all(len(s) == 1 for s in groups.values())
    for split in SPLITS:
        with np.load(root / f"{split}.npz") as data:
            ids = [str(i) for i in data["clip_ids"]]
            assert ids == [r["id"] for r in records if r["split"] == split]
            assert data["rotations"].shape == (int(data["lengths"].sum()), 22, 4)
            assert np.allclose(np.linalg.norm(data["rotations"], axis=-1), 1.0, atol=1e-5)
            assert (data["offsets"] == np.concatenate([[0], np.cumsum(data["lengths"])[:-1]])).all()
    assert not [p for p in root.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_built_clips_stand_on_the_floor(small_build: dict) -> None:
    lowest = defaultdict(list)
    for split in SPLITS:
        dataset = MotionDataset(root=small_build["path"], split=split)
        for index in range(len(dataset)):
            motion, captions = dataset[index]
            assert motion.skeleton.name == "smplx22" and motion.fps == 30.0 and captions
            feet = motion.skeleton.foot_joint_indices
            lowest[motion.meta["source"]].append(motion.joint_positions()[:, feet, 1].min(-1))
    # every source's frames together; per clip only Bandai, whose clips (walks, gestures) keep a foot
    # down: CMU dances and HDM05 hops spend much of their time with both feet in the air
    for source, heights in lowest.items():
        assert abs(float(np.median(np.concatenate(heights)))) < 0.03, source
    assert all(abs(float(np.median(h))) < 0.03 for h in lowest["bandai"])


def test_build_reports_retarget_quality(small_build: dict) -> None:
    quality = small_build["retarget_quality"]
    assert set(quality) == {"bandai", "cmu", "hdm05"}
    for source, q in quality.items():
        assert q["bone_cosine_mean"] >= 0.98, source
        assert q["bone_cosine_with_branching_mean"] >= 0.9, source
        assert abs(q["floor_height_m_median"]) < 0.03, source


def test_mirrored_copies_only_in_train(small_build: dict) -> None:
    train = MotionDataset(root=small_build["path"], split="train")
    plain = MotionDataset(root=small_build["path"], split="train", mirrored=False)
    assert len(train) == 2 * len(plain) == 12
    assert len(MotionDataset(root=small_build["path"], split="val")) == 6
    motion, _ = train[0]
    mirror, mirror_captions = train[1]
    assert mirror.meta["mirrored"] and mirror.meta["clip_id"] == motion.meta["clip_id"] + "#mirror"
    assert np.allclose(mirror.root_translation[:, 0], -motion.root_translation[:, 0], atol=1e-5)


def test_second_build_is_up_to_date(small_build: dict, data_dir: Path, cache_dir: Path, capsys) -> None:
    stamp = (Path(small_build["path"]) / "train.npz").stat().st_mtime_ns
    again = build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)
    assert "up to date" in capsys.readouterr().err
    assert again["rebuilt"] is False and again["total"] == small_build["total"]
    assert (Path(small_build["path"]) / "train.npz").stat().st_mtime_ns == stamp


def test_changed_fingerprint_triggers_rebuild(data_dir: Path, cache_dir: Path, tmp_path: Path, capsys) -> None:
    source = tmp_path / "archives"
    source.mkdir()
    for name in ARCHIVES.values():
        (source / name).symlink_to(data_dir / name)
    text = source / ARCHIVES["text"]
    text.unlink()
    shutil.copy2(data_dir / ARCHIVES["text"], text)
    options = dict(include=["cmu"], limit_per_source=1, workers=1, progress=False)
    first = build_dataset(source, cache_dir, **options)
    assert first["total"]["clips"] == 3 and first["by_source"]["bandai"]["clips"] == 0
    assert build_dataset(source, cache_dir, **options)["rebuilt"] is False
    capsys.readouterr()
    later = text.stat().st_mtime + 60
    os.utime(text, (later, later))
    rebuilt = build_dataset(source, cache_dir, **options)
    assert rebuilt["rebuilt"] is True and "up to date" not in capsys.readouterr().err
    manifest = json.loads((Path(rebuilt["path"]) / "manifest.json").read_text())
    stamp = next(a for a in manifest["fingerprint"]["archives"] if a["archive"] == ARCHIVES["text"])
    assert stamp["mtime_ns"] == text.stat().st_mtime_ns


def test_compact_file_round_trips(small_build: dict, data_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "train.xz"
    stats = build_dataset(data_dir, cache_dir, limit_per_source=2, compact=path, progress=False)
    assert stats["rebuilt"] is False and stats["compact"]["bytes"] == path.stat().st_size < 50_000_000
    again = build_dataset(data_dir, cache_dir, limit_per_source=2, compact=path, progress=False)
    assert again["compact"]["reused"] is True and not stats["compact"]["reused"]
    compact = MotionDataset.from_compact(path, mirrored=False)
    stored = MotionDataset(root=small_build["path"], split="train", mirrored=False)
    assert compact.clip_ids == stored.clip_ids and len(compact) == 6
    for index in range(len(stored)):
        (a, captions_a), (b, captions_b) = compact[index], stored[index]
        assert captions_a == captions_b
        assert np.abs(a.local_rotations - b.local_rotations).max() < 2e-3  # float16 quaternions
        assert np.array_equal(a.root_translation, b.root_translation)
    # mirrored copies re-derived at load time match the ones the builder stored
    derived = MotionDataset.from_compact(path)
    built = MotionDataset(root=small_build["path"], split="train")
    assert len(derived) == len(built) == 12
    stored_mirrors = {built[i][0].meta["clip_id"]: built[i] for i in range(len(built)) if built[i][0].meta["mirrored"]}
    for index in range(6, 12):
        motion, captions = derived[index]
        twin, twin_captions = stored_mirrors[motion.meta["clip_id"]]
        assert captions == twin_captions
        assert np.abs(motion.local_rotations - twin.local_rotations).max() < 2e-3


def test_nothing_half_written_and_user_errors(small_build: dict, data_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "too-small.xz"
    with pytest.raises(MotiongenError, match="over the"):
        write_compact(small_build["path"], target, limit_bytes=1000)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UnknownNameError, match="allowed: bandai, cmu, hdm05"):
        build_dataset(data_dir, cache_dir, include=["lafan"])
    with pytest.raises(InputError, match="limit_per_source"):
        build_dataset(data_dir, cache_dir, limit_per_source=0)
    with pytest.raises(InputError, match="allowed: train, val, test"):
        MotionDataset(root=small_build["path"], split="dev")
    with pytest.raises(DataNotFoundError, match="motiongen data build"):
        MotionDataset(root=tmp_path / "nothing")
    (tmp_path / "bad.xz").write_bytes(b"not xz at all")
    with pytest.raises(InputError, match="compact"):
        MotionDataset.from_compact(tmp_path / "bad.xz")
