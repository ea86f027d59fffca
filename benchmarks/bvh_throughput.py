"""BVH throughput and round-trip fidelity over the Bandai-Namco dataset (3,076 files, 548 MB).

For every file (or ``--limit`` files spread over both datasets): time ``read_bvh``, time ``write_bvh``
of the result, read the written file back and record the largest joint-position difference (FK, metres)
and whether fps, frame count and channel layout survived. Prints a markdown table and writes JSON with
the machine and date. Single process, so the rates (wall clock) are per core; CPU seconds are
recorded beside wall seconds because a busy machine slows the wall clock.

    python benchmarks/bvh_throughput.py [--source DATA_DIR] [--cache DIR] [--limit N] [--out JSON]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from motiongen.data.archives import default_cache_dir, resolve_data_dir, unpacked
from motiongen.io.bvh import read_bvh, write_bvh

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "bvh_throughput.json"


def bandai_files(source: Path | None, cache: Path | None, limit: int | None) -> list[Path]:
    """The Bandai BVH files, sorted; ``limit`` of them evenly spread over the list when given."""
    root = unpacked("bandai", resolve_data_dir(source), cache or default_cache_dir()) / "dataset"
    files = sorted(root.glob("Bandai-Namco-Research-Motiondataset-*/data/*.bvh"))
    if limit is not None and limit < len(files):
        files = [files[int(i)] for i in np.linspace(0, len(files) - 1, max(limit, 1))]
    return files


def measure(files: list[Path]) -> dict[str, Any]:
    """Read, write and re-read every file; rates and the worst round-trip error."""
    read_s = write_s = read_cpu = write_cpu = 0.0
    total_bytes = frames = written_bytes = 0
    worst, worst_file, mismatches, failures = 0.0, "", [], []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "copy.bvh"
        for path in tqdm(files, desc="bvh round trip", unit="file"):
            try:
                start, cpu = time.perf_counter(), time.process_time()
                motion = read_bvh(path)
                read_s += time.perf_counter() - start
                read_cpu += time.process_time() - cpu
                start, cpu = time.perf_counter(), time.process_time()
                write_bvh(motion, out)
                write_s += time.perf_counter() - start
                write_cpu += time.process_time() - cpu
                again = read_bvh(out)
            except Exception as error:  # a benchmark reports every file it could not handle
                failures.append(f"{path.name}: {error}")
                continue
            total_bytes += path.stat().st_size
            written_bytes += out.stat().st_size
            frames += motion.num_frames
            same = (
                again.fps == motion.fps
                and again.num_frames == motion.num_frames
                and again.meta["bvh"]["channels"] == motion.meta["bvh"]["channels"]
            )
            if not same:
                mismatches.append(path.name)
            error = float(np.abs(again.joint_positions() - motion.joint_positions()).max())
            if error > worst:
                worst, worst_file = error, path.name
    done = len(files) - len(failures)
    return {
        "files": done,
        "megabytes": total_bytes / 1e6,
        "frames": frames,
        "read": {
            "seconds": read_s,
            "cpu_seconds": read_cpu,
            "mb_per_s": total_bytes / 1e6 / read_s if read_s else None,
            "frames_per_s": frames / read_s if read_s else None,
            "files_per_s": done / read_s if read_s else None,
        },
        "write": {
            "seconds": write_s,
            "cpu_seconds": write_cpu,
            "mb_per_s": written_bytes / 1e6 / write_s if write_s else None,
            "frames_per_s": frames / write_s if write_s else None,
            "files_per_s": done / write_s if write_s else None,
        },
        "round_trip": {
            "max_position_error_m": worst,
            "worst_file": worst_file,
            "layout_fps_or_frame_mismatches": mismatches,
        },
        "failures": failures,
    }


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| step | wall s | CPU s | MB/s | frames/s | files/s |",
        "|---|---|---|---|---|---|",
    ]
    for step in ("read", "write"):
        r = result[step]
        rates = f"{r['mb_per_s'] or 0:.1f} | {r['frames_per_s'] or 0:,.0f} | {r['files_per_s'] or 0:.1f}"
        rows.append(f"| {step} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {rates} |")
    rt = result["round_trip"]
    rows.append("")
    rows.append(
        f"{result['files']} files, {result['megabytes']:.1f} MB, {result['frames']:,} frames; read->write->read max "
        f"position error {rt['max_position_error_m']:.2e} m ({rt['worst_file'] or '-'}); "
        f"{len(rt['layout_fps_or_frame_mismatches'])} layout/fps/frame mismatches; {len(result['failures'])} failures"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=None, help="folder holding the data archives")
    parser.add_argument(
        "--cache", type=Path, default=None, help="unpack cache (default $MOTIONGEN_CACHE or ~/.cache/motiongen)"
    )
    parser.add_argument("--limit", type=int, default=None, help="only this many files, spread over both datasets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON result (default {DEFAULT_OUT})")
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="torch intra-op threads (default 1: per-core rates)"
    )
    args = parser.parse_args(argv)
    # Euler conversions run through torch, whose thread pool stalls on small arrays when the other
    # cores are busy; one thread gives steady per-core rates
    torch.set_num_threads(args.torch_threads)
    files = bandai_files(args.source, args.cache, args.limit)
    result = {
        "benchmark": "bvh_throughput",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "limit": args.limit,
        "torch_threads": args.torch_threads,
        **measure(files),
    }
    print(markdown(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temp = args.out.with_name(args.out.name + ".part")
    temp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(temp, args.out)
    print(f"wrote {args.out}")
    return 1 if result["failures"] or result["round_trip"]["layout_fps_or_frame_mismatches"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
