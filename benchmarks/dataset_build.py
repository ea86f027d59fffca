"""Benchmark: the full dataset build from the archives, phase by phase.

    python benchmarks/dataset_build.py [--source DIR] [--cache DIR] [--workers 2]

Without ``--cache`` the build runs in a fresh temporary cache, so the unpack phase is measured too
(the temporary cache is removed afterwards). The build is forced, and a compact file is written to a
temporary folder. Prints a markdown table and writes ``benchmarks/results/dataset_build.json`` with
the machine (platform, CPU count, load average before and after: the machine may be shared), the
date, the phase timings and the dataset stats.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from motiongen.data.build import build_dataset

RESULTS = Path(__file__).resolve().parent / "results" / "dataset_build.json"


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def phase_rows(stats: dict[str, Any]) -> list[tuple[str, float]]:
    timings = stats["timings_s"]
    rows = [("unpack", timings["unpack"]), ("discover, splits", timings["discover"])]
    rows += [(f"parse + convert: {src}", sec) for src, sec in timings["convert"].items()]
    rows += [("write", timings["write"]), ("compact", stats["compact"]["seconds"]), ("total", stats["seconds"])]
    return rows


def markdown(stats: dict[str, Any]) -> str:
    lines = ["| phase | seconds |", "|---|---:|"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in phase_rows(stats)]
    lines += ["", "| part | clips | hours | captions |", "|---|---:|---:|---:|"]
    parts = [("total", stats["total"])]
    parts += [(f"source {k}", v) for k, v in stats["by_source"].items()]
    parts += [(f"split {k}", v) for k, v in stats["by_split"].items()]
    parts += [("mirrored copies (train)", stats["mirrored"])]
    lines += [f"| {name} | {t['clips']} | {t['hours']:.2f} | {t['captions']} |" for name, t in parts]
    lines += ["", f"compact file: {stats['compact']['bytes'] / 1e6:.1f} MB; skipped clips: {stats['skipped']['count']}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="archive folder (default $MOTIONGEN_DATA or ../shared/data)")
    parser.add_argument("--cache", help="cache folder (default: a fresh temporary one)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    before = machine()
    with tempfile.TemporaryDirectory(prefix="motiongen-bench-") as tmp:
        cache = args.cache or str(Path(tmp) / "cache")
        started = time.perf_counter()
        stats = build_dataset(
            args.source, cache, compact=Path(tmp) / "train-compact.xz", workers=args.workers, force=True, progress=True
        )
        wall = time.perf_counter() - started
    result = {
        "benchmark": "dataset_build",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "workers": args.workers,
        "fresh_cache": args.cache is None,
        "wall_seconds": round(wall, 2),
        "phases_s": dict(phase_rows(stats)),
        "compact_bytes": stats["compact"]["bytes"],
        "stats": {k: v for k, v in stats.items() if k not in ("path", "compact")},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp_file = RESULTS.with_name(RESULTS.name + ".tmp")
    tmp_file.write_text(json.dumps(result, indent=1) + "\n")
    tmp_file.replace(RESULTS)
    print(markdown(stats))
    print(f"\nwrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
