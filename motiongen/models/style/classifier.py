"""A motion style classifier: ``StyleClassifier.from_pretrained("motiongen/style-classifier-smplx")``.

It names the style of a motion ("elderly", "exhausted", ...) from its joint positions, so that a
style edit can be measured: did ``motiongen edit walk.npz --style "in an elderly style"`` produce a
walk that a classifier trained on real elderly walks calls elderly? The shipped one is trained on
the Bandai Namco training split, with one head per Bandai label set:

- ``bandai-7``: dataset 2's 7 styles (active, elderly, exhausted, feminine, masculine, normal,
  youthful), about 2400 training clips;
- ``bandai-15``: dataset 1's 15 styles, about 140 training clips (so a weak head).

Network (:class:`StyleNet`): evaluator features (:func:`positions_to_evaluator_features`, heading
relative positions and velocities) normalised with the training split's mean and std, a 1x1 input
convolution, ``layers`` pre-activation residual blocks of two dilated 1-D convolutions (dilation
doubling per block, so a 64-frame window is seen whole), mean and max pooling over time, one linear
head per label set. It reads windows of ``window`` frames; a clip's probabilities are the mean of the
softmax over sliding windows (stride ``window // 4``, the last window ending on the last frame). A
clip shorter than ``window`` is padded by holding its last pose.

Folder layout (:meth:`StyleClassifier.save_pretrained`): ``config.json`` (format, model config with
the label sets, skeleton name, fps, training notes, version), ``model.safetensors`` (weights plus
``normalization.mean`` / ``.std``), ``skeleton.json`` and ``README.md`` (the model card).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motiongen.errors import InputError
from motiongen.models import frozen
from motiongen.models.evaluator.features import (
    evaluator_feature_dim,
    positions_to_evaluator_features,
)

# these names stay importable from here, where they lived before frozen.py
from motiongen.models.frozen import (  # noqa: F401
    CARD_FILE,
    CONFIG_FILE,
    MIN_STD,
    SKELETON_FILE,
    WEIGHTS_FILE,
)
from motiongen.skeleton.skeleton import Skeleton

STYLE_CLASSIFIER_FORMAT = "motiongen.style_classifier/1"
DEFAULT_STYLE_CLASSIFIER = "motiongen/style-classifier-smplx"
#: Shipped style classifiers: name -> folder under motiongen/assets/models.
KNOWN_STYLE_CLASSIFIERS = {DEFAULT_STYLE_CLASSIFIER: "style-classifier-smplx"}
DEFAULT_LABEL_SET = "bandai-7"
#: Bandai ``labels["dataset"]`` -> the head that reads its styles.
BANDAI_HEADS = {2: "bandai-7", 1: "bandai-15"}
#: ``config.json`` keys that ``version`` covers: those of ``StyleClassifier._config_dict``.
_HASHED_CONFIG_KEYS = ("format", "model", "skeleton_name", "fps")
#: Windows per forward pass when classifying (bounds memory on long clips).
_WINDOW_BATCH = 256


@dataclass(frozen=True)
class StyleClassifierConfig:
    """Sizes and label sets of a style classifier (stored in ``config.json`` under ``model``).

    Args:
        feature_dim: per-frame feature size (``evaluator_feature_dim(J)``: 133 on smplx22).
        width: channels of the temporal convolutions.
        layers: residual blocks (two convolutions each; dilation 1, 2, 4, ...).
        kernel: convolution kernel size in frames (odd).
        dropout: dropout inside the blocks and before the heads (training only).
        window: frames per window the network reads.
        label_sets: head name -> style names, in class-index order.
    """

    feature_dim: int = 133
    width: int = 64
    layers: int = 4
    kernel: int = 5
    dropout: float = 0.1
    window: int = 64
    label_sets: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, low in (("feature_dim", 1), ("width", 1), ("layers", 0), ("kernel", 1), ("window", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"must be an integer >= {low}, got {value!r}", field=f"model.{name}")
        if self.kernel % 2 == 0:
            raise InputError(f"must be odd (same-length convolutions), got {self.kernel}", field="model.kernel")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise InputError(f"must be a number in [0, 1), got {self.dropout!r}", field="model.dropout")
        if not isinstance(self.label_sets, Mapping) or not self.label_sets:
            raise InputError("must map at least one head name to its style names", field="model.label_sets")
        for head, styles in self.label_sets.items():
            if not isinstance(head, str) or not head or "." in head:
                raise InputError(f"head names are non-empty strings without '.', got {head!r}", field="model.label_sets")
            if not isinstance(styles, (list, tuple)) or len(styles) < 2 or len(set(styles)) != len(styles):
                raise InputError(f"head '{head}' needs at least 2 distinct style names, got {styles!r}",
                                 field=f"model.label_sets.{head}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["label_sets"] = {head: list(styles) for head, styles in self.label_sets.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StyleClassifierConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown style classifier config keys {unknown}; known: {sorted(known)}", field="model")
        values = dict(data)
        if "label_sets" in values and isinstance(values["label_sets"], Mapping):
            values["label_sets"] = {str(k): list(v) for k, v in values["label_sets"].items()}
        return cls(**values)


# ==================================================================================================
# Network
# ==================================================================================================
class _ResidualBlock(nn.Module):
    """``x + conv(drop(gelu(conv(gelu(norm(x))))))`` on ``[B, width, T]``, length preserved."""

    def __init__(self, width: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        padding = dilation * (kernel // 2)
        self.norm = nn.GroupNorm(1, width)
        self.conv1 = nn.Conv1d(width, width, kernel, padding=padding, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, kernel, padding=padding, dilation=dilation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.gelu(self.norm(x)))
        return x + self.conv2(self.dropout(F.gelu(h)))


class StyleNet(nn.Module):
    """Normalised features ``[B, T, feature_dim]`` -> logits per head ``{name: [B, C_name]}``."""

    def __init__(self, config: StyleClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.input = nn.Conv1d(config.feature_dim, config.width, 1)
        self.blocks = nn.ModuleList(
            _ResidualBlock(config.width, config.kernel, 2**i, config.dropout) for i in range(config.layers)
        )
        self.norm = nn.GroupNorm(1, config.width)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleDict(
            {head: nn.Linear(2 * config.width, len(styles)) for head, styles in config.label_sets.items()}
        )

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled window summary ``[B, 2 * width]`` (mean and max over time) of ``[B, T, D]``."""
        x = self.input(features.transpose(1, 2))
        for block in self.blocks:
            x = block(x)
        x = F.gelu(self.norm(x))
        return self.dropout(torch.cat([x.mean(-1), x.amax(-1)], -1))

    def forward(self, features: torch.Tensor, head: str | None = None) -> dict[str, torch.Tensor]:
        """Logits of every head, or of ``head`` only (``{head: [B, C]}``)."""
        pooled = self.embed(features)
        names = list(self.heads) if head is None else [head]
        return {name: self.heads[name](pooled) for name in names}


# ==================================================================================================
# Windows and features (shared with the trainer, so training and inference read clips alike)
# ==================================================================================================
def hold_last_pose(positions: np.ndarray, frames: int) -> np.ndarray:
    """``positions [T, J, 3]`` extended to at least ``frames`` frames by repeating the last frame."""
    missing = frames - positions.shape[0]
    if missing <= 0:
        return positions
    return np.concatenate([positions, np.repeat(positions[-1:], missing, axis=0)], 0)


def style_features(positions: np.ndarray, skeleton: Skeleton, fps: float, window: int) -> np.ndarray:
    """Raw (unnormalised) features ``[max(T, window), D]`` of one motion ``[T, J, 3]``.

    A motion shorter than ``window`` holds its last pose to ``window`` frames first, so it is read as
    a short action followed by standing still rather than as a repeated final velocity.
    """
    return positions_to_evaluator_features(hold_last_pose(np.asarray(positions), window), skeleton, fps)


def window_starts(length: int, window: int) -> list[int]:
    """First frames of the sliding windows over ``length >= window`` frames: stride ``window // 4``,
    plus a last window that ends on the last frame (so the tail is always read)."""
    stride = max(1, window // 4)
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


@torch.inference_mode()
def clip_probabilities(model: StyleNet, features: Sequence[np.ndarray], head: str) -> np.ndarray:
    """``[N, C]`` style probabilities of normalised clip features ``[T_i >= window, D]``: per clip, the
    mean of the softmax over its sliding windows (:func:`window_starts`)."""
    window = model.config.window
    was_training = model.training
    model.eval()
    windows: list[np.ndarray] = []
    owner: list[int] = []
    for i, f in enumerate(features):
        for s in window_starts(f.shape[0], window):
            windows.append(f[s : s + window])
            owner.append(i)
    num_classes = len(model.config.label_sets[head])
    sums = np.zeros((len(features), num_classes), dtype=np.float64)
    counts = np.bincount(np.asarray(owner, dtype=np.int64), minlength=len(features)) if owner else np.zeros(len(features))
    for start in range(0, len(windows), _WINDOW_BATCH):
        x = torch.from_numpy(np.stack(windows[start : start + _WINDOW_BATCH]).astype(np.float32))
        p = torch.softmax(model(x, head)[head], -1).double().numpy()
        np.add.at(sums, np.asarray(owner[start : start + _WINDOW_BATCH]), p)
    model.train(was_training)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


# ==================================================================================================
# Finding a classifier
# ==================================================================================================
def resolve_style_classifier(name_or_path: str | os.PathLike[str]) -> Path:
    """The style classifier folder of a known name or a path (see
    :func:`~motiongen.pipelines.bundle.resolve_component` for the errors)."""
    from motiongen.pipelines.bundle import models_dir, resolve_component

    text = os.fspath(name_or_path)
    export = models_dir() / KNOWN_STYLE_CLASSIFIERS.get(text, "style-classifier-smplx")
    return resolve_component(
        text, KNOWN_STYLE_CLASSIFIERS, "style classifier",
        f"motiongen train style-classifier --config configs/style_classifier_smplx.yaml --export {export}",
    )


# ==================================================================================================
# The classifier
# ==================================================================================================
class StyleClassifier:
    """A frozen style classifier over joint positions (see the module docstring).

    Args:
        model: the network (put in eval mode here).
        mean, std: ``[D]`` feature normalisation from the training split.
        skeleton: the rig of the joint positions to classify.
        fps: frame rate the features are computed at.
        info: training notes (data, steps, validation and test figures) kept in ``config.json``.
    """

    def __init__(
        self,
        model: StyleNet,
        mean: np.ndarray,
        std: np.ndarray,
        skeleton: Skeleton,
        fps: float = 30.0,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = frozen.freeze(model)
        self.config: StyleClassifierConfig = model.config
        self.mean, self.std = frozen.normalization_arrays(mean, std)
        expected = evaluator_feature_dim(skeleton.num_joints)
        if self.config.feature_dim != expected or self.mean.shape != (expected,) or self.std.shape != (expected,):
            raise InputError(
                f"feature sizes disagree: model {self.config.feature_dim}, statistics {self.mean.shape}, "
                f"skeleton '{skeleton.name}' ({skeleton.num_joints} joints) needs {expected}",
                field="model.feature_dim",
            )
        self.skeleton = skeleton
        self.fps = float(fps)
        self.info = dict(info or {})
        self._version: str | None = None

    # ---------------------------------------------------------------------------------------------
    @property
    def label_sets(self) -> dict[str, list[str]]:
        """Head name -> style names in class-index order (a copy)."""
        return {head: list(styles) for head, styles in self.config.label_sets.items()}

    @property
    def window(self) -> int:
        return self.config.window

    def _state(self) -> dict[str, torch.Tensor]:
        return frozen.normalized_state(self.model, self.mean, self.std)

    def _config_dict(self) -> dict[str, Any]:
        return {
            "format": STYLE_CLASSIFIER_FORMAT,
            "model": self.config.to_dict(),
            "skeleton_name": self.skeleton.name,
            "fps": self.fps,
        }

    @property
    def version(self) -> str:
        """Short hash of config and weights as stored (a loaded classifier: of its file's tensors)."""
        if self._version is None:
            self._version = frozen.tensors_digest(self._config_dict(), self._state())
        return self._version

    # ---------------------------------------------------------------------------------------------
    def _check_label_set(self, label_set: str) -> None:
        if label_set not in self.config.label_sets:
            raise InputError(
                f"unknown label set '{label_set}'; known: {', '.join(self.config.label_sets)}", field="label_set"
            )

    def _as_motions(self, positions: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        """One array ``[T, J, 3]``, a batch ``[N, T, J, 3]`` or a sequence of ``[T_i, J, 3]`` -> a list,
        each checked (shape, at least 2 frames, finite)."""
        if isinstance(positions, np.ndarray) or torch.is_tensor(positions):
            array = np.asarray(positions)
            if array.ndim == 3:
                items, names = [array], ["positions"]
            elif array.ndim == 4:
                items, names = list(array), [f"positions[{i}]" for i in range(array.shape[0])]
            else:
                raise InputError(
                    f"positions have shape {array.shape}; expected [T, {self.skeleton.num_joints}, 3] "
                    f"or a batch [N, T, {self.skeleton.num_joints}, 3]",
                    field="positions",
                )
        else:
            items = [np.asarray(p) for p in positions]
            names = [f"positions[{i}]" for i in range(len(items))]
        j = self.skeleton.num_joints
        out = []
        for name, p in zip(names, items):
            if p.ndim != 3 or p.shape[1:] != (j, 3):
                raise InputError(
                    f"shape {p.shape}; expected [T, {j}, 3] joint positions on '{self.skeleton.name}'", field=name
                )
            if p.shape[0] < 2:
                raise InputError(f"a motion needs at least 2 frames to be classified, got {p.shape[0]}", field=name)
            if not np.issubdtype(p.dtype, np.number) or not np.isfinite(p).all():
                raise InputError("positions contain NaN or infinite values", field=name)
            out.append(p.astype(np.float64, copy=False))
        return out

    def features(self, positions: np.ndarray) -> np.ndarray:
        """Normalised features ``[max(T, window), D]`` of one motion ``[T, J, 3]``."""
        raw = style_features(positions, self.skeleton, self.fps, self.config.window)
        return (raw - self.mean) / self.std

    def predict_proba(
        self, positions: np.ndarray | Sequence[np.ndarray], label_set: str = DEFAULT_LABEL_SET
    ) -> np.ndarray:
        """``[N, C]`` style probabilities (rows sum to 1; columns in ``label_sets[label_set]`` order).

        Args:
            positions: joint positions ``[T, J, 3]`` (metres, Y up, floor at y = 0) on the classifier's
                skeleton at its fps; one array, a batch ``[N, T, J, 3]`` or a sequence of arrays.
            label_set: the head to read (``"bandai-7"``, ``"bandai-15"``).

        Raises:
            InputError: an unknown label set, a wrong shape or joint count, fewer than 2 frames, or
                non-finite values (the field names the motion).
        """
        self._check_label_set(label_set)
        motions = self._as_motions(positions)
        if not motions:
            return np.zeros((0, len(self.config.label_sets[label_set])), dtype=np.float32)
        return clip_probabilities(self.model, [self.features(p) for p in motions], label_set)

    def classify(self, positions: np.ndarray | Sequence[np.ndarray], label_set: str = DEFAULT_LABEL_SET) -> list[str]:
        """The most probable style of each motion (see :meth:`predict_proba`)."""
        probabilities = self.predict_proba(positions, label_set)  # checks label_set first
        styles = self.config.label_sets[label_set]
        return [styles[int(i)] for i in probabilities.argmax(-1)]

    # ---------------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path, *, weights_dtype: str = "float16", card: str | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors``, ``skeleton.json`` and ``README.md`` to ``folder``.

        ``card`` replaces the generated model card. The version recorded (and named on the card) is
        that of the weights as stored, which is what :meth:`from_pretrained` reports.
        """
        frozen.write_frozen_model(
            folder, self._config_dict(), self._state(), self.skeleton, info=self.info, weights_dtype=weights_dtype,
            card=card if card is not None else lambda version: model_card(self, version, weights_dtype),
        )
        return Path(folder)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str] = DEFAULT_STYLE_CLASSIFIER) -> "StyleClassifier":
        """Load a shipped classifier by name (``"motiongen/style-classifier-smplx"``) or a folder
        written by :meth:`save_pretrained`."""
        files = frozen.read_frozen_model(
            resolve_style_classifier(name_or_path), STYLE_CLASSIFIER_FORMAT, "style classifier", _HASHED_CONFIG_KEYS
        )
        model = StyleNet(StyleClassifierConfig.from_dict(files.config["model"]))
        model.load_state_dict(files.weights)
        classifier = cls(model, files.mean, files.std, files.skeleton, files.config.get("fps", 30.0), files.config.get("info"))
        classifier._version = files.version
        classifier.info["path"] = str(files.folder)
        return classifier


# ==================================================================================================
# Model card
# ==================================================================================================
def _figure(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def model_card(classifier: StyleClassifier, version: str, weights_dtype: str = "float16") -> str:
    """The ``README.md`` of a saved classifier: what it reads, how it was trained, its figures as
    recorded in ``info`` (validation accuracy of the selected step; test accuracy when measured)."""
    cfg = classifier.config
    info = classifier.info
    params = sum(p.numel() for p in classifier.model.parameters())
    data = info.get("data") or {}
    validation = (info.get("validation") or {}).get("heads", {})
    test = (info.get("test") or {}).get("heads", {})
    lines = [
        "# motiongen/style-classifier-smplx",
        "",
        "A motion style classifier that measures style edits: it names the style of joint positions",
        f"on `{classifier.skeleton.name}` at {classifier.fps:g} fps, one head per Bandai Namco label set.",
        "",
        f"- input: heading-relative joint positions and velocities ({cfg.feature_dim}-d per frame, "
        "`motiongen.models.evaluator.features`), normalised with the training split's mean and std",
        f"- network: temporal conv net, {cfg.layers} residual blocks of width {cfg.width} (kernel {cfg.kernel}, "
        f"dilation doubling), mean + max pooling, one linear head per label set; {params / 1e3:.0f} k parameters "
        f"({weights_dtype} weights)",
        f"- reading a clip: windows of {cfg.window} frames, stride {max(1, cfg.window // 4)}, mean of the softmax; "
        "a shorter clip holds its last pose",
        "- label sets: " + "; ".join(f"`{h}` ({len(s)}: {', '.join(s)})" for h, s in cfg.label_sets.items()),
        f"- version: `{version}`",
    ]
    if info.get("best_step") is not None:
        lines.append(
            f"- training: {info.get('steps')} steps on the training split (mirrored copies included"
            f"{', ' + str(data['train_clips']) + ' clips' if 'train_clips' in data else ''}); the weights are those "
            f"of step {info['best_step']}, the best mean validation accuracy; the test split chose nothing"
        )
    rows = [(head, validation.get(head, {}), test.get(head, {})) for head in cfg.label_sets]
    if validation or test:
        lines += [
            "",
            "## Accuracy (whole clips, unmirrored)",
            "",
            "| label set | val accuracy | val clips | test accuracy | test clips | chance |",
            "|---|---|---|---|---|---|",
        ]
        for head, v, t in rows:
            lines.append(
                f"| {head} | {_figure(v.get('accuracy'))} | {v.get('clips', 0)} | {_figure(t.get('accuracy'))} | "
                f"{t.get('clips', 0)} | {1 / len(cfg.label_sets[head]):.3f} |"
            )
        lines += [
            "",
            "Copied from `info` in `config.json` (written by the trainer's export). Held-out clips are other",
            "takes of the same studio performances (the data names no actors, and dataset 2 plays one uniform",
            "expression per style), so these figures are a ceiling: motion from elsewhere (other capture sets,",
            "generated or edited motion) is read less surely. Compare a style's probability before and after an",
            "edit rather than trusting a single label.",
        ]
    lines += [
        "",
        "## Data and licence",
        "",
        "Trained on the Bandai Namco Research Motion Dataset (CC BY-NC 4.0), so the weights inherit",
        "CC BY-NC 4.0: non-commercial use only.",
        "",
    ]
    return "\n".join(lines)
