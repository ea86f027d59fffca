"""A trained KIMODO model on disk: ``KIMODOBundle.from_pretrained`` / ``save_pretrained``.

Artifact folder (diffusers-like: one sub-folder per component, each with a ``config.json``)::

    model_index.json            class names, component paths, fps, text-encoder reference, info
    denoiser/config.json        KimodoDenoiserConfig
    denoiser/model.safetensors  TwoStageDenoiser weights (fp32, or fp16 to halve the size)
    scheduler/config.json       DiffusionConfig (the noise schedule the model was trained with)
    skeleton.json               the rig (Skeleton.to_dict): a bundle runs without the archives
    stats/feature_stats.npz     FeatureStats (+ .json beside it, readable)
    README.md                   model card

The text encoder is *referenced*, not stored: ``{"type": "minilm"}`` (the pip package), or
``{"type": "clip" | "llm2vec", "path": ...}``, or ``{"artifact": ...}``; relative paths are taken
from the bundle folder.

Names: ``motiongen/kimodo-smplx`` (the shipped model) resolves to the package folder
``motiongen/assets/models/kimodo-smplx/``; an existing folder resolves to itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from motiongen.io.atomic import ordinary_mode
from motiongen import __version__
from motiongen.errors import DataNotFoundError, InputError, UnknownNameError
from motiongen.motion.kimodo_features import FeatureStats, KimodoFeatures
from motiongen.pipelines import DEFAULT_MODEL
from motiongen.skeleton.skeleton import Skeleton

#: Shipped models: name -> folder under motiongen/assets/models.
KNOWN_MODELS = {DEFAULT_MODEL: "kimodo-smplx", "motiongen/smog-smplx": "smog-smplx"}
#: How to make each shipped model when its folder is missing.
_TRAIN_HINTS = {
    DEFAULT_MODEL: "motiongen train kimodo --config configs/kimodo_smplx.yaml",
    "motiongen/smog-smplx": "motiongen train smog --config configs/smog_smplx.yaml",
}
BUNDLE_FORMAT = "motiongen.kimodo_bundle/1"

INDEX_FILE = "model_index.json"
DENOISER_DIR = "denoiser"
SCHEDULER_DIR = "scheduler"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
SKELETON_FILE = "skeleton.json"
STATS_FILE = "stats/feature_stats.npz"
CARD_FILE = "README.md"

_WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def models_dir() -> Path:
    """``motiongen/assets/models``: where shipped bundles live inside the installed package."""
    return Path(__file__).resolve().parents[1] / "assets" / "models"


def resolve_model(name_or_path: str | os.PathLike[str]) -> Path:
    """The bundle folder for a known model name or a folder path.

    Raises:
        DataNotFoundError: a known name whose folder is not installed.
        UnknownNameError: neither a known name nor an existing folder (the message lists the names).
        InputError: an existing path that is a file, not a bundle folder.
    """
    text = os.fspath(name_or_path)
    if text in KNOWN_MODELS:
        folder = models_dir() / KNOWN_MODELS[text]
        # a KIMODO bundle has model_index.json, a single-component model (SMoG) config.json
        if not ((folder / INDEX_FILE).is_file() or (folder / CONFIG_FILE).is_file()):
            raise DataNotFoundError(
                f"model '{text}' is not installed (no {INDEX_FILE} or {CONFIG_FILE} in {folder}); train one with "
                f"`{_TRAIN_HINTS[text]}` and export it there, or pass --model with the path of a trained model folder"
            )
        return folder
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise InputError("is a file; a model is a bundle folder holding model_index.json", path=path, field="model")
    known = ", ".join(KNOWN_MODELS)
    raise UnknownNameError(f"unknown model '{text}': not a known name (known: {known}) and no folder at that path")


def resolve_component(name_or_path: str | os.PathLike[str], known: dict[str, str], what: str, train_command: str) -> Path:
    """The folder of a shipped one-file-set model (the evaluator, the style classifier): a name of
    ``known`` (name -> folder under :func:`models_dir`) or a folder holding ``config.json``.

    Raises:
        DataNotFoundError: a known name that is not installed (the message gives ``train_command``).
        UnknownNameError: neither a known name nor a folder with ``config.json``.
    """
    text = os.fspath(name_or_path)
    if text in known:
        folder = models_dir() / known[text]
        if not (folder / CONFIG_FILE).is_file():
            raise DataNotFoundError(
                f"{what} '{text}' is not installed (no {CONFIG_FILE} in {folder}); train one with `{train_command}`"
            )
        return folder
    path = Path(text).expanduser()
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        return path
    raise UnknownNameError(f"'{text}' is neither a known {what} ({', '.join(known)}) nor a folder with {CONFIG_FILE}")


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device; :class:`InputError` if unknown or (CUDA) not available."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device '{device}'; use cpu or cuda", field="device") from None
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"unsupported device '{device}'; use cpu or cuda", field="device")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but no CUDA GPU is available; use --device cpu", field="device")
    return dev


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{what} missing: not a complete KIMODO bundle", path=path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON in {what} ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise InputError(f"{what} must hold a JSON object", path=path)
    return data


def _resolve_text_spec(spec: Any, root: Path, depth: int = 0) -> dict[str, Any]:
    """The stored text-encoder reference, ready for ``motiongen.text.load_text_encoder``.

    A relative ``path`` is made absolute (relative to the bundle folder); ``{"artifact": folder}``
    means "the text encoder of that other bundle" and is replaced by its (resolved) reference.
    """
    if not isinstance(spec, Mapping):
        raise InputError(f"text_encoder must be a JSON object, got {spec!r}", path=root / INDEX_FILE, field="text_encoder")
    out = dict(spec)
    if "artifact" in out:
        other = (root / str(out["artifact"])).expanduser().resolve()
        if depth > 8:
            raise InputError("text_encoder artifact references form a loop", path=root / INDEX_FILE, field="text_encoder")
        index = _read_json(other / INDEX_FILE, f"{INDEX_FILE} of the text encoder's artifact")
        return _resolve_text_spec(index.get("text_encoder") or {"type": "minilm"}, other, depth + 1)
    if isinstance(out.get("path"), str) and not Path(out["path"]).expanduser().is_absolute():
        out["path"] = str((root / out["path"]).resolve())
    return out


@dataclass
class KIMODOBundle:
    """Everything a KIMODO pipeline needs, loaded from (or saved to) one folder.

    Attributes:
        denoiser: the two-stage denoiser (``denoiser.config`` is its KimodoDenoiserConfig).
        schedule: the cosine noise schedule (CosineSchedule) the model was trained with.
        features: the feature layout (skeleton + fps) the model reads and writes, ``D = 9 + 12J``.
        stats: normalisation statistics of the training features.
        skeleton: the rig of the generated motion.
        text_encoder_spec: reference to the text encoder (see the module docstring).
        model_card: README.md text.
        info: free-form provenance (data, splits, steps, hardware, wall time, licence, ...).
        sampling: the model's recommended sampling settings, used where a call gives none:
            ``cfg`` (``[type, weight(s)]`` without constraints) and ``constrained_cfg`` (with them).
            Stored as ``"sampling"`` in ``model_index.json``; missing keys fall back to KIMODO's
            defaults (regular 2.0; separated 2.0 / 2.0).
    """

    denoiser: Any  # TwoStageDenoiser (imported lazily: the model package loads torch modules)
    schedule: Any  # CosineSchedule
    features: KimodoFeatures
    stats: FeatureStats
    skeleton: Skeleton
    text_encoder_spec: dict[str, Any] = field(default_factory=lambda: {"type": "minilm"})
    model_card: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        config: Any,
        stats: FeatureStats,
        skeleton: Skeleton,
        *,
        text_encoder_spec: Mapping[str, Any] | None = None,
        diffusion: Any = None,
        model_card: str = "",
        info: Mapping[str, Any] | None = None,
        state_dict: Mapping[str, torch.Tensor] | None = None,
        sampling: Mapping[str, Any] | None = None,
    ) -> "KIMODOBundle":
        """A bundle around a new TwoStageDenoiser(config, stats) (random init, or ``state_dict``).

        Checks that the config, statistics and skeleton agree on the feature size ``D = 9 + 12J``.
        """
        from motiongen.models.kimodo.config import DiffusionConfig
        from motiongen.models.kimodo.denoiser import TwoStageDenoiser
        from motiongen.models.kimodo.diffusion import CosineSchedule

        features = KimodoFeatures(skeleton, fps=float(config.fps))
        _check_sizes(config, stats, features)
        denoiser = TwoStageDenoiser(config, stats)
        if state_dict is not None:
            denoiser.load_state_dict(dict(state_dict), strict=True)
        denoiser.eval()
        return cls(
            denoiser=denoiser,
            schedule=CosineSchedule.from_config(diffusion if diffusion is not None else DiffusionConfig()),
            features=features,
            stats=stats,
            skeleton=skeleton,
            text_encoder_spec=dict(text_encoder_spec or {"type": "minilm"}),
            model_card=model_card,
            info=dict(info or {}),
            sampling=dict(sampling or {}),
        )

    @property
    def config(self) -> Any:
        """The denoiser's KimodoDenoiserConfig."""
        return self.denoiser.config

    @property
    def max_frames(self) -> int:
        """Longest motion (frames) one sampling pass may generate."""
        return int(self.config.max_frames)

    @property
    def fps(self) -> float:
        return self.features.fps

    # ----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike[str] = DEFAULT_MODEL, *, device: str | torch.device = "cpu"
    ) -> "KIMODOBundle":
        """Load a bundle folder (or a known name, see :func:`resolve_model`) onto ``device``.

        Weights stored in fp16 are loaded back as fp32 (the CPU path is fp32 throughout).
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from motiongen.models.kimodo.config import DiffusionConfig, KimodoDenoiserConfig
        from motiongen.models.kimodo.official import (
            is_official_state_dict,
            official_to_ours,
        )

        root = resolve_model(name_or_path)
        index = _read_json(root / INDEX_FILE, INDEX_FILE)
        if index.get("format") != BUNDLE_FORMAT:
            raise InputError(
                f"unknown bundle format {index.get('format')!r}; this motiongen reads {BUNDLE_FORMAT!r}",
                path=root / INDEX_FILE,
                field="format",
            )
        components = index.get("components", {})
        den_dir = root / components.get("denoiser", DENOISER_DIR)
        cfg_path = den_dir / CONFIG_FILE
        raw = _read_json(cfg_path, "denoiser config")
        config = KimodoDenoiserConfig.from_dict({k: v for k, v in raw.items() if not k.startswith("_")}, path=cfg_path)
        sched_path = root / components.get("scheduler", SCHEDULER_DIR) / CONFIG_FILE
        sched = _read_json(sched_path, "scheduler config") if sched_path.is_file() else {}
        diffusion = DiffusionConfig.from_dict({k: v for k, v in sched.items() if not k.startswith("_")}, path=sched_path)
        skel_path = root / components.get("skeleton", SKELETON_FILE)
        skeleton = Skeleton.from_dict(_read_json(skel_path, "skeleton"))
        stats_path = root / components.get("stats", STATS_FILE)
        if not stats_path.is_file():
            raise InputError("feature statistics missing: not a complete KIMODO bundle", path=stats_path)
        stats = FeatureStats.load(stats_path)
        weights_path = den_dir / WEIGHTS_FILE
        if not weights_path.is_file():
            raise InputError("denoiser weights missing: not a complete KIMODO bundle", path=weights_path)
        try:
            state = load_file(str(weights_path))
        except (SafetensorError, OSError) as exc:
            raise InputError(f"unreadable safetensors file ({exc})", path=weights_path) from None
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        if is_official_state_dict(state):
            # an official KIMODO model.safetensors reused as it is (motiongen convert-checkpoint)
            state = official_to_ours(state, config, path=weights_path)
        card_path = root / CARD_FILE
        try:
            bundle = cls.create(
                config,
                stats,
                skeleton,
                text_encoder_spec=_resolve_text_spec(index.get("text_encoder") or {"type": "minilm"}, root),
                diffusion=diffusion,
                model_card=card_path.read_text() if card_path.is_file() else "",
                info=index.get("info") or {},
                state_dict=state,
                sampling=_check_sampling(index.get("sampling") or {}, root / INDEX_FILE),
            )
        except RuntimeError as exc:  # load_state_dict: missing/unexpected keys or shape mismatch
            raise InputError(f"weights do not match the denoiser config ({exc})", path=weights_path) from None
        bundle.info.setdefault("path", str(root))
        bundle.denoiser.to(check_device(device))
        return bundle

    def save_pretrained(
        self,
        out_dir: str | os.PathLike[str],
        *,
        weights_dtype: str = "float32",
        weights_source: str | os.PathLike[str] | None = None,
        weights_mode: str = "copy",
    ) -> Path:
        """Write the bundle folder ``out_dir`` atomically (a temporary folder renamed into place).

        An existing bundle at ``out_dir`` is replaced as a whole. ``weights_dtype`` ``"float16"``
        halves the file (loading casts back to fp32). Returns ``out_dir``.

        ``weights_source``: an existing weights file that :meth:`from_pretrained` reads as it is
        (ours, or an official KIMODO ``model.safetensors``), placed as the denoiser weights by
        ``weights_mode`` ``"copy"``, ``"hardlink"`` or ``"symlink"`` (absolute) instead of writing
        the denoiser's tensors; ``weights_dtype`` then names its dtype (``"bfloat16"`` allowed).
        """
        from safetensors.torch import save_file

        allowed = _WEIGHT_DTYPES if weights_source is None else (*_WEIGHT_DTYPES, "bfloat16", "mixed")
        if weights_dtype not in allowed:
            raise InputError(f"weights_dtype must be one of {', '.join(allowed)}", field="weights_dtype")
        if weights_mode not in WEIGHTS_MODES:
            raise InputError(f"weights_mode must be one of {', '.join(WEIGHTS_MODES)}", field="weights_mode")
        if weights_source is not None and not Path(weights_source).is_file():
            raise InputError("weights file does not exist", path=weights_source, field="weights_source")
        out = Path(out_dir).expanduser()
        if out.exists() and not out.is_dir():
            raise InputError("exists and is not a folder", path=out)
        if out.is_dir() and any(out.iterdir()) and not (out / INDEX_FILE).is_file():
            # refuse to replace a folder that is not a bundle: it would be deleted as a whole
            raise InputError("is a non-empty folder that is not a KIMODO bundle; choose another path", path=out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            (tmp / DENOISER_DIR).mkdir()
            if weights_source is not None:
                _place_file(Path(weights_source), tmp / DENOISER_DIR / WEIGHTS_FILE, weights_mode)
            else:
                dtype = _WEIGHT_DTYPES[weights_dtype]
                # clone: safetensors refuses tensors that share storage; contiguous CPU copies are safe
                state = {
                    k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous().clone()
                    for k, v in self.denoiser.state_dict().items()
                }
                save_file(state, str(tmp / DENOISER_DIR / WEIGHTS_FILE), metadata={"format": "pt", "dtype": weights_dtype})
            (tmp / DENOISER_DIR / CONFIG_FILE).write_text(
                json.dumps({"_class_name": "TwoStageDenoiser", **self.config.to_dict()}, indent=1)
            )
            (tmp / SCHEDULER_DIR).mkdir()
            (tmp / SCHEDULER_DIR / CONFIG_FILE).write_text(
                json.dumps({"_class_name": type(self.schedule).__name__, **self.schedule.config.to_dict()}, indent=1)
            )
            (tmp / SKELETON_FILE).write_text(self.skeleton.to_json())
            self.stats.save(tmp / STATS_FILE)
            (tmp / CARD_FILE).write_text(_with_sampling(self.model_card or _default_card(self), self.sampling))
            index = {
                "_class_name": "KIMODOBundle",
                "format": BUNDLE_FORMAT,
                "motiongen_version": __version__,
                "components": {
                    "denoiser": DENOISER_DIR,
                    "scheduler": SCHEDULER_DIR,
                    "skeleton": SKELETON_FILE,
                    "stats": STATS_FILE,
                },
                "classes": {
                    "denoiser": ["motiongen.models.kimodo.denoiser", "TwoStageDenoiser"],
                    "scheduler": ["motiongen.models.kimodo.diffusion", "CosineSchedule"],
                    "features": ["motiongen.motion.kimodo_features", "KimodoFeatures"],
                },
                "skeleton_name": self.skeleton.name,
                "fps": self.features.fps,
                "feature_dim": self.features.dim,
                "text_encoder": self.text_encoder_spec,
                "weights_dtype": weights_dtype,
                "info": {k: v for k, v in self.info.items() if k != "path"},
            }
            if self.sampling:
                index["sampling"] = self.sampling
            (tmp / INDEX_FILE).write_text(json.dumps(index, indent=1, default=str))
            _replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out


def _check_sizes(config: Any, stats: FeatureStats, features: KimodoFeatures) -> None:
    if int(config.feature_dim) != features.dim:
        raise InputError(
            f"denoiser feature_dim {config.feature_dim} != 9 + 12J = {features.dim} for skeleton "
            f"'{features.skeleton.name}' ({features.num_joints} joints)",
            field="feature_dim",
        )
    if int(config.num_joints) != features.num_joints:
        raise InputError(
            f"denoiser num_joints {config.num_joints} != skeleton joints {features.num_joints}", field="num_joints"
        )
    if stats.dim != features.dim:
        raise InputError(f"feature statistics cover {stats.dim} dims; the model has {features.dim}", field="stats")


def _ordinary_permissions(folder: Path) -> None:
    """Give ``folder``'s tree the modes a plain mkdir/open would (temp files are created 0700/0600).

    Symbolic links and hard-linked files are left alone: their modes belong to the file they share.
    """
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink() or (path.is_file() and path.stat().st_nlink > 1):
            continue
        path.chmod(ordinary_mode(0o777 if path.is_dir() else 0o666))


#: How ``save_pretrained(weights_source=...)`` places an existing weights file.
WEIGHTS_MODES = ("copy", "hardlink", "symlink")


def _place_file(source: Path, target: Path, mode: str) -> None:
    """Put ``source`` at ``target`` as a copy, a hard link or an absolute symbolic link."""
    source = source.resolve()
    try:
        if mode == "copy":
            shutil.copyfile(source, target)
        elif mode == "hardlink":
            os.link(source, target)
        else:
            os.symlink(source, target)
    except OSError as exc:
        hint = " (hard links need the same file system; use copy or symlink)" if mode == "hardlink" else ""
        raise InputError(f"cannot {mode} the weights into the bundle: {exc.strerror}{hint}", path=source) from None


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``; an old ``out`` is moved aside first, then removed."""
    _ordinary_permissions(tmp)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


SAMPLING_KEYS = ("cfg", "constrained_cfg")


def _check_sampling(sampling: Any, path: Path) -> dict[str, Any]:
    """The ``sampling`` entry of a model index, checked: known keys, guidance a pipeline accepts."""
    from motiongen.pipelines.kimodo import resolve_cfg

    if not isinstance(sampling, dict):
        raise InputError(f"'sampling' must be an object, got {type(sampling).__name__}", path=path, field="sampling")
    for key, value in sampling.items():
        if key not in SAMPLING_KEYS:
            raise InputError(f"unknown sampling setting '{key}'; known: {', '.join(SAMPLING_KEYS)}", path=path, field="sampling")
        try:
            resolve_cfg(tuple(value) if isinstance(value, list) else value)
        except InputError as exc:
            raise InputError(str(exc), path=path, field=f"sampling.{key}") from None
    return dict(sampling)


SAMPLING_HEADING = "## Recommended sampling"


def _with_sampling(card: str, sampling: Mapping[str, Any]) -> str:
    """``card`` with its recommended-sampling section rewritten from ``sampling`` (none: removed)."""
    head, _, rest = card.partition(SAMPLING_HEADING)
    tail = rest[rest.find("\n## ") :] if "\n## " in rest else ""
    card = head.rstrip("\n") + ("\n" + tail if tail else "\n")
    if not sampling:
        return card
    names = {"cfg": "guidance without constraints", "constrained_cfg": "guidance with constraints"}
    lines = []
    for key, value in sampling.items():
        kind, *weights = value if isinstance(value, (list, tuple)) else [value]
        flat = [w for item in weights for w in (item if isinstance(item, (list, tuple)) else [item])]
        lines.append(f"- {names[key]}: {kind} {' / '.join(f'{w:g}' for w in flat)}".rstrip())
    section = "\n".join([SAMPLING_HEADING, "", 'Used when a call gives none (`model_index.json`, "sampling"):', *lines, ""])
    return card.rstrip("\n") + "\n\n" + section


def _default_card(bundle: KIMODOBundle) -> str:
    cfg = bundle.config
    params = sum(p.numel() for p in bundle.denoiser.parameters())
    lines = [
        "# KIMODO text-to-motion model (motiongen)",
        "",
        f"- skeleton: {bundle.skeleton.name} ({bundle.skeleton.num_joints} joints), {bundle.features.fps:g} fps, "
        f"features D = {bundle.features.dim}",
        f"- denoiser: two-stage transformer, width {cfg.width}, {cfg.layers} layers per stage, {cfg.heads} heads, "
        f"ff {cfg.ff}, max {cfg.max_frames} frames, {params / 1e6:.2f} M parameters",
        f"- text encoder: {json.dumps(bundle.text_encoder_spec)}",
    ]
    lines += [f"- {k}: {v}" for k, v in bundle.info.items() if k != "path"]
    return "\n".join(lines) + "\n"
