"""Shared fixtures: where the real archives are, a per-session cache to unpack them into, and the
small evaluation run that two test modules read (``plain_eval_run``).

Tests that need the archives take the ``data_dir`` (or ``raw``) fixture. Without the archives they
skip with the reason; under ``MOTIONGEN_REQUIRE_DATA=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from motiongen.data.archives import ARCHIVES, default_data_dir, unpacked

# The rotation helpers route numpy through torch; on a busy 2-core machine torch's intra-op thread
# pool makes thousands of tiny calls wait on each other (measured 6x slower), so tests use one.
torch.set_num_threads(1)

# CI runs the fuzz tests on a fixed sequence of examples, so a submission's result is reproducible
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = default_data_dir()
    if path is None or not all((path / name).exists() for name in ARCHIVES.values()):
        reason = f"motion archives not found (MOTIONGEN_DATA or ../shared/data; looked at {path})"
        if os.environ.get("MOTIONGEN_REQUIRE_DATA") == "1":
            pytest.fail(reason + " but MOTIONGEN_REQUIRE_DATA=1")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unpack cache: ``$MOTIONGEN_TEST_CACHE`` if set (reused across runs), else a session temp dir."""
    env = os.environ.get("MOTIONGEN_TEST_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def raw(data_dir: Path, cache_dir: Path):
    """``raw("cmu")`` -> folder with that archive unpacked (once per session)."""

    def get(key: str) -> Path:
        return unpacked(key, data_dir, cache_dir)

    return get


@pytest.fixture(scope="session")
def eval_subset(data_dir: Path, cache_dir: Path) -> Path:
    """A subset build (16 clips per source and split: 44 test clips of 40+ frames, enough for one
    R-precision batch of 32)."""
    from motiongen.data.build import build_dataset

    return Path(build_dataset(data_dir, cache_dir, limit_per_source=16, workers=2, progress=False)["path"])


@pytest.fixture(scope="session")
def plain_eval_run(eval_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSON of one in-process ``motiongen eval`` run with :data:`small_eval.ARGS` (one thread, as
    set above), its parts and view folders beside it. Read it, never change it: a test that resumes
    or edits a run works on :func:`small_eval.copy_run`'s copy."""
    from small_eval import ARGS

    from motiongen.cli import main

    out = tmp_path_factory.mktemp("plain-eval") / "metrics.json"
    assert main(["eval", *ARGS, "--dataset", str(eval_subset), "--no-progress", "-o", str(out)]) == 0
    return out
