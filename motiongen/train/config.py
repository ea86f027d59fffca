"""Typed configuration of KIMODO training (``motiongen train kimodo --config FILE``), from YAML or JSON.

A config file is one mapping of the :class:`KimodoTrainConfig` fields; ``model:`` is a nested
mapping of :class:`~motiongen.models.kimodo.config.KimodoDenoiserConfig` sizes (``width``,
``layers``, ``heads``, ``ff``, ``dropout``, ``max_frames``, ``num_text_tokens``,
``first_heading_token``). ``feature_dim``, ``num_joints`` and ``text_dim`` are not set there:
they follow from the dataset's skeleton and the text encoder. Unknown keys, wrong types and values
out of range raise :class:`~motiongen.errors.InputError` naming the key (``model.width`` for a
nested one) and the allowed range.

Overrides (``--set key=value`` on the command line) use the same names, dotted for the model
(``model.width=128``); values are parsed as YAML scalars (``1e-4``, ``true``, ``null``).
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from motiongen.errors import InputError

#: KimodoDenoiserConfig fields the training config may set (the others come from the data).
MODEL_KEYS = ("num_text_tokens", "width", "layers", "heads", "ff", "dropout", "max_frames", "fps", "first_heading_token")
#: Fields filled in from the dataset skeleton and the text encoder.
DERIVED_MODEL_KEYS = ("feature_dim", "num_joints", "text_dim")
AMP_MODES = ("none", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class KimodoTrainConfig:
    """Everything one KIMODO training run reads (stored in every checkpoint).

    Data:
        output_dir: run folder (``checkpoints/``, ``metrics.jsonl``, ``config.json``).
        init_from: a model bundle (name such as ``motiongen/kimodo-smplx`` or a folder) to start from
            when the run folder has no checkpoint: its weights (as model and EMA), statistics and step
            count; the optimizer starts fresh. How a new machine continues the shipped model.
        cache: motiongen cache folder holding ``datasets/`` (default ``$MOTIONGEN_CACHE``).
        dataset: a built dataset folder; default the full build in ``cache``.
        compact: a compact dataset file instead (training split only, so no validation loss).
        features_dir: where the feature cache goes (default ``<cache>/features``).
        mirrored: train on the mirrored copies too.
        val_split: split used for the validation loss (``val`` or ``test``).
        text_encoder: text encoder spec for :func:`motiongen.text.registry.load_text_encoder`
            (``"minilm"``, ``"clip:/path"``, ``"llm2vec:/path"`` or a mapping).
        text_cache: embedding cache folder (default ``<cache>/text``).

    Model and windows:
        model: denoiser sizes (:data:`MODEL_KEYS`).
        batch_size: windows per step *per process* (the global batch is ``batch_size * world size``).
        min_frames, max_frames: training window length range (frames); ``max_frames`` must not
            exceed ``model.max_frames`` (the generation limit).
        yaw_augment: turn every window by a random angle about Y.

    Optimisation:
        lr, weight_decay, betas: AdamW (no decay on biases, norms and embeddings' biases).
        warmup_steps, total_steps, min_lr_ratio: linear warm-up to ``lr`` over ``warmup_steps``,
            then cosine down to ``lr * min_lr_ratio`` at ``total_steps`` (where training stops).
            ``total_steps`` may be raised when resuming, which extends the cosine.
        ema_decay: EMA of the weights (the exported model); the decay ramps up as
            ``min(ema_decay, (1 + step) / (10 + step))`` so early EMA weights are not the init.
        grad_clip: global gradient-norm clip (0 = off).
        root_loss_weight: weight of the 5 global-root dims in the training loss (the loss is
            ``(root_loss_weight * sum_root + sum_body) / (root_loss_weight * 5 + D - 5)`` per valid
            frame; 1 = plain MSE, as KIMODO). The root is 5 of D dims and normalised by a spread of
            metres, so centimetre errors hardly count in plain MSE; weighting it makes the root
            stage denoise its input. Validation always reports plain MSE.
        position_loss_weight, velocity_loss_weight, foot_contact_loss_weight: weights of the
            geometric terms added to the x0 loss (MDM's L_pos, L_vel, L_foot; 0 = off, KIMODO's
            plain objective), computed on the joints that decoding produces (6D rotations through
            FK from the predicted root): mean squared joint position error (m^2), mean squared
            joint velocity error ((m/s)^2), and the mean squared speed ((m/s)^2) of the foot
            joints on the frames where the real motion has them in contact
            (:func:`motiongen.train.kimodo.geometric_losses`). The x0 loss alone weights errors
            by feature spread, not by where they put the feet: a small rotation error at the hip
            moves the toe by centimetres, which is the gliding, floor-skimming gait it leaves.
        text_dropout: probability a window's text is zeroed (trains the unconditional branch).
        constraint_probability: probability a window gets a random constraint mask.
        constraint_dropout: probability that mask is dropped again, independently of the text
            dropout, so all four CFG branches (both / text only / constraint only / none) are seen.

    Bookkeeping:
        val_every, val_batches: validation loss every N steps over a fixed set of batches.
        checkpoint_every, keep_checkpoints: checkpoint cadence and how many to keep.
        log_every: metrics line every N steps. seed: base seed (rank r uses seed + r for windows).
        time_limit_minutes: stop (with a checkpoint) after this much wall time in this run.
        num_workers: processes for building the feature cache (training needs no loader workers).
        threads: torch threads per process (0 = CPU cores / world size).
        amp: ``none``, ``bf16`` or ``fp16`` autocast (fp16 with loss scaling), on CUDA or CPU
            (other devices train in float32 and say so).
        device: ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
        progress: tqdm progress bar on rank 0.
    """

    output_dir: str = "runs/kimodo-smplx"
    init_from: str | None = None
    cache: str | None = None
    dataset: str | None = None
    compact: str | None = None
    features_dir: str | None = None
    mirrored: bool = True
    val_split: str = "val"
    text_encoder: Any = "minilm"
    text_cache: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    min_frames: int = 40
    max_frames: int = 150
    yaw_augment: bool = True
    lr: float = 2e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 500
    total_steps: int = 20000
    min_lr_ratio: float = 0.05
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    root_loss_weight: float = 1.0
    position_loss_weight: float = 0.0
    velocity_loss_weight: float = 0.0
    foot_contact_loss_weight: float = 0.0
    text_dropout: float = 0.1
    constraint_probability: float = 0.5
    constraint_dropout: float = 0.1
    val_every: int = 500
    val_batches: int = 8
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    seed: int = 0
    time_limit_minutes: float | None = None
    num_workers: int = 2
    threads: int = 0
    amp: str = "none"
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        self.output_dir = _text("output_dir", self.output_dir)
        for name in ("cache", "dataset", "compact", "features_dir", "text_cache"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else _text(name, value))
        for name in ("mirrored", "yaw_augment", "progress"):
            _bool(name, getattr(self, name))
        if self.val_split not in ("val", "test"):
            raise InputError(f"must be 'val' or 'test', got {self.val_split!r}", field="val_split")
        if not isinstance(self.text_encoder, (str, Mapping)) or not self.text_encoder:
            raise InputError(
                "must be a text encoder spec: 'minilm', 'clip:/path', 'llm2vec:/path' or a mapping", field="text_encoder"
            )
        if isinstance(self.text_encoder, Mapping):
            self.text_encoder = dict(self.text_encoder)
        self.model = _model_dict(self.model)
        self.batch_size = _int("batch_size", self.batch_size, 1)
        self.min_frames = _int("min_frames", self.min_frames, 1)
        self.max_frames = _int("max_frames", self.max_frames, 1)
        if self.min_frames > self.max_frames:
            raise InputError(
                f"min_frames {self.min_frames} must be <= max_frames {self.max_frames}", field="min_frames"
            )
        model_max = self.model.get("max_frames", _model_default("max_frames"))
        if self.max_frames > model_max:
            raise InputError(
                f"training window max_frames {self.max_frames} exceeds model.max_frames {model_max}", field="max_frames"
            )
        self.lr = _float("lr", self.lr, 0.0, None, low_open=True)
        self.weight_decay = _float("weight_decay", self.weight_decay, 0.0, None)
        if not isinstance(self.betas, (list, tuple)) or len(self.betas) != 2:
            raise InputError(f"must be two numbers [beta1, beta2] in [0, 1), got {self.betas!r}", field="betas")
        self.betas = tuple(_float("betas", b, 0.0, 1.0, high_open=True) for b in self.betas)  # type: ignore[assignment]
        self.warmup_steps = _int("warmup_steps", self.warmup_steps, 0)
        self.total_steps = _int("total_steps", self.total_steps, 1)
        self.min_lr_ratio = _float("min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        self.ema_decay = _float("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        self.grad_clip = _float("grad_clip", self.grad_clip, 0.0, None)
        self.root_loss_weight = _float("root_loss_weight", self.root_loss_weight, 0.0, None, low_open=True)
        for name in ("position_loss_weight", "velocity_loss_weight", "foot_contact_loss_weight"):
            setattr(self, name, _float(name, getattr(self, name), 0.0, None))
        for name in ("text_dropout", "constraint_probability", "constraint_dropout"):
            setattr(self, name, _float(name, getattr(self, name), 0.0, 1.0))
        for name in ("val_every", "checkpoint_every", "log_every"):
            setattr(self, name, _int(name, getattr(self, name), 1))
        self.val_batches = _int("val_batches", self.val_batches, 0)
        self.keep_checkpoints = _int("keep_checkpoints", self.keep_checkpoints, 1)
        self.seed = _int("seed", self.seed, 0)
        if self.time_limit_minutes is not None:
            self.time_limit_minutes = _float("time_limit_minutes", self.time_limit_minutes, 0.0, None, low_open=True)
        self.num_workers = _int("num_workers", self.num_workers, 0)
        self.threads = _int("threads", self.threads, 0)
        if self.amp is True:  # `amp: true` in YAML: the GPU's preferred half precision
            self.amp = "bf16"
        if self.amp is False or self.amp is None:
            self.amp = "none"
        if self.amp not in AMP_MODES:
            raise InputError(f"must be one of {', '.join(AMP_MODES)}, got {self.amp!r}", field="amp")
        if self.device not in DEVICES:
            raise InputError(f"must be one of {', '.join(DEVICES)}, got {self.device!r}", field="device")

    # ----------------------------------------------------------------------------------------------
    @property
    def geometric_loss_weights(self) -> tuple[float, float, float]:
        """``(position, velocity, foot_contact)`` loss weights; all 0 means the plain x0 objective."""
        return (self.position_loss_weight, self.velocity_loss_weight, self.foot_contact_loss_weight)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (what checkpoints and ``config.json`` store)."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str | Path | None = None) -> "KimodoTrainConfig":
        """Build from a mapping; unknown keys raise :class:`InputError` naming them."""
        if not isinstance(data, Mapping):
            raise InputError(f"a training config is a mapping of keys, got {type(data).__name__}", path=path)
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise InputError(f"unknown key '{key}'; known: {', '.join(known)}", path=path, field=str(key))
        try:
            return cls(**dict(data))
        except InputError as exc:
            if path is None:
                raise
            raise InputError(str(exc), path=path) from None

    def replace(self, **changes: Any) -> "KimodoTrainConfig":
        """A validated copy with ``changes`` applied (nested ``model`` given as a full mapping)."""
        data = self.to_dict()
        data.update(changes)
        return KimodoTrainConfig.from_dict(data)

    def denoiser_config(self, *, feature_dim: int, num_joints: int, text_dim: int) -> Any:
        """The :class:`KimodoDenoiserConfig` for this run's data and text encoder."""
        from motiongen.models.kimodo.config import KimodoDenoiserConfig

        try:
            return KimodoDenoiserConfig(feature_dim=feature_dim, num_joints=num_joints, text_dim=text_dim, **self.model)
        except InputError as exc:
            field_name = f"model.{exc.field}" if exc.field else "model"
            message = str(exc).split(": ", 1)[-1] if exc.field else str(exc)
            raise InputError(message, field=field_name) from None


def load_train_config(
    path: str | Path, overrides: Mapping[str, Any] | Sequence[str] | None = None
) -> KimodoTrainConfig:
    """Read a training config from YAML (``.yaml``/``.yml``) or JSON, then apply ``overrides``.

    Args:
        path: the config file.
        overrides: ``{key: value}`` or ``["key=value", ...]`` (values parsed as YAML scalars;
            ``model.width`` sets a model size).

    Raises:
        InputError: missing or unreadable file, invalid YAML/JSON, unknown keys, bad values.
    """
    path = Path(path)
    data = apply_overrides(read_config_file(path), overrides)
    return KimodoTrainConfig.from_dict(data, path=path)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML (``.yaml``/``.yml``) or JSON config file (empty file: ``{}``).

    Raises:
        InputError: missing or unreadable file, invalid YAML/JSON, or not a mapping.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError("training config file does not exist", path=path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"invalid YAML ({exc})", path=path, line=None if mark is None else mark.line + 1) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"a training config is a mapping of keys, got {type(data).__name__}", path=path)
    return data


def apply_overrides(
    data: Mapping[str, Any],
    overrides: Mapping[str, Any] | Sequence[str] | None,
    known: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``data`` with ``overrides`` applied (see :func:`load_train_config`); does not validate.

    ``known`` lists the top-level keys an override may set (default: :class:`KimodoTrainConfig`'s).
    """
    import yaml

    out = dict(data)
    out["model"] = dict(out.get("model") or {}) if isinstance(out.get("model", {}), Mapping) else out["model"]
    if overrides is None:
        return out
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    else:
        items = []
        for text in overrides:
            key, sep, value = str(text).partition("=")
            if not sep or not key.strip():
                raise InputError(f"override {text!r} must look like key=value", field="set")
            try:
                items.append((key.strip(), yaml.safe_load(value)))
            except yaml.YAMLError:
                raise InputError(f"override {text!r}: value is not a YAML scalar", field=key.strip()) from None
    known = list(known) if known is not None else [f.name for f in fields(KimodoTrainConfig)]
    for key, value in items:
        if key.startswith("model."):
            if not isinstance(out["model"], dict):
                raise InputError("model must be a mapping of sizes", field="model")
            out["model"][key[len("model."):]] = value
        elif key in known:
            out[key] = value
        else:
            raise InputError(f"unknown key '{key}'; known: {', '.join(known)}", field=key)
    return out


def default_config_dict() -> dict[str, Any]:
    """Every field with its default (documentation and tests)."""
    out = {}
    for f in fields(KimodoTrainConfig):
        out[f.name] = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    return out


# --------------------------------------------------------------------------------------------------
# validation helpers (messages name the field and the allowed range)


def _model_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"must be a mapping of denoiser sizes ({', '.join(MODEL_KEYS)})", field="model")
    out = dict(value)
    for key in out:
        if key in DERIVED_MODEL_KEYS:
            raise InputError(
                f"is set from the dataset skeleton and the text encoder; remove it (settable: {', '.join(MODEL_KEYS)})",
                field=f"model.{key}",
            )
        if key not in MODEL_KEYS:
            raise InputError(f"unknown model key '{key}'; known: {', '.join(MODEL_KEYS)}", field=f"model.{key}")
    # validate the sizes now (not at the first training step) with placeholder data sizes
    from motiongen.models.kimodo.config import KimodoDenoiserConfig

    try:
        KimodoDenoiserConfig(feature_dim=21, num_joints=1, **out)
    except InputError as exc:
        message = str(exc).split(": ", 1)[-1] if exc.field else str(exc)
        raise InputError(message, field=f"model.{exc.field}" if exc.field else "model") from None
    return out


def _model_default(name: str) -> Any:
    from motiongen.models.kimodo.config import KimodoDenoiserConfig

    return next(f.default for f in fields(KimodoDenoiserConfig) if f.name == name)


def _text(name: str, value: Any) -> str:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise InputError(f"must be a non-empty path string, got {value!r}", field=name)
    return value


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise InputError(f"must be true or false, got {value!r}", field=name)


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"must be an integer >= {low}, got {value!r}", field=name)
    return int(value)


def _float(
    name: str, value: Any, low: float, high: float | None, *, low_open: bool = False, high_open: bool = False
) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high)
        )
    if not ok:
        lo = f"{'(' if low_open else '['}{low:g}"
        hi = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
        raise InputError(f"must be a number in {lo}, {hi}, got {value!r}", field=name)
    return float(value)
