"""KIMODO training: config validation, feature cache, window sampler, training loop, resume, DDP, export.

The data tests train a tiny model (configs/kimodo_tiny.yaml) on the small dataset build that the data
tests also use (``limit_per_source=2``: 6 training clips + their mirrored copies).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.data.build import build_dataset
from motiongen.data.dataset import MotionDataset
from motiongen.errors import InputError
from motiongen.motion.kimodo_features import (
    FeatureStats,
    KimodoFeatures,
    rotate_features_yaw,
)
from motiongen.pipelines.bundle import KIMODOBundle
from motiongen.train.config import KimodoTrainConfig, load_train_config
from motiongen.train.features import (
    WindowSampler,
    build_feature_cache,
    feature_cache_dir,
)
from motiongen.train.kimodo import (
    conditioned_batches,
    evaluate_loss,
    export_bundle,
    learning_rate,
    load_checkpoint,
    main,
    read_metrics,
    train_kimodo,
    weights_digest,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "kimodo_tiny.yaml"
SMPLX = ROOT / "configs" / "kimodo_smplx.yaml"


# ==================================================================================================
# config (no data needed)
# ==================================================================================================
def test_shipped_configs_load_and_the_default_model_fits_10_mb() -> None:
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser

    tiny = load_train_config(TINY)
    assert tiny.model["width"] == 32 and tiny.total_steps > 0
    cfg = load_train_config(SMPLX)
    den = cfg.denoiser_config(feature_dim=273, num_joints=22, text_dim=384)
    assert den.max_frames >= 300 and cfg.max_frames <= den.max_frames
    params = sum(p.numel() for p in TwoStageDenoiser(den).parameters())
    assert params * 2 < 10_000_000  # fp16 safetensors under 10 MB


def test_broken_configs_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text() + "\nlearning_rate: 0.1\n")
    with pytest.raises(InputError, match="learning_rate") as err:
        load_train_config(bad)
    assert err.value.field == "learning_rate" and err.value.path == str(bad)
    with pytest.raises(InputError, match=r"'lr'.*\(0, inf\)"):
        load_train_config(TINY, ["lr=-0.001"])
    with pytest.raises(InputError, match="model.wdth"):
        load_train_config(TINY, ["model.wdth=64"])
    with pytest.raises(InputError, match="model.feature_dim"):
        load_train_config(TINY, {"model.feature_dim": 273})
    with pytest.raises(InputError, match="model.width"):
        load_train_config(TINY, ["model.width=33"])  # not a multiple of the 2 heads
    with pytest.raises(InputError, match="min_frames"):
        load_train_config(TINY, ["min_frames=64"])
    with pytest.raises(InputError, match="text_dropout"):
        load_train_config(TINY, ["text_dropout=1.5"])
    with pytest.raises(InputError, match="max_frames"):
        load_train_config(TINY, ["max_frames=400"])  # beyond model.max_frames
    with pytest.raises(InputError, match="amp"):
        load_train_config(TINY, ["amp=fp8"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [1, 2\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_train_config(broken)
    # the same through the training entry points: nothing starts, exit status 2 on the command line
    with pytest.raises(InputError, match="'lr'"):
        train_kimodo(TINY, overrides=["lr=-1", f"output_dir={tmp_path / 'never'}"])
    assert main(["--config", str(bad)]) == 2
    assert not (tmp_path / "never").exists()


def test_json_config_equals_yaml(tmp_path: Path) -> None:
    cfg = load_train_config(TINY)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert load_train_config(path) == cfg
    assert KimodoTrainConfig.from_dict(cfg.to_dict()) == cfg


def test_learning_rate_warmup_cosine_and_extension() -> None:
    cfg = KimodoTrainConfig(lr=1e-3, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    lrs = [learning_rate(s, cfg) for s in range(120)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # non-increasing after warm-up
    assert lrs[110] == pytest.approx(1e-4) and lrs[119] == pytest.approx(1e-4)
    assert lrs[60] == pytest.approx(1e-4 + 0.9e-3 * 0.5)  # half way down the cosine
    longer = cfg.replace(total_steps=210)
    # extending total_steps on resume: the same warm-up, a slower cosine afterwards
    assert learning_rate(5, longer) == lrs[5] and learning_rate(100, longer) > lrs[100]


# ==================================================================================================
# data fixtures
# ==================================================================================================
@pytest.fixture(scope="module")
def tiny_dataset(data_dir: Path, cache_dir: Path) -> Path:
    # the same build as tests/test_data_build.py, so a full test session builds it once
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)["path"])


@pytest.fixture(scope="module")
def features_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("features")


@pytest.fixture(scope="module")
def feature_cache(tiny_dataset: Path, features_dir: Path):
    return build_feature_cache(dataset=tiny_dataset, features_dir=features_dir, workers=2, progress=False)


@pytest.fixture(scope="module")
def tiny_config(tiny_dataset: Path, features_dir: Path, cache_dir: Path, feature_cache) -> KimodoTrainConfig:
    return load_train_config(
        TINY,
        {"dataset": str(tiny_dataset), "features_dir": str(features_dir), "text_cache": str(cache_dir / "text")},
    )


# ==================================================================================================
# feature cache and windows
# ==================================================================================================
def test_feature_cache_holds_each_clips_features_and_captions(feature_cache, tiny_dataset: Path) -> None:
    from motiongen.text.base import sanitize_text

    for split in ("train", "val", "test"):
        ds = MotionDataset(root=tiny_dataset, split=split)
        part = feature_cache.splits[split]
        assert part.num_clips == len(ds) and part.features.dtype == np.float32
        assert part.num_frames == sum(int(ds.lengths[c]) for c in range(len(ds)))
        assert part.clip_ids == ds.clip_ids
    ds = MotionDataset(root=tiny_dataset, split="train")
    layout = KimodoFeatures(ds.skeleton)
    part = feature_cache.splits["train"]
    assert part.mirrored.sum() == len(ds) // 2  # every training clip has its mirrored copy
    for c in (0, int(np.argmax(part.mirrored)), len(ds) - 1):
        motion, captions = ds[c]
        np.testing.assert_allclose(part.clip(c), layout.encode(motion), atol=1e-5)
        assert [feature_cache.captions[k] for k in part.captions_of(c)] == [sanitize_text(t) for t in captions]


def test_feature_cache_is_reused_until_the_dataset_changes(feature_cache, tiny_dataset: Path, features_dir: Path,
                                                          tmp_path: Path) -> None:
    manifest = feature_cache.root / "manifest.json"
    before = manifest.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = build_feature_cache(dataset=tiny_dataset, features_dir=features_dir, workers=2, progress=False)
    assert again.root == feature_cache.root and manifest.stat().st_mtime_ns == before
    assert time.perf_counter() - t0 < 2.0
    # a rebuilt dataset (new build time in its manifest) gets a new cache folder
    copy = tmp_path / tiny_dataset.name
    shutil.copytree(tiny_dataset, copy)
    data = json.loads((copy / "manifest.json").read_text())
    data["built"] = "2000-01-01T00:00:00+00:00"
    (copy / "manifest.json").write_text(json.dumps(data))
    assert feature_cache_dir("folder", copy, features_dir=features_dir) != feature_cache.root
    assert feature_cache_dir("folder", tiny_dataset, features_dir=features_dir) == feature_cache.root


def test_feature_cache_from_a_compact_file(tiny_dataset: Path, data_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    compact = tmp_path / "train.mgc"
    build_dataset(data_dir, cache_dir, limit_per_source=2, compact=compact, progress=False)
    cache = build_feature_cache(compact=compact, features_dir=tmp_path / "features", workers=1, progress=False)
    assert set(cache.splits) == {"train"}  # a compact file holds the training split only
    ds = MotionDataset.from_compact(compact)
    part = cache.splits["train"]
    assert part.num_clips == len(ds) and part.mirrored.sum() == len(ds) // 2
    c = int(np.argmax(part.mirrored))  # a mirrored copy derived at load time
    np.testing.assert_allclose(part.clip(c), KimodoFeatures(ds.skeleton).encode(ds[c][0]), atol=1e-5)


def test_window_stats_are_of_origin_centred_turned_windows(feature_cache) -> None:
    stats = feature_cache.stats(32)
    assert (feature_cache.root / "stats" / "w32.npz").is_file()
    assert FeatureStats.load(feature_cache.root / "stats" / "w32.npz").global_root_mean.tolist() == stats.global_root_mean.tolist()
    world = FeatureStats.compute(feature_cache.splits["train"].clip(c) for c in range(feature_cache.splits["train"].num_clips))
    # windows start at the origin: the smooth-root xz spread is that of 32 frames, not of the stage
    assert np.all(stats.global_root_std[[0, 2]] < world.global_root_std[[0, 2]])
    assert stats.num_frames == world.num_frames
    # the random yaw spreads the heading over the circle
    assert np.all(np.abs(stats.global_root_mean[3:5]) < 0.5)


def test_window_sampler_crops_centres_turns_and_normalises(feature_cache) -> None:
    stats = feature_cache.stats(32)
    split = feature_cache.splits["train"]
    table = np.random.default_rng(0).normal(size=(len(feature_cache.captions), 8)).astype(np.float32)
    sampler = WindowSampler(split, stats, table, min_frames=16, max_frames=32, rng=np.random.default_rng(3))
    seen_lengths = set()
    for _ in range(6):
        batch = sampler.sample(5)
        b, t, d = batch.x0.shape
        assert (b, d) == (5, feature_cache.dim) and 1 <= t <= 32 and t == batch.lengths.max()
        seen_lengths.add(t)
        assert torch.equal(batch.pad_mask, torch.arange(t)[None] < torch.from_numpy(batch.lengths)[:, None])
        assert float(batch.x0[~batch.pad_mask].abs().sum()) == 0.0
        raw = stats.unnormalize(batch.x0.double())
        for i in range(b):
            n, c, s = int(batch.lengths[i]), int(batch.clips[i]), int(batch.starts[i])
            assert 1 <= n <= int(split.lengths[c]) and s + n <= int(split.lengths[c])
            expected = np.array(split.clip(c)[s : s + n], dtype=np.float64)
            expected[:, [0, 2]] -= expected[0, [0, 2]]
            expected = rotate_features_yaw(expected, batch.angles[i])
            np.testing.assert_allclose(raw[i, :n].numpy(), expected, atol=1e-4)
            assert raw[i, 0, [0, 2]].abs().max() < 1e-4  # starts at the origin
            heading = math.atan2(float(raw[i, 0, 4]), float(raw[i, 0, 3]))
            assert float(batch.first_heading[i]) == pytest.approx(heading, abs=1e-5)
            assert batch.captions[i] in split.captions_of(c)
            np.testing.assert_array_equal(batch.text[i, 0].numpy(), table[batch.captions[i]])
    assert len(seen_lengths) > 1  # the length varies between batches
    turned = np.concatenate([sampler.sample(8).angles for _ in range(4)])
    assert turned.std() > 1.0  # yaw augmentation covers the circle


# ==================================================================================================
# training
# ==================================================================================================
def _run(config: KimodoTrainConfig, out: Path, **changes) -> Path:
    return train_kimodo(config.replace(output_dir=str(out), **changes))


def test_tiny_model_overfits_the_tiny_subset(tiny_config: KimodoTrainConfig, tmp_path: Path) -> None:
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser
    from motiongen.models.kimodo.diffusion import CosineSchedule

    torch.set_num_threads(1)
    cfg = tiny_config.replace(
        output_dir=str(tmp_path / "overfit"), total_steps=40, warmup_steps=3, lr=3e-3, min_lr_ratio=0.3, batch_size=8,
        min_frames=24, max_frames=24, text_dropout=0.0, constraint_probability=0.0, checkpoint_every=100,
        val_every=100, log_every=1, model={**tiny_config.model, "width": 64, "ff": 128},
    )
    t0 = time.perf_counter()
    path = train_kimodo(cfg)
    seconds = time.perf_counter() - t0
    losses = [r["loss"] for r in read_metrics(cfg.output_dir) if "loss" in r]
    assert len(losses) == 40
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:5]), losses
    # the same fixed training windows, timesteps and noise: the trained model beats its init
    state = load_checkpoint(path)
    from motiongen.models.kimodo.config import KimodoDenoiserConfig
    from motiongen.train.kimodo import stats_from_dict

    den_cfg, stats = KimodoDenoiserConfig.from_dict(state["denoiser_config"]), stats_from_dict(state["stats"])
    torch.manual_seed(cfg.seed)
    init = TwoStageDenoiser(den_cfg, stats)  # the trainer's initial weights (same seed)
    trained = TwoStageDenoiser(den_cfg, stats)
    trained.load_state_dict(state["model"])
    cache = build_feature_cache(dataset=cfg.dataset, features_dir=cfg.features_dir, progress=False)
    sampler = WindowSampler(cache.splits["train"], stats, None, min_frames=24, max_frames=24,
                            rng=np.random.default_rng(5), text_dim=den_cfg.text_dim)
    batches = conditioned_batches(sampler, 4, 8, CosineSchedule(), cache.layout, cfg, seed=11)
    before, after = evaluate_loss(init, batches), evaluate_loss(trained, batches)
    assert after < 0.8 * before, (before, after)
    print(f"tiny overfit: {seconds:.1f} s for 40 steps; loss {np.mean(losses[:5]):.3f} -> {np.mean(losses[-10:]):.3f}; "
          f"fixed-batch loss {before:.3f} -> {after:.3f}")


@pytest.fixture(scope="module")
def straight_run(tiny_config: KimodoTrainConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 steps at a constant LR in one go (the reference for the resume test)."""
    out = tmp_path_factory.mktemp("straight")
    return _run(tiny_config, out, total_steps=6, warmup_steps=0, min_lr_ratio=1.0, checkpoint_every=3, val_every=3,
                log_every=1)


def test_resume_continues_from_the_saved_step(tiny_config: KimodoTrainConfig, straight_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    common = dict(warmup_steps=0, min_lr_ratio=1.0, checkpoint_every=3, val_every=3, log_every=1)
    first = _run(tiny_config, out, total_steps=3, **common)
    assert load_checkpoint(first)["step"] == 3
    # resume with total_steps raised on the command line
    final = train_kimodo(tiny_config.replace(output_dir=str(out), **common), overrides=["total_steps=6"])
    a, b = load_checkpoint(straight_run), load_checkpoint(final)
    assert b["step"] == 6 and b["config"]["total_steps"] == 6
    # optimizer state restored: AdamW counted all 6 steps, and everything matches the uninterrupted run
    assert all(int(s["step"]) == 6 for s in b["optimizer"]["state"].values())
    assert weights_digest(a["model"]) == weights_digest(b["model"])
    assert weights_digest(a["ema"]) == weights_digest(b["ema"])
    for k, v in a["optimizer"]["state"].items():
        assert torch.equal(v["exp_avg_sq"], b["optimizer"]["state"][k]["exp_avg_sq"])
    # the log continues: each step once, the same losses as the uninterrupted run
    records = read_metrics(out)
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    straight = [r["loss"] for r in read_metrics(straight_run.parents[1]) if "loss" in r]
    assert [r["loss"] for r in records if "loss" in r] == pytest.approx(straight, rel=1e-6)
    starts = [r for r in records if r.get("event") == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"].endswith("step-00000003.pt")
    # a different architecture cannot resume from these weights
    with pytest.raises(InputError, match="model.width"):
        train_kimodo(tiny_config.replace(output_dir=str(out), total_steps=9, model={**tiny_config.model, "width": 16}))


def test_bf16_and_fp16_autocast_train_on_cpu(tiny_config: KimodoTrainConfig, tmp_path: Path) -> None:
    """Mixed precision: bf16 and fp16 (with the gradient scaler) autocast run on CPU, the code path a
    GPU run takes, geometric losses included; fp16's scaler state is checkpointed and resumed."""
    common = {"total_steps": 4, "warmup_steps": 0, "min_lr_ratio": 1.0, "checkpoint_every": 4, "val_every": 4,
              "log_every": 1, "position_loss_weight": 0.5, "velocity_loss_weight": 0.01, "foot_contact_loss_weight": 1.0}
    runs = {amp: _run(tiny_config, tmp_path / amp, amp=amp, **common) for amp in ("none", "bf16")}
    # fp16 starts at a loss scale of 2**16, at which a fresh model's scaled gradients overflow: the
    # scaler skips those steps and halves the scale until they fit, so this run takes more steps
    runs["fp16"] = _run(tiny_config, tmp_path / "fp16", amp="fp16", **{**common, "total_steps": 16, "checkpoint_every": 16})
    logs = {amp: read_metrics(path.parents[1]) for amp, path in runs.items()}
    starts = {amp: next(r for r in rows if r.get("event") == "start") for amp, rows in logs.items()}
    assert [starts[a]["amp"] for a in ("none", "bf16", "fp16")] == ["none", "bf16", "fp16"]
    losses = {amp: np.array([[r[k] for k in ("loss", "loss_position", "loss_foot_contact")] for r in rows if "loss" in r])
              for amp, rows in logs.items()}
    for amp in ("bf16", "fp16"):
        assert losses[amp].shape == (4 if amp == "bf16" else 16, 3) and np.isfinite(losses[amp]).all()
        # the first step starts from identical weights: half precision only rounds, so the losses agree
        # to its precision, and they are not bit-equal (the autocast really ran)
        assert losses[amp][0] == pytest.approx(losses["none"][0], rel=0.05)
        assert not np.array_equal(losses[amp], losses["none"])
        assert torch.isfinite(torch.cat([v.flatten().float() for v in load_checkpoint(runs[amp])["ema"].values()])).all()
    assert load_checkpoint(runs["none"])["scaler"] is None and load_checkpoint(runs["bf16"])["scaler"] is None
    skipped = [r["skipped_steps"] for r in logs["fp16"] if "loss" in r]
    scaler = load_checkpoint(runs["fp16"])["scaler"]
    # every skipped step halved the scale (it grows back only after 2000 clean steps), and steps went through
    assert scaler["scale"] == 2.0 ** (16 - sum(skipped)) and 0 < sum(skipped) < 16
    assert scaler["_growth_tracker"] == 16 - (max(i for i, k in enumerate(skipped) if k) + 1)
    # resuming continues from the saved scale and count instead of restarting at 2**16
    resumed = _run(tiny_config, tmp_path / "fp16", amp="fp16", **{**common, "total_steps": 18, "checkpoint_every": 2})
    more = [r["skipped_steps"] for r in read_metrics(tmp_path / "fp16") if "loss" in r][16:]
    assert len(more) == 2 and load_checkpoint(resumed)["scaler"]["scale"] == scaler["scale"] / 2.0 ** sum(more)


def test_fp16_step_that_overflows_is_skipped_and_the_scale_drops(tiny_config: KimodoTrainConfig, feature_cache) -> None:
    """An fp16 step whose scaled gradients overflow leaves the weights and the EMA as they were and
    halves the loss scale, so the next step can go through."""
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser
    from motiongen.models.kimodo.diffusion import CosineSchedule
    from motiongen.train.kimodo import make_conditioning, train_step

    stats = feature_cache.stats(32)
    layout = feature_cache.layout
    den_cfg = tiny_config.denoiser_config(feature_dim=layout.dim, num_joints=layout.num_joints, text_dim=8)
    torch.manual_seed(0)
    model, ema = TwoStageDenoiser(den_cfg, stats), TwoStageDenoiser(den_cfg, stats)
    sampler = WindowSampler(feature_cache.splits["train"], stats, None, min_frames=24, max_frames=32,
                            rng=np.random.default_rng(4), text_dim=8)
    batch = sampler.sample(3)
    cond = make_conditioning(batch, CosineSchedule(), layout, tiny_config, np.random.default_rng(0),
                             torch.Generator().manual_seed(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**60)  # any real gradient overflows fp16 at this scale

    def amp():
        return torch.autocast("cpu", dtype=torch.float16)

    def weights(m: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten().clone() for p in m.parameters()])

    before, ema_before = weights(model), weights(ema)
    losses, grad_norm = train_step(model, ema, optimizer, batch, cond, tiny_config, 0, amp=amp, scaler=scaler)
    assert torch.isfinite(losses).all() and not math.isfinite(grad_norm)
    assert torch.equal(weights(model), before) and torch.equal(weights(ema), ema_before)
    assert scaler.get_scale() == 2.0**59
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    _, grad_norm = train_step(model, ema, optimizer, batch, cond, tiny_config, 0, amp=amp, scaler=scaler)
    assert math.isfinite(grad_norm) and not torch.equal(weights(model), before)
    assert scaler.get_scale() == 2.0**8


def test_ema_differs_from_and_follows_the_raw_weights(straight_run: Path) -> None:
    state = load_checkpoint(straight_run)
    from motiongen.models.kimodo.config import KimodoDenoiserConfig
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser

    torch.manual_seed(state["config"]["seed"])
    init = TwoStageDenoiser(KimodoDenoiserConfig.from_dict(state["denoiser_config"])).state_dict()
    raw, ema = state["model"], state["ema"]
    to_raw = sum(float((ema[k] - raw[k]).norm() ** 2) for k in raw) ** 0.5
    init_to_raw = sum(float((init[k] - raw[k]).norm() ** 2) for k in raw) ** 0.5
    assert to_raw > 0  # a separate average, not a copy
    assert to_raw < 0.5 * init_to_raw  # and it has moved most of the way from the init to the weights


def test_validation_loss_is_logged(straight_run: Path) -> None:
    records = read_metrics(straight_run.parents[1])
    val = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in val] == [3, 6]
    assert all(math.isfinite(r["val_loss"]) and math.isfinite(r["val_loss_ema"]) for r in val)
    assert val[0]["val_loss"] != val[1]["val_loss"]  # the weights changed; the batches did not
    logged = [r for r in records if "loss" in r]
    assert all(r["steps_per_s"] > 0 and r["lr"] > 0 and math.isfinite(r["grad_norm"]) for r in logged)


def test_export_bundle_loads_and_samples(straight_run: Path, tmp_path: Path) -> None:
    from motiongen.models.kimodo.sampler import ddim_sample

    out = export_bundle(straight_run.parents[1], tmp_path / "bundle")
    bundle = KIMODOBundle.from_pretrained(out)
    state = load_checkpoint(straight_run)
    assert weights_digest(bundle.denoiser) == weights_digest(state["ema"])  # the EMA weights
    assert bundle.info["steps"] == 6 and bundle.skeleton.name == "smplx22"
    card = (out / "README.md").read_text()
    assert "CC BY-NC 4.0" in card and "steps: 6" in card and "wall time" in card
    cfg = state["config"]
    assert f"root dims weighted {cfg['root_loss_weight']:g}" in card
    assert "geometric terms" not in card  # the tiny config trains the plain x0 objective
    assert f"random constraints on {cfg['constraint_probability']} of the windows" in card
    text = torch.zeros(2, 1, bundle.config.text_dim)
    x0 = ddim_sample(bundle.denoiser, bundle.schedule, text=text, num_frames=20, steps=3,
                     generator=torch.Generator().manual_seed(0))
    assert x0.shape == (2, 20, bundle.features.dim) and torch.isfinite(x0).all()
    half = export_bundle(straight_run, tmp_path / "half", weights_dtype="float16", use_ema=False)
    assert (half / "denoiser" / "model.safetensors").stat().st_size < (out / "denoiser" / "model.safetensors").stat().st_size
    raw = KIMODOBundle.from_pretrained(half)
    assert raw.info["weights"] == "raw"


def test_a_new_run_starts_from_a_bundle(tiny_config: KimodoTrainConfig, straight_run: Path, tmp_path: Path) -> None:
    """A fresh machine has only the committed weights: init_from continues from them."""
    bundle_dir = export_bundle(straight_run.parents[1], tmp_path / "bundle")
    out = tmp_path / "continued"
    cfg = tiny_config.replace(output_dir=str(out), init_from=str(bundle_dir), total_steps=8)
    first_metrics_step = None
    path = train_kimodo(cfg, resume=True)
    for row in read_metrics(out):
        if row.get("event") == "start":
            first_metrics_step = row["step"]
    assert first_metrics_step == 6  # the bundle's step count
    state = load_checkpoint(path)
    assert state["step"] == 8
    # the model card's history continues the bundle's: frames seen before plus the new steps' frames
    before = KIMODOBundle.from_pretrained(bundle_dir).info["frames_seen"]
    assert before > 0 and state["frames_seen"] > before
    # with no steps left to run the weights are the bundle's
    again = train_kimodo(tiny_config.replace(output_dir=str(tmp_path / "same"), init_from=str(bundle_dir), total_steps=6))
    assert weights_digest(load_checkpoint(again)["model"]) == weights_digest(load_checkpoint(straight_run)["ema"])


def test_ddp_two_processes_agree_and_resume(tiny_config: KimodoTrainConfig, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cfg = tiny_config.replace(output_dir=str(out), total_steps=4, checkpoint_every=2, val_every=2)
    path = tmp_path / "ddp.json"
    path.write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "motiongen.train.kimodo", "--config", str(path)]
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    end = [r for r in read_metrics(out) if r.get("event") == "end"][-1]
    assert end["step"] == 4 and len(end["rank_weight_sha256"]) == 2
    assert end["rank_weight_sha256"][0] == end["rank_weight_sha256"][1]  # replicas identical
    assert end["rank_data_sha256"][0] != end["rank_data_sha256"][1]  # each rank drew its own windows
    state = load_checkpoint(out)
    assert weights_digest(state["model"]) == end["rank_weight_sha256"][0]
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    # both ranks resume from the same checkpoint and go on to step 6
    second = subprocess.run(command + ["--total-steps", "6"], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    records = read_metrics(out)
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4, 5, 6]
    end = [r for r in records if r.get("event") == "end"][-1]
    assert end["step"] == 6 and end["rank_weight_sha256"][0] == end["rank_weight_sha256"][1]
    assert [r for r in records if r.get("event") == "start"][-1]["resumed_from"].endswith("step-00000004.pt")


def test_ctrl_c_saves_a_checkpoint_and_exits_130_without_a_traceback(tiny_config: KimodoTrainConfig,
                                                                      tmp_path: Path) -> None:
    """SIGINT to ``python -m motiongen.train.kimodo``: the loop saves the step it reached, and the
    module entry reports the interrupt in one line (exit 130), as the ``motiongen`` CLI does."""
    import signal

    out = tmp_path / "interrupted"
    cfg = tiny_config.replace(output_dir=str(out), total_steps=100_000, checkpoint_every=100_000, val_every=100_000,
                              log_every=1)
    path = tmp_path / "long.json"
    path.write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "motiongen.train.kimodo", "--config", str(path)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not any("loss" in r for r in (read_metrics(out) if out.is_dir() else [])):
            time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "motiongen: interrupted" in stderr and "Traceback" not in stderr, stderr[-3000:]
    step, logged = load_checkpoint(out)["step"], max(r["step"] for r in read_metrics(out) if "loss" in r)
    assert step >= 1 and abs(step - logged) <= 1, (step, logged)  # the step it reached, not step 0


def test_root_loss_weight_weights_the_five_root_dims() -> None:
    from motiongen.train.kimodo import masked_losses

    g = torch.Generator().manual_seed(0)
    pred, x0 = torch.randn(2, 7, 20, generator=g), torch.randn(2, 7, 20, generator=g)
    pad = torch.ones(2, 7, dtype=torch.bool)
    pad[1, 5:] = False
    plain, root, body = masked_losses(pred, x0, pad)
    err = ((pred - x0) ** 2)[pad]  # [valid frames, D]
    assert torch.allclose(plain, err.mean()) and torch.allclose(root, err[:, :5].mean()) and torch.allclose(body, err[:, 5:].mean())
    weighted, root_w, body_w = masked_losses(pred, x0, pad, root_weight=10.0)
    assert torch.allclose(root_w, root) and torch.allclose(body_w, body)  # the parts are reported unweighted
    expected = (10.0 * err[:, :5].sum() + err[:, 5:].sum()) / (err.shape[0] * (10.0 * 5 + 15))
    assert torch.allclose(weighted, expected) and not torch.allclose(weighted, plain)


def test_resume_check_fills_fields_older_checkpoints_lack() -> None:
    """A checkpoint saved before a denoiser config field existed was trained with its default; resuming it
    under the current config is allowed, a real size change is not."""
    from motiongen.models.kimodo.config import KimodoDenoiserConfig
    from motiongen.train.kimodo import _check_same_architecture

    current = KimodoDenoiserConfig(feature_dim=9 + 12 * 22, num_joints=22, text_dim=8, width=32, layers=1, heads=2, ff=64).to_dict()
    older = {k: v for k, v in current.items() if k not in ("norm_first", "activation", "use_text_mask")}
    _check_same_architecture(older, current, "old.pt")
    with pytest.raises(InputError, match="width"):
        _check_same_architecture({**older, "width": 64}, current, "old.pt")


# ==================================================================================================
# geometric losses (position, velocity, foot contact)
# ==================================================================================================
def test_geometric_losses_measure_the_decoded_joints(feature_cache) -> None:
    from motiongen.train.kimodo import geometric_losses

    stats = feature_cache.stats(48)
    layout = feature_cache.layout
    sampler = WindowSampler(feature_cache.splits["train"], stats, None, min_frames=40, max_frames=48,
                            rng=np.random.default_rng(2), text_dim=8)
    batch = sampler.sample(4)
    x0, pad = batch.x0.double(), batch.pad_mask
    real = layout.decode(x0, stats)
    valid, pair = pad.double(), (pad[:, 1:] & pad[:, :-1]).double()
    contact = real["foot_contacts"][:, :-1].double() * pair[..., None]
    assert contact.sum() > 0  # real clips stand on their feet
    real_vel = (real["posed_joints"][:, 1:] - real["posed_joints"][:, :-1]) * layout.fps
    feet = layout.skeleton.foot_joint_indices

    exact = geometric_losses(x0, x0, pad, layout, stats)
    assert float(exact[0]) < 1e-10 and float(exact[1]) < 1e-8
    # a planted foot of a real clip moves slower than the contact heuristic's 0.15 m/s (FK reproduces the
    # positions the labels came from, up to float error)
    planted = float((((real_vel[:, :, feet] ** 2).sum(-1) * contact).sum() / contact.sum()))
    assert float(exact[2]) == pytest.approx(planted, rel=1e-4) and planted < 0.15**2 * 1.1

    # the same motion drifting along +x at 1 m/s: every joint is off by t / fps metres and 1 m/s
    raw = stats.unnormalize(x0)
    drift = torch.arange(x0.shape[1], dtype=torch.float64) / layout.fps
    moved = raw.clone()
    moved[..., 0] += drift
    geo = geometric_losses(stats.normalize(moved), x0, pad, layout, stats)
    expected_pos = float(((drift**2)[None] * valid).sum() / valid.sum())
    shifted = real_vel[:, :, feet] + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    expected_foot = float((((shifted**2).sum(-1)) * contact).sum() / contact.sum())
    assert float(geo[0]) == pytest.approx(expected_pos, rel=1e-4)
    assert float(geo[1]) == pytest.approx(1.0, rel=1e-4)
    assert float(geo[2]) == pytest.approx(expected_foot, rel=1e-4) and float(geo[2]) > 0.8
    # the gradient reaches the prediction (training uses it)
    pred = stats.normalize(moved).float().requires_grad_(True)
    geometric_losses(pred, x0.float(), pad, layout, stats).sum().backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0


def test_train_step_adds_the_weighted_geometric_losses(tiny_config: KimodoTrainConfig, feature_cache) -> None:
    from motiongen.models.kimodo.denoiser import TwoStageDenoiser
    from motiongen.models.kimodo.diffusion import CosineSchedule
    from motiongen.train.kimodo import geometric_losses, make_conditioning, masked_losses, train_step

    stats = feature_cache.stats(32)
    layout = feature_cache.layout
    cfg = tiny_config.replace(position_loss_weight=0.5, velocity_loss_weight=0.01, foot_contact_loss_weight=0.1,
                              root_loss_weight=3.0)
    den_cfg = cfg.denoiser_config(feature_dim=layout.dim, num_joints=layout.num_joints, text_dim=8)
    torch.manual_seed(0)
    model = TwoStageDenoiser(den_cfg, stats)
    sampler = WindowSampler(feature_cache.splits["train"], stats, None, min_frames=24, max_frames=32,
                            rng=np.random.default_rng(4), text_dim=8)
    batch = sampler.sample(3)
    cond = make_conditioning(batch, CosineSchedule(), layout, cfg, np.random.default_rng(0), torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model(cond.x_t, cond.t, cond.text, cond.observed, cond.mask, batch.first_heading, batch.pad_mask)
    x0_loss = masked_losses(pred, batch.x0, batch.pad_mask, 3.0)[0]
    geo = geometric_losses(pred, batch.x0, batch.pad_mask, layout, stats)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = TwoStageDenoiser(den_cfg, stats)
    with pytest.raises(ValueError, match="geometry"):
        train_step(model, ema, optimizer, batch, cond, cfg, 0)
    losses, _ = train_step(model, ema, optimizer, batch, cond, cfg, 0, geometry=(layout, stats))
    assert torch.allclose(losses[3:], geo, rtol=1e-4)
    assert float(losses[0]) == pytest.approx(float(x0_loss + 0.5 * geo[0] + 0.01 * geo[1] + 0.1 * geo[2]), rel=1e-4)
    from motiongen.train.kimodo import _geometric_terms_text

    assert _geometric_terms_text(cfg.to_dict()) == (
        ", plus geometric terms on the decoded joints (joint positions 0.5, joint velocities 0.01, foot-contact speed 0.1)")
    # weights 0 (the default): the plain x0 loss, the geometric entries 0
    plain, _ = train_step(model, ema, optimizer, batch, cond, tiny_config, 1)
    assert float(plain[3:].abs().sum()) == 0.0


def test_a_run_with_geometric_losses_logs_them(tiny_config: KimodoTrainConfig, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = tiny_config.replace(output_dir=str(tmp_path / "geo"), total_steps=2, log_every=1, val_every=2, val_batches=1,
                              checkpoint_every=10, position_loss_weight=0.5, velocity_loss_weight=0.01,
                              foot_contact_loss_weight=0.1)
    path = train_kimodo(cfg)
    records = read_metrics(cfg.output_dir)
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [1, 2]
    for r in train:
        parts = r["loss_position"], r["loss_velocity"], r["loss_foot_contact"]
        assert all(math.isfinite(v) and v >= 0 for v in parts) and r["loss_velocity"] > 0
    val = [r for r in records if "val_loss" in r][-1]
    assert all(math.isfinite(val[f"val_{k}_ema"]) for k in ("position", "velocity", "foot_contact"))
    state = load_checkpoint(path)
    assert state["config"]["foot_contact_loss_weight"] == 0.1
