"""Convert and verify a FULL-size KIMODO checkpoint in the official layout (random weights).

No official weights can be downloaded here, so this script writes a stand-in with the released
model's exact layout and sizes (reference 1.1: SOMA30, two stages x 16 layers, width 1024, 8 heads,
ff 2048, 50 text tokens of 4096-d; 283 M parameters): ``config.yaml`` in Hydra style,
``model.safetensors`` under the official key names (taken from plain ``nn.TransformerEncoderLayer``
modules named as KIMODO names them, not from motiongen's key table), and random
``stats/motion/{global_root,local_root,body}/{mean,std}.npy``. It then runs
``convert_checkpoint(..., verify=True)`` and reports sizes, seconds per phase and the largest
differences.

    python benchmarks/convert_checkpoint.py [--work DIR] [--copy-mode copy] [--threads 1]
        [--verify-frames 40] [--verify-steps 3] [--output benchmarks/results/convert_checkpoint.json]

Before writing it checks free disk and memory: float32 needs ~1.13 GB per copy of the weights
(source + converted) and ~7 GB of memory for the float64 verification; below that it writes the
checkpoint in float16 and says so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine_info import machine_info

SKELETON_TARGET = "kimodo.skeleton.SOMASkeleton30"
MODEL_NAME = "Kimodo-SOMA-RP-v1"
JOINTS, WIDTH, LAYERS, HEADS, FF, TEXT_DIM, TEXT_TOKENS = 30, 1024, 16, 8, 2048, 4096, 50
#: Bytes needed on disk (source + one converted copy, float32) and memory (float64 verification).
DISK_NEEDED = 2 * 1.2e9
MEMORY_NEEDED = 8e9

CONFIG_YAML = f"""_target_: kimodo.model.kimodo_model.Kimodo
num_base_steps: 1000
cfg_type: separated
checkpoint_path: ${{checkpoint_dir}}/model.safetensors
denoiser:
  _target_: kimodo.model.twostage_denoiser.TwostageDenoiser
  motion_mask_mode: concat
  motion_rep:
    _target_: kimodo.motion_rep.KimodoMotionRep
    fps: 30
    skeleton:
      _target_: {SKELETON_TARGET}
  llm_shape: [1, {TEXT_DIM}]
  use_text_mask: false
  latent_dim: {WIDTH}
  ff_size: {FF}
  num_layers: {LAYERS}
  num_heads: {HEADS}
  activation: gelu
  dropout: 0
  pe_dropout: 0
  norm_first: false
  num_text_tokens_override: {TEXT_TOKENS}
  input_first_heading_angle: true
"""


def memory_available() -> float:
    """MemAvailable from /proc/meminfo, bytes (inf where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return math.inf


def official_named_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of KIMODO's backbone at full size, from torch modules named as KIMODO names them
    (:func:`~motiongen.models.kimodo.official.kimodo_named_backbone`, on the meta device)."""
    import torch

    from motiongen.models.kimodo.config import KimodoDenoiserConfig
    from motiongen.models.kimodo.official import kimodo_named_backbone

    config = KimodoDenoiserConfig(
        feature_dim=9 + 12 * JOINTS, num_joints=JOINTS, text_dim=TEXT_DIM, num_text_tokens=TEXT_TOKENS,
        width=WIDTH, layers=LAYERS, heads=HEADS, ff=FF,
    )
    with torch.device("meta"):
        backbone = kimodo_named_backbone(config)
    return {f"denoiser.backbone.{k}": tuple(v.shape) for k, v in backbone.state_dict().items()}


def write_checkpoint(folder: Path, dtype: str, seed: int = 0) -> dict[str, float]:
    """The official folder with random weights; returns its sizes."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_named_shapes().items():
        if key.endswith(("norm1.weight", "norm2.weight")):
            value = 1 + 0.05 * torch.randn(shape, generator=gen)
        elif len(shape) == 2:
            value = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        else:
            value = 0.02 * torch.randn(shape, generator=gen)
        state[key] = value.to(getattr(torch, dtype))
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.yaml").write_text(CONFIG_YAML)
    rng = np.random.default_rng(seed)
    d = 9 + 12 * JOINTS
    for group, n in (("global_root", 5), ("local_root", 4), ("body", d - 5)):
        (folder / "stats" / "motion" / group).mkdir(parents=True, exist_ok=True)
        np.save(folder / "stats" / "motion" / group / "mean.npy", rng.normal(size=n).astype(np.float32))
        np.save(folder / "stats" / "motion" / group / "std.npy", rng.uniform(0.5, 1.5, size=n).astype(np.float32))
    return {
        "parameters": sum(v.numel() for v in state.values()),
        "weights_bytes": (folder / "model.safetensors").stat().st_size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="folder for the checkpoint and the artifact (default: a temporary one, removed)")
    parser.add_argument("--copy-mode", choices=("copy", "hardlink", "symlink"), default="copy")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--verify-frames", type=int, default=40)
    parser.add_argument("--verify-steps", type=int, default=3)
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "convert_checkpoint.json"))
    args = parser.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from motiongen.pipelines.convert_checkpoint import convert_checkpoint

    host = machine_info()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kimodo-convert-"))
    work.mkdir(parents=True, exist_ok=True)
    free_disk = shutil.disk_usage(work).free
    free_memory = memory_available()
    dtype = "float32"
    notes = []
    if free_disk < DISK_NEEDED or free_memory < MEMORY_NEEDED:
        dtype = "float16"
        notes.append(
            f"wrote float16 weights: {free_disk / 1e9:.1f} GB free disk / {free_memory / 1e9:.1f} GB free memory "
            f"is below {DISK_NEEDED / 1e9:.1f} GB / {MEMORY_NEEDED / 1e9:.1f} GB"
        )
    print(f"work folder {work}; free disk {free_disk / 1e9:.1f} GB, free memory {free_memory / 1e9:.1f} GB; "
          f"writing {dtype} weights")
    try:
        start = time.perf_counter()
        sizes = write_checkpoint(work / MODEL_NAME, dtype)
        generate_s = time.perf_counter() - start
        print(f"wrote the stand-in checkpoint: {sizes['parameters'] / 1e6:.1f} M parameters, "
              f"{sizes['weights_bytes'] / 1e9:.2f} GB in {generate_s:.1f} s")
        start = time.perf_counter()
        report = convert_checkpoint(
            MODEL_NAME,
            work / MODEL_NAME,
            work / "kimodo-soma-rp",
            no_text_encoder=True,
            copy_mode=args.copy_mode,
            verify=True,
            verify_frames=args.verify_frames,
            verify_steps=args.verify_steps,
        )
        total_s = time.perf_counter() - start
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    rows = [("generate stand-in checkpoint", generate_s)] + list(report.seconds.items()) + [("convert + verify total", total_s)]
    print()
    print(f"{'phase':<32} {'seconds':>9}")
    for name, value in rows:
        print(f"{name:<32} {value:>9.2f}")
    verify = report.verify or {}
    print()
    print(f"parameters {report.num_parameters:,} ({report.num_parameters / 1e6:.1f} M), weights "
          f"{report.weights_bytes / 1e9:.3f} GB {report.weights_dtype}, placed by {report.weights}")
    print(f"max |ours - reference| ({verify.get('dtype')}): denoiser pass {verify.get('denoiser_max_abs_diff'):.3g}, "
          f"{verify.get('steps')}-step DDIM {verify.get('ddim_max_abs_diff'):.3g} (tolerance {verify.get('tolerance'):g}: "
          f"{'passed' if verify.get('passed') else 'FAILED'})")
    for note in notes:
        print(f"note: {note}")

    host["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result = {
        "benchmark": "convert_checkpoint",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": host,
        "threads": args.threads,
        "model": MODEL_NAME,
        "checkpoint": {"dtype": dtype, **sizes, "weights": "random (stand-in; no official weights here)"},
        "copy_mode": args.copy_mode,
        "seconds": {"generate_checkpoint": generate_s, **report.seconds, "convert_and_verify_total": total_s},
        "report": report.to_dict(),
        "notes": notes,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {out}")
    return 0 if verify.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
