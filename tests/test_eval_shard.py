"""``motiongen eval`` under torchrun: the pieces shared out across ranks, one JSON equal to a plain run's.

The plain run of ``tests/small_eval.py`` (conftest's ``plain_eval_run``: in-process, one torch
thread) and a 2-rank ``torch.distributed.run --standalone`` run of the CLI on the same settings (a
subprocess on CPU, ``OMP_NUM_THREADS=1`` so that thread counts match) must give the same figures and
the same view folder, with both ranks having computed pieces; a sharded run that lost pieces
finishes only those.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from small_eval import ARGS, SETTINGS

from motiongen.evaluation.shard import Piece, piece_owners, read_rank_logs

#: Figures may differ by this much (they are equal in practice: same code, same seeds, same threads).
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def subset(eval_subset: Path) -> Path:
    return eval_subset


def _sharded_eval(subset: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``motiongen eval`` on 2 ranks under ``torch.distributed.run``, in a subprocess."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "motiongen.cli", "eval", *ARGS, "--dataset", str(subset), "-o", str(out), *extra]
    done = subprocess.run(command, env=env, cwd=out.parent, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(subset: Path, plain_eval_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # the plain run (conftest's, in-process with one thread) is made first: it fills the
    # text-embedding cache the sharded ranks then read
    single = plain_eval_run
    sharded = tmp_path_factory.mktemp("sharded") / "metrics.json"
    shown = _sharded_eval(subset, sharded)  # with progress bars: rank 0's only
    return {"single": single, "sharded": sharded, "output": shown.stdout + shown.stderr}


def _strip_timings(tasks: dict[str, Any]) -> dict[str, Any]:
    tasks = json.loads(json.dumps(tasks))
    tasks.get("constraints", {}).pop("seconds_per_generation", None)
    return tasks


def _assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal trees, floats within :data:`TOLERANCE` (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=TOLERANCE, abs=TOLERANCE), where
    else:
        assert a == b, where


def test_a_two_rank_run_gives_the_figures_and_view_of_a_plain_run(runs: dict[str, Any]) -> None:
    single, sharded = (json.loads(runs[k].read_text()) for k in ("single", "sharded"))
    assert (single["ranks"], sharded["ranks"]) == (1, 2)
    assert single["settings"] == sharded["settings"] and single["model"] == sharded["model"]
    assert set(sharded["tasks"]) == {"t2m", "quality", "inbetween", "constraints"}
    _assert_same(_strip_timings(single["tasks"]), _strip_timings(sharded["tasks"]), "tasks")
    # one view folder, the same files
    views = [runs[k].with_name("metrics.view") for k in ("single", "sharded")]
    files = [sorted(p.relative_to(v).as_posix() for p in v.rglob("*") if p.is_file()) for v in views]
    assert files[0] == files[1] and "_manifest.json" in files[0] and len(files[0]) > 10
    for name in files[0]:
        assert (views[0] / name).read_bytes() == (views[1] / name).read_bytes(), name


def test_both_ranks_computed_pieces_and_only_rank_0_reported(runs: dict[str, Any]) -> None:
    sharded = json.loads(runs["sharded"].read_text())
    by_rank = sharded["pieces_computed_by_rank"]
    assert len(by_rank) == 2 and all(by_rank), by_rank
    assert not set(by_rank[0]) & set(by_rank[1])
    # the expensive pieces are shared: each rank ran one of the two model replications
    assert {"t2m-model-0", "t2m-model-1"} & set(by_rank[0]) and {"t2m-model-0", "t2m-model-1"} & set(by_rank[1])
    # the plain run computed the same pieces, all on rank 0
    single = json.loads(runs["single"].read_text())["pieces_computed_by_rank"]
    assert len(single) == 1 and sorted(single[0]) == sorted(by_rank[0] + by_rank[1])
    # each rank's log in the parts folder names the pieces it wrote, and they are there
    parts = runs["sharded"].with_name("metrics.parts")
    logged = read_rank_logs(parts)
    assert {name: e["rank"] for name, e in logged.items()} == {n: r for r, names in enumerate(by_rank) for n in names}
    assert {e["world"] for e in logged.values()} == {2}
    for name in logged:
        assert (parts / f"{name}.json").is_file() or (parts / f"{name}.npz").is_file(), name
    # progress bars and the report come from rank 0 alone
    output = runs["output"]
    assert "eval pieces (rank 0)" in output and "eval pieces (rank 1)" not in output
    assert output.count(f"wrote {runs['sharded']}") == 1 and output.count("Text to motion") == 1


def test_a_sharded_run_that_lost_pieces_computes_only_those(subset: Path, runs: dict[str, Any]) -> None:
    out = runs["sharded"]
    parts = out.with_name("metrics.parts")
    before = json.loads(out.read_text())
    # as if killed before the in-betweening chunk and the constraint case were finished
    lost = ["inbetween-motiongen-kimodo-smplx-windows-0000-0002.npz", "inbetween-motiongen-kimodo-smplx.json",
            "constraints-case-000.json", "constraints-case-000-motions.npz", "constraints.json",
            "constraints-motions.npz"]
    for name in lost:
        (parts / name).unlink()
    piece = parts / "t2m-model-1.json"
    stored = json.loads(piece.read_text())
    stored["fid"] = 123.0  # a marker: a re-run that recomputed the piece would not show it
    piece.write_text(json.dumps(stored))
    started = time.time()
    _sharded_eval(subset, out, "--no-progress")
    after = json.loads(out.read_text())
    redone = {name: e["rank"] for name, e in read_rank_logs(parts).items() if e["finished"] >= started}
    assert redone == {"inbetween-motiongen-kimodo-smplx-windows-0000-0002": 0, "constraints-case-000": 1}
    assert after["pieces_computed_by_rank"] == [["inbetween-motiongen-kimodo-smplx-windows-0000-0002"],
                                                ["constraints-case-000"]]
    assert 123.0 in after["tasks"]["t2m"]["rows"][-1]["fid"]["values"]
    for task in ("quality", "inbetween", "constraints"):
        _assert_same(_strip_timings(before["tasks"])[task], _strip_timings(after["tasks"])[task], task)


def test_the_merged_constraint_cases_are_the_record_evaluate_constraints_gives(
    subset: Path, runs: dict[str, Any]
) -> None:
    from motiongen.data.dataset import MotionDataset
    from motiongen.evaluation.constraints import evaluate_constraints
    from motiongen.pipelines.loading import load_pipeline

    pipe = load_pipeline("motiongen/kimodo-smplx")
    whole = evaluate_constraints(
        pipe, MotionDataset(root=subset, split="test", mirrored=False), cases=SETTINGS["constraint_cases"],
        frames=SETTINGS["constraint_frames"], steps=SETTINGS["steps"], seed=0,
        caption_coverage=SETTINGS["constraint_caption_coverage"],
    )
    merged = json.loads(runs["single"].read_text())["tasks"]["constraints"]
    whole = json.loads(json.dumps(whole))
    assert sorted(whole["seconds_per_generation"]) == sorted(merged["seconds_per_generation"])
    _assert_same(_strip_timings({"constraints": whole}), _strip_timings({"constraints": merged}), "constraints")


def _piece(name: str, follows: str | None = None) -> Piece:
    return Piece(name, "t2m", lambda: None, lambda: False, follows)


def test_pieces_go_round_robin_and_followers_to_their_leaders_rank() -> None:
    pieces = [_piece("a"), _piece("b"), _piece("b-reader", follows="b"), _piece("c"), _piece("d"), _piece("e")]
    assert piece_owners(pieces, 2) == {"a": 0, "b": 1, "b-reader": 1, "c": 0, "d": 1, "e": 0}
    assert piece_owners(pieces, 3) == {"a": 0, "b": 1, "b-reader": 1, "c": 2, "d": 0, "e": 1}
    assert set(piece_owners(pieces, 1).values()) == {0}
    with pytest.raises(ValueError, match="not listed before"):
        piece_owners([_piece("x", follows="y"), _piece("y")], 2)
