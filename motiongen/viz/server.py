"""``motiongen view ROOT``: a small local web server for the viewer page.

It serves exactly three things, read-only (``GET`` / ``HEAD``):

* the packaged page, ``/`` and ``/static/...`` (``motiongen/viz/static``: three.js vendored, so it
  runs offline);
* ``/api/manifest``: ``ROOT/_manifest.json`` checked (:func:`motiongen.viz.manifest.load_manifest`),
  or, when ROOT has none, one scanned from its files (:func:`~motiongen.viz.folder.scan_folder`,
  nothing written);
* files under ROOT: ``/files/<relative path>`` as they are, and ``/api/motion?path=<relative path>``:
  a motion file's joint positions and bones as JSON (positions base64 float32, ``[T, J, 3]`` row-major;
  for a G1 motion also its global joint rotations, :func:`motiongen.viz.g1_meshes.rotations_payload`);
* the Unitree G1's visual meshes (:mod:`motiongen.viz.g1_meshes`): ``/api/g1-meshes``, a JSON manifest
  (``{"available": false, "reason": ...}`` when the ``kimodo-assets`` / ``g1-meshes`` archives cannot
  be had), and ``/api/g1-mesh/<mesh name>``, one converted mesh (binary, converted once and kept).

Paths are resolved inside ROOT (or the static folder): ``..`` segments, absolute paths (also
percent-encoded: ``%2e%2e``, ``%2f``), backslashes and NUL bytes get 403, symlinks that resolve
outside get 403, anything else not found (directories included: there is no listing) gets 404.
It binds to 127.0.0.1 unless told otherwise, and then answers only requests whose ``Host`` names
the loopback (no DNS rebinding from a web page).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from motiongen.errors import InputError, MotiongenError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8216
STATIC_DIR = Path(__file__).resolve().parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".json": "application/json", ".npz": "application/octet-stream", ".bvh": "text/plain", ".svg": "image/svg+xml",
          ".png": "image/png", ".gif": "image/gif", ".mp4": "video/mp4", ".txt": "text/plain"}
#: The page's scripts and styles come from this server only: nothing is fetched from a CDN.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_MOTION_CACHE_SIZE = 64
G1_MESH_PREFIX = "/api/g1-mesh/"


class PathRefused(Exception):
    """A request path that points outside its folder (403) or at nothing servable (404)."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def resolve_inside(base: Path, relative: str) -> Path:
    """The regular file ``relative`` (already percent-decoded, ``/``-separated) names inside
    ``base`` (a resolved folder), following symlinks only while they stay inside.

    Raises :class:`PathRefused`: 403 for ``..``, absolute paths, backslashes, NUL and symlinks out
    of ``base``; 404 when nothing (or a folder) is there.
    """
    if "\x00" in relative or "\\" in relative:
        raise PathRefused(HTTPStatus.FORBIDDEN, "forbidden characters in path")
    if relative.startswith("/") or (len(relative) > 1 and relative[1] == ":"):
        raise PathRefused(HTTPStatus.FORBIDDEN, "absolute paths are not served")
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathRefused(HTTPStatus.FORBIDDEN, "'..' is not allowed")
    if not parts:
        raise PathRefused(HTTPStatus.NOT_FOUND, "no file named")
    candidate = base.joinpath(*parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise PathRefused(HTTPStatus.NOT_FOUND, "not found") from None
    except (OSError, RuntimeError):  # a symlink loop, a permission problem
        raise PathRefused(HTTPStatus.FORBIDDEN, "cannot be resolved") from None
    if not resolved.is_relative_to(base):
        raise PathRefused(HTTPStatus.FORBIDDEN, "resolves outside the served folder")
    if not resolved.is_file():
        raise PathRefused(HTTPStatus.NOT_FOUND, "not a file")
    return resolved


def motion_payload(path: Path, relative: str) -> dict[str, Any]:
    """The JSON the page draws a motion file from (see :func:`~motiongen.viz.folder.read_viewer_motion`)."""
    from motiongen.viz.folder import read_viewer_motion

    motion = read_viewer_motion(path)
    t, j = motion.positions.shape[:2]
    return {
        "path": relative,
        "frames": int(t),
        "joints": int(j),
        "joint_names": motion.joint_names,
        "parents": motion.parents,
        "skeleton": motion.skeleton,
        "prompts": motion.prompts,
        "positions_b64": base64.b64encode(motion.positions.astype("<f4").tobytes()).decode("ascii"),
        **_g1_extras(path, motion),
    }


def _g1_extras(path: Path, motion: Any) -> dict[str, Any]:
    """The rotations the page places G1 meshes with; nothing for other rigs (their payloads stay small)."""
    from motiongen.viz.g1_meshes import G1_JOINT_NAMES, rotations_payload

    if motion.skeleton != "g1":
        return {}
    if tuple(motion.joint_names) != G1_JOINT_NAMES:
        return {"rotations_unavailable": "the file's rig is called 'g1' but its joints are not the G1's 34"}
    return rotations_payload(path, int(motion.positions.shape[0]))


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server for one ROOT folder (see the module docstring).

    Args:
        root: the viewer folder (must exist).
        host: interface to bind (default the loopback only).
        port: TCP port; 0 picks a free one (see :attr:`url`).
        verbose: log each request to stderr.
        data_dir, cache_dir: where the G1 mesh archives are looked for and unpacked (default: the
            registry's, ``MOTIONGEN_DATA`` / ``MOTIONGEN_CACHE``).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, verbose: bool = False,
                 data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> None:
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise InputError("is not a folder; give the folder that holds _manifest.json or motion files", path=root,
                             field="ROOT")
        self.root = root_path.resolve()
        self.static_dir = STATIC_DIR.resolve()
        self.verbose = verbose
        self.loopback_only = host in LOOPBACK_HOSTS
        self._cache: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._g1_dirs = (data_dir, cache_dir)
        self._g1_meshes: Any = None
        try:
            super().__init__((host, port), ViewerHandler)
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port",
                             field="--port") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"

    @property
    def g1_meshes(self) -> Any:
        """The :class:`~motiongen.viz.g1_meshes.G1MeshLibrary`, made on first use (it imports torch)."""
        with self._lock:
            if self._g1_meshes is None:
                from motiongen.viz.g1_meshes import G1MeshLibrary

                self._g1_meshes = G1MeshLibrary(*self._g1_dirs, url_prefix=G1_MESH_PREFIX)
            return self._g1_meshes

    def cached_motion(self, path: Path, relative: str) -> bytes:
        """The motion JSON of ``path``, kept while the file's size and mtime stay the same."""
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        body = json.dumps(motion_payload(path, relative)).encode()
        with self._lock:
            self._cache[key] = body
            while len(self._cache) > _MOTION_CACHE_SIZE:
                self._cache.popitem(last=False)
        return body

    def manifest_bytes(self) -> bytes:
        from motiongen.viz.folder import scan_folder
        from motiongen.viz.manifest import MANIFEST_NAME, load_manifest

        if (self.root / MANIFEST_NAME).is_file():
            return json.dumps(load_manifest(self.root)).encode()
        return json.dumps(scan_folder(self.root)).encode()


class ViewerHandler(BaseHTTPRequestHandler):
    """Routes of :class:`ViewerServer` (GET and HEAD only)."""

    server: ViewerServer
    server_version = "motiongen-viewer"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if self.server.verbose:
            super().log_message(format, *args)

    # ------------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def _refuse_method(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"read-only viewer: GET and HEAD only\n", "text/plain", head=False,
                   extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method  # noqa: N815

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name = host[1:].split("]", 1)[0]
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return name in LOOPBACK_HOSTS

    def _respond(self, head: bool) -> None:
        raw = self.path
        if not raw.startswith("/"):
            self._error(HTTPStatus.BAD_REQUEST, "request path must start with '/'", head)
            return
        if not self._host_allowed():
            self._error(HTTPStatus.FORBIDDEN, "this viewer answers requests to 127.0.0.1 / localhost only", head)
            return
        path, _, query = raw.partition("?")
        path = path.split("#", 1)[0]
        try:
            if path in ("/", "/index.html"):
                self._file(resolve_inside(self.server.static_dir, "index.html"), head)
            elif path.startswith("/static/"):
                self._file(resolve_inside(self.server.static_dir, unquote(path[len("/static/"):])), head)
            elif path.startswith("/files/"):
                self._file(resolve_inside(self.server.root, unquote(path[len("/files/"):])), head)
            elif path == "/api/manifest":
                self._json(self.server.manifest_bytes(), head)
            elif path == "/api/motion":
                values = parse_qs(query, keep_blank_values=True).get("path", [])
                if len(values) != 1:
                    raise PathRefused(HTTPStatus.BAD_REQUEST, "give one ?path=<file under ROOT>")
                relative = values[0]
                self._json(self.server.cached_motion(resolve_inside(self.server.root, relative), relative), head)
            elif path == "/api/g1-meshes":
                self._json(json.dumps(self.server.g1_meshes.manifest()).encode(), head)
            elif path.startswith(G1_MESH_PREFIX):
                self._g1_mesh(unquote(path[len(G1_MESH_PREFIX):]), head)
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon", head)
            else:
                raise PathRefused(HTTPStatus.NOT_FOUND, "not found")
        except PathRefused as exc:
            self._error(exc.status, exc.reason, head)
        except MotiongenError as exc:
            self._error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), head)

    def _g1_mesh(self, name: str, head: bool) -> None:
        """One converted G1 mesh, by its MJCF asset name (never a path: a name is looked up, not opened)."""
        from motiongen.viz.g1_meshes import MESH_NAME_PATTERN

        if not name:
            raise PathRefused(HTTPStatus.NOT_FOUND, "no mesh named")
        if not MESH_NAME_PATTERN.match(name) or ".." in name:
            raise PathRefused(HTTPStatus.FORBIDDEN, "a G1 mesh is named by its plain mesh name")
        try:
            body = self.server.g1_meshes.mesh_bytes(name)
        except KeyError as exc:
            raise PathRefused(HTTPStatus.NOT_FOUND, str(exc.args[0])) from None
        self._send(HTTPStatus.OK, body, "application/octet-stream", head)

    # ------------------------------------------------------------------------------------------
    def _file(self, path: Path, head: bool) -> None:
        kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, path.read_bytes(), kind, head)

    def _json(self, body: bytes, head: bool) -> None:
        self._send(HTTPStatus.OK, body, "application/json", head)

    def _error(self, status: HTTPStatus, reason: str, head: bool) -> None:
        body = json.dumps({"error": reason, "status": int(status)}).encode()
        self._send(status, body, "application/json", head)

    def _send(self, status: HTTPStatus, body: bytes, kind: str, head: bool, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if kind.startswith("text/") or kind == "application/json":
            kind += "; charset=utf-8"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


def serve(root: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, open_browser: bool = True,
          verbose: bool = False, data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> None:
    """Serve ``root`` until interrupted (Ctrl-C); opens the page in a browser unless told not to.
    ``data_dir``/``cache_dir``: where the G1 meshes are found (default: the archives' usual places)."""
    server = ViewerServer(root, host, port, verbose=verbose, data_dir=data_dir, cache_dir=cache_dir)
    if not server.loopback_only:
        print(f"motiongen view: listening on {host}: anyone who can reach this machine can read {server.root}",
              file=sys.stderr)
    print(f"motiongen view: serving {server.root} at {server.url} (Ctrl-C stops)", flush=True)
    if open_browser:
        import webbrowser

        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
