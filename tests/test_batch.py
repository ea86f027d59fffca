"""``motiongen generate --batch``: parsing, sharding under torchrun, resuming after a kill, the merged manifest.

The shipped model (``motiongen/kimodo-smplx``) with tiny lengths and few steps, on CPU; subprocesses run
with ``OMP_NUM_THREADS=1`` so that a single process and the torchrun ranks compute with the same threads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from motiongen.cli import main
from motiongen.errors import InputError
from motiongen.pipelines.batch import (
    DONE_FOLDER,
    BatchOptions,
    case_seed,
    plan_cases,
    read_batch_file,
    record_path,
    shard_cases,
)
from motiongen.viz.manifest import load_manifest

ROOT2D = [{"type": "root2d", "frame_indices": [0, 10, 19], "smooth_root_2d": [[0, 0], [0.2, 0.1], [0.4, 0.3]]}]


def write_lines(path: Path, lines: list[object]) -> Path:
    """A batch file: dicts as JSON lines, strings as they are."""
    path.write_text("".join((json.dumps(line) if not isinstance(line, str) else line) + "\n" for line in lines))
    return path


def subprocess_env(cache: Path) -> dict[str, str]:
    env = {**os.environ, "MOTIONGEN_CACHE": str(cache), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def npz_arrays(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted(folder.glob("*.npz")):
        with np.load(path) as data:
            out[path.stem] = {key: data[key].copy() for key in data.files}
    return out


@pytest.fixture(autouse=True)
def text_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # the CLI caches text embeddings under $MOTIONGEN_CACHE/text; keep them out of the user's cache
    monkeypatch.setenv("MOTIONGEN_CACHE", str(tmp_path_factory.getbasetemp() / "batch_cache"))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pipe():
    from motiongen.pipelines.kimodo import KIMODOPipeline

    return KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx")


# ==================================================================================================
# parsing
@pytest.mark.parametrize(
    ("lines", "line", "field", "message"),
    [
        (['{"prompt": "a person walks."', ], 1, None, "malformed JSON"),
        ([{"prompt": "walk."}, "[1, 2]"], 2, None, "a case is a JSON object"),
        ([{"prompt": "walk.", "frame": 20}], 1, "frame", "unknown key(s) 'frame'"),
        ([{"prompt": "walk.", "prompts": ["jump."]}], 1, "prompt", "exactly one of 'prompt'"),
        ([{"frames": 20}], 1, "prompt", "exactly one of 'prompt'"),
        ([{"prompt": "walk."}, {"prompt": "  "}], 2, "prompt", "prompt is empty"),
        ([{"prompts": ["walk.", 3]}], 1, "prompts[1]", "a prompt must be a string"),
        ([{"prompts": []}], 1, "prompts", "non-empty list"),
        ([{"prompts": ["walk.", "jump."], "frames": [20, 20, 20]}], 1, "frames", "one per prompt (2), got 3"),
        ([{"prompt": "walk.", "frames": 0}], 1, "frames", "positive integer"),
        ([{"prompt": "walk.", "frames": True}], 1, "frames", "positive integer"),
        ([{"prompt": "walk.", "seed": -1}], 1, "seed", "[0, 2^63 - 1]"),
        ([{"prompt": "walk.", "steps": 2.5}], 1, "steps", "integer >= 1"),
        ([{"prompt": "walk.", "num_samples": 0}], 1, "num_samples", "integer >= 1"),
        ([{"id": "a/b", "prompt": "walk."}], 1, "id", "not a usable id"),
        ([{"id": 7, "prompt": "walk."}], 1, "id", "must be a string"),
        ([{"id": "w", "prompt": "walk."}, "", {"id": "w", "prompt": "jump."}], 3, "id", "also the id of line 1"),
        # line 2 without an id is '00002', which line 1 already took
        ([{"id": "00002", "prompt": "walk."}, {"prompt": "jump."}], 2, "id", "also the id of line 1"),
        ([{"prompt": "walk.", "constraints": "absent.json"}], 1, "constraints", "not found"),
        ([{"prompt": "walk.", "frames": 15, "constraints": "root.json"}], 1, "constraints", "allowed 0..14"),
    ],
)
def test_parse_errors_name_file_line_and_field(tmp_path: Path, lines: list[object], line: int, field: str | None,
                                               message: str) -> None:
    (tmp_path / "root.json").write_text(json.dumps(ROOT2D))
    path = write_lines(tmp_path / "cases.jsonl", lines)
    with pytest.raises(InputError) as exc:
        read_batch_file(path)
    assert exc.value.path == str(path) and exc.value.line == line and exc.value.field == field
    assert f"{path}:{line}" in str(exc.value) and message in str(exc.value)


def test_parse_defaults_and_relative_constraints(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "root.json").write_text(json.dumps(ROOT2D))
    path = write_lines(tmp_path / "cases.jsonl", [
        {"prompt": "walk."},
        "",
        {"id": "multi", "prompts": ["walk.", "jump."], "frames": 30, "seed": 9, "steps": 3, "num_samples": 2},
        {"id": "path", "prompt": "walk along a curve.", "frames": [20], "constraints": "sub/root.json"},
    ])
    first, multi, curve = read_batch_file(path)
    assert (first.case_id, first.prompts, first.frames, first.seed, first.line) == ("00001", ("walk.",), None, None, 1)
    assert (multi.case_id, multi.frames, multi.seed, multi.steps, multi.num_samples, multi.line) == (
        "multi", (30, 30), 9, 3, 2, 3)
    assert curve.constraints_path == tmp_path / "sub" / "root.json" and len(curve.constraint_records) == 1
    # shard k % world, in file order
    assert shard_cases([first, multi, curve], (0, 2)) == [first, curve]
    assert shard_cases([first, multi, curve], (1, 2)) == [multi]


def test_derived_seeds_depend_on_id_and_base_only() -> None:
    assert case_seed("walk") == case_seed("walk") != case_seed("walk", 1)
    assert case_seed("walk") != case_seed("jump")
    assert all(0 <= case_seed(name, base) < 2**63 for name in ("a", "b") for base in (0, 5))


def test_model_checks_fail_before_any_generation(tmp_path: Path, pipe) -> None:
    path = write_lines(tmp_path / "cases.jsonl", [
        {"id": "ok", "prompt": "walk.", "frames": 20},
        {"id": "long", "prompt": "walk.", "frames": pipe.max_frames + 1},
    ])
    cases = read_batch_file(path)
    with pytest.raises(InputError) as exc:
        plan_cases(pipe, cases)
    assert exc.value.line == 2 and exc.value.field == "frames" and f"at most {pipe.max_frames} frames" in str(exc.value)
    # a case's samples must not take another case's file names
    path = write_lines(tmp_path / "clash.jsonl", [
        {"id": "a", "prompt": "walk.", "frames": 20, "num_samples": 2},
        {"id": "a_01", "prompt": "jump.", "frames": 20},
    ])
    with pytest.raises(InputError, match="'a_01' is also an output of case 'a'"):
        plan_cases(pipe, read_batch_file(path))
    # through the command: nothing is written
    code = main(["generate", "--batch", str(tmp_path / "cases.jsonl"), "-o", str(tmp_path / "out"), "--steps", "2"])
    assert code == 2 and not list((tmp_path / "out").glob("*.npz"))


def test_settings_decide_whether_a_record_is_current(tmp_path: Path, pipe) -> None:
    path = write_lines(tmp_path / "cases.jsonl", [{"id": "w", "prompt": "walk.", "frames": 20, "seed": 1}])
    (base,) = plan_cases(pipe, read_batch_file(path), BatchOptions(steps=2))
    (same,) = plan_cases(pipe, read_batch_file(path), BatchOptions(steps=2))
    (more_steps,) = plan_cases(pipe, read_batch_file(path), BatchOptions(steps=3))
    (no_post,) = plan_cases(pipe, read_batch_file(path), BatchOptions(steps=2, postprocess=False))
    assert base.settings_key == same.settings_key
    assert len({base.settings_key, more_steps.settings_key, no_post.settings_key}) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["a person walks."], "not on the command line"),
        (["--constraints", "c.json"], "--constraints cannot be combined with --batch"),
        (["--frames", "20", "30"], "one default length"),
    ],
)
def test_batch_command_refusals(tmp_path: Path, extra: list[str], message: str, capsys) -> None:
    path = write_lines(tmp_path / "cases.jsonl", [{"prompt": "walk."}])
    code = main(["generate", "--batch", str(path), "-o", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    code = main(["generate", "--batch", str(path), "-o", str(tmp_path / "x.npz")])
    assert code == 2 and "--batch writes a folder" in capsys.readouterr().err


# ==================================================================================================
# one process against two torchrun ranks
def test_one_process_and_torchrun_give_identical_motions_and_one_manifest(tmp_path: Path) -> None:
    # the second case shares a prompt with the first: under torchrun it runs on rank 1 while rank 0 may
    # not have cached that prompt yet, in the single process after it; the motions must not notice
    (tmp_path / "root.json").write_text(json.dumps(ROOT2D))
    batch = write_lines(tmp_path / "cases.jsonl", [
        {"id": "walk", "prompt": "a person walks forward.", "frames": 20, "seed": 3},
        {"id": "walk_jump", "prompts": ["a person walks forward.", "a person jumps."], "frames": [20, 15], "seed": 4},
        {"prompt": "a person waves.", "frames": 20, "num_samples": 2},
        {"id": "curve", "prompt": "a person walks along a curve.", "frames": 20, "seed": 5, "constraints": "root.json"},
    ])
    args = ["generate", "--batch", str(batch), "--steps", "2"]
    single = subprocess.run(
        [sys.executable, "-m", "motiongen.cli", *args, "-o", str(tmp_path / "single")],
        check=False, capture_output=True, text=True, env=subprocess_env(tmp_path / "cache_single"), timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    ranks = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "motiongen.cli", *args, "-o", str(tmp_path / "ranks")],
        check=False, capture_output=True, text=True, env=subprocess_env(tmp_path / "cache_ranks"), timeout=600,
    )
    assert ranks.returncode == 0, ranks.stdout[-3000:] + ranks.stderr[-3000:]
    # the cases were shared: rank 0 had lines 1 and 3, rank 1 lines 2 and 4
    assert "rank 0: 2 case(s) generated" in ranks.stdout and "rank 1: 2 case(s) generated" in ranks.stdout
    assert "rank 1: generated walk_jump" in ranks.stdout and "rank 1: generated curve" in ranks.stdout

    one, two = npz_arrays(tmp_path / "single"), npz_arrays(tmp_path / "ranks")
    assert sorted(one) == sorted(two) == ["00003_00", "00003_01", "curve", "walk", "walk_jump"]
    for stem in one:
        assert sorted(one[stem]) == sorted(two[stem])
        for key in one[stem]:
            np.testing.assert_array_equal(one[stem][key], two[stem][key], err_msg=f"{stem}: {key}")
    assert one["walk_jump"]["posed_joints"].shape == (35, 22, 3)
    assert not np.array_equal(one["00003_00"]["posed_joints"], one["00003_01"]["posed_joints"])
    for folder in ("single", "ranks"):
        root = tmp_path / folder
        assert (root / "walk.bvh").is_file() and (root / "00003_01.bvh").is_file()
        manifest = load_manifest(root)  # checked against the folder's files
        cases = {case["id"]: case for case in manifest["cases"]}
        assert sorted(cases) == sorted(one)
        assert cases["walk_jump"]["captions"] == ["a person walks forward.", "a person jumps."]
        assert cases["curve"]["task"] == "constraints" and cases["curve"]["condition_overlays"]["root_trajectory"]
        assert (root / "constraints" / "curve.json").is_file()
        captions = json.loads((root / "_captions.json").read_text())
        assert captions["walk"] == ["a person walks forward."]
        records = {p.stem: json.loads(p.read_text()) for p in (root / DONE_FOLDER).glob("*.json")}
        assert sorted(records) == ["00003", "curve", "walk", "walk_jump"]
        assert records["walk"]["seed"] == 3 and records["00003"]["seed"] == case_seed("00003")
        assert records["walk_jump"]["frames"] == [20, 15] and len(records["walk"]["model_hash"]) == 64
    shards = {p.stem: json.loads(p.read_text())["shard"] for p in (tmp_path / "ranks" / DONE_FOLDER).glob("*.json")}
    assert shards == {"walk": [0, 2], "walk_jump": [1, 2], "00003": [0, 2], "curve": [1, 2]}


def test_a_case_does_not_depend_on_the_cases_before_it(tmp_path: Path) -> None:
    """The same cases in opposite orders, each run with an empty embedding cache, give the same motions.

    With two threads the text encoder's result for a prompt encoded together with another differs
    from its result alone in the last bits; generation must encode a case's prompts the same way
    whether or not an earlier case already cached one of them.
    """
    import torch

    from motiongen.pipelines.batch import run_batch
    from motiongen.pipelines.kimodo import KIMODOPipeline

    path = write_lines(tmp_path / "cases.jsonl", [
        {"id": "walk", "prompt": "a person walks forward slowly.", "frames": 20, "seed": 3},
        {"id": "walk_jump", "prompts": ["a person walks forward slowly.", "a jump."], "frames": [20, 15], "seed": 4},
    ])
    cases = read_batch_file(path)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for name, order in (("forward", cases), ("backward", cases[::-1])):
            pipe = KIMODOPipeline.from_pretrained("motiongen/kimodo-smplx", text_cache_dir=tmp_path / f"text_{name}")
            run_batch(pipe, order, tmp_path / name, shard=(0, 1), progress=False, options=BatchOptions(steps=2),
                      log=lambda line: None)
    finally:
        torch.set_num_threads(threads)
    forward, backward = npz_arrays(tmp_path / "forward"), npz_arrays(tmp_path / "backward")
    assert sorted(forward) == sorted(backward) == ["walk", "walk_jump"]
    for stem in forward:
        for key in forward[stem]:
            np.testing.assert_array_equal(forward[stem][key], backward[stem][key], err_msg=f"{stem}: {key}")


# ==================================================================================================
# a real interruption
def test_killed_run_resumes_with_the_missing_cases_only(tmp_path: Path, capsys) -> None:
    cases = [{"id": f"case{k}", "prompt": "a person walks forward.", "frames": 120, "seed": k} for k in range(6)]
    batch = write_lines(tmp_path / "cases.jsonl", cases)
    out = tmp_path / "out"
    argv = ["generate", "--batch", str(batch), "-o", str(out), "--steps", "25"]
    proc = subprocess.Popen([sys.executable, "-m", "motiongen.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=subprocess_env(Path(os.environ["MOTIONGEN_CACHE"])))
    try:
        deadline = time.monotonic() + 300
        while not list((out / DONE_FOLDER).glob("*.json")):
            assert proc.poll() is None, "the batch ended before it could be interrupted"
            assert time.monotonic() < deadline, "no case finished in time"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = {p.stem: p.stat().st_mtime_ns for p in (out / DONE_FOLDER).glob("*.json")}
    assert 1 <= len(done) < len(cases), f"interrupted after {len(done)} of {len(cases)} cases"
    assert not (out / "_manifest.json").exists()  # the batch did not finish
    finished_at = {name: json.loads(record_path(out, name).read_text())["finished_at"] for name in done}

    code = main(argv)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    generated = {line.split()[1].rstrip(":") for line in lines if line.startswith("generated ")}
    skipped = {line.split()[1] for line in lines if line.startswith("skipped ")}
    assert skipped == set(done) and generated == {c["id"] for c in cases} - set(done)
    for name, mtime in done.items():  # the earlier records were left alone
        assert record_path(out, name).stat().st_mtime_ns == mtime
        assert json.loads(record_path(out, name).read_text())["finished_at"] == finished_at[name]
    assert lines[-1] == f"{len(generated)} case(s) generated, {len(done)} already done; wrote {out / '_manifest.json'}"
    assert sorted(c["id"] for c in load_manifest(out)["cases"]) == sorted(c["id"] for c in cases)
    assert not list(out.rglob("*.tmp"))  # what the kill left half-written was cleared

    # a case whose line changed is stale: only it is generated again
    cases[2]["seed"] = 99
    write_lines(batch, cases)
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1].rstrip(":") for line in lines if line.startswith("generated ")] == ["case2"]
    assert json.loads(record_path(out, "case2").read_text())["seed"] == 99
