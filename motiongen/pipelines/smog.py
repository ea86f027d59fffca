"""Text-to-motion with the SMoG autoencoder: a caption's embedding *is* a motion latent.

    from motiongen.pipelines.smog import SMoGPipeline
    pipe = SMoGPipeline.from_pretrained("motiongen/smog-smplx")
    pipe.text_to_motion("A person walks forward.", num_frames=60).save("walk.npz")

Generation is one decoder pass: the prompt's unit text embedding goes in as the latent ``z``
(:meth:`~motiongen.models.smog.model.SMoGAutoencoder.decode`), ``motion_135`` frames come out. There
is no noise anywhere, so one prompt and length always give the same motion (as the original SMoG):
``seed`` is accepted for a common interface, recorded, and has no effect; ``num_samples > 1`` gives
identical copies.

Model folder (``config.json`` format ``motiongen.smog/1``)::

    config.json         SMoGConfig under "model", fps, skeleton name, text-encoder spec, info
    model.safetensors   SMoGAutoencoder weights (fp32 or fp16; buffers such as KAN grids in fp32)
    skeleton.json       the rig (Skeleton.to_dict)
    README.md           model card
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motiongen import __version__
from motiongen.errors import InputError
from motiongen.models.smog.features import features_135_to_motion
from motiongen.models.smog.model import SMoGAutoencoder, SMoGConfig
from motiongen.pipelines.bundle import (
    _read_json,
    _replace_dir,
    check_device,
    resolve_model,
)
from motiongen.pipelines.checks import check_prompt, check_seed
from motiongen.pipelines.output import MotionOutput
from motiongen.skeleton.skeleton import Skeleton

SMOG_MODEL = "motiongen/smog-smplx"
SMOG_FORMAT = "motiongen.smog/1"
CONFIG_FILE, WEIGHTS_FILE, SKELETON_FILE, CARD_FILE = "config.json", "model.safetensors", "skeleton.json", "README.md"
FEATURES_NOTE = ("motion_135: canonical root translation (x, z from frame 0; y absolute) + 6D local rotations "
                 "(matrix_to_rotation_6d), motiongen.models.smog.features")
_WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def is_smog_folder(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds a SMoG model (its ``config.json`` says ``motiongen.smog/1``)."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("format") == SMOG_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class SMoGPipeline:
    """Deterministic text-to-motion with a trained :class:`SMoGAutoencoder`.

    Args:
        model: the autoencoder (its ``latent`` is the text encoder's width).
        skeleton: the rig of its ``motion_135`` frames.
        fps: frame rate of the frames it was trained on.
        text_encoder_spec: what :func:`motiongen.text.registry.load_text_encoder` loads (``"minilm"``).
        device: ``"cpu"`` (default) or ``"cuda"``.
        info: provenance (training steps, data, validation), stored in ``config.json``.
        model_card: the folder's ``README.md``.
        text_encoder: an encoder to use instead of the spec's (its ``dim`` must be the latent's).
        root_from_feet: post-processing moves the pelvis with the planted feet first (as
            :class:`~motiongen.pipelines.kimodo.KIMODOPipeline`); ``False`` keeps the decoded pace.
    """

    def __init__(
        self,
        model: SMoGAutoencoder,
        skeleton: Skeleton,
        fps: float,
        text_encoder_spec: Any = "minilm",
        device: str | torch.device = "cpu",
        *,
        info: Mapping[str, Any] | None = None,
        model_card: str = "",
        text_encoder: Any = None,
        text_cache_dir: str | os.PathLike[str] | None = None,
        root_from_feet: bool = True,
    ) -> None:
        if model.config.input_dim != 3 + 6 * skeleton.num_joints:
            raise InputError(f"the model reads {model.config.input_dim}-d frames; '{skeleton.name}' needs "
                             f"{3 + 6 * skeleton.num_joints}", field="skeleton")
        self.device = check_device(device)
        self.model = model.to(self.device).eval()
        self.skeleton = skeleton
        self.fps = float(fps)
        self.text_encoder_spec = text_encoder_spec
        self.info = dict(info or {})
        self.model_card = model_card
        self.root_from_feet = bool(root_from_feet)
        self._text_encoder = text_encoder
        self.text_cache_dir = text_cache_dir

    # ----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] = SMOG_MODEL,
        *,
        device: str | torch.device = "cpu",
        text_encoder: Any = None,
        text_cache_dir: str | os.PathLike[str] | None = None,
        root_from_feet: bool = True,
    ) -> SMoGPipeline:
        """Load a SMoG model folder (or the name ``motiongen/smog-smplx``); fp16 weights come back fp32."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        root = resolve_model(name_or_path)
        config = _read_json(root / CONFIG_FILE, CONFIG_FILE)
        if config.get("format") != SMOG_FORMAT:
            raise InputError(f"not a SMoG model folder (format {config.get('format')!r}, expected {SMOG_FORMAT!r})",
                             path=root / CONFIG_FILE, field="format")
        model = SMoGAutoencoder(SMoGConfig.from_dict(config["model"]))
        weights = root / WEIGHTS_FILE
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError) as exc:
            raise InputError(f"unreadable or missing weights ({exc})", path=weights) from None
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except RuntimeError as exc:
            raise InputError(f"weights do not match the model config ({exc})", path=weights) from None
        skeleton = Skeleton.from_dict(_read_json(root / SKELETON_FILE, "skeleton"))
        card = root / CARD_FILE
        info = {**(config.get("info") or {}), "path": str(root)}
        return cls(model, skeleton, float(config["fps"]), config.get("text_encoder") or "minilm", device, info=info,
                   model_card=card.read_text() if card.is_file() else "", text_encoder=text_encoder,
                   text_cache_dir=text_cache_dir, root_from_feet=root_from_feet)

    def save_pretrained(self, out_dir: str | os.PathLike[str], *, weights_dtype: str = "float32") -> Path:
        """Write the model folder atomically; ``float16`` halves the parameters (buffers stay fp32)."""
        from safetensors.torch import save_file

        if weights_dtype not in _WEIGHT_DTYPES:
            raise InputError(f"weights_dtype must be one of {', '.join(_WEIGHT_DTYPES)}", field="weights_dtype")
        out = Path(out_dir).expanduser()
        if out.exists() and not out.is_dir():
            raise InputError("exists and is not a folder", path=out)
        if out.is_dir() and any(out.iterdir()) and not is_smog_folder(out):
            raise InputError("is a non-empty folder that is not a SMoG model; choose another path", path=out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            parameters = {name for name, _ in self.model.named_parameters()}
            dtype = _WEIGHT_DTYPES[weights_dtype]
            state = {k: (v.detach().to("cpu", dtype) if k in parameters else v.detach().cpu()).contiguous().clone()
                     for k, v in self.model.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": SMOG_FORMAT, "dtype": weights_dtype})
            config = {
                "_class_name": "SMoGAutoencoder", "format": SMOG_FORMAT, "motiongen_version": __version__,
                "model": self.model.config.to_dict(), "skeleton_name": self.skeleton.name, "fps": self.fps,
                "features": FEATURES_NOTE, "text_encoder": self.text_encoder_spec, "weights_dtype": weights_dtype,
                "info": {k: v for k, v in self.info.items() if k != "path"},
            }
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1, default=str) + "\n")
            (tmp / SKELETON_FILE).write_text(self.skeleton.to_json())
            (tmp / CARD_FILE).write_text(self.model_card or f"# SMoG model\n\n{self.model.config.to_dict()}\n")
            _replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out

    # ----------------------------------------------------------------------------------------------
    @property
    def max_frames(self) -> int:
        return int(self.model.config.max_frames)

    @property
    def default_frames(self) -> int:
        """The window length it was trained on (60 frames, 2 s, for SMoG's recipe)."""
        return int(self.info.get("num_frames", 60))

    @property
    def text_encoder(self) -> Any:
        """The text encoder, loaded on first use; its width must be the model's latent."""
        if self._text_encoder is None:
            from motiongen.text.registry import load_text_encoder

            self._text_encoder = load_text_encoder(self.text_encoder_spec, cache_dir=self.text_cache_dir,
                                                   device=str(self.device))
        if int(self._text_encoder.dim) != self.model.config.latent:
            raise InputError(f"text encoder '{self._text_encoder.identifier}' gives {self._text_encoder.dim}-d "
                             f"vectors; the model's latent is {self.model.config.latent}-d", field="text_encoder")
        return self._text_encoder

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """``[N, latent]`` unit text embeddings of sanitised prompts: the latents that decode to motion."""
        from motiongen.text.base import sanitize_text

        vectors = np.asarray(self.text_encoder.encode([sanitize_text(p) for p in prompts]), dtype=np.float32)
        vectors = vectors.reshape(len(prompts), -1)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return torch.from_numpy(vectors).to(self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, num_frames: Sequence[int]) -> list[np.ndarray]:
        """``motion_135`` frames ``[num_frames[i], D]`` (float64) of latents ``z [N, latent]``, one padded pass."""
        lengths = [int(n) for n in num_frames]
        valid = torch.zeros(len(lengths), max(lengths), dtype=torch.bool, device=self.device)
        for i, n in enumerate(lengths):
            valid[i, :n] = True
        frames = self.model.decode(z.to(self.device), valid=valid).double().cpu().numpy()
        return [frames[i, :n] for i, n in enumerate(lengths)]

    # ----------------------------------------------------------------------------------------------

    def _check_frames(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= self.max_frames:
            raise InputError(f"must be an integer number of frames in [1, {self.max_frames}] "
                             f"({self.max_frames / self.fps:g} s at {self.fps:g} fps), got {value!r}", field=field)
        return int(value)


    def _output(self, frames: Sequence[np.ndarray], prompts: list[str], info: dict[str, Any], *,
                first_heading: float, postprocess: bool) -> MotionOutput:
        """A :class:`MotionOutput` of equally long ``frames``; contacts from KIMODO's heuristic on the result."""
        from motiongen.motion.kimodo_features import (
            foot_contacts_from_positions,
            root_heading,
            rotate_motion_yaw,
            smooth_root_position,
        )

        arrays: dict[str, list[np.ndarray]] = {}
        for x in frames:
            # training frames start at x = z = 0; the decoder only learns to; place it there exactly
            x = x.copy()
            x[:, [0, 2]] -= x[0, [0, 2]]
            motion = features_135_to_motion(x, self.skeleton, self.fps)
            if first_heading:
                motion = rotate_motion_yaw(motion, first_heading)
            local, root = motion.local_rotations, motion.root_translation
            glob, posed = self.skeleton.forward_kinematics(local, root)
            contacts = foot_contacts_from_positions(posed, self.skeleton, self.fps)
            if postprocess:
                from motiongen.postprocess import correct_motion

                local, root = correct_motion(local, root, self.skeleton, contacts, fps=self.fps,
                                             root_from_feet=self.root_from_feet)
                glob, posed = self.skeleton.forward_kinematics(local, root)
            heading = root_heading(posed, self.skeleton)
            smooth = root.copy()
            smooth[:, [0, 2]] = smooth_root_position(root[:, [0, 2]])
            for key, value in (("posed_joints", posed), ("global_rot_mats", glob), ("local_rot_mats", local),
                               ("foot_contacts", contacts), ("root_positions", root), ("smooth_root_pos", smooth),
                               ("global_root_heading", np.stack([np.cos(heading), np.sin(heading)], -1)),
                               ("features", x)):
                arrays.setdefault(key, []).append(np.asarray(value))
        stacked = {k: np.stack(v) for k, v in arrays.items()}
        stacked["features"] = stacked["features"].astype(np.float32)
        return MotionOutput(**stacked, fps=self.fps, skeleton=self.skeleton, prompts=prompts,
                            info={"model": self.info.get("path"), **info})

    def text_to_motion(
        self,
        prompt: str | Sequence[str],
        num_frames: int = 60,
        num_samples: int = 1,
        seed: int | None = None,
        *,
        first_heading: float = 0.0,
        postprocess: bool = True,
        **ignored: Any,
    ) -> MotionOutput:
        """The motion of ``num_frames`` frames that ``prompt`` decodes to (deterministic).

        Args:
            prompt: a description, or a list (prompt-major batch, ``num_samples`` each).
            num_frames: ``1 .. max_frames``; the model was trained on 60-frame (2 s) windows, so
                other lengths are extrapolation.
            num_samples: copies per prompt: all identical, SMoG has no noise.
            seed: recorded in ``info`` for a common interface; it changes nothing.
            first_heading: heading of frame 0 in radians (0 faces +Z).
            postprocess: foot-skate clean-up (:func:`motiongen.postprocess.correct_motion`) with
                contacts from KIMODO's height/speed heuristic on the decoded motion.
            ignored: diffusion options (``steps``, ``cfg``, ``progress``...) have no meaning here; only
                those are accepted, and they are listed in ``info["ignored"]``.
        """
        unknown = sorted(set(ignored) - {"steps", "cfg", "cfg_type", "cfg_weight", "progress", "root_margin"})
        if unknown:
            raise InputError(f"unknown options {unknown} for SMoG text-to-motion", field=unknown[0])
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise InputError("no prompt given", field="prompt")
        prompts = [check_prompt(p, "prompt") for p in prompts]
        num_frames = self._check_frames(num_frames, "num_frames")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise InputError(f"must be an integer >= 1, got {num_samples!r}", field="num_samples")
        seed = check_seed(seed)
        frames = self.decode(self.encode_text(prompts), [num_frames] * len(prompts))
        frames = [f for f in frames for _ in range(int(num_samples))]
        info: dict[str, Any] = {"seed": seed, "deterministic": True, "segments": [[0, num_frames, prompts[0]]],
                                "postprocess": bool(postprocess), "ignored": sorted(k for k, v in ignored.items() if v is not None)}
        if len(prompts) > 1:
            info["segments"] = None
            info["sample_prompts"] = [p for p in prompts for _ in range(int(num_samples))]
        return self._output(frames, prompts, info, first_heading=float(first_heading), postprocess=postprocess)

    def text_to_motions(
        self,
        prompts: Sequence[str],
        num_frames: Sequence[int],
        seed: int | None = None,
        *,
        postprocess: bool = True,
        batch_size: int = 64,
        progress: bool = False,
        **ignored: Any,
    ) -> list[MotionOutput]:
        """One motion per prompt, ``prompts[i]`` with ``num_frames[i]`` frames (the evaluation path).

        Decoded ``batch_size`` at a time in padded batches; a prompt's motion does not depend on the
        batch (padding is masked). ``seed`` and diffusion options are ignored as in :meth:`text_to_motion`.
        """
        from tqdm import tqdm

        prompts = [check_prompt(p, "prompts") for p in prompts]
        lengths = [self._check_frames(n, "num_frames") for n in num_frames]
        if len(prompts) != len(lengths):
            raise InputError(f"{len(prompts)} prompts but {len(lengths)} lengths", field="num_frames")
        seed = check_seed(seed)
        outputs: list[MotionOutput] = []
        for start in tqdm(range(0, len(prompts), batch_size), desc="decoding", unit="batch", disable=not progress):
            chunk = slice(start, start + batch_size)
            frames = self.decode(self.encode_text(prompts[chunk]), lengths[chunk])
            for p, n, x in zip(prompts[chunk], lengths[chunk], frames):
                info = {"seed": seed, "deterministic": True, "segments": [[0, n, p]], "postprocess": bool(postprocess)}
                outputs.append(self._output([x], [p], info, first_heading=0.0, postprocess=postprocess))
        return outputs
