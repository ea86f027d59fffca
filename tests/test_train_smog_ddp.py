"""SMoG training under ``torchrun`` (two CPU processes, gloo): one log, one checkpoint with both ranks'
random streams, identical replicas and EMAs, per-rank windows, resume on the same and on another world size.

Uses the tiny dataset build of the other data tests (``limit_per_source=2``) and configs/smog_tiny.yaml.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from motiongen.data.build import build_dataset
from motiongen.train.kimodo import read_metrics, weights_digest
from motiongen.train.smog import (
    ClipSplit,
    load_smog_config,
    prepare_smog_data,
    random_picks,
    train_smog,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "smog_tiny.yaml"


@pytest.fixture(scope="module")
def tiny_dataset(data_dir: Path, cache_dir: Path) -> Path:
    # the same build as tests/test_train_smog.py: built once per session
    return Path(build_dataset(data_dir, cache_dir, limit_per_source=2, workers=2, progress=False)["path"])


def _torchrun(dataset: Path, run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node 2 -m motiongen.train.smog`` on the tiny config, one thread each."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "motiongen.train.smog", "--config", str(TINY), "--set", f"dataset={dataset}",
               "--set", "threads=1", "--output-dir", str(run), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)


def _replay_windows(split: ClipSplit, entropy: list[int], steps: int, batch_size: int,
                    num_frames: int) -> tuple[dict[str, Any], str]:
    """The window generator's state after ``steps`` draws from ``default_rng(entropy)``, and the digest
    of the windows drawn (as the trainer hashes them)."""
    rng = np.random.default_rng(entropy)
    eligible = split.long_enough(num_frames)
    drawn = hashlib.sha256()
    for _ in range(steps):
        drawn.update(np.asarray(random_picks(split, eligible, batch_size, num_frames, rng), dtype=np.int64).tobytes())
    return rng.bit_generator.state, drawn.hexdigest()


def test_two_processes_train_identical_replicas_and_resume(tiny_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    first = _torchrun(tiny_dataset, run)
    assert first.returncode == 0, first.stderr[-3000:]
    # rank 0 alone speaks: one summary line, with the effective batch
    assert first.stderr.count("SMoG training:") == 1 and "effective batch 8" in first.stderr
    assert first.stdout.count("checkpoint ") == 1

    records = read_metrics(run)
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]  # logged once, by rank 0
    assert [r["step"] for r in records if "val_loss" in r] == [2, 4]
    start = [r for r in records if r.get("event") == "start"]
    assert len(start) == 1 and start[0]["world_size"] == 2 and start[0]["effective_batch_size"] == 8
    end = [r for r in records if r.get("event") == "end"][-1]
    assert end["step"] == 4
    # DDP keeps the replicas identical, and the EMAs that follow them
    assert len(end["rank_weight_sha256"]) == 2 and end["rank_weight_sha256"][0] == end["rank_weight_sha256"][1]
    assert end["rank_ema_sha256"][0] == end["rank_ema_sha256"][1]
    assert end["rank_data_sha256"][0] != end["rank_data_sha256"][1]  # each rank drew its own windows

    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002.pt", "step-00000004.pt"]
    state = torch.load(run / "checkpoints" / "step-00000004.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 4 and state["world_size"] == 2 and len(state["rank_rng"]) == 2
    assert weights_digest(state["model"]) == end["rank_weight_sha256"][0]
    assert weights_digest(state["ema"]) == end["rank_ema_sha256"][0]
    assert weights_digest(state["model"]) != weights_digest(state["ema"])
    # the single-process keys hold rank 0's streams
    assert state["rng"] == state["rank_rng"][0]["rng"]
    assert torch.equal(state["torch_rng"], state["rank_rng"][0]["torch_rng"])
    # one data cache, prepared by rank 0 and read by rank 1
    assert [p.name.startswith("clips-") for p in (run / "data").iterdir()] == [True]

    # rank r's windows came from default_rng([seed, r]): replay them from the cached data
    cfg = load_smog_config(TINY, {"dataset": str(tiny_dataset), "output_dir": str(run)})
    train = prepare_smog_data(cfg, run, progress=False)[0]["train"]
    for rank in (0, 1):
        rng_state, drawn = _replay_windows(train, [cfg.seed, rank], 4, cfg.batch_size, cfg.num_frames)
        assert state["rank_rng"][rank]["rng"] == rng_state
        assert end["rank_data_sha256"][rank] == drawn

    # both ranks resume from step 4 with their own streams and go on to step 6
    second = _torchrun(tiny_dataset, run, "--total-steps", "6")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming from" in second.stderr and "step 4" in second.stderr
    records = read_metrics(run)
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if "val_loss" in r] == [2, 4, 6]
    start = [r for r in records if r.get("event") == "start"]
    assert len(start) == 2 and start[1]["step"] == 4 and start[1]["resumed_from"].endswith("step-00000004.pt")
    end = [r for r in records if r.get("event") == "end"][-1]
    assert end["step"] == 6
    assert end["rank_weight_sha256"][0] == end["rank_weight_sha256"][1]
    assert end["rank_ema_sha256"][0] == end["rank_ema_sha256"][1]
    resumed = torch.load(run / "checkpoints" / "step-00000006.pt", map_location="cpu", weights_only=False)
    assert resumed["step"] == 6 and resumed["world_size"] == 2
    assert all(int(s["step"]) == 6 for s in resumed["optimizer"]["state"].values())  # AdamW counted every step
    for rank in (0, 1):
        # the restored streams went on as if never interrupted
        rng_state, _ = _replay_windows(train, [cfg.seed, rank], 6, cfg.batch_size, cfg.num_frames)
        assert resumed["rank_rng"][rank]["rng"] == rng_state

    # one process resuming two processes' checkpoint: fresh streams from [seed, rank, step]
    messages: list[str] = []
    path = train_smog(load_smog_config(TINY, {"dataset": str(tiny_dataset), "output_dir": str(run),
                                              "total_steps": 7}), log=messages.append)
    single = torch.load(path, map_location="cpu", weights_only=False)
    assert single["step"] == 7 and single["world_size"] == 1 and len(single["rank_rng"]) == 1
    assert any("fresh streams" in m for m in messages) and any("resuming" in m and "step 6" in m for m in messages)
    rng_state, _ = _replay_windows(train, [cfg.seed, 0, 6], 1, cfg.batch_size, cfg.num_frames)
    assert single["rng"] == rng_state
    assert [r["step"] for r in read_metrics(run) if "loss" in r] == [1, 2, 3, 4, 5, 6, 7]
