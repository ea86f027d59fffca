"""The style classifier: windows and padding, accuracy figures, save/load and version, input errors,
the trainer (export, resume, CLI), and the shipped weights on real test-split Bandai clips."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.cli import main as cli_main
from motiongen.data.build import build_dataset
from motiongen.data.dataset import MotionDataset, dataset_dir, read_clip_records
from motiongen.errors import InputError, UnknownNameError
from motiongen.evaluation.style import (
    accuracy_report,
    labelled_items,
    style_label_sets,
    style_test_accuracy,
)
from motiongen.models.style import StyleClassifier
from motiongen.models.style.classifier import (
    hold_last_pose,
    style_features,
    window_starts,
)
from motiongen.train.kimodo import latest_checkpoint, read_metrics
from motiongen.train.style import (
    StyleTrainConfig,
    export_style_classifier,
    load_style_config,
    train_style_classifier,
    velocity_dims,
)

pytestmark = pytest.mark.data

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "style_classifier_smplx.yaml"
#: a classifier small enough to train in a second: windows of 32 frames, width 16
TINY = {"model": {"width": 16, "layers": 2, "kernel": 3, "window": 32, "dropout": 0.0}, "batch_size": 16,
        "total_steps": 6, "warmup_steps": 2, "val_every": 3, "checkpoint_every": 3, "log_every": 2,
        "threads": 1, "progress": False, "time_stretch": 0.1}


@pytest.fixture(scope="module")
def small_dataset(data_dir: Path, cache_dir: Path) -> Path:
    # the build tests/test_eval.py uses, so a full test session builds it once; its Bandai part holds
    # clips of both Bandai datasets in train and val
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=16, workers=2, progress=False)["path"])


@pytest.fixture(scope="module")
def trained(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run_dir = tmp_path_factory.mktemp("style_run")
    cfg = StyleTrainConfig.from_dict({**TINY, "output_dir": str(run_dir), "dataset": str(small_dataset)})
    logs: list[str] = []
    checkpoint = train_style_classifier(cfg, resume=False, log=logs.append)
    folder = export_style_classifier(checkpoint, run_dir / "export", log=logs.append)
    return {"run_dir": run_dir, "checkpoint": checkpoint, "folder": folder, "cfg": cfg, "logs": logs}


@pytest.fixture(scope="module")
def test_clips(small_dataset: Path) -> list[np.ndarray]:
    ds = MotionDataset(root=small_dataset, split="test", mirrored=False)
    return [ds[i][0].joint_positions() for i, head, _ in labelled_items(ds) if head == "bandai-7"]


# ==================================================================================================
# windows, padding and figures (known answers)
# ==================================================================================================
def test_windows_cover_the_clip_to_its_last_frame() -> None:
    assert window_starts(64, 64) == [0]
    assert window_starts(80, 64) == [0, 16]
    assert window_starts(100, 64) == [0, 16, 32, 36]  # the last window ends on frame 99
    assert window_starts(10, 4) == [0, 1, 2, 3, 4, 5, 6]


def test_short_motions_hold_their_last_pose() -> None:
    positions = np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3)
    held = hold_last_pose(positions, 5)
    assert held.shape == (5, 3, 3)
    np.testing.assert_array_equal(held[:2], positions)
    np.testing.assert_array_equal(held[2:], np.repeat(positions[1:], 3, axis=0))
    assert hold_last_pose(positions, 2) is positions


def test_velocity_dims_are_the_rates_of_the_evaluator_features() -> None:
    mask = velocity_dims(133)  # smplx22: height 1, root velocity 2, turn rate 1, positions 63, velocities 66
    assert mask.sum() == 3 + 66
    assert not mask[0] and mask[1:4].all() and not mask[4:67].any() and mask[67:].all()


def test_accuracy_report_known_answer() -> None:
    report = accuracy_report([0, 0, 1, 2], [0, 1, 1, 0], ["a", "b", "c"])
    assert report["clips"] == 4 and report["accuracy"] == 0.5
    assert report["chance"] == pytest.approx(1 / 3)
    assert report["per_style"] == {"a": {"clips": 2, "correct": 1, "accuracy": 0.5},
                                   "b": {"clips": 1, "correct": 1, "accuracy": 1.0},
                                   "c": {"clips": 1, "correct": 0, "accuracy": 0.0}}
    assert report["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    empty = accuracy_report([], [], ["a", "b"])
    assert empty["accuracy"] is None and empty["per_style"]["a"]["accuracy"] is None


# ==================================================================================================
# the trainer and its export
# ==================================================================================================
def test_label_sets_are_the_training_split_styles(trained: dict, small_dataset: Path) -> None:
    classifier = StyleClassifier.from_pretrained(trained["folder"])
    train_records = [r for r in read_clip_records(small_dataset) if r["split"] == "train"]
    expected = {1: set(), 2: set()}
    for r in train_records:
        if r["source"] == "bandai":
            expected[r["labels"]["dataset"]].add(r["labels"]["style"])
    assert classifier.label_sets == {"bandai-7": sorted(expected[2]), "bandai-15": sorted(expected[1])}
    assert classifier.label_sets == style_label_sets(train_records)
    assert len(classifier.label_sets["bandai-15"]) >= 2  # both Bandai datasets are in this build


def test_trainer_exports_the_best_validation_weights(trained: dict) -> None:
    folder = trained["folder"]
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "skeleton.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "motiongen.style_classifier/1" and config["skeleton_name"] == "smplx22"
    assert config["fps"] == 30.0 and config["weights_dtype"] == "float16"
    assert config["model"]["label_sets"]["bandai-7"] == StyleClassifier.from_pretrained(folder).label_sets["bandai-7"]
    info = config["info"]
    val_records = [r for r in read_metrics(trained["run_dir"]) if "val_mean_accuracy" in r]
    assert [r["step"] for r in val_records] == [3, 6]
    best = max(val_records, key=lambda r: (r["val_mean_accuracy"], -r["step"]))
    assert info["best_step"] == best["step"] and info["steps"] == 6
    assert info["validation"]["mean_accuracy"] == pytest.approx(best["val_mean_accuracy"])
    for head in ("bandai-7", "bandai-15"):
        assert info["validation"]["heads"][head]["clips"] > 0  # both heads have val clips here
        assert info["test"]["heads"][head]["chance"] == pytest.approx(1 / len(config["model"]["label_sets"][head]))
    card = (folder / "README.md").read_text()
    assert config["version"] in card and "| bandai-7 |" in card


def test_save_and_load_give_the_same_probabilities_and_version(trained: dict, test_clips, tmp_path: Path) -> None:
    first = StyleClassifier.from_pretrained(trained["folder"])
    assert first.version == json.loads((trained["folder"] / "config.json").read_text())["version"]
    again = StyleClassifier.from_pretrained(first.save_pretrained(tmp_path / "again"))
    assert again.version == first.version
    np.testing.assert_array_equal(again.predict_proba(test_clips[:4]), first.predict_proba(test_clips[:4]))
    # float32 weights are another file, so another version, but the same classifier
    wide = StyleClassifier.from_pretrained(first.save_pretrained(tmp_path / "wide", weights_dtype="float32"))
    assert wide.version != first.version
    np.testing.assert_allclose(wide.predict_proba(test_clips[:4]), first.predict_proba(test_clips[:4]), atol=1e-6)
    # a tampered weights file no longer matches the recorded version
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    config["model"]["dropout"] = 0.3
    (tmp_path / "again" / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="version"):
        StyleClassifier.from_pretrained(tmp_path / "again")


def test_predict_proba_is_the_mean_softmax_over_windows(trained: dict, test_clips) -> None:
    classifier = StyleClassifier.from_pretrained(trained["folder"])
    window = classifier.window
    lengths = [len(c) for c in test_clips]
    assert min(lengths) < 2 * window < max(lengths)  # several windows for some clips, one for others
    probabilities = classifier.predict_proba(test_clips)
    assert probabilities.shape == (len(test_clips), len(classifier.label_sets["bandai-7"]))
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()
    # by hand for the longest clip: normalised features, every window through the network, softmax, mean
    clip = test_clips[int(np.argmax(lengths))]
    features = (style_features(clip, classifier.skeleton, 30.0, window) - classifier.mean) / classifier.std
    windows = np.stack([features[s : s + window] for s in window_starts(len(features), window)])
    with torch.no_grad():
        logits = classifier.model(torch.from_numpy(windows.astype(np.float32)), "bandai-7")["bandai-7"]
    expected = torch.softmax(logits, -1).mean(0).numpy()
    np.testing.assert_allclose(classifier.predict_proba(clip)[0], expected, atol=1e-5)
    names = classifier.classify(test_clips)
    assert names == [classifier.label_sets["bandai-7"][k] for k in probabilities.argmax(1)]
    # one array and a batch of equal-length arrays are read like a list
    batch = np.stack([c[:40] for c in test_clips[:3]])
    np.testing.assert_allclose(classifier.predict_proba(batch), classifier.predict_proba(list(batch)), atol=1e-6)
    assert classifier.predict_proba(test_clips[0], "bandai-15").shape == (1, len(classifier.label_sets["bandai-15"]))


def test_a_short_clip_is_read_as_holding_its_last_pose(trained: dict, test_clips) -> None:
    classifier = StyleClassifier.from_pretrained(trained["folder"])
    short = test_clips[0][:12]
    assert len(short) < classifier.window
    held = np.concatenate([short, np.repeat(short[-1:], classifier.window - len(short), axis=0)])
    np.testing.assert_allclose(classifier.predict_proba(short), classifier.predict_proba(held), atol=1e-6)
    two = classifier.predict_proba(test_clips[0][:2])  # the shortest motion accepted
    assert two.shape[0] == 1 and abs(two.sum() - 1) < 1e-5


def test_bad_input_is_rejected_with_the_field(trained: dict, test_clips) -> None:
    classifier = StyleClassifier.from_pretrained(trained["folder"])
    with pytest.raises(InputError, match="unknown label set 'bandai-8'; known: bandai-7, bandai-15") as err:
        classifier.predict_proba(test_clips[0], "bandai-8")
    assert err.value.field == "label_set"
    with pytest.raises(InputError, match="unknown label set"):
        classifier.classify(test_clips[0], "cmu")
    with pytest.raises(InputError, match=r"expected \[T, 22, 3\]") as err:
        classifier.predict_proba(test_clips[0][:, :21])
    assert err.value.field == "positions"
    with pytest.raises(InputError, match="at least 2 frames") as err:
        classifier.predict_proba([test_clips[0], test_clips[1][:1]])
    assert err.value.field == "positions[1]"
    bad = test_clips[0].copy()
    bad[5, 3, 1] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        classifier.predict_proba(bad)
    with pytest.raises(InputError, match="shape"):
        classifier.predict_proba(np.zeros((2, 3, 10, 22, 3)))
    assert classifier.predict_proba([]).shape == (0, len(classifier.label_sets["bandai-7"]))


def test_resume_continues_the_step_count_through_the_cli(trained: dict, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained["run_dir"], run_dir, ignore=shutil.ignore_patterns("export"))
    config = tmp_path / "style.json"
    config.write_text(json.dumps({**trained["cfg"].to_dict(), "output_dir": str(run_dir)}))
    assert cli_main(["train", "style-classifier", "--config", str(config), "--total-steps", "9"]) == 0
    assert "resuming from" in capsys.readouterr().err
    state = torch.load(latest_checkpoint(run_dir), map_location="cpu", weights_only=False)
    assert state["step"] == 9
    steps = [r["step"] for r in read_metrics(run_dir) if "loss" in r]
    assert steps == [2, 4, 6, 8, 9]  # the first run's lines, then the new steps, none twice
    val_steps = [r["step"] for r in read_metrics(run_dir) if "val_mean_accuracy" in r]
    assert val_steps == [3, 6, 9]
    # starting over clears the old checkpoints and log
    assert cli_main(["train", "style-classifier", "--config", str(config), "--no-resume", "--total-steps", "2"]) == 0
    assert [r["step"] for r in read_metrics(run_dir) if "loss" in r] == [2]


def test_style_test_accuracy_counts_every_unmirrored_labelled_clip(trained: dict, small_dataset: Path) -> None:
    classifier = StyleClassifier.from_pretrained(trained["folder"])
    result = style_test_accuracy(classifier, root=small_dataset, split="val")
    ds = MotionDataset(root=small_dataset, split="val", mirrored=False)
    for head, styles in classifier.label_sets.items():
        labelled = [s for _, h, s in labelled_items(ds) if h == head]
        r = result["heads"][head]
        assert r["clips"] + r["unknown_style_clips"] == len(labelled)
        assert r["clips"] == sum(s in styles for s in labelled) == int(np.sum(r["confusion"]))
        assert r["accuracy"] == pytest.approx(np.trace(r["confusion"]) / r["clips"])
    assert result["classifier_version"] == classifier.version and result["split"] == "val"
    # the trainer validated the same clips (with float32 weights: a near tie may flip one clip)
    for head, figures in classifier.info["validation"]["heads"].items():
        assert figures["clips"] == result["heads"][head]["clips"]
        assert abs(figures["accuracy"] - result["heads"][head]["accuracy"]) <= 1 / figures["clips"] + 1e-9


# ==================================================================================================
# configuration and names
# ==================================================================================================
def test_config_errors_name_the_key(tmp_path: Path) -> None:
    cfg = load_style_config(CONFIG)
    assert cfg.model["window"] == 64 and cfg.threads == 1
    with pytest.raises(InputError, match="unknown key 'widht'"):
        load_style_config(CONFIG, ["widht=3"])
    with pytest.raises(InputError, match="unknown key") as err:
        load_style_config(CONFIG, ["model.label_sets=[a]"])
    assert err.value.field == "model.label_sets"
    with pytest.raises(InputError, match="odd") as err:
        load_style_config(CONFIG, ["model.kernel=4"])
    assert err.value.field == "model.kernel"
    with pytest.raises(InputError, match=r"\[0.0, 0.5\]") as err:
        load_style_config(CONFIG, ["time_stretch=0.9"])
    assert err.value.field == "time_stretch"


def test_parser_does_not_import_torch() -> None:
    code = ("import sys; from motiongen.train.arguments import build_style_parser; "
            "a = build_style_parser().parse_args(['--config', 'x.yaml', '--export', 'out']); "
            "assert a.export == 'out' and a.resume; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="motiongen/style-classifier-smplx"):
        StyleClassifier.from_pretrained("motiongen/style-classifier-nope")
    (tmp_path / "config.json").write_text(json.dumps({"format": "motiongen.evaluator/1"}))
    with pytest.raises(InputError, match="not a motiongen style classifier"):
        StyleClassifier.from_pretrained(tmp_path)


# ==================================================================================================
# the shipped classifier
# ==================================================================================================
@pytest.fixture(scope="module")
def styled_test_split(request: pytest.FixtureRequest, cache_dir: Path) -> Path:
    """The full build when the cache has it (all 259 dataset-2 test clips to draw from), else the small
    build (16 of them), made from the archives."""
    full = dataset_dir(cache_dir)
    if (full / "test.npz").is_file() and (full / "clips.jsonl").is_file():
        return full
    return request.getfixturevalue("small_dataset")


def test_shipped_classifier_names_the_style_of_real_test_clips(styled_test_split: Path) -> None:
    classifier = StyleClassifier.from_pretrained()
    assert set(classifier.label_sets) == {"bandai-7", "bandai-15"}
    assert classifier.label_sets["bandai-7"] == ["active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"]
    assert len(classifier.label_sets["bandai-15"]) == 15
    assert classifier.version == json.loads((Path(classifier.info["path"]) / "config.json").read_text())["version"]
    ds = MotionDataset(root=styled_test_split, split="test", mirrored=False)
    items = [(i, style) for i, head, style in labelled_items(ds) if head == "bandai-7"]
    picks = [items[int(k)] for k in np.unique(np.linspace(0, len(items) - 1, min(40, len(items))).round())]
    assert len(picks) >= 16
    predicted = classifier.classify([ds[i][0].joint_positions() for i, _ in picks], "bandai-7")
    accuracy = np.mean([p == style for p, (_, style) in zip(predicted, picks)])
    assert accuracy > 0.4, f"accuracy {accuracy:.2f} on {len(picks)} test clips (chance {1 / 7:.2f})"
    # shorter than a window, a real clip is still read (held last pose) and named
    assert classifier.classify(ds[picks[0][0]][0].joint_positions()[:20])[0] in classifier.label_sets["bandai-7"]


def test_benchmark_writes_the_accuracy_table(trained: dict, small_dataset: Path, tmp_path: Path, capsys) -> None:
    from benchmark_scripts import load_benchmark

    bench = load_benchmark("style_classifier")
    out = tmp_path / "style.json"
    assert bench.main(["--model", str(trained["folder"]), "--dataset", str(small_dataset), "--splits", "val", "test",
                       "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    classifier = StyleClassifier.from_pretrained(trained["folder"])
    assert result["split"] == "val" and set(result["reference_splits"]) == {"test"}
    assert result["classifier_version"] == classifier.version and result["machine"]["cpu_count"] >= 1
    assert result["heads"] == style_test_accuracy(classifier, root=small_dataset, split="val")["heads"]
    assert "bandai-7" in capsys.readouterr().out
