"""Playback frame rate of the web viewer: 5 panels x 300 frames in headless Chromium.

A viewer folder is built from KIMODO's shipped 300-frame example (``05_root_path``, SOMA's 30
joints): the same motion in five panel folders (``gt``, ``generated``, ``generated_native`` and two
more), its dense root path as the overlay. The page plays it at 1x, looping; after a warm-up the
intervals between ``requestAnimationFrame`` callbacks are recorded for ``--seconds`` (the page's
``viewer.stats()``): frames per second = 1000 / mean interval. Chromium runs headless with
``--disable-gpu`` (software WebGL, SwiftShader), so this is the no-GPU floor; a desktop browser
with a GPU runs at the display's rate. Target: 60 fps.

    python benchmarks/viewer_fps.py [--seconds 10] [--out JSON]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from machine_info import machine_info

from motiongen.data.archives import default_cache_dir, resolve_data_dir, unpacked
from motiongen.io.kimodo_npz import read_kimodo_npz, write_kimodo_npz
from motiongen.viz.folder import write_folder_manifest
from motiongen.viz.server import ViewerServer

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "viewer_fps.json"
EXAMPLE = "kimodo-assets/examples/kimodo-soma-rp/05_root_path"
PANEL_FOLDERS = ("gt", "generated", "generated_native", "variant_a", "variant_b")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TARGET_FPS = 60.0


def build_root(root: Path, source: Path | None, cache: Path | None) -> dict[str, Any]:
    """The 5-panel viewer folder; returns what it holds."""
    example = unpacked("kimodo", resolve_data_dir(source), cache or default_cache_dir()) / EXAMPLE
    motion = read_kimodo_npz(example / "motion.npz")
    first = root / PANEL_FOLDERS[0] / "root_path.npz"
    write_kimodo_npz(motion, first)
    for folder in PANEL_FOLDERS[1:]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(first, root / folder / "root_path.npz")
    (root / "constraints").mkdir(exist_ok=True)
    shutil.copy(example / "constraints.json", root / "constraints" / "root_path.json")
    write_folder_manifest(root)
    return {"panels": len(PANEL_FOLDERS), "frames": motion.num_frames, "joints": motion.skeleton.num_joints,
            "skeleton": motion.skeleton.name, "overlay": "dense root path (300 points)"}


def measure(url: str, seconds: float, warmup: float, viewport: tuple[int, int]) -> dict[str, Any]:
    """Play the case and read the page's requestAnimationFrame statistics."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", state="attached", timeout=120_000)
            load_s = time.perf_counter() - start
            panels = page.evaluate("window.viewer.state.figures.length")
            page.evaluate("window.viewer.play()")
            page.wait_for_timeout(warmup * 1000)
            page.evaluate("window.viewer.resetStats()")
            frame_before = page.evaluate("window.viewer.state.renders")
            page.wait_for_timeout(seconds * 1000)
            stats = page.evaluate("window.viewer.stats()")
            renders = page.evaluate("window.viewer.state.renders") - frame_before
            webgl = page.evaluate(
                "(() => { const gl = document.createElement('canvas').getContext('webgl2');"
                " return gl ? gl.getParameter(gl.getExtension('WEBGL_debug_renderer_info')?.UNMASKED_RENDERER_WEBGL"
                " ?? gl.RENDERER) : null; })()"
            )
        finally:
            browser.close()
    return {"page_load_s": round(load_s, 2), "panels_drawn": panels, "renders": renders,
            "fps": round(stats["fps"], 1), "mean_interval_ms": round(stats["mean_interval_ms"], 2),
            "p95_interval_ms": round(stats["p95_interval_ms"], 2), "samples": stats["samples"],
            "webgl_renderer": webgl, "console_errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="data archives (default $MOTIONGEN_DATA or ../shared/data)")
    parser.add_argument("--cache", type=Path, help="unpack cache (default $MOTIONGEN_CACHE)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured playback (default 10 s)")
    parser.add_argument("--warmup", type=float, default=2.0, help="playback before measuring (default 2 s)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    machine = machine_info()
    with tempfile.TemporaryDirectory() as folder:
        content = build_root(Path(folder), args.source, args.cache)
        server = ViewerServer(folder, port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            result = measure(server.url, args.seconds, args.warmup, (args.width, args.height))
        finally:
            server.shutdown()
            server.server_close()
    machine["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    record = {
        "benchmark": "viewer_fps",
        "date": dt.date.today().isoformat(),
        "machine": machine,
        "browser": f"{CHROMIUM} headless, software WebGL ({' '.join(CHROMIUM_ARGS)})",
        "viewport": [args.width, args.height],
        "content": content,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "target_fps": TARGET_FPS,
        **result,
        "meets_target": result["fps"] >= TARGET_FPS * 0.95,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"viewer playback, {content['panels']} panels x {content['frames']} frames ({content['skeleton']}), "
          f"headless Chromium, software WebGL: {result['fps']} fps (p95 interval {result['p95_interval_ms']} ms; "
          f"target {TARGET_FPS:g}); wrote {args.out}")


if __name__ == "__main__":
    main()
