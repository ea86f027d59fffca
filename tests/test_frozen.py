"""The shared frozen-model files (motiongen.models.frozen): what is written is what is read back,
the version covers the stored tensors and config, and bad requests fail before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from motiongen.errors import InputError
from motiongen.models import frozen
from motiongen.skeleton.registry import get_skeleton

FORMAT = "motiongen.test_frozen/1"


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2))


def _write(folder: Path, weights_dtype: str = "float16", card=None) -> tuple[nn.Module, str]:
    model = _model()
    mean, std = frozen.normalization_arrays(np.arange(4.0), np.array([1.0, 0.0, 2.0, 1e-4]))
    version = frozen.write_frozen_model(
        folder, {"format": FORMAT, "model": {"sizes": [4, 3, 2]}}, frozen.normalized_state(model, mean, std),
        get_skeleton("smplx22"), info={"steps": 7}, weights_dtype=weights_dtype, card=card,
    )
    return model, version


def test_round_trip_keeps_weights_normalisation_and_version(tmp_path: Path) -> None:
    model, version = _write(tmp_path, card=lambda v: f"# card of {v}\n")
    files = frozen.read_frozen_model(tmp_path, FORMAT, "test model", ("format", "model"))
    assert files.version == version == json.loads((tmp_path / "config.json").read_text())["version"]
    assert (tmp_path / "README.md").read_text() == f"# card of {version}\n"  # the card sees the stored version
    # near-constant features are floored, normalisation stays float32 while weights are stored as float16
    assert np.array_equal(files.std, np.float32([1.0, frozen.MIN_STD, 2.0, frozen.MIN_STD])) and files.mean.dtype == np.float32
    for name, value in model.state_dict().items():
        assert torch.equal(files.weights[name], value.half().float())
    assert files.config["info"] == {"steps": 7} and files.skeleton.name == "smplx22"


def test_version_depends_on_the_stored_dtype_and_catches_edited_weights(tmp_path: Path) -> None:
    _, v16 = _write(tmp_path / "a")
    _, v32 = _write(tmp_path / "b", weights_dtype="float32")
    assert v16 != v32
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    config["version"] = v32  # a config that names other weights than the file holds
    (tmp_path / "a" / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="do not match the version"):
        frozen.read_frozen_model(tmp_path / "a", FORMAT, "test model", ("format", "model"))


def test_bad_requests_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        _write(tmp_path / "x", weights_dtype="bfloat16")
    assert err.value.field == "weights_dtype" and not (tmp_path / "x").exists()
    _write(tmp_path / "y")
    with pytest.raises(InputError, match="not a motiongen other model"):
        frozen.read_frozen_model(tmp_path / "y", "motiongen.other/1", "other model", ("format",))
