"""Typed configurations of the KIMODO denoiser and its diffusion schedule (stored as ``config.json``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, TypeVar

from motiongen.errors import InputError

_C = TypeVar("_C", bound="_JsonConfig")

#: Rows of the sinusoidal position table (reference 1.2: ``max_len 5000``). It bounds the prefix plus
#: motion length of one forward pass, and the timestep index of the time token.
MAX_POSITIONS = 5000
SCHEDULES = ("cosine",)
ACTIVATIONS = ("gelu", "relu")
POSITION_TABLE_PRECISIONS = ("float64", "float32")


class _JsonConfig:
    """``to_dict``/``from_dict`` and JSON files for a flat dataclass of numbers, strings and booleans."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any], *, path: str | Path | None = None) -> _C:
        """Build from a dict; unknown keys and missing required keys raise :class:`InputError` naming them."""
        if not isinstance(data, Mapping):
            raise InputError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}", path=path)
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        for key in data:
            if key not in known:
                raise InputError(
                    f"unknown {cls.__name__} key '{key}'; known: {', '.join(sorted(known))}", path=path, field=str(key)
                )
        try:
            return cls(**dict(data))
        except TypeError as exc:  # a required field is missing
            raise InputError(f"{cls.__name__}: {exc}", path=path) from None
        except InputError as exc:
            if path is None:
                raise
            raise InputError(str(exc), path=path) from None

    def save(self, path: str | Path) -> Path:
        """Write ``path`` as indented JSON (the folder must exist); returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls: type[_C], path: str | Path) -> _C:
        """Read a config written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InputError("config file does not exist", path=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({exc})", path=path) from None
        return cls.from_dict(data, path=path)


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"must be an integer {allowed}, got {value!r}", field=name)
    return value


@dataclass
class KimodoDenoiserConfig(_JsonConfig):
    """Sizes of :class:`~motiongen.models.kimodo.denoiser.TwoStageDenoiser` (both stages share them).

    Attributes:
        feature_dim: ``D = 9 + 12 * num_joints`` (KIMODO features, reference 2.1).
        num_joints: ``J`` of the skeleton the features describe.
        text_dim: width of one text-encoder vector (384 for MiniLM, 4096 for LLM2Vec).
        num_text_tokens: text prefix length; shorter text is zero-padded, all tokens are attended
            (KIMODO uses 50 with one pooled vector; 1 loses nothing for a pooled encoder).
        width, layers, heads, ff, dropout: transformer sizes *per stage* (KIMODO: 1024, 16, 8, 2048, 0).
        max_frames: the longest motion the model is meant to generate per prompt (>= 300 frames
            = 10 s at 30 fps); the pipeline refuses longer requests. The network itself accepts up
            to ``MAX_POSITIONS - prefix`` frames.
        fps: frame rate of the features (the local-root velocities are per second).
        first_heading_token: add the ``Linear(2 -> width)`` token of the first-frame heading.
        norm_first: pre-LN encoder layers (KIMODO: ``norm_first=false``, post-LN).
        activation: feed-forward activation, ``"gelu"`` (exact; KIMODO) or ``"relu"``.
        use_text_mask: hide the zero rows that pad the text to ``num_text_tokens`` from attention
            (KIMODO: false, all text tokens are attended and padding rows embed to the bias).
        position_table_precision: how the sinusoidal table is computed: ``"float64"`` (then
            rounded; our trained models) or ``"float32"`` (KIMODO's ``PositionalEncoding``:
            ``pow(10000, -2i/d)`` and ``position * freq`` in float32; at width 1024 it differs from
            the exact table by up to 5.7e-5 in the rows a timestep or a <= 300-frame motion uses,
            3.9e-4 at row 5000: small, but matched so that the released weights see their own table).
    """

    feature_dim: int
    num_joints: int
    text_dim: int = 384
    num_text_tokens: int = 1
    width: int = 256
    layers: int = 4
    heads: int = 4
    ff: int = 512
    dropout: float = 0.0
    max_frames: int = 300
    fps: float = 30.0
    first_heading_token: bool = True
    norm_first: bool = False
    activation: str = "gelu"
    use_text_mask: bool = False
    position_table_precision: str = "float64"

    def __post_init__(self) -> None:
        _check_int("num_joints", self.num_joints, 1)
        _check_int("feature_dim", self.feature_dim, 21)
        if self.feature_dim != 9 + 12 * self.num_joints:
            raise InputError(
                f"feature_dim {self.feature_dim} does not match num_joints {self.num_joints}; "
                f"expected 9 + 12 * {self.num_joints} = {9 + 12 * self.num_joints}",
                field="feature_dim",
            )
        _check_int("text_dim", self.text_dim, 1)
        _check_int("num_text_tokens", self.num_text_tokens, 1, 512)
        _check_int("width", self.width, 1)
        _check_int("layers", self.layers, 1)
        _check_int("heads", self.heads, 1)
        _check_int("ff", self.ff, 1)
        if self.width % self.heads != 0:
            raise InputError(f"width {self.width} must be a multiple of heads {self.heads}", field="width")
        if self.width % 2 != 0:
            raise InputError(f"width must be even (sin/cos position channels), got {self.width}", field="width")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise InputError(f"must be a number in [0, 1), got {self.dropout!r}", field="dropout")
        self.dropout = float(self.dropout)
        prefix = self.num_text_tokens + 1 + int(bool(self.first_heading_token))
        _check_int("max_frames", self.max_frames, 1, MAX_POSITIONS - prefix)
        if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)) or not (math.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"must be a positive number, got {self.fps!r}", field="fps")
        self.fps = float(self.fps)
        if not isinstance(self.first_heading_token, bool):
            raise InputError(f"must be true or false, got {self.first_heading_token!r}", field="first_heading_token")
        for name in ("norm_first", "use_text_mask"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"must be true or false, got {getattr(self, name)!r}", field=name)
        if self.activation not in ACTIVATIONS:
            raise InputError(f"unknown activation {self.activation!r}; allowed: {', '.join(ACTIVATIONS)}", field="activation")
        if self.position_table_precision not in POSITION_TABLE_PRECISIONS:
            raise InputError(
                f"unknown position_table_precision {self.position_table_precision!r}; "
                f"allowed: {', '.join(POSITION_TABLE_PRECISIONS)}",
                field="position_table_precision",
            )

    @property
    def prefix_tokens(self) -> int:
        """Tokens before the motion: text, time, and the heading token if enabled."""
        return self.num_text_tokens + 1 + int(self.first_heading_token)


@dataclass
class DiffusionConfig(_JsonConfig):
    """The diffusion process (reference 1.4): x0 prediction over ``num_train_steps`` base steps."""

    num_train_steps: int = 1000
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        _check_int("num_train_steps", self.num_train_steps, 2, MAX_POSITIONS)
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown schedule '{self.schedule}'; known: {', '.join(SCHEDULES)}", field="schedule")


#: Joint count of each skeleton the official KIMODO checkpoints use (reference 1.1, 1.3), by our
#: registry name; official class and folder names are accepted too (see ``official_kimodo_config``).
OFFICIAL_SKELETON_JOINTS = {"soma30": 30, "g1": 34, "smplx22": 22}
_OFFICIAL_SKELETON_ALIASES = {
    "soma": "soma30",
    "soma30": "soma30",
    "somaskel30": "soma30",
    "somaskeleton30": "soma30",
    "g1": "g1",
    "g1skel34": "g1",
    "g1skeleton34": "g1",
    "smplx": "smplx22",
    "smplx22": "smplx22",
    "smplxskeleton22": "smplx22",
}


def official_skeleton_name(name: str) -> str:
    """Our registry name (``soma30``, ``g1``, ``smplx22``) for an official skeleton name.

    Accepts ours, KIMODO's class names (``SOMASkeleton30``, ``G1Skeleton34``, ``SMPLXSkeleton22``,
    also dotted: ``kimodo.skeleton.SOMASkeleton30``) and asset folder names (``somaskel30``,
    ``g1skel34``); case and ``-``/``_`` are ignored.
    """
    key = str(name).rsplit(".", 1)[-1].lower().replace("-", "").replace("_", "")
    if key not in _OFFICIAL_SKELETON_ALIASES:
        known = "soma30 (SOMASkeleton30), g1 (G1Skeleton34), smplx22 (SMPLXSkeleton22)"
        raise InputError(f"unknown KIMODO skeleton {name!r}; known: {known}", field="skeleton")
    return _OFFICIAL_SKELETON_ALIASES[key]


def official_kimodo_config(skeleton_name: str) -> KimodoDenoiserConfig:
    """The released KIMODO denoiser's sizes for ``skeleton_name`` (reference 1.1 [HF], 1.2, 1.3).

    Two stages of 16 post-LN layers, width 1024, 8 heads, feed-forward 2048, exact GELU, dropout 0;
    50 text tokens of 4096-d LLM2Vec vectors, all attended (``use_text_mask=false``); the
    first-heading token; KIMODO's float32 position table; 30 fps. About 283 M parameters for SOMA30.
    """
    skeleton = official_skeleton_name(skeleton_name)
    joints = OFFICIAL_SKELETON_JOINTS[skeleton]
    return KimodoDenoiserConfig(
        feature_dim=9 + 12 * joints,
        num_joints=joints,
        text_dim=4096,
        num_text_tokens=50,
        width=1024,
        layers=16,
        heads=8,
        ff=2048,
        dropout=0.0,
        max_frames=300,
        fps=30.0,
        first_heading_token=True,
        norm_first=False,
        activation="gelu",
        use_text_mask=False,
        position_table_precision="float32",
    )
