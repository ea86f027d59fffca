"""The viewer page in real headless Chromium (Playwright driving /usr/bin/chromium), on KIMODO's shipped
example motions and constraints and a Bandai capture: it loads with no console errors, lists every case,
plays, draws the overlays (checked on screenshots by their colour), shows a missing panel's reason, the
condition panel only on its keyframe, joint targets only on their frames, and the diagnostics.

Without /usr/bin/chromium or the playwright package these tests skip, saying why; under
MOTIONGEN_REQUIRE_DATA=1 (CI) they fail instead.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from headless_browser import headless_chromium
from test_viz_manifest import EXAMPLES, build_example_root

from motiongen.viz.folder import write_folder_manifest
from motiongen.viz.manifest import load_manifest, write_manifest
from motiongen.viz.server import ViewerServer

pytestmark = pytest.mark.data

THREE_VERSION = "0.187.0"
GT_REASON = "KIMODO's examples come without a motion capture"
MIXED, EE = "07_mixed_constraints", "04_ee_constraint"
TIMEOUT_MS = 60_000  # software WebGL on a busy 2-core machine



@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from headless_chromium()


@pytest.fixture(scope="module")
def viewer_root(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> Path:
    """Two KIMODO example cases (``generated/``, ``constraints/``), a Bandai capture as the first case's
    ``gt``; the manifest by ``viz manifest``, then the other case's gt reason written in."""
    from motiongen.data.archives import unpacked

    examples = unpacked("kimodo", data_dir, cache_dir) / EXAMPLES
    bvh = sorted((unpacked("bandai", data_dir, cache_dir) / "dataset").glob("*/data/dataset-1_walk_normal_*.bvh"))[0]
    root = build_example_root(tmp_path_factory.mktemp("viewer") / "view", examples, bandai_bvh=bvh)
    write_folder_manifest(root)
    manifest = load_manifest(root)
    for case in manifest["cases"]:
        if "gt" in case["missing_panels"]:
            case["missing_panels"]["gt"] = GT_REASON
    write_manifest(root, manifest)
    return root


@pytest.fixture(scope="module")
def server(viewer_root: Path) -> Iterator[ViewerServer]:
    srv = ViewerServer(viewer_root, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def open_page(browser: Any, server: ViewerServer) -> Iterator[Callable[..., Any]]:
    """``open_page(case=None)`` -> a page showing that case, drawn; console errors are checked at the end."""
    pages: list[tuple[Any, list[str]]] = []

    def opener(case: str | None = None) -> Any:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
        page.goto(server.url + (f"#case={case}" if case else ""))
        wait_ready(page, case)
        pages.append((page, errors))
        page.errors = errors
        return page

    yield opener
    for page, errors in pages:
        page.close()
        assert errors == [], errors


def wait_ready(page: Any, case: str | None = None) -> None:
    selector = "body[data-ready='1']" + (f"[data-case='{case}']" if case else "")
    page.wait_for_selector(selector, state="attached", timeout=TIMEOUT_MS)


def set_frame(page: Any, frame: int) -> None:
    page.evaluate(f"window.viewer.setFrame({frame})")
    # drawn on the next animation frame; wait for two
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def pixels_near(page: Any, selector: str, color: str, tolerance: int = 40) -> int:
    """How many pixels of a screenshot of ``selector`` are within ``tolerance`` (per channel) of ``color``."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("RGB")).astype(int)
    rgb = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=-1) <= tolerance).sum())


def frame_counter(page: Any) -> int:
    return int(page.inner_text("#frame-counter").split("/")[0])


# --------------------------------------------------------------------------------------------------
def test_page_loads_offline_and_lists_every_case(open_page: Callable[..., Any], viewer_root: Path) -> None:
    manifest = load_manifest(viewer_root)
    page = open_page()
    ids = page.eval_on_selector_all("#cases li", "items => items.map(li => li.dataset.id)")
    assert ids == [c["id"] for c in manifest["cases"]]
    listed = page.inner_text("#cases")
    for case in manifest["cases"]:
        assert case["captions"][0] in listed
    assert page.inner_text("#case-count") == f"{len(ids)} of {len(ids)} cases"
    # search narrows the list to the matching captions
    page.fill("#search", "backward points")
    visible = page.eval_on_selector_all("#cases li:not(.hidden)", "items => items.map(li => li.dataset.id)")
    assert visible == [MIXED]
    page.fill("#search", "")
    # three.js is the vendored copy, and every request stayed on this server
    assert page.evaluate("window.viewer.state.renders") > 0
    assert page.evaluate("performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin))")
    revision = (Path(__file__).parents[1] / "motiongen/viz/static/vendor/three/three.core.js").read_text()
    assert f"REVISION = '{THREE_VERSION.split('.')[1]}'" in revision
    assert page.errors == []


def test_playback_advances_pauses_and_scrubs(open_page: Callable[..., Any], viewer_root: Path) -> None:
    # the timeline covers the longest panel (here the Bandai capture, longer than KIMODO's 152 frames)
    last = next(c for c in load_manifest(viewer_root)["cases"] if c["id"] == MIXED)["num_frames"] - 1
    page = open_page(MIXED)
    assert page.inner_text("#frame-counter") == f"0 / {last}"
    page.click("#play")
    page.wait_for_selector("#play:text('Pause')", timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)
    playing = frame_counter(page)
    assert playing > 0
    page.wait_for_timeout(500)
    assert frame_counter(page) != playing  # still moving
    page.click("#play")
    paused = frame_counter(page)
    page.wait_for_timeout(500)
    assert frame_counter(page) == paused and page.inner_text("#play") == "Play"
    # the scrub slider moves to a frame; the keyframe is flagged there
    page.locator("#scrub").fill("108")
    assert page.inner_text("#frame-counter") == f"108 / {last}"
    assert page.inner_text("#frame-flag") == "keyframe"
    set_frame(page, 107)
    assert page.inner_text("#frame-flag") == "controlled"  # inside the dense root path
    # without loop, playback stops on the last frame; at 2x speed
    page.uncheck("#loop")
    page.select_option("#speed", "2")
    assert page.evaluate("window.viewer.state.speed") == 2
    set_frame(page, last - 10)
    page.click("#play")
    page.wait_for_selector("#play:text('Play')", timeout=TIMEOUT_MS)
    assert frame_counter(page) == last


def test_root_trajectory_overlay_is_on_the_screenshot(open_page: Callable[..., Any], viewer_root: Path) -> None:
    rail = load_manifest(viewer_root)["overlay_colors"]["root_path"]
    page = open_page(MIXED)
    set_frame(page, 60)
    on_view, on_inset = pixels_near(page, "#view", rail), pixels_near(page, "#inset", rail)
    assert on_view > 300 and on_inset > 100
    page.uncheck("#overlays")
    set_frame(page, 60)
    assert pixels_near(page, "#view", rail) < on_view / 20
    assert pixels_near(page, "#inset", rail) < on_inset / 20


def test_joint_targets_show_only_on_their_frames(open_page: Callable[..., Any], viewer_root: Path) -> None:
    manifest = load_manifest(viewer_root)
    color = manifest["overlay_colors"]["joint_target"]
    case = next(c for c in manifest["cases"] if c["id"] == EE)
    frame = case["condition_overlays"]["joint_targets"][0]["frames"][0]
    page = open_page(EE)
    set_frame(page, frame)
    shown = pixels_near(page, "#view", color)
    assert shown > 200
    set_frame(page, frame - 3)
    assert pixels_near(page, "#view", color) < shown / 20


def test_missing_panel_reason_condition_panel_and_diagnostics(open_page: Callable[..., Any]) -> None:
    page = open_page(EE)
    gt = page.locator("#panel-legend li[data-panel='gt']")
    assert "missing" in gt.get_attribute("class") and GT_REASON in gt.inner_text()
    condition = page.locator("#panel-legend li[data-panel='condition']")
    assert "no full-body keyframes to show" in condition.inner_text()
    assert page.locator("#diagnostics table[data-diagnostic='constraint_error']").count() == 1

    # the other case has its gt (a Bandai capture), and its condition panel only on keyframe 108
    page.click(f"#cases li[data-id='{MIXED}']")
    wait_ready(page, MIXED)
    assert "missing" not in (page.locator("#panel-legend li[data-panel='gt']").get_attribute("class") or "")
    visible = "window.viewer.state.figures.find(f => f.panel.name === 'condition').visibleNow"
    for frame, expected in ((107, False), (108, True), (109, False)):
        set_frame(page, frame)
        assert page.evaluate(visible) is expected
        legend = page.locator("#panel-legend li[data-panel='condition']").get_attribute("class") or ""
        assert ("off" in legend) is not expected
    rows = page.locator("#diagnostics table[data-diagnostic='continuity'] tr").all_inner_texts()
    assert any(row.split("\t")[0].strip() == "108" for row in rows)
    # side by side: the gt and generated panels stand apart; overlaid: together
    offsets = "window.viewer.state.figures.map(f => f.offset)"
    side = page.evaluate(offsets)
    assert len(set(side)) == 2  # condition shares the generated panel's place
    page.select_option("#layout", "overlay")
    assert set(page.evaluate(offsets)) == {0}
