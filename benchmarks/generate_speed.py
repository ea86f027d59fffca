"""Benchmark: text-to-motion generation speed and memory of a KIMODO bundle.

    python benchmarks/generate_speed.py [--model NAME_OR_PATH] [--steps 10 25 50 100] [--frames 150]
                                        [--batch 16] [--threads 2] [--repeats 3] [--device cpu] [--out JSON]

For each DDIM step count: the latency of one sample (``text_to_motion`` end to end: encoding the
prompt (no embedding cache), the sampling loop with classifier-free guidance, decoding), the median
of ``--repeats`` runs after one warm-up run, with the CPU time beside it (a shared machine slows
the wall clock). Then the throughput of one batch of ``--batch`` samples at the default
step count (25). Peak memory is the process's maximum resident set size (``getrusage``; it covers
torch's allocator, which tracemalloc does not see) after loading and after each phase, plus
``torch.cuda.max_memory_allocated`` on a GPU. Prints a markdown table and writes JSON with the
machine, the date, the model and the numbers (default ``benchmarks/results/generate_speed.json``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from machine_info import machine_info

from motiongen.pipelines import DEFAULT_MODEL
from motiongen.pipelines.bundle import KIMODOBundle
from motiongen.pipelines.kimodo import KIMODOPipeline
from motiongen.text.registry import load_text_encoder

RESULTS = Path(__file__).resolve().parent / "results" / "generate_speed.json"
PROMPT = "A person walks forward, then turns around."
DEFAULT_STEPS = 25


def max_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1e6 if sys.platform == "darwin" else rss * 1024 / 1e6


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(pipe: KIMODOPipeline, device: str, **kwargs: Any) -> tuple[float, float]:
    """Wall and CPU seconds of one ``text_to_motion`` call (CPU time is less disturbed by a busy machine)."""
    sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    pipe.text_to_motion(PROMPT, **kwargs)
    sync(device)
    return time.perf_counter() - start, time.process_time() - cpu


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    host = machine_info(args.device)  # load average before the work
    rss_start = max_rss_mb()
    start = time.perf_counter()
    bundle = KIMODOBundle.from_pretrained(args.model, device=args.device)
    # no embedding cache: every call encodes its prompt, as a new prompt does, and the encoder's
    # memory is counted
    encoder = load_text_encoder(bundle.text_encoder_spec, cache_dir=False, device=args.device)
    pipe = KIMODOPipeline(bundle, args.device, text_encoder=encoder)
    pipe.encode_text([PROMPT])  # loads the text encoder
    load_s = time.perf_counter() - start
    frames = min(args.frames, pipe.max_frames)
    params = sum(p.numel() for p in pipe.bundle.denoiser.parameters())
    memory = {"start_mb": round(rss_start, 1), "after_load_mb": round(max_rss_mb(), 1)}

    latency = []
    for steps in args.steps:
        timed(pipe, args.device, num_frames=frames, steps=steps, seed=0)  # warm-up
        runs = [timed(pipe, args.device, num_frames=frames, steps=steps, seed=k) for k in range(args.repeats)]
        median = statistics.median(r[0] for r in runs)
        latency.append({"steps": steps, "median_s": round(median, 4), "runs_s": [round(r[0], 4) for r in runs],
                        "median_cpu_s": round(statistics.median(r[1] for r in runs), 4),
                        "ms_per_step": round(1000 * median / steps, 2)})
        print(f"  {steps:4d} steps: {median:.3f} s", file=sys.stderr)
    memory["after_single_mb"] = round(max_rss_mb(), 1)

    batch_s, batch_cpu = timed(pipe, args.device, num_frames=frames, steps=DEFAULT_STEPS, num_samples=args.batch, seed=0)
    memory["after_batch_mb"] = round(max_rss_mb(), 1)
    load_end = round(os.getloadavg()[0], 2)
    if args.device.startswith("cuda"):
        memory["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 1e6, 1)
    return {
        "benchmark": "generate_speed",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**host, "load_average_1m_end": load_end},
        "model": {
            "name": str(args.model),
            "path": bundle.info.get("path"),
            "text_encoder": encoder.identifier,
            "parameters": params,
            "width": pipe.bundle.config.width,
            "layers_per_stage": pipe.bundle.config.layers,
            "max_frames": pipe.max_frames,
        },
        "settings": {"frames": frames, "prompt": PROMPT, "cfg": "regular 2.0 (2 branches per step)",
                     "repeats": args.repeats, "threads": args.threads},
        "load_s": round(load_s, 3),
        "latency_one_sample": latency,
        "batch": {"samples": args.batch, "steps": DEFAULT_STEPS, "seconds": round(batch_s, 3), "cpu_s": round(batch_cpu, 3),
                  "samples_per_s": round(args.batch / batch_s, 3)},
        "peak_memory": memory,
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        f"{result['model']['parameters'] / 1e6:.2f} M parameters, {s['frames']} frames, {s['cfg']}, "
        f"{s['threads']} threads, {result['machine']['device']}",
        "",
        "| DDIM steps | latency, 1 sample (s) | CPU time (s) | ms / step |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['steps']} | {r['median_s']:.3f} | {r['median_cpu_s']:.3f} | {r['ms_per_step']:.1f} |"
        for r in result["latency_one_sample"]
    ]
    b = result["batch"]
    mem = result["peak_memory"]
    lines += [
        "",
        f"batch of {b['samples']} at {b['steps']} steps: {b['seconds']:.2f} s, {b['samples_per_s']:.2f} samples/s",
        f"peak RSS: {mem['after_load_mb']:.0f} MB after loading, {mem['after_single_mb']:.0f} MB after single samples, "
        f"{mem['after_batch_mb']:.0f} MB after the batch"
        + (f"; CUDA max allocated {mem['cuda_max_allocated_mb']:.0f} MB" if "cuda_max_allocated_mb" in mem else ""),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model name or bundle folder")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 50, 100], help="DDIM step counts")
    parser.add_argument("--frames", type=int, default=150, help="frames per sample (capped at the model's max)")
    parser.add_argument("--batch", type=int, default=16, help="samples in the throughput batch")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per step count (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    result = run(args)
    print(markdown(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
