"""The viewer's HTTP server (motiongen.viz.server): it serves the packaged page, the manifest and files
under ROOT, and nothing else: ``..``, absolute paths, percent-encoded traversal, symlinks out of ROOT
and directories are refused; it binds to 127.0.0.1 by default and answers only loopback Host names.
Requests go through http.client, which sends the path exactly as written (no client-side clean-up)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from toy_rig import toy_skeleton

from motiongen.cli import build_parser
from motiongen.io.kimodo_npz import write_kimodo_npz
from motiongen.motion.motion import Motion
from motiongen.viz.manifest import DEFAULT_PANELS, MANIFEST_NAME, build_case, build_manifest, write_manifest
from motiongen.viz.server import DEFAULT_HOST, DEFAULT_PORT, STATIC_DIR, ViewerServer

SECRET = b"top secret: outside the viewer folder"


def toy_motion(frames: int = 12) -> Motion:
    """A toy-rig motion walking 2 cm per frame along +Z (rest pose)."""
    sk = toy_skeleton()
    rot = np.broadcast_to(np.eye(3), (frames, sk.num_joints, 3, 3)).copy()
    root = np.zeros((frames, 3))
    root[:, 1] = 0.9
    root[:, 2] = 0.02 * np.arange(frames)
    return Motion(local_rotations=rot, root_translation=root, fps=30.0, skeleton=sk)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``base/secret.txt`` and ``base/secret.npz`` outside ROOT = ``base/view``; inside, a case, a
    symlink to each secret and a symlinked folder pointing out."""
    base = tmp_path_factory.mktemp("viz_server")
    (base / "secret.txt").write_bytes(SECRET)
    write_kimodo_npz(toy_motion(), base / "secret.npz")
    root = base / "view"
    write_kimodo_npz(toy_motion(), root / "generated" / "walk.npz")
    case = build_case("walk", captions=["a toy walks."], task="motion", num_frames=12,
                      files={"generated": "generated/walk.npz"}, missing_panels={"gt": "none recorded"})
    write_manifest(root, build_manifest([case], [p for p in DEFAULT_PANELS if p.name in ("gt", "generated")]))
    os.symlink(base / "secret.txt", root / "link.txt")
    os.symlink(base / "secret.npz", root / "generated" / "link.npz")
    os.symlink(base, root / "outside")
    os.symlink(root / "generated" / "walk.npz", root / "inside.npz")  # a link that stays inside is fine
    return {"base": base, "root": root}


@pytest.fixture(scope="module")
def server(site: dict) -> Iterator[ViewerServer]:
    srv = ViewerServer(site["root"], port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(server: ViewerServer, path: str, method: str = "GET", host: str | None = None) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=20)
    try:
        conn.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def test_binds_to_loopback_by_default(site: dict) -> None:
    assert DEFAULT_HOST == "127.0.0.1" and DEFAULT_PORT == 8216
    args = build_parser().parse_args(["view", str(site["root"])])
    assert (args.host, args.port, args.no_browser) == ("127.0.0.1", 8216, False)
    srv = ViewerServer(site["root"], port=0)
    try:
        assert srv.server_address[0] == "127.0.0.1" and srv.loopback_only
        assert srv.url == f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.server_close()


def test_serves_page_manifest_files_and_motion_json(server: ViewerServer, site: dict) -> None:
    status, body, headers = get(server, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body == (STATIC_DIR / "index.html").read_bytes()
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    status, body, headers = get(server, "/static/viewer.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    status, body, _ = get(server, "/static/vendor/three/three.module.js")
    assert status == 200 and b"REVISION" in body
    status, body, _ = get(server, "/api/manifest")
    assert status == 200 and json.loads(body) == json.loads((site["root"] / MANIFEST_NAME).read_text())
    status, body, _ = get(server, "/files/generated/walk.npz")
    assert status == 200 and body == (site["root"] / "generated" / "walk.npz").read_bytes()
    status, body, _ = get(server, "/files/inside.npz")
    assert status == 200 and body == (site["root"] / "generated" / "walk.npz").read_bytes()
    status, body, _ = get(server, "/api/motion?path=generated%2Fwalk.npz")
    assert status == 200
    data = json.loads(body)
    positions = np.frombuffer(base64.b64decode(data["positions_b64"]), dtype="<f4").reshape(data["frames"], data["joints"], 3)
    with np.load(site["root"] / "generated" / "walk.npz") as npz:
        np.testing.assert_array_equal(positions, npz["posed_joints"])
    assert data["parents"] == list(toy_skeleton().parents) and data["skeleton"] == "toy"
    status, _, _ = get(server, "/api/motion?path=generated/walk.npz", method="HEAD")
    assert status == 200


REFUSED = [
    # (request path, allowed statuses)
    ("/files/../secret.txt", {403}),
    ("/files/generated/../../secret.txt", {403}),
    ("/files/..%2fsecret.txt", {403}),
    ("/files/%2e%2e/secret.txt", {403}),
    ("/files/%2E%2E%2Fsecret.txt", {403}),
    ("/files/generated/%2e%2e/%2e%2e/secret.txt", {403}),
    ("/files/%252e%252e/secret.txt", {404}),  # double-encoded: a literal name '%2e%2e', which does not exist
    ("/files//etc/passwd", {403}),
    ("/files/%2Fetc%2Fpasswd", {403}),
    ("/files/..\\secret.txt", {403}),
    ("/files/%5c..%5csecret.txt", {403}),
    ("/files/C:/Windows/win.ini", {403}),
    ("/files/secret%00.txt", {403}),
    ("/files/link.txt", {403}),  # symlink to a file outside
    ("/files/generated/link.npz", {403}),
    ("/files/outside/secret.txt", {403}),  # through a symlinked folder
    ("/files/generated/", {404}),  # folders are not listed
    ("/files/generated", {404}),
    ("/files/", {404}),
    ("/files/nothing.npz", {404}),
    ("/api/motion?path=../secret.npz", {403}),
    ("/api/motion?path=%2e%2e%2fsecret.npz", {403}),
    ("/api/motion?path=/etc/passwd", {403}),
    ("/api/motion?path=generated/link.npz", {403}),
    ("/api/motion?path=outside/secret.npz", {403}),
    ("/api/motion", {400}),
    ("/static/../manifest.py", {403}),
    ("/static/%2e%2e/server.py", {403}),
    ("/static/vendor", {404}),
    ("/../secret.txt", {404}),
    ("/secret.txt", {404}),
    ("/view/../secret.txt", {404}),
]


@pytest.mark.parametrize(("path", "allowed"), REFUSED, ids=[p for p, _ in REFUSED])
def test_nothing_outside_root_is_served(server: ViewerServer, path: str, allowed: set[int]) -> None:
    status, body, _ = get(server, path)
    assert status in allowed, (path, status, body)
    assert SECRET not in body and b"import " not in body


def test_other_methods_and_foreign_hosts_are_refused(server: ViewerServer) -> None:
    assert get(server, "/files/generated/walk.npz", method="POST")[0] == 405
    assert get(server, "/files/generated/walk.npz", method="DELETE")[0] == 405
    # a page on another site that resolves its name to 127.0.0.1 (DNS rebinding) gets nothing
    status, body, _ = get(server, "/api/manifest", host="evil.example:8216")
    assert status == 403 and b"walk" not in body
    for host in ("localhost", f"127.0.0.1:{server.server_address[1]}", "[::1]:8216"):
        assert get(server, "/api/manifest", host=host)[0] == 200


def test_a_folder_without_manifest_is_scanned_and_errors_are_json(tmp_path: Path) -> None:
    write_kimodo_npz(toy_motion(), tmp_path / "a.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    srv = ViewerServer(tmp_path, port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        status, body, _ = get(srv, "/api/motion?path=bad.npz")
        assert status == 422 and "not a readable .npz archive" in json.loads(body)["error"]
        status, body, _ = get(srv, "/api/manifest")
        assert status == 422 and "bad.npz" in json.loads(body)["error"]  # the scan reads every file
        (tmp_path / "bad.npz").unlink()
        status, body, _ = get(srv, "/api/manifest")
        manifest = json.loads(body)
        assert status == 200 and [c["id"] for c in manifest["cases"]] == ["a"]
        assert manifest["cases"][0]["files"] == {"generated": "a.npz"}
        assert not (tmp_path / MANIFEST_NAME).exists()  # viewing writes nothing
    finally:
        srv.shutdown()
        srv.server_close()


def test_view_refuses_a_missing_folder_and_a_busy_port(tmp_path: Path, capsys) -> None:
    from motiongen.cli import main

    assert main(["view", str(tmp_path / "nope"), "--no-browser"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]
    busy = ViewerServer(tmp_path, port=0)
    try:
        assert main(["view", str(tmp_path), "--no-browser", "--port", str(busy.server_address[1])]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and "pass another --port" in err[0]
    finally:
        busy.server_close()
