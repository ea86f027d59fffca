"""``benchmarks/val_loss.py`` on the tiny training run of test_train_kimodo.py: the script's figures are
the trainer's logged validation losses for the same checkpoint and config (the honesty check), also
across a mid-run change of ``constraint_probability``; bundles and statistics groups; the command line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_train_kimodo import feature_cache, features_dir, tiny_config, tiny_dataset  # noqa: F401 - fixtures

from benchmark_scripts import load_benchmark

from motiongen.train.config import KimodoTrainConfig
from motiongen.train.kimodo import DistInfo, export_bundle, list_checkpoints, prepare_data, read_metrics, train_kimodo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("val_loss")


@pytest.fixture(scope="module")
def run(tiny_config: KimodoTrainConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[KimodoTrainConfig, Path]:  # noqa: F811
    """3 steps at constraint_probability 0.5, then resumed to step 6 at 1.0 (validation at 3 and 6)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("val_loss_run")
    cfg = tiny_config.replace(output_dir=str(out), total_steps=3, val_every=3, checkpoint_every=3, keep_checkpoints=3,
                              val_batches=2, constraint_probability=0.5)
    train_kimodo(cfg)
    train_kimodo(cfg, overrides=["total_steps=6", "constraint_probability=1.0"])
    return cfg, out


@pytest.fixture(scope="module")
def data(run):
    return prepare_data(run[0], DistInfo())


def _logged(out: Path) -> dict[int, dict]:
    return {r["step"]: r for r in read_metrics(out) if "val_loss" in r}


def test_figures_equal_the_trainers_logged_validation(bench, run, data) -> None:
    cfg, out = run
    ckpts = dict(list_checkpoints(out))
    logged = _logged(out)
    assert sorted(ckpts) == [3, 6] and sorted(logged) == [3, 6]
    for step, probability in ((3, 0.5), (6, 1.0)):  # each checkpoint under the config it was validated with
        result = bench.evaluate(cfg.replace(constraint_probability=probability), [str(ckpts[step])], data=data)
        rows = {r["weights"]: r for r in result["models"]}
        assert rows["ema"]["figures"]["loss"] == pytest.approx(logged[step]["val_loss_ema"], rel=1e-6, abs=1e-9)
        assert rows["raw"]["figures"]["loss"] == pytest.approx(logged[step]["val_loss"], rel=1e-6, abs=1e-9)
        assert rows["ema"]["trainer_logged_val_loss"] == logged[step]["val_loss_ema"]
        assert result["stats_identical"] and result["set"]["windows"] == 2 * cfg.batch_size
    # the logged figure at step 6 is on the 1.0 set: on the 0.5 set the same weights score differently
    at_half = bench.evaluate(cfg, [str(ckpts[6])], data=data)["models"][0]["figures"]
    assert at_half["loss"] != pytest.approx(logged[6]["val_loss_ema"], rel=1e-6)
    # the parts add up: root + body dims, constrained + unconstrained entries
    d = data[0].layout.dim
    assert at_half["loss"] == pytest.approx((5 * at_half["root"] + (d - 5) * at_half["body"]) / d, rel=1e-5)
    full = bench.evaluate(cfg.replace(constraint_probability=1.0, constraint_dropout=0.0), [str(ckpts[6])], data=data)
    row = full["models"][0]
    f, share = row["figures"], row["constrained_entry_fraction"]
    assert 0 < share < 1 and full["set"]["constrained_windows"] > 0  # a drawn mask may still be empty
    assert f["loss"] == pytest.approx(share * f["constrained"] + (1 - share) * f["unconstrained"], rel=1e-5)
    none = bench.evaluate(cfg.replace(constraint_probability=0.0), [str(ckpts[6])], data=data)["models"][0]
    assert math.isnan(none["figures"]["constrained"]) and none["figures"]["unconstrained"] == pytest.approx(
        none["figures"]["loss"], rel=1e-6)
    # the geometric terms: geometric_losses of the EMA on each batch, weighted by the batch's frames
    from motiongen.models.kimodo.diffusion import CosineSchedule
    from motiongen.train.kimodo import geometric_losses, load_checkpoint, stats_from_dict, validation_set

    state = load_checkpoint(ckpts[6])
    stats = stats_from_dict(state["stats"])
    ema = bench.load_models(str(ckpts[6]), torch.device("cpu"))[0].denoiser
    cache, _, table = data
    sums, frames = torch.zeros(3, dtype=torch.float64), 0.0
    with torch.no_grad():
        for batch, cond in validation_set(cache, stats, table, CosineSchedule(), cfg):
            pred = ema(cond.x_t, cond.t, cond.text, cond.observed, cond.mask, batch.first_heading, batch.pad_mask)
            n = float(batch.pad_mask.sum())
            sums += geometric_losses(pred, batch.x0, batch.pad_mask, cache.layout, stats).double() * n
            frames += n
    for i, name in enumerate(("position", "velocity", "foot_contact")):
        assert at_half[name] == pytest.approx(float(sums[i]) / frames, rel=1e-5) and at_half[name] > 0


def test_bundles_share_the_set_when_their_statistics_match(bench, run, data, tmp_path: Path) -> None:
    from motiongen.pipelines.bundle import KIMODOBundle

    cfg, out = run
    bundle = export_bundle(out, tmp_path / "bundle")  # latest checkpoint's EMA, fp32
    result = bench.evaluate(cfg, [str(bundle), str(out)], data=data)  # a run folder: its latest checkpoint
    rows = result["models"]
    assert [r["weights"] for r in rows] == ["ema", "ema", "raw"] and result["stats_identical"]
    assert rows[0]["figures"] == rows[1]["figures"] and rows[0]["step"] == 6
    # other statistics: a set of their own (same draws, other normalisation), reported as such
    other = KIMODOBundle.from_pretrained(bundle)
    other.stats.body_std = other.stats.body_std * 1.5
    shifted = other.save_pretrained(tmp_path / "shifted")
    result = bench.evaluate(cfg, [str(bundle), str(shifted)], data=data)
    assert not result["stats_identical"] and [r["stats_group"] for r in result["models"]] == [0, 1]
    assert result["stats_groups"][1]["max_abs_difference_to_group_0"] > 0
    assert result["models"][0]["figures"]["loss"] != result["models"][1]["figures"]["loss"]
    assert "DIFFER" in bench.format_table(result)


def test_command_line_writes_json(bench, run, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg, out = run
    config = tmp_path / "config.json"
    config.write_text(json.dumps(cfg.to_dict()))
    ckpt = dict(list_checkpoints(out))[3]
    target = tmp_path / "val.json"
    assert bench.main(["--config", str(config), str(ckpt), "--set", "constraint_probability=0.5", "--batches", "2",
                       "--output", str(target)]) == 0
    report = json.loads(target.read_text())
    assert report["overrides"] == ["constraint_probability=0.5", "val_batches=2"]
    assert report["validation_config"]["constraint_probability"] == 0.5 and report["machine"]["torch_threads"] == 1
    ema = report["models"][0]
    assert ema["weights"] == "ema" and ema["figures"]["loss"] == pytest.approx(_logged(out)[3]["val_loss_ema"], rel=1e-6)
    assert "| loss | root | body | constrained | unconstrained |" in capsys.readouterr().out
    assert bench.main(["--config", str(config), str(tmp_path / "missing.pt"), "--output", str(target)]) == 2
